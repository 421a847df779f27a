//! `#[derive(EventSubscriber)]`: `&self` handlers, state behind inner
//! mutability, the subscriber shared through `Arc`.
#![deny(warnings, unused_qualifications, rust_2018_idioms)]

use event_manager::{EventManager, EventOps, EventSubscriber, Events, SubscriberOps};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use vmm_sys_util::eventfd::EventFd;

#[derive(EventSubscriber)]
#[subscriber(init = setup, fallback = on_other, init_error = on_init_error)]
#[event(fd = kick)]
struct Stats {
    kick: EventFd,
    seen: AtomicU64,
}

impl Stats {
    fn on_kick(&self, _events: Events, _ops: &mut EventOps<'_>) {
        self.seen.fetch_add(self.kick.read().unwrap(), Ordering::Relaxed);
    }
    fn setup(&self, _ops: &mut EventOps<'_>) {}
    fn on_other(&self, _events: Events, _ops: &mut EventOps<'_>) {}
    fn on_init_error(&self, _field: &'static str, _error: event_manager::Error) {}
}

fn main() {
    let stats = Arc::new(Stats { kick: EventFd::new(0).unwrap(), seen: AtomicU64::new(0) });
    let mut manager = EventManager::new().unwrap();
    let _id = manager.add_subscriber(Arc::clone(&stats));
    stats.kick.write(5).unwrap();
    assert_eq!(manager.run().unwrap(), 1);
    assert_eq!(stats.seen.load(Ordering::Relaxed), 5);
}
