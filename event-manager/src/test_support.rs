//! Subscribers shared by the unit tests of several modules.

use crate::{EventOps, Events, MutEventSubscriber};

/// Registers nothing and ignores every event.
pub(crate) struct Idle;

impl MutEventSubscriber for Idle {
    fn init(&mut self, _ops: &mut EventOps) {}
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
}
