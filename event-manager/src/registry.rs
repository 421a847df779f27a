//! The interest list: the epoll instance and, beside it, a table indexed by
//! fd number that says which subscriber owns each registered fd.
//!
//! The kernel hands back, with every ready event, the 64-bit key we gave it
//! at registration: the fd number in the low half and the generation of the
//! fd's table slot in the high half. A slot's generation moves on whenever
//! its registration ends, so an event that was already in a ready batch when
//! its fd was removed (or closed, reopened under the same number and added
//! again) carries an old generation and is dropped. Looking an event up is
//! two indexed loads (`FdTable`) and a compare; no hashing, no scan.
//!
//! Generations are 32 bits and wrap. A key the kernel has forgotten may
//! come back without harm; one it may still report must not. The kernel
//! forgets a registration when `EPOLL_CTL_DEL` succeeds, or when the
//! registered file is closed for good; it keeps reporting one whose fd was
//! closed while a `dup` of it stays open, and no `epoll_ctl` can reach that
//! registration any more. So whenever the table lets go of a registration
//! that it could not delete (the fd was closed first), that generation is
//! *held* for the fd number, and the number's later registrations skip it,
//! however often the generation wraps. The held generations sit in a map
//! off the dispatch path, empty unless a program closes registered fds.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::errno::Error as Errno;

use crate::fd_table::FdTable;
use crate::{Error, Events, Result};

/// Index of a subscriber in the manager's subscriber table.
pub(crate) type OwnerSlot = u32;

/// `FdSlot::owner` of an fd that nobody has registered.
const NO_OWNER: OwnerSlot = u32::MAX;

/// A key no fd can produce: its low half is not a valid fd number.
#[cfg_attr(not(feature = "remote_endpoint"), allow(dead_code))]
pub(crate) const RESERVED_KEY: u64 = u64::MAX;

/// The key of a `StopHandle`'s wake-up; no fd can produce it either.
pub(crate) const STOP_KEY: u64 = u64::MAX - 1;

/// Registration state of one fd number.
struct FdSlot {
    owner: OwnerSlot,
    generation: u32,
    /// Atomic only so that `EventOps::modify`, which takes `&self`, can
    /// change it without making the manager `!Sync`; it is only ever touched
    /// by the thread that owns the manager, so `Relaxed` is enough.
    data: AtomicU32,
    /// Where this fd sits in its owner's list, for O(1) removal.
    position: u32,
}

impl Default for FdSlot {
    /// A number nobody has registered.
    fn default() -> Self {
        FdSlot {
            owner: NO_OWNER,
            generation: 0,
            data: AtomicU32::new(0),
            position: 0,
        }
    }
}

impl FdSlot {
    fn is_registered(&self) -> bool {
        self.owner != NO_OWNER
    }

    /// Ends the registration: no owner, and a new generation, none of
    /// `held`, so that keys the kernel may still hold no longer resolve.
    fn end(&mut self, held: &[u32]) {
        self.owner = NO_OWNER;
        self.generation = after(self.generation, held);
    }

    /// The generation a new registration of this fd number takes: the
    /// current one, or, if a registration still stands, the one `end` gives;
    /// never a held one (a slot made again after its page was released
    /// starts from 0, which may be).
    fn next_generation(&self, held: &[u32]) -> u32 {
        if self.is_registered() || held.contains(&self.generation) {
            after(self.generation, held)
        } else {
            self.generation
        }
    }
}

/// The generations held for fd number `index`; without a hash when none
/// is held anywhere, the usual case.
#[inline]
fn held_for(held: &HashMap<usize, Vec<u32>>, index: usize) -> &[u32] {
    if held.is_empty() {
        return &[];
    }
    held.get(&index).map_or(&[], Vec::as_slice)
}

/// The generation after `generation` that is not `held`. It ends: `held`
/// grows by one per registration lost to a closed fd, far below 2^32.
fn after(generation: u32, held: &[u32]) -> u32 {
    let mut next = generation.wrapping_add(1);
    while held.contains(&next) {
        next = next.wrapping_add(1);
    }
    next
}

/// The epoll instance and who owns each fd registered with it.
pub(crate) struct Registry {
    epoll: Epoll,
    /// Indexed by fd number, in pages that exist where fds were registered.
    fds: FdTable<FdSlot>,
    /// Indexed by owner slot: the fds that subscriber registered.
    owned: Vec<Vec<OwnedEntry>>,
    /// Indexed by owner slot: whether the subscriber is derived, and if
    /// so whether it has a `fallback` for the fds it adds by hand (see
    /// [`HandFds`]).
    derived: Vec<HandFds>,
    /// By fd number: generations of registrations that ended without a
    /// successful `EPOLL_CTL_DEL`, which the kernel may still report (see
    /// the module's docs). Never given to a registration again.
    held: HashMap<usize, Vec<u32>>,
    /// Fd numbers whose registration is paused: still owned, with their
    /// data and interest, but deleted from the kernel's interest list, so
    /// nothing they do reaches the loop. Off the dispatch path; empty
    /// unless a program pauses fds.
    paused: HashSet<usize>,
}

/// An fd in its owner's list, with the interest the owner asked for
/// (before `kernel_interest`), which `resume` gives back to the kernel.
/// The interest lives here rather than in `FdSlot`, which stays 16 bytes
/// (the dispatch path indexes the table with a shift), and off the
/// dispatch path. Atomic for the reason `FdSlot::data` is.
struct OwnedEntry {
    fd: RawFd,
    interest: AtomicU32,
}

/// What a subscriber may register by hand, which its kind decides.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandFds {
    /// A subscriber written by hand: every data value.
    Any,
    /// A derived subscriber with a `fallback`: data below
    /// [`DERIVED_DATA`], whose events reach the fallback.
    BelowDerived,
    /// A derived subscriber without a `fallback`: nothing, since no
    /// method would receive the events.
    None,
}

/// The first data value of the range a derived subscriber's generated
/// code registers its fds with; hand registrations of that subscriber
/// stay below it, so they can never reach a derived handler.
pub const DERIVED_DATA: u32 = 1 << 31;

fn key(fd: RawFd, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(fd as u32)
}

/// What the kernel is asked to watch for `requested`.
///
/// The kernel always reports `ERROR` and `HANG_UP`, but `READ_HANG_UP` only
/// when asked. It is added to every registration that watches `IN`, so a
/// reader learns of the peer's shutdown without asking. It is not added
/// otherwise: an fd registered with `OUT` or nothing (paused) would fire on
/// every run after the peer's shutdown. Nor beside `EXCLUSIVE`, which the
/// kernel refuses to combine with it.
fn kernel_interest(requested: EventSet) -> EventSet {
    if requested.contains(EventSet::IN) && !requested.contains(EventSet::EXCLUSIVE) {
        requested | EventSet::READ_HANG_UP
    } else {
        requested
    }
}

/// Rejects negative fds before they are used as a table index; the kernel
/// would answer EBADF for them too.
fn fd_index(fd: RawFd) -> Result<usize> {
    usize::try_from(fd).map_err(|_| Error::Epoll(Errno::new(libc::EBADF)))
}

impl Registry {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Registry {
            epoll: Epoll::new()?,
            fds: FdTable::new(),
            owned: Vec::new(),
            derived: Vec::new(),
            held: HashMap::new(),
            paused: HashSet::new(),
        })
    }

    pub(crate) fn epoll(&self) -> &Epoll {
        &self.epoll
    }

    /// The owner, fd and data behind a key the kernel reported, or `None`
    /// when the registration it came from has ended.
    #[inline]
    pub(crate) fn resolve(&self, key: u64) -> Option<(OwnerSlot, RawFd, u32)> {
        let fd = key as u32;
        let slot = self.fds.get(fd as usize)?;
        // No need to test `is_registered`: ending a registration moves the
        // generation on, so no key the kernel holds matches a slot without
        // an owner; and if one ever did, `NO_OWNER` names no subscriber.
        if u64::from(slot.generation) != key >> 32 {
            return None;
        }
        Some((slot.owner, fd as RawFd, slot.data.load(Ordering::Relaxed)))
    }

    /// Makes room for a subscriber in `owner`; its fd list starts empty.
    pub(crate) fn open_owner(&mut self, owner: OwnerSlot) {
        let index = owner as usize;
        if self.owned.len() <= index {
            self.owned.resize_with(index + 1, Vec::new);
            self.derived.resize(index + 1, HandFds::Any);
        }
        self.derived[index] = HandFds::Any;
    }

    /// Marks `owner` as derived: from now on its hand registrations are
    /// limited to `allowed`.
    pub(crate) fn reserve_derived_data(&mut self, owner: OwnerSlot, allowed: HandFds) {
        if let Some(derived) = self.derived.get_mut(owner as usize) {
            *derived = allowed;
        }
    }

    /// Refuses a hand registration that a derived subscriber could not
    /// receive: data in the derived range, or any data without a
    /// `fallback`.
    pub(crate) fn check_hand_data(&self, owner: OwnerSlot, data: u32) -> Result<()> {
        match self.derived.get(owner as usize) {
            Some(HandFds::BelowDerived) if data >= DERIVED_DATA => Err(Error::DataReserved),
            Some(HandFds::None) if data >= DERIVED_DATA => Err(Error::DataReserved),
            Some(HandFds::None) => Err(Error::NoFallback),
            _ => Ok(()),
        }
    }

    /// Whether `owner` registered `fd` with `data` (paused or not).
    pub(crate) fn is_registered_with(&self, owner: OwnerSlot, fd: RawFd, data: u32) -> bool {
        self.owned_slot(owner, fd)
            .is_ok_and(|slot| slot.data.load(Ordering::Relaxed) == data)
    }

    pub(crate) fn fds_of(&self, owner: OwnerSlot) -> Vec<RawFd> {
        let list = self
            .owned
            .get(owner as usize)
            .map_or(&[][..], Vec::as_slice);
        list.iter().map(|owned| owned.fd).collect()
    }

    pub(crate) fn add(&mut self, owner: OwnerSlot, events: Events) -> Result<()> {
        let fd = events.fd();
        let index = fd_index(fd)?;
        if (owner as usize) >= self.owned.len() {
            return Err(Error::InvalidId);
        }
        // An fd the table still lists can only be accepted by the kernel if
        // the file it named was closed without being removed (the kernel
        // drops a registration when its file closes). That record is ended
        // below, once the kernel has accepted the new registration, which
        // takes the generation after it.
        // A paused fd is in no kernel list, so the kernel would accept it
        // again: the table answers for it.
        if self.is_paused(index) {
            return Err(Error::FdAlreadyRegistered);
        }
        let existing = self.fds.get(index);
        let stale = existing.is_some_and(FdSlot::is_registered);
        let held = self.held_at(index);
        let generation = match existing {
            Some(slot) => slot.next_generation(held),
            None => FdSlot::default().next_generation(held),
        };
        // The kernel checks the fd before the table grows, so a bogus large
        // fd number cannot make us allocate.
        self.epoll
            .ctl(
                ControlOperation::Add,
                fd,
                EpollEvent::new(kernel_interest(events.event_set()), key(fd, generation)),
            )
            .map_err(Error::from_epoll_ctl)?;
        if stale {
            // The old registration's file was closed without a removal; if
            // a dup keeps it open, the kernel goes on reporting its key.
            self.hold(index);
            self.forget(index);
        }
        // A page of the table (2 KiB) may have to be made. When the
        // allocator cannot provide it, refuse the fd rather than abort.
        let Ok(slot) = self.fds.get_or_insert(index) else {
            let _ = self
                .epoll
                .ctl(ControlOperation::Delete, fd, EpollEvent::default());
            return Err(Error::Epoll(Errno::new(libc::ENOMEM)));
        };
        let list = &mut self.owned[owner as usize];
        slot.owner = owner;
        slot.generation = generation;
        slot.data.store(events.data(), Ordering::Relaxed);
        slot.position = list.len() as u32;
        if list.capacity() == 0 {
            // Most subscribers own one fd or a few: start at one entry, not
            // the four a first push would make room for.
            list.reserve_exact(1);
        }
        list.push(OwnedEntry {
            fd,
            interest: AtomicU32::new(events.event_set().bits()),
        });
        self.fds.occupy(index);
        Ok(())
    }

    pub(crate) fn modify(&self, owner: OwnerSlot, events: Events) -> Result<()> {
        let fd = events.fd();
        let slot = self.owned_slot(owner, fd)?;
        if self.is_paused(fd as usize) {
            // Kept for `resume`.
            slot.data.store(events.data(), Ordering::Relaxed);
            self.interest_of(owner, slot)
                .store(events.event_set().bits(), Ordering::Relaxed);
            return Ok(());
        }
        self.epoll
            .ctl(
                ControlOperation::Modify,
                fd,
                EpollEvent::new(
                    kernel_interest(events.event_set()),
                    key(fd, slot.generation),
                ),
            )
            .map_err(Error::from_epoll_ctl)?;
        slot.data.store(events.data(), Ordering::Relaxed);
        self.interest_of(owner, slot)
            .store(events.event_set().bits(), Ordering::Relaxed);
        Ok(())
    }

    /// The interest `owner` asked for its registration `slot`.
    fn interest_of(&self, owner: OwnerSlot, slot: &FdSlot) -> &AtomicU32 {
        &self.owned[owner as usize][slot.position as usize].interest
    }

    /// Takes `fd` out of the kernel's interest list but keeps its record:
    /// owner, data, interest. Its key moves to a new generation, so an event
    /// of it already in the batch being dispatched is dropped, as after a
    /// removal. Pausing a paused fd does nothing.
    pub(crate) fn pause(&mut self, owner: OwnerSlot, fd: RawFd) -> Result<()> {
        self.registered_slot(owner, fd)?;
        let index = fd as usize;
        if self.is_paused(index) {
            return Ok(());
        }
        self.epoll
            .ctl(ControlOperation::Delete, fd, EpollEvent::default())
            .map_err(|err| Error::Epoll(Errno::from(err)))?;
        // The kernel let go of the old key: nothing to hold.
        let held = held_for(&self.held, index);
        if let Some(slot) = self.fds.get_mut(index) {
            slot.generation = after(slot.generation, held);
        }
        self.paused.insert(index);
        Ok(())
    }

    /// Gives a paused `fd` back to the kernel with the data and interest it
    /// had (or was given by `modify` while paused). Resuming an fd that is
    /// not paused does nothing.
    pub(crate) fn resume(&mut self, owner: OwnerSlot, fd: RawFd) -> Result<()> {
        let slot = self.registered_slot(owner, fd)?;
        if !self.is_paused(fd as usize) {
            return Ok(());
        }
        let interest =
            EventSet::from_bits_truncate(self.interest_of(owner, slot).load(Ordering::Relaxed));
        self.epoll
            .ctl(
                ControlOperation::Add,
                fd,
                EpollEvent::new(kernel_interest(interest), key(fd, slot.generation)),
            )
            .map_err(Error::from_epoll_ctl)?;
        self.paused.remove(&(fd as usize));
        Ok(())
    }

    /// Whether `owner` registered `fd` and paused it.
    pub(crate) fn is_paused_by(&self, owner: OwnerSlot, fd: RawFd) -> Result<bool> {
        self.registered_slot(owner, fd)?;
        Ok(self.is_paused(fd as usize))
    }

    #[inline]
    fn is_paused(&self, index: usize) -> bool {
        !self.paused.is_empty() && self.paused.contains(&index)
    }

    pub(crate) fn remove(&mut self, owner: OwnerSlot, fd: RawFd) -> Result<()> {
        self.owned_slot(owner, fd)?;
        if self.is_paused(fd as usize) {
            // Already out of the kernel's list.
            self.forget(fd as usize);
            return Ok(());
        }
        let result = self
            .epoll
            .ctl(ControlOperation::Delete, fd, EpollEvent::default())
            .map_err(Errno::from);
        // EBADF or ENOENT: the fd number no longer names the registered file
        // (closed, or closed and reused). Keeping the record would only block
        // the number, so it goes either way; the error still tells the
        // caller that the fd was closed before it was removed.
        if let Err(errno) = result {
            if !matches!(errno.errno(), libc::EBADF | libc::ENOENT) {
                return Err(Error::Epoll(errno));
            }
            // `owned_slot` succeeded, so the fd is a valid index.
            self.hold(fd as usize);
        }
        self.forget(fd as usize);
        result.map_err(Error::Epoll)
    }

    /// Deregisters every fd of `owner`.
    pub(crate) fn remove_owner(&mut self, owner: OwnerSlot) {
        let Some(list) = self.owned.get_mut(owner as usize) else {
            return;
        };
        let fds = std::mem::take(list);
        for &OwnedEntry { fd, .. } in &fds {
            // A failure here means the fd was already closed: the kernel
            // may still hold the registration, under a dup. A paused fd is
            // in no kernel list.
            if self.paused.is_empty() || !self.paused.remove(&(fd as usize)) {
                let deleted = self
                    .epoll
                    .ctl(ControlOperation::Delete, fd, EpollEvent::default())
                    .is_ok();
                if !deleted {
                    self.hold(fd as usize);
                }
            }
            let held = held_for(&self.held, fd as usize);
            if let Some(slot) = self.fds.get_mut(fd as usize) {
                slot.end(held);
                self.fds.vacate(fd as usize);
            }
        }
        // The list's memory goes too: a removed subscriber keeps nothing.
        drop(fds);
    }

    /// Frees the table's pages that hold no registration any more, and the
    /// lists of owners `truncate_owners` cut off. Only between batches: a
    /// page made again starts its generations from 0, which is safe only
    /// when no key of the old page can still arrive, neither from the
    /// kernel (held generations are kept apart) nor from a batch that is
    /// still being dispatched.
    #[inline]
    pub(crate) fn release_empty_pages(&mut self) {
        self.fds.release_empty_pages();
    }

    /// How many owner slots the registry keeps lists for.
    #[cfg(test)]
    pub(crate) fn owner_count(&self) -> usize {
        self.owned.len()
    }

    /// How many pages of the fd table exist.
    #[cfg(test)]
    pub(crate) fn page_count(&self) -> usize {
        self.fds.page_count()
    }

    /// Forgets the owner slots from `len` on (all without fds).
    pub(crate) fn truncate_owners(&mut self, len: usize) {
        self.owned.truncate(len);
        self.derived.truncate(len);
        if self.owned.capacity() > 2 * len.max(4) {
            self.owned.shrink_to_fit();
            self.derived.shrink_to_fit();
        }
    }

    /// The slot of `fd` if `owner` registered it.
    fn owned_slot(&self, owner: OwnerSlot, fd: RawFd) -> Result<&FdSlot> {
        let index = fd_index(fd)?;
        match self.fds.get(index) {
            Some(slot) if slot.owner == owner => Ok(slot),
            _ => Err(Error::FdNotRegistered),
        }
    }

    /// `owned_slot` for the calls that only ever name registered fds
    /// (pause, resume, is_paused): a negative number is one this
    /// subscriber did not add, `FdNotRegistered`, not `EBADF`.
    fn registered_slot(&self, owner: OwnerSlot, fd: RawFd) -> Result<&FdSlot> {
        if fd < 0 {
            return Err(Error::FdNotRegistered);
        }
        self.owned_slot(owner, fd)
    }

    /// The generations held for fd number `index`.
    fn held_at(&self, index: usize) -> &[u32] {
        held_for(&self.held, index)
    }

    /// Holds the generation of `index`'s current registration, which ends
    /// without the kernel having let go of it.
    fn hold(&mut self, index: usize) {
        if let Some(slot) = self.fds.get(index) {
            let held = self.held.entry(index).or_default();
            if !held.contains(&slot.generation) {
                held.push(slot.generation);
            }
        }
    }

    /// Ends the table's record of a registered fd: out of its owner's list
    /// and on to the next generation.
    fn forget(&mut self, index: usize) {
        if !self.paused.is_empty() {
            self.paused.remove(&index);
        }
        let held = held_for(&self.held, index);
        let Some(slot) = self.fds.get_mut(index) else {
            return;
        };
        let (owner, position) = (slot.owner as usize, slot.position as usize);
        slot.end(held);
        self.fds.vacate(index);
        let list = &mut self.owned[owner];
        list.swap_remove(position);
        if let Some(moved) = list.get(position) {
            if let Some(moved) = self.fds.get_mut(moved.fd as usize) {
                moved.position = position as u32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_sys_util::eventfd::EventFd;

    fn registry_with_owners(count: u32) -> Registry {
        let mut registry = Registry::new().unwrap();
        for owner in 0..count {
            registry.open_owner(owner);
        }
        registry
    }

    fn ready_keys(registry: &Registry) -> Vec<u64> {
        let mut ready = vec![EpollEvent::default(); 16];
        let count = registry.epoll().wait(0, &mut ready).unwrap();
        ready[..count].iter().map(|event| event.data()).collect()
    }

    #[test]
    fn resolve_gives_owner_fd_and_data_of_a_live_registration() {
        let mut registry = registry_with_owners(2);
        let fd = EventFd::new(0).unwrap();
        fd.write(1).unwrap();
        registry
            .add(1, Events::with_data(&fd, 77, EventSet::IN))
            .unwrap();
        let keys = ready_keys(&registry);
        assert_eq!(keys.len(), 1);
        assert_eq!(registry.resolve(keys[0]), Some((1, fd.as_raw_fd(), 77)));
        assert_eq!(registry.resolve(RESERVED_KEY), None);
    }

    #[test]
    fn a_key_from_before_a_removal_no_longer_resolves_even_after_re_adding() {
        let mut registry = registry_with_owners(1);
        let fd = EventFd::new(0).unwrap();
        fd.write(1).unwrap();
        registry.add(0, Events::new(&fd, EventSet::IN)).unwrap();
        let old_key = ready_keys(&registry)[0];

        registry.remove(0, fd.as_raw_fd()).unwrap();
        assert_eq!(registry.resolve(old_key), None);
        registry.add(0, Events::new(&fd, EventSet::IN)).unwrap();
        assert_eq!(registry.resolve(old_key), None);
        let new_key = ready_keys(&registry)[0];
        assert_ne!(new_key, old_key);
        assert!(registry.resolve(new_key).is_some());
    }

    #[test]
    fn removing_from_the_middle_keeps_the_owner_list_consistent() {
        let mut registry = registry_with_owners(1);
        let fds: Vec<EventFd> = (0..4).map(|_| EventFd::new(0).unwrap()).collect();
        for fd in &fds {
            registry.add(0, Events::new(fd, EventSet::IN)).unwrap();
        }
        registry.remove(0, fds[1].as_raw_fd()).unwrap();
        registry.remove(0, fds[3].as_raw_fd()).unwrap();
        let mut left = registry.fds_of(0).to_vec();
        left.sort_unstable();
        // Fd numbers follow creation order only when no other test closes
        // an fd in between, so both sides are sorted.
        let mut expected = vec![fds[0].as_raw_fd(), fds[2].as_raw_fd()];
        expected.sort_unstable();
        assert_eq!(left, expected);
        // The survivors can still be removed one by one.
        registry.remove(0, fds[2].as_raw_fd()).unwrap();
        registry.remove(0, fds[0].as_raw_fd()).unwrap();
        assert!(registry.fds_of(0).is_empty());
    }

    #[test]
    fn remove_owner_ends_every_registration_of_that_owner_only() {
        let mut registry = registry_with_owners(2);
        let mine = [EventFd::new(0).unwrap(), EventFd::new(0).unwrap()];
        let theirs = EventFd::new(0).unwrap();
        for fd in &mine {
            fd.write(1).unwrap();
            registry.add(0, Events::new(fd, EventSet::IN)).unwrap();
        }
        theirs.write(1).unwrap();
        registry.add(1, Events::new(&theirs, EventSet::IN)).unwrap();

        registry.remove_owner(0);
        assert!(registry.fds_of(0).is_empty());
        let keys = ready_keys(&registry);
        assert_eq!(keys.len(), 1);
        assert_eq!(registry.resolve(keys[0]).map(|r| r.0), Some(1));
        // Their numbers are free for anyone again.
        registry
            .add(1, Events::new(&mine[0], EventSet::IN))
            .unwrap();
    }

    #[test]
    fn a_negative_fd_is_ebadf_without_touching_the_table() {
        let mut registry = registry_with_owners(1);
        let ebadf = Err(Error::Epoll(Errno::new(libc::EBADF)));
        assert_eq!(registry.add(0, Events::new_raw(-1, EventSet::IN)), ebadf);
        assert_eq!(registry.remove(0, -1), ebadf);
        assert_eq!(registry.modify(0, Events::new_raw(-1, EventSet::IN)), ebadf);
        assert!(registry.fds.is_empty());
    }

    #[test]
    fn a_large_unopened_fd_number_is_refused_before_the_table_grows() {
        let mut registry = registry_with_owners(1);
        let result = registry.add(0, Events::new_raw(1 << 30, EventSet::IN));
        assert_eq!(result, Err(Error::Epoll(Errno::new(libc::EBADF))));
        assert!(registry.fds.is_empty());
    }

    use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};

    /// A duplicate of `fd` at the lowest free number from `at` up; tests
    /// use numbers far above the ones the other tests get, so that a
    /// number closed here is free again when they put a file back at it.
    #[allow(unsafe_code)]
    fn dup_at(fd: &impl AsRawFd, at: RawFd) -> OwnedFd {
        // SAFETY: F_DUPFD makes a new fd and touches no existing one; the
        // new fd is owned by nobody else, so `OwnedFd` may take it.
        unsafe {
            let new = libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD, at);
            assert!(new >= 0, "F_DUPFD: {}", io::Error::last_os_error());
            OwnedFd::from_raw_fd(new)
        }
    }

    #[test]
    fn a_key_the_kernel_may_still_report_is_never_given_out_again_across_the_wrap() {
        let mut registry = registry_with_owners(1);
        let old_file = EventFd::new(0).unwrap();
        // Registered under a number of its own, which is then closed while
        // `old_file` keeps the file open: the kernel keeps the registration
        // and goes on reporting its key, which no `epoll_ctl` can reach.
        let number = dup_at(&old_file, 4000);
        let fd = number.as_raw_fd();
        registry.add(0, Events::new_raw(fd, EventSet::IN)).unwrap();
        drop(number);
        old_file.write(1).unwrap();
        let stale_key = ready_keys(&registry)[0];
        assert_eq!(stale_key, key(fd, 0));

        // Another file at the same number, registered again: the table's
        // stale record ends, and its generation is held.
        let new_file = EventFd::new(0).unwrap();
        let again = dup_at(&new_file, fd);
        assert_eq!(again.as_raw_fd(), fd, "the number is free again");
        registry.add(0, Events::new_raw(fd, EventSet::IN)).unwrap();
        assert_eq!(registry.held_at(fd as usize), [0]);

        // Jump to the edge, as 2^32 - 2 more registrations of the number
        // would: the next one after the wrap would be generation 0 again.
        registry.fds.get_mut(fd as usize).unwrap().generation = u32::MAX;
        registry.remove(0, fd).unwrap();
        registry.add(0, Events::new_raw(fd, EventSet::IN)).unwrap();
        assert_eq!(registry.fds.get(fd as usize).unwrap().generation, 1);
        assert_eq!(registry.resolve(stale_key), None);

        // Both files are ready: only the live registration resolves.
        new_file.write(1).unwrap();
        let mut keys = ready_keys(&registry);
        keys.sort_unstable();
        assert_eq!(keys, [key(fd, 0), key(fd, 1)]);
        assert_eq!(registry.resolve(key(fd, 1)), Some((0, fd, 0)));
        assert_eq!(registry.resolve(key(fd, 0)), None);
    }

    #[test]
    fn removing_a_closed_fd_holds_its_generation() {
        let mut registry = registry_with_owners(1);
        let file = EventFd::new(0).unwrap();
        let number = dup_at(&file, 4100);
        let fd = number.as_raw_fd();
        registry.add(0, Events::new_raw(fd, EventSet::IN)).unwrap();
        drop(number);
        // The kernel's EBADF still reaches the caller; the record goes.
        assert_eq!(
            registry.remove(0, fd),
            Err(Error::Epoll(Errno::new(libc::EBADF)))
        );
        assert_eq!(registry.held_at(fd as usize), [0]);
        // The same through the removal of the owner (another file: the
        // kernel still holds `file` under this number).
        let other_file = EventFd::new(0).unwrap();
        let other = dup_at(&other_file, fd);
        assert_eq!(other.as_raw_fd(), fd);
        registry.add(0, Events::new_raw(fd, EventSet::IN)).unwrap();
        let generation = registry.fds.get(fd as usize).unwrap().generation;
        drop(other);
        registry.remove_owner(0);
        assert_eq!(registry.held_at(fd as usize), [0, generation]);
        assert!(!registry
            .held_at(fd as usize)
            .contains(&registry.fds.get(fd as usize).unwrap().generation));
    }

    #[test]
    fn a_removal_the_kernel_accepts_holds_nothing() {
        let mut registry = registry_with_owners(1);
        let file = EventFd::new(0).unwrap();
        registry.add(0, Events::new(&file, EventSet::IN)).unwrap();
        registry.remove(0, file.as_raw_fd()).unwrap();
        registry.add(0, Events::new(&file, EventSet::IN)).unwrap();
        registry.remove_owner(0);
        assert!(registry.held.is_empty());
    }
}
