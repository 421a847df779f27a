//! Sources that change at run time, without a data tag in user code:
//! `when = ...` decides what `init` registers, and the generated
//! `attach_<name>`, `detach_<name>` and `set_<name>_interest` change one
//! declared source later. Shapes: a virtio-net-like device that watches
//! its activation eventfd until it is activated, then its queues, tap and
//! rate limiters; a console manager whose connection comes and goes.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::EventFd;
use vmm_sys_util::timerfd::TimerFd;

struct RateLimiter {
    timer: TimerFd,
}

#[derive(MutEventSubscriber)]
#[subscriber(before = only_input)]
#[event(fd = activate_evt, when = !self.activated)]
#[event(fd = queue_evts[0], handler = process_rx, name = rx_queue, when = self.activated)]
#[event(fd = queue_evts[1], handler = process_tx, name = tx_queue, when = self.activated)]
#[event(fd = tap, set = "IN | EDGE_TRIGGERED", when = self.activated)]
#[event(fd = rx_limiter.timer, handler = on_rx_limiter, name = rx_timer, when = self.activated)]
#[event(fd = tx_limiter.timer, handler = on_tx_limiter, name = tx_timer, when = self.activated)]
struct Net {
    activate_evt: EventFd,
    activated: bool,
    queue_evts: Vec<EventFd>,
    tap: UnixStream,
    rx_limiter: RateLimiter,
    tx_limiter: RateLimiter,
    log: Vec<&'static str>,
}

impl Net {
    fn new(activated: bool, tap: UnixStream) -> Self {
        Net {
            activate_evt: EventFd::new(0).unwrap(),
            activated,
            queue_evts: vec![EventFd::new(0).unwrap(), EventFd::new(0).unwrap()],
            tap,
            rx_limiter: RateLimiter {
                timer: TimerFd::new().unwrap(),
            },
            tx_limiter: RateLimiter {
                timer: TimerFd::new().unwrap(),
            },
            log: Vec::new(),
        }
    }

    fn only_input(&mut self, events: Events, _ops: &mut EventOps) -> bool {
        events.event_set().contains(EventSet::IN)
    }

    fn on_activate_evt(&mut self, _events: Events, ops: &mut EventOps) {
        self.activate_evt.read().unwrap();
        self.detach_activate_evt(ops).unwrap();
        self.activated = true;
        self.attach_rx_queue(ops).unwrap();
        self.attach_tx_queue(ops).unwrap();
        self.attach_tap(ops).unwrap();
        self.attach_rx_timer(ops).unwrap();
        self.attach_tx_timer(ops).unwrap();
        self.log.push("activated");
    }

    fn process_rx(&mut self, _events: Events, _ops: &mut EventOps) {
        self.queue_evts[0].read().unwrap();
        self.log.push("rx");
    }

    fn process_tx(&mut self, _events: Events, _ops: &mut EventOps) {
        self.queue_evts[1].read().unwrap();
        self.log.push("tx");
    }

    fn on_tap(&mut self, _events: Events, _ops: &mut EventOps) {
        let mut frame = [0; 64];
        let _ = self.tap.read(&mut frame).unwrap();
        self.log.push("tap");
    }

    fn on_rx_limiter(&mut self, _events: Events, _ops: &mut EventOps) {
        self.rx_limiter.timer.wait().unwrap();
        self.log.push("rx limiter");
    }

    fn on_tx_limiter(&mut self, _events: Events, _ops: &mut EventOps) {
        self.tx_limiter.timer.wait().unwrap();
        self.log.push("tx limiter");
    }
}

/// Makes every runtime fd of `net` ready.
fn make_everything_ready(net: &mut Net, peer: &mut UnixStream) {
    net.queue_evts[0].write(1).unwrap();
    net.queue_evts[1].write(1).unwrap();
    peer.write_all(b"frame").unwrap();
    let soon = Duration::from_micros(1);
    net.rx_limiter.timer.reset(soon, None).unwrap();
    net.tx_limiter.timer.reset(soon, None).unwrap();
}

fn sorted(log: &[&'static str]) -> Vec<&'static str> {
    let mut log = log.to_vec();
    log.sort_unstable();
    log
}

#[test]
fn a_device_watches_its_queues_only_after_activation() {
    let (tap, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Net::new(false, tap));
    make_everything_ready(manager.subscriber_mut(id).unwrap(), &mut peer);

    // Not activated: the runtime fds are ready but not watched.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    manager
        .subscriber_mut(id)
        .unwrap()
        .activate_evt
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().log, ["activated"]);

    // Now all five are watched (the edge-triggered tap saw its data before
    // it was registered, and a new registration reports what is ready).
    let mut dispatched = 0;
    while dispatched < 5 {
        dispatched += manager.run_with_timeout(1000).unwrap();
    }
    assert_eq!(
        sorted(&manager.subscriber_mut(id).unwrap().log),
        ["activated", "rx", "rx limiter", "tap", "tx", "tx limiter"]
    );

    // The activation eventfd is no longer watched.
    manager
        .subscriber_mut(id)
        .unwrap()
        .activate_evt
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

#[test]
fn a_device_restored_active_watches_its_queues_from_init() {
    let (tap, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Net::new(true, tap));
    make_everything_ready(manager.subscriber_mut(id).unwrap(), &mut peer);
    manager
        .subscriber_mut(id)
        .unwrap()
        .activate_evt
        .write(1)
        .unwrap();

    let mut dispatched = 0;
    while dispatched < 5 {
        dispatched += manager.run_with_timeout(1000).unwrap();
    }
    assert_eq!(
        sorted(&manager.subscriber_mut(id).unwrap().log),
        ["rx", "rx limiter", "tap", "tx", "tx limiter"]
    );
    // The activation eventfd was never registered.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

/// A console manager: a listener, and one connection at a time.
#[derive(MutEventSubscriber)]
#[event(fd = listener)]
#[event(fd = conn)]
struct Console {
    listener: UnixListener,
    conn: Option<UnixStream>,
    received: Vec<u8>,
    connections: u32,
}

impl Console {
    fn on_listener(&mut self, _events: Events, ops: &mut EventOps) {
        let (stream, _) = self.listener.accept().unwrap();
        if self.conn.is_some() {
            return; // one at a time; this one is closed
        }
        self.conn = Some(stream);
        self.attach_conn(ops).unwrap();
        self.connections += 1;
    }

    fn on_conn(&mut self, _events: Events, ops: &mut EventOps) {
        let mut buffer = [0; 64];
        let read = self.conn.as_mut().unwrap().read(&mut buffer).unwrap();
        if read == 0 {
            // End of stream: detach before the fd is closed.
            self.detach_conn(ops).unwrap();
            self.conn = None;
            return;
        }
        self.received.extend_from_slice(&buffer[..read]);
    }
}

#[test]
fn a_connection_is_attached_when_accepted_and_detached_at_its_end() {
    let dir = std::env::temp_dir().join(format!("em-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("console.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();

    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Console {
        listener,
        conn: None,
        received: Vec::new(),
        connections: 0,
    });

    for text in [&b"first"[..], &b"second"[..]] {
        let mut client = UnixStream::connect(&path).unwrap();
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 1, "accepted");
        client.write_all(text).unwrap();
        drop(client);
        // The data, then the end of the stream (maybe in one read).
        while manager.subscriber_mut(id).unwrap().conn.is_some() {
            manager.run_with_timeout(1000).unwrap();
        }
    }
    let console = manager.subscriber_mut(id).unwrap();
    assert_eq!(console.received, b"firstsecond");
    assert_eq!(console.connections, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads a request, then waits until the socket is writable to answer.
#[derive(MutEventSubscriber)]
#[event(fd = conn)]
struct Replier {
    conn: UnixStream,
    answered: bool,
}

impl Replier {
    fn on_conn(&mut self, events: Events, ops: &mut EventOps) {
        if events.event_set().contains(EventSet::OUT) {
            self.conn.write_all(b"answer").unwrap();
            self.answered = true;
            self.set_conn_interest(ops, EventSet::IN).unwrap();
            return;
        }
        let mut request = [0; 16];
        let _ = self.conn.read(&mut request).unwrap();
        self.set_conn_interest(ops, EventSet::OUT).unwrap();
    }
}

#[test]
fn set_interest_switches_between_reading_and_writing() {
    let (conn, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Replier {
        conn,
        answered: false,
    });
    peer.write_all(b"question").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert!(!manager.subscriber_mut(id).unwrap().answered);
    // Writable at once: the OUT event reaches the same handler.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert!(manager.subscriber_mut(id).unwrap().answered);
    let mut answer = [0; 6];
    peer.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"answer");
    // Back to IN, with nothing to read: no event.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

#[test]
fn the_generated_methods_refuse_a_source_without_an_fd() {
    let dir = std::env::temp_dir().join(format!("em-console-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let listener = UnixListener::bind(dir.join("console.sock")).unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Console {
        listener,
        conn: None,
        received: Vec::new(),
        connections: 0,
    });
    let console = Console {
        listener: UnixListener::bind(dir.join("other.sock")).unwrap(),
        conn: None,
        received: Vec::new(),
        connections: 0,
    };
    let mut ops = manager.event_ops(id).unwrap();
    // One answer for the three: the source holds no fd (not the EBADF
    // that epoll would give for a negative number).
    assert_eq!(
        console.attach_conn(&mut ops),
        Err(event_manager::Error::NoFd)
    );
    assert_eq!(
        console.detach_conn(&mut ops),
        Err(event_manager::Error::NoFd)
    );
    assert_eq!(
        console.set_conn_interest(&mut ops, EventSet::OUT),
        Err(event_manager::Error::NoFd)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
