//! A global allocator that keeps, per thread, the number of heap bytes the
//! thread holds: bytes it allocated minus bytes it freed. The scale and
//! churn tests compare this figure before and after what they measure.
//!
//! Per thread, so that the test harness's own threads do not count. The
//! figure is exact for memory allocated and freed on the same thread,
//! which is all a manager does (it starts no thread). It counts the bytes
//! asked for, not the allocator's own overhead, and does not look at RSS.
//!
//! Printing from a test grows the harness's capture buffer on the test
//! thread, so a test takes all its figures first and prints them last.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct CountingHeap;

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    // `try_with` fails only while the thread's locals are being destroyed;
    // nothing is measured then.
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get() + bytes));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a thread-local `Cell` with a const initialiser, which never
// allocates, so the allocator does not call itself.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            add(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            add(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        new_ptr
    }
}

#[global_allocator]
static GLOBAL: CountingHeap = CountingHeap;

/// Heap bytes the calling thread holds: allocated minus freed by it.
pub fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

/// Heap bytes and open fds at one point of a test.
pub struct Snapshot {
    pub heap: isize,
    pub fds: usize,
}

impl Snapshot {
    pub fn take() -> Self {
        // Fds first: reading /proc frees all it allocates.
        let fds = event_manager_tests::open_fd_count();
        Snapshot {
            fds,
            heap: live_bytes(),
        }
    }
}
