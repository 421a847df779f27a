//! Many timers on one timerfd: an indexed min-heap of deadlines on the
//! monotonic clock, with the timerfd armed for the earliest.
//!
//! Each timer's slot records where its heap entry is, so cancelling or
//! rescheduling moves that one entry in O(log n) and nothing stays behind
//! in the heap until it would have come due. Freed slots are reused, and
//! the vectors give memory back when they fall far below their capacity.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use vmm_sys_util::errno::Error as Errno;

use crate::sys::timerfd::TimerFd;
use crate::{Error, Result};

/// The latest deadline, in nanoseconds after a `Timers`' creation: about
/// 292 years. Below it, the deadline added to the creation `Instant` and
/// the kernel's signed 64-bit nanosecond time both stay in range.
const MAX_DEADLINE: u64 = i64::MAX as u64;

/// Vectors are not shrunk below this many elements, so that a set of a
/// few timers that come and go does not reallocate on every change.
const MIN_CAPACITY: usize = 16;

/// Hands every `Timers` a distinct owner number, carried by its ids, so an
/// id from one `Timers` never names a timer of another.
static NEXT_OWNER: AtomicU32 = AtomicU32::new(0);

/// Timers on one timerfd, each carrying a value of type `T` that is
/// handed back when it fires.
///
/// Register the `Timers` with an [`EventManager`](crate::EventManager) like
/// any fd (it implements [`AsRawFd`] and [`AsFd`]), and when it is readable
/// call [`pop_expired`](Timers::pop_expired) until it returns `None`.
///
/// - [`after`](Timers::after) adds a one-shot timer, [`every`](Timers::every)
///   a periodic one; both return a [`TimerId`].
/// - [`cancel`](Timers::cancel) removes a pending timer and gives its value
///   back; [`reschedule`](Timers::reschedule) moves its next firing. Both
///   take O(log n), and a cancelled timer is gone at once: it does not
///   wait in the heap for its deadline, and its memory serves the next
///   timer (the vectors shrink when they fall below a quarter of their
///   capacity).
///
/// Deadlines are on the monotonic clock (`CLOCK_MONOTONIC`, the clock of
/// [`Instant`]): changes of the wall-clock time do not move them, and the
/// clock does not advance while the machine is suspended. The timerfd is
/// armed for the earliest deadline, and re-armed by `after`, `every` and
/// `reschedule` only when they bring the earliest deadline forward. When
/// the earliest timer is cancelled or moved later, the timerfd is left as
/// it is: it wakes the loop once for nothing, and `pop_expired` arms it for
/// the new earliest deadline. So `cancel` never makes a system call, and
/// `reschedule` only when it moves a timer earlier than all others.
///
/// ```
/// use std::time::Duration;
/// use event_manager::{
///     EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps, TimerId, Timers,
/// };
///
/// #[derive(Clone, Copy)]
/// enum Due {
///     Tick,
///     Stop,
/// }
///
/// /// Ticks every millisecond until its 20 ms stop timer fires.
/// struct Ticker {
///     timers: Timers<Due>,
///     ticking: Option<TimerId>,
///     ticks: u32,
/// }
///
/// impl MutEventSubscriber for Ticker {
///     fn init(&mut self, ops: &mut EventOps) {
///         ops.add(Events::new(&self.timers, EventSet::IN))
///             .expect("register the timers");
///     }
///
///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {
///         // Each call borrows `self.timers` only for the call, so the body
///         // may use all of `self`.
///         while let Some((_id, due)) = self.timers.pop_expired() {
///             match due {
///                 Due::Tick => self.ticks += 1,
///                 Due::Stop => {
///                     if let Some(ticking) = self.ticking.take() {
///                         self.timers.cancel(ticking).expect("still pending");
///                     }
///                 }
///             }
///         }
///     }
/// }
///
/// let mut timers = Timers::new().expect("create the timerfd");
/// let ticking = timers.every(Duration::from_millis(1), Due::Tick).unwrap();
/// timers.after(Duration::from_millis(20), Due::Stop).unwrap();
///
/// let mut manager = EventManager::new().unwrap();
/// let id = manager.add_subscriber(Ticker { timers, ticking: Some(ticking), ticks: 0 });
/// while !manager.subscriber_mut(id).unwrap().timers.is_empty() {
///     manager.run().unwrap();
/// }
/// // The first tick was due long before the stop.
/// assert!(manager.subscriber_mut(id).unwrap().ticks >= 1);
/// ```
pub struct Timers<T = ()> {
    heap: TimerHeap<T>,
    fd: TimerFd,
    /// Deadlines are nanoseconds after this instant.
    base: Instant,
    /// The deadline the timerfd is armed for, if it is armed.
    armed: Option<u64>,
    /// The time of the batch of `pop_expired` calls under way: read at the
    /// first call and kept until a call returns `None`. One reading per
    /// batch is what ends the batch: a periodic timer's next deadline lies
    /// after it, so even a 1 ns period fires once per batch, not forever.
    batch_now: Option<u64>,
}

/// Names one timer of one [`Timers`]: returned by [`Timers::after`] and
/// [`Timers::every`], given back by [`Timers::pop_expired`], and taken by
/// [`Timers::cancel`] and [`Timers::reschedule`].
///
/// An id stays tied to its timer: once the timer is gone (a one-shot that
/// fired, or a cancelled one), the id names nothing, even after a new timer
/// takes its place in memory, and an id of another `Timers` names nothing
/// here. Such ids give [`Error::TimerNotFound`]. (Ids carry a 32-bit count
/// of the reuses of their slot; a stale id could match again only after a
/// slot was reused 2^32 times while the id was kept.)
///
/// ```
/// use std::time::Duration;
/// use event_manager::{Error, Timers};
///
/// let mut timers: Timers = Timers::new().unwrap();
/// let first = timers.after(Duration::from_secs(60), ()).unwrap();
/// timers.cancel(first).unwrap();
/// let second = timers.after(Duration::from_secs(60), ()).unwrap();
/// assert_ne!(first, second);
/// assert_eq!(timers.cancel(first), Err(Error::TimerNotFound));
/// assert!(timers.contains(second));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    owner: u32,
    index: u32,
    generation: u32,
}

impl<T> Timers<T> {
    /// Creates an empty set of timers with its own timerfd (non-blocking,
    /// close-on-exec, on `CLOCK_MONOTONIC`), disarmed.
    ///
    /// Fails with [`Error::TimerFd`] when the kernel refuses the timerfd
    /// (too many open fds, for example).
    ///
    /// ```
    /// use event_manager::Timers;
    ///
    /// let timers: Timers<String> = Timers::new().expect("create the timerfd");
    /// assert!(timers.is_empty());
    /// assert_eq!(timers.next_deadline(), None);
    /// ```
    pub fn new() -> Result<Self> {
        let fd = TimerFd::new().map_err(timerfd_error)?;
        Ok(Timers {
            heap: TimerHeap::new(NEXT_OWNER.fetch_add(1, Ordering::Relaxed)),
            fd,
            base: Instant::now(),
            armed: None,
            batch_now: None,
        })
    }

    /// Adds a one-shot timer that fires `delay` from now with `value`,
    /// which [`pop_expired`](Timers::pop_expired) then moves out.
    ///
    /// A zero `delay` is due at once. A delay whose deadline the clock
    /// cannot represent (such as `Duration::MAX`) is
    /// [`Error::InvalidDuration`]; arming the timerfd can fail with
    /// [`Error::TimerFd`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::{Error, Timers};
    ///
    /// let mut timers = Timers::new().unwrap();
    /// let id = timers.after(Duration::ZERO, "now").unwrap();
    /// assert_eq!(timers.pop_expired(), Some((id, "now")));
    /// assert_eq!(timers.pop_expired(), None);
    /// assert_eq!(timers.after(Duration::MAX, "never"), Err(Error::InvalidDuration));
    /// ```
    pub fn after(&mut self, delay: Duration, value: T) -> Result<TimerId> {
        self.add(delay, 0, value)
    }

    /// Adds a periodic timer that fires every `period` with a clone of
    /// `value`, the first time one period from now.
    ///
    /// A zero `period`, or one whose first deadline the clock cannot
    /// represent, is [`Error::InvalidDuration`]. A periodic timer that falls
    /// behind (its handler ran late, or the loop was busy) fires once when
    /// it is next popped, not once per missed period, and its next deadline
    /// is the first multiple of the period after that moment, counted from
    /// its first deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::{Error, Timers};
    ///
    /// let mut timers = Timers::new().unwrap();
    /// let id = timers.every(Duration::from_millis(100), "tick").unwrap();
    /// assert!(timers.contains(id));
    /// assert_eq!(timers.every(Duration::ZERO, "tick"), Err(Error::InvalidDuration));
    /// ```
    pub fn every(&mut self, period: Duration, value: T) -> Result<TimerId> {
        let period = nanos(period).filter(|period| *period > 0);
        let period = period.ok_or(Error::InvalidDuration)?;
        self.add(Duration::from_nanos(period), period, value)
    }

    /// Removes a pending timer and returns its value, in O(log n) and
    /// without a system call. The timer will not fire, and its memory is
    /// reused by the next timer added.
    ///
    /// [`Error::TimerNotFound`] if `id` names no pending timer: a one-shot
    /// that fired, a timer already cancelled, or an id of another `Timers`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::{Error, Timers};
    ///
    /// let mut timers = Timers::new().unwrap();
    /// let id = timers.after(Duration::from_secs(30), "idle").unwrap();
    /// assert_eq!(timers.cancel(id), Ok("idle"));
    /// assert_eq!(timers.cancel(id), Err(Error::TimerNotFound));
    /// assert!(timers.is_empty());
    /// ```
    pub fn cancel(&mut self, id: TimerId) -> Result<T> {
        self.heap.remove(id).ok_or(Error::TimerNotFound)
    }

    /// Moves a pending timer's next firing to `delay` from now, in
    /// O(log n). A periodic timer keeps its period, counted from the new
    /// deadline. This is the call for an idle timeout: reschedule it on
    /// every sign of activity.
    ///
    /// [`Error::TimerNotFound`] if `id` names no pending timer (checked
    /// first); [`Error::InvalidDuration`] if the deadline cannot be
    /// represented; [`Error::TimerFd`] if the timerfd, re-armed because this
    /// deadline is now the earliest, refuses.
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::Timers;
    ///
    /// let mut timers = Timers::new().unwrap();
    /// let idle = timers.after(Duration::from_secs(30), "close").unwrap();
    /// let later = timers.next_deadline().unwrap() + Duration::from_secs(30);
    /// timers.reschedule(idle, Duration::from_secs(60)).unwrap();
    /// assert!(timers.next_deadline().unwrap() >= later);
    /// timers.reschedule(idle, Duration::ZERO).unwrap();
    /// assert_eq!(timers.pop_expired(), Some((idle, "close")));
    /// ```
    pub fn reschedule(&mut self, id: TimerId, delay: Duration) -> Result<()> {
        if !self.heap.contains(id) {
            return Err(Error::TimerNotFound);
        }
        let deadline = self.deadline_after(delay)?;
        self.arm_if_earlier(deadline)?;
        self.heap.set_deadline(id, deadline);
        Ok(())
    }

    /// Returns the next timer that is due, with its id: call it in a loop
    /// from the handler of the timerfd until it returns `None`.
    ///
    /// - The first call of such a loop clears the timerfd's expiration
    ///   count (a non-blocking read) and reads the clock once; the calls
    ///   that follow use that reading, so the loop ends even if timers keep
    ///   coming due while it runs (they fire in the next one).
    /// - Timers come out earliest deadline first. A one-shot timer is
    ///   removed and its value moved out; a periodic timer stays, its value
    ///   is cloned, and its next deadline is the first multiple of its
    ///   period after the loop's time, so one that fell behind fires once,
    ///   not in a burst.
    /// - When nothing more is due, it arms the timerfd for the earliest
    ///   deadline (or disarms it when no timer is left) and returns `None`.
    ///   The timerfd is then no longer readable, so a level-triggered
    ///   registration does not fire again before the next deadline.
    ///
    /// Call it until it returns `None`: a loop that stops early leaves the
    /// timerfd read but not re-armed, so the timers still due wake nobody
    /// until the next call, which goes on with the same time reading.
    ///
    /// It may be called at any time, also when the timerfd is not readable
    /// or nothing is due: it never blocks. A failure of the timerfd, which
    /// it has no way to report, leaves the timerfd disarmed until the next
    /// timer is added or rescheduled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::Timers;
    ///
    /// let mut timers = Timers::new().unwrap();
    /// let first = timers.after(Duration::ZERO, 1).unwrap();
    /// let later = timers.after(Duration::from_secs(3600), 2).unwrap();
    /// let mut fired = Vec::new();
    /// while let Some((id, value)) = timers.pop_expired() {
    ///     fired.push((id, value));
    /// }
    /// assert_eq!(fired, [(first, 1)]);
    /// assert!(timers.contains(later));
    /// // Nothing due: calling again is harmless.
    /// assert_eq!(timers.pop_expired(), None);
    /// ```
    pub fn pop_expired(&mut self) -> Option<(TimerId, T)>
    where
        T: Clone,
    {
        let now = match self.batch_now {
            Some(now) => now,
            None => {
                // Nothing to do about a failed read: the timerfd is
                // re-armed below, which clears its count as well.
                let _ = self.fd.take_expirations();
                let now = self.now();
                self.batch_now = Some(now);
                now
            }
        };
        if let Some(fired) = self.heap.pop_due(now) {
            return Some(fired);
        }
        self.batch_now = None;
        self.arm_for_earliest();
        None
    }

    /// The earliest deadline of the pending timers, or `None` when there
    /// are none.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use event_manager::Timers;
    ///
    /// let mut timers = Timers::new().unwrap();
    /// let before = Instant::now();
    /// timers.after(Duration::from_secs(10), ()).unwrap();
    /// timers.after(Duration::from_secs(5), ()).unwrap();
    /// let deadline = timers.next_deadline().unwrap();
    /// assert!(deadline >= before + Duration::from_secs(5));
    /// assert!(deadline < before + Duration::from_secs(10));
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        let deadline = self.heap.earliest()?;
        self.base.checked_add(Duration::from_nanos(deadline))
    }

    /// The number of pending timers: one-shots that have not fired and
    /// periodic timers, less those cancelled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::Timers;
    ///
    /// let mut timers = Timers::new().unwrap();
    /// let id = timers.every(Duration::from_secs(1), ()).unwrap();
    /// assert_eq!(timers.len(), 1);
    /// timers.cancel(id).unwrap();
    /// assert_eq!(timers.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no timer is pending.
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::Timers;
    ///
    /// let mut timers = Timers::new().unwrap();
    /// assert!(timers.is_empty());
    /// timers.after(Duration::ZERO, ()).unwrap();
    /// assert!(!timers.is_empty());
    /// while timers.pop_expired().is_some() {}
    /// assert!(timers.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.heap.len() == 0
    }

    /// Whether `id` names a pending timer of this `Timers`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use event_manager::Timers;
    ///
    /// let mut timers = Timers::new().unwrap();
    /// let others: Timers = Timers::new().unwrap();
    /// let once = timers.after(Duration::ZERO, ()).unwrap();
    /// assert!(timers.contains(once));
    /// assert!(!others.contains(once));
    /// assert_eq!(timers.pop_expired(), Some((once, ())));
    /// assert!(!timers.contains(once));
    /// ```
    pub fn contains(&self, id: TimerId) -> bool {
        self.heap.contains(id)
    }

    fn add(&mut self, delay: Duration, period: u64, value: T) -> Result<TimerId> {
        let deadline = self.deadline_after(delay)?;
        // Armed before the timer is in: a failure then leaves nothing to
        // undo, and an insertion that fails after it costs one spurious
        // wake-up at most.
        self.arm_if_earlier(deadline)?;
        self.heap.insert(deadline, period, value)
    }

    /// Nanoseconds since `base` on the monotonic clock.
    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn deadline_after(&self, delay: Duration) -> Result<u64> {
        let now = self.now();
        let deadline = nanos(delay)
            .and_then(|delay| now.checked_add(delay))
            .filter(|deadline| *deadline <= MAX_DEADLINE)
            .ok_or(Error::InvalidDuration)?;
        // A timer added during a batch of `pop_expired` calls is for the
        // next batch, even when the clock has not moved since the batch
        // began: a handler that keeps adding zero-delay timers must not
        // keep its loop going.
        Ok(match self.batch_now {
            Some(batch_now) => deadline.max(batch_now + 1),
            None => deadline,
        })
    }

    fn arm_if_earlier(&mut self, deadline: u64) -> Result<()> {
        if self.armed.is_some_and(|armed| armed <= deadline) {
            return Ok(());
        }
        self.fd
            .arm_after(deadline.saturating_sub(self.now()))
            .map_err(timerfd_error)?;
        self.armed = Some(deadline);
        Ok(())
    }

    /// Arms the timerfd for the earliest deadline, or disarms it. Either
    /// clears the expiration count, so the fd stops being readable.
    fn arm_for_earliest(&mut self) {
        let now = self.now();
        let result = match self.heap.earliest() {
            // Armed for exactly this deadline and it has not passed: the
            // timerfd cannot have expired since, and is already right.
            Some(deadline) if self.armed == Some(deadline) && deadline > now => return,
            Some(deadline) => self
                .fd
                .arm_after(deadline.saturating_sub(now))
                .map(|()| Some(deadline)),
            None => self.fd.disarm().map(|()| None),
        };
        // After a failure the state of the timerfd is unknown; `None` makes
        // the next `after`, `every` or `reschedule` arm it again.
        self.armed = result.unwrap_or(None);
    }
}

impl<T> AsRawFd for Timers<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl<T> AsFd for Timers<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Shows the fd, the number of timers and the earliest deadline, not the
/// values (so `T` need not be `Debug`).
impl<T> fmt::Debug for Timers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("fd", &self.fd.as_raw_fd())
            .field("len", &self.len())
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

/// A duration in nanoseconds, if it fits a `u64` (about 584 years).
fn nanos(duration: Duration) -> Option<u64> {
    u64::try_from(duration.as_nanos()).ok()
}

fn timerfd_error(err: std::io::Error) -> Error {
    Error::TimerFd(Errno::from(err))
}

/// The timers themselves, without the fd and the clock: deadlines are
/// plain nanosecond counts, so the heap can be tested on a made-up clock.
struct TimerHeap<T> {
    owner: u32,
    /// Indexed by `TimerId::index`; a slot whose `value` is `None` is free.
    slots: Vec<Slot<T>>,
    /// A binary min-heap on `deadline`.
    entries: Vec<Entry>,
    /// Free slot indexes, lowest first: filling the lowest keeps the live
    /// slots at the front, so the free ones at the back can be dropped.
    /// Indexes at or past `slots.len()` are left over from such drops and
    /// are skipped.
    free: BinaryHeap<Reverse<u32>>,
    /// The generation of a slot pushed anew: above every generation a
    /// dropped slot had, so no old id names the new slot.
    fresh_generation: u32,
}

struct Slot<T> {
    generation: u32,
    /// Where the slot's entry is in `entries`, while the slot is in use.
    heap_pos: u32,
    /// In nanoseconds; 0 for a one-shot timer.
    period: u64,
    value: Option<T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    deadline: u64,
    slot: u32,
}

impl<T> TimerHeap<T> {
    fn new(owner: u32) -> Self {
        TimerHeap {
            owner,
            slots: Vec::new(),
            entries: Vec::new(),
            free: BinaryHeap::new(),
            fresh_generation: 0,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn earliest(&self) -> Option<u64> {
        self.entries.first().map(|entry| entry.deadline)
    }

    fn contains(&self, id: TimerId) -> bool {
        self.lookup(id).is_some()
    }

    /// The slot of a pending timer.
    fn lookup(&self, id: TimerId) -> Option<usize> {
        let index = id.index as usize;
        let slot = self.slots.get(index)?;
        let current =
            id.owner == self.owner && slot.generation == id.generation && slot.value.is_some();
        current.then_some(index)
    }

    fn insert(&mut self, deadline: u64, period: u64, value: T) -> Result<TimerId> {
        let index = self.take_slot()?;
        let position = self.entries.len();
        let slot = &mut self.slots[index as usize];
        slot.period = period;
        slot.value = Some(value);
        let id = TimerId {
            owner: self.owner,
            index,
            generation: slot.generation,
        };
        self.entries.push(Entry {
            deadline,
            slot: index,
        });
        self.sift_up(position);
        Ok(id)
    }

    fn take_slot(&mut self) -> Result<u32> {
        if let Some(&Reverse(index)) = self.free.peek() {
            if (index as usize) < self.slots.len() {
                self.free.pop();
                return Ok(index);
            }
            // The lowest is left over from dropped slots, so all are.
            self.free.clear();
        }
        // Every index fits a u32, and `entries` (no longer than `slots`)
        // too. 2^32 timers would take over 100 GB before this; the kernel's
        // answer to running out of memory is the closest error there is.
        let index = u32::try_from(self.slots.len())
            .ok()
            .filter(|index| *index < u32::MAX)
            .ok_or(Error::TimerFd(Errno::new(libc::ENOMEM)))?;
        self.slots.push(Slot {
            generation: self.fresh_generation,
            heap_pos: 0,
            period: 0,
            value: None,
        });
        Ok(index)
    }

    fn remove(&mut self, id: TimerId) -> Option<T> {
        let index = self.lookup(id)?;
        self.remove_entry(self.slots[index].heap_pos as usize);
        Some(self.release_slot(index))
    }

    fn set_deadline(&mut self, id: TimerId, deadline: u64) -> bool {
        let Some(index) = self.lookup(id) else {
            return false;
        };
        let position = self.slots[index].heap_pos as usize;
        let earlier = deadline < self.entries[position].deadline;
        self.entries[position].deadline = deadline;
        if earlier {
            self.sift_up(position);
        } else {
            self.sift_down(position);
        }
        true
    }

    /// Takes the earliest timer if it is due at `now`: a one-shot leaves,
    /// a periodic one moves to its next deadline after `now`.
    fn pop_due(&mut self, now: u64) -> Option<(TimerId, T)>
    where
        T: Clone,
    {
        let top = *self.entries.first().filter(|top| top.deadline <= now)?;
        let index = top.slot as usize;
        let slot = &self.slots[index];
        let id = TimerId {
            owner: self.owner,
            index: top.slot,
            generation: slot.generation,
        };
        // The first multiple of the period after `now`; none for a
        // one-shot (period 0), nor past the clock's range (centuries away),
        // where a periodic timer fires this last time and leaves.
        let next = (now - top.deadline)
            .checked_div(slot.period)
            .and_then(|missed| (missed + 1).checked_mul(slot.period))
            .and_then(|elapsed| top.deadline.checked_add(elapsed))
            .filter(|next| *next <= MAX_DEADLINE);
        if let (Some(next), Some(value)) = (next, slot.value.clone()) {
            self.entries[0].deadline = next;
            self.sift_down(0);
            return Some((id, value));
        }
        self.remove_entry(0);
        Some((id, self.release_slot(index)))
    }

    fn remove_entry(&mut self, position: usize) {
        self.entries.swap_remove(position);
        if position < self.entries.len() {
            let moved = self.entries[position];
            self.slots[moved.slot as usize].heap_pos = position as u32;
            if position > 0 && self.entries[(position - 1) / 2].deadline > moved.deadline {
                self.sift_up(position);
            } else {
                self.sift_down(position);
            }
        }
    }

    /// Frees a slot whose entry is gone, returns its value, and gives
    /// memory back where much of it is unused.
    fn release_slot(&mut self, index: usize) -> T {
        let slot = &mut self.slots[index];
        // Ids of the old timer no longer match.
        slot.generation = slot.generation.wrapping_add(1);
        let value = slot.value.take();
        self.free.push(Reverse(index as u32));
        self.shrink();
        // Only slots in use are released, and those hold a value.
        value.unwrap_or_else(|| unreachable!("released a free slot"))
    }

    fn shrink(&mut self) {
        // Free slots at the end are dropped; the next slot pushed anew
        // starts above their generations.
        while let Some(last) = self.slots.last() {
            if last.value.is_some() {
                break;
            }
            self.fresh_generation = self.fresh_generation.max(last.generation);
            self.slots.pop();
        }
        if far_below_capacity(self.slots.len(), self.slots.capacity()) {
            let len = self.slots.len();
            self.free.retain(|Reverse(index)| (*index as usize) < len);
            self.slots.shrink_to(shrunk_capacity(len));
        }
        if far_below_capacity(self.free.len(), self.free.capacity()) {
            self.free.shrink_to(shrunk_capacity(self.free.len()));
        }
        if far_below_capacity(self.entries.len(), self.entries.capacity()) {
            self.entries.shrink_to(shrunk_capacity(self.entries.len()));
        }
    }

    fn sift_up(&mut self, mut position: usize) {
        let entry = self.entries[position];
        while position > 0 {
            let parent = (position - 1) / 2;
            if self.entries[parent].deadline <= entry.deadline {
                break;
            }
            self.place(position, self.entries[parent]);
            position = parent;
        }
        self.place(position, entry);
    }

    fn sift_down(&mut self, mut position: usize) {
        let entry = self.entries[position];
        let len = self.entries.len();
        loop {
            let left = 2 * position + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.entries[right].deadline < self.entries[left].deadline
            {
                right
            } else {
                left
            };
            if self.entries[child].deadline >= entry.deadline {
                break;
            }
            self.place(position, self.entries[child]);
            position = child;
        }
        self.place(position, entry);
    }

    fn place(&mut self, position: usize, entry: Entry) {
        self.entries[position] = entry;
        self.slots[entry.slot as usize].heap_pos = position as u32;
    }
}

/// Whether a vector uses under a quarter of a capacity worth shrinking.
/// A quarter, not a half, so that a size going up and down around a
/// power of two does not reallocate each time.
fn far_below_capacity(len: usize, capacity: usize) -> bool {
    capacity > MIN_CAPACITY && len < capacity / 4
}

fn shrunk_capacity(len: usize) -> usize {
    (len * 2).max(MIN_CAPACITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl<T> TimerHeap<T> {
        /// Checks the heap order and that every slot and entry point at
        /// each other.
        fn check(&self) {
            for (position, entry) in self.entries.iter().enumerate() {
                if position > 0 {
                    assert!(self.entries[(position - 1) / 2].deadline <= entry.deadline);
                }
                let slot = &self.slots[entry.slot as usize];
                assert!(slot.value.is_some(), "an entry of a free slot");
                assert_eq!(slot.heap_pos as usize, position);
            }
            let used = self.slots.iter().filter(|slot| slot.value.is_some());
            assert_eq!(used.count(), self.entries.len());
        }
    }

    /// Whether the timerfd becomes readable within `timeout_ms`, asked of
    /// an epoll of its own (safe, unlike a bare `poll`).
    fn readable(timers: &Timers<u32>, timeout_ms: i32) -> bool {
        use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
        let epoll = Epoll::new().unwrap();
        epoll
            .ctl(
                ControlOperation::Add,
                timers.as_raw_fd(),
                EpollEvent::new(EventSet::IN, 0),
            )
            .unwrap();
        let mut ready = [EpollEvent::default(); 1];
        epoll.wait(timeout_ms, &mut ready).unwrap() == 1
    }

    #[test]
    fn a_periodic_timer_that_fell_behind_fires_once_then_keeps_its_phase() {
        let mut heap = TimerHeap::new(0);
        let id = heap.insert(10, 10, 'p').unwrap();
        assert_eq!(heap.pop_due(9), None);
        // Five periods late: one firing, the next on the grid after 55.
        assert_eq!(heap.pop_due(55), Some((id, 'p')));
        assert_eq!(heap.pop_due(55), None);
        assert_eq!(heap.earliest(), Some(60));
        // Exactly on a boundary: the next is one period on.
        assert_eq!(heap.pop_due(60), Some((id, 'p')));
        assert_eq!(heap.earliest(), Some(70));
    }

    #[test]
    fn a_periodic_timer_past_the_clocks_range_fires_a_last_time_and_leaves() {
        let mut heap = TimerHeap::new(0);
        let id = heap.insert(MAX_DEADLINE - 1, MAX_DEADLINE, 'p').unwrap();
        assert_eq!(heap.pop_due(MAX_DEADLINE), Some((id, 'p')));
        assert_eq!(heap.len(), 0);
        assert!(!heap.contains(id));
    }

    #[test]
    fn a_dropped_slot_comes_back_with_a_new_generation() {
        let mut heap = TimerHeap::new(0);
        let ids: Vec<TimerId> = (0..3).map(|n| heap.insert(n, 0, n).unwrap()).collect();
        // The last two slots go, the vector shrinks to one slot...
        assert_eq!(heap.remove(ids[2]), Some(2));
        assert_eq!(heap.remove(ids[1]), Some(1));
        assert_eq!(heap.slots.len(), 1);
        // ...and the slot pushed anew at index 1 is not the old timer.
        let again = heap.insert(7, 0, 7).unwrap();
        assert_eq!(again.index, ids[1].index);
        assert!(!heap.contains(ids[1]));
        assert_eq!(heap.remove(ids[1]), None);
        assert_eq!(heap.remove(again), Some(7));
        heap.check();
    }

    #[test]
    fn cancelling_everything_gives_the_memory_back() {
        let mut heap = TimerHeap::new(0);
        for _ in 0..3 {
            let ids: Vec<TimerId> = (0..100_000u64)
                .map(|n| heap.insert(n * 7919 % 100_003, 0, ()).unwrap())
                .collect();
            // Cancelled from the front, the worst order for dropping slots
            // at the back.
            for id in ids {
                heap.remove(id).unwrap();
            }
            assert_eq!(heap.len(), 0);
            assert!(heap.slots.capacity() <= MIN_CAPACITY);
            assert!(heap.entries.capacity() <= MIN_CAPACITY);
            assert!(heap.free.capacity() <= MIN_CAPACITY);
        }
    }

    #[test]
    fn the_memory_follows_the_live_timers_down() {
        let mut heap = TimerHeap::new(0);
        let ids: Vec<TimerId> = (0..10_000)
            .map(|n| heap.insert(n, 0, ()).unwrap())
            .collect();
        // Keep the first 100: everything above them can go.
        for id in &ids[100..] {
            heap.remove(*id).unwrap();
        }
        assert!(heap.slots.capacity() < 1_000, "{}", heap.slots.capacity());
        assert!(heap.entries.capacity() < 1_000);
        assert!(heap.free.capacity() < 1_000);
        heap.check();
    }

    #[test]
    fn ids_of_other_timers_name_nothing() {
        let mut ours: Timers<u32> = Timers::new().unwrap();
        let mut theirs: Timers<u32> = Timers::new().unwrap();
        let mine = ours.after(Duration::from_secs(60), 1).unwrap();
        let other = theirs.after(Duration::from_secs(60), 2).unwrap();
        // Same slot and generation, different owners.
        assert_eq!(
            (mine.index, mine.generation),
            (other.index, other.generation)
        );
        assert!(!ours.contains(other));
        assert_eq!(ours.cancel(other), Err(Error::TimerNotFound));
        assert_eq!(
            ours.reschedule(other, Duration::ZERO),
            Err(Error::TimerNotFound)
        );
        assert_eq!(theirs.cancel(other), Ok(2));
        assert_eq!(ours.cancel(mine), Ok(1));
    }

    #[test]
    fn bad_durations_are_errors_and_change_nothing() {
        let mut timers: Timers<u32> = Timers::new().unwrap();
        let id = timers.after(Duration::from_secs(1), 0).unwrap();
        let too_far = Duration::from_nanos(MAX_DEADLINE);
        for result in [
            timers.after(Duration::MAX, 1),
            timers.after(too_far, 1),
            timers.every(Duration::ZERO, 1),
            timers.every(Duration::MAX, 1),
        ] {
            assert_eq!(result, Err(Error::InvalidDuration));
        }
        assert_eq!(
            timers.reschedule(id, Duration::MAX),
            Err(Error::InvalidDuration)
        );
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.cancel(id), Ok(0));
    }

    #[test]
    fn after_nothing_is_due_the_timerfd_is_not_readable() {
        let mut timers: Timers<u32> = Timers::new().unwrap();
        let id = timers.after(Duration::ZERO, 5).unwrap();
        timers.after(Duration::from_secs(3600), 6).unwrap();
        assert!(readable(&timers, 5000));
        assert_eq!(timers.pop_expired(), Some((id, 5)));
        assert_eq!(timers.pop_expired(), None);
        assert!(!readable(&timers, 0));
        // Spurious calls change nothing.
        assert_eq!(timers.pop_expired(), None);
        assert!(!readable(&timers, 0));
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn cancelling_the_earliest_costs_one_spurious_wake_up() {
        let mut timers: Timers<u32> = Timers::new().unwrap();
        timers.after(Duration::from_secs(3600), 1).unwrap();
        let soon = timers.after(Duration::from_millis(1), 2).unwrap();
        timers.cancel(soon).unwrap();
        // The timerfd was left armed for the cancelled timer.
        assert!(readable(&timers, 5000));
        assert_eq!(timers.pop_expired(), None);
        // Now armed for the hour-long one.
        assert!(!readable(&timers, 0));
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn the_last_timer_gone_disarms_the_timerfd() {
        let mut timers: Timers<u32> = Timers::new().unwrap();
        let id = timers.after(Duration::from_millis(1), 1).unwrap();
        timers.cancel(id).unwrap();
        assert!(readable(&timers, 5000));
        assert_eq!(timers.pop_expired(), None);
        assert_eq!(timers.armed, None);
        assert!(!readable(&timers, 0));
    }

    #[test]
    fn a_batch_ends_even_with_a_one_nanosecond_period() {
        let mut timers: Timers<u32> = Timers::new().unwrap();
        let id = timers.every(Duration::from_nanos(1), 1).unwrap();
        assert!(readable(&timers, 5000));
        assert_eq!(timers.pop_expired(), Some((id, 1)));
        assert_eq!(timers.pop_expired(), None);
        assert!(timers.contains(id));
    }

    #[test]
    fn zero_delay_timers_added_in_a_batch_fire_in_the_next() {
        let mut timers: Timers<u32> = Timers::new().unwrap();
        timers.after(Duration::ZERO, 0).unwrap();
        let mut fired = 0;
        while let Some((_, generation)) = timers.pop_expired() {
            fired += 1;
            timers.after(Duration::ZERO, generation + 1).unwrap();
        }
        assert_eq!(fired, 1);
        assert!(readable(&timers, 5000));
        assert_eq!(timers.pop_expired().map(|(_, value)| value), Some(1));
    }

    #[test]
    fn debug_shows_the_count_not_the_values() {
        struct Opaque;
        let mut timers = Timers::new().unwrap();
        timers.after(Duration::from_secs(1), Opaque).unwrap();
        let text = format!("{timers:?}");
        assert!(text.starts_with("Timers { fd: "), "{text}");
        assert!(text.contains("len: 1"), "{text}");
    }

    #[derive(Debug, Clone)]
    enum Op {
        After(u64),
        Every(u64, u64),
        Cancel(usize),
        Reschedule(usize, u64),
        /// Moves the clock on, then pops everything due.
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..100u64).prop_map(Op::After),
            1 => (0..100u64, 1..40u64).prop_map(|(delay, period)| Op::Every(delay, period)),
            2 => any::<usize>().prop_map(Op::Cancel),
            2 => (any::<usize>(), 0..100u64).prop_map(|(pick, delay)| Op::Reschedule(pick, delay)),
            2 => (0..60u64).prop_map(Op::Advance),
        ]
    }

    /// A pending timer of the model: id, deadline, period (0: one-shot), value.
    type Model = Vec<(TimerId, u64, u64, usize)>;

    proptest! {
        /// The heap against a list searched in full, on a made-up clock,
        /// with ids picked among all ever issued (so stale ones too).
        #[test]
        fn the_heap_behaves_like_a_list(ops in proptest::collection::vec(op(), 1..200)) {
            let mut heap = TimerHeap::new(3);
            let mut model: Model = Vec::new();
            let mut issued: Vec<TimerId> = Vec::new();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::After(delay) | Op::Every(delay, _) => {
                        let period = match op { Op::Every(_, period) => period, _ => 0 };
                        let id = heap.insert(now + delay, period, issued.len()).unwrap();
                        prop_assert!(!issued.contains(&id), "an id handed out twice");
                        model.push((id, now + delay, period, issued.len()));
                        issued.push(id);
                    }
                    Op::Cancel(pick) if !issued.is_empty() => {
                        let id = issued[pick % issued.len()];
                        let expected = model.iter().position(|timer| timer.0 == id);
                        let got = heap.remove(id);
                        prop_assert_eq!(got, expected.map(|at| model.remove(at).3));
                    }
                    Op::Reschedule(pick, delay) if !issued.is_empty() => {
                        let id = issued[pick % issued.len()];
                        let expected = model.iter_mut().find(|timer| timer.0 == id);
                        prop_assert_eq!(heap.set_deadline(id, now + delay), expected.is_some());
                        if let Some(timer) = expected {
                            timer.1 = now + delay;
                        }
                    }
                    Op::Advance(step) => {
                        now += step;
                        while let Some((id, value)) = heap.pop_due(now) {
                            let earliest = model.iter().map(|timer| timer.1).min();
                            let at = model.iter().position(|timer| timer.0 == id);
                            prop_assert!(at.is_some(), "popped a timer that is not pending");
                            let at = at.unwrap_or_default();
                            // Earliest first; ties in any order.
                            prop_assert_eq!(Some(model[at].1), earliest);
                            prop_assert!(model[at].1 <= now);
                            prop_assert_eq!(value, model[at].3);
                            let (_, deadline, period, _) = model[at];
                            match (now - deadline).checked_div(period) {
                                None => drop(model.remove(at)),
                                Some(missed) => model[at].1 = deadline + (missed + 1) * period,
                            }
                        }
                        prop_assert!(model.iter().all(|timer| timer.1 > now));
                    }
                    Op::Cancel(_) | Op::Reschedule(..) => {}
                }
                heap.check();
                prop_assert_eq!(heap.len(), model.len());
                prop_assert_eq!(heap.earliest(), model.iter().map(|timer| timer.1).min());
                for id in &issued {
                    prop_assert_eq!(heap.contains(*id), model.iter().any(|timer| timer.0 == *id));
                }
            }
        }
    }
}
