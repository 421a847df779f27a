//! Pausing and resuming a registered fd: a level-triggered fd that stays
//! ready wakes nothing while paused, its data tag and interest come back
//! with it, and every other operation on a paused fd has a defined answer.

use std::fs::File;
use std::io::Write;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps,
};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// The rate-limiter shape: `tap` is never drained (it stays ready), and
/// each event of it pauses it; `events` records what arrived.
struct Limited {
    tap: EventFd,
    data: u32,
    events: Vec<(u32, EventSet)>,
    pause_on_event: bool,
}

impl MutEventSubscriber for Limited {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::with_data(&self.tap, self.data, EventSet::IN))
            .unwrap();
    }
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.events.push((events.data(), events.event_set()));
        if self.pause_on_event {
            ops.pause(&events.fd()).unwrap();
        }
    }
}

fn limited(data: u32) -> Limited {
    let tap = EventFd::new(EFD_NONBLOCK).unwrap();
    tap.write(1).unwrap();
    Limited {
        tap,
        data,
        events: Vec::new(),
        pause_on_event: true,
    }
}

fn raw(manager: &mut EventManager<Limited>, id: event_manager::SubscriberId) -> RawFd {
    manager.subscriber_mut(id).unwrap().tap.as_raw_fd()
}

#[test]
fn a_paused_fd_that_stays_ready_wakes_nothing_and_comes_back_with_its_tag() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(limited(41));
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    for _ in 0..5 {
        // Still ready (level-triggered, never read), but paused.
        assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    }
    let fd = raw(&mut manager, id);
    let mut ops = manager.event_ops(id).unwrap();
    assert_eq!(ops.is_paused(&fd), Ok(true));
    ops.resume(&fd).unwrap();
    assert_eq!(ops.is_paused(&fd), Ok(false));
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    let events = &manager.subscriber_mut(id).unwrap().events;
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|&(data, set)| data == 41 && set.contains(EventSet::IN)));
}

#[test]
fn pausing_and_resuming_twice_is_the_same_as_once() {
    let mut manager = EventManager::new().unwrap();
    let mut subscriber = limited(1);
    subscriber.pause_on_event = false;
    let id = manager.add_subscriber(subscriber);
    let fd = raw(&mut manager, id);
    let mut ops = manager.event_ops(id).unwrap();
    ops.resume(&fd).unwrap(); // not paused: nothing to do
    ops.pause(&fd).unwrap();
    ops.pause(&fd).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let mut ops = manager.event_ops(id).unwrap();
    ops.resume(&fd).unwrap();
    ops.resume(&fd).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
}

#[test]
fn modify_while_paused_changes_what_resume_restores() {
    let mut manager = EventManager::new().unwrap();
    let mut subscriber = limited(1);
    subscriber.pause_on_event = false;
    let id = manager.add_subscriber(subscriber);
    let fd = raw(&mut manager, id);
    let mut ops = manager.event_ops(id).unwrap();
    ops.pause(&fd).unwrap();
    ops.modify(Events::with_data_raw(fd, 9, EventSet::OUT))
        .unwrap();
    assert_eq!(ops.is_paused(&fd), Ok(true), "modify does not resume");
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    manager.event_ops(id).unwrap().resume(&fd).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    let events = &manager.subscriber_mut(id).unwrap().events;
    // An eventfd below its maximum is writable: OUT, with the new tag.
    assert_eq!(events[0].0, 9);
    assert!(events[0].1.contains(EventSet::OUT));
}

#[test]
fn an_event_already_in_the_batch_of_a_fd_paused_by_another_handler_is_dropped() {
    /// Both fds ready in one batch; whichever handler runs first pauses
    /// the other fd, whose event in the same batch must not arrive.
    struct Pair {
        fds: [EventFd; 2],
        calls: u32,
    }
    impl MutEventSubscriber for Pair {
        fn init(&mut self, ops: &mut EventOps) {
            for fd in &self.fds {
                ops.add(Events::new(fd, EventSet::IN)).unwrap();
            }
        }
        fn process(&mut self, events: Events, ops: &mut EventOps) {
            self.calls += 1;
            let other = self
                .fds
                .iter()
                .find(|fd| fd.as_raw_fd() != events.fd())
                .unwrap();
            ops.pause(other).unwrap();
        }
    }
    let mut manager = EventManager::new().unwrap();
    let fds = [EventFd::new(0).unwrap(), EventFd::new(0).unwrap()];
    for fd in &fds {
        fd.write(1).unwrap();
    }
    let id = manager.add_subscriber(Pair { fds, calls: 0 });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().calls, 1);
}

#[test]
fn a_peer_hanging_up_while_paused_is_reported_after_resume_not_before() {
    struct Reader {
        stream: UnixStream,
        events: Vec<EventSet>,
    }
    impl MutEventSubscriber for Reader {
        fn init(&mut self, ops: &mut EventOps) {
            ops.add(Events::new(&self.stream, EventSet::IN)).unwrap();
        }
        fn process(&mut self, events: Events, ops: &mut EventOps) {
            self.events.push(events.event_set());
            ops.remove(events).unwrap();
        }
    }
    let (stream, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Reader {
        stream,
        events: Vec::new(),
    });
    let fd = manager.subscriber_mut(id).unwrap().stream.as_raw_fd();
    manager.event_ops(id).unwrap().pause(&fd).unwrap();
    peer.write_all(b"bye").unwrap();
    drop(peer);
    // Ready and hung up, even ERROR/HANG_UP, which epoll reports
    // unasked: nothing while paused.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    manager.event_ops(id).unwrap().resume(&fd).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    let events = &manager.subscriber_mut(id).unwrap().events;
    assert!(events[0].contains(EventSet::IN | EventSet::READ_HANG_UP));
}

#[test]
fn a_paused_fd_is_still_owned_and_removal_ends_it_cleanly() {
    let mut manager = EventManager::new().unwrap();
    let first = manager.add_subscriber(limited(1));
    let second = manager.add_subscriber(limited(2));
    assert_eq!(manager.run_with_timeout(0).unwrap(), 2);
    let fd = raw(&mut manager, first);

    // Owned by `first`: another subscriber can neither touch nor add it.
    let mut ops = manager.event_ops(second).unwrap();
    assert_eq!(ops.pause(&fd), Err(Error::FdNotRegistered));
    assert_eq!(ops.resume(&fd), Err(Error::FdNotRegistered));
    assert_eq!(ops.is_paused(&fd), Err(Error::FdNotRegistered));
    assert_eq!(
        ops.add(Events::new_raw(fd, EventSet::IN)),
        Err(Error::FdAlreadyRegistered)
    );

    // Removed while paused: gone, and the number is free for anyone.
    let mut ops = manager.event_ops(first).unwrap();
    ops.remove(Events::empty_raw(fd)).unwrap();
    assert_eq!(ops.is_paused(&fd), Err(Error::FdNotRegistered));
    let mut ops = manager.event_ops(second).unwrap();
    ops.add(Events::with_data_raw(fd, 5, EventSet::IN)).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(second).unwrap().events.last(),
        Some(&(5, EventSet::IN))
    );
}

#[test]
fn removing_a_subscriber_with_paused_fds_frees_them() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(limited(1));
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    let subscriber = manager.remove_subscriber(id).unwrap();
    let other = manager.add_subscriber(Limited {
        tap: subscriber.tap,
        data: 3,
        events: Vec::new(),
        pause_on_event: false,
    });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(other).unwrap().events,
        vec![(3, EventSet::IN)]
    );
}

#[test]
fn resuming_an_fd_whose_file_changed_while_paused_fails_and_leaves_it_paused() {
    struct Holder(EventFd);
    impl MutEventSubscriber for Holder {
        fn init(&mut self, ops: &mut EventOps) {
            ops.add(Events::new(&self.0, EventSet::IN)).unwrap();
        }
        fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    }
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Holder(EventFd::new(0).unwrap()));
    let fd = manager.subscriber_mut(id).unwrap().0.as_raw_fd();
    manager.event_ops(id).unwrap().pause(&fd).unwrap();
    // The number now names /dev/null, which epoll refuses. (Closing the
    // eventfd instead would free the number for the other tests of this
    // binary, which run in parallel: resume could then register theirs.)
    let null = File::open("/dev/null").unwrap();
    // SAFETY: dup2 reads no memory; both numbers are open, and the one it
    // replaces belongs to the holder's EventFd, which closes it (by then
    // /dev/null) when the manager drops the holder.
    assert_eq!(unsafe { libc::dup2(null.as_raw_fd(), fd) }, fd);
    let mut ops = manager.event_ops(id).unwrap();
    assert!(matches!(ops.resume(&fd), Err(Error::Epoll(errno)) if errno.errno() == libc::EPERM));
    assert_eq!(ops.is_paused(&fd), Ok(true));
    ops.remove(Events::empty_raw(fd)).unwrap();
    assert_eq!(ops.is_paused(&fd), Err(Error::FdNotRegistered));
}

#[test]
fn a_negative_fd_is_one_the_subscriber_did_not_add() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(limited(1));
    let mut ops = manager.event_ops(id).unwrap();
    // As `pause` documents it for any fd this subscriber did not add
    // (these three said `Epoll(EBADF)` before).
    assert_eq!(ops.pause(&-1), Err(Error::FdNotRegistered));
    assert_eq!(ops.resume(&-1), Err(Error::FdNotRegistered));
    assert_eq!(ops.is_paused(&-1), Err(Error::FdNotRegistered));
}

/// Registers its ready, never drained eventfd with `ONE_SHOT`.
struct OneShot {
    fd: EventFd,
    events: u32,
}

impl MutEventSubscriber for OneShot {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN | EventSet::ONE_SHOT))
            .unwrap();
    }
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        self.events += 1;
    }
}

#[test]
fn resume_re_arms_a_one_shot_registration_that_fired() {
    let fd = EventFd::new(EFD_NONBLOCK).unwrap();
    fd.write(1).unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(OneShot { fd, events: 0 });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    // Fired: the kernel disarmed it, though the fd is still ready.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    let raw = manager.subscriber_mut(id).unwrap().fd.as_raw_fd();
    let mut ops = manager.event_ops(id).unwrap();
    ops.pause(&raw).unwrap();
    ops.resume(&raw).unwrap();
    // Registered as it was made: armed, and fires once more.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(manager.subscriber_mut(id).unwrap().events, 2);
}
