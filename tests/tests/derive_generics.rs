//! Generic subscribers: bounds that only the impl needs go on the derive
//! (`bound = "..."`), not on the struct, and `for = ...` implements the
//! trait for one instantiation. The shape is a vsock-like device generic
//! over its backend.

use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::EventFd;

/// What the device needs from its backend; the struct does not say so.
trait Backend: AsRawFd {
    /// Takes what the backend has ready; returns how many bytes.
    fn take_ready(&mut self) -> usize;
}

impl Backend for UnixStream {
    fn take_ready(&mut self) -> usize {
        let mut buffer = [0; 64];
        self.read(&mut buffer).unwrap()
    }
}

#[derive(MutEventSubscriber)]
#[subscriber(bound = "B: Backend", after = signal_used_queues)]
#[event(fd = rx_queue)]
#[event(fd = backend)]
struct Vsock<B> {
    rx_queue: EventFd,
    backend: B,
    received: usize,
    kicks: u64,
    interrupts: u32,
}

impl<B: Backend> Vsock<B> {
    fn on_rx_queue(&mut self, _events: Events, _ops: &mut EventOps) {
        self.kicks += self.rx_queue.read().unwrap();
    }

    fn on_backend(&mut self, _events: Events, _ops: &mut EventOps) {
        self.received += self.backend.take_ready();
    }

    fn signal_used_queues(&mut self, _ops: &mut EventOps) {
        self.interrupts += 1;
    }
}

#[test]
fn a_device_generic_over_its_backend_dispatches_both_fds() {
    let (backend, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Vsock {
        rx_queue: EventFd::new(0).unwrap(),
        backend,
        received: 0,
        kicks: 0,
        interrupts: 0,
    });

    peer.write_all(b"hello").unwrap();
    manager
        .subscriber_mut(id)
        .unwrap()
        .rx_queue
        .write(2)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);

    let device = manager.subscriber_mut(id).unwrap();
    assert_eq!(
        (device.received, device.kicks, device.interrupts),
        (5, 2, 2)
    );
}

/// Handlers written for `Tagged<UnixStream>` only.
#[derive(MutEventSubscriber)]
#[subscriber(for = Tagged<UnixStream>)]
#[event(fd = stream)]
struct Tagged<S> {
    stream: S,
    lines: Vec<String>,
}

impl Tagged<UnixStream> {
    fn on_stream(&mut self, _events: Events, _ops: &mut EventOps) {
        let mut buffer = [0; 64];
        let read = self.stream.read(&mut buffer).unwrap();
        self.lines
            .push(String::from_utf8_lossy(&buffer[..read]).into_owned());
    }
}

#[test]
fn for_implements_the_trait_for_one_instantiation() {
    let (stream, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Tagged {
        stream,
        lines: Vec::new(),
    });
    peer.write_all(b"one").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().lines, ["one"]);
}
