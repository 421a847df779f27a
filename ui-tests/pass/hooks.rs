// `before` and `after` under both derives, beside the other keys.
use std::sync::atomic::{AtomicU32, Ordering};

use event_manager::{EventOps, EventSet, EventSubscriber, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(before = accept, after = finish, fallback = other)]
#[event(fd = kick)]
struct Device {
    kick: EventFd,
    finished: u32,
}

impl Device {
    fn accept(&mut self, events: Events, _ops: &mut EventOps) -> bool {
        events.event_set().contains(EventSet::IN)
    }
    fn finish(&mut self, _ops: &mut EventOps) {
        self.finished += 1;
    }
    fn other(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.kick.read();
    }
}

#[derive(EventSubscriber)]
#[subscriber(after = finish)]
#[event(fd = kick)]
struct Shared {
    kick: EventFd,
    finished: AtomicU32,
}

impl Shared {
    fn finish(&self, _ops: &mut EventOps) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
    fn on_kick(&self, _events: Events, _ops: &mut EventOps) {
        let _ = self.kick.read();
    }
}

fn main() {}
