use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kick)]
#[event(fd = queue, name = "queue")] // not a plain name
#[event(fd = inner.kick, handler = on_inner)] // named `kick` like the first
struct Device {
    kick: EventFd,
    queue: EventFd,
    inner: Inner,
    count: u32,
}

struct Inner {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_queue(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_inner(&mut self, _events: Events, _ops: &mut EventOps) {}
}

#[derive(MutEventSubscriber)]
#[event(fd = kick, when = self.count)] // not a bool
struct Counted {
    kick: EventFd,
    count: u32,
}

impl Counted {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
