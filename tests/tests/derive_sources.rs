//! `#[event(fd = ...)]` with a path instead of a field: a nested field,
//! an element at a constant index, a method call, a path from `self`.
//! The value may be an fd type, a reference, an `Option` of either, a
//! `Box<dyn Trait>` or a `RawFd`; `None` and a negative fd register
//! nothing. Shapes from VMMs: an exit handler whose only fd comes from a
//! method, a queue handler whose tap sits at `inner.tap`, a block device
//! with `[EventFd; 1]` and a completion fd that exists for one backend
//! only, a rate limiter whose fd may be `-1`, a reconnecting client.

use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::EventFd;

struct Vm {
    exit: EventFd,
}

impl Vm {
    fn exit_evt(&self) -> &EventFd {
        &self.exit
    }
}

/// A VMM's exit handler: no fd field at all.
#[derive(MutEventSubscriber)]
#[event(fd = vm.exit_evt(), handler = on_exit)]
struct ExitHandler {
    vm: Vm,
    exits: u64,
}

impl ExitHandler {
    fn on_exit(&mut self, _events: Events, _ops: &mut EventOps) {
        self.exits += self.vm.exit_evt().read().unwrap();
    }
}

#[test]
fn an_fd_from_a_method() {
    let mut manager = EventManager::new().unwrap();
    let vm = Vm {
        exit: EventFd::new(0).unwrap(),
    };
    let id = manager.add_subscriber(ExitHandler { vm, exits: 0 });
    manager
        .subscriber_mut(id)
        .unwrap()
        .vm
        .exit
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().exits, 1);
}

struct Inner {
    tap: UnixStream,
}

/// A queue handler whose tap is nested; on anything but `IN` it removes
/// all its fds.
#[derive(MutEventSubscriber)]
#[event(fd = inner.tap)] // handled by `on_tap`
#[event(fd = self.kick, handler = on_kick)]
struct QueueHandler {
    inner: Inner,
    kick: EventFd,
    received: Vec<u8>,
    removed: bool,
}

impl QueueHandler {
    fn on_tap(&mut self, events: Events, ops: &mut EventOps) {
        if !events.event_set().contains(EventSet::IN)
            || events.event_set().contains(EventSet::HANG_UP)
        {
            ops.remove(Events::empty(&self.inner.tap)).unwrap();
            ops.remove(Events::empty(&self.kick)).unwrap();
            self.removed = true;
            return;
        }
        let mut buffer = [0; 16];
        let read = self.inner.tap.read(&mut buffer).unwrap();
        self.received.extend_from_slice(&buffer[..read]);
    }

    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {
        self.kick.read().unwrap();
    }
}

#[test]
fn a_nested_field_and_a_path_from_self() {
    let (tap, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(QueueHandler {
        inner: Inner { tap },
        kick: EventFd::new(0).unwrap(),
        received: Vec::new(),
        removed: false,
    });
    peer.write_all(b"frame").unwrap();
    manager.subscriber_mut(id).unwrap().kick.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    assert_eq!(manager.subscriber_mut(id).unwrap().received, b"frame");

    // The peer goes away: the tap hangs up and the handler removes both.
    drop(peer);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert!(manager.subscriber_mut(id).unwrap().removed);
    manager.subscriber_mut(id).unwrap().kick.write(1).unwrap();
    assert_eq!(
        manager.run_with_timeout(0).unwrap(),
        0,
        "nothing is watched"
    );
}

enum Engine {
    Sync,
    Async { completion: EventFd },
}

impl Engine {
    fn completion_fd(&self) -> Option<&EventFd> {
        match self {
            Engine::Sync => None,
            Engine::Async { completion } => Some(completion),
        }
    }
}

/// A block device: one queue in an array, and a completion eventfd that
/// only the asynchronous engine has.
#[derive(MutEventSubscriber)]
#[event(fd = queue_evts[0], handler = on_queue)]
#[event(fd = engine.completion_fd(), handler = on_completion)]
struct Block {
    queue_evts: [EventFd; 1],
    engine: Engine,
    handled: Vec<&'static str>,
}

impl Block {
    fn on_queue(&mut self, _events: Events, _ops: &mut EventOps) {
        self.queue_evts[0].read().unwrap();
        self.handled.push("queue");
    }

    fn on_completion(&mut self, _events: Events, _ops: &mut EventOps) {
        self.engine.completion_fd().unwrap().read().unwrap();
        self.handled.push("completion");
    }
}

#[test]
fn an_element_at_an_index_and_an_optional_fd_from_a_method() {
    let mut manager = EventManager::new().unwrap();
    let sync = manager.add_subscriber(Block {
        queue_evts: [EventFd::new(0).unwrap()],
        engine: Engine::Sync,
        handled: Vec::new(),
    });
    let asynchronous = manager.add_subscriber(Block {
        queue_evts: [EventFd::new(0).unwrap()],
        engine: Engine::Async {
            completion: EventFd::new(0).unwrap(),
        },
        handled: Vec::new(),
    });
    for id in [sync, asynchronous] {
        manager.subscriber_mut(id).unwrap().queue_evts[0]
            .write(1)
            .unwrap();
    }
    let device = manager.subscriber_mut(asynchronous).unwrap();
    device.engine.completion_fd().unwrap().write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
    assert_eq!(manager.subscriber_mut(sync).unwrap().handled, ["queue"]);
    let mut handled = manager
        .subscriber_mut(asynchronous)
        .unwrap()
        .handled
        .clone();
    handled.sort();
    assert_eq!(handled, ["completion", "queue"]);
}

/// A rate limiter that has a timer only when it limits something; its
/// `as_raw_fd` is `-1` otherwise.
struct RateLimiter {
    timer: Option<EventFd>,
}

impl AsRawFd for RateLimiter {
    fn as_raw_fd(&self) -> RawFd {
        self.timer.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

#[derive(MutEventSubscriber)]
#[event(fd = self.limiter.as_raw_fd(), handler = on_limiter)]
#[event(fd = queue)]
struct Limited {
    limiter: RateLimiter,
    queue: EventFd,
    refills: u32,
}

impl Limited {
    fn on_limiter(&mut self, _events: Events, _ops: &mut EventOps) {
        self.limiter.timer.as_ref().unwrap().read().unwrap();
        self.refills += 1;
    }

    fn on_queue(&mut self, _events: Events, _ops: &mut EventOps) {
        self.queue.read().unwrap();
    }
}

#[test]
fn a_negative_fd_is_not_registered() {
    let mut manager = EventManager::new().unwrap();
    // Without a timer: `-1`, not registered, and `init` does not fail.
    let unlimited = manager.add_subscriber(Limited {
        limiter: RateLimiter { timer: None },
        queue: EventFd::new(0).unwrap(),
        refills: 0,
    });
    let limited = manager.add_subscriber(Limited {
        limiter: RateLimiter {
            timer: Some(EventFd::new(0).unwrap()),
        },
        queue: EventFd::new(0).unwrap(),
        refills: 0,
    });
    manager
        .subscriber_mut(unlimited)
        .unwrap()
        .queue
        .write(1)
        .unwrap();
    let timer = &manager.subscriber_mut(limited).unwrap().limiter.timer;
    timer.as_ref().unwrap().write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    assert_eq!(manager.subscriber_mut(limited).unwrap().refills, 1);
}

trait Stream: AsRawFd + Read + Send {}
impl Stream for UnixStream {}

/// A client whose stream is replaced on each reconnection, shared with
/// another thread.
#[derive(MutEventSubscriber)]
#[event(fd = stream.lock().unwrap().as_deref(), handler = on_stream)]
struct Client {
    stream: Arc<Mutex<Option<Box<dyn Stream>>>>,
    received: usize,
}

impl Client {
    fn on_stream(&mut self, _events: Events, _ops: &mut EventOps) {
        let mut stream = self.stream.lock().unwrap();
        let mut buffer = [0; 16];
        self.received += stream.as_mut().unwrap().read(&mut buffer).unwrap();
    }
}

#[test]
fn a_boxed_trait_object_behind_a_lock() {
    let (stream, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let disconnected = manager.add_subscriber(Client {
        stream: Arc::new(Mutex::new(None)),
        received: 0,
    });
    let connected = manager.add_subscriber(Client {
        stream: Arc::new(Mutex::new(Some(Box::new(stream)))),
        received: 0,
    });
    peer.write_all(b"abc").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(connected).unwrap().received, 3);
    assert_eq!(manager.subscriber_mut(disconnected).unwrap().received, 0);
}
