//! `Signals` with real signals sent to the whole process: SIGTERM, SIGINT,
//! SIGUSR1 and the rest, as `kill` from outside would send them.
//!
//! A process-directed signal goes to any thread that leaves it unblocked,
//! and the usual action of most of these ends the process. libtest runs
//! tests on threads of its own, which would leave them unblocked; so this
//! target has `harness = false` (tests/Cargo.toml) and its `main` runs the
//! cases one after another on the main thread. The only other threads are
//! the ones a case spawns after blocking its signals. Each case prints its
//! name; a failing one panics, which exits with a non-zero status (or, if
//! a signal is still pending when its `Signals` drops during the unwind,
//! ends the process with that signal: also a failure).

use std::os::unix::fs::MetadataExt;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SignalInfo, Signals,
    StopHandle, SubscriberOps,
};
use vmm_sys_util::signal::{block_signal, get_blocked_signals, unblock_signal, SIGRTMIN};

extern "C" {
    // glibc and musl have it; the libc crate has no binding for Linux.
    fn sigqueue(pid: libc::pid_t, signal: libc::c_int, value: libc::sigval) -> libc::c_int;
}

const CASES: &[(&str, fn())] = &[
    (
        "SIGTERM, SIGINT and SIGUSR1 each arrive with their sender",
        stop_and_user_signals_arrive_with_their_sender,
    ),
    (
        "several SIGUSR1 before a read give one",
        several_sigusr1_coalesce,
    ),
    (
        "SIGUSR1 and SIGUSR2 pending give two",
        two_distinct_signals_give_two,
    ),
    ("real-time signals queue", realtime_signals_queue),
    ("a sigqueue value arrives", a_sigqueue_value_arrives),
    (
        "a signal sent to this thread arrives",
        a_thread_directed_signal_arrives,
    ),
    (
        "threads spawned after new inherit the block",
        threads_spawned_after_new_leave_the_signal_to_the_fd,
    ),
    (
        "drop restores the mask, keeping what was blocked before",
        drop_restores_the_mask,
    ),
    (
        "dropped on a thread spawned after new, it unblocks there only",
        dropped_on_a_thread_spawned_after_new,
    ),
    (
        "a child process inherits the block",
        a_child_process_inherits_the_block,
    ),
    ("bad numbers are InvalidSignal", bad_numbers_are_refused),
    (
        "dispatch to a hand-written subscriber",
        dispatch_to_a_hand_written_subscriber,
    ),
    (
        "dispatch to a derived subscriber",
        dispatch_to_a_derived_subscriber,
    ),
    (
        "a sigaction handler stops the loop through a StopHandle in a static",
        a_sigaction_handler_stops_the_loop,
    ),
];

fn main() {
    let at_start = get_blocked_signals().unwrap();
    for (name, case) in CASES {
        println!("signals: {name} ...");
        case();
        println!("signals: {name} ... ok");
    }
    // Every case dropped its `Signals`: the main thread blocks what it
    // blocked at the start, nothing more.
    assert_eq!(get_blocked_signals().unwrap(), at_start);
    println!("signals: {} cases passed", CASES.len());
}

fn our_uid() -> u32 {
    // /proc/self belongs to the user the process runs as.
    std::fs::metadata("/proc/self").unwrap().uid()
}

fn read_all(signals: &mut Signals) -> Vec<SignalInfo> {
    let mut received = Vec::new();
    while let Some(info) = signals.read().unwrap() {
        received.push(info);
    }
    received
}

fn stop_and_user_signals_arrive_with_their_sender() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
        let mut signals = Signals::new(&[signal]).unwrap();
        // Non-blocking: with nothing pending the read returns at once.
        assert_eq!(signals.read(), Ok(None));

        Signals::send_to_process(signal).unwrap();
        let info = signals.read().unwrap().expect("the signal is pending");
        assert_eq!(info.signal, signal);
        assert_eq!(info.code, libc::SI_USER, "sent with kill");
        assert_eq!(info.sender_pid, std::process::id());
        assert_eq!(info.sender_uid, our_uid());
        assert_eq!((info.value, info.status), (0, 0));
        assert_eq!(signals.read(), Ok(None));
    }
}

fn several_sigusr1_coalesce() {
    let mut signals = Signals::new(&[libc::SIGUSR1]).unwrap();
    for _ in 0..5 {
        Signals::send_to_process(libc::SIGUSR1).unwrap();
    }
    let received = read_all(&mut signals);
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].signal, libc::SIGUSR1);
}

fn two_distinct_signals_give_two() {
    let mut signals = Signals::new(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
    Signals::send_to_process(libc::SIGUSR2).unwrap();
    Signals::send_to_process(libc::SIGUSR1).unwrap();
    Signals::send_to_process(libc::SIGUSR2).unwrap();
    let mut received: Vec<i32> = read_all(&mut signals)
        .iter()
        .map(|info| info.signal)
        .collect();
    received.sort_unstable();
    assert_eq!(received, [libc::SIGUSR1, libc::SIGUSR2]);
}

fn realtime_signals_queue() {
    let signal = SIGRTMIN();
    let mut signals = Signals::new(&[signal]).unwrap();
    for _ in 0..3 {
        Signals::send_to_process(signal).unwrap();
    }
    let received = read_all(&mut signals);
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(received.iter().all(|info| info.signal == signal));
}

fn a_sigqueue_value_arrives() {
    let mut signals = Signals::new(&[libc::SIGUSR1]).unwrap();
    let value = libc::sigval {
        sival_ptr: 42usize as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes plain values (the pointer is a number the
    // kernel carries, never dereferenced) and touches no memory of ours.
    let status = unsafe { sigqueue(libc::getpid(), libc::SIGUSR1, value) };
    assert_eq!(status, 0, "{}", std::io::Error::last_os_error());
    let info = signals.read().unwrap().expect("SIGUSR1 is pending");
    assert_eq!(info.signal, libc::SIGUSR1);
    assert_eq!(info.code, libc::SI_QUEUE);
    assert_eq!(info.sender_pid, std::process::id());
    // The int and the pointer of the union share their first bytes on
    // little-endian machines only.
    if cfg!(target_endian = "little") {
        assert_eq!(info.value, 42);
    }
}

fn a_thread_directed_signal_arrives() {
    let mut signals = Signals::new(&[libc::SIGUSR2]).unwrap();
    // SAFETY: pthread_self is the live calling thread; pthread_kill takes
    // plain values.
    let status = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
    assert_eq!(status, 0);
    let info = signals.read().unwrap().expect("SIGUSR2 is pending");
    assert_eq!(info.signal, libc::SIGUSR2);
    assert_eq!(info.code, libc::SI_TKILL);
    assert_eq!(info.sender_pid, std::process::id());
}

fn threads_spawned_after_new_leave_the_signal_to_the_fd() {
    let mut signals = Signals::new(&[libc::SIGTERM]).unwrap();
    let (release, released) = mpsc::channel::<()>();
    let (started, is_started) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        started
            .send(get_blocked_signals().unwrap().contains(&libc::SIGTERM))
            .unwrap();
        released.recv().unwrap();
    });
    assert!(is_started.recv().unwrap(), "the worker inherited the block");

    // Two threads now, both blocking SIGTERM: it stays pending for the
    // process, and the signalfd gets it.
    Signals::send_to_process(libc::SIGTERM).unwrap();
    assert_eq!(
        signals.read().unwrap().map(|info| info.signal),
        Some(libc::SIGTERM)
    );
    release.send(()).unwrap();
    worker.join().unwrap();
}

fn drop_restores_the_mask() {
    let at_start = get_blocked_signals().unwrap();
    block_signal(libc::SIGUSR2).unwrap();

    let signals = Signals::new(&[libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM]).unwrap();
    let blocked = get_blocked_signals().unwrap();
    for signal in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM] {
        assert!(blocked.contains(&signal), "{signal} in {blocked:?}");
    }
    drop(signals);

    let blocked = get_blocked_signals().unwrap();
    assert!(!blocked.contains(&libc::SIGUSR1), "{blocked:?}");
    assert!(!blocked.contains(&libc::SIGTERM), "{blocked:?}");
    assert!(blocked.contains(&libc::SIGUSR2), "blocked before: stays");

    unblock_signal(libc::SIGUSR2).unwrap();
    assert_eq!(get_blocked_signals().unwrap(), at_start);
}

/// A VMM whose loop runs on a thread of its own: `Signals` made in `main`
/// before that thread starts, moved into it and dropped there.
fn dropped_on_a_thread_spawned_after_new() {
    let at_start = get_blocked_signals().unwrap();
    let signals = Signals::new(&[libc::SIGUSR1]).unwrap();
    let looping = std::thread::spawn(move || {
        let inherited = get_blocked_signals().unwrap().contains(&libc::SIGUSR1);
        drop(signals);
        let after_drop = get_blocked_signals().unwrap().contains(&libc::SIGUSR1);
        (inherited, after_drop)
    });
    assert_eq!(looping.join().unwrap(), (true, false));
    // This thread's mask is its own: the block stays until it lifts it.
    assert!(get_blocked_signals().unwrap().contains(&libc::SIGUSR1));
    unblock_signal(libc::SIGUSR1).unwrap();
    assert_eq!(get_blocked_signals().unwrap(), at_start);
}

/// The documented rule that a child starts with the parent's blocked
/// signals: `std::process::Command` does not reset the mask.
fn a_child_process_inherits_the_block() {
    let signals = Signals::new(&[libc::SIGTERM]).unwrap();
    let status = std::process::Command::new("cat")
        .arg("/proc/self/status")
        .output()
        .unwrap();
    let status = String::from_utf8(status.stdout).unwrap();
    let blocked = status
        .lines()
        .find_map(|line| line.strip_prefix("SigBlk:"))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
        .unwrap();
    // Bit n - 1 stands for signal n.
    assert_ne!(blocked & (1 << (libc::SIGTERM - 1)), 0, "{status}");
    drop(signals);
}

fn bad_numbers_are_refused() {
    let at_start = get_blocked_signals().unwrap();
    for signal in [libc::SIGKILL, libc::SIGSTOP, 0, 65, -1, -libc::SIGTERM] {
        assert_eq!(
            Signals::new(&[signal]).err(),
            Some(Error::InvalidSignal(signal))
        );
        assert_eq!(
            Signals::new(&[libc::SIGTERM, signal]).err(),
            Some(Error::InvalidSignal(signal)),
            "a good signal first changes nothing"
        );
    }
    for signal in [0, 65, -1] {
        assert_eq!(
            Signals::send_to_process(signal),
            Err(Error::InvalidSignal(signal))
        );
    }
    assert_eq!(get_blocked_signals().unwrap(), at_start);
}

/// A VMM's stop handler written by hand.
struct StopHandler {
    signals: Signals,
    received: Vec<i32>,
}

impl MutEventSubscriber for StopHandler {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.signals, EventSet::IN))
            .expect("register the signalfd");
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        while let Some(info) = self.signals.read().unwrap() {
            self.received.push(info.signal);
        }
    }
}

fn dispatch_to_a_hand_written_subscriber() {
    let signals = Signals::new(&[libc::SIGTERM, libc::SIGINT]).unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(StopHandler {
        signals,
        received: Vec::new(),
    });
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "nothing pending");

    Signals::send_to_process(libc::SIGTERM).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(id).unwrap().received,
        [libc::SIGTERM]
    );
    // Read to the end, so the fd is no longer ready.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    let handler = manager.remove_subscriber(id).unwrap();
    drop(handler);
}

/// The same with the derive: `#[event(fd = ...)]` takes any `AsRawFd`.
#[derive(event_manager::MutEventSubscriber)]
#[event(fd = signals)]
struct DerivedStopHandler {
    signals: Signals,
    received: Vec<SignalInfo>,
}

impl DerivedStopHandler {
    fn on_signals(&mut self, _events: Events, _ops: &mut EventOps) -> event_manager::Result<()> {
        while let Some(info) = self.signals.read()? {
            self.received.push(info);
        }
        Ok(())
    }
}

fn dispatch_to_a_derived_subscriber() {
    let signals = Signals::new(&[libc::SIGINT, libc::SIGUSR1]).unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(DerivedStopHandler {
        signals,
        received: Vec::new(),
    });

    Signals::send_to_process(libc::SIGUSR1).unwrap();
    Signals::send_to_process(libc::SIGINT).unwrap();
    // One event: both are read while the fd is ready.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let handler = manager.subscriber_mut(id).unwrap();
    let mut received: Vec<i32> = handler.received.iter().map(|info| info.signal).collect();
    received.sort_unstable();
    assert_eq!(received, [libc::SIGINT, libc::SIGUSR1]);
    assert!(handler
        .received
        .iter()
        .all(|info| info.sender_pid == std::process::id()));
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

/// The handle the SIGTERM handler stops; null outside the case below.
static STOP: AtomicPtr<StopHandle> = AtomicPtr::new(ptr::null_mut());
/// The thread the handler last ran on (0: not yet).
static HANDLED_ON: AtomicI32 = AtomicI32::new(0);

fn this_thread_id() -> i32 {
    // SAFETY: gettid takes nothing and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The handler of StopHandle's "From a signal handler" example, which
/// also notes its thread.
extern "C" fn stop_on_sigterm(_signal: libc::c_int) {
    // SAFETY: this thread's errno, given back as it was.
    let errno = unsafe { *libc::__errno_location() };
    // Noted before the stop: once the loop returns, the test reads it.
    HANDLED_ON.store(this_thread_id(), Ordering::Release);
    let stop = STOP.load(Ordering::Acquire);
    if !stop.is_null() {
        // SAFETY: from Box::into_raw, freed only after the handler is
        // uninstalled.
        let _ = unsafe { &*stop }.stop();
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn set_sigterm_action(handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: `action` is a valid sigaction (no flags, an empty mask); the
    // only handler given is `stop_on_sigterm`, which calls
    // async-signal-safe code only.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGTERM, &action, &mut previous), 0);
        previous.sa_sigaction
    }
}

/// Blocks until the main thread (this test's loop thread) sleeps, which
/// here means it waits in `run_until_stopped`, so that the signal sent
/// next arrives during the wait. If it slept for another reason first,
/// the signal comes before the wait: the stop is kept, and the run
/// returns all the same.
fn wait_until_the_main_thread_sleeps() {
    let stat = format!("/proc/self/task/{}/stat", std::process::id());
    loop {
        let text = std::fs::read_to_string(&stat).unwrap();
        // The state follows the command name, which is in parentheses.
        let state = text[text.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .next();
        if state == Some("S") {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn a_sigaction_handler_stops_the_loop() {
    // A handler that does not stop the loop leaves a run waiting forever:
    // end the process with a failure instead.
    let (done, is_done) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if is_done.recv_timeout(Duration::from_secs(30)).is_err() {
            eprintln!("signals: run_until_stopped still waits after 30 s");
            std::process::exit(1);
        }
    });
    let loop_thread = this_thread_id();
    let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    STOP.store(
        Box::into_raw(Box::new(manager.stop_handle().unwrap())),
        Ordering::Release,
    );
    let previous =
        set_sigterm_action(stop_on_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t);

    // Raised on the loop's thread before the run: the handler runs before
    // `raise` returns, and the stop is kept for the run.
    // SAFETY: raise takes a plain value.
    assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
    assert_eq!(HANDLED_ON.swap(0, Ordering::Acquire), loop_thread);
    manager.run_until_stopped().unwrap();

    // Handled on another thread during the wait: `stop` wakes it.
    let other = std::thread::spawn(|| {
        wait_until_the_main_thread_sleeps();
        // SAFETY: raise takes a plain value.
        assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
        this_thread_id()
    });
    manager.run_until_stopped().unwrap();
    let other = other.join().unwrap();
    assert_eq!(HANDLED_ON.swap(0, Ordering::Acquire), other);

    // Handled on the loop's thread during the wait: the wait is
    // interrupted (EINTR), and the run finds the stop.
    // SAFETY: pthread_self takes nothing.
    let main = unsafe { libc::pthread_self() };
    let sender = std::thread::spawn(move || {
        wait_until_the_main_thread_sleeps();
        // SAFETY: `main` is the main thread, alive until this one is
        // joined; pthread_kill takes plain values.
        assert_eq!(unsafe { libc::pthread_kill(main, libc::SIGTERM) }, 0);
    });
    manager.run_until_stopped().unwrap();
    sender.join().unwrap();
    assert_eq!(HANDLED_ON.swap(0, Ordering::Acquire), loop_thread);

    // Sent to the process, as `kill` from outside: on whichever thread.
    let sender = std::thread::spawn(|| {
        wait_until_the_main_thread_sleeps();
        Signals::send_to_process(libc::SIGTERM).unwrap();
    });
    manager.run_until_stopped().unwrap();
    sender.join().unwrap();
    assert_ne!(HANDLED_ON.swap(0, Ordering::Acquire), 0);

    // Each signal gave one stop, and each was taken: nothing is left.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    assert_eq!(
        set_sigterm_action(previous),
        stop_on_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t
    );
    // SAFETY: from Box::into_raw above; the handler that read it is gone.
    drop(unsafe { Box::from_raw(STOP.swap(ptr::null_mut(), Ordering::AcqRel)) });
    done.send(()).unwrap();
    watchdog.join().unwrap();
}
