//! The mark that tells `call_blocking` it is called on the thread inside
//! the manager names that thread, while it is inside, and no other:
//! a subscriber dropped after its `init` panicked still sees it; a run cut
//! short by a signal takes it away; a thread that ended leaves nothing a
//! later thread could be taken for.
#![cfg(feature = "remote_endpoint")]

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, RemoteEndpoint,
    SubscriberOps,
};
use event_manager_tests::{current_thread_id, ready_eventfd, wait_until_blocked_in_epoll};
use vmm_sys_util::eventfd::EventFd;

type Subscriber = Box<dyn MutEventSubscriber + Send>;

/// How long a test waits for a thread that should have finished long
/// before: a guard against a hang (the failure these tests look for), not
/// a measure of speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Returns once thread `tid` is blocked in a futex wait (where a
/// `call_blocking` waits for its answer) or `done` says it finished.
fn wait_until_waiting_or_done(tid: libc::pid_t, done: &dyn Fn() -> bool) {
    let path = format!("/proc/self/task/{tid}/syscall");
    loop {
        if done() {
            return;
        }
        let status = std::fs::read_to_string(&path).unwrap_or_default();
        let number = status.split_whitespace().next().unwrap_or_default();
        if number.parse::<libc::c_long>().ok() == Some(libc::SYS_futex) {
            return;
        }
        thread::yield_now();
    }
}

/// Runs `manager` until `answer` holds something; returns it.
fn serve_until_answered<T>(
    manager: &mut EventManager<Subscriber>,
    answer: &mpsc::Receiver<T>,
) -> T {
    loop {
        if let Ok(value) = answer.try_recv() {
            return value;
        }
        manager.run_with_timeout(10).unwrap();
    }
}

/// Panics in `init`; its `drop` asks the manager for something and keeps
/// the answer.
struct PanicsInInit {
    endpoint: RemoteEndpoint<Subscriber>,
    answer: Arc<Mutex<Option<Result<u32, Error>>>>,
}

impl MutEventSubscriber for PanicsInInit {
    fn init(&mut self, _ops: &mut EventOps) {
        panic!("init fails on purpose");
    }
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
}

impl Drop for PanicsInInit {
    fn drop(&mut self) {
        let answer = self.endpoint.call_blocking(|_ops| Ok::<_, Error>(7));
        *self.answer.lock().unwrap() = Some(answer);
    }
}

#[test]
fn a_subscriber_dropped_after_its_init_panicked_is_refused_at_once() {
    let (done, finished) = mpsc::channel();
    let answer = Arc::new(Mutex::new(None));
    let answer_there = Arc::clone(&answer);
    // On a thread of its own: before the fix, the drop waited forever.
    thread::spawn(move || {
        let mut manager = EventManager::<Subscriber>::new().unwrap();
        let endpoint = manager.remote_endpoint();
        let added = panic::catch_unwind(AssertUnwindSafe(|| {
            manager.add_subscriber(Box::new(PanicsInInit {
                endpoint,
                answer: answer_there,
            }))
        }));
        done.send(added.is_err()).unwrap();
    });
    let panicked = finished
        .recv_timeout(HANG_GUARD)
        .expect("the panicking subscriber's drop hung in call_blocking");
    assert!(panicked, "add_subscriber passes init's panic on");
    assert_eq!(
        *answer.lock().unwrap(),
        Some(Err(Error::CallFromLoopThread))
    );
}

/// A no-op handler, so that a signal interrupts a wait instead of ending
/// the process.
extern "C" fn ignore_signal(_: libc::c_int) {}

#[test]
fn a_run_interrupted_by_a_signal_leaves_no_mark_behind() {
    // SAFETY: the handler does nothing, which is async-signal-safe; the
    // struct is zeroed and then filled, and outlives the call. SIGURG is
    // used by nothing else in this test binary.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGURG, &action, std::ptr::null_mut()),
            0
        );
    }
    let mut manager = EventManager::<Subscriber>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    let (to_main, from_loop_thread) = mpsc::channel();
    let (answer_to_main, answer) = mpsc::channel();
    let loop_thread = thread::spawn(move || {
        to_main.send(Err(current_thread_id())).unwrap();
        // Nothing is registered: only the signal ends this wait.
        let interrupted = manager.run_with_timeout(-1);
        to_main.send(Ok((interrupted, manager))).unwrap();
        // This thread no longer holds the manager: its call is served
        // by whichever thread runs it now.
        let answer = endpoint.call_blocking(|_ops| Ok::<_, Error>(42));
        answer_to_main.send(answer).unwrap();
    });
    let Ok(Err(tid)) = from_loop_thread.recv() else {
        panic!("the loop thread's id first")
    };
    wait_until_blocked_in_epoll(tid);
    // SAFETY: tgkill sends a signal to one thread of this process; no
    // memory is passed.
    let sent = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGURG) };
    assert_eq!(sent, 0, "tgkill: {}", std::io::Error::last_os_error());
    let Ok(Ok((interrupted, mut manager))) = from_loop_thread.recv_timeout(HANG_GUARD) else {
        panic!("the interrupted run did not return")
    };
    assert_eq!(interrupted, Ok(0));

    // The call is checked against the mark before this thread serves
    // anything: it must be waiting (not refused) before the loop runs.
    wait_until_waiting_or_done(tid, &|| loop_thread.is_finished());
    assert_eq!(serve_until_answered(&mut manager, &answer), Ok(42));
    loop_thread.join().unwrap();
}

/// Panics in `process`, once.
struct PanicsOnce {
    fd: EventFd,
    panicked: bool,
}

impl MutEventSubscriber for PanicsOnce {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
    }
    fn process(&mut self, _events: Events, ops: &mut EventOps) {
        if !self.panicked {
            self.panicked = true;
            panic!("process fails on purpose");
        }
        ops.remove(Events::empty(&self.fd)).unwrap();
    }
}

#[test]
fn a_thread_that_never_touched_the_manager_is_not_taken_for_one_that_ended() {
    let mut manager = EventManager::<Subscriber>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    // A thread local's address, the mark before the fix, is handed to the
    // next thread made after one ends: the issue saw it 5 times of 5.
    for round in 0..5 {
        manager.add_subscriber(Box::new(PanicsOnce {
            fd: ready_eventfd(),
            panicked: false,
        }));
        // The loop thread's `process` panics: its mark stays, and it ends.
        manager = thread::spawn(move || {
            let run = panic::catch_unwind(AssertUnwindSafe(|| manager.run_with_timeout(1000)));
            assert!(run.is_err(), "process panicked");
            manager
        })
        .join()
        .unwrap();

        let (tid_to_main, tid) = mpsc::channel();
        let (answer_to_main, answer) = mpsc::channel();
        let asking = endpoint.clone();
        let caller = thread::spawn(move || {
            tid_to_main.send(current_thread_id()).unwrap();
            answer_to_main
                .send(asking.call_blocking(move |_ops| Ok::<_, Error>(round)))
                .unwrap();
        });
        let tid = tid.recv().unwrap();
        wait_until_waiting_or_done(tid, &|| caller.is_finished());
        assert_eq!(
            serve_until_answered(&mut manager, &answer),
            Ok(round),
            "round {round}"
        );
        caller.join().unwrap();
        // The subscriber that panicked was served its event again by
        // those runs, and removed its fd: nothing is left.
        assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    }
}

#[test]
fn after_a_process_panic_the_thread_that_ran_it_is_refused_until_the_next_run() {
    let mut manager = EventManager::<Subscriber>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    manager.add_subscriber(Box::new(PanicsOnce {
        fd: ready_eventfd(),
        panicked: false,
    }));
    let run = panic::catch_unwind(AssertUnwindSafe(|| manager.run_with_timeout(1000)));
    assert!(run.is_err(), "process panicked");
    // Documented: the mark stays until the next run ends, so this thread,
    // which still holds the manager, is refused rather than left waiting.
    assert_eq!(
        endpoint.call_blocking(|_ops| Ok::<_, Error>(1)),
        Err(Error::CallFromLoopThread)
    );
    // The next run serves the event again; the subscriber removes its fd.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
}
