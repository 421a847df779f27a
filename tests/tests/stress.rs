//! Stress: many threads sending requests to a loop under heavy traffic, and
//! 10,000 subscribers coming and going in waves. One test in a binary of
//! its own, because it counts the process's open fds.

use std::cell::RefCell;
use std::io;
use std::os::unix::io::AsRawFd;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use event_manager::{
    EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId, SubscriberOps,
};
use event_manager_tests::open_fd_count;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// A hang guard, not a timing assertion: a deadlock fails the test
/// instead of stalling CI.
const DEADLOCK_AFTER: Duration = Duration::from_secs(600);

#[test]
fn stress() {
    let before = open_fd_count();
    #[cfg(feature = "remote_endpoint")]
    in_deadline(remote::requests_from_eight_threads_under_traffic);
    in_deadline(waves_of_ten_thousand_subscribers);
    assert_eq!(open_fd_count(), before, "fds leaked");
}

fn in_deadline(scenario: fn()) {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match finished.recv_timeout(DEADLOCK_AFTER) {
        Ok(()) => runner.join().unwrap(),
        // The scenario panicked: join to pass its panic on.
        Err(mpsc::RecvTimeoutError::Disconnected) => runner.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock: not done after {DEADLOCK_AFTER:?}")
        }
    }
}

/// Reads its eventfd on every event and adds up what it read.
struct Member {
    name: u32,
    fd: EventFd,
    received: u64,
    /// Events that were not for this member's fd and tag.
    misdelivered: Rc<RefCell<Vec<String>>>,
}

impl Member {
    fn new(name: u32, misdelivered: &Rc<RefCell<Vec<String>>>) -> Self {
        Member {
            name,
            fd: EventFd::new(EFD_NONBLOCK).unwrap(),
            received: 0,
            misdelivered: Rc::clone(misdelivered),
        }
    }
}

impl MutEventSubscriber for Member {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::with_data(&self.fd, self.name, EventSet::IN))
            .unwrap();
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        if events.fd() != self.fd.as_raw_fd() || events.data() != self.name {
            self.misdelivered.borrow_mut().push(format!(
                "member {} (fd {}) got fd {} with tag {}",
                self.name,
                self.fd.as_raw_fd(),
                events.fd(),
                events.data()
            ));
        }
        match self.fd.read() {
            Ok(value) => self.received += value,
            Err(err) => assert_eq!(err.kind(), io::ErrorKind::WouldBlock),
        }
    }
}

/// 10,000 subscribers added in waves, written to, removed in waves with
/// events pending, their fd numbers reused by the next wave.
fn waves_of_ten_thousand_subscribers() {
    const WAVE: usize = 2_000;
    const PEAK: usize = 10_000;

    let misdelivered = Rc::new(RefCell::new(Vec::new()));
    let mut manager = EventManager::<Member>::new().unwrap();
    // Per live member: its id and the total written to it. The writes go
    // through the manager's copy of the member, so each member costs one
    // fd and 10,000 of them stay below the fd limit.
    let mut live: Vec<(SubscriberId, u64)> = Vec::new();
    let mut next_name = 0u32;
    let mut round = 0u64;

    let mut add_wave =
        |manager: &mut EventManager<Member>, live: &mut Vec<(SubscriberId, u64)>, count: usize| {
            for _ in 0..count {
                let member = Member::new(next_name, &misdelivered);
                next_name += 1;
                live.push((manager.add_subscriber(member), 0));
            }
        };
    // Writes to every third live member (a different third each round),
    // runs until nothing is ready, and checks every live member's total.
    let mut write_and_drain = |manager: &mut EventManager<Member>,
                               live: &mut Vec<(SubscriberId, u64)>| {
        round += 1;
        for (index, (id, written)) in live.iter_mut().enumerate() {
            if (index as u64 + round).is_multiple_of(3) {
                manager
                    .subscriber_mut(*id)
                    .unwrap()
                    .fd
                    .write(round)
                    .unwrap();
                *written += round;
            }
        }
        while manager.run_with_timeout(0).unwrap() > 0 {}
        for &(id, written) in live.iter() {
            assert_eq!(manager.subscriber_mut(id).unwrap().received, written);
        }
    };

    // Up to the peak, a wave at a time, with traffic after each wave.
    while live.len() < PEAK {
        add_wave(&mut manager, &mut live, WAVE);
        write_and_drain(&mut manager, &mut live);
    }
    // Down again: each wave of removals has events pending for the members
    // it removes; a wave half as big of new members takes the fd numbers
    // and subscriber slots they freed.
    for _ in 0..PEAK / WAVE {
        for &(id, _) in live.iter().take(WAVE) {
            manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
        }
        for (id, written) in live.drain(..WAVE) {
            let member = manager.remove_subscriber(id).unwrap();
            // The pending write was dispatched to nobody: it is still there.
            assert_eq!(member.received, written);
            assert_eq!(member.fd.read().unwrap(), 1);
        }
        add_wave(&mut manager, &mut live, WAVE / 2);
        write_and_drain(&mut manager, &mut live);
    }
    for (id, _) in live.drain(..) {
        manager.remove_subscriber(id).unwrap();
    }
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(misdelivered.borrow().as_slice(), &[] as &[String]);
}

#[cfg(feature = "remote_endpoint")]
mod remote {
    use std::os::unix::io::AsRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::thread;

    use event_manager::{
        Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps,
    };
    use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

    const WORKERS: u64 = 8;
    const ROUNDS: u64 = 1_000;
    const TRAFFIC_FDS: usize = 4;

    /// Reads its eventfd on every event.
    struct Reader {
        fd: EventFd,
        events: u64,
    }

    impl MutEventSubscriber for Reader {
        fn init(&mut self, ops: &mut EventOps) {
            ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
        }

        fn process(&mut self, _events: Events, _ops: &mut EventOps) {
            self.events += 1;
            let _ = self.fd.read();
        }
    }

    /// Each of 8 threads, 1,000 rounds of: add a subscriber
    /// (`call_blocking`), change its interest (`fire`), write to it,
    /// remove it (`call_blocking`), check its id (`call_blocking`); while
    /// another thread keeps four eventfds of the loop busy.
    pub fn requests_from_eight_threads_under_traffic() {
        let mut manager = EventManager::<Reader>::new().unwrap();
        let endpoint = manager.remote_endpoint();
        let stop = Arc::new(AtomicBool::new(false));
        let calls_served = Arc::new(AtomicU64::new(0));
        let fires_run = Arc::new(AtomicU64::new(0));

        let traffic: Vec<EventFd> = (0..TRAFFIC_FDS)
            .map(|_| EventFd::new(EFD_NONBLOCK).unwrap())
            .collect();
        let traffic_writers: Vec<EventFd> =
            traffic.iter().map(|fd| fd.try_clone().unwrap()).collect();
        for fd in traffic {
            manager.add_subscriber(Reader { fd, events: 0 });
        }

        let event_loop = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut dispatched = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    dispatched += manager.run().unwrap() as u64;
                }
                (manager, dispatched)
            })
        };
        let traffic = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut writes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for fd in &traffic_writers {
                        fd.write(1).unwrap();
                        writes += 1;
                    }
                }
                writes
            })
        };

        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let endpoint = endpoint.clone();
                let calls_served = Arc::clone(&calls_served);
                let fires_run = Arc::clone(&fires_run);
                thread::spawn(move || {
                    for round in 0..ROUNDS {
                        let request = worker * ROUNDS + round;
                        let fd = EventFd::new(EFD_NONBLOCK).unwrap();
                        let writer = fd.try_clone().unwrap();
                        let number = fd.as_raw_fd();
                        let served = Arc::clone(&calls_served);
                        let (answer, id) = endpoint
                            .call_blocking(move |ops| -> Result<_, Error> {
                                served.fetch_add(1, Ordering::Relaxed);
                                Ok((request, ops.add_subscriber(Reader { fd, events: 0 })))
                            })
                            .unwrap();
                        // The answer is this request's, not another's.
                        assert_eq!(answer, request);

                        let fired = Arc::clone(&fires_run);
                        endpoint
                            .fire(move |ops| {
                                fired.fetch_add(1, Ordering::Relaxed);
                                let interest = Events::new_raw(
                                    number,
                                    EventSet::IN | EventSet::EDGE_TRIGGERED,
                                );
                                ops.event_ops(id).unwrap().modify(interest).unwrap();
                            })
                            .unwrap();
                        writer.write(1).unwrap();

                        let served = Arc::clone(&calls_served);
                        let removed = endpoint
                            .call_blocking(move |ops| {
                                served.fetch_add(1, Ordering::Relaxed);
                                ops.remove_subscriber(id)
                            })
                            .unwrap();
                        assert!(removed.events <= 1);
                        let served = Arc::clone(&calls_served);
                        let gone = endpoint.call_blocking(move |ops| -> Result<_, Error> {
                            served.fetch_add(1, Ordering::Relaxed);
                            Ok(ops.subscriber_mut(id).err())
                        });
                        assert_eq!(gone, Ok(Some(Error::InvalidId)));
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }

        // Requests run in the order they were queued: once this one is
        // served, every `fire` before it has run.
        let stop_loop = Arc::clone(&stop);
        endpoint
            .call_blocking(move |_ops| -> Result<(), Error> {
                stop_loop.store(true, Ordering::Relaxed);
                Ok(())
            })
            .unwrap();
        let (manager, dispatched) = event_loop.join().unwrap();
        let writes = traffic.join().unwrap();

        assert_eq!(calls_served.load(Ordering::Relaxed), WORKERS * ROUNDS * 3);
        assert_eq!(fires_run.load(Ordering::Relaxed), WORKERS * ROUNDS);
        assert!(writes > 0 && dispatched > 0);
        drop(manager);
        // Every handle now fails cleanly instead of hanging.
        assert_eq!(endpoint.kick(), Err(Error::ChannelSend));
    }
}
