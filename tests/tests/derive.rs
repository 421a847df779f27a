//! The derived subscribers against real epoll: eventfds and Unix sockets.
//! Pedantic clippy is on for this file so that generated code which trips
//! a lint in the user's crate fails CI.
#![deny(clippy::pedantic)]

use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use event_manager::{
    Error, EventManager, EventOps, EventSet, EventSubscriber, Events, MutEventSubscriber,
    SubscriberOps,
};
use event_manager_tests::{derived_tag, eventfd, ready_eventfd};
use vmm_sys_util::eventfd::EventFd;

/// What a handler saw: which handler, and the event it got.
type Log = Vec<(&'static str, Events)>;

#[derive(MutEventSubscriber)]
#[event(fd = kick, handler = on_kick)]
#[event(fd = conn, set = "IN | EDGE_TRIGGERED")]
#[event(fd = level)]
struct Device {
    kick: EventFd,
    conn: UnixStream,
    level: EventFd,
    log: Log,
}

impl Device {
    fn new() -> (Self, UnixStream) {
        let (conn, peer) = UnixStream::pair().unwrap();
        conn.set_nonblocking(true).unwrap();
        let device = Device {
            kick: eventfd(),
            conn,
            level: eventfd(),
            log: Vec::new(),
        };
        (device, peer)
    }

    fn on_kick(&mut self, events: Events, _ops: &mut EventOps) {
        self.kick.read().unwrap();
        self.log.push(("kick", events));
    }

    /// Reads nothing, so only a new write makes the edge-triggered fd fire.
    fn on_conn(&mut self, events: Events, _ops: &mut EventOps) {
        self.log.push(("conn", events));
    }

    /// Reads nothing either: the level-triggered fd fires on every run.
    fn on_level(&mut self, events: Events, _ops: &mut EventOps) {
        self.log.push(("level", events));
    }
}

fn take_log<T>(manager: &mut EventManager<T>, id: event_manager::SubscriberId) -> Log
where
    T: MutEventSubscriber + AsMut<Log>,
{
    std::mem::take(manager.subscriber_mut(id).unwrap().as_mut())
}

impl AsMut<Log> for Device {
    fn as_mut(&mut self) -> &mut Log {
        &mut self.log
    }
}

#[test]
fn each_fd_reaches_its_own_handler_with_its_attribute_position_in_the_data() {
    let (device, mut peer) = Device::new();
    let fds = (
        device.kick.as_raw_fd(),
        device.conn.as_raw_fd(),
        device.level.as_raw_fd(),
    );
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device);

    manager.subscriber_mut(id).unwrap().kick.write(1).unwrap();
    peer.write_all(b"x").unwrap();
    manager.subscriber_mut(id).unwrap().level.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);

    let mut log = take_log(&mut manager, id);
    log.sort_by_key(|(_, events)| events.data());
    let seen: Vec<_> = log
        .iter()
        .map(|(name, events)| (*name, events.fd(), events.data()))
        .collect();
    assert_eq!(
        seen,
        [
            ("kick", fds.0, derived_tag(0)),
            ("conn", fds.1, derived_tag(1)),
            ("level", fds.2, derived_tag(2))
        ]
    );
    assert!(log
        .iter()
        .all(|(_, events)| events.event_set().contains(EventSet::IN)));
}

#[test]
fn the_set_reaches_epoll_edge_triggered_fires_once_per_write() {
    let (device, mut peer) = Device::new();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device);
    manager.subscriber_mut(id).unwrap().level.write(1).unwrap();
    peer.write_all(b"x").unwrap();

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    for _ in 0..3 {
        // Neither fd was drained: the level-triggered one fires again, the
        // edge-triggered one does not.
        assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    }
    peer.write_all(b"y").unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 2);

    let names: Vec<&str> = take_log(&mut manager, id)
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let conn_events = names.iter().filter(|name| **name == "conn").count();
    let level_events = names.iter().filter(|name| **name == "level").count();
    assert_eq!((conn_events, level_events), (2, 5));
}

#[test]
fn error_and_hang_up_reach_the_handler_of_their_fd() {
    let (device, peer) = Device::new();
    let conn_fd = device.conn.as_raw_fd();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device);
    drop(peer);

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let log = take_log(&mut manager, id);
    assert_eq!(log.len(), 1);
    let (name, events) = log[0];
    assert_eq!(
        (name, events.fd(), events.data()),
        ("conn", conn_fd, derived_tag(1))
    );
    assert!(
        events.event_set().contains(EventSet::HANG_UP),
        "{:?}",
        events.event_set()
    );
}

/// A socket that is attached after `init`, and a handler that changes its
/// interest while keeping the data tag.
#[derive(MutEventSubscriber)]
#[event(fd = attach)]
#[event(fd = conn)]
struct Attaching {
    attach: EventFd,
    conn: Option<UnixStream>,
    pending: Option<UnixStream>,
    log: Log,
}

/// The data of `conn`'s registration: the derived tag of the second
/// `#[event]`.
const CONN_TAG: u32 = derived_tag(1);

impl Attaching {
    fn on_attach(&mut self, _events: Events, ops: &mut EventOps) {
        self.attach.read().unwrap();
        self.conn = self.pending.take();
        self.attach_conn(ops).unwrap();
    }

    fn on_conn(&mut self, events: Events, ops: &mut EventOps) {
        self.log.push(("conn", events));
        if events.event_set().contains(EventSet::IN) {
            let conn = self.conn.as_ref().unwrap();
            let mut byte = [0; 1];
            (&*conn).read_exact(&mut byte).unwrap();
            self.set_conn_interest(ops, EventSet::OUT).unwrap();
        }
    }
}

impl AsMut<Log> for Attaching {
    fn as_mut(&mut self) -> &mut Log {
        &mut self.log
    }
}

#[test]
fn a_none_field_is_not_registered_and_can_be_attached_later_under_its_tag() {
    let (conn, mut peer) = UnixStream::pair().unwrap();
    peer.write_all(b"x").unwrap();
    let attaching = Attaching {
        attach: eventfd(),
        conn: None,
        pending: Some(conn),
        log: Vec::new(),
    };
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(attaching);
    // The socket is readable, but not registered yet.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    manager.subscriber_mut(id).unwrap().attach.write(1).unwrap();
    assert_eq!(
        manager.run_with_timeout(1000).unwrap(),
        1,
        "the attach handler"
    );
    assert_eq!(
        manager.run_with_timeout(1000).unwrap(),
        1,
        "the readable socket"
    );
    assert_eq!(
        manager.run_with_timeout(1000).unwrap(),
        1,
        "the socket, now writable"
    );

    let log = take_log(&mut manager, id);
    let sets: Vec<(u32, EventSet)> = log
        .iter()
        .map(|(_, events)| (events.data(), events.event_set()))
        .collect();
    assert_eq!(sets, [(CONN_TAG, EventSet::IN), (CONN_TAG, EventSet::OUT)]);
}

#[test]
fn a_some_field_is_registered_at_init() {
    let (conn, mut peer) = UnixStream::pair().unwrap();
    let attaching = Attaching {
        attach: eventfd(),
        conn: Some(conn),
        pending: None,
        log: Vec::new(),
    };
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(attaching);
    peer.write_all(b"x").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(take_log(&mut manager, id)[0].1.data(), CONN_TAG);
}

/// An fd that holds another's number, to make a registration fail.
struct Borrowed(RawFd);

impl AsRawFd for Borrowed {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Uses every container key.
#[derive(MutEventSubscriber)]
#[subscriber(init = add_by_hand, fallback = on_other, init_error = on_init_error)]
#[event(fd = taken)]
#[event(fd = own)]
struct Container {
    taken: Borrowed,
    own: EventFd,
    by_hand: EventFd,
    init_steps: Vec<String>,
    log: Log,
}

/// The tag of the fd `Container` adds by hand: past the derive's tags.
const BY_HAND_TAG: u32 = 100;

impl Container {
    fn on_taken(&mut self, events: Events, _ops: &mut EventOps) {
        self.log.push(("taken", events));
    }

    fn on_own(&mut self, events: Events, _ops: &mut EventOps) {
        self.log.push(("own", events));
    }

    fn on_other(&mut self, events: Events, _ops: &mut EventOps) {
        self.log.push(("other", events));
    }

    fn on_init_error(&mut self, field: &'static str, error: Error) {
        self.init_steps.push(format!("error {field}: {error:?}"));
    }

    fn add_by_hand(&mut self, ops: &mut EventOps) {
        // The derived registrations are already done when this runs.
        let again = ops.add(Events::new(&self.own, EventSet::IN));
        self.init_steps
            .push(format!("init hook; own again: {again:?}"));
        ops.add(Events::with_data(&self.by_hand, BY_HAND_TAG, EventSet::IN))
            .unwrap();
    }
}

impl AsMut<Log> for Container {
    fn as_mut(&mut self) -> &mut Log {
        &mut self.log
    }
}

#[test]
fn container_keys_init_hook_fallback_and_init_error() {
    let shared_fd = ready_eventfd();
    let container = |by_hand: EventFd| Container {
        taken: Borrowed(shared_fd.as_raw_fd()),
        own: eventfd(),
        by_hand,
        init_steps: Vec::new(),
        log: Vec::new(),
    };
    let mut manager = EventManager::new().unwrap();
    // Both containers name the same fd in `taken`: the second one's
    // registration fails and goes to its `init_error` method.
    let first = manager.add_subscriber(container(eventfd()));
    let second = manager.add_subscriber(container(ready_eventfd()));
    assert_eq!(
        manager.subscriber_mut(first).unwrap().init_steps,
        ["init hook; own again: Err(FdAlreadyRegistered)"]
    );
    assert_eq!(
        manager.subscriber_mut(second).unwrap().init_steps,
        [
            "error taken: FdAlreadyRegistered",
            "init hook; own again: Err(FdAlreadyRegistered)"
        ]
    );

    // The shared fd reaches the first container's `taken` handler; the
    // second container's fd added by hand reaches its fallback.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    let first_log = take_log(&mut manager, first);
    let second_log = take_log(&mut manager, second);
    assert_eq!(first_log.len(), 1);
    assert_eq!(
        (first_log[0].0, first_log[0].1.data()),
        ("taken", derived_tag(0))
    );
    assert_eq!(second_log.len(), 1);
    assert_eq!(
        (second_log[0].0, second_log[0].1.data()),
        ("other", BY_HAND_TAG)
    );
}

/// No `fallback`: an fd added by hand would have its events reach no
/// method, so the add is refused.
#[derive(MutEventSubscriber)]
#[subscriber(init = add_by_hand)]
#[event(fd = own)]
struct NoFallback {
    own: EventFd,
    by_hand: EventFd,
    calls: u32,
    by_hand_result: Option<event_manager::Result<()>>,
}

impl NoFallback {
    fn on_own(&mut self, _events: Events, _ops: &mut EventOps) {
        self.calls += 1;
    }

    fn add_by_hand(&mut self, ops: &mut EventOps) {
        self.by_hand_result = Some(ops.add(Events::with_data(&self.by_hand, 7, EventSet::IN)));
    }
}

#[test]
fn without_fallback_an_fd_added_by_hand_is_refused_and_never_wakes_the_loop() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(NoFallback {
        own: eventfd(),
        by_hand: ready_eventfd(),
        calls: 0,
        by_hand_result: None,
    });
    let subscriber = manager.subscriber_mut(id).unwrap();
    assert_eq!(subscriber.by_hand_result, Some(Err(Error::NoFallback)));
    // The ready, level-triggered fd is not watched: nothing wakes the loop.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(manager.subscriber_mut(id).unwrap().calls, 0);
}

#[test]
fn without_init_error_a_failed_registration_panics_naming_type_field_and_error() {
    let holder = ready_eventfd();
    let holder_fd = holder.as_raw_fd();
    let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    let kept = manager.add_subscriber(Box::new(Mutex::new(NoFallback {
        own: holder,
        by_hand: eventfd(),
        calls: 0,
        by_hand_result: None,
    })));
    let payload = catch_unwind(AssertUnwindSafe(|| {
        manager.add_subscriber(Box::new(Failing {
            own: eventfd(),
            taken: Borrowed(holder_fd),
        }))
    }))
    .expect_err("init must panic");
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("derive::Failing"), "{message}");
    assert!(message.contains("field `taken`"), "{message}");
    assert!(
        message.contains(&Error::FdAlreadyRegistered.to_string()),
        "{message}"
    );

    // The manager carries on, and the subscriber that holds the fd still
    // gets its events.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.remove_subscriber(kept).map(|_| ()), Ok(()));
}

/// A regular file cannot be watched (the kernel answers EPERM).
#[derive(MutEventSubscriber)]
#[event(fd = log)]
struct WatchesAFile {
    log: std::fs::File,
}

impl WatchesAFile {
    fn on_log(&mut self, _events: Events, _ops: &mut EventOps) {
        unreachable!("{:?} is a regular file, never registered", self.log);
    }
}

#[test]
fn the_default_on_a_refused_fd_gives_the_errno_of_the_kernel() {
    let mut manager = EventManager::<WatchesAFile>::new().unwrap();
    let log = std::fs::File::open("/proc/self/exe").unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        manager.add_subscriber(WatchesAFile { log })
    }))
    .expect_err("init must panic");
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("derive::WatchesAFile"), "{message}");
    assert!(message.contains("field `log`"), "{message}");
    assert!(
        message.contains("Operation not permitted (os error 1)"),
        "{message}"
    );
}

/// `own` registers, then `taken` fails.
#[derive(MutEventSubscriber)]
#[event(fd = own)]
#[event(fd = taken)]
struct Failing {
    own: EventFd,
    taken: Borrowed,
}

impl Failing {
    fn on_own(&mut self, _events: Events, _ops: &mut EventOps) {
        self.own.read().unwrap();
    }

    fn on_taken(&mut self, _events: Events, _ops: &mut EventOps) {
        unreachable!("fd {} is never registered", self.taken.0);
    }
}

/// The same counter written by hand, to sit beside derived ones.
struct HandWritten {
    fd: EventFd,
    count: Arc<AtomicU64>,
}

impl MutEventSubscriber for HandWritten {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        self.count
            .fetch_add(self.fd.read().unwrap(), Ordering::Relaxed);
    }
}

/// `&self` handlers, shared through `Arc`.
#[derive(EventSubscriber)]
#[event(fd = fd)]
struct Shared {
    fd: EventFd,
    count: Arc<AtomicU64>,
}

impl Shared {
    fn on_fd(&self, _events: Events, _ops: &mut EventOps) {
        self.count
            .fetch_add(self.fd.read().unwrap(), Ordering::Relaxed);
    }
}

/// A tuple struct behind a `Mutex`.
#[derive(MutEventSubscriber)]
#[event(fd = 0, handler = on_fd)]
struct Tuple(EventFd, Arc<AtomicU64>);

impl Tuple {
    fn on_fd(&mut self, _events: Events, _ops: &mut EventOps) {
        self.1.fetch_add(self.0.read().unwrap(), Ordering::Relaxed);
    }
}

#[test]
fn derived_and_hand_written_subscribers_mix_behind_box_dyn() {
    let counts: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let hand = HandWritten {
        fd: eventfd(),
        count: Arc::clone(&counts[0]),
    };
    let shared = Arc::new(Shared {
        fd: eventfd(),
        count: Arc::clone(&counts[1]),
    });
    let tuple = Tuple(eventfd(), Arc::clone(&counts[2]));
    // Clones of the fds that move into the manager, to write to them.
    let writers = [
        hand.fd.try_clone().unwrap(),
        shared.fd.try_clone().unwrap(),
        tuple.0.try_clone().unwrap(),
    ];

    let mut manager = EventManager::<Box<dyn MutEventSubscriber + Send>>::new().unwrap();
    manager.add_subscriber(Box::new(hand));
    manager.add_subscriber(Box::new(Arc::clone(&shared)));
    manager.add_subscriber(Box::new(Mutex::new(tuple)));

    for round in 1..=3 {
        for (value, writer) in (1..).zip(&writers) {
            writer.write(value).unwrap();
        }
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
        let seen: Vec<u64> = counts
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect();
        assert_eq!(seen, [round, 2 * round, 3 * round]);
    }
}

/// Items of the user's named like the generated code's bindings do not
/// change what it does: with a constant `error` of the same type in scope,
/// a failed registration still reaches `init_error`, and with a constant
/// `data`, events still reach their handlers.
mod hygiene {
    #![allow(non_upper_case_globals)]

    use event_manager::{Error, EventManager, MutEventSubscriber, SubscriberOps};
    use std::fs::File;
    use vmm_sys_util::eventfd::EventFd;

    const error: Error = Error::InvalidId;
    const data: u32 = 0;
    const index: usize = 0;

    #[derive(MutEventSubscriber)]
    #[subscriber(init_error = on_init_error)]
    #[event(fd = regular_file)]
    #[event(fd = kick)]
    #[event(fd = queues[..], handler = on_queue)]
    struct Device {
        regular_file: File,
        kick: EventFd,
        queues: Vec<EventFd>,
        init_errors: Vec<(&'static str, Error)>,
        kicks: u64,
        queue_kicks: Vec<usize>,
    }

    impl Device {
        fn on_init_error(&mut self, source: &'static str, failure: Error) {
            self.init_errors.push((source, failure));
        }
        fn on_regular_file(&mut self) {
            self.kicks += 1000; // never: the file is not registered
        }
        fn on_kick(&mut self) {
            self.kicks += self.kick.read().unwrap();
        }
        fn on_queue(&mut self, queue: usize) {
            self.queues[queue].read().unwrap();
            self.queue_kicks.push(queue);
        }
    }

    #[test]
    fn constants_named_like_the_generated_bindings_change_nothing() {
        let mut manager = EventManager::new().unwrap();
        let device = Device {
            // epoll refuses a regular file (EPERM), an error that is not
            // the constant `error`.
            regular_file: File::open(std::env::current_exe().unwrap()).unwrap(),
            kick: EventFd::new(0).unwrap(),
            queues: vec![EventFd::new(0).unwrap(), EventFd::new(0).unwrap()],
            init_errors: Vec::new(),
            kicks: 0,
            queue_kicks: Vec::new(),
        };
        let id = manager.add_subscriber(device);
        let device = manager.subscriber_mut(id).unwrap();
        assert_eq!(device.init_errors.len(), 1);
        let (source, failure) = device.init_errors[0];
        assert_eq!(source, "regular_file");
        assert!(matches!(failure, Error::Epoll(errno) if errno.errno() == libc::EPERM));
        assert_ne!(failure, error);
        assert_eq!((data, index), (0, 0));

        device.kick.write(2).unwrap();
        device.queues[1].write(1).unwrap();
        assert_eq!(manager.run().unwrap(), 2);
        let device = manager.subscriber_mut(id).unwrap();
        assert_eq!(device.kicks, 2);
        assert_eq!(device.queue_kicks, [1]);
    }
}
