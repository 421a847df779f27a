use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

// A wrong `crate =` path is reported once, at the path.
#[derive(MutEventSubscriber)]
#[subscriber(crate = runtime::event_manager)]
#[event(fd = kick)]
#[event(fd = timer)]
struct Device {
    kick: EventFd,
    timer: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_timer(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
