//! The eventfds a shape runs on, shared by every contender: each loop
//! registers the same fds in its own epoll instance, so that all of them
//! can be set up at once (and measured round by round) without going past
//! the open-file limit. This module and the counting allocator in
//! `memory.rs` hold the crate's `unsafe` code.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::io::{AsRawFd, RawFd};

use vmm_sys_util::eventfd::EventFd;

/// A set of eventfds, some of them ready.
pub struct FdSet {
    fds: Vec<EventFd>,
    ready: Vec<usize>,
}

impl FdSet {
    /// `count` eventfds; every `ready_every`-th one (from the first) is
    /// written once and never drained, so level-triggered loops see it on
    /// every wait.
    pub fn new(count: usize, ready_every: usize) -> Self {
        let fds: Vec<EventFd> = (0..count)
            .map(|_| EventFd::new(0).expect("eventfd"))
            .collect();
        let ready: Vec<usize> = (0..count).step_by(ready_every).collect();
        for &index in &ready {
            fds[index].write(1).expect("write eventfd");
        }
        FdSet { fds, ready }
    }

    /// `count` eventfds, none ready: for the drain shape, which writes them
    /// before each run.
    pub fn idle(count: usize) -> Self {
        let fds = (0..count)
            .map(|_| EventFd::new(0).expect("eventfd"))
            .collect();
        FdSet {
            fds,
            ready: Vec::new(),
        }
    }

    pub fn raw(&self) -> Vec<RawFd> {
        self.fds.iter().map(AsRawFd::as_raw_fd).collect()
    }

    pub fn ready_count(&self) -> usize {
        self.ready.len()
    }

    /// Makes every fd readable (the drain shape, before each run).
    pub fn write_all(&self) {
        for fd in &self.fds {
            fd.write(1).expect("write eventfd");
        }
    }

    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }
}

/// Reads an eventfd's counter, as every drain handler does.
pub fn drain(fd: RawFd) {
    let mut counter = 0u64;
    // SAFETY: `counter` is a valid, writable 8-byte buffer for the length
    // passed; `fd` is an eventfd of a live `FdSet` (a closed number only
    // makes read fail with EBADF, which the assert below reports).
    let read = unsafe { libc::read(fd, (&mut counter as *mut u64).cast(), 8) };
    assert_eq!(read, 8, "read eventfd {fd}");
}

/// A raw fd that calloop's `Generic` and polling can hold without owning it.
#[derive(Clone, Copy)]
pub struct SharedFd(RawFd);

impl SharedFd {
    /// # Safety
    /// `fd` must stay open for as long as the `SharedFd` (or a copy) is
    /// used: every one here is made from an fd of an `FdSet` that outlives
    /// the loop holding it (each shape drops its loops before its fds).
    pub unsafe fn new(fd: RawFd) -> Self {
        SharedFd(fd)
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `SharedFd::new`'s contract keeps the fd open while this
        // value is used.
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Registers `fd` with polling in level mode.
///
/// # Safety
/// polling requires the fd to be deleted from the poller before it is
/// closed: the caller deletes it (`Polling`'s `Drop`, `PollingChurn`'s
/// cycle) while the `FdSet` that owns it is alive.
pub unsafe fn polling_add_level(poller: &polling::Poller, fd: RawFd, key: usize) {
    // SAFETY: passed on to the caller, see above.
    unsafe { poller.add_with_mode(fd, polling::Event::readable(key), polling::PollMode::Level) }
        .expect("polling add");
}

/// Pins the calling thread to `cpu`; returns whether the kernel agreed.
/// Measurements that involve two threads pin them to two cores, so that
/// the scheduler's placement does not change what is measured from one run
/// to the next.
pub fn pin_current_thread(cpu: usize) -> bool {
    // SAFETY: `cpu_set_t` is plain data for which all-zero bytes are a
    // valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return false;
    }
    // SAFETY: `cpu` is below the set's capacity (checked above) and `set`
    // is a valid `cpu_set_t`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is the
    // calling thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}
