//! `O_NONBLOCK` for fds whose wrappers do not offer it.

use std::io;
use std::os::unix::io::AsRawFd;

/// Puts `fd` in non-blocking mode, so a read that finds nothing returns
/// `WouldBlock` instead of waiting. `vmm_sys_util::timerfd::TimerFd` has no
/// such option: without it, a handler that reads a timer which was re-armed
/// (which clears its expirations) after epoll reported it would block the
/// whole loop.
///
/// ```
/// use vmm_sys_util::timerfd::TimerFd;
///
/// let mut timer = TimerFd::new().unwrap();
/// event_manager_examples::set_nonblocking(&timer).unwrap();
/// // Not armed: a blocking read would wait forever.
/// assert_eq!(timer.wait().unwrap_err().errno(), libc::EAGAIN);
/// ```
pub fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: F_GETFL takes no argument and touches no memory of ours; an
    // fd that is not open is reported as EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: F_SETFL takes an int argument and touches no memory of ours.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
