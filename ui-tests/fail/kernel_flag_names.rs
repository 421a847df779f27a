use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kick, set = "EPOLLIN | EPOLLRDHUP | epollet")]
struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
