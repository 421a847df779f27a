//! `Events`, the (fd, data, event set) triple that subscribers register and
//! receive, and `EventOps`, a subscriber's handle on its interest list.

use std::fmt;
use std::os::unix::io::{AsRawFd, RawFd};

use vmm_sys_util::epoll::{EpollEvent, EventSet};

use crate::registry::{OwnerSlot, Registry};
use crate::Result;

/// An fd, a `u32` chosen by the subscriber, and a set of epoll events.
///
/// Subscribers build one to register interest ([`EventOps::add`]); the
/// manager hands one to [`process`](crate::MutEventSubscriber::process)
/// with the same fd and data and the events that are ready. The data lets a
/// subscriber with several fds tell them apart with a `match` instead of
/// comparing fds.
///
/// ```
/// use event_manager::{EventSet, Events};
/// use vmm_sys_util::eventfd::EventFd;
///
/// let fd = EventFd::new(0).unwrap();
/// let events = Events::with_data(&fd, 7, EventSet::IN | EventSet::EDGE_TRIGGERED);
/// assert_eq!(events.data(), 7);
/// assert_eq!(events.event_set(), EventSet::IN | EventSet::EDGE_TRIGGERED);
/// assert_eq!(events, Events::with_data_raw(events.fd(), 7, events.event_set()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Events {
    fd: RawFd,
    data: u32,
    event_set: EventSet,
}

impl Events {
    /// Interest in `events` on `source`'s fd, with data 0.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    /// use std::os::unix::io::AsRawFd;
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// let fd = EventFd::new(0).unwrap();
    /// let events = Events::new(&fd, EventSet::IN);
    /// assert_eq!((events.fd(), events.data()), (fd.as_raw_fd(), 0));
    /// ```
    pub fn new<T: AsRawFd + ?Sized>(source: &T, events: EventSet) -> Self {
        Self::with_data_raw(source.as_raw_fd(), 0, events)
    }

    /// Interest in `events` on a raw fd, with data 0.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    ///
    /// let events = Events::new_raw(5, EventSet::OUT);
    /// assert_eq!((events.fd(), events.data(), events.event_set()), (5, 0, EventSet::OUT));
    /// ```
    pub fn new_raw(source: RawFd, events: EventSet) -> Self {
        Self::with_data_raw(source, 0, events)
    }

    /// Interest in `events` on `source`'s fd, carrying `data` back to `process`.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// let fd = EventFd::new(0).unwrap();
    /// assert_eq!(Events::with_data(&fd, 42, EventSet::IN).data(), 42);
    /// ```
    pub fn with_data<T: AsRawFd + ?Sized>(source: &T, data: u32, events: EventSet) -> Self {
        Self::with_data_raw(source.as_raw_fd(), data, events)
    }

    /// Interest in `events` on a raw fd, carrying `data` back to `process`.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    ///
    /// let events = Events::with_data_raw(5, 42, EventSet::IN);
    /// assert_eq!((events.fd(), events.data()), (5, 42));
    /// ```
    pub fn with_data_raw(source: RawFd, data: u32, events: EventSet) -> Self {
        Events {
            fd: source,
            data,
            event_set: events,
        }
    }

    /// No events on `source`'s fd: what [`EventOps::remove`] needs, which
    /// only looks at the fd.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// let fd = EventFd::new(0).unwrap();
    /// assert_eq!(Events::empty(&fd).event_set(), EventSet::empty());
    /// ```
    pub fn empty<T: AsRawFd + ?Sized>(source: &T) -> Self {
        Self::with_data_raw(source.as_raw_fd(), 0, EventSet::empty())
    }

    /// No events on a raw fd.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    ///
    /// assert_eq!(Events::empty_raw(5).event_set(), EventSet::empty());
    /// ```
    pub fn empty_raw(source: RawFd) -> Self {
        Self::with_data_raw(source, 0, EventSet::empty())
    }

    /// The fd.
    ///
    /// ```
    /// assert_eq!(event_manager::Events::empty_raw(5).fd(), 5);
    /// ```
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The subscriber's data.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    /// assert_eq!(Events::with_data_raw(5, 9, EventSet::IN).data(), 9);
    /// ```
    pub fn data(&self) -> u32 {
        self.data
    }

    /// The events: those asked for when registering, those that are ready when dispatched.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    /// assert_eq!(Events::new_raw(5, EventSet::IN).event_set(), EventSet::IN);
    /// ```
    pub fn event_set(&self) -> EventSet {
        self.event_set
    }

    /// The same triple as a `vmm_sys_util` [`EpollEvent`], with the fd in
    /// the low 32 bits of its data and `data()` in the high 32 bits.
    ///
    /// The manager does not register this value with the kernel; it exists
    /// for code that logs or forwards events as `EpollEvent`.
    ///
    /// ```
    /// use event_manager::{EventSet, Events};
    ///
    /// let raw = Events::with_data_raw(5, 9, EventSet::IN).epoll_event();
    /// assert_eq!(raw.data(), (9u64 << 32) | 5);
    /// assert_eq!(raw.event_set(), EventSet::IN);
    /// ```
    pub fn epoll_event(&self) -> EpollEvent {
        let data = (u64::from(self.data) << 32) | u64::from(self.fd as u32);
        EpollEvent::new(self.event_set, data)
    }
}

/// A subscriber's handle on its own interest list.
///
/// The manager passes one to `init` and `process`; outside the callbacks,
/// [`SubscriberOps::event_ops`](crate::SubscriberOps::event_ops) gives one
/// for a subscriber id. It only touches fds that subscriber added: an fd
/// that another subscriber added is [`Error::FdNotRegistered`](crate::Error::FdNotRegistered)
/// for `modify` and `remove`, and [`Error::FdAlreadyRegistered`](crate::Error::FdAlreadyRegistered)
/// for `add`.
///
/// ```
/// use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
/// use vmm_sys_util::eventfd::EventFd;
///
/// /// Watches its fd until the first event, then stops watching it.
/// struct OneShot {
///     fd: EventFd,
///     fired: bool,
/// }
///
/// impl MutEventSubscriber for OneShot {
///     fn init(&mut self, ops: &mut EventOps) {
///         ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
///     }
///
///     fn process(&mut self, events: Events, ops: &mut EventOps) {
///         self.fired = true;
///         ops.remove(events).unwrap();
///     }
/// }
///
/// let mut manager = EventManager::<OneShot>::new().unwrap();
/// let id = manager.add_subscriber(OneShot { fd: EventFd::new(0).unwrap(), fired: false });
/// manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
///
/// assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
/// // The fd is still readable, but it left the interest list.
/// assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
/// assert!(manager.subscriber_mut(id).unwrap().fired);
/// ```
pub struct EventOps<'a> {
    registry: &'a mut Registry,
    owner: OwnerSlot,
}

impl<'a> EventOps<'a> {
    pub(crate) fn new(registry: &'a mut Registry, owner: OwnerSlot) -> Self {
        EventOps { registry, owner }
    }

    /// Adds `events.fd()` to this subscriber's interest list.
    ///
    /// Fails with [`Error::FdAlreadyRegistered`](crate::Error::FdAlreadyRegistered)
    /// if the fd is already in the manager's interest list, and with
    /// [`Error::Epoll`](crate::Error::Epoll) for an fd epoll cannot watch:
    /// a negative fd (`EBADF`, refused before the kernel is asked) and what
    /// the kernel refuses, a closed fd (`EBADF`), a regular file (`EPERM`),
    /// a flag combination it does not accept (`EINVAL`). A subscriber made
    /// with the derive (see "Data tags" in its reference) gets
    /// [`Error::DataReserved`](crate::Error::DataReserved) for data of 2^31
    /// or more, and [`Error::NoFallback`](crate::Error::NoFallback) for any
    /// data when it has no `fallback` method to receive the events;
    /// subscribers written by hand may use every data value.
    ///
    /// When the set contains `IN` (and not `EXCLUSIVE`), the manager also
    /// asks for `READ_HANG_UP`, so a reader sees the peer's shutdown
    /// without requesting it; `ERROR` and `HANG_UP` are always reported.
    ///
    /// An fd added while the manager dispatches a batch of events is first
    /// dispatched by the next `run`.
    ///
    /// ```
    /// use event_manager::{Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// struct Idle;
    /// impl MutEventSubscriber for Idle {
    ///     fn init(&mut self, _ops: &mut EventOps) {}
    ///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// }
    ///
    /// let mut manager = EventManager::<Idle>::new().unwrap();
    /// let id = manager.add_subscriber(Idle);
    /// let fd = EventFd::new(0).unwrap();
    /// let mut ops = manager.event_ops(id).unwrap();
    /// ops.add(Events::new(&fd, EventSet::IN)).unwrap();
    /// assert_eq!(ops.add(Events::new(&fd, EventSet::IN)), Err(Error::FdAlreadyRegistered));
    /// ```
    pub fn add(&mut self, events: Events) -> Result<()> {
        self.registry.check_hand_data(self.owner, events.data())?;
        self.registry.add(self.owner, events)
    }

    /// `add` for the derive's generated code, whose data lies in the
    /// derived range.
    pub(crate) fn add_derived(&mut self, events: Events) -> Result<()> {
        self.registry.add(self.owner, events)
    }

    /// `modify` for the derive's generated code.
    pub(crate) fn modify_derived(&self, events: Events) -> Result<()> {
        self.registry.modify(self.owner, events)
    }

    /// Marks the calling subscriber as derived (see `Error::DataReserved`
    /// and `Error::NoFallback`).
    pub(crate) fn reserve_derived_data(&mut self, has_fallback: bool) {
        let allowed = if has_fallback {
            crate::registry::HandFds::BelowDerived
        } else {
            crate::registry::HandFds::None
        };
        self.registry.reserve_derived_data(self.owner, allowed);
    }

    /// Whether this subscriber registered `fd` with `data`.
    pub(crate) fn is_registered_with(&self, fd: RawFd, data: u32) -> bool {
        self.registry.is_registered_with(self.owner, fd, data)
    }

    /// Replaces the event set and data of an fd this subscriber added.
    ///
    /// Fails with [`Error::FdNotRegistered`](crate::Error::FdNotRegistered)
    /// if this subscriber did not add the fd, with
    /// [`Error::Epoll`](crate::Error::Epoll) if the kernel refuses (and
    /// `EBADF` for a negative fd), and, for
    /// a derived subscriber, as [`add`](Self::add) does for its data
    /// (`DataReserved`, `NoFallback`).
    ///
    /// ```
    /// use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// struct Seen(Vec<u32>);
    /// impl MutEventSubscriber for Seen {
    ///     fn init(&mut self, _ops: &mut EventOps) {}
    ///     fn process(&mut self, events: Events, _ops: &mut EventOps) {
    ///         self.0.push(events.data());
    ///     }
    /// }
    ///
    /// let mut manager = EventManager::<Seen>::new().unwrap();
    /// let id = manager.add_subscriber(Seen(Vec::new()));
    /// let fd = EventFd::new(0).unwrap();
    /// fd.write(1).unwrap();
    /// let mut ops = manager.event_ops(id).unwrap();
    /// ops.add(Events::with_data(&fd, 1, EventSet::IN)).unwrap();
    /// ops.modify(Events::with_data(&fd, 2, EventSet::IN)).unwrap();
    ///
    /// manager.run_with_timeout(1000).unwrap();
    /// assert_eq!(manager.subscriber_mut(id).unwrap().0, vec![2]);
    /// ```
    pub fn modify(&self, events: Events) -> Result<()> {
        self.registry.check_hand_data(self.owner, events.data())?;
        self.registry.modify(self.owner, events)
    }

    /// Removes an fd this subscriber added from the interest list; only
    /// `events.fd()` is looked at.
    ///
    /// Events of this fd that are already in the batch being dispatched are
    /// dropped.
    ///
    /// Fails with [`Error::FdNotRegistered`](crate::Error::FdNotRegistered)
    /// if this subscriber did not add the fd, and with `Epoll(EBADF)` for a
    /// negative fd.
    ///
    /// Remove an fd before closing it. If it was closed first, the manager
    /// forgets the registration (the number can be registered again) and
    /// returns the kernel's [`Error::Epoll`](crate::Error::Epoll) (`EBADF`,
    /// or `ENOENT` if the number was reused). When the closed fd was the
    /// only one open on its file, the kernel dropped the registration at
    /// close. When another fd of the same file is still open (a `dup`), the
    /// kernel keeps reporting the file under a registration nothing can
    /// reach any more; the manager skips those events, but a level-triggered
    /// one keeps `run` returning at once until that file is closed.
    ///
    /// ```
    /// use event_manager::{Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// struct Idle;
    /// impl MutEventSubscriber for Idle {
    ///     fn init(&mut self, _ops: &mut EventOps) {}
    ///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// }
    ///
    /// let mut manager = EventManager::<Idle>::new().unwrap();
    /// let id = manager.add_subscriber(Idle);
    /// let fd = EventFd::new(0).unwrap();
    /// let mut ops = manager.event_ops(id).unwrap();
    /// ops.add(Events::new(&fd, EventSet::IN)).unwrap();
    /// ops.remove(Events::empty(&fd)).unwrap();
    /// assert_eq!(ops.remove(Events::empty(&fd)), Err(Error::FdNotRegistered));
    /// ```
    pub fn remove(&mut self, events: Events) -> Result<()> {
        self.registry.remove(self.owner, events.fd())
    }

    /// Stops watching `fd` for now, keeping its registration: it stays
    /// this subscriber's, with its data tag and interest, until
    /// [`resume`](Self::resume) gives it back to epoll (or
    /// [`remove`](Self::remove) ends it).
    ///
    /// For an fd that stays ready but must not be served for a while, such
    /// as a tap device behind a rate limiter: while paused, it is out of
    /// the kernel's interest list, so a level-triggered fd that stays ready
    /// (or hangs up) wakes nothing and costs nothing. An event of it
    /// already in the batch being dispatched is dropped, as after a
    /// removal.
    ///
    /// Pausing a paused fd does nothing. [`modify`](Self::modify) of a
    /// paused fd changes what `resume` restores, and it stays paused.
    /// Adding a paused fd again is [`Error::FdAlreadyRegistered`](crate::Error::FdAlreadyRegistered):
    /// remove a paused fd before closing it. Fails with
    /// [`Error::FdNotRegistered`](crate::Error::FdNotRegistered) if this
    /// subscriber did not add `fd`, and with [`Error::Epoll`](crate::Error::Epoll)
    /// if the kernel refuses (`EBADF` when `fd` was closed).
    ///
    /// ```
    /// use std::os::unix::io::AsRawFd;
    /// use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// /// Counts the runs that found its (never read) eventfd ready.
    /// struct Noisy { fd: EventFd, seen: u32 }
    ///
    /// impl MutEventSubscriber for Noisy {
    ///     fn init(&mut self, ops: &mut EventOps) {
    ///         ops.add(Events::with_data(&self.fd, 7, EventSet::IN)).unwrap();
    ///     }
    ///     fn process(&mut self, events: Events, ops: &mut EventOps) {
    ///         assert_eq!(events.data(), 7); // the tag survives a pause
    ///         self.seen += 1;
    ///         ops.pause(&self.fd).unwrap();
    ///     }
    /// }
    ///
    /// let mut manager = EventManager::new().unwrap();
    /// let id = manager.add_subscriber(Noisy { fd: EventFd::new(0).unwrap(), seen: 0 });
    /// manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
    /// assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    /// assert_eq!(manager.run_with_timeout(0).unwrap(), 0); // still ready, but paused
    ///
    /// let fd = manager.subscriber_mut(id).unwrap().fd.as_raw_fd();
    /// manager.event_ops(id).unwrap().resume(&fd).unwrap();
    /// assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    /// assert_eq!(manager.subscriber_mut(id).unwrap().seen, 2);
    /// ```
    pub fn pause<F: AsRawFd + ?Sized>(&mut self, fd: &F) -> Result<()> {
        self.registry.pause(self.owner, fd.as_raw_fd())
    }

    /// Gives a paused `fd` back to epoll with the data tag and interest it
    /// had; its events arrive again from the next wait on (a level-triggered
    /// fd that stayed ready meanwhile is reported at once). Resuming an fd
    /// that is not paused does nothing. See [`pause`](Self::pause) for an
    /// example.
    ///
    /// Resuming registers the fd anew, so a `ONE_SHOT` registration whose
    /// event already fired (which the kernel disarmed) comes back armed, as
    /// after a [`modify`](Self::modify): pause and resume restore the
    /// registration as it was made, not whether it has fired.
    ///
    /// Fails with [`Error::FdNotRegistered`](crate::Error::FdNotRegistered)
    /// if this subscriber did not add `fd`, and with
    /// [`Error::Epoll`](crate::Error::Epoll) if the kernel refuses it
    /// (`EBADF` when it was closed while paused); the fd stays paused then.
    pub fn resume<F: AsRawFd + ?Sized>(&mut self, fd: &F) -> Result<()> {
        self.registry.resume(self.owner, fd.as_raw_fd())
    }

    /// Whether this subscriber's `fd` is paused; [`Error::FdNotRegistered`](crate::Error::FdNotRegistered)
    /// if this subscriber did not add it.
    ///
    /// ```
    /// # use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// # use vmm_sys_util::eventfd::EventFd;
    /// # use std::os::unix::io::AsRawFd;
    /// # struct Idle(EventFd);
    /// # impl MutEventSubscriber for Idle {
    /// #     fn init(&mut self, ops: &mut EventOps) { ops.add(Events::new(&self.0, EventSet::IN)).unwrap(); }
    /// #     fn process(&mut self, _e: Events, _o: &mut EventOps) {}
    /// # }
    /// let mut manager = EventManager::new().unwrap();
    /// let id = manager.add_subscriber(Idle(EventFd::new(0).unwrap()));
    /// let fd = manager.subscriber_mut(id).unwrap().0.as_raw_fd();
    /// let mut ops = manager.event_ops(id).unwrap();
    /// assert_eq!(ops.is_paused(&fd), Ok(false));
    /// ops.pause(&fd).unwrap();
    /// assert_eq!(ops.is_paused(&fd), Ok(true));
    /// ```
    pub fn is_paused<F: AsRawFd + ?Sized>(&self, fd: &F) -> Result<bool> {
        self.registry.is_paused_by(self.owner, fd.as_raw_fd())
    }
}

impl fmt::Debug for EventOps<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventOps")
            .field("owner", &self.owner)
            .field("registered_fds", &self.registry.fds_of(self.owner))
            .finish()
    }
}
