//! The subscriber traits, their impls for the standard wrappers, and the
//! operations a manager offers on its subscribers.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{EventOps, Events, Result};

/// A subscriber whose callbacks only need `&self`.
///
/// Implement it for types with inner mutability (atomics, `Mutex` fields) so
/// they can be shared through `Arc` or `Rc` and still be registered with an
/// [`EventManager`](crate::EventManager). `Arc<T>`, `Rc<T>` and `Box<T>`
/// implement it when `T` does, and `Mutex<T>` and `RefCell<T>` implement it
/// when `T` implements [`MutEventSubscriber`].
///
/// What is and is not automatic: `Arc<T>`, `Rc<T>`, `Mutex<T>` and
/// `RefCell<T>` implement both traits, so each can be stored in a manager.
/// A type of your own that implements only `EventSubscriber` does not get
/// `MutEventSubscriber`, and neither does `Box<T>` of it (a blanket impl
/// over every `EventSubscriber` would overlap with the `Box<T>` impl for
/// `T: MutEventSubscriber`, which Rust does not allow). Register such a
/// type as `Arc<T>` or `Rc<T>`, or implement `MutEventSubscriber` for it by
/// calling the `&self` methods.
///
/// To derive it, `#[derive(EventSubscriber)]`, turn on the `derive`
/// feature (`event-manager = { version = "0.5", features = ["derive"] }`);
/// without it rustc answers "cannot find derive macro `EventSubscriber` in
/// this scope".
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// use event_manager::{EventManager, EventOps, EventSet, EventSubscriber, Events, SubscriberOps};
/// use vmm_sys_util::eventfd::EventFd;
///
/// struct Doorbell {
///     fd: EventFd,
///     rings: AtomicU64,
/// }
///
/// impl EventSubscriber for Doorbell {
///     fn init(&self, ops: &mut EventOps) {
///         ops.add(Events::new(&self.fd, EventSet::IN)).expect("register the doorbell");
///     }
///
///     fn process(&self, _events: Events, _ops: &mut EventOps) {
///         let _ = self.fd.read();
///         self.rings.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let bell = Arc::new(Doorbell { fd: EventFd::new(0).unwrap(), rings: AtomicU64::new(0) });
/// let mut manager = EventManager::<Arc<Doorbell>>::new().unwrap();
/// manager.add_subscriber(bell.clone());
///
/// bell.fd.write(1).unwrap();
/// assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
/// assert_eq!(bell.rings.load(Ordering::Relaxed), 1);
/// ```
pub trait EventSubscriber {
    /// Handles `events`, which became ready on an fd this subscriber registered.
    ///
    /// `ops` changes this subscriber's interest list. `ERROR` and `HANG_UP`
    /// may appear in the event set whatever was asked for, and
    /// `READ_HANG_UP` whenever `IN` was (see the crate docs).
    fn process(&self, events: Events, ops: &mut EventOps);

    /// Registers the subscriber's fds; the manager calls it once, from
    /// [`add_subscriber`](crate::SubscriberOps::add_subscriber).
    fn init(&self, ops: &mut EventOps);
}

/// A subscriber whose callbacks take `&mut self`.
///
/// This is the trait an [`EventManager`](crate::EventManager) stores: its
/// type parameter must implement it. Besides your own types, `Arc<T>` and
/// `Rc<T>` implement it for `T: EventSubscriber`, and `Box<T>`, `Mutex<T>`
/// and `RefCell<T>` for `T: MutEventSubscriber`, so one manager can hold
/// different subscriber types as `Box<dyn MutEventSubscriber>` or
/// `Arc<Mutex<dyn MutEventSubscriber + Send>>`.
///
/// To derive it, `#[derive(MutEventSubscriber)]` with one `#[event(fd =
/// field)]` attribute per fd, turn on the `derive` feature
/// (`event-manager = { version = "0.5", features = ["derive"] }`); without
/// it rustc answers "cannot find derive macro `MutEventSubscriber` in this
/// scope".
///
/// ```
/// use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
/// use vmm_sys_util::eventfd::EventFd;
///
/// struct Counter {
///     fd: EventFd,
///     count: u64,
/// }
///
/// impl MutEventSubscriber for Counter {
///     fn init(&mut self, ops: &mut EventOps) {
///         ops.add(Events::new(&self.fd, EventSet::IN)).expect("register the counter");
///     }
///
///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {
///         self.count += self.fd.read().unwrap_or(0);
///     }
/// }
///
/// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
/// let counter = Counter { fd: EventFd::new(0).unwrap(), count: 0 };
/// counter.fd.write(3).unwrap();
/// let id = manager.add_subscriber(Box::new(counter));
///
/// assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
/// # let _ = id;
/// ```
pub trait MutEventSubscriber {
    /// Handles `events`, which became ready on an fd this subscriber registered.
    ///
    /// See [`EventSubscriber::process`].
    fn process(&mut self, events: Events, ops: &mut EventOps);

    /// Registers the subscriber's fds; the manager calls it once, from
    /// [`add_subscriber`](crate::SubscriberOps::add_subscriber).
    fn init(&mut self, ops: &mut EventOps);
}

/// Identifies one subscriber of one [`EventManager`](crate::EventManager).
///
/// A manager never hands out the same id twice, and an id names the manager
/// that issued it, so an id kept after its subscriber was removed, or used
/// with another manager, can only produce [`Error::InvalidId`](crate::Error::InvalidId).
///
/// ```
/// use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
///
/// struct Idle;
/// impl MutEventSubscriber for Idle {
///     fn init(&mut self, _ops: &mut EventOps) {}
///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
/// }
///
/// let mut manager = EventManager::<Idle>::new().unwrap();
/// let first = manager.add_subscriber(Idle);
/// manager.remove_subscriber(first).unwrap();
/// let second = manager.add_subscriber(Idle);
/// assert_ne!(first, second);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId {
    /// Which manager issued the id.
    pub(crate) manager: u64,
    /// Index in that manager's subscriber table.
    pub(crate) slot: u32,
    /// How many subscribers lived in that slot before this one.
    pub(crate) generation: u32,
}

/// What can be done to the subscribers of a manager: add, remove, reach one,
/// change its interest list.
///
/// [`EventManager`](crate::EventManager) implements it, and a `RemoteEndpoint`
/// hands a `&mut dyn SubscriberOps` to the closures it sends.
///
/// ```
/// use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
///
/// struct Idle(u32);
/// impl MutEventSubscriber for Idle {
///     fn init(&mut self, _ops: &mut EventOps) {}
///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
/// }
///
/// fn bump(ops: &mut dyn SubscriberOps<Subscriber = Idle>, id: event_manager::SubscriberId) {
///     ops.subscriber_mut(id).unwrap().0 += 1;
/// }
///
/// let mut manager = EventManager::<Idle>::new().unwrap();
/// let id = manager.add_subscriber(Idle(0));
/// bump(&mut manager, id);
/// assert_eq!(manager.remove_subscriber(id).unwrap().0, 1);
/// ```
pub trait SubscriberOps {
    /// The type of subscriber the manager stores.
    type Subscriber: MutEventSubscriber;

    /// Stores `subscriber`, calls its `init` so it can register its fds, and
    /// returns its id.
    ///
    /// Registration errors are handed to `init` through [`EventOps`]; this
    /// function itself cannot fail. If `init` panics, the subscriber is not
    /// added and any fds it registered are deregistered before the panic
    /// continues.
    ///
    /// ```
    /// use event_manager::{Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// # struct Idle;
    /// # impl MutEventSubscriber for Idle {
    /// #     fn init(&mut self, _ops: &mut EventOps) {}
    /// #     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// # }
    /// let mut manager = EventManager::<Idle>::new().unwrap();
    /// let first = manager.add_subscriber(Idle);
    /// let second = manager.add_subscriber(Idle);
    /// assert_ne!(first, second);
    /// ```
    fn add_subscriber(&mut self, subscriber: Self::Subscriber) -> SubscriberId;

    /// Deregisters every fd of the subscriber and gives it back.
    ///
    /// ```
    /// use event_manager::{Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// # struct Idle;
    /// # impl MutEventSubscriber for Idle {
    /// #     fn init(&mut self, _ops: &mut EventOps) {}
    /// #     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// # }
    /// let mut manager = EventManager::<Idle>::new().unwrap();
    /// let id = manager.add_subscriber(Idle);
    /// assert!(manager.remove_subscriber(id).is_ok());
    /// assert_eq!(manager.remove_subscriber(id).err(), Some(Error::InvalidId));
    /// ```
    fn remove_subscriber(&mut self, subscriber_id: SubscriberId) -> Result<Self::Subscriber>;

    /// A mutable reference to a live subscriber.
    ///
    /// ```
    /// use event_manager::{Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// # struct Idle;
    /// # impl MutEventSubscriber for Idle {
    /// #     fn init(&mut self, _ops: &mut EventOps) {}
    /// #     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// # }
    /// let mut manager = EventManager::<Idle>::new().unwrap();
    /// let id = manager.add_subscriber(Idle);
    /// let _idle: &mut Idle = manager.subscriber_mut(id).unwrap();
    /// ```
    fn subscriber_mut(&mut self, subscriber_id: SubscriberId) -> Result<&mut Self::Subscriber>;

    /// An [`EventOps`] that changes the interest list of a live subscriber
    /// from outside its callbacks.
    ///
    /// ```
    /// use event_manager::{Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// # struct Idle;
    /// # impl MutEventSubscriber for Idle {
    /// #     fn init(&mut self, _ops: &mut EventOps) {}
    /// #     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// # }
    /// let mut manager = EventManager::<Idle>::new().unwrap();
    /// let id = manager.add_subscriber(Idle);
    /// let fd = vmm_sys_util::eventfd::EventFd::new(0).unwrap();
    /// manager.event_ops(id).unwrap().add(Events::new(&fd, EventSet::IN)).unwrap();
    /// fd.write(1).unwrap();
    /// assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    /// ```
    fn event_ops(&mut self, subscriber_id: SubscriberId) -> Result<EventOps<'_>>;
}

impl<T: EventSubscriber + ?Sized> EventSubscriber for Arc<T> {
    fn process(&self, events: Events, ops: &mut EventOps) {
        self.as_ref().process(events, ops);
    }

    fn init(&self, ops: &mut EventOps) {
        self.as_ref().init(ops);
    }
}

impl<T: EventSubscriber + ?Sized> MutEventSubscriber for Arc<T> {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.as_ref().process(events, ops);
    }

    fn init(&mut self, ops: &mut EventOps) {
        self.as_ref().init(ops);
    }
}

impl<T: EventSubscriber + ?Sized> EventSubscriber for Rc<T> {
    fn process(&self, events: Events, ops: &mut EventOps) {
        self.as_ref().process(events, ops);
    }

    fn init(&self, ops: &mut EventOps) {
        self.as_ref().init(ops);
    }
}

impl<T: EventSubscriber + ?Sized> MutEventSubscriber for Rc<T> {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.as_ref().process(events, ops);
    }

    fn init(&mut self, ops: &mut EventOps) {
        self.as_ref().init(ops);
    }
}

impl<T: EventSubscriber + ?Sized> EventSubscriber for Box<T> {
    fn process(&self, events: Events, ops: &mut EventOps) {
        self.as_ref().process(events, ops);
    }

    fn init(&self, ops: &mut EventOps) {
        self.as_ref().init(ops);
    }
}

impl<T: MutEventSubscriber + ?Sized> MutEventSubscriber for Box<T> {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.as_mut().process(events, ops);
    }

    fn init(&mut self, ops: &mut EventOps) {
        self.as_mut().init(ops);
    }
}

// A poisoned lock only says that an earlier callback panicked while holding
// it; the manager keeps dispatching to the inner value rather than turning
// one panic into a panic on every later event.
impl<T: MutEventSubscriber + ?Sized> EventSubscriber for Mutex<T> {
    fn process(&self, events: Events, ops: &mut EventOps) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .process(events, ops);
    }

    fn init(&self, ops: &mut EventOps) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .init(ops);
    }
}

impl<T: MutEventSubscriber + ?Sized> MutEventSubscriber for Mutex<T> {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .process(events, ops);
    }

    fn init(&mut self, ops: &mut EventOps) {
        self.get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .init(ops);
    }
}

/// Borrowing through `&self` panics if the `RefCell` is already borrowed
/// when the manager dispatches to it, as `RefCell::borrow_mut` does: do not
/// hold a borrow of a registered `Rc<RefCell<_>>` across `run`.
impl<T: MutEventSubscriber + ?Sized> EventSubscriber for RefCell<T> {
    fn process(&self, events: Events, ops: &mut EventOps) {
        self.borrow_mut().process(events, ops);
    }

    fn init(&self, ops: &mut EventOps) {
        self.borrow_mut().init(ops);
    }
}

impl<T: MutEventSubscriber + ?Sized> MutEventSubscriber for RefCell<T> {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.get_mut().process(events, ops);
    }

    fn init(&mut self, ops: &mut EventOps) {
        self.get_mut().init(ops);
    }
}
