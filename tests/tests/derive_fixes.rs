//! The derive's fixes of issue 21, each against real epoll with real
//! eventfds and sockets: `attach_all_`/`detach_all_` of a collection
//! reached through a lock; `fd = field` of every shape a path accepts; a
//! `name` without a `handler` naming the handler; a derived subscriber
//! without `fallback` refused hand registrations (`Error::NoFallback`);
//! constant, missing and expression indexes, and `Option`s that are
//! `None`, as "no fd" (`Error::NoFd`); an index past the tag space
//! (`Error::IndexTooLarge`) checked before the element; a user trait in
//! scope that changes nothing (also for `when`s, a constant index, a
//! `before` taking the sources enum and a `handler_error` taking the
//! handlers' error type); and `sync_registrations`, which brings every
//! source in line with its `when`, reads a source's `set` only when it
//! attaches it, and returns, as `init` and `attach_all_`/`detach_all_`
//! do, when the `when` of a collection reached through a lock takes the
//! same lock.

use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId,
    SubscriberOps,
};
use event_manager_tests::{derived_element_tag, derived_tag, eventfd, ready_eventfd, with_ops};
use vmm_sys_util::eventfd::EventFd;

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

// ---------------------------------------------------------------------
// 1. A collection reached through a lock.

struct Queue {
    eventfd: EventFd,
}

struct Config {
    queues: Vec<Queue>,
}

/// The queues sit in a configuration that other threads update, behind a
/// `std` mutex, which is not reentrant: a method that held the guard of
/// its element count while it locked again for each element would wait
/// for itself forever.
#[derive(MutEventSubscriber)]
#[event(fd = config.lock().unwrap().queues[..].eventfd, handler = on_queue)]
struct Locked {
    config: Mutex<Config>,
    seen: Vec<usize>,
}

impl Locked {
    fn new(queues: usize) -> Self {
        Locked {
            config: Mutex::new(Config {
                queues: (0..queues).map(|_| Queue { eventfd: eventfd() }).collect(),
            }),
            seen: Vec::new(),
        }
    }

    fn on_queue(&mut self, index: usize) {
        self.config.lock().unwrap().queues[index]
            .eventfd
            .read()
            .unwrap();
        self.seen.push(index);
    }

    fn write_every_queue(&self) {
        for queue in &self.config.lock().unwrap().queues {
            queue.eventfd.write(1).unwrap();
        }
    }
}

/// Runs `body` on a thread of its own and fails if it has not finished
/// within a minute: a deadlock then fails this test with a message instead
/// of hanging the whole suite. The minute is a guard against a hang, far
/// above what the body needs, not a measure of its speed. A panic in the
/// body is passed on as it is.
fn fails_instead_of_hanging(what: &str, body: impl FnOnce() + Send + 'static) {
    let (finished, done) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = finished.send(());
    });
    match done.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => worker.join().unwrap(),
        Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        // The stuck thread is left behind: nothing can unblock it, and the
        // process ends with the test run.
        Err(RecvTimeoutError::Timeout) => panic!("{what} hung (a deadlock on its own lock?)"),
    }
}

#[test]
fn attach_all_and_detach_all_return_for_a_collection_behind_a_lock() {
    fails_instead_of_hanging("detach_all_queues or attach_all_queues", || {
        let mut manager = EventManager::new().unwrap();
        let id = manager.add_subscriber(Locked::new(3));

        with_ops(&mut manager, id, Locked::new(0), |locked, ops| {
            assert_eq!(locked.detach_all_queues(ops), Ok(()));
        });
        manager.subscriber_mut(id).unwrap().write_every_queue();
        assert_eq!(
            manager.run_with_timeout(0).unwrap(),
            0,
            "every queue was detached"
        );

        with_ops(&mut manager, id, Locked::new(0), |locked, ops| {
            assert_eq!(locked.attach_all_queues(ops), Ok(()));
        });
        // The queues were written while detached; registered again, they
        // are reported at once.
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
        assert_eq!(
            sorted(std::mem::take(
                &mut manager.subscriber_mut(id).unwrap().seen
            )),
            [0, 1, 2]
        );
    });
}

// ---------------------------------------------------------------------
// 2. `fd = field` accepts what `fd = self.field` accepts.

trait Backend: AsRawFd {}

impl Backend for EventFd {}

#[derive(MutEventSubscriber)]
#[event(fd = borrowed)]
#[event(fd = boxed)]
#[event(fd = maybe_boxed)]
#[event(fd = maybe_borrowed)]
#[event(fd = shared)]
#[event(fd = number)]
struct Shapes<'a> {
    borrowed: &'a EventFd,
    boxed: Box<dyn Backend>,
    maybe_boxed: Option<Box<dyn Backend>>,
    maybe_borrowed: Option<&'a EventFd>,
    shared: Arc<EventFd>,
    number: RawFd,
    seen: Vec<&'static str>,
}

// The handlers read nothing: each eventfd stays readable, and the test
// runs the loop once.
impl Shapes<'_> {
    fn on_borrowed(&mut self) {
        self.seen.push("borrowed");
    }
    fn on_boxed(&mut self) {
        self.seen.push("boxed");
    }
    fn on_maybe_boxed(&mut self) {
        self.seen.push("maybe_boxed");
    }
    fn on_maybe_borrowed(&mut self) {
        self.seen.push("maybe_borrowed");
    }
    fn on_shared(&mut self) {
        self.seen.push("shared");
    }
    fn on_number(&mut self) {
        self.seen.push("number");
    }
}

#[test]
fn a_field_may_be_a_reference_a_boxed_trait_object_or_an_option_of_either() {
    // Each source gets an eventfd of its own, written here through a
    // handle the test keeps (a clone shares the eventfd's counter).
    let borrowed = ready_eventfd();
    let maybe_borrowed = ready_eventfd();
    let boxed = ready_eventfd();
    let maybe_boxed = ready_eventfd();
    let shared = Arc::new(ready_eventfd());
    let number = ready_eventfd();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Shapes {
        borrowed: &borrowed,
        boxed: Box::new(boxed.try_clone().unwrap()),
        maybe_boxed: Some(Box::new(maybe_boxed.try_clone().unwrap())),
        maybe_borrowed: Some(&maybe_borrowed),
        shared: Arc::clone(&shared),
        number: number.as_raw_fd(),
        seen: Vec::new(),
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 6);
    assert_eq!(
        sorted(std::mem::take(
            &mut manager.subscriber_mut(id).unwrap().seen
        )),
        [
            "borrowed",
            "boxed",
            "maybe_borrowed",
            "maybe_boxed",
            "number",
            "shared"
        ]
    );
}

// ---------------------------------------------------------------------
// 3. `name` without `handler` names the handler too.

#[derive(MutEventSubscriber)]
#[event(fd = queue_evts[0], name = rx_queue)]
#[event(fd = queue_evts[1], name = tx_queue)]
struct Named {
    queue_evts: [EventFd; 2],
    seen: Vec<&'static str>,
}

impl Named {
    fn new() -> Self {
        Named {
            queue_evts: [eventfd(), eventfd()],
            seen: Vec::new(),
        }
    }

    fn on_rx_queue(&mut self) {
        self.queue_evts[0].read().unwrap();
        self.seen.push("rx");
    }

    fn on_tx_queue(&mut self) {
        self.queue_evts[1].read().unwrap();
        self.seen.push("tx");
    }

    /// The handler the field's name gives: before the fix both sources'
    /// events came here, and the `on_<name>` methods were never called.
    #[allow(dead_code)]
    fn on_queue_evts(&mut self) {
        self.seen.push("named after the field");
    }
}

#[test]
fn a_name_without_a_handler_names_the_handler_too() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Named::new());
    let named = manager.subscriber_mut(id).unwrap();
    named.queue_evts[0].write(1).unwrap();
    named.queue_evts[1].write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    assert_eq!(
        sorted(std::mem::take(
            &mut manager.subscriber_mut(id).unwrap().seen
        )),
        ["rx", "tx"]
    );

    // The methods are named after `name` as well.
    with_ops(&mut manager, id, Named::new(), |named, ops| {
        named.detach_rx_queue(ops).unwrap();
        named.queue_evts[0].write(1).unwrap();
    });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "rx_queue detached");
    with_ops(&mut manager, id, Named::new(), |named, ops| {
        named.attach_rx_queue(ops).unwrap();
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen, ["rx"]);
}

// ---------------------------------------------------------------------
// 4. Hand registrations of a derived subscriber without `fallback`.

/// Adds an fd by hand from its `init` hook and from a handler, and has no
/// `fallback` that its events could reach.
#[derive(MutEventSubscriber)]
#[subscriber(init = add_by_hand)]
#[event(fd = own)]
struct NoFallback {
    own: EventFd,
    by_hand: EventFd,
    results: Vec<(&'static str, event_manager::Result<()>)>,
}

impl NoFallback {
    fn add_by_hand(&mut self, ops: &mut EventOps) {
        let add = ops.add(Events::with_data(&self.by_hand, 1, EventSet::IN));
        self.results.push(("init add", add));
        // Moving a derived fd onto a hand tag would take its events away
        // from its handler, to nowhere.
        let modify = ops.modify(Events::with_data(&self.own, 1, EventSet::IN));
        self.results.push(("init modify", modify));
        let reserved = ops.add(Events::with_data(&self.by_hand, 0x8000_0000, EventSet::IN));
        self.results.push(("init reserved data", reserved));
    }

    fn on_own(&mut self, ops: &mut EventOps) {
        self.own.read().unwrap();
        let add = ops.add(Events::with_data(&self.by_hand, 1, EventSet::IN));
        self.results.push(("handler add", add));
    }
}

#[test]
fn without_fallback_a_hand_add_is_refused_and_registers_nothing() {
    let mut manager = EventManager::new().unwrap();
    // `by_hand` is readable and level-triggered: registered, it would be
    // reported by every run.
    let id = manager.add_subscriber(NoFallback {
        own: eventfd(),
        by_hand: ready_eventfd(),
        results: Vec::new(),
    });
    assert_eq!(
        manager.subscriber_mut(id).unwrap().results,
        [
            ("init add", Err(Error::NoFallback)),
            ("init modify", Err(Error::NoFallback)),
            // Reserved data is refused as such, before the missing fallback.
            ("init reserved data", Err(Error::DataReserved)),
        ]
    );
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // `own` kept its tag (the modify changed nothing): its handler runs.
    manager.subscriber_mut(id).unwrap().own.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(id).unwrap().results[3..],
        [("handler add", Err(Error::NoFallback))]
    );
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // Nothing of `by_hand` is in the subscriber's interest list.
    let by_hand = manager.subscriber_mut(id).unwrap().by_hand.as_raw_fd();
    assert_eq!(
        manager
            .event_ops(id)
            .unwrap()
            .remove(Events::empty_raw(by_hand)),
        Err(Error::FdNotRegistered)
    );
}

/// The same hand add as `NoFallback`'s, with a `fallback` to reach.
#[derive(MutEventSubscriber)]
#[subscriber(init = add_by_hand, fallback = on_other)]
#[event(fd = own)]
struct WithFallback {
    own: EventFd,
    by_hand: EventFd,
    added: Option<event_manager::Result<()>>,
    seen: Vec<(&'static str, u32)>,
}

impl WithFallback {
    fn add_by_hand(&mut self, ops: &mut EventOps) {
        self.added = Some(ops.add(Events::with_data(&self.by_hand, 1, EventSet::IN)));
    }

    fn on_own(&mut self) {
        self.seen.push(("own", 0));
    }

    fn on_other(&mut self, events: Events, _ops: &mut EventOps) {
        self.by_hand.read().unwrap();
        self.seen.push(("other", events.data()));
    }
}

#[test]
fn with_fallback_a_hand_add_reaches_the_fallback() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(WithFallback {
        own: eventfd(),
        by_hand: ready_eventfd(),
        added: None,
        seen: Vec::new(),
    });
    assert_eq!(manager.subscriber_mut(id).unwrap().added, Some(Ok(())));
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen, [("other", 1)]);
}

// ---------------------------------------------------------------------
// 5. Constant, missing and expression indexes.

const RX_INDEX: usize = 0;

/// Sources at a named constant, at an index the `Vec` may not reach yet,
/// and at an index a field holds.
#[derive(MutEventSubscriber)]
#[event(fd = queue_evts[RX_INDEX], handler = on_rx, name = rx_queue)]
#[event(fd = queue_evts[2], handler = on_event_queue, name = event_queue)]
#[event(fd = queues[self.tx_index], handler = on_tx, name = tx_queue)]
struct Indexed {
    queue_evts: Vec<EventFd>,
    queues: Vec<EventFd>,
    tx_index: usize,
    seen: Vec<(&'static str, usize)>,
}

impl Indexed {
    fn new(queue_evts: usize) -> Self {
        Indexed {
            queue_evts: (0..queue_evts).map(|_| eventfd()).collect(),
            queues: vec![eventfd(), eventfd()],
            tx_index: 1,
            seen: Vec::new(),
        }
    }

    fn on_rx(&mut self) {
        self.queue_evts[RX_INDEX].read().unwrap();
        self.seen.push(("rx", RX_INDEX));
    }

    fn on_event_queue(&mut self) {
        self.queue_evts[2].read().unwrap();
        self.seen.push(("event", 2));
    }

    fn on_tx(&mut self) {
        self.queues[self.tx_index].read().unwrap();
        self.seen.push(("tx", self.tx_index));
    }
}

#[test]
fn an_index_with_no_element_yet_is_a_source_without_an_fd() {
    let mut manager = EventManager::new().unwrap();
    // `queue_evts[2]` of a 2-element `Vec`: `init` registers nothing for
    // it (before the fix, it indexed the `Vec` and panicked).
    let id = manager.add_subscriber(Indexed::new(2));
    with_ops(&mut manager, id, Indexed::new(0), |indexed, ops| {
        assert_eq!(indexed.detach_event_queue(ops), Err(Error::NoFd));
        assert_eq!(
            indexed.set_event_queue_interest(ops, EventSet::OUT),
            Err(Error::NoFd)
        );
        assert_eq!(indexed.attach_event_queue(ops), Err(Error::NoFd));
    });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // The element arrives, readable already: attached, it is reported.
    manager
        .subscriber_mut(id)
        .unwrap()
        .queue_evts
        .push(ready_eventfd());
    with_ops(&mut manager, id, Indexed::new(0), |indexed, ops| {
        indexed.attach_event_queue(ops).unwrap();
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen, [("event", 2)]);
}

#[test]
fn a_constant_or_a_field_may_index_a_source() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Indexed::new(2));
    // Every eventfd is readable; only `queue_evts[RX_INDEX]` and
    // `queues[tx_index]` are sources.
    let indexed = manager.subscriber_mut(id).unwrap();
    for fd in indexed.queue_evts.iter().chain(&indexed.queues) {
        fd.write(1).unwrap();
    }
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    assert_eq!(
        sorted(std::mem::take(
            &mut manager.subscriber_mut(id).unwrap().seen
        )),
        [("rx", 0), ("tx", 1)]
    );
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // The index is read whenever a method is called: the TX source moves
    // to `queues[0]`, which was readable all along.
    with_ops(&mut manager, id, Indexed::new(0), |indexed, ops| {
        indexed.detach_tx_queue(ops).unwrap();
        indexed.tx_index = 0;
        indexed.attach_tx_queue(ops).unwrap();
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen, [("tx", 0)]);
}

// ---------------------------------------------------------------------
// 6. A source that holds no fd.

/// A rate limiter without a timer: its fd is -1.
struct Limiter;

impl AsRawFd for Limiter {
    fn as_raw_fd(&self) -> RawFd {
        -1
    }
}

#[derive(MutEventSubscriber)]
#[event(fd = conn)]
#[event(fd = limiter)]
struct Client {
    conn: Option<UnixStream>,
    limiter: Limiter,
    received: Vec<u8>,
}

impl Client {
    fn new() -> Self {
        Client {
            conn: None,
            limiter: Limiter,
            received: Vec::new(),
        }
    }

    fn on_conn(&mut self) {
        let mut buffer = [0; 16];
        let read = self.conn.as_mut().unwrap().read(&mut buffer).unwrap();
        self.received.extend_from_slice(&buffer[..read]);
    }

    fn on_limiter(&mut self) {}
}

#[test]
fn every_method_of_a_source_holding_no_fd_says_so() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Client::new());
    let (conn, mut peer) = UnixStream::pair().unwrap();
    with_ops(&mut manager, id, Client::new(), |client, ops| {
        // Before the fix: `Epoll(EBADF)` from attach, `FdNotRegistered`
        // from the others, as if the fd existed and epoll had refused it.
        assert_eq!(client.attach_conn(ops), Err(Error::NoFd));
        assert_eq!(client.detach_conn(ops), Err(Error::NoFd));
        assert_eq!(
            client.set_conn_interest(ops, EventSet::OUT),
            Err(Error::NoFd)
        );
        assert_eq!(client.attach_limiter(ops), Err(Error::NoFd));
        assert_eq!(client.detach_limiter(ops), Err(Error::NoFd));
        assert_eq!(
            client.set_limiter_interest(ops, EventSet::IN),
            Err(Error::NoFd)
        );

        client.conn = Some(conn);
        client.attach_conn(ops).unwrap();
    });
    let message = Error::NoFd.to_string();
    assert!(message.to_lowercase().contains("no fd"), "{message}");

    peer.write_all(b"hello").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().received, b"hello");
}

// ---------------------------------------------------------------------
// 7. A user trait in scope.

mod a_user_trait_in_scope {
    use super::*;

    /// Methods named like those the derive's helpers have, for every type:
    /// generated code that called one of these names with method-call
    /// syntax would get this trait's instead (or an ambiguity error), and
    /// read fd 0, no fd, no element, data 0, a registration that is not
    /// there, or an error dropped. Only its being in scope matters; the
    /// methods that take `self` by value (`is_some`, `data`, `index`, ...)
    /// do so to be found before an inherent method that takes `&self`,
    /// such as `Option::is_some` or `Events::data`.
    #[allow(dead_code, clippy::wrong_self_convention)]
    trait Sneaky {
        fn fd_of(&self) -> Option<i32> {
            Some(0)
        }
        fn is_some(self) -> bool
        where
            Self: Sized,
        {
            false
        }
        fn count(&self) -> usize {
            0
        }
        fn element(&self, _i: usize) -> Option<&Self> {
            None
        }
        fn raw(&self) -> Option<i32> {
            Some(0)
        }
        fn call(&self) {}
        fn into_result(self) -> Result<(), ()>
        where
            Self: Sized,
        {
            Err(())
        }
        fn get(&self, _index: usize) -> Option<&Self> {
            None
        }
        fn len(&self) -> usize {
            0
        }
        fn read_fd<T: ?Sized>(self, _value: &T) -> Option<RawFd>
        where
            Self: Sized,
        {
            Some(0)
        }
        fn data(self) -> u32
        where
            Self: Sized,
        {
            0
        }
        fn index(self) -> usize
        where
            Self: Sized,
        {
            usize::MAX
        }
        fn name(self) -> &'static str
        where
            Self: Sized,
        {
            "sneaky"
        }
        fn is_registered(&self, _fd: RawFd, _data: u32) -> bool {
            true
        }
        fn keep_first(&mut self, _result: event_manager::Result<()>) {}
        fn add(&mut self, _events: Events) -> event_manager::Result<()> {
            Ok(())
        }
        fn remove(&mut self, _events: Events) -> event_manager::Result<()> {
            Ok(())
        }
        fn resolve(&self) -> Option<RawFd> {
            Some(0)
        }
        fn unwrap(self) -> Self
        where
            Self: Sized,
        {
            self
        }
        fn as_raw_fd(&self) -> RawFd {
            0
        }
    }

    impl<T: ?Sized> Sneaky for T {}

    struct Tapped {
        tap: EventFd,
    }

    struct Ring {
        eventfd: EventFd,
    }

    // The code of this module calls none of `Sneaky`'s method names
    // either (it writes `Events::data(&events)`), so that only the
    // generated code meets the trait; but `unwrap`, on a `Result` or an
    // `Option`, whose inherent `unwrap` comes before any trait's.
    #[derive(MutEventSubscriber)]
    #[event(fd = inner.tap)]
    #[event(fd = queues[..].eventfd, handler = on_queue)]
    #[event(fd = maybe)]
    struct Sneaked {
        inner: Tapped,
        queues: Vec<Ring>,
        maybe: Option<EventFd>,
        seen: Vec<(&'static str, usize, u32)>,
    }

    impl Sneaked {
        fn new(queues: usize) -> Self {
            Sneaked {
                inner: Tapped { tap: eventfd() },
                queues: (0..queues).map(|_| Ring { eventfd: eventfd() }).collect(),
                maybe: Some(eventfd()),
                seen: Vec::new(),
            }
        }

        fn on_tap(&mut self, events: Events) {
            self.inner.tap.read().unwrap();
            self.seen.push(("tap", 0, Events::data(&events)));
        }

        fn on_queue(&mut self, index: usize, events: Events) {
            self.queues[index].eventfd.read().unwrap();
            self.seen.push(("queue", index, Events::data(&events)));
        }

        fn on_maybe(&mut self, events: Events) {
            self.maybe.as_ref().unwrap().read().unwrap();
            self.seen.push(("maybe", 0, Events::data(&events)));
        }

        fn write_every_queue(&self) {
            for queue in &self.queues {
                queue.eventfd.write(1).unwrap();
            }
        }
    }

    fn queue_events() -> Vec<(&'static str, usize, u32)> {
        (0..3)
            .map(|index| ("queue", index, derived_element_tag(1, index as u32)))
            .collect()
    }

    #[test]
    fn changes_nothing_for_a_path_a_collection_or_an_option() {
        let mut manager = EventManager::new().unwrap();
        let id = manager.add_subscriber(Sneaked::new(3));
        let sneaked = manager.subscriber_mut(id).unwrap();
        sneaked.inner.tap.write(1).unwrap();
        sneaked.maybe.as_ref().unwrap().write(1).unwrap();
        sneaked.write_every_queue();
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 5);
        let mut expected = queue_events();
        expected.push(("tap", 0, derived_tag(0)));
        expected.push(("maybe", 0, derived_tag(2)));
        assert_eq!(
            sorted(std::mem::take(
                &mut manager.subscriber_mut(id).unwrap().seen
            )),
            sorted(expected)
        );

        with_ops(&mut manager, id, Sneaked::new(0), |sneaked, ops| {
            assert_eq!(sneaked.detach_all_queues(ops), Ok(()));
        });
        manager.subscriber_mut(id).unwrap().write_every_queue();
        assert_eq!(
            manager.run_with_timeout(0).unwrap(),
            0,
            "every queue was detached"
        );

        with_ops(&mut manager, id, Sneaked::new(0), |sneaked, ops| {
            assert_eq!(sneaked.attach_all_queues(ops), Ok(()));
        });
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
        assert_eq!(
            sorted(std::mem::take(
                &mut manager.subscriber_mut(id).unwrap().seen
            )),
            queue_events()
        );
    }

    /// Not `super::RX_INDEX` (0): an index other than the first, so that
    /// an element looked up by a hijacked method cannot pass for it.
    const RX_INDEX: usize = 1;

    /// The other parts of the derive under the same trait: `when`s and
    /// `sync_registrations`, a source at a constant index, a `before` that
    /// takes the sources enum and a `handler_error` that takes the
    /// handlers' own error type.
    #[derive(MutEventSubscriber)]
    #[subscriber(sources = SneakySource, before = check, handler_error = on_error)]
    #[event(fd = activate_evt, when = !self.activated)]
    #[event(fd = queue_evts[RX_INDEX], name = rx_queue, when = self.activated)]
    #[event(fd = rings[..].eventfd, handler = on_ring, when = self.activated)]
    struct SneakedNet {
        activate_evt: EventFd,
        activated: bool,
        queue_evts: Vec<EventFd>,
        rings: Vec<Ring>,
        before: Vec<(SneakySource, u32)>,
        seen: Vec<Seen>,
        errors: Vec<(&'static str, usize, std::io::ErrorKind)>,
    }

    /// A handler's record: its name, the index and the event's data.
    type Seen = (&'static str, usize, u32);

    impl SneakedNet {
        fn new() -> Self {
            SneakedNet {
                activate_evt: eventfd(),
                activated: false,
                queue_evts: vec![eventfd(), eventfd()],
                rings: (0..3).map(|_| Ring { eventfd: eventfd() }).collect(),
                before: Vec::new(),
                seen: Vec::new(),
                errors: Vec::new(),
            }
        }

        fn check(&mut self, source: SneakySource, events: Events) -> bool {
            self.before.push((source, Events::data(&events)));
            true
        }

        fn on_activate_evt(&mut self, ops: &mut EventOps) -> std::io::Result<()> {
            self.activate_evt.read()?;
            self.activated = true;
            self.sync_registrations(ops).map_err(std::io::Error::other)
        }

        fn on_rx_queue(&mut self, events: Events) -> std::io::Result<()> {
            self.queue_evts[RX_INDEX].read()?;
            self.seen.push(("rx", RX_INDEX, Events::data(&events)));
            Ok(())
        }

        fn on_ring(&mut self, index: usize, events: Events) -> std::io::Result<()> {
            self.rings[index].eventfd.read()?;
            self.seen.push(("ring", index, Events::data(&events)));
            if index == 2 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "ring 2 is full",
                ));
            }
            Ok(())
        }

        fn on_error(&mut self, source: &'static str, index: usize, error: std::io::Error) {
            self.errors.push((source, index, error.kind()));
        }

        /// Makes every queue (the one that is not a source too) and every
        /// ring readable.
        fn write_queues_and_rings(&self) {
            for queue in &self.queue_evts {
                queue.write(1).unwrap();
            }
            for ring in &self.rings {
                ring.eventfd.write(1).unwrap();
            }
        }
    }

    fn take_before(
        manager: &mut EventManager<SneakedNet>,
        id: SubscriberId,
    ) -> Vec<(SneakySource, u32)> {
        let mut before = std::mem::take(&mut manager.subscriber_mut(id).unwrap().before);
        before.sort_by_key(|&(_, data)| data);
        before
    }

    /// What the queue and the rings are seen with once watched: the right
    /// handler, index and tag.
    fn runtime_events() -> (Vec<(SneakySource, u32)>, Vec<Seen>) {
        let mut before = vec![(SneakySource::RxQueue, derived_tag(1))];
        let mut seen = vec![("rx", RX_INDEX, derived_tag(1))];
        for index in 0..3 {
            let tag = derived_element_tag(2, index as u32);
            before.push((SneakySource::Rings(index), tag));
            seen.push(("ring", index, tag));
        }
        (before, seen)
    }

    #[test]
    fn changes_nothing_for_sync_a_constant_index_before_or_handler_error() {
        let mut manager = EventManager::new().unwrap();
        let id = manager.add_subscriber(SneakedNet::new());
        manager.subscriber_mut(id).unwrap().write_queues_and_rings();
        assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "not activated");

        manager
            .subscriber_mut(id)
            .unwrap()
            .activate_evt
            .write(1)
            .unwrap();
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
        assert_eq!(
            take_before(&mut manager, id),
            [(SneakySource::ActivateEvt, derived_tag(0))]
        );
        // The activation's sync attached `queue_evts[1]` (not
        // `queue_evts[0]`, readable too) and the three rings.
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
        let (before, seen) = runtime_events();
        assert_eq!(take_before(&mut manager, id), before);
        let net = manager.subscriber_mut(id).unwrap();
        assert_eq!(sorted(std::mem::take(&mut net.seen)), sorted(seen));
        assert_eq!(
            net.errors,
            [("rings[..].eventfd", 2, std::io::ErrorKind::StorageFull)]
        );
        // And detached the activation eventfd.
        net.activate_evt.write(1).unwrap();
        assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
        manager
            .subscriber_mut(id)
            .unwrap()
            .activate_evt
            .read()
            .unwrap();

        // The enum's own methods, called by path.
        assert_eq!(SneakySource::index(SneakySource::Rings(2)), 2);
        assert_eq!(SneakySource::index(SneakySource::RxQueue), 0);
        assert_eq!(SneakySource::name(SneakySource::RxQueue), "rx_queue");
        assert_eq!(SneakySource::name(SneakySource::Rings(1)), "rings");

        // A reset detaches the queue and the rings, and attaches the
        // activation eventfd again.
        with_ops(&mut manager, id, SneakedNet::new(), |net, ops| {
            net.activated = false;
            assert_eq!(net.sync_registrations(ops), Ok(()));
            net.write_queues_and_rings();
        });
        assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "reset");
        assert!(manager.subscriber_mut(id).unwrap().before.is_empty());

        // Activated again, by hand: the queue and the rings, readable
        // since the reset, are reported at once.
        with_ops(&mut manager, id, SneakedNet::new(), |net, ops| {
            net.activated = true;
            assert_eq!(net.sync_registrations(ops), Ok(()));
        });
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
        let (before, seen) = runtime_events();
        assert_eq!(take_before(&mut manager, id), before);
        let net = manager.subscriber_mut(id).unwrap();
        assert_eq!(sorted(std::mem::take(&mut net.seen)), sorted(seen));
        let full = ("rings[..].eventfd", 2, std::io::ErrorKind::StorageFull);
        assert_eq!(net.errors, [full, full]);
        net.activate_evt.write(1).unwrap();
        assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    }
}

// ---------------------------------------------------------------------
// 8. An index past the tag space.

#[derive(MutEventSubscriber)]
#[event(fd = queues[..], handler = on_queue)]
struct Pair {
    queues: Vec<EventFd>,
}

impl Pair {
    fn on_queue(&mut self) {}
}

#[test]
fn an_index_past_the_tag_space_is_too_large_before_it_is_missing() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Pair {
        queues: vec![eventfd(), eventfd()],
    });
    let placeholder = Pair { queues: Vec::new() };
    with_ops(&mut manager, id, placeholder, |pair, ops| {
        // Whatever the `Vec` holds, 2^24 has no tag: that comes first.
        // Before the fix, attach said `Epoll(EBADF)`.
        let too_large = 1 << 24;
        assert_eq!(
            pair.attach_queues(too_large, ops),
            Err(Error::IndexTooLarge)
        );
        assert_eq!(
            pair.detach_queues(too_large, ops),
            Err(Error::IndexTooLarge)
        );
        assert_eq!(
            pair.set_queues_interest(too_large, ops, EventSet::IN),
            Err(Error::IndexTooLarge)
        );
        // An index with a tag and no element.
        assert_eq!(pair.attach_queues(5, ops), Err(Error::NoFd));
        assert_eq!(pair.detach_queues(5, ops), Err(Error::NoFd));
        assert_eq!(
            pair.set_queues_interest(5, ops, EventSet::IN),
            Err(Error::NoFd)
        );
    });
}

// ---------------------------------------------------------------------
// `sync_registrations`: every source in line with its `when`.

/// A virtio-net-like device: the activation eventfd until activated, the
/// queues and the tap after.
#[derive(MutEventSubscriber)]
#[event(fd = activate_evt, when = !self.activated)]
#[event(fd = queue_evts[..], handler = on_queue, when = self.activated)]
#[event(fd = tap, when = self.activated)]
struct SyncedNet {
    activate_evt: EventFd,
    activated: bool,
    queue_evts: Vec<EventFd>,
    tap: Option<UnixStream>,
    seen: Vec<(&'static str, usize)>,
}

impl SyncedNet {
    fn new(tap: Option<UnixStream>) -> Self {
        SyncedNet {
            activate_evt: eventfd(),
            activated: false,
            queue_evts: vec![eventfd(), eventfd()],
            tap,
            seen: Vec::new(),
        }
    }

    fn on_activate_evt(&mut self, ops: &mut EventOps) {
        self.activate_evt.read().unwrap();
        self.activated = true;
        self.sync_registrations(ops).unwrap();
        self.seen.push(("activated", 0));
    }

    fn on_queue(&mut self, index: usize) {
        self.queue_evts[index].read().unwrap();
        self.seen.push(("queue", index));
    }

    fn on_tap(&mut self) {
        let mut frame = [0; 64];
        let _ = self.tap.as_mut().unwrap().read(&mut frame).unwrap();
        self.seen.push(("tap", 0));
    }

    /// Makes the queues readable and gives the tap a frame to read.
    fn make_runtime_fds_ready(&self, peer: &mut UnixStream) {
        for queue in &self.queue_evts {
            queue.write(1).unwrap();
        }
        peer.write_all(b"frame").unwrap();
    }
}

fn take_sorted_seen(
    manager: &mut EventManager<SyncedNet>,
    id: SubscriberId,
) -> Vec<(&'static str, usize)> {
    sorted(std::mem::take(
        &mut manager.subscriber_mut(id).unwrap().seen,
    ))
}

/// Writes the activation eventfd and runs: the activation is handled,
/// and its sync attaches the two queues and the tap, which were made
/// ready before and are reported by the next run.
fn activate_and_see_the_runtime_fds(manager: &mut EventManager<SyncedNet>, id: SubscriberId) {
    manager
        .subscriber_mut(id)
        .unwrap()
        .activate_evt
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(take_sorted_seen(manager, id), [("activated", 0)]);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
    assert_eq!(
        take_sorted_seen(manager, id),
        [("queue", 0), ("queue", 1), ("tap", 0)]
    );
}

#[test]
fn sync_registrations_swaps_activation_for_the_queues_and_back() {
    let (tap, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(SyncedNet::new(Some(tap)));
    manager
        .subscriber_mut(id)
        .unwrap()
        .make_runtime_fds_ready(&mut peer);
    // Not activated: only the activation eventfd is watched, and it is
    // quiet.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // The handler's sync attached the queues and the tap, readable since
    // before, so they are reported at once.
    activate_and_see_the_runtime_fds(&mut manager, id);
    // The same sync detached the activation eventfd.
    let net = manager.subscriber_mut(id).unwrap();
    net.activate_evt.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    manager
        .subscriber_mut(id)
        .unwrap()
        .activate_evt
        .read()
        .unwrap();

    // In line already, a sync changes nothing, not even the interest of
    // a queue emptied by hand (which, for an eventfd that cannot hang
    // up, silences it).
    let placeholder = || SyncedNet::new(None);
    with_ops(&mut manager, id, placeholder(), |net, ops| {
        net.set_queue_evts_interest(1, ops, EventSet::empty())
            .unwrap();
        assert_eq!(net.sync_registrations(ops), Ok(()));
        assert_eq!(net.sync_registrations(ops), Ok(()));
    });
    manager
        .subscriber_mut(id)
        .unwrap()
        .make_runtime_fds_ready(&mut peer);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    assert_eq!(
        take_sorted_seen(&mut manager, id),
        [("queue", 0), ("tap", 0)]
    );
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "queue 1 silenced");

    // A reset: the queues (the silenced one too) and the tap are detached,
    // the activation eventfd is watched again.
    with_ops(&mut manager, id, placeholder(), |net, ops| {
        net.activated = false;
        assert_eq!(net.sync_registrations(ops), Ok(()));
    });
    manager
        .subscriber_mut(id)
        .unwrap()
        .make_runtime_fds_ready(&mut peer);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    // Activated again, every queue with the interest its `#[event]` gives.
    activate_and_see_the_runtime_fds(&mut manager, id);
}

#[test]
fn sync_registrations_skips_a_source_holding_no_fd() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(SyncedNet::new(None));
    let net = manager.subscriber_mut(id).unwrap();
    net.queue_evts[0].write(1).unwrap();
    net.activate_evt.write(1).unwrap();
    // The handler's sync must not fail on the missing tap (it unwraps).
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(take_sorted_seen(&mut manager, id), [("activated", 0)]);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(take_sorted_seen(&mut manager, id), [("queue", 0)]);

    with_ops(&mut manager, id, SyncedNet::new(None), |net, ops| {
        assert_eq!(net.sync_registrations(ops), Ok(()));
        net.activated = false;
        assert_eq!(net.sync_registrations(ops), Ok(()));
    });
    manager.subscriber_mut(id).unwrap().queue_evts[0]
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "queues detached");
}

/// What decides the backend connection's interest: set up after the
/// connection.
struct Policy {
    interest: EventSet,
}

impl Policy {
    fn interest(&self) -> EventSet {
        self.interest
    }
}

/// The connection's fd is there from the start; its interest comes from a
/// backend that is not, until it is set up. The `set` expression unwraps
/// the backend: it may be read only while `when` holds.
#[derive(MutEventSubscriber)]
#[event(
    fd = backend_fd,
    when = self.backend.is_some(),
    set = self.backend.as_ref().unwrap().interest()
)]
struct LateBackend {
    backend_fd: UnixStream,
    backend: Option<Policy>,
    seen: Vec<EventSet>,
}

impl LateBackend {
    fn new(backend_fd: UnixStream) -> Self {
        backend_fd.set_nonblocking(true).unwrap();
        LateBackend {
            backend_fd,
            backend: None,
            seen: Vec::new(),
        }
    }

    fn placeholder() -> Self {
        LateBackend::new(UnixStream::pair().unwrap().0)
    }

    fn on_backend_fd(&mut self, events: Events) {
        if events.event_set().contains(EventSet::IN) {
            let mut buffer = [0; 64];
            let _ = self.backend_fd.read(&mut buffer).unwrap();
        }
        self.seen.push(events.event_set());
    }
}

#[test]
fn sync_registrations_reads_set_only_for_a_source_it_attaches() {
    let (backend_fd, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    // No backend: `when` does not hold, and `init` reads no interest.
    let id = manager.add_subscriber(LateBackend::new(backend_fd));
    peer.write_all(b"early").unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "not watched");

    with_ops(&mut manager, id, LateBackend::placeholder(), |late, ops| {
        // The source holds an fd and its `when` does not hold: nothing to
        // attach, so no interest to read (before the fix, every source's
        // interest was read first, and this `unwrap` of `None` panicked).
        assert_eq!(late.sync_registrations(ops), Ok(()));
        late.backend = Some(Policy {
            interest: EventSet::IN,
        });
        assert_eq!(late.sync_registrations(ops), Ok(()));
    });
    // Attached with the backend's interest: readable, reported as such...
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        std::mem::take(&mut manager.subscriber_mut(id).unwrap().seen),
        [EventSet::IN]
    );
    // ...and writable all along, which was not asked for.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // The backend goes away: the registered source is detached, and its
    // interest, which cannot be read now, is not.
    with_ops(&mut manager, id, LateBackend::placeholder(), |late, ops| {
        late.backend = None;
        assert_eq!(late.sync_registrations(ops), Ok(()));
        assert_eq!(late.sync_registrations(ops), Ok(()));
    });
    peer.write_all(b"late").unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "detached");

    // A backend that asks for `OUT` alone: the connection is reported
    // writable, and not readable, though it is.
    with_ops(&mut manager, id, LateBackend::placeholder(), |late, ops| {
        late.backend = Some(Policy {
            interest: EventSet::OUT,
        });
        assert_eq!(late.sync_registrations(ops), Ok(()));
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen, [EventSet::OUT]);
}

struct GatedConfig {
    queues: Vec<Queue>,
    active: bool,
}

/// The queues and the switch that says whether they are watched sit
/// behind one `std` mutex: `when` takes the lock that the path of every
/// element's fd takes too.
#[derive(MutEventSubscriber)]
#[event(
    fd = config.lock().unwrap().queues[..].eventfd,
    handler = on_queue,
    when = self.config.lock().unwrap().active
)]
struct Gated {
    config: Mutex<GatedConfig>,
    seen: Vec<usize>,
}

impl Gated {
    fn new(queues: usize, active: bool) -> Self {
        Gated {
            config: Mutex::new(GatedConfig {
                queues: (0..queues).map(|_| Queue { eventfd: eventfd() }).collect(),
                active,
            }),
            seen: Vec::new(),
        }
    }

    fn set_active(&self, active: bool) {
        self.config.lock().unwrap().active = active;
    }

    fn on_queue(&mut self, index: usize) {
        self.config.lock().unwrap().queues[index]
            .eventfd
            .read()
            .unwrap();
        self.seen.push(index);
    }

    fn write_every_queue(&self) {
        for queue in &self.config.lock().unwrap().queues {
            queue.eventfd.write(1).unwrap();
        }
    }
}

fn take_gated_seen(manager: &mut EventManager<Gated>, id: SubscriberId) -> Vec<usize> {
    sorted(std::mem::take(
        &mut manager.subscriber_mut(id).unwrap().seen,
    ))
}

#[test]
fn init_sync_and_all_methods_return_when_when_takes_the_collections_lock() {
    fails_instead_of_hanging(
        "init, sync_registrations, attach_all_queues or detach_all_queues",
        || {
            let mut manager = EventManager::new().unwrap();
            // `init` with `when` holding and not.
            let idle = manager.add_subscriber(Gated::new(2, false));
            let id = manager.add_subscriber(Gated::new(3, true));
            manager.subscriber_mut(idle).unwrap().write_every_queue();
            manager.subscriber_mut(id).unwrap().write_every_queue();
            assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
            assert_eq!(take_gated_seen(&mut manager, id), [0, 1, 2]);
            assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "idle unwatched");

            let placeholder = || Gated::new(0, false);
            with_ops(&mut manager, id, placeholder(), |gated, ops| {
                gated.set_active(false);
                assert_eq!(gated.sync_registrations(ops), Ok(()));
            });
            manager.subscriber_mut(id).unwrap().write_every_queue();
            assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "inactive");

            with_ops(&mut manager, id, placeholder(), |gated, ops| {
                gated.set_active(true);
                assert_eq!(gated.sync_registrations(ops), Ok(()));
                // Registered and active: the second sync leaves them be.
                assert_eq!(gated.sync_registrations(ops), Ok(()));
            });
            assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
            assert_eq!(take_gated_seen(&mut manager, id), [0, 1, 2]);

            with_ops(&mut manager, id, placeholder(), |gated, ops| {
                assert_eq!(gated.detach_all_queues(ops), Ok(()));
            });
            manager.subscriber_mut(id).unwrap().write_every_queue();
            assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "detached");
            with_ops(&mut manager, id, placeholder(), |gated, ops| {
                assert_eq!(gated.attach_all_queues(ops), Ok(()));
            });
            assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
            assert_eq!(take_gated_seen(&mut manager, id), [0, 1, 2]);

            // The idle one, activated: its queues, written before, are
            // reported at once.
            with_ops(&mut manager, idle, placeholder(), |gated, ops| {
                gated.set_active(true);
                assert_eq!(gated.sync_registrations(ops), Ok(()));
            });
            assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
            assert_eq!(take_gated_seen(&mut manager, idle), [0, 1]);
            assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
        },
    );
}
