//! Signal sets, the calling thread's signal mask, signalfd, and sending a
//! signal to this process, for [`Signals`](crate::Signals).
//!
//! Errors come back as `io::Error` carrying the errno; the caller turns
//! them into the crate's error.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::mem::{self, MaybeUninit};
use std::os::fd::FromRawFd;

/// The size of the record a signalfd read returns (`signalfd_siginfo`).
pub(crate) const SIGINFO_SIZE: usize = mem::size_of::<libc::signalfd_siginfo>();

/// The highest number `members` asks about: Linux has 64 signals on most
/// architectures and 128 on MIPS; the C library answers "not a member"
/// beyond its own limit, so asking up to 128 is right everywhere.
const SIGNAL_NUMBER_CEILING: i32 = 128;

/// A `sigset_t`, always initialized.
#[derive(Clone, Copy)]
pub(crate) struct SignalSet(libc::sigset_t);

impl SignalSet {
    /// The set without any signal.
    pub(crate) fn empty() -> SignalSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `set` is writable memory for one sigset_t; sigemptyset
        // cannot fail for a valid pointer and writes the whole set.
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        // SAFETY: sigemptyset initialized it just above.
        SignalSet(unsafe { set.assume_init() })
    }

    /// Adds `signal`. False, with the set unchanged, when the C library
    /// refuses the number: not a signal, or one it keeps for its own
    /// threads (glibc's 32 and 33).
    pub(crate) fn insert(&mut self, signal: i32) -> bool {
        // SAFETY: `self.0` is an initialized sigset_t we own mutably.
        unsafe { libc::sigaddset(&mut self.0, signal) == 0 }
    }

    /// Whether `signal` is in the set (false for a number that is not a
    /// signal).
    pub(crate) fn contains(&self, signal: i32) -> bool {
        // SAFETY: `self.0` is an initialized sigset_t; sigismember only
        // reads it.
        unsafe { libc::sigismember(&self.0, signal) == 1 }
    }

    /// The signal numbers in the set, in increasing order.
    pub(crate) fn members(&self) -> impl Iterator<Item = i32> + '_ {
        (1..=SIGNAL_NUMBER_CEILING).filter(move |&signal| self.contains(signal))
    }
}

impl fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.members()).finish()
    }
}

/// Calls pthread_sigmask with `how` and `set`, and returns the mask the
/// thread had before the call.
fn change_thread_mask(how: libc::c_int, set: Option<&SignalSet>) -> io::Result<SignalSet> {
    let mut previous = SignalSet::empty();
    let set_pointer = set.map_or(std::ptr::null(), |set| &set.0 as *const libc::sigset_t);
    // SAFETY: `set_pointer` is null or points to an initialized sigset_t
    // that outlives the call; `previous` is a writable sigset_t. The call
    // changes only the calling thread's mask.
    let status = unsafe { libc::pthread_sigmask(how, set_pointer, &mut previous.0) };
    // pthread functions return the error instead of setting errno.
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status));
    }
    Ok(previous)
}

/// The calling thread's signal mask (the signals it blocks).
#[cfg(test)]
pub(crate) fn thread_mask() -> io::Result<SignalSet> {
    // With no set, `how` is ignored and the mask is only read.
    change_thread_mask(libc::SIG_BLOCK, None)
}

/// Adds `set` to the calling thread's mask; returns the mask from before,
/// read and changed in one call so that nothing can come between.
pub(crate) fn block(set: &SignalSet) -> io::Result<SignalSet> {
    change_thread_mask(libc::SIG_BLOCK, Some(set))
}

/// Removes `set` from the calling thread's mask.
pub(crate) fn unblock(set: &SignalSet) -> io::Result<()> {
    change_thread_mask(libc::SIG_UNBLOCK, Some(set)).map(drop)
}

/// A new non-blocking, close-on-exec signalfd for `set`, as a `File` so
/// that reads need no `unsafe`.
pub(crate) fn signalfd(set: &SignalSet) -> io::Result<File> {
    // SAFETY: -1 asks for a new fd; `set` is an initialized sigset_t that
    // the kernel only reads during the call.
    let raw = unsafe { libc::signalfd(-1, &set.0, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is an open fd the call just created, owned by nothing
    // else; the File closes it.
    Ok(unsafe { File::from_raw_fd(raw) })
}

/// Reads one `signalfd_siginfo` from `signalfd` as raw bytes; `None` when
/// no signal is pending (the fd is non-blocking).
pub(crate) fn read_siginfo(mut signalfd: &File) -> io::Result<Option<[u8; SIGINFO_SIZE]>> {
    let mut record = [0u8; SIGINFO_SIZE];
    loop {
        match signalfd.read(&mut record) {
            Ok(read) if read == SIGINFO_SIZE => return Ok(Some(record)),
            // The kernel hands out whole records only; anything else
            // means the fd is not a signalfd.
            Ok(_) => return Err(io::Error::from_raw_os_error(libc::EIO)),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            // A handler of another signal ran during the read: try again.
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Sends `signal` to this process (`kill(getpid(), signal)`): any thread
/// that does not block it may receive it.
pub(crate) fn send_to_process(signal: i32) -> io::Result<()> {
    // SAFETY: getpid and kill take and return plain integers and touch no
    // memory of ours.
    let status = unsafe { libc::kill(libc::getpid(), signal) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to the calling thread only (`pthread_kill(pthread_self(),
/// signal)`), so a test can signal itself while other test threads leave
/// the signal unblocked.
#[cfg(test)]
pub(crate) fn send_to_this_thread(signal: i32) -> io::Result<()> {
    // SAFETY: pthread_self is always the valid, live calling thread;
    // pthread_kill takes plain values and touches no memory of ours.
    let status = unsafe { libc::pthread_kill(libc::pthread_self(), signal) };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status));
    }
    Ok(())
}
