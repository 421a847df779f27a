use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(init = setup, fallback = on_other, init_error = on_error)]
#[event(fd = kick)]
struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn setup(&mut self) {}
    fn on_other(&mut self, _ops: &mut EventOps) {}
    fn on_error(&mut self, _error: event_manager::Error) {}
}

fn main() {}
