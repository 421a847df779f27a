use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(init_error = "warn")]
#[event(fd = kick)]
struct Device {
    kick: EventFd,
}

#[derive(MutEventSubscriber)]
#[subscriber(init_error = self::on_error)]
#[event(fd = kick)]
struct Other {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

impl Other {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
