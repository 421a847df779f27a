// Bounds that only the impl needs, and an impl for one instantiation.
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

trait Backend: AsRawFd {
    fn notify(&mut self);
}

impl Backend for UnixStream {
    fn notify(&mut self) {}
}

// The struct carries no bound; the impl gets `B: Backend`.
#[derive(MutEventSubscriber)]
#[subscriber(bound = "B: Backend")]
#[event(fd = queue)]
#[event(fd = backend)]
struct Device<B> {
    queue: EventFd,
    backend: B,
}

impl<B: Backend> Device<B> {
    fn on_queue(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.queue.read();
    }
    fn on_backend(&mut self, _events: Events, _ops: &mut EventOps) {
        self.backend.notify();
    }
}

// Handlers written for one instantiation only.
#[derive(MutEventSubscriber)]
#[subscriber(for = "Wrapper<UnixStream>")]
#[event(fd = inner)]
struct Wrapper<S> {
    inner: S,
}

impl Wrapper<UnixStream> {
    fn on_inner(&mut self, _events: Events, _ops: &mut EventOps) {}
}

// An instantiation with a lifetime, and a bound on a concrete type.
#[derive(MutEventSubscriber)]
#[subscriber(for = "Borrowing<'static, UnixStream>", bound = "UnixStream: Send")]
#[event(fd = inner)]
struct Borrowing<'a, S> {
    inner: S,
    name: &'a str,
}

impl Borrowing<'static, UnixStream> {
    fn on_inner(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.name;
    }
}

fn main() {
    let _: Option<EventManager<Device<UnixStream>>> = None;
    let _: Option<EventManager<Wrapper<UnixStream>>> = None;
}
