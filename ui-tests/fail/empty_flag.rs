use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kick, set = "IN || OUT")]
#[event(fd = timer, set = "")]
struct Device {
    kick: EventFd,
    timer: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_timer(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
