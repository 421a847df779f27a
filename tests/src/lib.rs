//! Helpers shared by the integration tests of the workspace: a subscriber
//! that records what it receives, fd utilities, and the examples run as
//! processes.

use std::os::unix::io::{AsRawFd, FromRawFd, IntoRawFd, RawFd};

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

mod example_process;
pub mod model;

pub use example_process::{example_binary, ExampleProcess, Finished};

// Documentation whose Rust blocks are compiled and run here, as this
// crate's doc tests, because the crate that shows them cannot run them
// itself: the README files are rendered by a forge and by crates.io, which
// would show rustdoc's hidden lines, so their blocks are whole programs;
// and event-manager-derive cannot depend on event-manager, which its
// examples need.

/// The workspace README, which is also event-manager's README on crates.io.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;

/// event-manager-derive's README.
#[cfg(doctest)]
#[doc = include_str!("../../event-manager-derive/README.md")]
pub struct DeriveReadme;

/// The derive macros' reference, shown on both macros' pages.
#[cfg(doctest)]
#[doc = include_str!("../../event-manager-derive/src/reference.md")]
pub struct DeriveReference;

/// Runs `f` with subscriber `id` and its `EventOps`, as a handler would
/// have them: the subscriber is moved out for the call (leaving
/// `placeholder` in its place) and put back after, since the manager
/// lends either the subscriber or its `EventOps`, not both at once. For
/// calling a derived subscriber's generated methods from a test.
pub fn with_ops<T: MutEventSubscriber, R>(
    manager: &mut event_manager::EventManager<T>,
    id: event_manager::SubscriberId,
    placeholder: T,
    f: impl FnOnce(&mut T, &mut EventOps) -> R,
) -> R {
    use event_manager::SubscriberOps;
    let mut subscriber = std::mem::replace(
        manager.subscriber_mut(id).expect("a live subscriber"),
        placeholder,
    );
    let result = f(
        &mut subscriber,
        &mut manager.event_ops(id).expect("a live subscriber"),
    );
    *manager.subscriber_mut(id).expect("a live subscriber") = subscriber;
    result
}

/// What a test wants a [`Probe`] to do when one of its events is dispatched.
pub type Reaction = Box<dyn FnMut(Events, &mut EventOps) + Send>;

/// A subscriber that registers a fixed list of events at `init`, records
/// every `Events` it is handed, and optionally reacts to each.
pub struct Probe {
    registrations: Vec<Events>,
    /// Every event dispatched to this probe, in order.
    pub seen: Vec<Events>,
    /// What `init` returned for each registration, in order.
    pub init_results: Vec<event_manager::Result<()>>,
    reaction: Option<Reaction>,
}

impl Probe {
    /// A probe that registers `registrations` and only records.
    pub fn new(registrations: Vec<Events>) -> Self {
        Probe {
            registrations,
            seen: Vec::new(),
            init_results: Vec::new(),
            reaction: None,
        }
    }

    /// A probe that also calls `reaction` after recording each event.
    pub fn reacting(
        registrations: Vec<Events>,
        reaction: impl FnMut(Events, &mut EventOps) + Send + 'static,
    ) -> Self {
        Probe {
            reaction: Some(Box::new(reaction)),
            ..Probe::new(registrations)
        }
    }

    /// The fds of the recorded events, in order.
    pub fn seen_fds(&self) -> Vec<RawFd> {
        self.seen.iter().map(Events::fd).collect()
    }
}

impl MutEventSubscriber for Probe {
    fn init(&mut self, ops: &mut EventOps) {
        for events in &self.registrations {
            self.init_results.push(ops.add(*events));
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.seen.push(events);
        if let Some(reaction) = self.reaction.as_mut() {
            reaction(events, ops);
        }
    }
}

/// A manager of probes with the default ready-list capacity.
pub fn manager() -> event_manager::EventManager<Probe> {
    event_manager::EventManager::new().expect("create a manager")
}

/// A blocking eventfd with counter 0.
pub fn eventfd() -> EventFd {
    EventFd::new(0).expect("create an eventfd")
}

/// An eventfd that is readable (its counter is 1) and stays so until read.
pub fn ready_eventfd() -> EventFd {
    let fd = eventfd();
    fd.write(1).expect("write an eventfd");
    fd
}

/// Closes the file behind `old` and opens a new non-blocking eventfd under
/// the same fd number, in one step, so no other thread can take the number
/// in between.
pub fn replace_with_new_eventfd(old: impl IntoRawFd) -> EventFd {
    let number = old.into_raw_fd();
    let fresh = EventFd::new(vmm_sys_util::eventfd::EFD_NONBLOCK).expect("create an eventfd");
    // SAFETY: both fds are open and owned here; dup2 atomically closes the
    // file at `number` and makes `number` refer to `fresh`'s file.
    let result = unsafe { libc::dup2(fresh.as_raw_fd(), number) };
    assert_eq!(
        result,
        number,
        "dup2 failed: {}",
        std::io::Error::last_os_error()
    );
    drop(fresh);
    // SAFETY: `number` is open (dup2 succeeded) and nothing else owns it:
    // `old` gave up ownership through `into_raw_fd`.
    unsafe { EventFd::from_raw_fd(number) }
}

/// The numbers of the fds that `process` (`"self"` or a pid) has open.
pub fn fd_numbers(process: &str) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{process}/fd"))
        .unwrap_or_else(|err| panic!("list /proc/{process}/fd: {err}"))
        .map(|entry| {
            let name = entry.expect("read an fd list").file_name();
            name.to_str()
                .and_then(|number| number.parse().ok())
                .expect("an fd number")
        })
        .collect()
}

/// The number of fds this process has open.
pub fn open_fd_count() -> usize {
    fd_numbers("self").len()
}

/// The fd limit (`RLIMIT_NOFILE`) of process `pid`; 0 is this process.
pub fn fd_limit(pid: libc::pid_t) -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit writes one rlimit into the struct we own and reads
    // nothing (null new limit).
    let result = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut limit) };
    assert_eq!(result, 0, "prlimit: {}", std::io::Error::last_os_error());
    limit
}

/// Sets the fd limit (`RLIMIT_NOFILE`) of process `pid`; 0 is this process.
pub fn set_fd_limit(pid: libc::pid_t, limit: libc::rlimit) {
    // SAFETY: prlimit reads one rlimit from the struct we own and writes
    // nothing (null old limit).
    let result = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) };
    assert_eq!(result, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// The kernel's id of the calling thread, for `/proc/self/task/<tid>`.
pub fn current_thread_id() -> libc::pid_t {
    // SAFETY: gettid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::gettid() }
}

/// Returns once thread `tid` of this process is blocked in an epoll wait
/// (the system call `/proc` says it is in), so that only a wake-up written
/// to an fd can end that wait: a test that wakes it after this call fails
/// or hangs if the wake-up is missing, instead of passing because it came
/// before the wait. Nothing can be blocked on for this, so it polls,
/// yielding in between; it panics if the thread is gone.
pub fn wait_until_blocked_in_epoll(tid: libc::pid_t) {
    #[cfg(target_arch = "x86_64")]
    let waits = [
        libc::SYS_epoll_wait,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let waits = [libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2];
    let path = format!("/proc/self/task/{tid}/syscall");
    loop {
        let status =
            std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("read {path}: {err}"));
        let number = status.split_whitespace().next().unwrap_or_default();
        if let Ok(number) = number.parse::<libc::c_long>() {
            if waits.contains(&number) {
                return;
            }
        }
        std::thread::yield_now();
    }
}

/// The data a derived subscriber registers element `index` of its
/// `#[event]` number `position` (from 0) with, as the derive documents it:
/// the top bit set, the position in the next 7 bits, the index below.
pub const fn derived_element_tag(position: u32, index: u32) -> u32 {
    0x8000_0000 | (position << 24) | index
}

/// The data of a derived subscriber's `#[event]` number `position` that
/// watches one fd.
pub const fn derived_tag(position: u32) -> u32 {
    derived_element_tag(position, 0)
}
