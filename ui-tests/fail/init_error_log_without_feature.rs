// `init_error = "log"` needs event-manager's `log` feature, which this
// crate does not turn on.
use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(init_error = "log")]
#[event(fd = kick)]
struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
