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

/// Heap bytes the process holds: allocated minus freed, by all threads.
pub fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Bytes per subscriber (with its one fd) and per additional fd of one
/// subscriber, for this crate and 0.4.2, in one situation.
pub struct Footprint {
    /// The situation: how many fds, and where their numbers lie.
    pub case: String,
    pub ours: Bytes,
    pub theirs: Bytes,
}

pub struct Bytes {
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

/// Heap bytes that `register` leaves allocated.
fn held_by(register: impl FnOnce()) -> f64 {
    let before = live_bytes();
    register();
    (live_bytes() - before) as f64
}

/// Measures one version with `raw` fds: `count` one-fd subscribers, and
/// one subscriber with all of them against one with a single fd.
macro_rules! bytes {
    ($krate:ident, $raw:expr) => {{
        use $krate::SubscriberOps;
        let raw: &[RawFd] = $raw;
        let count = raw.len() as f64;
        let mut managers = (
            $krate::EventManager::<Counter>::new().expect("manager"),
            $krate::EventManager::<Multi>::new().expect("manager"),
            $krate::EventManager::<Multi>::new().expect("manager"),
        );
        let per_subscriber = held_by(|| {
            for &fd in raw {
                managers.0.add_subscriber(Counter::new(fd, Handler::Count));
            }
        }) / count;
        let (all, one) = (
            Multi { fds: raw.to_vec() },
            Multi {
                fds: raw[..1].to_vec(),
            },
        );
        let with_all = held_by(|| {
            let _ = managers.1.add_subscriber(all);
        });
        // A second manager for the single fd: the first holds them all.
        let with_one = held_by(|| {
            let _ = managers.2.add_subscriber(one);
        });
        Bytes {
            per_subscriber,
            per_fd: (with_all - with_one) / (count - 1.0),
        }
    }};
}

/// Measures both versions with `count` fds, after `opened_before` other
/// fds have been opened (which pushes the measured fds' numbers up).
pub fn footprint(count: usize, opened_before: usize) -> Footprint {
    let _others = FdSet::idle(opened_before);
    let fds = FdSet::idle(count);
    let raw = fds.raw();
    let case = if opened_before == 0 {
        format!("{count} fds")
    } else {
        format!("{count} fds, {opened_before} other fds opened first")
    };
    Footprint {
        case,
        ours: bytes!(event_manager, &raw),
        theirs: bytes!(event_manager_04, &raw),
    }
}
