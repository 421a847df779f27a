use event_manager::{EventOps, Events};
use vmm_sys_util::eventfd::EventFd;

use event_manager::EventSubscriber;

#[derive(EventSubscriber)]
#[event(fd = kick)]
struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
