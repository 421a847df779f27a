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
