//! Running the loop as a program does: until something stops it
//! ([`StopHandle`], [`EventManager::run_until_stopped`]), or for a
//! timeout finer than a millisecond ([`EventManager::run_with_duration`]).

use std::io;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::errno::Error as Errno;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::registry::STOP_KEY;
use crate::{Error, EventManager, MutEventSubscriber, Result};

/// What a manager shares with its stop handles.
#[derive(Debug)]
struct StopState {
    /// `stop` was called and no `run_until_stopped` has returned for it.
    requested: AtomicBool,
    /// The manager still exists.
    alive: AtomicBool,
    /// Written by `stop` to wake a blocked wait. Registered edge-triggered:
    /// a write that lands after the request was taken wakes one wait for
    /// nothing, instead of every wait until someone reads it.
    wakeup: EventFd,
}

/// The manager's end of its stop state: made by the first
/// [`EventManager::stop_handle`], told when the manager goes.
#[derive(Debug, Default)]
pub(crate) struct StopSlot(Option<Arc<StopState>>);

impl Drop for StopSlot {
    fn drop(&mut self) {
        if let Some(state) = &self.0 {
            state.alive.store(false, Ordering::Release);
        }
    }
}

/// Stops an [`EventManager`]'s [`run_until_stopped`](EventManager::run_until_stopped)
/// from any thread, from a subscriber's `process`, or from a signal
/// handler.
///
/// It is `Send + Sync + Clone`: clone it into subscribers and threads, or
/// keep one in a `static` for a signal handler.
/// [`stop`](Self::stop) is async-signal-safe: an atomic load and store
/// and one `write(2)` to an eventfd, no lock and no allocation.
///
/// ```
/// use std::thread;
/// use event_manager::{EventManager, MutEventSubscriber};
///
/// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
/// let stop = manager.stop_handle().unwrap();
/// let other = thread::spawn(move || stop.stop().unwrap());
/// manager.run_until_stopped().unwrap(); // blocked, no fd registered, until the stop
/// other.join().unwrap();
/// ```
///
/// # From a signal handler
///
/// A program that takes SIGTERM with a `sigaction` handler rather than
/// through [`Signals`](crate::Signals) keeps the handle in a `static`, set
/// before the handler is installed. A handler may only do what is
/// async-signal-safe. `stop` is (see above), and so must be the way to
/// the handle: a `Mutex` is not (the signal may arrive while its own
/// thread holds the lock), and std makes no such promise for `OnceLock`.
/// An `AtomicPtr` to a handle that is never freed is: one lock-free load.
/// The signal is handled on one of the threads that do not block it. On
/// the loop's thread it interrupts the wait, after which
/// `run_until_stopped` finds the stop and returns; on another, `stop`
/// wakes the wait.
///
/// ```
/// use std::ptr;
/// use std::sync::atomic::{AtomicPtr, Ordering};
/// use std::thread;
/// use event_manager::{EventManager, MutEventSubscriber, Signals, StopHandle};
///
/// /// Null until set; the handle it points to is never freed.
/// static STOP: AtomicPtr<StopHandle> = AtomicPtr::new(ptr::null_mut());
///
/// extern "C" fn on_sigterm(_signal: libc::c_int) {
///     // A handler leaves errno as it found it, for the code it interrupted.
///     // SAFETY: __errno_location() is this thread's errno.
///     let errno = unsafe { *libc::__errno_location() };
///     let stop = STOP.load(Ordering::Acquire);
///     if !stop.is_null() {
///         // SAFETY: it came from Box::into_raw and is never freed. The
///         // result is ignored: a handler must not panic.
///         let _ = unsafe { &*stop }.stop();
///     }
///     // SAFETY: as above.
///     unsafe { *libc::__errno_location() = errno };
/// }
///
/// # // A test runner may start this with SIGTERM blocked (children
/// # // inherit the mask): the signal would then stay pending.
/// # unsafe {
/// #     let mut set: libc::sigset_t = std::mem::zeroed();
/// #     libc::sigemptyset(&mut set);
/// #     libc::sigaddset(&mut set, libc::SIGTERM);
/// #     libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
/// # }
/// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
/// let stop = Box::new(manager.stop_handle().unwrap());
/// STOP.store(Box::into_raw(stop), Ordering::Release);
/// // SAFETY: `action` is a valid sigaction (no flags, an empty mask), and
/// // the handler calls only async-signal-safe code.
/// unsafe {
///     let mut action: libc::sigaction = std::mem::zeroed();
///     action.sa_sigaction = on_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t;
///     libc::sigemptyset(&mut action.sa_mask);
///     assert_eq!(libc::sigaction(libc::SIGTERM, &action, ptr::null_mut()), 0);
/// }
///
/// // As `kill -TERM <pid>` would: the run returns whether the signal
/// // comes before its wait or during it.
/// let sender = thread::spawn(|| Signals::send_to_process(libc::SIGTERM));
/// manager.run_until_stopped().unwrap();
/// sender.join().unwrap().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct StopHandle {
    state: Arc<StopState>,
}

impl StopHandle {
    /// Asks the manager to stop: its [`run_until_stopped`](EventManager::run_until_stopped)
    /// finishes dispatching the batch it is in (every event of the same
    /// `epoll_wait`, also those after the one whose handler called `stop`)
    /// and returns. A manager blocked in a wait wakes up at once.
    ///
    /// A stop asked for while no `run_until_stopped` is running is kept: the
    /// next one returns before waiting, without dispatching. Asking again
    /// before it is taken changes nothing, so stopping twice is the same as
    /// stopping once. A `run` or `run_with_timeout` blocked in a wait wakes
    /// up too (returning `Ok(0)` if nothing else was ready), but does not
    /// take the stop.
    ///
    /// Fails with [`Error::ManagerDropped`] once the manager is gone, and
    /// with [`Error::EventFd`] if the wake-up cannot be written (not for a
    /// full counter: the loop is awake then anyway).
    ///
    /// Async-signal-safe: it may be called from a signal handler.
    ///
    /// ```
    /// use event_manager::{Error, EventManager, MutEventSubscriber};
    ///
    /// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    /// let stop = manager.stop_handle().unwrap();
    /// stop.stop().unwrap();
    /// stop.stop().unwrap(); // the same request
    /// manager.run_until_stopped().unwrap(); // returns at once
    /// drop(manager);
    /// assert_eq!(stop.stop(), Err(Error::ManagerDropped));
    /// ```
    pub fn stop(&self) -> Result<()> {
        if !self.state.alive.load(Ordering::Acquire) {
            return Err(Error::ManagerDropped);
        }
        self.state.requested.store(true, Ordering::Release);
        match self.state.wakeup.write(1) {
            Ok(()) => Ok(()),
            Err(err) if err.raw_os_error() == Some(libc::EAGAIN) => Ok(()),
            Err(err) => Err(Error::EventFd(Errno::from(err))),
        }
    }

    /// Whether the manager still exists.
    ///
    /// ```
    /// # use event_manager::{EventManager, MutEventSubscriber};
    /// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    /// let stop = manager.stop_handle().unwrap();
    /// assert!(stop.is_manager_alive());
    /// drop(manager);
    /// assert!(!stop.is_manager_alive());
    /// ```
    pub fn is_manager_alive(&self) -> bool {
        self.state.alive.load(Ordering::Acquire)
    }
}

/// Whether `epoll_pwait2` works here: not yet known, yes, or no (the
/// kernel is older than 5.11, or a seccomp filter refuses it). Known once
/// per process; tests set it to take either path.
static FINE_WAITS: AtomicU8 = AtomicU8::new(FINE_WAITS_UNKNOWN);
const FINE_WAITS_UNKNOWN: u8 = 0;
const FINE_WAITS_YES: u8 = 1;
const FINE_WAITS_NO: u8 = 2;

/// `timeout` in whole milliseconds for `epoll_wait`, rounded up so that
/// the wait is never shorter than asked (a sub-millisecond timeout rounded
/// down to 0 would turn a caller's loop into a busy loop), and capped at
/// `i32::MAX` ms (24.8 days).
fn millis_rounded_up(timeout: Duration) -> i32 {
    let millis = timeout.as_nanos().div_ceil(1_000_000);
    i32::try_from(millis).unwrap_or(i32::MAX)
}

/// Waits with `epoll_pwait2`, or, where it is missing, with `epoll_wait`
/// and the timeout rounded up to milliseconds.
fn wait_for(epoll: &Epoll, ready: &mut [EpollEvent], timeout: Duration) -> io::Result<usize> {
    if FINE_WAITS.load(Ordering::Relaxed) != FINE_WAITS_NO {
        match crate::sys::epoll_pwait2(epoll, ready, timeout) {
            Err(err) if matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                FINE_WAITS.store(FINE_WAITS_NO, Ordering::Relaxed);
            }
            result => {
                FINE_WAITS.store(FINE_WAITS_YES, Ordering::Relaxed);
                return result;
            }
        }
    }
    epoll.wait(millis_rounded_up(timeout), ready)
}

impl<T: MutEventSubscriber> EventManager<T> {
    /// A handle that stops [`run_until_stopped`](Self::run_until_stopped);
    /// see [`StopHandle`]. Every call gives a handle to the same stop.
    ///
    /// The first call makes the eventfd the handles wake the loop with and
    /// adds it to the manager's epoll (a manager nobody stops has neither),
    /// which fails with [`Error::EventFd`] or [`Error::Epoll`] when the
    /// process is out of fds.
    ///
    /// ```
    /// use event_manager::{EventManager, MutEventSubscriber};
    ///
    /// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    /// let first = manager.stop_handle().unwrap();
    /// let second = manager.stop_handle().unwrap();
    /// second.stop().unwrap();
    /// manager.run_until_stopped().unwrap();
    /// # drop(first);
    /// ```
    pub fn stop_handle(&mut self) -> Result<StopHandle> {
        if let Some(state) = &self.stop.0 {
            return Ok(StopHandle {
                state: Arc::clone(state),
            });
        }
        let wakeup = EventFd::new(EFD_NONBLOCK).map_err(|err| Error::EventFd(Errno::from(err)))?;
        self.registry
            .epoll()
            .ctl(
                ControlOperation::Add,
                wakeup.as_raw_fd(),
                EpollEvent::new(EventSet::IN | EventSet::EDGE_TRIGGERED, STOP_KEY),
            )
            .map_err(|err| Error::Epoll(Errno::from(err)))?;
        let state = Arc::new(StopState {
            requested: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            wakeup,
        });
        self.stop.0 = Some(Arc::clone(&state));
        Ok(StopHandle { state })
    }

    /// Waits and dispatches, batch after batch, until a [`StopHandle`] of
    /// this manager stops it; then returns `Ok(())`.
    ///
    /// The stop is looked at between batches: a handler that calls
    /// [`StopHandle::stop`] lets the rest of its batch be dispatched (each
    /// event of that `epoll_wait` reaches its subscriber, as in any run),
    /// and the loop returns before waiting again. A stop asked for before
    /// the call makes it return at once. Each stop ends one
    /// `run_until_stopped`: the manager can be run again afterwards.
    ///
    /// Errors of the wait (see [`run_with_timeout`](Self::run_with_timeout))
    /// end it early with that error; a wait interrupted by a signal does
    /// not. A panic in `process` unwinds out of it, as out of `run`. A
    /// manager without a stop handle runs until an error.
    ///
    /// ```
    /// use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, StopHandle, SubscriberOps};
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// /// Stops the loop at its third ping.
    /// struct Pings { fd: EventFd, seen: u64, stop: StopHandle }
    ///
    /// impl MutEventSubscriber for Pings {
    ///     fn init(&mut self, ops: &mut EventOps) {
    ///         ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
    ///     }
    ///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {
    ///         self.seen += self.fd.read().unwrap();
    ///         if self.seen < 3 {
    ///             self.fd.write(1).unwrap(); // ping again
    ///         } else {
    ///             self.stop.stop().unwrap();
    ///         }
    ///     }
    /// }
    ///
    /// let mut manager = EventManager::new().unwrap();
    /// let stop = manager.stop_handle().unwrap();
    /// let id = manager.add_subscriber(Pings { fd: EventFd::new(0).unwrap(), seen: 0, stop });
    /// manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
    /// manager.run_until_stopped().unwrap();
    /// assert_eq!(manager.subscriber_mut(id).unwrap().seen, 3);
    /// ```
    pub fn run_until_stopped(&mut self) -> Result<()> {
        loop {
            if self.take_stop() {
                return Ok(());
            }
            self.run_with_timeout(-1)?;
        }
    }

    /// Takes a pending stop request, if there is one.
    fn take_stop(&mut self) -> bool {
        let Some(state) = &self.stop.0 else {
            return false;
        };
        if !state.requested.swap(false, Ordering::Acquire) {
            return false;
        }
        // Empties the counter; a wake-up written after this read costs one
        // empty wait (edge-triggered), never a spinning loop.
        let _ = state.wakeup.read();
        true
    }

    /// Waits up to `timeout`, with a resolution finer than a millisecond,
    /// for ready fds and dispatches them, as
    /// [`run_with_timeout`](Self::run_with_timeout) does. `Duration::ZERO`
    /// does not block.
    ///
    /// It waits with `epoll_pwait2` (Linux 5.11 and later). Where that
    /// call is missing, or a seccomp filter refuses it with `ENOSYS` or
    /// `EPERM`, it waits with `epoll_wait` and the timeout rounded *up* to
    /// whole milliseconds: it may wait up to a millisecond longer than
    /// asked, never shorter, so a loop around it never spins. (A seccomp
    /// filter that kills on unknown calls must allow `epoll_pwait2`.)
    /// Timeouts beyond 24.8 days are cut to that on the fallback path.
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::{EventManager, MutEventSubscriber};
    ///
    /// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    /// assert_eq!(manager.run_with_duration(Duration::from_micros(250)).unwrap(), 0);
    /// ```
    pub fn run_with_duration(&mut self, timeout: Duration) -> Result<usize> {
        self.wait_and_dispatch(|epoll, ready| wait_for(epoll, ready, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use crate::{EventOps, Events, SubscriberOps};

    struct Reader(EventFd);

    impl MutEventSubscriber for Reader {
        fn init(&mut self, ops: &mut EventOps) {
            ops.add(Events::new(&self.0, EventSet::IN)).unwrap();
        }
        fn process(&mut self, _events: Events, _ops: &mut EventOps) {
            self.0.read().unwrap();
        }
    }

    #[test]
    fn milliseconds_are_rounded_up_never_down_to_a_busy_wait() {
        assert_eq!(millis_rounded_up(Duration::ZERO), 0);
        assert_eq!(millis_rounded_up(Duration::from_nanos(1)), 1);
        assert_eq!(millis_rounded_up(Duration::from_micros(999)), 1);
        assert_eq!(millis_rounded_up(Duration::from_millis(1)), 1);
        assert_eq!(millis_rounded_up(Duration::from_micros(1001)), 2);
        assert_eq!(millis_rounded_up(Duration::MAX), i32::MAX);
    }

    /// The pwait2 path and the millisecond path: each waits at least the
    /// timeout when nothing is ready, and dispatches what is ready.
    /// One test, so that the two settings of `FINE_WAITS` do not race.
    #[test]
    fn both_wait_paths_wait_at_least_the_timeout_and_dispatch_ready_fds() {
        let mut manager = EventManager::new().unwrap();
        let id = manager.add_subscriber(Reader(EventFd::new(EFD_NONBLOCK).unwrap()));
        let timeout = Duration::from_micros(300);
        for path in [FINE_WAITS_UNKNOWN, FINE_WAITS_NO] {
            FINE_WAITS.store(path, Ordering::Relaxed);
            let start = Instant::now();
            assert_eq!(manager.run_with_duration(timeout).unwrap(), 0);
            // A lower bound only: rounding down to 0 ms would return at
            // once, and that is what this catches.
            assert!(start.elapsed() >= timeout, "path {path} returned early");
            if path == FINE_WAITS_UNKNOWN {
                // The first path is epoll_pwait2 wherever the system call
                // works (Linux 5.11 and later; not under a valgrind that
                // does not know it), and the fallback otherwise.
                let epoll = Epoll::new().unwrap();
                let mut ready = [EpollEvent::default(); 1];
                let expected = match crate::sys::epoll_pwait2(&epoll, &mut ready, Duration::ZERO) {
                    Ok(_) => FINE_WAITS_YES,
                    Err(_) => FINE_WAITS_NO,
                };
                assert_eq!(FINE_WAITS.load(Ordering::Relaxed), expected);
            }
            manager.subscriber_mut(id).unwrap().0.write(1).unwrap();
            assert_eq!(manager.run_with_duration(timeout).unwrap(), 1);
            assert_eq!(manager.run_with_duration(Duration::ZERO).unwrap(), 0);
        }
        FINE_WAITS.store(FINE_WAITS_UNKNOWN, Ordering::Relaxed);
    }
}
