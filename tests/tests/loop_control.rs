//! Leaving the loop: `StopHandle` from another thread, from a handler and
//! from a signal handler; what a stop does to the rest of its batch; the
//! defined answers to stopping twice, early, or after the manager is gone;
//! `call_blocking` refused on the loop's own thread; sub-millisecond runs.

use std::os::unix::io::AsRawFd;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

#[cfg(feature = "remote_endpoint")]
use event_manager::RemoteEndpoint;
use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, StopHandle, SubscriberOps,
};
use event_manager_tests::{current_thread_id, wait_until_blocked_in_epoll};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use vmm_sys_util::signal::{register_signal_handler, Killable};

type Dyn = Box<dyn MutEventSubscriber + Send>;

/// Runs `run_until_stopped` on a thread of its own, which blocks the
/// signals in `blocked` first; returns, once that thread is blocked in
/// the wait, the channel that gets the run's result and the stop handle.
fn spawn_blocked_loop(
    blocked: &'static [libc::c_int],
) -> (mpsc::Receiver<event_manager::Result<()>>, StopHandle) {
    let (started, tid_of_loop) = mpsc::channel();
    let (result, ended) = mpsc::channel();
    thread::spawn(move || {
        for &signal in blocked {
            vmm_sys_util::signal::block_signal(signal).unwrap();
        }
        let mut manager = EventManager::<Dyn>::new().unwrap();
        let tid = current_thread_id();
        started.send((tid, manager.stop_handle().unwrap())).unwrap();
        // Nothing is registered: only the stop can end this.
        result.send(manager.run_until_stopped()).unwrap();
    });
    let (tid, stop) = tid_of_loop.recv().unwrap();
    wait_until_blocked_in_epoll(tid);
    (ended, stop)
}

/// How long a test waits for a stopped loop to return before it reports
/// the stop as lost (instead of hanging until the harness is killed).
const LOST_AFTER: Duration = Duration::from_secs(60);

#[test]
fn a_stop_from_another_thread_ends_a_run_blocked_with_no_fds() {
    let (ended, stop) = spawn_blocked_loop(&[]);
    stop.stop().unwrap();
    let result = ended
        .recv_timeout(LOST_AFTER)
        .expect("the stop did not wake the blocked run");
    result.unwrap();
}

/// Reads its eventfd; the one with `stop` stops the loop and makes
/// `late` ready, which must wait for the next run.
struct Member {
    fd: EventFd,
    calls: u32,
    stop: Option<StopHandle>,
    late: Option<EventFd>,
}

impl MutEventSubscriber for Member {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
    }
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        self.fd.read().unwrap();
        self.calls += 1;
        if let Some(stop) = &self.stop {
            stop.stop().unwrap();
            self.late.as_ref().unwrap().write(1).unwrap();
        }
    }
}

fn member(stop: Option<StopHandle>, late: Option<EventFd>) -> Member {
    Member {
        fd: EventFd::new(EFD_NONBLOCK).unwrap(),
        calls: 0,
        stop,
        late,
    }
}

#[test]
fn a_stop_from_a_handler_finishes_its_batch_and_returns_before_waiting_again() {
    let mut manager = EventManager::<Member>::new().unwrap();
    let stop = manager.stop_handle().unwrap();
    let late = manager.add_subscriber(member(None, None));
    let late_fd = manager
        .subscriber_mut(late)
        .unwrap()
        .fd
        .try_clone()
        .unwrap();
    let stopper = manager.add_subscriber(member(Some(stop), Some(late_fd)));
    let others: Vec<_> = (0..3)
        .map(|_| manager.add_subscriber(member(None, None)))
        .collect();
    // All four ready before the run: one batch.
    for id in others.iter().chain([&stopper]) {
        manager.subscriber_mut(*id).unwrap().fd.write(1).unwrap();
    }

    manager.run_until_stopped().unwrap();

    // Every event of the stopping batch was dispatched, wherever the
    // stopping handler came in it...
    for id in others.iter().chain([&stopper]) {
        assert_eq!(manager.subscriber_mut(*id).unwrap().calls, 1);
    }
    // ...and the loop did not wait again: `late`, made ready by the
    // stopping handler, is left for the next run.
    assert_eq!(manager.subscriber_mut(late).unwrap().calls, 0);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(late).unwrap().calls, 1);
}

static SIGNAL_STOP: OnceLock<StopHandle> = OnceLock::new();

extern "C" fn stop_on_signal(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    if let Some(stop) = SIGNAL_STOP.get() {
        // Async-signal-safe: an atomic load and store, and a write(2).
        let _ = stop.stop();
    }
}

#[test]
fn a_stop_from_a_signal_handler_ends_the_run() {
    register_signal_handler(libc::SIGUSR2, stop_on_signal).unwrap();
    // The loop's thread blocks the signal, so its wait is not interrupted:
    // only the eventfd write of `stop`, made by the handler on another
    // thread, can end it.
    let (ended, stop) = spawn_blocked_loop(&[libc::SIGUSR2]);
    SIGNAL_STOP.set(stop).unwrap();
    let (handled, is_handled) = mpsc::channel::<()>();
    let receiver = thread::spawn(move || {
        // Parked here until the test ends; the handler runs on this thread.
        let _ = is_handled.recv();
    });
    receiver.kill(libc::SIGUSR2).unwrap();
    let result = ended
        .recv_timeout(LOST_AFTER)
        .expect("the stop from the signal handler did not wake the blocked run");
    result.unwrap();
    drop(handled);
    receiver.join().unwrap();
}

#[test]
fn stopping_twice_early_or_after_the_drop_is_defined() {
    let mut manager = EventManager::<Member>::new().unwrap();
    let stop = manager.stop_handle().unwrap();
    let id = manager.add_subscriber(member(None, None));
    manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();

    // Twice before the run: one stop, taken by the next run, which
    // returns before waiting, so the ready fd is not dispatched.
    stop.stop().unwrap();
    stop.clone().stop().unwrap();
    manager.run_until_stopped().unwrap();
    assert_eq!(manager.subscriber_mut(id).unwrap().calls, 0);

    // Taken: `run` and a new stop work as before.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    let second = manager.stop_handle().unwrap();
    second.stop().unwrap();
    // A stop wakes a plain `run`, which leaves it for run_until_stopped.
    assert_eq!(manager.run_with_timeout(-1).unwrap(), 0);
    manager.run_until_stopped().unwrap();

    drop(manager);
    assert!(!stop.is_manager_alive());
    assert_eq!(stop.stop(), Err(Error::ManagerDropped));
    assert_eq!(second.stop(), Err(Error::ManagerDropped));
}

#[test]
fn a_stop_handle_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<StopHandle>();
}

#[test]
fn a_late_wake_up_costs_one_empty_wait_not_a_spinning_loop() {
    let mut manager = EventManager::<Dyn>::new().unwrap();
    let stop = manager.stop_handle().unwrap();
    stop.stop().unwrap();
    manager.run_until_stopped().unwrap();
    // The eventfd was drained when the stop was taken: nothing is ready.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(manager.run_with_duration(Duration::ZERO).unwrap(), 0);
}

/// Calls `call_blocking` on its own endpoint from `process`.
#[cfg(feature = "remote_endpoint")]
struct AsksItself {
    fd: EventFd,
    endpoint: Option<RemoteEndpoint<Box<AsksItself>>>,
    answer: Option<Result<(), Error>>,
    /// Also asks from `init`, and keeps the answer here.
    init_answer: Option<Result<(), Error>>,
}

#[cfg(feature = "remote_endpoint")]
impl AsksItself {
    fn new(endpoint: &RemoteEndpoint<Box<AsksItself>>) -> Box<Self> {
        Box::new(AsksItself {
            fd: EventFd::new(EFD_NONBLOCK).unwrap(),
            endpoint: Some(endpoint.clone()),
            answer: None,
            init_answer: None,
        })
    }

    fn asking_in_init(endpoint: &RemoteEndpoint<Box<AsksItself>>) -> Box<Self> {
        let mut subscriber = Self::new(endpoint);
        subscriber.init_answer = Some(Ok(()));
        subscriber
    }
}

#[cfg(feature = "remote_endpoint")]
impl MutEventSubscriber for AsksItself {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
        if self.init_answer.is_some() {
            let endpoint = self.endpoint.as_ref().unwrap();
            self.init_answer = Some(endpoint.call_blocking(|_ops| Ok(())));
        }
    }
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        self.fd.read().unwrap();
        let endpoint = self.endpoint.as_ref().unwrap();
        self.answer = Some(endpoint.call_blocking(|_ops| Ok(())));
    }
}

#[cfg(feature = "remote_endpoint")]
#[test]
fn call_blocking_from_a_handler_is_refused_instead_of_deadlocking() {
    let mut manager = EventManager::<Box<AsksItself>>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    let id = manager.add_subscriber(AsksItself::new(&endpoint));
    manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(id).unwrap().answer,
        Some(Err(Error::CallFromLoopThread))
    );

    // From a request the loop is serving, the same.
    let (answer, answered) = mpsc::channel();
    let inner = endpoint.clone();
    endpoint
        .fire(move |_ops| {
            answer
                .send(inner.call_blocking(|_ops| Ok::<_, Error>(())))
                .unwrap();
        })
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(answered.recv().unwrap(), Err(Error::CallFromLoopThread));

    // From `init`, when the thread holding the manager adds a subscriber
    // itself or from a request: refused too, and the request's own mark
    // outlives the add.
    let added = manager.add_subscriber(AsksItself::asking_in_init(&endpoint));
    assert_eq!(
        manager.subscriber_mut(added).unwrap().init_answer,
        Some(Err(Error::CallFromLoopThread))
    );
    let (answer, answered) = mpsc::channel();
    let inner = endpoint.clone();
    endpoint
        .fire(move |ops| {
            let added = ops.add_subscriber(AsksItself::asking_in_init(&inner));
            let from_init = ops.subscriber_mut(added).unwrap().init_answer.take();
            let after_the_add = inner.call_blocking(|_ops| Ok::<_, Error>(()));
            answer.send((from_init, after_the_add)).unwrap();
        })
        .unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        answered.recv().unwrap(),
        (
            Some(Err(Error::CallFromLoopThread)),
            Err(Error::CallFromLoopThread)
        )
    );

    // Outside a run, the mark is gone: another thread's call goes through
    // while this thread runs the loop.
    let caller = thread::spawn(move || endpoint.call_blocking(|_ops| Ok::<_, Error>(7)));
    while !caller.is_finished() {
        manager.run_with_timeout(10).unwrap();
    }
    assert_eq!(caller.join().unwrap(), Ok(7));
}

#[cfg(feature = "remote_endpoint")]
#[test]
fn call_blocking_from_a_handler_of_another_managers_loop_still_works() {
    // The check is per manager: a thread running manager A may wait on
    // manager B, which another thread runs.
    let mut other = EventManager::<Dyn>::new().unwrap();
    let other_endpoint = other.remote_endpoint();
    let other_stop = other.stop_handle().unwrap();
    let other_loop = thread::spawn(move || other.run_until_stopped());

    struct AsksOther {
        fd: EventFd,
        endpoint: RemoteEndpoint<Dyn>,
        answer: Option<Result<u32, Error>>,
    }
    impl MutEventSubscriber for AsksOther {
        fn init(&mut self, ops: &mut EventOps) {
            ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
        }
        fn process(&mut self, _events: Events, _ops: &mut EventOps) {
            self.fd.read().unwrap();
            self.answer = Some(self.endpoint.call_blocking(|_ops| Ok(5)));
        }
    }
    let mut manager = EventManager::<AsksOther>::new().unwrap();
    let id = manager.add_subscriber(AsksOther {
        fd: EventFd::new(EFD_NONBLOCK).unwrap(),
        endpoint: other_endpoint,
        answer: None,
    });
    manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().answer, Some(Ok(5)));
    other_stop.stop().unwrap();
    other_loop.join().unwrap().unwrap();
}

#[test]
fn run_with_duration_dispatches_what_is_ready_and_times_out_empty() {
    let mut manager = EventManager::<Member>::new().unwrap();
    let id = manager.add_subscriber(member(None, None));
    assert_eq!(
        manager
            .run_with_duration(Duration::from_micros(100))
            .unwrap(),
        0
    );
    manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
    assert_eq!(
        manager
            .run_with_duration(Duration::from_micros(100))
            .unwrap(),
        1
    );
    assert_eq!(manager.subscriber_mut(id).unwrap().calls, 1);
    // Durations too long for a timespec or for milliseconds are waits
    // without a practical limit, not errors: a ready fd ends them.
    manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
    assert_eq!(manager.run_with_duration(Duration::MAX).unwrap(), 1);
}

#[test]
fn the_epoll_fd_is_exposed_and_readable_when_an_event_is_ready() {
    let mut manager = EventManager::<Member>::new().unwrap();
    let id = manager.add_subscriber(member(None, None));
    let outer = vmm_sys_util::epoll::Epoll::new().unwrap();
    outer
        .ctl(
            vmm_sys_util::epoll::ControlOperation::Add,
            manager.as_raw_fd(),
            vmm_sys_util::epoll::EpollEvent::new(EventSet::IN, 1),
        )
        .unwrap();
    let mut ready = [vmm_sys_util::epoll::EpollEvent::default(); 1];
    assert_eq!(outer.wait(0, &mut ready).unwrap(), 0);
    manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
    assert_eq!(outer.wait(1000, &mut ready).unwrap(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(outer.wait(0, &mut ready).unwrap(), 0);
}
