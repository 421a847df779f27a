//! SIGINT and SIGTERM delivered through a signalfd.

use std::fs::File;
use std::io::{self, Read};
use std::mem;
use std::os::unix::io::{AsRawFd, FromRawFd, RawFd};

use vmm_sys_util::signal::create_sigset;

/// The signals that ask a program to stop.
const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// A signalfd that becomes readable when SIGINT or SIGTERM arrives, so an
/// event loop can stop between two events instead of dying in the middle
/// of one.
///
/// A signal reaches a signalfd only if every thread of the process has it
/// blocked; a thread that leaves it unblocked takes the default action,
/// which ends the process. [`StopSignals::new`] blocks both signals in the
/// calling thread, and threads inherit the mask of the thread that spawns
/// them: create it first thing in `main`, before any other thread starts.
///
/// ```
/// use event_manager_examples::StopSignals;
///
/// let mut signals = StopSignals::new().unwrap();
/// assert_eq!(signals.take().unwrap(), None); // nothing pending yet
/// event_manager_examples::send_signal_to_self(libc::SIGTERM).unwrap();
/// assert_eq!(signals.take().unwrap(), Some(libc::SIGTERM));
/// ```
#[derive(Debug)]
pub struct StopSignals {
    fd: File,
}

impl StopSignals {
    /// Blocks SIGINT and SIGTERM in the calling thread and opens a
    /// non-blocking signalfd for them.
    pub fn new() -> io::Result<Self> {
        let set = create_sigset(&STOP_SIGNALS).map_err(io::Error::from)?;
        // SAFETY: `set` is an initialized sigset_t that outlives the call;
        // the old mask is not asked for (null pointer).
        let status = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if status != 0 {
            return Err(io::Error::from_raw_os_error(status));
        }
        // SAFETY: with -1 the call creates a new fd and only reads `set`.
        let raw = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new, valid fd that nothing else owns.
        let fd = unsafe { File::from_raw_fd(raw) };
        Ok(StopSignals { fd })
    }

    /// The next pending stop signal (`libc::SIGINT` or `libc::SIGTERM`), or
    /// `None` if none is pending.
    pub fn take(&mut self) -> io::Result<Option<libc::c_int>> {
        let mut info = [0u8; mem::size_of::<libc::signalfd_siginfo>()];
        match self.fd.read(&mut info) {
            Ok(read) if read == info.len() => {
                // `ssi_signo` is the struct's first field, a u32.
                let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
                Ok(Some(signo as libc::c_int))
            }
            Ok(read) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a signalfd read returned {read} bytes"),
            )),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) => Err(err),
        }
    }
}

impl AsRawFd for StopSignals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Sends `signal` to this process, as `kill` from a shell would: a program
/// that decides to stop by itself can go through the same path as one
/// stopped from outside.
pub fn send_signal_to_self(signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(std::process::id())
        .map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: kill takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The name of a stop signal, for messages.
pub fn signal_name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
