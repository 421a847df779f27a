use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(fallbak = on_other, init = setup)]
#[event(fd = kick)]
struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn setup(&mut self, _ops: &mut EventOps) {}
}

fn main() {}
