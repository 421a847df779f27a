//! The derive's features of issue 21, each against real epoll with real
//! eventfds and sockets: `sources = Name` and a `before` that takes the
//! event's source (every form of it); `handler_error` taking the
//! handlers' own error type (also beside handlers that return `()`), or
//! `&dyn Display`, with and without `ops`; `init_error` taking the
//! element's index; `for` with a free parameter, and with the struct's
//! where-clause and no `bound`; `vis`; `name` giving the sources enum's
//! variant and the handler; `sync_registrations` on a collection with a
//! `None` element, an element detached by hand, a `when` that flips, and
//! failures it goes on past; a subscriber written by hand around a derived
//! one, whose hand adds need the derived one's `fallback`; and
//! `handler_error` taking `&dyn Display` beside handlers that all return
//! `()`.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId,
    SubscriberOps,
};
use event_manager_tests::{derived_element_tag, eventfd, with_ops};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

fn nonblocking_eventfd() -> EventFd {
    EventFd::new(EFD_NONBLOCK).unwrap()
}

/// A regular file, which epoll refuses with `EPERM`.
fn regular_file() -> File {
    File::open(std::env::current_exe().unwrap()).unwrap()
}

// ---------------------------------------------------------------------
// 1. `sources = Name` and a `before` that takes the source.

/// A virtio-net-like device: the activation eventfd until it is
/// activated, the queues after; a tap watched from the start (edge
/// triggered, so that an event `before` skips is not reported again) and
/// an eventfd added by hand for the fallback.
#[derive(MutEventSubscriber)]
#[subscriber(sources = NetSource, before = check_event)]
#[subscriber(init = add_by_hand, fallback = on_hand)]
#[event(fd = activate_evt, when = !self.activated)]
#[event(fd = queues[..], handler = on_queue, when = self.activated)]
#[event(fd = tap, set = "IN | EDGE_TRIGGERED")]
struct Net {
    activate_evt: EventFd,
    activated: bool,
    queues: Vec<EventFd>,
    tap: UnixStream,
    hand: EventFd,
    /// What `before` saw, skipped or not.
    before: Vec<(NetSource, EventSet)>,
    /// What the handlers (and the fallback) got.
    handled: Vec<(&'static str, usize, u64)>,
}

/// The data the hand-added eventfd is registered with.
const HAND_DATA: u32 = 7;

impl Net {
    fn new(tap: UnixStream) -> Self {
        Net {
            activate_evt: eventfd(),
            activated: false,
            queues: vec![eventfd(), eventfd(), eventfd()],
            tap,
            hand: eventfd(),
            before: Vec::new(),
            handled: Vec::new(),
        }
    }

    fn check_event(&mut self, source: NetSource, events: Events) -> bool {
        self.before.push((source, events.event_set()));
        self.activated || source == NetSource::ActivateEvt
    }

    fn add_by_hand(&mut self, ops: &mut EventOps) {
        let interest = EventSet::IN | EventSet::EDGE_TRIGGERED;
        ops.add(Events::with_data(&self.hand, HAND_DATA, interest))
            .unwrap();
    }

    fn on_activate_evt(&mut self, ops: &mut EventOps) -> event_manager::Result<()> {
        let count = self.activate_evt.read().unwrap();
        self.activated = true;
        self.handled.push(("activate_evt", 0, count));
        self.sync_registrations(ops)
    }

    fn on_queue(&mut self, index: usize) {
        let count = self.queues[index].read().unwrap();
        self.handled.push(("queue", index, count));
    }

    fn on_tap(&mut self) {
        let mut frame = [0; 64];
        let read = self.tap.read(&mut frame).unwrap();
        self.handled.push(("tap", 0, read as u64));
    }

    fn on_hand(&mut self, events: Events, _ops: &mut EventOps) {
        let count = self.hand.read().unwrap();
        self.handled.push(("hand", events.data() as usize, count));
    }
}

#[test]
fn before_gets_each_events_source_and_skips_all_but_the_activation() {
    let (tap, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Net::new(tap));

    // Before the activation, a frame on the tap and a kick of the hand
    // fd reach `before`, which skips them: no handler runs.
    peer.write_all(b"early").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    manager.subscriber_mut(id).unwrap().hand.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().handled, []);
    // The queues are not watched yet.
    manager.subscriber_mut(id).unwrap().queues[1]
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    manager.subscriber_mut(id).unwrap().queues[1]
        .read()
        .unwrap();

    // One fd made ready at a time, so the order is the order of writing.
    manager
        .subscriber_mut(id)
        .unwrap()
        .activate_evt
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    manager.subscriber_mut(id).unwrap().queues[2]
        .write(3)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    manager.subscriber_mut(id).unwrap().queues[0]
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    manager.subscriber_mut(id).unwrap().hand.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    peer.write_all(b"late").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    let net = manager.subscriber_mut(id).unwrap();
    let sources: Vec<NetSource> = net.before.iter().map(|(source, _)| *source).collect();
    assert_eq!(
        sources,
        [
            NetSource::Tap,
            NetSource::Fallback,
            NetSource::ActivateEvt,
            NetSource::Queues(2),
            NetSource::Queues(0),
            NetSource::Fallback,
            NetSource::Tap,
        ]
    );
    for (source, events) in &net.before {
        assert!(events.contains(EventSet::IN), "{source:?}: {events:?}");
    }
    let named: Vec<(&str, usize)> = sources
        .iter()
        .map(|source| (source.name(), source.index()))
        .collect();
    assert_eq!(
        named,
        [
            ("tap", 0),
            ("fallback", 0),
            ("activate_evt", 0),
            ("queues", 2),
            ("queues", 0),
            ("fallback", 0),
            ("tap", 0),
        ]
    );
    // The skipped events reached no handler: the frame and the kick sent
    // before the activation are read with the later ones.
    assert_eq!(
        net.handled,
        [
            ("activate_evt", 0, 1),
            ("queue", 2, 3),
            ("queue", 0, 1),
            ("hand", HAND_DATA as usize, 2),
            ("tap", 0, b"earlylate".len() as u64),
        ]
    );
}

/// `before` with the source alone: skips the scalar `a`.
#[derive(MutEventSubscriber)]
#[subscriber(sources = SourceOnly, before = check)]
#[event(fd = a)]
#[event(fd = b[..], handler = on_b)]
struct BeforeSource {
    a: EventFd,
    b: Vec<EventFd>,
    before: Vec<SourceOnly>,
    handled: Vec<(&'static str, usize)>,
}

impl BeforeSource {
    fn check(&mut self, source: SourceOnly) -> bool {
        self.before.push(source);
        source != SourceOnly::A
    }
    fn on_a(&mut self) {
        self.a.read().unwrap();
        self.handled.push(("a", 0));
    }
    fn on_b(&mut self, index: usize) {
        self.b[index].read().unwrap();
        self.handled.push(("b", index));
    }
}

#[test]
fn before_may_take_the_source_alone() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(BeforeSource {
        a: eventfd(),
        b: vec![eventfd(), eventfd()],
        before: Vec::new(),
        handled: Vec::new(),
    });
    manager.subscriber_mut(id).unwrap().a.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    manager.subscriber_mut(id).unwrap().b[1].write(1).unwrap();
    // `a`, skipped and still readable, and `b[1]`.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    let device = manager.subscriber_mut(id).unwrap();
    // The two events of one run come in no set order.
    let mut second_run = device.before[1..].to_vec();
    second_run.sort_by_key(|source| (source.name(), source.index()));
    assert_eq!(
        (device.before[0], second_run),
        (SourceOnly::A, vec![SourceOnly::A, SourceOnly::B(1)])
    );
    assert_eq!(device.handled, [("b", 1)]);
}

/// `before` with the source and the `EventOps`: it detaches the source it
/// skips, through the ops it is given.
#[derive(MutEventSubscriber)]
#[subscriber(sources = WithOps, before = check)]
#[event(fd = a)]
#[event(fd = b[..], handler = on_b)]
struct BeforeSourceEventsOps {
    a: EventFd,
    b: Vec<EventFd>,
    before: Vec<(WithOps, EventSet)>,
    detached: Vec<event_manager::Result<()>>,
    handled: Vec<(&'static str, usize)>,
}

impl BeforeSourceEventsOps {
    fn check(&mut self, source: WithOps, events: Events, ops: &mut EventOps) -> bool {
        self.before.push((source, events.event_set()));
        match source {
            WithOps::A => {
                self.detached.push(self.detach_a(ops));
                false
            }
            WithOps::B(_) => true,
        }
    }
    fn on_a(&mut self) {
        self.a.read().unwrap();
        self.handled.push(("a", 0));
    }
    fn on_b(&mut self, index: usize) {
        self.b[index].read().unwrap();
        self.handled.push(("b", index));
    }
}

#[test]
fn before_may_take_the_source_the_events_and_the_ops() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(BeforeSourceEventsOps {
        a: eventfd(),
        b: vec![eventfd(), eventfd(), eventfd()],
        before: Vec::new(),
        detached: Vec::new(),
        handled: Vec::new(),
    });
    manager.subscriber_mut(id).unwrap().a.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    manager.subscriber_mut(id).unwrap().b[2].write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    // `a` is still readable, but `before` detached it.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let device = manager.subscriber_mut(id).unwrap();
    assert_eq!(
        device.before,
        [(WithOps::A, EventSet::IN), (WithOps::B(2), EventSet::IN)]
    );
    assert_eq!(device.detached, [Ok(())]);
    assert_eq!(device.handled, [("b", 2)]);
}

/// `before` with the source and the `Events`, on a type whose `before`
/// keeps only the collection's odd elements.
#[derive(MutEventSubscriber)]
#[subscriber(sources = OddOnly, before = check)]
#[event(fd = b[..], handler = on_b)]
struct BeforeSourceEvents {
    b: Vec<EventFd>,
    before: Vec<(OddOnly, u32)>,
    handled: Vec<usize>,
}

impl BeforeSourceEvents {
    fn check(&mut self, source: OddOnly, events: Events) -> bool {
        self.before.push((source, events.data()));
        source.index() % 2 == 1
    }
    fn on_b(&mut self, index: usize) {
        self.b[index].read().unwrap();
        self.handled.push(index);
    }
}

#[test]
fn before_may_take_the_source_and_the_events() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(BeforeSourceEvents {
        b: (0..4).map(|_| eventfd()).collect(),
        before: Vec::new(),
        handled: Vec::new(),
    });
    for index in [3, 0] {
        manager.subscriber_mut(id).unwrap().b[index]
            .write(1)
            .unwrap();
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    }
    let device = manager.subscriber_mut(id).unwrap();
    assert_eq!(
        device.before,
        [
            (OddOnly::B(3), derived_element_tag(0, 3)),
            (OddOnly::B(0), derived_element_tag(0, 0)),
        ]
    );
    assert_eq!(device.handled, [3]);
}

// ---------------------------------------------------------------------
// 2. `handler_error`.

/// `handler_error` takes `std::io::Error`, the error of the handler that
/// returns one; the other handler returns `()`.
#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error)]
#[event(fd = disk)]
#[event(fd = kick)]
struct Disk {
    disk: EventFd,
    kick: EventFd,
    kicks: u64,
    errors: Vec<(&'static str, usize, ErrorKind, String)>,
}

impl Disk {
    fn on_disk(&mut self) -> io::Result<()> {
        self.disk.read()?;
        Err(io::Error::new(ErrorKind::StorageFull, "the disk is full"))
    }

    fn on_kick(&mut self) {
        self.kicks += self.kick.read().unwrap();
    }

    fn on_error(&mut self, source: &'static str, index: usize, error: io::Error) {
        self.errors
            .push((source, index, error.kind(), error.to_string()));
    }
}

#[test]
fn handler_error_takes_the_own_error_type_beside_handlers_returning_unit() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Disk {
        disk: eventfd(),
        kick: eventfd(),
        kicks: 0,
        errors: Vec::new(),
    });
    let disk = manager.subscriber_mut(id).unwrap();
    disk.disk.write(1).unwrap();
    disk.kick.write(2).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    let disk = manager.subscriber_mut(id).unwrap();
    assert_eq!(disk.kicks, 2);
    assert_eq!(
        disk.errors,
        [(
            "disk",
            0,
            ErrorKind::StorageFull,
            "the disk is full".to_string()
        )]
    );
}

#[derive(Debug)]
struct Refused(usize);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "worker {} refused", self.0)
    }
}

/// `handler_error` takes `&dyn Display` and no `ops`: the handlers return
/// two different error types.
#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error)]
#[event(fd = workers[..], handler = on_worker)]
#[event(fd = control)]
struct Shown {
    workers: Vec<EventFd>,
    control: EventFd,
    errors: Vec<(&'static str, usize, String)>,
}

impl Shown {
    fn on_worker(&mut self, index: usize) -> Result<(), Refused> {
        self.workers[index].read().unwrap();
        if index == 2 {
            return Err(Refused(index));
        }
        Ok(())
    }

    fn on_control(&mut self) -> io::Result<()> {
        self.control.read()?;
        Err(io::Error::other("control refused"))
    }

    fn on_error(&mut self, source: &'static str, index: usize, error: &dyn std::fmt::Display) {
        self.errors.push((source, index, error.to_string()));
    }
}

#[test]
fn handler_error_takes_a_displayed_error_without_ops() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Shown {
        workers: (0..3).map(|_| eventfd()).collect(),
        control: eventfd(),
        errors: Vec::new(),
    });
    let shown = manager.subscriber_mut(id).unwrap();
    for worker in &shown.workers {
        worker.write(1).unwrap();
    }
    shown.control.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
    assert_eq!(
        sorted(std::mem::take(
            &mut manager.subscriber_mut(id).unwrap().errors
        )),
        [
            ("control", 0, "control refused".to_string()),
            ("workers[..]", 2, "worker 2 refused".to_string()),
        ]
    );
}

/// `handler_error` takes the own error type and the `EventOps`, and
/// detaches the element whose handler failed.
#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error)]
#[event(fd = workers[..], handler = on_worker)]
struct Detaching {
    workers: Vec<EventFd>,
    handled: Vec<usize>,
    errors: Vec<(&'static str, usize, ErrorKind)>,
}

impl Detaching {
    fn on_worker(&mut self, index: usize) -> io::Result<()> {
        self.workers[index].read()?;
        self.handled.push(index);
        if index == 2 {
            // Read again: the counter is 0 and the eventfd non-blocking.
            self.workers[index].read()?;
        }
        Ok(())
    }

    fn on_error(
        &mut self,
        source: &'static str,
        index: usize,
        error: io::Error,
        ops: &mut EventOps,
    ) {
        self.errors.push((source, index, error.kind()));
        self.detach_workers(index, ops).unwrap();
    }
}

#[test]
fn handler_error_takes_the_own_error_type_and_ops_and_detaches_the_failing_element() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Detaching {
        workers: (0..4).map(|_| nonblocking_eventfd()).collect(),
        handled: Vec::new(),
        errors: Vec::new(),
    });
    let write_every_worker = |manager: &mut EventManager<Detaching>| {
        for worker in &manager.subscriber_mut(id).unwrap().workers {
            worker.write(1).unwrap();
        }
    };
    write_every_worker(&mut manager);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
    let detaching = manager.subscriber_mut(id).unwrap();
    assert_eq!(
        detaching.errors,
        [("workers[..]", 2, ErrorKind::WouldBlock)]
    );
    assert_eq!(sorted(std::mem::take(&mut detaching.handled)), [0, 1, 2, 3]);

    // Worker 2 was detached by the error method; the others still work.
    write_every_worker(&mut manager);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let detaching = manager.subscriber_mut(id).unwrap();
    assert_eq!(sorted(std::mem::take(&mut detaching.handled)), [0, 1, 3]);
    assert_eq!(detaching.errors.len(), 1);
}

// ---------------------------------------------------------------------
// 3. `init_error` with the element's index.

/// Two of these in one manager share fds: the second one's registration
/// of a shared fd fails.
#[derive(MutEventSubscriber)]
#[subscriber(init_error = on_init_error)]
#[event(fd = queues[..], handler = on_queue)]
#[event(fd = control)]
struct Indexed {
    queues: Vec<Arc<EventFd>>,
    control: Arc<EventFd>,
    init_errors: Vec<(&'static str, usize, Error)>,
    seen: Vec<(&'static str, usize)>,
}

impl Indexed {
    fn new(queues: Vec<Arc<EventFd>>, control: Arc<EventFd>) -> Self {
        Indexed {
            queues,
            control,
            init_errors: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn on_init_error(&mut self, source: &'static str, index: usize, error: Error) {
        self.init_errors.push((source, index, error));
    }

    fn on_queue(&mut self, index: usize) {
        self.queues[index].read().unwrap();
        self.seen.push(("queue", index));
    }

    fn on_control(&mut self) {
        self.control.read().unwrap();
        self.seen.push(("control", 0));
    }
}

#[test]
fn init_error_gets_the_index_of_the_element_that_failed() {
    let shared_queue = Arc::new(eventfd());
    let shared_control = Arc::new(eventfd());
    let queues = vec![
        Arc::new(eventfd()),
        Arc::clone(&shared_queue),
        Arc::new(eventfd()),
    ];
    let mut manager = EventManager::new().unwrap();
    let first = manager.add_subscriber(Indexed::new(
        vec![Arc::clone(&shared_queue)],
        Arc::clone(&shared_control),
    ));
    let second = manager.add_subscriber(Indexed::new(queues, Arc::clone(&shared_control)));
    assert_eq!(manager.subscriber_mut(first).unwrap().init_errors, []);
    assert_eq!(
        manager.subscriber_mut(second).unwrap().init_errors,
        [
            ("queues[..]", 1, Error::FdAlreadyRegistered),
            ("control", 0, Error::FdAlreadyRegistered),
        ]
    );

    // The other elements were registered; the shared fds stay the first
    // subscriber's.
    for queue in &manager.subscriber_mut(second).unwrap().queues {
        queue.write(1).unwrap();
    }
    shared_control.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
    assert_eq!(
        sorted(std::mem::take(
            &mut manager.subscriber_mut(first).unwrap().seen
        )),
        [("control", 0), ("queue", 0)]
    );
    assert_eq!(
        sorted(std::mem::take(
            &mut manager.subscriber_mut(second).unwrap().seen
        )),
        [("queue", 0), ("queue", 2)]
    );
}

/// The same, with the `init_error` method that takes no index.
#[derive(MutEventSubscriber)]
#[subscriber(init_error = on_init_error)]
#[event(fd = queues[..], handler = on_queue)]
struct Unindexed {
    queues: Vec<Arc<EventFd>>,
    init_errors: Vec<(&'static str, Error)>,
    seen: Vec<usize>,
}

impl Unindexed {
    fn new(queues: Vec<Arc<EventFd>>) -> Self {
        Unindexed {
            queues,
            init_errors: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn on_init_error(&mut self, source: &'static str, error: Error) {
        self.init_errors.push((source, error));
    }

    fn on_queue(&mut self, index: usize) {
        self.queues[index].read().unwrap();
        self.seen.push(index);
    }
}

#[test]
fn init_error_without_the_index_still_works() {
    let shared = Arc::new(eventfd());
    let queues = vec![
        Arc::new(eventfd()),
        Arc::clone(&shared),
        Arc::new(eventfd()),
    ];
    let mut manager = EventManager::new().unwrap();
    let first = manager.add_subscriber(Unindexed::new(vec![Arc::clone(&shared)]));
    let second = manager.add_subscriber(Unindexed::new(queues));
    assert_eq!(manager.subscriber_mut(first).unwrap().init_errors, []);
    assert_eq!(
        manager.subscriber_mut(second).unwrap().init_errors,
        [("queues[..]", Error::FdAlreadyRegistered)]
    );
    for queue in &manager.subscriber_mut(second).unwrap().queues {
        queue.write(1).unwrap();
    }
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
    assert_eq!(manager.subscriber_mut(first).unwrap().seen, [0]);
    assert_eq!(
        sorted(std::mem::take(
            &mut manager.subscriber_mut(second).unwrap().seen
        )),
        [0, 2]
    );
}

// ---------------------------------------------------------------------
// 4. `for` with a free parameter.

trait Trigger {
    fn trigger(&self);
}

impl Trigger for EventFd {
    fn trigger(&self) {
        self.write(1).unwrap();
    }
}

/// A serial console: the trigger is fixed to an `EventFd`, the input stays
/// generic, and only the impl asks it for an fd.
#[derive(MutEventSubscriber)]
#[subscriber(for = Serial<EventFd, I>, bound = "I: AsRawFd")]
#[event(fd = input)]
struct Serial<T: Trigger, I: Read> {
    interrupt: T,
    input: I,
    received: Vec<u8>,
}

impl<I: Read + AsRawFd> Serial<EventFd, I> {
    fn new(input: I) -> Self {
        Serial {
            interrupt: eventfd(),
            input,
            received: Vec::new(),
        }
    }

    fn on_input(&mut self) {
        let mut buffer = [0; 64];
        let read = self.input.read(&mut buffer).unwrap();
        self.received.extend_from_slice(&buffer[..read]);
        self.interrupt.trigger();
    }
}

/// An input that is not a stream: each read gives the eventfd's counter,
/// as 8 little-endian bytes.
struct Counter(EventFd);

impl Read for Counter {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let bytes = self.0.read()?.to_le_bytes();
        let length = bytes.len().min(buffer.len());
        buffer[..length].copy_from_slice(&bytes[..length]);
        Ok(length)
    }
}

impl AsRawFd for Counter {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[test]
fn for_with_a_free_parameter_implements_the_trait_for_every_input() {
    let (input, mut peer) = UnixStream::pair().unwrap();
    let mut sockets: EventManager<Serial<EventFd, UnixStream>> = EventManager::new().unwrap();
    let socket = sockets.add_subscriber(Serial::new(input));

    let mut counters: EventManager<Serial<EventFd, Counter>> = EventManager::new().unwrap();
    let counter = counters.add_subscriber(Serial::new(Counter(eventfd())));

    peer.write_all(b"ls\n").unwrap();
    assert_eq!(sockets.run_with_timeout(1000).unwrap(), 1);
    let serial = sockets.subscriber_mut(socket).unwrap();
    assert_eq!(serial.received, b"ls\n");
    assert_eq!(serial.interrupt.read().unwrap(), 1);

    counters
        .subscriber_mut(counter)
        .unwrap()
        .input
        .0
        .write(3)
        .unwrap();
    assert_eq!(counters.run_with_timeout(1000).unwrap(), 1);
    let serial = counters.subscriber_mut(counter).unwrap();
    assert_eq!(serial.received, 3u64.to_le_bytes());
    assert_eq!(serial.interrupt.read().unwrap(), 1);
}

// ---------------------------------------------------------------------
// 5. `vis`.

/// A `pub` device in a private module; its generated methods are
/// `pub(crate)`, reached from outside the module, as is its sources enum,
/// which has the struct's visibility.
mod device {
    use super::*;

    #[derive(MutEventSubscriber)]
    #[subscriber(vis = "pub(crate)", sources = BeaconSource, before = note)]
    #[event(fd = beacon, when = self.armed)]
    pub struct Beacon {
        pub beacon: EventFd,
        pub armed: bool,
        pub seen: Vec<BeaconSource>,
    }

    impl Beacon {
        pub fn new() -> Self {
            Beacon {
                beacon: eventfd(),
                armed: false,
                seen: Vec::new(),
            }
        }

        fn note(&mut self, source: BeaconSource) -> bool {
            self.seen.push(source);
            true
        }

        fn on_beacon(&mut self) {
            self.beacon.read().unwrap();
        }
    }

    /// The same, with `vis` unquoted.
    #[derive(MutEventSubscriber)]
    #[subscriber(vis = pub(crate))]
    #[event(fd = beacon, when = false)]
    pub struct Unquoted {
        pub beacon: EventFd,
        pub beeps: u64,
    }

    impl Unquoted {
        fn on_beacon(&mut self) {
            self.beeps += self.beacon.read().unwrap();
        }
    }
}

#[test]
fn vis_gives_the_generated_methods_their_visibility() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device::Beacon::new());
    manager.subscriber_mut(id).unwrap().beacon.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "not armed");

    with_ops(&mut manager, id, device::Beacon::new(), |beacon, ops| {
        assert_eq!(beacon.attach_beacon(ops), Ok(()));
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(id).unwrap().seen,
        [device::BeaconSource::Beacon]
    );

    with_ops(&mut manager, id, device::Beacon::new(), |beacon, ops| {
        assert_eq!(beacon.detach_beacon(ops), Ok(()));
        beacon.beacon.write(1).unwrap();
    });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "detached");

    let unquoted = || device::Unquoted {
        beacon: eventfd(),
        beeps: 0,
    };
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(unquoted());
    manager.subscriber_mut(id).unwrap().beacon.write(2).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "`when` is false");
    with_ops(&mut manager, id, unquoted(), |beacon, ops| {
        assert_eq!(beacon.sync_registrations(ops), Ok(()));
        assert_eq!(beacon.attach_beacon(ops), Ok(()));
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().beeps, 2);
}

// ---------------------------------------------------------------------
// 6. `name` gives the variant and the handler.

struct Inner {
    kick: EventFd,
}

struct Ring {
    eventfd: EventFd,
}

#[derive(MutEventSubscriber)]
#[subscriber(sources = Renamed, before = note)]
#[event(fd = inner.kick, name = doorbell)]
#[event(fd = rings[..].eventfd, name = rx_ring)]
struct Named {
    inner: Inner,
    rings: Vec<Ring>,
    before: Vec<Renamed>,
    handled: Vec<(&'static str, usize)>,
}

impl Named {
    fn new() -> Self {
        Named {
            inner: Inner { kick: eventfd() },
            rings: (0..2).map(|_| Ring { eventfd: eventfd() }).collect(),
            before: Vec::new(),
            handled: Vec::new(),
        }
    }

    fn note(&mut self, source: Renamed) -> bool {
        self.before.push(source);
        true
    }

    fn on_doorbell(&mut self) {
        self.inner.kick.read().unwrap();
        self.handled.push(("doorbell", 0));
    }

    fn on_rx_ring(&mut self, index: usize) {
        self.rings[index].eventfd.read().unwrap();
        self.handled.push(("rx_ring", index));
    }

    /// The handlers the paths' names would give: never called.
    #[allow(dead_code)]
    fn on_kick(&mut self) {
        self.handled.push(("kick", 0));
    }
    #[allow(dead_code)]
    fn on_rings(&mut self, index: usize) {
        self.handled.push(("rings", index));
    }
}

#[test]
fn name_gives_the_sources_variant_and_the_handler() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Named::new());
    manager
        .subscriber_mut(id)
        .unwrap()
        .inner
        .kick
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    manager.subscriber_mut(id).unwrap().rings[1]
        .eventfd
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);

    let named = manager.subscriber_mut(id).unwrap();
    assert_eq!(named.before, [Renamed::Doorbell, Renamed::RxRing(1)]);
    assert_eq!(
        (Renamed::Doorbell.name(), Renamed::RxRing(1).name()),
        ("doorbell", "rx_ring")
    );
    assert_eq!(named.handled, [("doorbell", 0), ("rx_ring", 1)]);

    // The generated methods carry the names too.
    with_ops(&mut manager, id, Named::new(), |named, ops| {
        named.detach_doorbell(ops).unwrap();
        named.detach_rx_ring(0, ops).unwrap();
        named.inner.kick.write(1).unwrap();
        named.rings[0].eventfd.write(1).unwrap();
    });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

// ---------------------------------------------------------------------
// 7. `sync_registrations` on a collection.

/// An element: an eventfd (shared, so that two subscribers may name the
/// same fd) or a regular file, which epoll refuses.
enum Slot {
    Event(Arc<EventFd>),
    File(File),
}

impl AsRawFd for Slot {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Slot::Event(eventfd) => eventfd.as_raw_fd(),
            Slot::File(file) => file.as_raw_fd(),
        }
    }
}

#[derive(MutEventSubscriber)]
#[event(fd = slots[..], handler = on_slot, when = self.enabled)]
struct Slots {
    slots: Vec<Option<Slot>>,
    enabled: bool,
    seen: Vec<usize>,
}

impl Slots {
    fn new(slots: Vec<Option<Slot>>, enabled: bool) -> Self {
        Slots {
            slots,
            enabled,
            seen: Vec::new(),
        }
    }

    fn placeholder() -> Self {
        Slots::new(Vec::new(), false)
    }

    fn on_slot(&mut self, index: usize) {
        if let Some(Slot::Event(eventfd)) = &self.slots[index] {
            eventfd.read().unwrap();
        }
        self.seen.push(index);
    }

    fn write(&self, index: usize) {
        match &self.slots[index] {
            Some(Slot::Event(eventfd)) => eventfd.write(1).unwrap(),
            _ => panic!("slot {index} holds no eventfd"),
        }
    }
}

fn event(eventfd: &Arc<EventFd>) -> Option<Slot> {
    Some(Slot::Event(Arc::clone(eventfd)))
}

fn new_event() -> Option<Slot> {
    Some(Slot::Event(Arc::new(eventfd())))
}

fn take_seen(manager: &mut EventManager<Slots>, id: SubscriberId) -> Vec<usize> {
    sorted(std::mem::take(
        &mut manager.subscriber_mut(id).unwrap().seen,
    ))
}

#[test]
fn sync_registrations_reattaches_only_the_element_detached_by_hand() {
    let mut manager = EventManager::new().unwrap();
    let slots = vec![new_event(), None, new_event(), new_event()];
    let id = manager.add_subscriber(Slots::new(slots, true));

    with_ops(&mut manager, id, Slots::placeholder(), |slots, ops| {
        slots.detach_slots(2, ops).unwrap();
        slots.set_slots_interest(3, ops, EventSet::empty()).unwrap();
        // Slot 2 is attached again; slot 0 (registered) is left alone, or
        // its attach would fail with `FdAlreadyRegistered`; slot 3 keeps
        // the empty interest it was given (sync does not reset it); slot
        // 1 holds nothing.
        assert_eq!(slots.sync_registrations(ops), Ok(()));
        // Slot 1 gets an fd after the sync: it is not watched.
        slots.slots[1] = new_event();
        for index in 0..4 {
            slots.write(index);
        }
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    assert_eq!(take_seen(&mut manager, id), [0, 2]);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "1 and 3 ready");

    // `when` no longer holds: every registered element is detached, the
    // paused one too.
    with_ops(&mut manager, id, Slots::placeholder(), |slots, ops| {
        slots.enabled = false;
        assert_eq!(slots.sync_registrations(ops), Ok(()));
        slots.write(0);
        slots.write(2);
    });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // It holds again: every element that holds an fd is attached, slot 1
    // with it, each with its `#[event]`'s interest.
    with_ops(&mut manager, id, Slots::placeholder(), |slots, ops| {
        slots.enabled = true;
        assert_eq!(slots.sync_registrations(ops), Ok(()));
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
    assert_eq!(take_seen(&mut manager, id), [0, 1, 2, 3]);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

#[test]
fn sync_registrations_goes_on_past_failures_and_returns_the_first() {
    let shared = Arc::new(eventfd());
    let mut manager = EventManager::new().unwrap();
    // Another subscriber watches `shared` first.
    let owner = manager.add_subscriber(Slots::new(vec![event(&shared)], true));
    // Not enabled: `init` registers nothing. Slot 1 is taken by `owner`,
    // slot 3 is a regular file.
    let slots = vec![
        new_event(),
        event(&shared),
        new_event(),
        Some(Slot::File(regular_file())),
        new_event(),
    ];
    let id = manager.add_subscriber(Slots::new(slots, false));

    with_ops(&mut manager, id, Slots::placeholder(), |slots, ops| {
        slots.enabled = true;
        assert_eq!(
            slots.sync_registrations(ops),
            Err(Error::FdAlreadyRegistered)
        );
        for index in [0, 1, 2, 4] {
            slots.write(index);
        }
    });
    // Slots 0, 2 and 4 were attached past both failures; `shared` is
    // still the owner's.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
    assert_eq!(take_seen(&mut manager, id), [0, 2, 4]);
    assert_eq!(take_seen(&mut manager, owner), [0]);

    // The file comes first now: its error is the first one.
    with_ops(&mut manager, id, Slots::placeholder(), |slots, ops| {
        slots.slots.swap(1, 3);
        let error = slots.sync_registrations(ops).unwrap_err();
        assert!(
            matches!(error, Error::Epoll(errno) if errno.errno() == libc::EPERM),
            "{error:?}"
        );
    });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

// ---------------------------------------------------------------------
// 8. A subscriber written by hand around a derived one.

/// Derived, without `fallback`.
#[derive(MutEventSubscriber)]
#[event(fd = kick)]
struct Plain {
    kick: EventFd,
    kicks: u64,
}

impl Plain {
    fn new() -> Self {
        Plain {
            kick: eventfd(),
            kicks: 0,
        }
    }

    fn on_kick(&mut self) {
        self.kicks += self.kick.read().unwrap();
    }
}

/// Derived, with a `fallback`, which the wrapper below never calls: it
/// takes the events of its own fds first.
#[derive(MutEventSubscriber)]
#[subscriber(fallback = on_hand)]
#[event(fd = kick)]
struct Falling {
    kick: EventFd,
    kicks: u64,
    hand_events: Vec<u32>,
}

impl Falling {
    fn new() -> Self {
        Falling {
            kick: eventfd(),
            kicks: 0,
            hand_events: Vec::new(),
        }
    }

    fn on_kick(&mut self) {
        self.kicks += self.kick.read().unwrap();
    }

    fn on_hand(&mut self, events: Events, _ops: &mut EventOps) {
        self.hand_events.push(events.data());
    }
}

/// Gives the kicks a wrapper reads from the derived subscriber it wraps.
trait Kicked {
    fn kicks(&self) -> u64;
    fn kick(&self) -> &EventFd;
}

impl Kicked for Plain {
    fn kicks(&self) -> u64 {
        self.kicks
    }
    fn kick(&self) -> &EventFd {
        &self.kick
    }
}

impl Kicked for Falling {
    fn kicks(&self) -> u64 {
        self.kicks
    }
    fn kick(&self) -> &EventFd {
        &self.kick
    }
}

/// Written by hand: one `EventOps` serves both, so `inner`'s `init` marks
/// the pair as derived, and the hand add that follows is checked as a
/// derived subscriber's.
struct Outer<I> {
    inner: I,
    extra: EventFd,
    added: Option<event_manager::Result<()>>,
    extra_events: Vec<u32>,
}

/// The data `Outer` registers `extra` with.
const EXTRA_DATA: u32 = 1;

impl<I> Outer<I> {
    fn new(inner: I) -> Self {
        Outer {
            inner,
            extra: eventfd(),
            added: None,
            extra_events: Vec::new(),
        }
    }
}

impl<I: MutEventSubscriber> MutEventSubscriber for Outer<I> {
    fn init(&mut self, ops: &mut EventOps) {
        self.inner.init(ops);
        self.added = Some(ops.add(Events::with_data(&self.extra, EXTRA_DATA, EventSet::IN)));
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        if events.data() < 1 << 31 {
            self.extra.read().unwrap();
            self.extra_events.push(events.data());
        } else {
            self.inner.process(events, ops);
        }
    }
}

/// Adds `Outer::new(inner)` to a manager, checks what its hand add of
/// `extra` returned, writes both `inner`'s kick and `extra`, and runs: the
/// kick reaches `inner`'s handler, and `extra` is reported to `Outer`
/// alone, if its add went through. Gives the subscriber back.
fn run_outer<I: MutEventSubscriber + Kicked>(
    inner: I,
    hand_add: event_manager::Result<()>,
) -> Outer<I> {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Outer::new(inner));
    let outer = manager.subscriber_mut(id).unwrap();
    assert_eq!(outer.added, Some(hand_add));
    outer.inner.kick().write(2).unwrap();
    outer.extra.write(1).unwrap();
    let extra_events: &[u32] = match hand_add {
        Ok(()) => &[EXTRA_DATA],
        Err(_) => &[],
    };
    assert_eq!(
        manager.run_with_timeout(1000).unwrap(),
        1 + extra_events.len()
    );
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let outer = manager.subscriber_mut(id).unwrap();
    assert_eq!(outer.inner.kicks(), 2);
    assert_eq!(outer.extra_events, extra_events);

    // A refused add registered nothing.
    let extra = outer.extra.as_raw_fd();
    let removed = manager
        .event_ops(id)
        .unwrap()
        .remove(Events::empty_raw(extra));
    let registered = if hand_add.is_ok() {
        Ok(())
    } else {
        Err(Error::FdNotRegistered)
    };
    assert_eq!(removed, registered);
    manager.remove_subscriber(id).unwrap()
}

#[test]
fn a_wrapper_adds_by_hand_only_around_a_derived_subscriber_with_a_fallback() {
    // Without a `fallback` in `inner`, the wrapper's add is refused, as
    // `inner`'s own would be: the events of `extra` would reach no method
    // of `inner` were they forwarded.
    run_outer(Plain::new(), Err(Error::NoFallback));

    // With one, the add works, and the wrapper's `process` takes the
    // events of `extra` (data below 2^31) before `inner` sees them.
    let outer = run_outer(Falling::new(), Ok(()));
    assert_eq!(outer.inner.hand_events, []);
}

// ---------------------------------------------------------------------
// 9. `for` with the struct's where-clause and no `bound`.

/// The bounds are in the struct's where-clause, on the free parameter
/// (one of them on its associated type) and on the fixed one: with no
/// `bound`, the impl for `Bounded<EventFd, I>` has to carry them all to
/// be well-formed and to read `input`'s fd.
#[derive(MutEventSubscriber)]
#[subscriber(for = Bounded<EventFd, I>)]
#[event(fd = input)]
struct Bounded<T, I>
where
    I: Read + AsRawFd + IntoIterator,
    I::Item: Clone,
    T: Trigger,
{
    interrupt: T,
    input: I,
    received: Vec<u8>,
}

impl<I> Bounded<EventFd, I>
where
    I: Read + AsRawFd + IntoIterator,
    I::Item: Clone,
{
    fn new(input: I) -> Self {
        Bounded {
            interrupt: eventfd(),
            input,
            received: Vec::new(),
        }
    }

    fn on_input(&mut self) {
        let mut buffer = [0; 64];
        let read = self.input.read(&mut buffer).unwrap();
        self.received.extend_from_slice(&buffer[..read]);
        self.interrupt.trigger();
    }
}

/// A socket read as a stream, or taken whole as the bytes it holds.
struct Bytes(UnixStream);

impl Read for Bytes {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.0.read(buffer)
    }
}

impl AsRawFd for Bytes {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl IntoIterator for Bytes {
    type Item = u8;
    type IntoIter = std::vec::IntoIter<u8>;

    fn into_iter(mut self) -> Self::IntoIter {
        let mut bytes = Vec::new();
        self.0.set_nonblocking(true).unwrap();
        let _ = self.0.read_to_end(&mut bytes);
        bytes.into_iter()
    }
}

#[test]
fn for_carries_the_structs_where_clause_without_bound() {
    let (input, mut peer) = UnixStream::pair().unwrap();
    let mut manager: EventManager<Bounded<EventFd, Bytes>> = EventManager::new().unwrap();
    let id = manager.add_subscriber(Bounded::new(Bytes(input)));
    peer.write_all(b"ls\n").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let serial = manager.subscriber_mut(id).unwrap();
    assert_eq!(serial.received, b"ls\n");
    assert_eq!(serial.interrupt.read().unwrap(), 1);

    // `IntoIterator`, which only the where-clause asks for, works too.
    peer.write_all(b"rest").unwrap();
    let serial = manager.remove_subscriber(id).unwrap();
    assert_eq!(serial.input.into_iter().collect::<Vec<u8>>(), b"rest");
}

// ---------------------------------------------------------------------
// 10. `handler_error` taking `&dyn Display` beside handlers that all
// return `()`.

#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error)]
#[event(fd = kick)]
#[event(fd = workers[..], handler = on_worker)]
struct Infallible {
    kick: EventFd,
    workers: Vec<EventFd>,
    handled: Vec<(&'static str, usize)>,
    errors: Vec<String>,
}

impl Infallible {
    fn on_kick(&mut self) {
        self.kick.read().unwrap();
        self.handled.push(("kick", 0));
    }

    fn on_worker(&mut self, index: usize) {
        self.workers[index].read().unwrap();
        self.handled.push(("worker", index));
    }

    fn on_error(&mut self, source: &'static str, index: usize, error: &dyn std::fmt::Display) {
        self.errors.push(format!("{source}[{index}]: {error}"));
    }
}

#[test]
fn handler_error_taking_a_displayed_error_beside_handlers_that_all_return_unit() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Infallible {
        kick: eventfd(),
        workers: vec![eventfd(), eventfd()],
        handled: Vec::new(),
        errors: Vec::new(),
    });
    let infallible = manager.subscriber_mut(id).unwrap();
    infallible.kick.write(1).unwrap();
    for worker in &infallible.workers {
        worker.write(1).unwrap();
    }
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
    let infallible = manager.subscriber_mut(id).unwrap();
    assert_eq!(
        sorted(std::mem::take(&mut infallible.handled)),
        [("kick", 0), ("worker", 0), ("worker", 1)]
    );
    assert_eq!(infallible.errors, Vec::<String>::new());
}

/// An fd that is itself the locked value: the path ends in the guard.
#[derive(MutEventSubscriber)]
#[event(fd = console.lock().unwrap(), name = console)]
struct LockedConsole {
    console: std::sync::Mutex<EventFd>,
    reads: u64,
}

impl LockedConsole {
    fn on_console(&mut self) {
        self.reads += self.console.lock().unwrap().read().unwrap();
    }
}

#[test]
fn a_path_may_end_in_a_lock_guard() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(LockedConsole {
        console: std::sync::Mutex::new(eventfd()),
        reads: 0,
    });
    let write = |manager: &mut EventManager<LockedConsole>, count: u64| {
        let console = manager.subscriber_mut(id).unwrap();
        console.console.lock().unwrap().write(count).unwrap();
    };
    write(&mut manager, 2);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().reads, 2);

    let placeholder = LockedConsole {
        console: std::sync::Mutex::new(eventfd()),
        reads: 0,
    };
    with_ops(&mut manager, id, placeholder, |console, ops| {
        console.detach_console(ops).unwrap();
    });
    write(&mut manager, 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}
