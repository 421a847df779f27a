//! A non-blocking timerfd on the monotonic clock.
//!
//! vmm-sys-util's `TimerFd` blocks on read, which a level-triggered
//! handler that is called spuriously cannot afford; this one is created
//! with `TFD_NONBLOCK`, and reading it when nothing expired gives 0.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A timerfd on `CLOCK_MONOTONIC`, non-blocking and close-on-exec.
#[derive(Debug)]
pub(crate) struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    /// Creates a disarmed timerfd.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: plain system call with constant arguments; it touches no
        // memory of ours.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(TimerFd { fd })
    }

    /// Arms the timer to expire once, `delay_ns` nanoseconds from now.
    ///
    /// A delay of 0 would disarm the timer instead, so it is raised to
    /// 1 ns: a deadline that has already passed expires at once.
    pub(crate) fn arm_after(&self, delay_ns: u64) -> io::Result<()> {
        let delay_ns = delay_ns.max(1);
        self.set(libc::timespec {
            // At most u64::MAX / 10^9 (about 1.8e10), which fits `time_t`.
            tv_sec: (delay_ns / NANOS_PER_SEC) as libc::time_t,
            // Below 10^9, which fits every `c_long`.
            tv_nsec: (delay_ns % NANOS_PER_SEC) as libc::c_long,
        })
    }

    /// Disarms the timer: it does not expire until armed again.
    pub(crate) fn disarm(&self) -> io::Result<()> {
        self.set(libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        })
    }

    /// Sets a relative, non-repeating expiry (a zero `value` disarms).
    /// Setting the timer also resets its expiration count to 0, so the fd
    /// stops being readable.
    fn set(&self, value: libc::timespec) -> io::Result<()> {
        let new = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: the fd is open (we own it), `new` is a valid itimerspec
        // that lives across the call, and a null `old_value` is allowed.
        let result =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &new, std::ptr::null_mut()) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads and clears the number of expirations since the last read or
    /// arming; 0 when there were none (the read would block).
    pub(crate) fn take_expirations(&self) -> io::Result<u64> {
        let mut count: u64 = 0;
        loop {
            // SAFETY: the fd is open (we own it) and `count` is 8 writable
            // bytes that live across the call, the size a timerfd read needs.
            let read = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut count as *mut u64).cast::<libc::c_void>(),
                    std::mem::size_of::<u64>(),
                )
            };
            if read >= 0 {
                return Ok(count);
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => return Ok(0),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(err),
            }
        }
    }
}

impl AsFd for TimerFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits up to `timeout_ms` for the fd to become readable.
    fn readable_within(fd: &TimerFd, timeout_ms: i32) -> bool {
        let mut poll_fd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: test-only; one valid pollfd that outlives the call.
        let ready = unsafe { libc::poll(&mut poll_fd, 1, timeout_ms) };
        ready == 1
    }

    #[test]
    fn a_fresh_timer_reads_zero_without_blocking() {
        let fd = TimerFd::new().unwrap();
        assert_eq!(fd.take_expirations().unwrap(), 0);
        assert!(!readable_within(&fd, 0));
    }

    #[test]
    fn a_zero_delay_expires_instead_of_disarming() {
        let fd = TimerFd::new().unwrap();
        fd.arm_after(0).unwrap();
        assert!(readable_within(&fd, 5000));
        assert_eq!(fd.take_expirations().unwrap(), 1);
        // Read: no longer readable, and a second read gives 0.
        assert!(!readable_within(&fd, 0));
        assert_eq!(fd.take_expirations().unwrap(), 0);
    }

    #[test]
    fn arming_again_or_disarming_clears_a_pending_expiration() {
        let fd = TimerFd::new().unwrap();
        fd.arm_after(1).unwrap();
        assert!(readable_within(&fd, 5000));
        fd.arm_after(3_600 * NANOS_PER_SEC).unwrap();
        assert!(!readable_within(&fd, 0));
        fd.arm_after(1).unwrap();
        assert!(readable_within(&fd, 5000));
        fd.disarm().unwrap();
        assert!(!readable_within(&fd, 0));
        assert_eq!(fd.take_expirations().unwrap(), 0);
    }

    #[test]
    fn the_longest_delay_is_accepted() {
        let fd = TimerFd::new().unwrap();
        fd.arm_after(u64::MAX).unwrap();
        assert!(!readable_within(&fd, 0));
    }
}
