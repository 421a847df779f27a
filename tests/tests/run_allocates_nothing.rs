//! `run` allocates nothing: a counting global allocator watches the
//! dispatch of many batches of ready events.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use event_manager_tests::ready_eventfd;
use vmm_sys_util::eventfd::EventFd;

struct CountingAllocator;

thread_local! {
    // Counted per thread, so the test harness's own threads do not count.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Level-triggered and never drained: every run dispatches it again.
struct AlwaysReady {
    fd: EventFd,
    events: u64,
}

impl MutEventSubscriber for AlwaysReady {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        self.events += 1;
    }
}

#[test]
fn dispatching_ready_events_does_not_allocate() {
    let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    for _ in 0..200 {
        manager.add_subscriber(Box::new(AlwaysReady {
            fd: ready_eventfd(),
            events: 0,
        }));
    }
    // Warm up once: nothing lazy may hide in the first run either, but
    // the count below is what the claim is about.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 200);

    let before = allocations();
    let mut dispatched = 0;
    for _ in 0..100 {
        dispatched += manager.run_with_timeout(1000).unwrap();
    }
    let during = allocations() - before;
    assert_eq!(dispatched, 20_000);
    assert_eq!(during, 0, "run allocated {during} times");
}

/// A derived subscriber using everything on the dispatch path: a
/// one-fd source, a collection with `None` slots, hooks, a handler that
/// returns `Result` and one that changes interest through a generated
/// method.
#[derive(MutEventSubscriber)]
#[subscriber(before = before, after = after, handler_error = on_error)]
#[event(fd = control)]
#[event(fd = queues[..], handler = on_queue)]
#[event(fd = writable, set = self.interest, handler = on_writable)]
struct Derived {
    control: EventFd,
    queues: Vec<Option<EventFd>>,
    writable: EventFd,
    interest: EventSet,
    handled: u64,
    hooks: u64,
    errors: u64,
}

impl Derived {
    fn before(&mut self, events: Events) -> bool {
        self.hooks += 1;
        events.event_set().contains(EventSet::IN) || events.event_set().contains(EventSet::OUT)
    }
    fn after(&mut self) {
        self.hooks += 1;
    }
    fn on_control(&mut self) {
        self.handled += 1;
    }
    fn on_queue(&mut self, index: usize) -> Result<(), &'static str> {
        self.handled += 1;
        if index == 3 {
            return Err("queue 3 fails on purpose");
        }
        Ok(())
    }
    fn on_writable(&mut self, ops: &mut EventOps) {
        self.handled += 1;
        self.set_writable_interest(ops, EventSet::OUT).unwrap();
    }
    fn on_error(
        &mut self,
        _source: &'static str,
        _index: usize,
        _error: &dyn std::fmt::Display,
        _ops: &mut EventOps,
    ) {
        self.errors += 1;
    }
}

#[test]
fn dispatching_to_a_derived_subscriber_does_not_allocate() {
    let mut manager = EventManager::new().unwrap();
    let queues = (0..8)
        .map(|index| (index != 5).then(ready_eventfd))
        .collect();
    let id = manager.add_subscriber(Derived {
        control: ready_eventfd(),
        queues,
        writable: EventFd::new(0).unwrap(),
        interest: EventSet::OUT,
        handled: 0,
        hooks: 0,
        errors: 0,
    });
    // One fd, seven queues (one slot is `None`), one writable eventfd.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 9);

    let before = allocations();
    let mut dispatched = 0;
    for _ in 0..100 {
        dispatched += manager.run_with_timeout(1000).unwrap();
    }
    let during = allocations() - before;
    assert_eq!(dispatched, 900);
    assert_eq!(during, 0, "run allocated {during} times");
    let derived = manager.subscriber_mut(id).unwrap();
    assert_eq!(derived.handled, 909);
    assert_eq!(derived.hooks, 2 * 909);
    assert_eq!(derived.errors, 101);
}

/// An eventfd whose number is at least `low`: on a page of the manager's
/// fd table far above the one small numbers share.
fn ready_eventfd_at_or_above(low: i32) -> EventFd {
    use std::os::unix::io::{AsRawFd, FromRawFd};
    let fresh = ready_eventfd();
    // SAFETY: `fresh` is open for the call; F_DUPFD_CLOEXEC passes no
    // memory and returns a new fd (or -1), which is owned below.
    let number = unsafe { libc::fcntl(fresh.as_raw_fd(), libc::F_DUPFD_CLOEXEC, low) };
    assert!(
        number >= low,
        "F_DUPFD to {low}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `number` is a new fd that nothing else owns.
    unsafe { EventFd::from_raw_fd(number) }
}

#[test]
fn the_runs_after_a_high_fd_is_removed_do_not_allocate() {
    let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    for _ in 0..4 {
        manager.add_subscriber(Box::new(AlwaysReady {
            fd: ready_eventfd(),
            events: 0,
        }));
    }
    // Its page is the table's last; removing it leaves a directory with
    // more room than its pages need, which used to be shrunk (a
    // reallocation) by the next run.
    let high = manager.add_subscriber(Box::new(AlwaysReady {
        fd: ready_eventfd_at_or_above(2048),
        events: 0,
    }));
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 5);
    manager.remove_subscriber(high).unwrap();

    let before = allocations();
    let mut dispatched = 0;
    for _ in 0..100 {
        dispatched += manager.run_with_timeout(1000).unwrap();
    }
    let during = allocations() - before;
    assert_eq!(dispatched, 400);
    assert_eq!(during, 0, "run allocated {during} times");

    // The next registration takes the room back, and still works.
    manager.add_subscriber(Box::new(AlwaysReady {
        fd: ready_eventfd(),
        events: 0,
    }));
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 5);
}
