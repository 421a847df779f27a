use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

struct Inner {
    tap: EventFd,
    count: u32,
}

impl Inner {
    fn tap(&self) -> &EventFd {
        &self.tap
    }
}

#[derive(MutEventSubscriber)]
#[event(fd = missing.tap)] // no such field
#[event(fd = self.0)] // no name to make a handler name from
#[event(fd = queues[1..3], handler = on_queue)] // a range that is not `..`
#[event(fd = make_fd(), handler = on_made)] // not a path from a field
#[event(fd = self)]
#[event(fd = nested[..][..], handler = on_nested)] // two `[..]`
#[event(fd = self[..], handler = on_all)] // `[..]` on the whole subscriber
struct Device {
    inner: Inner,
    queues: Vec<EventFd>,
    nested: Vec<Vec<EventFd>>,
    index: usize,
}

#[derive(MutEventSubscriber)]
#[event(fd = inner.count, handler = on_count)] // not an fd
#[event(fd = inner.nope)] // no such field in `Inner`
struct Typed {
    inner: Inner,
}

impl Typed {
    fn on_count(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_nope(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
