//! Generics, lifetimes, const generics and where-clauses carry over to the impl.
#![deny(warnings, unused_qualifications, rust_2018_idioms)]

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use std::fmt::Debug;
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = stream, set = "IN | READ_HANG_UP")]
#[event(fd = kick)]
#[event(fd = spare)]
struct Connection<'a, S, T: Default, const N: usize>
where
    S: AsRawFd + Read,
    T: Debug,
{
    stream: S,
    kick: EventFd,
    name: &'a str,
    spare: Option<Box<S>>,
    state: [T; N],
}

impl<S: AsRawFd + Read, T: Debug + Default, const N: usize> Connection<'_, S, T, N> {
    fn on_stream(&mut self, _events: Events, _ops: &mut EventOps<'_>) {
        let mut buffer = [0u8; 16];
        let _ = self.stream.read(&mut buffer);
    }
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps<'_>) {
        let _ = (self.kick.read(), self.name);
    }
    fn on_spare(&mut self, _events: Events, _ops: &mut EventOps<'_>) {
        self.state[0] = T::default();
    }
}

fn main() {
    let kick = EventFd::new(0).unwrap();
    let (stream, _peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let connection: Connection<'_, UnixStream, u8, 2> = Connection {
        stream,
        kick,
        name: "connection",
        spare: None,
        state: [0; 2],
    };
    let _id = manager.add_subscriber(connection);
}
