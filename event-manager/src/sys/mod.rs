//! The crate's only `unsafe` code: thin wrappers over the system calls
//! that neither std nor vmm-sys-util wraps (signalfd and signal masks,
//! timerfd with absolute deadlines, `epoll_pwait2`). Each wrapper takes
//! and returns safe types; every `unsafe` block carries a `SAFETY:`
//! comment.

pub(crate) mod signalfd;
pub(crate) mod timerfd;

use std::os::fd::{AsRawFd, BorrowedFd};

/// Borrows the fd of `owner` for as long as `owner` is borrowed.
///
/// For types that own their fd but implement only `AsRawFd` (vmm-sys-util's
/// `Epoll` among them).
pub(crate) fn borrow_fd<T: AsRawFd>(owner: &T) -> BorrowedFd<'_> {
    // SAFETY: `owner` owns the fd and keeps it open until it is dropped,
    // which cannot happen while the returned borrow (tied to `owner`'s)
    // lives.
    unsafe { BorrowedFd::borrow_raw(owner.as_raw_fd()) }
}

use std::io;
use std::time::Duration;

use vmm_sys_util::epoll::{Epoll, EpollEvent};

/// `epoll_pwait2`: waits up to `timeout`, with nanosecond resolution, for
/// events of `epoll`, without changing the signal mask. `ENOSYS` on
/// kernels before 5.11 (and where a seccomp filter refuses the call with
/// it).
pub(crate) fn epoll_pwait2(
    epoll: &Epoll,
    ready: &mut [EpollEvent],
    timeout: Duration,
) -> io::Result<usize> {
    let timeout = libc::timespec {
        // Beyond 2^63 seconds: as good as forever.
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // The kernel takes at most INT_MAX events; the manager's ready list
    // never holds more (MAX_READY_EVENTS_CAPACITY), this only keeps the
    // cast honest.
    let capacity = libc::c_int::try_from(ready.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `epoll` is an open epoll fd for the whole call; `ready` is
    // writable for `capacity` events, and `EpollEvent` is a transparent
    // wrapper of `struct epoll_event`, so the kernel writes whole events
    // into it; `timeout` is a valid timespec that outlives the call; a null
    // sigmask (with size 0) leaves the mask alone.
    let count = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            epoll.as_raw_fd(),
            ready.as_mut_ptr().cast::<libc::epoll_event>(),
            capacity,
            &timeout as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    if count < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(count as usize)
}
