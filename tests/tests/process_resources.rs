//! Checks that look at process-wide state (open fds, signals), kept in a
//! binary of their own with one test, so no other test opens fds or takes
//! signals meanwhile.

use std::os::unix::thread::JoinHandleExt;
use std::sync::mpsc;
use std::time::Duration;

use event_manager::{EventManager, EventSet, Events, SubscriberOps};
use event_manager_tests::{open_fd_count, ready_eventfd, Probe};

extern "C" fn ignore_signal(_: libc::c_int) {}

#[test]
fn fds_and_signals() {
    dropping_the_manager_closes_every_fd_it_opened();
    a_signal_during_the_wait_returns_zero_and_the_loop_goes_on();
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
