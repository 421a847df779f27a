//! Dispatch against real epoll: which subscriber gets which event, events
//! the kernel reports unasked, events of fds removed mid-batch, capacity,
//! edge triggering.

use std::io::Write;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use event_manager::{Error, EventManager, EventSet, Events, SubscriberOps};
use event_manager_tests::{eventfd, manager, ready_eventfd, replace_with_new_eventfd, Probe};
use vmm_sys_util::errno::Error as Errno;

#[test]
fn each_ready_fd_reaches_its_own_subscriber_with_its_data() {
    let mut manager = manager();
    let (a, b) = (ready_eventfd(), ready_eventfd());
    let quiet = eventfd();
    let first = manager.add_subscriber(Probe::new(vec![
        Events::with_data(&a, 11, EventSet::IN),
        Events::with_data(&quiet, 12, EventSet::IN),
    ]));
    let second = manager.add_subscriber(Probe::new(vec![Events::with_data(&b, 21, EventSet::IN)]));

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);

    let first = manager.remove_subscriber(first).unwrap();
    let second = manager.remove_subscriber(second).unwrap();
    assert_eq!(first.seen, vec![Events::with_data(&a, 11, EventSet::IN)]);
    assert_eq!(second.seen, vec![Events::with_data(&b, 21, EventSet::IN)]);
}

#[test]
fn hang_up_reaches_the_owner_without_being_registered() {
    let mut manager = manager();
    let (watched, peer) = UnixStream::pair().unwrap();
    let id = manager.add_subscriber(Probe::new(vec![Events::new(&watched, EventSet::empty())]));
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    drop(peer);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let probe = manager.subscriber_mut(id).unwrap();
    assert!(probe.seen[0].event_set().contains(EventSet::HANG_UP));
    assert_eq!(probe.seen[0].fd(), watched.as_raw_fd());
}

#[test]
fn read_hang_up_reaches_the_owner_without_being_registered() {
    let mut manager = manager();
    let (watched, peer) = UnixStream::pair().unwrap();
    let id = manager.add_subscriber(Probe::new(vec![Events::new(&watched, EventSet::IN)]));

    peer.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let set = manager.subscriber_mut(id).unwrap().seen[0].event_set();
    assert!(set.contains(EventSet::READ_HANG_UP), "got {set:?}");
    assert!(
        !set.contains(EventSet::HANG_UP),
        "only the peer's write side is shut"
    );
}

#[test]
fn error_reaches_the_owner_without_being_registered() {
    let mut manager = manager();
    let (reader, writer) = pipe();
    // A pipe's write end is never readable: only the error can wake it.
    let id = manager.add_subscriber(Probe::new(vec![Events::new(&writer, EventSet::IN)]));
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    drop(reader);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let set = manager.subscriber_mut(id).unwrap().seen[0].event_set();
    assert!(set.contains(EventSet::ERROR), "got {set:?}");
}

fn pipe() -> (std::io::PipeReader, std::io::PipeWriter) {
    std::io::pipe().expect("create a pipe")
}

#[test]
fn a_ready_fd_removed_earlier_in_the_batch_is_not_dispatched() {
    let mut manager = manager();
    let (a, b) = (ready_eventfd(), ready_eventfd());
    let fds = [a.as_raw_fd(), b.as_raw_fd()];
    // Whichever event comes first removes the other fd; both are ready and
    // in the same batch, so only the first may be dispatched.
    let id = manager.add_subscriber(Probe::reacting(
        vec![Events::new(&a, EventSet::IN), Events::new(&b, EventSet::IN)],
        move |events, ops| {
            let other = if events.fd() == fds[0] {
                fds[1]
            } else {
                fds[0]
            };
            ops.remove(Events::empty_raw(other)).unwrap();
        },
    ));

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen.len(), 1);
}

#[test]
fn a_stale_event_is_not_dispatched_to_a_new_file_under_the_same_fd_number() {
    let mut manager = manager();
    let pair = [ready_eventfd(), ready_eventfd()];
    let numbers = [pair[0].as_raw_fd(), pair[1].as_raw_fd()];
    let open_fds: Arc<Mutex<Vec<vmm_sys_util::eventfd::EventFd>>> = Arc::default();

    // Both fds are ready, so both are in the first batch. Whichever event
    // comes first, its handler removes the other fd, closes its file, opens
    // a new ready file under the same number and registers it with data 3.
    // The other fd's event, still in the batch, must reach neither the old
    // registration nor the new one.
    let keeper = Arc::clone(&open_fds);
    let mut pair = Some(pair);
    let id = manager.add_subscriber(Probe::reacting(
        vec![
            Events::with_data_raw(numbers[0], 1, EventSet::IN),
            Events::with_data_raw(numbers[1], 2, EventSet::IN),
        ],
        move |events, ops| {
            let Some([first, second]) = pair.take() else {
                return;
            };
            let (keep, old) = if events.fd() == first.as_raw_fd() {
                (first, second)
            } else {
                (second, first)
            };
            let number = old.as_raw_fd();
            ops.remove(Events::empty(&old)).unwrap();
            let fresh = replace_with_new_eventfd(old);
            assert_eq!(fresh.as_raw_fd(), number);
            fresh.write(1).unwrap();
            ops.add(Events::with_data(&fresh, 3, EventSet::IN)).unwrap();
            keeper.lock().unwrap().extend([keep, fresh]);
        },
    ));

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let first = manager.subscriber_mut(id).unwrap().seen[0];
    assert!(first.data() == 1 || first.data() == 2, "{first:?}");
    let replaced = numbers[(first.data() % 2) as usize];

    // From the next run on, the new file is watched like any other.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    let probe = manager.subscriber_mut(id).unwrap();
    assert!(probe.seen[1..].contains(&Events::with_data_raw(replaced, 3, EventSet::IN)));
    drop(open_fds);
}

#[test]
fn a_paused_socket_stays_quiet_when_the_peer_shuts_down_writing() {
    let mut manager = manager();
    let (watched, peer) = UnixStream::pair().unwrap();
    // Registered with no events, as a subscriber pauses an fd: no IN, so
    // no READ_HANG_UP is asked for, and the peer's half-close must not
    // wake it (it would on every run, being level-triggered).
    let id = manager.add_subscriber(Probe::new(vec![Events::new(&watched, EventSet::empty())]));

    peer.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    // Resuming with IN reports both the end of the stream and the shutdown.
    manager
        .event_ops(id)
        .unwrap()
        .modify(Events::new(&watched, EventSet::IN))
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let set = manager.subscriber_mut(id).unwrap().seen[0].event_set();
    assert_eq!(set, EventSet::IN | EventSet::READ_HANG_UP);
}

#[test]
fn a_file_closed_without_removal_frees_its_number_for_a_new_registration() {
    let mut manager = manager();
    let owner = manager.add_subscriber(Probe::new(vec![]));
    let newcomer = manager.add_subscriber(Probe::new(vec![]));
    let old = eventfd();
    let number = old.as_raw_fd();
    manager
        .event_ops(owner)
        .unwrap()
        .add(Events::with_data(&old, 1, EventSet::IN))
        .unwrap();

    // The kernel drops the registration when the file closes.
    let fresh = replace_with_new_eventfd(old);
    fresh.write(1).unwrap();
    manager
        .event_ops(newcomer)
        .unwrap()
        .add(Events::with_data(&fresh, 2, EventSet::IN))
        .unwrap();

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert!(manager.subscriber_mut(owner).unwrap().seen.is_empty());
    assert_eq!(
        manager.subscriber_mut(newcomer).unwrap().seen,
        vec![Events::with_data_raw(number, 2, EventSet::IN)]
    );
    // The number now belongs to the newcomer only.
    let stale_remove = manager
        .event_ops(owner)
        .unwrap()
        .remove(Events::empty_raw(number));
    assert_eq!(stale_remove, Err(Error::FdNotRegistered));
}

#[test]
fn an_event_of_a_registration_the_manager_forgot_is_skipped() {
    let mut manager = manager();
    let original = eventfd();
    let duplicate = original.try_clone().unwrap();
    let id = manager.add_subscriber(Probe::new(vec![Events::new(&original, EventSet::IN)]));
    let number = original.as_raw_fd();

    // Closing one of two fds of a file leaves its epoll registration in the
    // kernel, where no epoll_ctl can reach it any more. Removing the closed
    // number reports the closed fd and the manager forgets it, but the
    // kernel keeps reporting the file, under a key the manager no longer
    // knows.
    drop(original);
    let removed = manager
        .event_ops(id)
        .unwrap()
        .remove(Events::empty_raw(number));
    // EBADF, or ENOENT if another test thread already reused the number.
    assert!(
        matches!(removed, Err(Error::Epoll(errno)) if errno == Errno::new(libc::EBADF) || errno == Errno::new(libc::ENOENT)),
        "{removed:?}"
    );
    duplicate.write(1).unwrap();

    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert!(manager.subscriber_mut(id).unwrap().seen.is_empty());
}

#[test]
fn registrations_made_during_a_batch_are_first_dispatched_by_the_next_run() {
    let mut manager = manager();
    let trigger = ready_eventfd();
    let late = Arc::new(ready_eventfd());
    let late_for_reaction = Arc::clone(&late);
    let id = manager.add_subscriber(Probe::reacting(
        vec![Events::with_data(&trigger, 1, EventSet::IN)],
        move |events, ops| {
            if events.data() == 1 {
                let _ = ops.add(Events::with_data(
                    late_for_reaction.as_ref(),
                    2,
                    EventSet::IN,
                ));
                ops.remove(events).unwrap();
            }
        },
    ));

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let seen: Vec<u32> = manager
        .subscriber_mut(id)
        .unwrap()
        .seen
        .iter()
        .map(Events::data)
        .collect();
    assert_eq!(seen, vec![1, 2]);
}

#[test]
fn removing_a_subscriber_deregisters_all_its_fds() {
    let mut manager = manager();
    let fds = [ready_eventfd(), ready_eventfd(), ready_eventfd()];
    let gone = manager.add_subscriber(Probe::new(
        fds.iter().map(|fd| Events::new(fd, EventSet::IN)).collect(),
    ));
    let stays = manager.add_subscriber(Probe::new(vec![]));

    let removed = manager.remove_subscriber(gone).unwrap();
    assert!(removed.init_results.iter().all(Result::is_ok));
    // Still readable, no longer watched.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    // The numbers are free to be registered again.
    let mut ops = manager.event_ops(stays).unwrap();
    for fd in &fds {
        ops.add(Events::new(fd, EventSet::IN)).unwrap();
    }
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
}

#[test]
fn a_small_ready_list_spreads_ready_events_over_several_runs() {
    let mut manager = EventManager::new_with_capacity(1).unwrap();
    let fds: Vec<_> = (0..3).map(|_| eventfd()).collect();
    // Each event is read in its handler, so each fd is dispatched once.
    let readers: Vec<_> = fds.iter().map(|fd| fd.try_clone().unwrap()).collect();
    let id = manager.add_subscriber(Probe::reacting(
        (0..3)
            .map(|index| Events::with_data(&fds[index], index as u32, EventSet::IN))
            .collect(),
        move |events, _ops| {
            readers[events.data() as usize].read().unwrap();
        },
    ));
    for fd in &fds {
        fd.write(1).unwrap();
    }

    for _ in 0..3 {
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    }
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let mut seen = manager.subscriber_mut(id).unwrap().seen_fds();
    seen.sort_unstable();
    let mut expected: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
}

#[test]
fn an_edge_triggered_fd_fires_once_per_write() {
    let mut manager = manager();
    let fd = eventfd();
    let id = manager.add_subscriber(Probe::new(vec![Events::new(
        &fd,
        EventSet::IN | EventSet::EDGE_TRIGGERED,
    )]));

    fd.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    // Never read, still readable, but no new edge.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    fd.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen.len(), 2);
}

#[test]
fn a_level_triggered_fd_fires_on_every_run_until_drained() {
    let mut manager = manager();
    let fd = ready_eventfd();
    let id = manager.add_subscriber(Probe::new(vec![Events::new(&fd, EventSet::IN)]));
    for _ in 0..3 {
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    }
    fd.read().unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen.len(), 3);
}

#[test]
fn modify_changes_the_interest_and_the_data_delivered() {
    let mut manager = manager();
    let (watched, mut peer) = UnixStream::pair().unwrap();
    let id = manager.add_subscriber(Probe::new(vec![Events::with_data(
        &watched,
        1,
        EventSet::IN,
    )]));
    // Writable but not readable: nothing to report yet.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    manager
        .event_ops(id)
        .unwrap()
        .modify(Events::with_data(&watched, 2, EventSet::OUT))
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    manager
        .event_ops(id)
        .unwrap()
        .modify(Events::with_data(&watched, 3, EventSet::IN))
        .unwrap();
    peer.write_all(b"x").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);

    let seen = &manager.subscriber_mut(id).unwrap().seen;
    assert_eq!(seen[0].data(), 2);
    assert!(seen[0].event_set().contains(EventSet::OUT));
    assert_eq!(seen[1].data(), 3);
    assert!(seen[1].event_set().contains(EventSet::IN));
}
