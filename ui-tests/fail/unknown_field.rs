use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kik)]
struct Device {
    kick: EventFd,
    timer: EventFd,
}

impl Device {
    fn on_kik(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
