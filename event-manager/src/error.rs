//! The error type every fallible operation of the crate returns.

use std::fmt;

use vmm_sys_util::errno::Error as Errno;

/// What went wrong in an operation of the [`EventManager`](crate::EventManager),
/// an [`EventOps`](crate::EventOps) or a `RemoteEndpoint`.
///
/// ```
/// use event_manager::{Error, EventManager, MutEventSubscriber, MAX_READY_EVENTS_CAPACITY};
///
/// let result = EventManager::<Box<dyn MutEventSubscriber>>::new_with_capacity(0);
/// assert_eq!(result.err(), Some(Error::InvalidCapacity));
/// # let _ = MAX_READY_EVENTS_CAPACITY;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be queued because the `EventManager` behind the
    /// endpoint has been dropped.
    #[cfg(feature = "remote_endpoint")]
    ChannelSend,
    /// The `EventManager` was dropped before it answered the request.
    #[cfg(feature = "remote_endpoint")]
    ChannelRecv,
    /// Creating, reading or writing an eventfd of the manager failed: the
    /// remote endpoint's wake-up, or the one behind a [`StopHandle`](crate::StopHandle).
    EventFd(Errno),
    /// An epoll operation failed with this errno: `epoll_create1`,
    /// `epoll_ctl` or `epoll_wait` returned it, or the manager refused the
    /// fd before asking the kernel, with the errno the kernel gives for the
    /// same cause: `EBADF` for a negative fd, `ENOMEM` when its fd table
    /// could not grow. The errno values are the ones event-manager 0.4
    /// returned for the same input.
    Epoll(Errno),
    /// The fd is already in the interest list of this manager, added by the
    /// same subscriber or by another one.
    FdAlreadyRegistered,
    /// The fd is not in the calling subscriber's interest list: it was never
    /// added, was already removed, or belongs to another subscriber.
    FdNotRegistered,
    /// No live subscriber has this id: it was removed, or it comes from another manager.
    InvalidId,
    /// A subscriber made with `#[derive(MutEventSubscriber)]` or
    /// `#[derive(EventSubscriber)]` asked [`EventOps::add`](crate::EventOps::add)
    /// or [`EventOps::modify`](crate::EventOps::modify) for data of 2^31 or
    /// more. The derive registers its own fds with data in that range, so a
    /// hand registration of such a subscriber keeps below it, and its events
    /// always reach `fallback`, never a derived handler. Subscribers written
    /// by hand may use every data value.
    DataReserved,
    /// A subscriber made with `#[derive(MutEventSubscriber)]` or
    /// `#[derive(EventSubscriber)]` that has no `#[subscriber(fallback =
    /// ...)]` asked [`EventOps::add`](crate::EventOps::add) or
    /// [`EventOps::modify`](crate::EventOps::modify) for an fd by hand. Its
    /// events would reach no method (a level-triggered one would wake
    /// every run), so the call is refused and nothing changes. Give the
    /// subscriber a `fallback` method, or declare the fd with an
    /// `#[event]`.
    NoFallback,
    /// A derived subscriber's generated `attach_`, `detach_` or
    /// `set_..._interest` method was called for a source that holds no fd
    /// now: an `Option` that is `None`, a negative fd (`-1` from a type
    /// that has none), or a collection index with no element.
    NoFd,
    /// A derived subscriber was asked to register a collection element
    /// whose index does not fit in its data tag: indexes go up to
    /// 2^24 - 1 (16,777,215).
    IndexTooLarge,
    /// The ready-list capacity is 0 or above [`MAX_READY_EVENTS_CAPACITY`](crate::MAX_READY_EVENTS_CAPACITY).
    InvalidCapacity,
    /// `RemoteEndpoint::call_blocking` was called on the thread that is
    /// inside the manager (from a subscriber's `process` or `init`, or
    /// from a request the manager serves): the manager cannot serve the
    /// request before the call returns, so it would wait forever. Use
    /// `fire`, or call the subscriber directly. A thread whose run a
    /// `process` panic ended is refused too, until the manager's next run
    /// ends (see `call_blocking`).
    #[cfg(feature = "remote_endpoint")]
    CallFromLoopThread,
    /// [`StopHandle::stop`](crate::StopHandle::stop) was called after the
    /// manager it stops was dropped.
    ManagerDropped,
    /// No pending timer has this id: it fired (one-shot), was cancelled, or
    /// comes from another [`Timers`](crate::Timers).
    TimerNotFound,
    /// A timer's delay or period cannot be used: a period of zero, or a
    /// deadline too far away for the monotonic clock to represent.
    InvalidDuration,
    /// Creating, arming or reading a timerfd failed with this errno.
    TimerFd(Errno),
    /// This signal cannot be received through a signalfd: it is not a
    /// valid signal number, or it is `SIGKILL` or `SIGSTOP`, which cannot be
    /// blocked.
    InvalidSignal(i32),
    /// Blocking signals, or creating or reading a signalfd, failed with this
    /// errno.
    SignalFd(Errno),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "remote_endpoint")]
            Error::ChannelSend => f.write_str("the event manager behind this endpoint is gone"),
            #[cfg(feature = "remote_endpoint")]
            Error::ChannelRecv => {
                f.write_str("the event manager was dropped before answering the request")
            }
            Error::EventFd(errno) => write!(f, "the manager's wake-up eventfd failed: {errno}"),
            Error::Epoll(errno) => {
                write!(f, "epoll failed: {errno}")?;
                if errno.errno() == libc::EBADF {
                    // The one errno whose cause is nearly always the
                    // caller's fd; the manager's own epoll fd stays open.
                    f.write_str("; the fd is negative or not an open file descriptor")?;
                }
                Ok(())
            }
            Error::FdAlreadyRegistered => {
                f.write_str("the fd is already registered with this event manager")
            }
            Error::FdNotRegistered => {
                f.write_str("the fd is not registered by the calling subscriber")
            }
            Error::InvalidId => f.write_str("no live subscriber has this id"),
            Error::DataReserved => f.write_str(
                "data of 2^31 and above is reserved for the generated code of a derived subscriber",
            ),
            Error::NoFallback => f.write_str(
                "a derived subscriber without a `fallback` method cannot add or modify fds \
                 by hand: their events would reach no method",
            ),
            Error::NoFd => f.write_str(
                "the derived subscriber's source holds no fd (it is `None`, a negative fd, \
                 or an index with no element)",
            ),
            Error::IndexTooLarge => f.write_str(
                "a derived subscriber's collection index must be below 2^24 (16,777,216)",
            ),
            Error::InvalidCapacity => write!(
                f,
                "the ready-list capacity must be between 1 and {}",
                crate::MAX_READY_EVENTS_CAPACITY
            ),
            #[cfg(feature = "remote_endpoint")]
            Error::CallFromLoopThread => f.write_str(
                "call_blocking was called on the thread running the event manager, \
                 which would wait for itself forever",
            ),
            Error::ManagerDropped => f.write_str("the event manager to stop has been dropped"),
            Error::TimerNotFound => f.write_str(
                "no pending timer has this id (it fired, was cancelled, or belongs to other timers)",
            ),
            Error::InvalidDuration => f.write_str(
                "a timer's period must not be zero, and its deadline must fit the monotonic clock",
            ),
            Error::TimerFd(errno) => write!(f, "the timerfd failed: {errno}"),
            Error::InvalidSignal(signal) => write!(
                f,
                "signal {signal} cannot be received through a signalfd \
                 (not a signal number, or SIGKILL or SIGSTOP)"
            ),
            Error::SignalFd(errno) => write!(f, "blocking signals or the signalfd failed: {errno}"),
        }
    }
}

/// No `source`: the errno's number and text are already part of the
/// message, and an error reporter that walks the chain would print them
/// twice. Match on [`Error::Epoll`] or [`Error::EventFd`] to get the errno.
impl std::error::Error for Error {}

/// The crate's result type: `std::result::Result` with [`Error`].
///
/// ```
/// fn ready() -> event_manager::Result<u32> {
///     Ok(7)
/// }
/// assert_eq!(ready(), Ok(7));
/// ```
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Maps an `epoll_ctl` failure to the error a caller can act on.
    pub(crate) fn from_epoll_ctl(err: std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::EEXIST) => Error::FdAlreadyRegistered,
            _ => Error::Epoll(Errno::from(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_gives_the_errno_number_and_text() {
        let err = Error::Epoll(Errno::new(libc::EPERM));
        assert_eq!(
            err.to_string(),
            "epoll failed: Operation not permitted (os error 1)"
        );
        // Said once: in the message, not again as a source.
        assert!(err.source().is_none());
        assert!(Error::InvalidCapacity.to_string().contains("between 1 and"));
    }

    #[test]
    fn ebadf_says_the_fd_may_be_negative() {
        let err = Error::Epoll(Errno::new(libc::EBADF));
        assert_eq!(
            err.to_string(),
            "epoll failed: Bad file descriptor (os error 9); \
             the fd is negative or not an open file descriptor"
        );
    }

    #[test]
    fn eventfd_errors_give_the_errno_too() {
        let err = Error::EventFd(Errno::new(libc::EMFILE));
        assert_eq!(
            err.to_string(),
            "the manager's wake-up eventfd failed: Too many open files (os error 24)"
        );
    }

    #[test]
    fn eexist_from_the_kernel_means_already_registered() {
        let err = Error::from_epoll_ctl(std::io::Error::from_raw_os_error(libc::EEXIST));
        assert_eq!(err, Error::FdAlreadyRegistered);
        let err = Error::from_epoll_ctl(std::io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(err, Error::Epoll(Errno::new(libc::EPERM)));
    }
}
