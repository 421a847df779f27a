//! `EventManager`: the subscriber table and the loop that waits on epoll and
//! dispatches each ready event to the subscriber that owns its fd.
//!
//! The hot path is `run_with_timeout`: one `epoll_wait` into a buffer
//! allocated at construction, then for each ready event a lookup in the
//! registry's fd table and a lookup in the subscriber table, both plain
//! indexing, and the call to `process`.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use vmm_sys_util::epoll::{Epoll, EpollEvent, EventSet};
use vmm_sys_util::errno::Error as Errno;

use crate::registry::{OwnerSlot, Registry};
use crate::{Error, EventOps, Events, MutEventSubscriber, Result, SubscriberId, SubscriberOps};

/// The largest ready-list capacity a manager accepts: the kernel refuses
/// `epoll_wait` with more than `INT_MAX / sizeof(struct epoll_event)` slots.
///
/// ```
/// use event_manager::{Error, EventManager, MutEventSubscriber, MAX_READY_EVENTS_CAPACITY};
///
/// let too_big = EventManager::<Box<dyn MutEventSubscriber>>::new_with_capacity(
///     MAX_READY_EVENTS_CAPACITY + 1,
/// );
/// assert_eq!(too_big.err(), Some(Error::InvalidCapacity));
/// ```
pub const MAX_READY_EVENTS_CAPACITY: usize = i32::MAX as usize / size_of::<EpollEvent>();

/// Ready-list capacity of [`EventManager::new`].
const DEFAULT_READY_EVENTS_CAPACITY: usize = 256;

/// Gives each manager the number its subscriber ids carry.
static NEXT_MANAGER_ID: AtomicU64 = AtomicU64::new(0);

/// A slot of the subscriber table; `generation` tells apart the ids of the
/// subscribers that have lived in it.
struct SubscriberSlot<T> {
    generation: u32,
    subscriber: Option<T>,
}

/// The epoll event loop: owns subscribers of type `T`, and on each
/// [`run`](Self::run) waits for their fds and calls their `process`.
///
/// `T` is one concrete subscriber type for static dispatch, or a wrapper
/// such as `Box<dyn MutEventSubscriber>` or
/// `Arc<Mutex<dyn MutEventSubscriber + Send>>` to mix types.
///
/// ```
/// use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
/// use vmm_sys_util::eventfd::EventFd;
///
/// struct Pinger {
///     fd: EventFd,
///     pings: u64,
/// }
///
/// impl MutEventSubscriber for Pinger {
///     fn init(&mut self, ops: &mut EventOps) {
///         ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
///     }
///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {
///         self.pings += self.fd.read().unwrap();
///     }
/// }
///
/// let mut manager = EventManager::new().unwrap();
/// let id = manager.add_subscriber(Pinger { fd: EventFd::new(0).unwrap(), pings: 0 });
/// manager.subscriber_mut(id).unwrap().fd.write(2).unwrap();
/// assert_eq!(manager.run().unwrap(), 1);
/// assert_eq!(manager.remove_subscriber(id).unwrap().pings, 2);
/// ```
pub struct EventManager<T> {
    /// First, so that it is dropped first (see `Inbox`).
    #[cfg(feature = "remote_endpoint")]
    pub(crate) inbox: crate::endpoint::Inbox<T>,
    manager_id: u64,
    subscribers: Vec<SubscriberSlot<T>>,
    free_slots: Vec<OwnerSlot>,
    /// How many entries of `free_slots` are slots of the table; the others
    /// were cut off its end by `release_slot` and are skipped when popped.
    free_count: usize,
    /// Slots whose generations are used up: never reused, never freed.
    retired: usize,
    /// The generation a slot made anew starts at: above every generation
    /// that an id of a slot the table let go of may carry.
    generation_floor: u32,
    pub(crate) registry: Registry,
    ready_events: Vec<EpollEvent>,
    /// How many entries of `ready_events` the last `epoll_wait` filled.
    ready_len: usize,
    /// The next of those to dispatch. It is below `ready_len` only when a
    /// `process` panicked mid-batch; the next `run` then finishes that
    /// batch instead of waiting, so no event is lost to the panic.
    next_ready: usize,
    /// The remote endpoint's wake-up was in the current batch; its requests
    /// are served once the batch is done (kept here, not in a local, so a
    /// batch resumed after a panic still serves them).
    #[cfg(feature = "remote_endpoint")]
    endpoint_woken: bool,
    /// Shared with the stop handles, once one is asked for.
    pub(crate) stop: crate::control::StopSlot,
}

impl<T: MutEventSubscriber> EventManager<T> {
    /// A manager whose `run` takes up to 256 ready events per `epoll_wait`.
    ///
    /// Fails with [`Error::Epoll`] if the epoll instance cannot be created
    /// (for example when the process is out of fds).
    ///
    /// ```
    /// use event_manager::{EventManager, MutEventSubscriber};
    ///
    /// let manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    /// # drop(manager);
    /// ```
    pub fn new() -> Result<Self> {
        Self::new_with_capacity(DEFAULT_READY_EVENTS_CAPACITY)
    }

    /// A manager whose `run` takes up to `ready_events_capacity` ready
    /// events per `epoll_wait`; further ready events wait for the next `run`.
    ///
    /// Fails with [`Error::InvalidCapacity`] for 0 or more than
    /// [`MAX_READY_EVENTS_CAPACITY`], and with [`Error::Epoll`] of `ENOMEM`
    /// when the ready list (12 bytes per event) cannot be allocated.
    ///
    /// ```
    /// use event_manager::{Error, EventManager, MutEventSubscriber};
    ///
    /// assert!(EventManager::<Box<dyn MutEventSubscriber>>::new_with_capacity(1).is_ok());
    /// assert_eq!(
    ///     EventManager::<Box<dyn MutEventSubscriber>>::new_with_capacity(0).err(),
    ///     Some(Error::InvalidCapacity)
    /// );
    /// ```
    pub fn new_with_capacity(ready_events_capacity: usize) -> Result<Self> {
        if ready_events_capacity == 0 || ready_events_capacity > MAX_READY_EVENTS_CAPACITY {
            return Err(Error::InvalidCapacity);
        }
        // The largest capacities take gigabytes: an allocation that fails
        // is an error, not an abort.
        let mut ready_events = Vec::new();
        ready_events
            .try_reserve_exact(ready_events_capacity)
            .map_err(|_| Error::Epoll(Errno::new(libc::ENOMEM)))?;
        ready_events.resize(ready_events_capacity, EpollEvent::default());
        let registry = Registry::new().map_err(|err| Error::Epoll(Errno::from(err)))?;
        #[cfg(feature = "remote_endpoint")]
        let inbox = crate::endpoint::Inbox::new(registry.epoll())?;
        Ok(EventManager {
            #[cfg(feature = "remote_endpoint")]
            inbox,
            manager_id: NEXT_MANAGER_ID.fetch_add(1, Ordering::Relaxed),
            subscribers: Vec::new(),
            free_slots: Vec::new(),
            free_count: 0,
            retired: 0,
            generation_floor: 0,
            registry,
            ready_events,
            ready_len: 0,
            next_ready: 0,
            #[cfg(feature = "remote_endpoint")]
            endpoint_woken: false,
            stop: Default::default(),
        })
    }

    /// Waits until at least one registered fd is ready, then dispatches;
    /// the same as `run_with_timeout(-1)`.
    ///
    /// ```
    /// # use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// # use vmm_sys_util::eventfd::EventFd;
    /// # struct Reader(EventFd);
    /// # impl MutEventSubscriber for Reader {
    /// #     fn init(&mut self, ops: &mut EventOps) { ops.add(Events::new(&self.0, EventSet::IN)).unwrap(); }
    /// #     fn process(&mut self, _e: Events, _o: &mut EventOps) { self.0.read().unwrap(); }
    /// # }
    /// let mut manager = EventManager::new().unwrap();
    /// let fd = EventFd::new(0).unwrap();
    /// fd.write(1).unwrap();
    /// manager.add_subscriber(Reader(fd));
    /// assert_eq!(manager.run().unwrap(), 1);
    /// ```
    ///
    /// A program calls it in a loop until something tells it to stop, for
    /// example a subscriber that watches a "stop" eventfd, which any thread
    /// (or a signal handler: an eventfd write is async-signal-safe) writes:
    ///
    /// ```
    /// use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
    /// use vmm_sys_util::eventfd::EventFd;
    ///
    /// struct Stop {
    ///     fd: EventFd,
    ///     stopped: bool,
    /// }
    ///
    /// impl MutEventSubscriber for Stop {
    ///     fn init(&mut self, ops: &mut EventOps) {
    ///         ops.add(Events::new(&self.fd, EventSet::IN)).expect("watch the stop eventfd");
    ///     }
    ///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {
    ///         self.stopped = true;
    ///     }
    /// }
    ///
    /// let mut manager = EventManager::new().unwrap();
    /// let stop = EventFd::new(0).unwrap();
    /// let stopper = stop.try_clone().unwrap();
    /// let id = manager.add_subscriber(Stop { fd: stop, stopped: false });
    ///
    /// let other_thread = std::thread::spawn(move || stopper.write(1).unwrap());
    /// while !manager.subscriber_mut(id).unwrap().stopped {
    ///     manager.run().unwrap(); // the other subscribers' events, until the stop
    /// }
    /// other_thread.join().unwrap();
    /// ```
    pub fn run(&mut self) -> Result<usize> {
        self.run_with_timeout(-1)
    }

    /// Waits up to `milliseconds` (-1: no limit, 0: do not block) for ready
    /// fds and dispatches every ready event to its subscriber's `process`.
    ///
    /// Returns how many events were dispatched: those that reached a
    /// `process`, plus one when the remote endpoint's wake-up was handled
    /// (requests or a `kick`). An event whose fd was removed earlier in the
    /// same batch is dropped and not counted, so `Ok(0)` can also mean that
    /// every ready event was of that kind. A wait interrupted by a signal
    /// (`EINTR`) returns `Ok(0)`.
    ///
    /// If a `process` panics, the panic propagates out of `run` and the
    /// manager stays consistent. The next `run` does not wait: it first
    /// dispatches the rest of the interrupted batch, so edge-triggered and
    /// one-shot events are not lost. Events of fds removed meanwhile are
    /// skipped; an fd modified meanwhile still gets the event the kernel
    /// reported before the change. Level-triggered fds among them may no
    /// longer be ready by then, which non-blocking fds handle as a spurious
    /// wake-up.
    ///
    /// ```
    /// use event_manager::{EventManager, MutEventSubscriber};
    ///
    /// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    /// assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    /// ```
    pub fn run_with_timeout(&mut self, milliseconds: i32) -> Result<usize> {
        self.wait_and_dispatch(|epoll, ready| epoll.wait(milliseconds, ready))
    }

    /// The body of every run: unless a batch cut short by a panic is left,
    /// `wait` fills the ready list (it returns how many it filled); then
    /// each ready event goes to its subscriber.
    #[inline(always)]
    pub(crate) fn wait_and_dispatch(
        &mut self,
        wait: impl FnOnce(&Epoll, &mut [EpollEvent]) -> std::io::Result<usize>,
    ) -> Result<usize> {
        // From here to the end of the batch, `call_blocking` on this
        // thread is refused. Set and cleared outside the dispatch loop: the
        // loop has no register to spare for the mark.
        #[cfg(feature = "remote_endpoint")]
        self.inbox.mark_running();
        if self.next_ready >= self.ready_len {
            self.ready_len = 0;
            self.next_ready = 0;
            // Between batches: pages emptied by the last one may go.
            self.registry.release_empty_pages();
            match wait(self.registry.epoll(), &mut self.ready_events) {
                Ok(count) => self.ready_len = count,
                Err(err) => {
                    // The run ends here: so does the mark, or this thread
                    // would be refused once another runs the manager.
                    #[cfg(feature = "remote_endpoint")]
                    self.inbox.clear_running();
                    if err.raw_os_error() == Some(libc::EINTR) {
                        return Ok(0);
                    }
                    return Err(Error::Epoll(Errno::from(err)));
                }
            }
        }

        let mut dispatched = 0;
        let batch = self
            .ready_events
            .get(self.next_ready..self.ready_len)
            .unwrap_or_default();
        // The cursor steps past each event before dispatching it and is
        // written back when the loop ends, or when a `process` panics, so
        // that the next run resumes after the event that panicked. It stays
        // in a register meanwhile.
        let mut cursor = BatchCursor {
            position: self.next_ready,
            next_ready: &mut self.next_ready,
        };
        for ready in batch {
            cursor.position += 1;
            let key = ready.data();
            let Some((owner, fd, data)) = self.registry.resolve(key) else {
                #[cfg(feature = "remote_endpoint")]
                {
                    self.endpoint_woken |= key == crate::registry::RESERVED_KEY;
                }
                continue;
            };
            let Some(subscriber) = self
                .subscribers
                .get_mut(owner as usize)
                .and_then(|slot| slot.subscriber.as_mut())
            else {
                continue;
            };
            let events =
                Events::with_data_raw(fd, data, EventSet::from_bits_truncate(ready.events()));
            subscriber.process(events, &mut EventOps::new(&mut self.registry, owner));
            dispatched += 1;
        }
        drop(cursor);
        #[cfg(feature = "remote_endpoint")]
        self.inbox.clear_running();

        #[cfg(feature = "remote_endpoint")]
        if std::mem::take(&mut self.endpoint_woken) {
            self.serve_requests()?;
            dispatched += 1;
        }
        Ok(dispatched)
    }

    /// The slot of a live subscriber, or `InvalidId`.
    fn live_slot(&self, id: SubscriberId) -> Result<OwnerSlot> {
        if id.manager != self.manager_id {
            return Err(Error::InvalidId);
        }
        match self.subscribers.get(id.slot as usize) {
            Some(entry) if entry.generation == id.generation && entry.subscriber.is_some() => {
                Ok(id.slot)
            }
            _ => Err(Error::InvalidId),
        }
    }

    /// Frees a slot; a slot whose generation is exhausted is never reused,
    /// so that no id is handed out twice.
    fn release_slot(&mut self, slot: OwnerSlot) -> Option<T> {
        self.registry.remove_owner(slot);
        let entry = &mut self.subscribers[slot as usize];
        let subscriber = entry.subscriber.take();
        if entry.generation < u32::MAX {
            entry.generation += 1;
            self.free_slots.push(slot);
            self.free_count += 1;
        } else {
            self.retired += 1;
        }
        // Emptied fd-table pages are freed by the next run, between
        // batches: freeing them here made a loop that adds and removes a
        // subscriber allocate and zero a page each time.
        self.shrink_table();
        subscriber
    }

    /// Gives back the free slots at the end of the table, each once, so in
    /// O(1) per removal over time. A slot made again later starts at
    /// `generation_floor`, past every generation its ids had, so no old id
    /// comes back to life. Their entries in `free_slots` stay behind and
    /// are skipped when popped.
    fn shrink_table(&mut self) {
        let before = self.subscribers.len();
        while let Some(last) = self.subscribers.last() {
            if last.subscriber.is_some() || last.generation == u32::MAX {
                break;
            }
            self.generation_floor = self.generation_floor.max(last.generation);
            self.subscribers.pop();
            self.free_count -= 1;
        }
        let len = self.subscribers.len();
        if len == before {
            return;
        }
        if self.free_count == 0 {
            self.free_slots.clear();
        }
        if self.subscribers.capacity() > 2 * len.max(4) {
            self.subscribers.shrink_to_fit();
            self.free_slots.shrink_to(self.free_slots.len().max(len));
        }
        self.registry.truncate_owners(len);
    }

    /// A free slot of the table, if there is one.
    fn pop_free_slot(&mut self) -> Option<OwnerSlot> {
        while let Some(slot) = self.free_slots.pop() {
            if (slot as usize) < self.subscribers.len() {
                self.free_count -= 1;
                return Some(slot);
            }
        }
        None
    }
}

impl<T: MutEventSubscriber> SubscriberOps for EventManager<T> {
    type Subscriber = T;

    /// # Panics
    ///
    /// Only if `init` panics (the subscriber is then dropped and its fds
    /// deregistered), or if more than `u32::MAX - 1` subscribers are alive
    /// at once.
    fn add_subscriber(&mut self, subscriber: T) -> SubscriberId {
        let slot = match self.pop_free_slot() {
            Some(slot) => slot,
            None => {
                let slot = OwnerSlot::try_from(self.subscribers.len())
                    .ok()
                    .filter(|&slot| slot < u32::MAX)
                    .expect("more than u32::MAX - 1 live subscribers in one EventManager");
                self.subscribers.push(SubscriberSlot {
                    generation: self.generation_floor,
                    subscriber: None,
                });
                slot
            }
        };
        self.registry.open_owner(slot);
        let entry = &mut self.subscribers[slot as usize];
        let generation = entry.generation;
        let subscriber = entry.subscriber.insert(subscriber);
        let mut ops = EventOps::new(&mut self.registry, slot);
        // `init` runs with the manager borrowed: a `call_blocking` from it
        // would wait for a run that cannot start, so it is refused.
        #[cfg(feature = "remote_endpoint")]
        let previous_mark = self.inbox.mark_holding();
        let initialised = panic::catch_unwind(AssertUnwindSafe(|| subscriber.init(&mut ops)));
        if let Err(panic) = initialised {
            // Dropped before the mark is put back: a `call_blocking` from
            // its `Drop` is refused at once, as from `init`, instead of
            // waiting for a run that cannot start. A panic of that drop is
            // reported by the panic hook; the one passed on is `init`'s.
            let subscriber = self.release_slot(slot);
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(subscriber)));
            #[cfg(feature = "remote_endpoint")]
            self.inbox.restore_running(previous_mark);
            panic::resume_unwind(panic);
        }
        #[cfg(feature = "remote_endpoint")]
        self.inbox.restore_running(previous_mark);
        SubscriberId {
            manager: self.manager_id,
            slot,
            generation,
        }
    }

    fn remove_subscriber(&mut self, subscriber_id: SubscriberId) -> Result<T> {
        let slot = self.live_slot(subscriber_id)?;
        self.release_slot(slot).ok_or(Error::InvalidId)
    }

    fn subscriber_mut(&mut self, subscriber_id: SubscriberId) -> Result<&mut T> {
        let slot = self.live_slot(subscriber_id)?;
        self.subscribers[slot as usize]
            .subscriber
            .as_mut()
            .ok_or(Error::InvalidId)
    }

    fn event_ops(&mut self, subscriber_id: SubscriberId) -> Result<EventOps<'_>> {
        let slot = self.live_slot(subscriber_id)?;
        Ok(EventOps::new(&mut self.registry, slot))
    }
}

impl<T> fmt::Debug for EventManager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live = self
            .subscribers
            .iter()
            .filter(|slot| slot.subscriber.is_some())
            .count();
        f.debug_struct("EventManager")
            .field("subscribers", &live)
            .field("ready_events_capacity", &self.ready_events.len())
            .finish_non_exhaustive()
    }
}

/// Where the dispatch loop is in the ready batch; see `run_with_timeout`.
struct BatchCursor<'a> {
    position: usize,
    next_ready: &'a mut usize,
}

impl Drop for BatchCursor<'_> {
    fn drop(&mut self) {
        *self.next_ready = self.position;
    }
}

/// The manager's epoll fd, which becomes readable when an event is ready:
/// another event loop can watch it and call
/// [`run_with_timeout(0)`](EventManager::run_with_timeout) when it is (the
/// `nested` example does this inside a tokio runtime).
///
/// Only for watching: adding fds to it directly, or closing it, bypasses
/// the manager.
///
/// ```
/// use std::os::unix::io::AsRawFd;
/// use event_manager::{EventManager, MutEventSubscriber};
///
/// let manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
/// assert!(manager.as_raw_fd() >= 0);
/// ```
impl<T> std::os::unix::io::AsRawFd for EventManager<T> {
    fn as_raw_fd(&self) -> std::os::unix::io::RawFd {
        self.registry.epoll().as_raw_fd()
    }
}

/// The manager's epoll fd, borrowed; see the `AsRawFd` implementation.
///
/// ```
/// use std::os::fd::AsFd;
/// use event_manager::{EventManager, MutEventSubscriber};
///
/// let manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
/// let epoll = manager.as_fd().try_clone_to_owned().unwrap();
/// # drop(epoll);
/// ```
impl<T> std::os::fd::AsFd for EventManager<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        crate::sys::borrow_fd(self.registry.epoll())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Idle;

    #[test]
    fn a_slot_whose_generation_is_exhausted_is_retired_not_reused() {
        let mut manager = EventManager::<Idle>::new().unwrap();
        let first = manager.add_subscriber(Idle);
        manager.subscribers[0].generation = u32::MAX;
        let last = SubscriberId {
            generation: u32::MAX,
            ..first
        };
        manager.remove_subscriber(last).unwrap();
        assert!(manager.free_slots.is_empty());

        let next = manager.add_subscriber(Idle);
        assert_eq!(next.slot, 1, "a fresh slot, not the retired one");
        assert_ne!(next, first);
        assert_eq!(manager.subscriber_mut(last).err(), Some(Error::InvalidId));
    }

    #[test]
    fn an_id_with_a_foreign_generation_or_slot_is_invalid() {
        let mut manager = EventManager::<Idle>::new().unwrap();
        let id = manager.add_subscriber(Idle);
        let wrong_generation = SubscriberId {
            generation: 1,
            ..id
        };
        let wrong_slot = SubscriberId { slot: 1, ..id };
        assert_eq!(
            manager.subscriber_mut(wrong_generation).err(),
            Some(Error::InvalidId)
        );
        assert_eq!(manager.event_ops(wrong_slot).err(), Some(Error::InvalidId));
        assert!(manager.subscriber_mut(id).is_ok());
    }

    #[test]
    fn removing_every_subscriber_gives_the_table_back_and_old_ids_stay_invalid() {
        let mut manager = EventManager::<Idle>::new().unwrap();
        let ids: Vec<_> = (0..1000).map(|_| manager.add_subscriber(Idle)).collect();
        // Reused once, so slot 0 has generation 1 when it goes.
        manager.remove_subscriber(ids[0]).unwrap();
        let reused = manager.add_subscriber(Idle);
        assert_eq!((reused.slot, reused.generation), (0, 1));
        for &id in ids[1..].iter().rev() {
            manager.remove_subscriber(id).unwrap();
        }
        // Everything behind slot 0 went as it was freed.
        assert_eq!(manager.subscribers.len(), 1);
        manager.remove_subscriber(reused).unwrap();
        assert!(manager.subscribers.is_empty());
        assert!(manager.free_slots.is_empty());
        assert!(manager.subscribers.capacity() <= 8);
        assert!(manager.registry.owner_count() == 0);

        // The next subscriber takes slot 0 again, with a generation that
        // no earlier id of that slot had.
        let next = manager.add_subscriber(Idle);
        assert_eq!(next.slot, 0);
        assert_eq!(next.generation, 2);
        for id in ids.iter().chain([&reused]) {
            assert_eq!(manager.subscriber_mut(*id).err(), Some(Error::InvalidId));
        }
        assert!(manager.subscriber_mut(next).is_ok());
    }

    #[test]
    fn free_slots_in_the_middle_are_reused_and_the_tail_is_given_back() {
        let mut manager = EventManager::<Idle>::new().unwrap();
        let ids: Vec<_> = (0..400).map(|_| manager.add_subscriber(Idle)).collect();
        // Keep every tenth of the first half; remove the rest.
        for (number, id) in ids.iter().enumerate() {
            if number >= 200 || number % 10 != 0 {
                manager.remove_subscriber(*id).unwrap();
            }
        }
        // The table ends at the last live slot (190) or soon after.
        assert!(
            manager.subscribers.len() <= 200,
            "{}",
            manager.subscribers.len()
        );
        for (number, id) in ids.iter().enumerate() {
            let live = number < 200 && number % 10 == 0;
            assert_eq!(
                manager.subscriber_mut(*id).is_ok(),
                live,
                "subscriber {number}"
            );
        }
        // New subscribers fill free slots or grow the table, and every id
        // is told apart.
        let more: Vec<_> = (0..300).map(|_| manager.add_subscriber(Idle)).collect();
        for id in &more {
            assert!(manager.subscriber_mut(*id).is_ok());
            assert!(!ids.contains(id));
        }
    }

    #[test]
    fn a_removed_subscriber_gives_back_the_pages_of_its_fds() {
        use vmm_sys_util::eventfd::EventFd;
        struct Watches(Vec<EventFd>);
        impl MutEventSubscriber for Watches {
            fn init(&mut self, ops: &mut EventOps) {
                for fd in &self.0 {
                    ops.add(Events::new(fd, EventSet::IN)).unwrap();
                }
            }
            fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
        }
        let mut manager = EventManager::<Watches>::new().unwrap();
        let fds: Vec<_> = (0..3).map(|_| EventFd::new(0).unwrap()).collect();
        for fd in &fds {
            fd.write(1).unwrap();
        }
        let id = manager.add_subscriber(Watches(fds));
        assert!(manager.registry.page_count() >= 1);
        assert_eq!(manager.run_with_timeout(0), Ok(3));
        let Watches(fds) = manager.remove_subscriber(id).unwrap();
        // Freed by the next run, between batches, not by the removal (a
        // loop of adds and removals would allocate a page each time).
        assert!(manager.registry.page_count() >= 1);
        assert_eq!(manager.run_with_timeout(0), Ok(0));
        assert_eq!(manager.registry.page_count(), 0);

        // Registered again, the fds are dispatched as before.
        let id = manager.add_subscriber(Watches(fds));
        assert_eq!(manager.run_with_timeout(0), Ok(3));
        manager.remove_subscriber(id).unwrap();
    }

    #[test]
    fn debug_shows_the_live_subscribers_without_requiring_debug_of_them() {
        let mut manager = EventManager::<Idle>::new_with_capacity(8).unwrap();
        let id = manager.add_subscriber(Idle);
        manager.add_subscriber(Idle);
        manager.remove_subscriber(id).unwrap();
        let text = format!("{manager:?}");
        assert!(text.contains("subscribers: 1"), "{text}");
        assert!(text.contains("ready_events_capacity: 8"), "{text}");
    }
}
