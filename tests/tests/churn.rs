//! Churn on one manager: subscribers added and removed, and an fd's
//! interest and data modified, cycle after cycle, with every cycle's event
//! dispatched and checked. Afterwards the heap bytes the manager holds and
//! the process's open fds are what they were before the cycles.
//!
//! 10,000 cycles of each by default; `EVENT_MANAGER_LONG=1` runs
//! 1,000,000 (`EVENT_MANAGER_LONG=1 cargo test --release --test churn --
//! --nocapture` prints the figures and the time each took).
//!
//! One test in a binary of its own, because it counts the process's fds.

mod counting_heap;

use std::fmt::Write as _;
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Instant;

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use counting_heap::{live_bytes, Snapshot};

const SHORT_CYCLES: u32 = 10_000;
const LONG_CYCLES: u32 = 1_000_000;

/// Subscribers that stay registered throughout, so that the cycling one
/// shares the tables with others, as in a real program.
const RESIDENTS: u32 = 8;

#[test]
fn add_remove_and_modify_cycles_give_back_heap_and_fds() {
    let cycles = match std::env::var("EVENT_MANAGER_LONG") {
        Ok(value) if value == "1" => LONG_CYCLES,
        _ => SHORT_CYCLES,
    };
    // Made before the first snapshot and big enough for all that goes
    // in, so that only the manager's bytes are counted.
    let mut report = String::with_capacity(4096);
    let mut residents = Vec::with_capacity(RESIDENTS as usize);
    let start = Snapshot::take();
    let mut manager = EventManager::<Cycler>::new().unwrap();
    // Never ready: their fds are only there to be looked past.
    for tag in 0..RESIDENTS {
        residents.push(manager.add_subscriber(Cycler::new(tag)));
    }
    writeln!(
        report,
        "heap bytes held by the manager with {RESIDENTS} resident subscribers: {}",
        live_bytes() - start.heap
    )
    .unwrap();

    add_remove_cycles(&mut manager, cycles, start.heap, &mut report);
    modify_cycles(&mut manager, cycles, start.heap, &mut report);

    for id in residents.drain(..) {
        assert_eq!(manager.remove_subscriber(id).unwrap().events, 0);
    }
    drop(manager);
    let end = Snapshot::take();
    assert_eq!(report.capacity(), 4096, "the report outgrew its buffer");
    print!("{report}");
    assert_eq!(end.fds, start.fds, "fds left after the manager");
    assert_eq!(end.heap, start.heap, "heap bytes left after the manager");
}

/// A subscriber with one eventfd, which it registers at `init` with its
/// tag; it records the last event it got and does not read the fd.
struct Cycler {
    fd: EventFd,
    tag: u32,
    events: u32,
    last: Option<(RawFd, u32, EventSet)>,
}

impl Cycler {
    fn new(tag: u32) -> Self {
        Cycler {
            fd: EventFd::new(EFD_NONBLOCK).expect("create an eventfd"),
            tag,
            events: 0,
            last: None,
        }
    }
}

impl MutEventSubscriber for Cycler {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::with_data(&self.fd, self.tag, EventSet::IN))
            .expect("register a cycler's eventfd");
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        self.events += 1;
        self.last = Some((events.fd(), events.data(), events.event_set()));
    }
}

/// Each cycle adds a subscriber whose eventfd is already readable,
/// dispatches its event, removes it and closes the fd.
fn add_remove_cycles(
    manager: &mut EventManager<Cycler>,
    cycles: u32,
    heap_at_start: isize,
    report: &mut String,
) {
    // One cycle first: the tables grow to hold one more subscriber, which
    // is then the state every cycle ends in.
    add_dispatch_remove(manager, RESIDENTS);
    let before = Snapshot::take();
    let started = Instant::now();
    for cycle in 0..cycles {
        add_dispatch_remove(manager, RESIDENTS + cycle % (1 << 30));
    }
    let elapsed = started.elapsed();
    let after = Snapshot::take();
    assert_eq!(
        after.fds, before.fds,
        "fds after {cycles} add/remove cycles"
    );
    assert_eq!(
        after.heap, before.heap,
        "heap bytes after {cycles} add/remove cycles"
    );
    writeln!(
        report,
        "{cycles} add/remove cycles (add, dispatch, remove, close) in {:.2} s, \
         {:.0} ns a cycle\n  \
         heap bytes held by the manager: {} before, {} after; open fds: {} before, {} after",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / f64::from(cycles),
        before.heap - heap_at_start,
        after.heap - heap_at_start,
        before.fds,
        after.fds,
    )
    .unwrap();
}

fn add_dispatch_remove(manager: &mut EventManager<Cycler>, tag: u32) {
    let cycler = Cycler::new(tag);
    let fd = cycler.fd.as_raw_fd();
    cycler.fd.write(1).expect("write an eventfd");
    let id = manager.add_subscriber(cycler);
    // Ready before it was added: epoll reports it without waiting.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1, "cycle {tag}");
    let cycler = manager.remove_subscriber(id).unwrap();
    assert_eq!(cycler.events, 1, "cycle {tag}");
    assert_eq!(cycler.last, Some((fd, tag, EventSet::IN)), "cycle {tag}");
}

/// Each cycle modifies one eventfd's interest and data, then dispatches
/// it. The eventfd stays readable and writable throughout, so the event
/// carries exactly the interest just set, with the data just set.
fn modify_cycles(
    manager: &mut EventManager<Cycler>,
    cycles: u32,
    heap_at_start: isize,
    report: &mut String,
) {
    let cycler = Cycler::new(0);
    cycler.fd.write(1).expect("write an eventfd");
    let fd = cycler.fd.as_raw_fd();
    let id = manager.add_subscriber(cycler);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);

    let interests = [EventSet::OUT, EventSet::IN | EventSet::OUT, EventSet::IN];
    let before = Snapshot::take();
    let started = Instant::now();
    for cycle in 0..cycles {
        let interest = interests[(cycle % 3) as usize];
        let tag = cycle % (1 << 30);
        manager
            .event_ops(id)
            .unwrap()
            .modify(Events::with_data_raw(fd, tag, interest))
            .unwrap();
        assert_eq!(manager.run_with_timeout(0).unwrap(), 1, "cycle {cycle}");
        let last = manager.subscriber_mut(id).unwrap().last;
        assert_eq!(last, Some((fd, tag, interest)), "cycle {cycle}");
    }
    let elapsed = started.elapsed();
    let after = Snapshot::take();
    assert_eq!(after.fds, before.fds, "fds after {cycles} modify cycles");
    assert_eq!(
        after.heap, before.heap,
        "heap bytes after {cycles} modify cycles"
    );
    let cycler = manager.remove_subscriber(id).unwrap();
    assert_eq!(cycler.events, cycles + 1);
    writeln!(
        report,
        "{cycles} modify cycles (modify, dispatch) in {:.2} s, {:.0} ns a cycle\n  \
         heap bytes held by the manager: {} before, {} after; open fds: {} before, {} after",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / f64::from(cycles),
        before.heap - heap_at_start,
        after.heap - heap_at_start,
        before.fds,
        after.fds,
    )
    .unwrap();
}
