//! Who may touch which fd, and the errors for bad input: each gets a clear
//! `Error` and leaves the manager usable.

use std::collections::HashSet;
use std::os::unix::io::AsRawFd;

use event_manager::{
    Error, EventManager, EventSet, Events, SubscriberId, SubscriberOps, MAX_READY_EVENTS_CAPACITY,
};
use event_manager_tests::{eventfd, manager, ready_eventfd, Probe};
use vmm_sys_util::errno::Error as Errno;

#[test]
fn a_second_add_of_an_fd_is_refused_whoever_asks() {
    let mut manager = manager();
    let fd = ready_eventfd();
    let owner = manager.add_subscriber(Probe::new(vec![
        Events::with_data(&fd, 1, EventSet::IN),
        Events::with_data(&fd, 2, EventSet::OUT),
    ]));
    let other = manager.add_subscriber(Probe::new(vec![Events::with_data(&fd, 3, EventSet::IN)]));

    assert_eq!(
        manager.subscriber_mut(owner).unwrap().init_results,
        vec![Ok(()), Err(Error::FdAlreadyRegistered)]
    );
    assert_eq!(
        manager.subscriber_mut(other).unwrap().init_results,
        vec![Err(Error::FdAlreadyRegistered)]
    );
    // The first registration is untouched.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(owner).unwrap().seen,
        vec![Events::with_data(&fd, 1, EventSet::IN)]
    );
}

#[test]
fn modify_and_remove_of_another_subscribers_fd_are_refused_and_change_nothing() {
    let mut manager = manager();
    let fd = ready_eventfd();
    let owner = manager.add_subscriber(Probe::new(vec![Events::with_data(&fd, 1, EventSet::IN)]));
    let intruder = manager.add_subscriber(Probe::new(vec![]));

    let mut ops = manager.event_ops(intruder).unwrap();
    assert_eq!(
        ops.modify(Events::with_data(&fd, 9, EventSet::OUT)),
        Err(Error::FdNotRegistered)
    );
    assert_eq!(ops.remove(Events::empty(&fd)), Err(Error::FdNotRegistered));

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(owner).unwrap().seen,
        vec![Events::with_data(&fd, 1, EventSet::IN)]
    );
    assert!(manager.subscriber_mut(intruder).unwrap().seen.is_empty());
}

#[test]
fn modify_and_remove_of_an_fd_nobody_added_are_refused() {
    let mut manager = manager();
    let id = manager.add_subscriber(Probe::new(vec![]));
    let fd = eventfd();
    let mut ops = manager.event_ops(id).unwrap();
    assert_eq!(
        ops.modify(Events::new(&fd, EventSet::IN)),
        Err(Error::FdNotRegistered)
    );
    assert_eq!(ops.remove(Events::empty(&fd)), Err(Error::FdNotRegistered));
    // Removing twice: the second time it is no longer registered.
    ops.add(Events::new(&fd, EventSet::IN)).unwrap();
    ops.remove(Events::empty(&fd)).unwrap();
    assert_eq!(ops.remove(Events::empty(&fd)), Err(Error::FdNotRegistered));
}

#[test]
fn fds_the_kernel_refuses_give_epoll_errors_and_the_manager_stays_usable() {
    let mut manager = manager();
    let id = manager.add_subscriber(Probe::new(vec![]));
    let regular_file = std::fs::File::open("/proc/self/exe").unwrap();
    // No process can have this fd open: the kernel caps fd numbers far
    // below it.
    let never_open = i32::MAX;

    let mut ops = manager.event_ops(id).unwrap();
    let errno = |e| Err(Error::Epoll(Errno::new(e)));
    let negative = ops.add(Events::new_raw(-1, EventSet::IN));
    assert_eq!(negative, errno(libc::EBADF));
    let message = negative.unwrap_err().to_string();
    assert!(message.contains("(os error 9)"), "{message}");
    assert!(message.contains("the fd is negative"), "{message}");
    assert_eq!(
        ops.add(Events::new_raw(never_open, EventSet::IN)),
        errno(libc::EBADF)
    );
    assert_eq!(
        ops.add(Events::new(&regular_file, EventSet::IN)),
        errno(libc::EPERM)
    );
    assert_eq!(
        ops.add(Events::new(
            &eventfd(),
            EventSet::EXCLUSIVE | EventSet::ONE_SHOT
        )),
        errno(libc::EINVAL)
    );

    // Still fully usable.
    let fd = ready_eventfd();
    ops.add(Events::new(&fd, EventSet::IN)).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
}

#[test]
fn an_exclusive_registration_is_accepted_and_dispatched() {
    let mut manager = manager();
    let fd = ready_eventfd();
    let id = manager.add_subscriber(Probe::new(vec![Events::new(
        &fd,
        EventSet::IN | EventSet::EXCLUSIVE,
    )]));
    assert_eq!(
        manager.subscriber_mut(id).unwrap().init_results,
        vec![Ok(())]
    );
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
}

#[test]
fn capacity_zero_or_above_the_maximum_is_refused_at_construction() {
    assert_eq!(
        EventManager::<Probe>::new_with_capacity(0).err(),
        Some(Error::InvalidCapacity)
    );
    assert_eq!(
        EventManager::<Probe>::new_with_capacity(MAX_READY_EVENTS_CAPACITY + 1).err(),
        Some(Error::InvalidCapacity)
    );
    assert!(EventManager::<Probe>::new_with_capacity(1).is_ok());
}

#[test]
fn ids_of_removed_subscribers_are_invalid_everywhere() {
    let mut manager = manager();
    let id = manager.add_subscriber(Probe::new(vec![]));
    manager.remove_subscriber(id).unwrap();

    assert_eq!(manager.remove_subscriber(id).err(), Some(Error::InvalidId));
    assert_eq!(manager.subscriber_mut(id).err(), Some(Error::InvalidId));
    assert_eq!(manager.event_ops(id).err(), Some(Error::InvalidId));

    // A new subscriber may reuse the slot, never the id.
    let next = manager.add_subscriber(Probe::new(vec![]));
    assert_ne!(next, id);
    assert_eq!(manager.subscriber_mut(id).err(), Some(Error::InvalidId));
    assert!(manager.subscriber_mut(next).is_ok());
}

#[test]
fn an_id_from_another_manager_is_invalid() {
    let mut first = manager();
    let mut second = manager();
    let theirs = first.add_subscriber(Probe::new(vec![]));
    let ours = second.add_subscriber(Probe::new(vec![]));

    // Both sit in slot 0 of their manager; the ids still differ.
    assert_ne!(theirs, ours);
    assert_eq!(second.subscriber_mut(theirs).err(), Some(Error::InvalidId));
    assert_eq!(second.event_ops(theirs).err(), Some(Error::InvalidId));
    assert_eq!(
        second.remove_subscriber(theirs).err(),
        Some(Error::InvalidId)
    );
    assert!(second.subscriber_mut(ours).is_ok());
    assert!(first.remove_subscriber(theirs).is_ok());
}

#[test]
fn a_manager_never_hands_out_an_id_twice() {
    let mut manager = manager();
    let mut seen: HashSet<SubscriberId> = HashSet::new();
    let mut alive = Vec::new();
    for round in 0..2000 {
        let id = manager.add_subscriber(Probe::new(vec![]));
        assert!(seen.insert(id), "id {id:?} handed out twice");
        alive.push(id);
        // Remove in a pattern that reuses slots in varying order.
        if round % 3 != 0 {
            let victim = alive.swap_remove(round % alive.len());
            manager.remove_subscriber(victim).unwrap();
        }
    }
}

#[test]
fn a_panicking_init_leaves_nothing_behind() {
    let fd = ready_eventfd();
    let number = fd.as_raw_fd();
    let registered = Events::new(&fd, EventSet::IN);

    struct PanicsInInit(i32);
    impl event_manager::MutEventSubscriber for PanicsInInit {
        fn init(&mut self, ops: &mut event_manager::EventOps) {
            ops.add(Events::new_raw(self.0, EventSet::IN)).unwrap();
            panic!("init gives up after registering");
        }
        fn process(&mut self, _: Events, _: &mut event_manager::EventOps) {
            unreachable!("never added");
        }
    }
    let mut boxed: EventManager<Box<dyn event_manager::MutEventSubscriber>> =
        EventManager::new().unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        boxed.add_subscriber(Box::new(PanicsInInit(number)))
    }));
    assert!(result.is_err());
    // The fd it registered is free again and nothing is dispatched.
    assert_eq!(boxed.run_with_timeout(0).unwrap(), 0);
    let probe = boxed.add_subscriber(Box::new(Probe::new(vec![registered])));
    assert_eq!(boxed.run_with_timeout(1000).unwrap(), 1);
    boxed.remove_subscriber(probe).unwrap();
}

#[test]
fn events_after_a_panicking_process_are_dispatched_by_the_next_run() {
    let mut manager = manager();
    // Edge-triggered and one-shot events are reported once by the kernel:
    // if the batch they are in is cut short by a panic, only the manager
    // can still deliver them.
    let fds = [eventfd(), eventfd(), eventfd()];
    let sets = [
        EventSet::IN | EventSet::EDGE_TRIGGERED,
        EventSet::IN | EventSet::EDGE_TRIGGERED,
        EventSet::IN | EventSet::ONE_SHOT,
    ];
    let mut panics_left = 1;
    let id = manager.add_subscriber(Probe::reacting(
        (0..3)
            .map(|i| Events::with_data(&fds[i], i as u32, sets[i]))
            .collect(),
        move |_events, _ops| {
            if panics_left > 0 {
                panics_left -= 1;
                panic!("the first event of the batch fails");
            }
        },
    ));
    for fd in &fds {
        fd.write(1).unwrap();
    }

    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        manager.run_with_timeout(1000)
    }));
    assert!(first.is_err());
    assert_eq!(manager.subscriber_mut(id).unwrap().seen.len(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 2);
    let mut data: Vec<u32> = manager
        .subscriber_mut(id)
        .unwrap()
        .seen
        .iter()
        .map(Events::data)
        .collect();
    data.sort_unstable();
    assert_eq!(data, vec![0, 1, 2]);
    // Nothing is delivered twice.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

#[test]
fn a_panicking_process_leaves_the_manager_consistent() {
    let mut manager = manager();
    let fd = ready_eventfd();
    let mut panics_left = 1;
    let id = manager.add_subscriber(Probe::reacting(
        vec![Events::new(&fd, EventSet::IN)],
        move |_events, _ops| {
            if panics_left > 0 {
                panics_left -= 1;
                panic!("first event fails");
            }
        },
    ));
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        manager.run_with_timeout(1000)
    }));
    assert!(first.is_err());
    // Level-triggered and still ready: the next run dispatches it again.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen.len(), 2);
}
