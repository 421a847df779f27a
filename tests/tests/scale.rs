//! Scale: subscribers whose fds sit at the highest numbers the fd limit
//! allows, and a manager at a high-water mark of 19,900 fds and 100,000
//! subscribers. Every fd is made ready, dispatched through `run` and
//! checked at its subscriber; then everything is removed. The heap bytes
//! the manager holds are counted before, with all registered and after
//! removal, and printed (`cargo test --test scale -- --nocapture`).
//!
//! One test in a binary of its own: it raises the fd limit and counts the
//! process's open fds, which no other test may change meanwhile.

mod counting_heap;

use std::fmt::Write as _;
use std::os::unix::io::{AsRawFd, FromRawFd, RawFd};

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use counting_heap::Snapshot;

/// The most heap bytes a manager may still hold, once every subscriber of
/// the high-water scenario (19,900 fds, 100,000 subscribers) is removed,
/// beyond what it held empty: none. Removal gives back the fd table's
/// pages, the subscribers' fd lists and the free slots at the end of the
/// subscriber table (before that change: 7.6 MB retained, BENCHMARKS.md).
const MAX_RETAINED_AFTER_HIGH_WATER: isize = 0;

/// The same bound for the scenario of 4,096 fds at the top of the fd
/// range (0.35 MB retained before that change).
const MAX_RETAINED_AFTER_HIGH_FDS: isize = 0;

/// Fds registered at the highest numbers below the fd limit.
const HIGH_FDS: usize = 4096;

/// The high-water mark: fds (if the limit allows) and subscribers.
const HIGH_WATER_FDS: usize = 19_900;
const HIGH_WATER_SUBSCRIBERS: usize = 100_000;

/// Fd numbers left free below the limit in the high-water scenario, for
/// the fds the process already has and for `/proc/self/fd` being read.
const FD_MARGIN: usize = 64;

#[test]
fn fds_at_the_top_of_the_range_and_a_high_water_mark() {
    let (limit, report_limit) = raise_fd_limit();
    let mut report = report_limit;
    let top = high_fd_numbers(limit, &mut report);
    let high_water = high_water_mark(limit, &mut report);
    // All figures are taken: printing now changes none of them.
    println!("{report}");
    assert!(
        top <= MAX_RETAINED_AFTER_HIGH_FDS,
        "{top} bytes retained after removing the high fds, bound {MAX_RETAINED_AFTER_HIGH_FDS}"
    );
    assert!(
        high_water <= MAX_RETAINED_AFTER_HIGH_WATER,
        "{high_water} bytes retained after the high-water mark, bound {MAX_RETAINED_AFTER_HIGH_WATER}"
    );
}

/// A subscriber with at most one eventfd, which it registers with its
/// own tag and reads on every event, so each write is dispatched once.
struct Member {
    fd: Option<EventFd>,
    tag: u32,
    delivered: u32,
    /// Events whose fd or tag were not this member's.
    misdelivered: u32,
}

impl Member {
    fn new(fd: Option<EventFd>, tag: usize) -> Self {
        Member {
            fd,
            tag: u32::try_from(tag).unwrap(),
            delivered: 0,
            misdelivered: 0,
        }
    }

    fn make_ready(&self) {
        if let Some(fd) = &self.fd {
            fd.write(1).expect("write an eventfd");
        }
    }

    /// Whether it got its one event and nothing else (none without an fd).
    fn got_exactly_its_event(&self) -> bool {
        self.misdelivered == 0 && self.delivered == u32::from(self.fd.is_some())
    }
}

impl MutEventSubscriber for Member {
    fn init(&mut self, ops: &mut EventOps) {
        if let Some(fd) = &self.fd {
            ops.add(Events::with_data(fd, self.tag, EventSet::IN))
                .expect("register a member's eventfd");
        }
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        match &self.fd {
            Some(fd) if events.fd() == fd.as_raw_fd() && events.data() == self.tag => {
                fd.read().expect("read a ready eventfd");
                self.delivered += 1;
            }
            _ => self.misdelivered += 1,
        }
    }
}

/// Raises the soft fd limit to the hard one, as far as allowed (valgrind,
/// for one, refuses), and returns the soft limit in force.
fn raise_fd_limit() -> (usize, String) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0, "getrlimit: {}", std::io::Error::last_os_error());
    let before = limit.rlim_cur;
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        ..limit
    };
    // SAFETY: setrlimit reads one rlimit from the struct we own.
    let outcome = match unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } {
        0 => {
            limit = raised;
            "raised to the hard limit".to_string()
        }
        _ => format!("not raised: {}", std::io::Error::last_os_error()),
    };
    // Fd numbers are ints: a larger limit is not a larger range.
    let soft = usize::try_from(limit.rlim_cur.min(i32::MAX as libc::rlim_t)).unwrap();
    let report = format!(
        "fd limit: soft {before} -> {soft} ({outcome}), hard {}\n",
        limit.rlim_max
    );
    (soft, report)
}

/// Registers `HIGH_FDS` eventfds at the numbers just below `limit`,
/// dispatches them, removes them; returns the bytes the manager kept.
fn high_fd_numbers(limit: usize, report: &mut String) -> isize {
    assert!(
        limit > 2 * HIGH_FDS,
        "an fd limit of {limit} leaves no room at the top"
    );
    let numbers = limit - HIGH_FDS..limit;
    let mut ids = Vec::with_capacity(HIGH_FDS);
    let start = Snapshot::take();

    let mut manager = EventManager::<Member>::new().unwrap();
    let empty = Snapshot::take();
    for (tag, number) in numbers.clone().enumerate() {
        let fd = eventfd_at(RawFd::try_from(number).unwrap());
        ids.push(manager.add_subscriber(Member::new(Some(fd), tag)));
    }
    let registered = Snapshot::take();
    assert_eq!(registered.fds, empty.fds + HIGH_FDS);

    for &id in &ids {
        manager.subscriber_mut(id).unwrap().make_ready();
    }
    let dispatched = dispatch_all(&mut manager, HIGH_FDS);
    assert_eq!(dispatched, HIGH_FDS, "events dispatched");

    let (removed, end) = remove_all(manager, numbers.zip(ids.drain(..)), &start, &empty);

    let retained = removed.heap - empty.heap;
    writeln!(
        report,
        "high fds: {HIGH_FDS} eventfds at {}..={} through run, each delivered once\n  \
         heap bytes held by the manager: empty {}, all registered {}, all removed {} \
         (retained {retained}), dropped {}\n  \
         open fds: start {}, all registered {}, all removed {}, dropped {}",
        limit - HIGH_FDS,
        limit - 1,
        empty.heap - start.heap,
        registered.heap - start.heap,
        removed.heap - start.heap,
        end.heap - start.heap,
        start.fds,
        registered.fds,
        removed.fds,
        end.fds,
    )
    .unwrap();
    retained
}

/// 100,000 subscribers, of which as many as the fd limit allows (up to
/// 19,900, evenly spread) own an eventfd; all dispatched and removed.
/// Returns the bytes the manager kept.
fn high_water_mark(limit: usize, report: &mut String) -> isize {
    let mut ids = Vec::with_capacity(HIGH_WATER_SUBSCRIBERS);
    let start = Snapshot::take();
    let fd_count = HIGH_WATER_FDS.min(limit.saturating_sub(start.fds + FD_MARGIN));

    let mut manager = EventManager::<Member>::new().unwrap();
    let empty = Snapshot::take();
    for index in 0..HIGH_WATER_SUBSCRIBERS {
        // Subscriber `index` has an fd when `index * fd_count / N` moves
        // on to the next integer: `fd_count` of them, evenly spread.
        let has_fd = (index + 1) * fd_count / HIGH_WATER_SUBSCRIBERS
            != index * fd_count / HIGH_WATER_SUBSCRIBERS;
        let fd = has_fd.then(|| EventFd::new(EFD_NONBLOCK).expect("create an eventfd"));
        ids.push(manager.add_subscriber(Member::new(fd, index)));
    }
    let registered = Snapshot::take();
    assert_eq!(registered.fds, empty.fds + fd_count);

    for &id in &ids {
        manager.subscriber_mut(id).unwrap().make_ready();
    }
    let dispatched = dispatch_all(&mut manager, fd_count);
    assert_eq!(dispatched, fd_count, "events dispatched");

    let (removed, end) = remove_all(manager, ids.drain(..).enumerate(), &start, &empty);

    let retained = removed.heap - empty.heap;
    writeln!(
        report,
        "high water: {HIGH_WATER_SUBSCRIBERS} subscribers, {fd_count} of them with an eventfd \
         (fd limit {limit}), through run, each delivered once\n  \
         heap bytes held by the manager: empty {}, all registered {}, all removed {} \
         (retained {retained}), dropped {}\n  \
         open fds: start {}, all registered {}, all removed {}, dropped {}",
        empty.heap - start.heap,
        registered.heap - start.heap,
        removed.heap - start.heap,
        end.heap - start.heap,
        start.fds,
        registered.fds,
        removed.fds,
        end.fds,
    )
    .unwrap();
    retained
}

/// Runs until `expected` events are dispatched. Every fd is
/// level-triggered and stays ready until its own subscriber reads it, so
/// `run` cannot block while one is missing; a run that dispatches nothing
/// counts against the bound, so a manager that drops events fails here
/// instead of spinning.
/// Removes every subscriber (each labelled by its fd number or index),
/// checks that each got exactly its own event, drops the manager, and
/// checks that fds and heap are back; returns the snapshots after the
/// removal and after the drop.
fn remove_all<L: std::fmt::Debug>(
    mut manager: EventManager<Member>,
    ids: impl Iterator<Item = (L, event_manager::SubscriberId)>,
    start: &Snapshot,
    empty: &Snapshot,
) -> (Snapshot, Snapshot) {
    let mut wrong = Vec::new();
    for (label, id) in ids {
        let member = manager.remove_subscriber(id).unwrap();
        if !member.got_exactly_its_event() {
            wrong.push(label);
        }
    }
    // Emptied fd-table pages are freed by the next run, between batches.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let removed = Snapshot::take();
    drop(manager);
    let end = Snapshot::take();

    assert!(
        wrong.is_empty(),
        "subscribers whose events were not delivered exactly once: {wrong:?}"
    );
    assert_eq!(removed.fds, empty.fds, "fds left after removal");
    assert_eq!(end.fds, start.fds, "fds left after the manager was dropped");
    assert_eq!(end.heap, start.heap, "heap bytes left after the manager");
    (removed, end)
}

fn dispatch_all(manager: &mut EventManager<Member>, expected: usize) -> usize {
    let mut dispatched = 0;
    let mut runs = 0;
    while dispatched < expected {
        runs += 1;
        assert!(
            runs <= expected,
            "{dispatched} of {expected} events after {runs} runs"
        );
        dispatched += manager.run().unwrap();
    }
    // Nothing is left ready, and nothing was dispatched twice.
    dispatched + manager.run_with_timeout(0).unwrap()
}

/// A non-blocking eventfd at fd number `number`, which must be free.
fn eventfd_at(number: RawFd) -> EventFd {
    // SAFETY: F_GETFD reads the flags of `number`, if open; no memory is
    // passed.
    let open = unsafe { libc::fcntl(number, libc::F_GETFD) } != -1;
    assert!(!open, "fd {number} is already open");
    let fresh = EventFd::new(EFD_NONBLOCK).expect("create an eventfd");
    // SAFETY: `fresh` is open and owned here and `number` is not open, so
    // dup3 closes nothing; on success `number` refers to `fresh`'s file.
    let result = unsafe { libc::dup3(fresh.as_raw_fd(), number, libc::O_CLOEXEC) };
    assert_eq!(
        result,
        number,
        "dup3 to {number}: {}",
        std::io::Error::last_os_error()
    );
    drop(fresh);
    // SAFETY: `number` is open (dup3 succeeded) and nothing else owns it.
    unsafe { EventFd::from_raw_fd(number) }
}
