use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(before = accept, after = finish)]
#[event(fd = kick)]
struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
    // Returns nothing: `before` must say whether to go on.
    fn accept(&mut self, _events: Events, _ops: &mut EventOps) {}
    // Takes the event: `after` gets only the ops.
    fn finish(&mut self, _events: Events, _ops: &mut EventOps) {}
}

#[derive(MutEventSubscriber)]
#[subscriber(before = process)]
#[event(fd = kick)]
struct Loops {
    kick: EventFd,
}

impl Loops {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
