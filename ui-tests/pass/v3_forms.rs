//! The forms derive v3 added (issue 21): index expressions, `name = ...`
//! naming the default handler, `vis`, `sources` for `before`, `init_error`
//! with the index, `handler_error` with the handlers' own error type or
//! without ops, `for` with a free parameter, field forms that only paths
//! took before, and `sync_registrations`.
#![deny(warnings, unused_qualifications, rust_2018_idioms)]

use event_manager::{EventManager, EventOps, MutEventSubscriber, SubscriberOps};
use std::fmt::Display;
use std::io::{self, Read};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use vmm_sys_util::eventfd::EventFd;

const RX_INDEX: usize = 0;

// An index that is a constant in scope, one that is a field of `self`,
// and a handler named after `name = ...` (`on_rx_queue`, not `on_queue_evts`).
// Methods private to the module (`vis = pub(self)`), and a `handler_error`
// that takes the error as `&dyn Display` and no ops.
#[derive(MutEventSubscriber)]
#[subscriber(vis = pub(self), handler_error = on_error)]
#[event(fd = queue_evts[RX_INDEX], name = rx_queue)]
#[event(fd = queues[self.tx], name = tx_queue)]
pub struct Queues {
    queue_evts: Vec<EventFd>,
    queues: Vec<EventFd>,
    tx: usize,
    rx_reads: u64,
    errors: Vec<String>,
}

impl Queues {
    fn on_rx_queue(&mut self) -> Result<(), String> {
        self.rx_reads += self.queue_evts[RX_INDEX]
            .read()
            .map_err(|e| e.to_string())?;
        Ok(())
    }
    fn on_tx_queue(&mut self) -> Result<(), String> {
        let _ = self.queues[self.tx].read();
        Err("tx queue is full".to_owned())
    }
    fn on_error(&mut self, source: &'static str, index: usize, error: &dyn Display) {
        self.errors.push(format!("{source}[{index}]: {error}"));
    }
}

// Methods visible in the crate on a `pub` struct (used from outside its
// module in `net()`); the `sources` enum for `before`, declared `pub` beside
// the struct; `init_error` with the index; `handler_error` with the
// handlers' own error type; `sync_registrations` to activate.
mod net {
    use event_manager::{EventOps, Events, MutEventSubscriber};
    use std::io;
    use vmm_sys_util::eventfd::EventFd;

    #[derive(MutEventSubscriber)]
    #[subscriber(vis = "pub(crate)")]
    #[subscriber(sources = NetSource, before = check, fallback = on_other)]
    #[subscriber(init_error = on_init_error, handler_error = on_handler_error)]
    #[event(fd = activate_evt, when = !self.activated)]
    #[event(fd = queues[..], when = self.activated)]
    pub struct Net {
        pub(crate) activate_evt: EventFd,
        pub(crate) queues: Vec<EventFd>,
        pub(crate) activated: bool,
        pub(crate) seen: Vec<(&'static str, usize)>,
        pub(crate) init_errors: Vec<(&'static str, usize)>,
        pub(crate) handler_errors: Vec<(&'static str, usize, io::ErrorKind)>,
    }

    impl Net {
        fn check(&mut self, source: NetSource, events: Events) -> bool {
            self.seen.push((source.name(), source.index()));
            match source {
                NetSource::ActivateEvt => !self.activated,
                NetSource::Queues(i) => i < self.queues.len(),
                NetSource::Fallback => events.data() < 16,
            }
        }
        fn on_activate_evt(&mut self, ops: &mut EventOps<'_>) -> io::Result<()> {
            self.activate_evt.read()?;
            self.activated = true;
            self.sync_registrations(ops).map_err(io::Error::other)
        }
        fn on_queues(&mut self, index: usize) -> io::Result<()> {
            self.queues[index].read()?;
            if index == 1 {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "tx ring empty"));
            }
            Ok(())
        }
        fn on_other(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
        fn on_init_error(
            &mut self,
            source: &'static str,
            index: usize,
            _error: event_manager::Error,
        ) {
            self.init_errors.push((source, index));
        }
        fn on_handler_error(&mut self, source: &'static str, index: usize, error: io::Error) {
            self.handler_errors.push((source, index, error.kind()));
        }
    }
}

// `for` fixes `T` and leaves `I` free: the impl is generic over `I`, with
// the struct's `I: Read` and `bound`'s `I: Send`.
#[derive(MutEventSubscriber)]
#[subscriber(for = Serial<EventFd, I>, bound = "I: Send")]
#[event(fd = trigger)]
pub struct Serial<T: AsRawFd, I: Read> {
    trigger: T,
    input: I,
    received: Vec<u8>,
}

impl<I: Read + Send> Serial<EventFd, I> {
    fn on_trigger(&mut self) {
        let _ = self.trigger.read();
        let _ = self.input.read_to_end(&mut self.received);
    }
}

pub trait Backend: AsRawFd {
    fn ready(&self) -> bool;
}

impl Backend for UnixStream {
    fn ready(&self) -> bool {
        true
    }
}

// Plain `fd = field` on a reference, a `Box<dyn Trait>` and an `Option` of one.
#[derive(MutEventSubscriber)]
#[event(fd = kick)]
#[event(fd = backend)]
#[event(fd = spare)]
pub struct Shapes<'a> {
    kick: &'a EventFd,
    backend: Box<dyn Backend>,
    spare: Option<Box<dyn Backend>>,
    ready: usize,
}

impl Shapes<'_> {
    fn on_kick(&mut self) {
        let _ = self.kick.read();
    }
    fn on_backend(&mut self) {
        self.ready += usize::from(self.backend.ready());
    }
    fn on_spare(&mut self) {
        self.ready += self
            .spare
            .as_ref()
            .map_or(0, |spare| usize::from(spare.ready()));
    }
}

fn queues() {
    let mut manager = EventManager::<Queues>::new().unwrap();
    let id = manager.add_subscriber(Queues {
        queue_evts: vec![EventFd::new(0).unwrap()],
        queues: vec![EventFd::new(0).unwrap(), EventFd::new(0).unwrap()],
        tx: 1,
        rx_reads: 0,
        errors: Vec::new(),
    });
    {
        let queues = manager.subscriber_mut(id).unwrap();
        queues.queue_evts[RX_INDEX].write(3).unwrap();
        queues.queues[1].write(1).unwrap();
    }
    assert_eq!(manager.run().unwrap(), 2);
    let queues = manager.subscriber_mut(id).unwrap();
    assert_eq!(queues.rx_reads, 3);
    // (Which text `source` holds for a named index expression is not
    // asserted: `"queues[self.tx]"` today, where `sources`' `name()` gives
    // `"tx_queue"`.)
    assert_eq!(queues.errors.len(), 1);
    assert!(queues.errors[0].ends_with("[0]: tx queue is full"));
}

fn net() {
    use net::{Net, NetSource};
    // `vis = "pub(crate)"`: the generated methods are reachable from here.
    let _: fn(&Net, &mut EventOps<'_>) -> event_manager::Result<()> = Net::sync_registrations;
    let _: fn(&Net, usize, &mut EventOps<'_>) -> event_manager::Result<()> = Net::attach_queues;
    let _: fn(&Net, &mut EventOps<'_>) -> event_manager::Result<()> = Net::detach_all_queues;
    let mut manager = EventManager::<Net>::new().unwrap();
    let id = manager.add_subscriber(Net {
        activate_evt: EventFd::new(0).unwrap(),
        queues: vec![EventFd::new(0).unwrap(), EventFd::new(0).unwrap()],
        activated: false,
        seen: Vec::new(),
        init_errors: Vec::new(),
        handler_errors: Vec::new(),
    });
    manager
        .subscriber_mut(id)
        .unwrap()
        .activate_evt
        .write(1)
        .unwrap();
    assert_eq!(manager.run().unwrap(), 1);
    {
        let net = manager.subscriber_mut(id).unwrap();
        assert!(net.activated);
        net.queues[0].write(1).unwrap();
        net.queues[1].write(1).unwrap();
        // The activation fd was detached by `sync_registrations`.
        net.activate_evt.write(1).unwrap();
    }
    assert_eq!(manager.run().unwrap(), 2);
    let net = manager.subscriber_mut(id).unwrap();
    assert!(net.init_errors.is_empty());
    let mut seen = net.seen.clone();
    seen.sort_unstable();
    assert_eq!(seen, [("activate_evt", 0), ("queues", 0), ("queues", 1)]);
    // `source` is `"queues[..]"` here, `name()` gives `"queues"`: only the
    // index and the error (by value) are asserted.
    let errors: Vec<_> = net
        .handler_errors
        .iter()
        .map(|&(_, index, kind)| (index, kind))
        .collect();
    assert_eq!(errors, [(1, io::ErrorKind::WouldBlock)]);
    assert_eq!(NetSource::Queues(1), NetSource::Queues(1));
    assert_eq!(format!("{:?}", NetSource::Fallback), "Fallback");
}

fn serial() {
    let mut manager = EventManager::<Serial<EventFd, &'static [u8]>>::new().unwrap();
    let id = manager.add_subscriber(Serial {
        trigger: EventFd::new(0).unwrap(),
        input: &b"hello"[..],
        received: Vec::new(),
    });
    manager
        .subscriber_mut(id)
        .unwrap()
        .trigger
        .write(1)
        .unwrap();
    assert_eq!(manager.run().unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().received, b"hello");
}

fn shapes() {
    let kick = EventFd::new(0).unwrap();
    let (backend, _backend_peer) = UnixStream::pair().unwrap();
    let (spare, mut spare_peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::<Shapes<'_>>::new().unwrap();
    let id = manager.add_subscriber(Shapes {
        kick: &kick,
        backend: Box::new(backend),
        spare: Some(Box::new(spare)),
        ready: 0,
    });
    kick.write(1).unwrap();
    io::Write::write_all(&mut spare_peer, b"x").unwrap();
    assert_eq!(manager.run().unwrap(), 2);
    assert_eq!(manager.subscriber_mut(id).unwrap().ready, 1);
}

fn main() {
    queues();
    net();
    serial();
    shapes();
}
