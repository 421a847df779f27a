use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kick)]
#[event(fd = name)]
#[event(fd = maybe)]
struct Device {
    kick: EventFd,
    name: String,
    maybe: Option<u32>,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_name(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_maybe(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
