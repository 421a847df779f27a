//! `Option` fields, however the path to `Option` is written.
#![deny(warnings, rust_2018_idioms)]

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use std::os::unix::net::UnixStream;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = plain)]
#[event(fd = std_path)]
#[event(fd = core_path)]
struct Maybe {
    plain: Option<EventFd>,
    std_path: std::option::Option<UnixStream>,
    core_path: core::option::Option<EventFd>,
}

impl Maybe {
    fn on_plain(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
    fn on_std_path(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
    fn on_core_path(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
}

fn main() {
    let mut manager = EventManager::new().unwrap();
    let none = Maybe { plain: None, std_path: None, core_path: None };
    let _ = manager.add_subscriber(none);
    let some = Maybe {
        plain: Some(EventFd::new(0).unwrap()),
        std_path: Some(UnixStream::pair().unwrap().0),
        core_path: Some(EventFd::new(0).unwrap()),
    };
    let _ = manager.add_subscriber(some);
}
