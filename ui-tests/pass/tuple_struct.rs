//! Tuple fields are named by index and need an explicit handler.
#![deny(warnings, unused_qualifications, rust_2018_idioms)]

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = 0, handler = on_first)]
#[event(fd = 2, set = "IN | EDGE_TRIGGERED", handler = on_third)]
struct Pair(EventFd, u64, Option<EventFd>);

impl Pair {
    fn on_first(&mut self, _events: Events, _ops: &mut EventOps<'_>) {
        self.1 += self.0.read().unwrap();
    }
    fn on_third(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
}

fn main() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Pair(EventFd::new(0).unwrap(), 0, None));
    manager.subscriber_mut(id).unwrap().0.write(3).unwrap();
    assert_eq!(manager.run().unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().1, 3);
}
