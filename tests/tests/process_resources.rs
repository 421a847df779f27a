//! Checks that look at process-wide state (open fds, the fd limit,
//! signals), kept in a binary of their own with one test, so no other test
//! opens fds or takes signals meanwhile.

use std::os::unix::thread::JoinHandleExt;
use std::sync::mpsc;
use std::time::Duration;

use std::os::unix::io::AsRawFd;

use event_manager::{Error, EventManager, EventSet, Events, SubscriberOps};
use event_manager_tests::{
    eventfd, fd_limit, fd_numbers, open_fd_count, ready_eventfd, set_fd_limit, Probe,
};
use vmm_sys_util::errno::Error as Errno;
use vmm_sys_util::eventfd::EventFd;

extern "C" fn ignore_signal(_: libc::c_int) {}

#[test]
fn fds_and_signals() {
    dropping_the_manager_closes_every_fd_it_opened();
    a_signal_during_the_wait_returns_zero_and_the_loop_goes_on();
    a_closed_fd_is_refused_and_the_manager_goes_on();
    running_out_of_fds_is_an_error_and_leaks_nothing();
}

fn a_closed_fd_is_refused_and_the_manager_goes_on() {
    let mut manager = EventManager::<Probe>::new().unwrap();
    let id = manager.add_subscriber(Probe::new(vec![]));
    // No other thread opens fds in this binary, so the number stays free.
    let closed = eventfd();
    let number = closed.as_raw_fd();
    drop(closed);
    let mut ops = manager.event_ops(id).unwrap();
    assert_eq!(
        ops.add(Events::new_raw(number, EventSet::IN)),
        Err(Error::Epoll(Errno::new(libc::EBADF)))
    );
    let ready = ready_eventfd();
    ops.add(Events::new(&ready, EventSet::IN)).unwrap();
    assert_eq!(manager.run_with_timeout(1000), Ok(1));
}

fn running_out_of_fds_is_an_error_and_leaks_nothing() {
    let mut existing = EventManager::<Probe>::new().unwrap();
    let ready = ready_eventfd();
    existing.add_subscriber(Probe::new(vec![Events::new(&ready, EventSet::IN)]));
    let before = open_fd_count();

    // The limit caps fd numbers: put it just above the highest open one,
    // then fill every free number below it.
    let highest = fd_numbers("self").into_iter().max().unwrap();
    let original = fd_limit(0);
    set_fd_limit(
        0,
        libc::rlimit {
            rlim_cur: highest + 1,
            ..original
        },
    );
    let mut fillers = Vec::new();
    let exhausted = loop {
        match EventFd::new(0) {
            Ok(fd) => fillers.push(fd),
            Err(err) => break err,
        }
    };
    assert_eq!(exhausted.raw_os_error(), Some(libc::EMFILE));

    let emfile = Errno::new(libc::EMFILE);
    assert_eq!(
        EventManager::<Probe>::new().err(),
        Some(Error::Epoll(emfile))
    );
    #[cfg(feature = "remote_endpoint")]
    {
        // Room for the epoll fd but not for the endpoint's eventfd, which
        // the manager makes at construction: an error, and the epoll fd it
        // had made is closed again, so the number is free once more.
        drop(fillers.pop());
        assert_eq!(
            EventManager::<Probe>::new().err(),
            Some(Error::EventFd(emfile))
        );
        fillers.push(EventFd::new(0).expect("the free number is free again"));
    }
    // The manager that exists keeps working at the limit.
    assert_eq!(existing.run_with_timeout(1000), Ok(1));

    set_fd_limit(0, original);
    drop(fillers);
    assert!(EventManager::<Probe>::new().is_ok());
    assert_eq!(open_fd_count(), before);
}

fn dropping_the_manager_closes_every_fd_it_opened() {
    let before = open_fd_count();
    let subscriber_fds: Vec<_> = (0..4).map(|_| ready_eventfd()).collect();
    let mut managers = Vec::new();
    for _ in 0..8 {
        let mut manager = EventManager::<Probe>::new().unwrap();
        let id = manager.add_subscriber(Probe::new(
            subscriber_fds
                .iter()
                .map(|fd| Events::new(fd, EventSet::IN))
                .collect(),
        ));
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
        manager.remove_subscriber(id).unwrap();
        #[cfg(feature = "remote_endpoint")]
        drop(manager.remote_endpoint());
        managers.push(manager);
    }
    assert!(open_fd_count() > before + subscriber_fds.len());
    drop(managers);
    drop(subscriber_fds);
    assert_eq!(open_fd_count(), before);
}

fn a_signal_during_the_wait_returns_zero_and_the_loop_goes_on() {
    // SAFETY: installs a handler that does nothing, for a signal this test
    // binary uses for nothing else; no SA_RESTART, so epoll_wait sees EINTR.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }

    let (done, finished) = mpsc::channel();
    let looper = std::thread::spawn(move || {
        let mut manager = EventManager::<Probe>::new().unwrap();
        // Nothing is registered: only a signal can end this wait.
        let interrupted = manager.run();
        done.send(()).unwrap();
        // The same manager keeps working after the interruption.
        let fd = ready_eventfd();
        manager.add_subscriber(Probe::new(vec![Events::new(&fd, EventSet::IN)]));
        let after = manager.run_with_timeout(1000);
        (interrupted, after)
    });

    // The signal may arrive before the thread blocks; keep signalling
    // until the thread reports that `run` returned.
    let thread = looper.as_pthread_t();
    loop {
        // SAFETY: the thread has not been joined, so its pthread_t is valid.
        unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
        if finished.recv_timeout(Duration::from_millis(20)).is_ok() {
            break;
        }
    }
    let (interrupted, after) = looper.join().unwrap();
    assert_eq!(interrupted, Ok(0));
    assert_eq!(after, Ok(1));
}
