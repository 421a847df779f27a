//! The loops measured on the dispatch shapes, each behind `Contender`: one
//! wait with a zero timeout and a call per ready event to a handler that
//! bumps a counter (and, on the drain shape, reads the eventfd).

use std::os::fd::AsFd;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};

use crate::fds::{drain, polling_add_level, SharedFd};

/// One event loop set up on a shape's fds.
pub trait Contender {
    /// Waits once, with a zero timeout, and dispatches what is ready;
    /// returns the number of events handed to handlers.
    fn run_once(&mut self) -> usize;
}

/// Which loops to build, and how their handlers treat an event.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Count the event; the fd stays ready (level-triggered shapes).
    Count,
    /// Read the eventfd, then count.
    Drain,
}

fn handle(handler: Handler, fd: RawFd, counter: &mut u64) {
    if handler == Handler::Drain {
        drain(fd);
    }
    *counter += 1;
}

/// The floor: `epoll_wait` and an index in the epoll data, nothing else.
pub struct Floor {
    epoll: Epoll,
    ready: Vec<EpollEvent>,
    fds: Vec<RawFd>,
    counters: Vec<u64>,
    handler: Handler,
}

impl Floor {
    pub fn new(fds: &[RawFd], handler: Handler) -> Self {
        let epoll = Epoll::new().expect("epoll");
        for (index, &fd) in fds.iter().enumerate() {
            epoll
                .ctl(
                    ControlOperation::Add,
                    fd,
                    EpollEvent::new(EventSet::IN, index as u64),
                )
                .expect("epoll_ctl");
        }
        Floor {
            epoll,
            ready: vec![EpollEvent::default(); 256],
            fds: fds.to_vec(),
            counters: vec![0; fds.len()],
            handler,
        }
    }
}

impl Contender for Floor {
    fn run_once(&mut self) -> usize {
        let count = self.epoll.wait(0, &mut self.ready).expect("epoll_wait");
        for event in &self.ready[..count] {
            let index = event.data() as usize;
            handle(self.handler, self.fds[index], &mut self.counters[index]);
        }
        count
    }
}

/// A subscriber with one fd, for both versions of event-manager.
pub struct Counter {
    fd: RawFd,
    interest: EventSet,
    handler: Handler,
    events: u64,
}

impl Counter {
    pub fn new(fd: RawFd, handler: Handler) -> Self {
        Counter {
            fd,
            interest: EventSet::IN,
            handler,
            events: 0,
        }
    }

    /// Edge-triggered, like mio's registrations.
    pub fn edge(fd: RawFd, handler: Handler) -> Self {
        Counter {
            interest: EventSet::IN | EventSet::EDGE_TRIGGERED,
            ..Counter::new(fd, handler)
        }
    }
}

impl event_manager::MutEventSubscriber for Counter {
    fn init(&mut self, ops: &mut event_manager::EventOps) {
        ops.add(event_manager::Events::new_raw(self.fd, self.interest))
            .expect("register");
    }

    fn process(&mut self, events: event_manager::Events, _ops: &mut event_manager::EventOps) {
        handle(self.handler, events.fd(), &mut self.events);
    }
}

impl event_manager_04::MutEventSubscriber for Counter {
    fn init(&mut self, ops: &mut event_manager_04::EventOps) {
        ops.add(event_manager_04::Events::new_raw(self.fd, self.interest))
            .expect("register");
    }

    fn process(&mut self, events: event_manager_04::Events, _ops: &mut event_manager_04::EventOps) {
        handle(self.handler, events.fd(), &mut self.events);
    }
}

type OursShared = Arc<Mutex<dyn event_manager::MutEventSubscriber + Send>>;
type TheirsShared = Arc<Mutex<dyn event_manager_04::MutEventSubscriber + Send>>;

/// This workspace's event-manager with a subscriber per fd.
fn ours_with<T: event_manager::MutEventSubscriber>(
    fds: &[RawFd],
    subscriber: impl Fn(RawFd) -> T,
) -> event_manager::EventManager<T> {
    use event_manager::SubscriberOps;
    let mut manager = event_manager::EventManager::new().expect("manager");
    for &fd in fds {
        manager.add_subscriber(subscriber(fd));
    }
    manager
}

/// event-manager 0.4.2 with a subscriber per fd.
fn theirs_with<T: event_manager_04::MutEventSubscriber>(
    fds: &[RawFd],
    subscriber: impl Fn(RawFd) -> T,
) -> event_manager_04::EventManager<T> {
    use event_manager_04::SubscriberOps;
    let mut manager = event_manager_04::EventManager::new().expect("manager");
    for &fd in fds {
        manager.add_subscriber(subscriber(fd));
    }
    manager
}

/// This workspace's event-manager with one subscriber type.
pub fn ours(fds: &[RawFd], handler: Handler) -> event_manager::EventManager<Counter> {
    ours_with(fds, |fd| Counter::new(fd, handler))
}

/// This workspace's event-manager with edge-triggered registrations.
pub fn ours_edge(fds: &[RawFd], handler: Handler) -> event_manager::EventManager<Counter> {
    ours_with(fds, |fd| Counter::edge(fd, handler))
}

/// This workspace's event-manager, subscribers behind `Arc<Mutex<dyn ...>>`.
pub fn ours_shared(fds: &[RawFd], handler: Handler) -> event_manager::EventManager<OursShared> {
    ours_with(fds, |fd| -> OursShared {
        Arc::new(Mutex::new(Counter::new(fd, handler)))
    })
}

/// event-manager 0.4.2 with one subscriber type.
pub fn theirs(fds: &[RawFd], handler: Handler) -> event_manager_04::EventManager<Counter> {
    theirs_with(fds, |fd| Counter::new(fd, handler))
}

/// event-manager 0.4.2, subscribers behind `Arc<Mutex<dyn ...>>`.
pub fn theirs_shared(
    fds: &[RawFd],
    handler: Handler,
) -> event_manager_04::EventManager<TheirsShared> {
    theirs_with(fds, |fd| -> TheirsShared {
        Arc::new(Mutex::new(Counter::new(fd, handler)))
    })
}

impl<T: event_manager::MutEventSubscriber> Contender for event_manager::EventManager<T> {
    fn run_once(&mut self) -> usize {
        self.run_with_timeout(0).expect("run")
    }
}

impl<T: event_manager_04::MutEventSubscriber> Contender for event_manager_04::EventManager<T> {
    fn run_once(&mut self) -> usize {
        self.run_with_timeout(0).expect("run")
    }
}

/// polling 3 in level mode, the key being the fd's index.
pub struct Polling {
    poller: polling::Poller,
    events: polling::Events,
    fds: Vec<RawFd>,
    counters: Vec<u64>,
    handler: Handler,
}

impl Polling {
    pub fn new(fds: &[RawFd], handler: Handler) -> Self {
        let poller = polling::Poller::new().expect("poller");
        for (index, &fd) in fds.iter().enumerate() {
            // SAFETY: `Drop for Polling` deletes every fd, and the shape's
            // `FdSet` outlives this loop.
            unsafe { polling_add_level(&poller, fd, index) };
        }
        Polling {
            poller,
            events: polling::Events::with_capacity(std::num::NonZeroUsize::new(256).unwrap()),
            fds: fds.to_vec(),
            counters: vec![0; fds.len()],
            handler,
        }
    }
}

impl Contender for Polling {
    fn run_once(&mut self) -> usize {
        self.events.clear();
        let count = self
            .poller
            .wait(&mut self.events, Some(Duration::ZERO))
            .expect("wait");
        for event in self.events.iter() {
            handle(
                self.handler,
                self.fds[event.key],
                &mut self.counters[event.key],
            );
        }
        count
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        for &fd in &self.fds {
            // SAFETY: the shape's `FdSet` outlives this loop.
            let _ = self.poller.delete(unsafe { SharedFd::new(fd) }.as_fd());
        }
    }
}

/// What calloop's callbacks share.
pub struct CalloopState {
    counters: Vec<u64>,
    dispatched: usize,
}

/// calloop 0.14, one `Generic` source per fd in level mode.
pub struct Calloop {
    event_loop: calloop::EventLoop<'static, CalloopState>,
    state: CalloopState,
}

impl Calloop {
    pub fn new(fds: &[RawFd], handler: Handler) -> Self {
        let event_loop = calloop::EventLoop::try_new().expect("event loop");
        for (index, &fd) in fds.iter().enumerate() {
            // SAFETY: the shape's `FdSet` outlives this loop.
            let source = calloop::generic::Generic::new(
                unsafe { SharedFd::new(fd) },
                calloop::Interest::READ,
                calloop::Mode::Level,
            );
            event_loop
                .handle()
                .insert_source(source, move |_readiness, file, state: &mut CalloopState| {
                    handle(
                        handler,
                        file.as_fd().as_raw_fd(),
                        &mut state.counters[index],
                    );
                    state.dispatched += 1;
                    Ok(calloop::PostAction::Continue)
                })
                .expect("insert source");
        }
        Calloop {
            event_loop,
            state: CalloopState {
                counters: vec![0; fds.len()],
                dispatched: 0,
            },
        }
    }
}

impl Contender for Calloop {
    fn run_once(&mut self) -> usize {
        self.state.dispatched = 0;
        self.event_loop
            .dispatch(Some(Duration::ZERO), &mut self.state)
            .expect("dispatch");
        self.state.dispatched
    }
}

/// mio 1, edge-triggered (its only mode), the token being the fd's index.
pub struct Mio {
    poll: mio::Poll,
    events: mio::Events,
    fds: Vec<RawFd>,
    counters: Vec<u64>,
    handler: Handler,
}

impl Mio {
    pub fn new(fds: &[RawFd], handler: Handler) -> Self {
        let poll = mio::Poll::new().expect("poll");
        for (index, fd) in fds.iter().enumerate() {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(fd),
                    mio::Token(index),
                    mio::Interest::READABLE,
                )
                .expect("register");
        }
        Mio {
            poll,
            events: mio::Events::with_capacity(256),
            fds: fds.to_vec(),
            counters: vec![0; fds.len()],
            handler,
        }
    }
}

impl Contender for Mio {
    fn run_once(&mut self) -> usize {
        self.poll
            .poll(&mut self.events, Some(Duration::ZERO))
            .expect("poll");
        let mut count = 0;
        for event in &self.events {
            let index = event.token().0;
            handle(self.handler, self.fds[index], &mut self.counters[index]);
            count += 1;
        }
        count
    }
}
