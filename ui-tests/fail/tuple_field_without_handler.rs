use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = 0)]
#[event(fd = 1, handler = on_timer)]
struct Device(EventFd, EventFd);

impl Device {
    fn on_timer(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
