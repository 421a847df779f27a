//! Heap bytes a manager holds per subscriber and per registered fd,
//! counted by a global allocator that tracks live bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicIsize, Ordering};

use vmm_sys_util::epoll::EventSet;

use crate::dispatch::{Counter, Handler};
use crate::fds::FdSet;

pub struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; the counter has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as received; see the impl's comment.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as received; see the impl's comment.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded as received; see the impl's comment.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Bytes per subscriber (with its one fd) and per additional fd of one
/// subscriber, for one implementation.
pub struct Footprint {
    pub name: &'static str,
    pub per_subscriber: f64,
    pub per_fd: f64,
}

/// A subscriber that registers many fds.
struct Multi {
    fds: Vec<RawFd>,
}

impl event_manager::MutEventSubscriber for Multi {
    fn init(&mut self, ops: &mut event_manager::EventOps) {
        for &fd in &self.fds {
            ops.add(event_manager::Events::new_raw(fd, EventSet::IN))
                .expect("register");
        }
    }

    fn process(&mut self, _events: event_manager::Events, _ops: &mut event_manager::EventOps) {}
}

impl event_manager_04::MutEventSubscriber for Multi {
    fn init(&mut self, ops: &mut event_manager_04::EventOps) {
        for &fd in &self.fds {
            ops.add(event_manager_04::Events::new_raw(fd, EventSet::IN))
                .expect("register");
        }
    }

    fn process(
        &mut self,
        _events: event_manager_04::Events,
        _ops: &mut event_manager_04::EventOps,
    ) {
    }
}

/// Measures both versions of event-manager with `count` fds. Run it
/// before the other shapes open their fds, so that fd numbers are low, as
/// in a program that starts up.
pub fn footprints(count: usize) -> Vec<Footprint> {
    let fds = FdSet::idle(count);
    let raw = fds.raw();
    vec![
        Footprint {
            name: "event-manager (this workspace)",
            per_subscriber: {
                use event_manager::SubscriberOps;
                let mut manager = event_manager::EventManager::<Counter>::new().expect("manager");
                let before = live_bytes();
                for &fd in &raw {
                    manager.add_subscriber(Counter::new(fd, Handler::Count));
                }
                (live_bytes() - before) as f64 / count as f64
            },
            per_fd: {
                use event_manager::SubscriberOps;
                let mut manager = event_manager::EventManager::<Multi>::new().expect("manager");
                let multi = Multi { fds: raw.clone() };
                let before = live_bytes();
                manager.add_subscriber(multi);
                (live_bytes() - before) as f64 / count as f64
            },
        },
        Footprint {
            name: "event-manager 0.4.2",
            per_subscriber: {
                use event_manager_04::SubscriberOps;
                let mut manager =
                    event_manager_04::EventManager::<Counter>::new().expect("manager");
                let before = live_bytes();
                for &fd in &raw {
                    manager.add_subscriber(Counter::new(fd, Handler::Count));
                }
                (live_bytes() - before) as f64 / count as f64
            },
            per_fd: {
                use event_manager_04::SubscriberOps;
                let mut manager = event_manager_04::EventManager::<Multi>::new().expect("manager");
                let multi = Multi { fds: raw.clone() };
                let before = live_bytes();
                manager.add_subscriber(multi);
                (live_bytes() - before) as f64 / count as f64
            },
        },
    ]
}
