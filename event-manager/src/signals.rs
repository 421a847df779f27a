//! [`Signals`]: signals taken as events of an fd (a signalfd) rather than
//! by a handler that interrupts whatever the thread was doing, so an event
//! loop can react to SIGTERM between two events.

use std::fmt;
use std::fs::File;
use std::mem::offset_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use vmm_sys_util::errno::Error as Errno;

use crate::sys::signalfd::{self as sys, SignalSet, SIGINFO_SIZE};
use crate::{Error, Result};

/// Signals of this process received through an fd: blocked in the thread
/// that creates it, and read one at a time as [`SignalInfo`] records.
///
/// [`Signals::new`] blocks the given signals in the calling thread and
/// opens a non-blocking signalfd for them. The fd becomes readable
/// (`EventSet::IN`) while one of them is pending; [`read`](Signals::read)
/// takes the next one, or returns `None` when none is left. The type
/// implements `AsRawFd` and `AsFd`, so it can be registered with
/// [`Events::new`](crate::Events::new) or named in `#[event(fd = ...)]`.
///
/// ```
/// use event_manager::Signals;
///
/// // First thing in `main`, before any other thread exists.
/// let mut signals = Signals::new(&[libc::SIGTERM, libc::SIGINT]).unwrap();
/// assert_eq!(signals.read().unwrap(), None, "nothing pending yet");
///
/// Signals::send_to_process(libc::SIGTERM).unwrap();
/// let info = signals.read().unwrap().expect("SIGTERM is pending");
/// assert_eq!(info.signal, libc::SIGTERM);
/// assert_eq!(info.sender_pid, std::process::id());
/// assert_eq!(signals.read().unwrap(), None);
/// ```
///
/// # Threads and processes
///
/// The signal mask belongs to a thread, and the kernel hands a signal to a
/// thread that does not block it before a signalfd can see it:
///
/// - A signal sent to the process (`kill`, Ctrl-C in a terminal, a service
///   manager's SIGTERM) goes to any one thread that leaves it unblocked,
///   which then takes the signal's usual action (for SIGTERM and SIGINT:
///   the process ends). It waits for the signalfd only while *every* thread
///   blocks it. Threads inherit the mask of the thread that spawns them, so
///   create `Signals` in `main` before any thread starts (the loop's thread
///   and those of libraries included); a thread that already runs must
///   block the signals itself, for example with
///   `vmm_sys_util::signal::block_signal`.
/// - A signal sent to one thread (`pthread_kill`, `tgkill`) stays pending
///   for that thread. A read returns the signals pending for the process
///   and those pending for the *reading* thread, so read on the thread the
///   signal was sent to; other threads never see it.
/// - A standard signal (1 to 31) is pending at most once: several SIGUSR1
///   sent before a read give one record, carrying the first sender's
///   details. Real-time signals (`SIGRTMIN()` to `SIGRTMAX()`) queue, and
///   each one sent is read once.
/// - A handler installed with `sigaction` does not run while the signal is
///   blocked; the record goes to the signalfd instead.
/// - Child processes inherit the mask through `fork` and `exec`,
///   `std::process::Command` included: a child started while the signals
///   are blocked has them blocked too, and SIGTERM does not stop it until
///   it unblocks them.
///
/// One `Signals` per signal: two signalfds of the same signal compete,
/// and each record goes to whichever reads first.
///
/// # Testing
///
/// "Create it in `main` before any thread" cannot be done in a `#[test]`:
/// libtest runs each test on a thread it spawns, beside its own main
/// thread and the threads of the other tests, and none of those blocks
/// the signal. A signal sent to the process (by
/// [`send_to_process`](Signals::send_to_process) or `kill`) goes to one of
/// them, and for SIGTERM or SIGINT the whole test run ends. Two ways work:
///
/// - A test target without libtest. With `harness = false` the test file
///   has a `main` of its own, which creates `Signals` first, as a program
///   does. In `Cargo.toml`, for tests/signals.rs:
///
///   ```toml
///   [[test]]
///   name = "signals"
///   harness = false
///   ```
///
/// - In an ordinary test, send the signal to the test's own thread:
///   `pthread_kill(pthread_self(), ...)`, or `raise`, which signals the
///   calling thread. Only that thread may take it, and it blocks it, so it
///   waits for the signalfd. Read it on the same thread (run the manager
///   there), since a read sees only the process's signals and the reading
///   thread's own.
///
/// ```
/// use event_manager::Signals;
///
/// // In a #[test]: `new` blocks SIGTERM in the test's thread.
/// let mut signals = Signals::new(&[libc::SIGTERM]).unwrap();
/// // SAFETY: pthread_self() is the calling thread, which is alive.
/// assert_eq!(unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGTERM) }, 0);
/// let info = signals.read().unwrap().expect("pending for this thread");
/// assert_eq!((info.signal, info.code), (libc::SIGTERM, libc::SI_TKILL));
/// ```
///
/// A test that panics between the send and the read drops `Signals` with
/// the signal still pending, which then takes its usual action: for
/// SIGTERM, the test process ends before libtest can report the failure.
///
/// # Dropping
///
/// Dropping a `Signals` closes the fd and unblocks, in the *dropping*
/// thread, the signals that [`new`](Signals::new) blocked: those its
/// calling thread did not already block; a signal that thread blocked
/// before stays blocked. A signal still pending at that moment is then
/// delivered with its usual action (a pending SIGTERM ends the process),
/// so read until `None` first when that matters. Drop several in the
/// reverse order of their creation: a later one finds the signals of an
/// earlier one already blocked and leaves them so.
///
/// A mask belongs to a thread, so where the drop happens matters:
///
/// - On the thread that called `new`, its mask is what it was before.
/// - On a thread spawned after `new` (a loop's thread that got the
///   `Signals` inside a subscriber, say), that thread inherited the block
///   and loses it; the thread that called `new` keeps blocking the
///   signals until it unblocks them itself, for example with
///   `vmm_sys_util::signal::unblock_signal`.
/// - On a thread that blocked one of those signals for reasons of its
///   own, its block goes too: keep such a thread from dropping it.
///
/// # In an event loop
///
/// A VMM main loop that stops on SIGTERM or SIGINT, with the `derive`
/// feature (`#[event(fd = ...)]` accepts any field that implements
/// `AsRawFd`):
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, Signals, SubscriberOps};
///
/// #[derive(MutEventSubscriber)]
/// #[event(fd = signals)]
/// struct Vmm {
///     signals: Signals,
///     stop_signal: Option<i32>,
/// }
///
/// impl Vmm {
///     fn on_signals(&mut self, _events: Events, _ops: &mut EventOps) -> event_manager::Result<()> {
///         // Several may be pending: take them all while the fd is ready.
///         while let Some(info) = self.signals.read()? {
///             self.stop_signal = Some(info.signal);
///         }
///         Ok(())
///     }
/// }
///
/// let signals = Signals::new(&[libc::SIGTERM, libc::SIGINT]).expect("block the stop signals");
/// // Threads started from here on inherit the blocked signals.
/// let mut manager = EventManager::new().expect("create the epoll instance");
/// let vmm = manager.add_subscriber(Vmm { signals, stop_signal: None });
///
/// Signals::send_to_process(libc::SIGINT).unwrap(); // as Ctrl-C would
/// while manager.subscriber_mut(vmm).unwrap().stop_signal.is_none() {
///     manager.run().unwrap();
/// }
/// assert_eq!(manager.subscriber_mut(vmm).unwrap().stop_signal, Some(libc::SIGINT));
/// ```
pub struct Signals {
    signalfd: File,
    /// The signals given to `new`.
    watched: SignalSet,
    /// Those of `watched` that the thread did not block before `new`: the
    /// ones `drop` unblocks.
    blocked_by_new: SignalSet,
}

impl Signals {
    /// Blocks `signals` in the calling thread and opens a non-blocking,
    /// close-on-exec signalfd for them.
    ///
    /// The list may repeat a signal. An empty list is accepted: it changes
    /// no mask and gives an fd that never becomes readable.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidSignal`] with the first number that cannot be
    ///   received through a signalfd: 0 or negative, above the highest
    ///   signal (64 on most architectures), `SIGKILL` or `SIGSTOP` (which
    ///   cannot be blocked), or a number the C library keeps for its own
    ///   use (32 and 33 with glibc). The mask is left unchanged.
    /// - [`Error::SignalFd`] when the mask cannot be changed or the kernel
    ///   refuses the signalfd (`EMFILE` when the process is out of fds).
    ///   The mask is restored.
    ///
    /// ```
    /// use event_manager::{Error, Signals};
    ///
    /// assert_eq!(Signals::new(&[libc::SIGKILL]).err(), Some(Error::InvalidSignal(libc::SIGKILL)));
    /// assert_eq!(Signals::new(&[libc::SIGUSR1, 0]).err(), Some(Error::InvalidSignal(0)));
    ///
    /// // Listing a signal twice is harmless.
    /// let signals = Signals::new(&[libc::SIGUSR1, libc::SIGUSR2, libc::SIGUSR1]).unwrap();
    /// ```
    pub fn new(signals: &[i32]) -> Result<Signals> {
        let mut watched = SignalSet::empty();
        for &signal in signals {
            // The kernel drops these two from a mask and a signalfd without
            // a word; refusing them tells the caller they will never come.
            if signal == libc::SIGKILL || signal == libc::SIGSTOP || !watched.insert(signal) {
                return Err(Error::InvalidSignal(signal));
            }
        }

        let before = sys::block(&watched).map_err(|error| Error::SignalFd(Errno::from(error)))?;
        let mut blocked_by_new = SignalSet::empty();
        for signal in signals.iter().copied() {
            if !before.contains(signal) {
                blocked_by_new.insert(signal);
            }
        }

        match sys::signalfd(&watched) {
            Ok(signalfd) => Ok(Signals {
                signalfd,
                watched,
                blocked_by_new,
            }),
            Err(error) => {
                // Nothing is pending for a signalfd that never existed
                // that was not pending before: putting the mask back is
                // all there is to undo. It cannot fail with a valid `how`.
                let _ = sys::unblock(&blocked_by_new);
                Err(Error::SignalFd(Errno::from(error)))
            }
        }
    }

    /// The next pending signal, or `None` when none of the watched signals
    /// is pending for the process or for the calling thread. Never waits.
    ///
    /// # Errors
    ///
    /// [`Error::SignalFd`] if the read fails; not expected for an open
    /// signalfd.
    ///
    /// ```
    /// use event_manager::Signals;
    ///
    /// let mut signals = Signals::new(&[libc::SIGUSR1]).unwrap();
    /// assert_eq!(signals.read().unwrap(), None); // returns at once
    ///
    /// // Standard signals coalesce: three sent before a read give one.
    /// for _ in 0..3 {
    ///     Signals::send_to_process(libc::SIGUSR1).unwrap();
    /// }
    /// assert_eq!(signals.read().unwrap().map(|info| info.signal), Some(libc::SIGUSR1));
    /// assert_eq!(signals.read().unwrap(), None);
    /// ```
    pub fn read(&mut self) -> Result<Option<SignalInfo>> {
        let record = sys::read_siginfo(&self.signalfd)
            .map_err(|error| Error::SignalFd(Errno::from(error)))?;
        Ok(record.map(|record| SignalInfo::decode(&record)))
    }

    /// Sends `signal` to this process, as `kill <pid>` from a shell would
    /// (`kill(getpid(), signal)`): a program that decides to stop can go
    /// through the path a stop from outside takes, and tests can raise
    /// signals without `unsafe`.
    ///
    /// The signal goes to the process, not to the calling thread: see the
    /// thread rules on [`Signals`]. Any thread that does not block it may
    /// take its usual action, which for most signals ends the process.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignal`] for a number that is not a signal,
    /// including 0 (which `kill` takes as "check only" and would send
    /// nothing); [`Error::SignalFd`] if `kill` fails otherwise.
    ///
    /// ```
    /// use event_manager::{Error, Signals};
    ///
    /// let mut signals = Signals::new(&[libc::SIGUSR2]).unwrap();
    /// Signals::send_to_process(libc::SIGUSR2).unwrap();
    /// assert_eq!(signals.read().unwrap().unwrap().signal, libc::SIGUSR2);
    ///
    /// assert_eq!(Signals::send_to_process(0), Err(Error::InvalidSignal(0)));
    /// assert_eq!(Signals::send_to_process(1000), Err(Error::InvalidSignal(1000)));
    /// ```
    pub fn send_to_process(signal: i32) -> Result<()> {
        if signal == 0 {
            return Err(Error::InvalidSignal(signal));
        }
        sys::send_to_process(signal).map_err(|error| match error.raw_os_error() {
            Some(libc::EINVAL) => Error::InvalidSignal(signal),
            _ => Error::SignalFd(Errno::from(error)),
        })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // From here on a pending or arriving signal takes its usual
        // action, as documented. pthread_sigmask only fails for a bad
        // `how`, so there is no error to lose.
        let _ = sys::unblock(&self.blocked_by_new);
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("fd", &self.signalfd.as_raw_fd())
            .field("signals", &self.watched)
            .field("unblocked_on_drop", &self.blocked_by_new)
            .finish()
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.signalfd.as_raw_fd()
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.signalfd.as_fd()
    }
}

/// One received signal: what [`Signals::read`] returns.
///
/// The fields are those of the kernel's `signalfd_siginfo` that say which
/// signal came, who sent it and what it carries. A field the signal does
/// not use is 0. More may be added, so the type is `#[non_exhaustive]`.
///
/// ```
/// use event_manager::Signals;
///
/// let mut signals = Signals::new(&[libc::SIGUSR1]).unwrap();
/// Signals::send_to_process(libc::SIGUSR1).unwrap();
/// let info = signals.read().unwrap().unwrap();
/// assert_eq!(info.signal, libc::SIGUSR1);
/// assert_eq!(info.code, libc::SI_USER); // sent with kill
/// assert_eq!(info.sender_pid, std::process::id());
/// assert_eq!((info.value, info.status), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalInfo {
    /// The signal number, one of those given to [`Signals::new`].
    pub signal: i32,
    /// Why the signal was sent (`si_code`): `libc::SI_USER` from `kill`,
    /// `libc::SI_QUEUE` from `sigqueue`, `libc::SI_TKILL` from `tgkill`
    /// or `pthread_kill`, `libc::SI_KERNEL` from the kernel; for SIGCHLD,
    /// what happened to the child (`libc::CLD_EXITED`, `libc::CLD_KILLED`,
    /// ...).
    pub code: i32,
    /// The process id of the sender (for SIGCHLD, of the child); 0 when
    /// the kernel raised it.
    pub sender_pid: u32,
    /// The real user id of the sender.
    pub sender_uid: u32,
    /// The integer a sender attached with `sigqueue` (or a POSIX timer's
    /// `sigev_value`); 0 for a signal sent with `kill`.
    pub value: i32,
    /// For SIGCHLD: the child's exit status when it exited
    /// (`code == libc::CLD_EXITED`), or the number of the signal that
    /// stopped or ended it otherwise.
    pub status: i32,
}

impl SignalInfo {
    /// Reads the fields at their offsets in `signalfd_siginfo`, taken from
    /// libc's definition of the struct; decoding bytes needs no `unsafe`.
    fn decode(record: &[u8; SIGINFO_SIZE]) -> SignalInfo {
        let field = |offset: usize| -> [u8; 4] {
            // Every offset below is that of a 4-byte field of a struct of
            // SIGINFO_SIZE bytes, so the four indexes are in bounds.
            [
                record[offset],
                record[offset + 1],
                record[offset + 2],
                record[offset + 3],
            ]
        };
        let signed = |offset| i32::from_ne_bytes(field(offset));
        let unsigned = |offset| u32::from_ne_bytes(field(offset));
        SignalInfo {
            // ssi_signo is unsigned, but signal numbers are small positive
            // ints everywhere else (libc::SIGTERM is an i32).
            signal: unsigned(offset_of!(libc::signalfd_siginfo, ssi_signo)) as i32,
            code: signed(offset_of!(libc::signalfd_siginfo, ssi_code)),
            sender_pid: unsigned(offset_of!(libc::signalfd_siginfo, ssi_pid)),
            sender_uid: unsigned(offset_of!(libc::signalfd_siginfo, ssi_uid)),
            value: signed(offset_of!(libc::signalfd_siginfo, ssi_int)),
            status: signed(offset_of!(libc::signalfd_siginfo, ssi_status)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Unit tests run on the threads of one test process, where other
    //! threads leave every signal unblocked. So each test signals only its
    //! own thread, and with SIGWINCH or SIGURG, whose usual action is to
    //! be ignored: a test that fails with one pending cannot end the
    //! process. Process-directed signals are tested in tests/tests/signals.rs.

    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn thread_blocks(signal: i32) -> bool {
        sys::thread_mask().unwrap().contains(signal)
    }

    #[test]
    fn refuses_what_a_signalfd_cannot_receive_and_leaves_the_mask_alone() {
        let before = format!("{:?}", sys::thread_mask().unwrap());
        for signal in [
            libc::SIGKILL,
            libc::SIGSTOP,
            0,
            -1,
            65,
            129,
            i32::MAX,
            i32::MIN,
        ] {
            assert_eq!(
                Signals::new(&[signal]).err(),
                Some(Error::InvalidSignal(signal))
            );
            // A valid signal before the bad one is not blocked either.
            assert_eq!(
                Signals::new(&[libc::SIGWINCH, signal]).err(),
                Some(Error::InvalidSignal(signal))
            );
        }
        // glibc keeps these two for its threads and refuses them.
        if cfg!(target_env = "gnu") {
            for signal in [32, 33] {
                assert_eq!(
                    Signals::new(&[signal]).err(),
                    Some(Error::InvalidSignal(signal))
                );
            }
        }
        assert_eq!(format!("{:?}", sys::thread_mask().unwrap()), before);
        assert!(!thread_blocks(libc::SIGWINCH));
    }

    #[test]
    fn blocks_in_the_calling_thread_and_drop_unblocks_only_what_it_blocked() {
        assert!(!thread_blocks(libc::SIGWINCH) && !thread_blocks(libc::SIGURG));
        let earlier = Signals::new(&[libc::SIGURG]).unwrap();
        let signals = Signals::new(&[libc::SIGWINCH, libc::SIGURG]).unwrap();
        assert!(thread_blocks(libc::SIGWINCH) && thread_blocks(libc::SIGURG));

        // A thread spawned after `new` starts with the same mask.
        let spawned_after = std::thread::spawn(|| thread_blocks(libc::SIGWINCH));
        assert!(spawned_after.join().unwrap());

        drop(signals);
        assert!(!thread_blocks(libc::SIGWINCH));
        assert!(thread_blocks(libc::SIGURG), "blocked before, by `earlier`");
        drop(earlier);
        assert!(!thread_blocks(libc::SIGURG));
    }

    #[test]
    fn a_thread_directed_signal_arrives_with_its_sender() {
        let mut signals = Signals::new(&[libc::SIGWINCH]).unwrap();
        assert_eq!(signals.read(), Ok(None));
        sys::send_to_this_thread(libc::SIGWINCH).unwrap();
        let info = signals.read().unwrap().expect("SIGWINCH is pending");
        assert_eq!(info.signal, libc::SIGWINCH);
        assert_eq!(info.code, libc::SI_TKILL);
        assert_eq!(info.sender_pid, std::process::id());
        // /proc/self belongs to the process's user.
        assert_eq!(
            info.sender_uid,
            std::fs::metadata("/proc/self").unwrap().uid()
        );
        assert_eq!((info.value, info.status), (0, 0));
        assert_eq!(signals.read(), Ok(None));
    }

    #[test]
    fn standard_signals_coalesce_and_distinct_ones_do_not() {
        let mut signals = Signals::new(&[libc::SIGWINCH, libc::SIGURG]).unwrap();
        for _ in 0..3 {
            sys::send_to_this_thread(libc::SIGWINCH).unwrap();
        }
        sys::send_to_this_thread(libc::SIGURG).unwrap();
        let mut received = Vec::new();
        while let Some(info) = signals.read().unwrap() {
            received.push(info.signal);
        }
        received.sort_unstable();
        let mut expected = vec![libc::SIGWINCH, libc::SIGURG];
        expected.sort_unstable();
        assert_eq!(received, expected);
    }

    #[test]
    fn another_threads_signalfd_does_not_see_this_threads_signal() {
        let mut signals = Signals::new(&[libc::SIGWINCH]).unwrap();
        std::thread::spawn(|| {
            // Inherits the block, so the signal stays pending for it.
            sys::send_to_this_thread(libc::SIGWINCH).unwrap();
            let mut own = Signals::new(&[libc::SIGWINCH]).unwrap();
            assert_eq!(
                own.read().unwrap().map(|info| info.signal),
                Some(libc::SIGWINCH)
            );
        })
        .join()
        .unwrap();
        assert_eq!(signals.read(), Ok(None));
    }

    #[test]
    fn an_empty_list_is_an_fd_that_never_becomes_readable() {
        let before = format!("{:?}", sys::thread_mask().unwrap());
        let mut signals = Signals::new(&[]).unwrap();
        assert_eq!(format!("{:?}", sys::thread_mask().unwrap()), before);
        assert_eq!(signals.read(), Ok(None));
    }

    #[test]
    fn the_fd_is_nonblocking_and_close_on_exec() {
        let signals = Signals::new(&[libc::SIGWINCH]).unwrap();
        assert_eq!(signals.as_raw_fd(), signals.as_fd().as_raw_fd());
        let fdinfo =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", signals.as_raw_fd())).unwrap();
        let flags = fdinfo
            .lines()
            .find_map(|line| line.strip_prefix("flags:"))
            .map(|flags| i32::from_str_radix(flags.trim(), 8).unwrap())
            .unwrap();
        assert_ne!(flags & libc::O_NONBLOCK, 0);
        assert_ne!(flags & libc::O_CLOEXEC, 0);
        assert!(fdinfo.contains("sigmask:"), "a signalfd:\n{fdinfo}");
    }

    #[test]
    fn debug_lists_the_signals() {
        let earlier = Signals::new(&[libc::SIGURG]).unwrap();
        let signals = Signals::new(&[libc::SIGWINCH, libc::SIGURG]).unwrap();
        let (low, high) = if libc::SIGWINCH < libc::SIGURG {
            (libc::SIGWINCH, libc::SIGURG)
        } else {
            (libc::SIGURG, libc::SIGWINCH)
        };
        assert_eq!(
            format!("{signals:?}"),
            format!(
                "Signals {{ fd: {}, signals: {{{low}, {high}}}, unblocked_on_drop: {{{}}} }}",
                signals.as_raw_fd(),
                libc::SIGWINCH
            )
        );
        drop(signals);
        drop(earlier);
    }

    #[test]
    fn send_to_process_refuses_what_is_not_a_signal() {
        // Not 65: a signal number on MIPS, which would really be sent.
        for signal in [0, -1, 129, i32::MAX, i32::MIN] {
            assert_eq!(
                Signals::send_to_process(signal),
                Err(Error::InvalidSignal(signal))
            );
        }
    }
}
