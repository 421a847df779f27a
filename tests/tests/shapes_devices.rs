//! Four subscriber shapes that virtual-machine monitors write, each twice:
//! once with `#[derive(MutEventSubscriber)]` (in `mod derived_<shape>`) and
//! once by hand, implementing `MutEventSubscriber` with data tags of its
//! own (in `mod by_hand_<shape>`). Both versions have the same fields and
//! the same handlers, and one generic test body per behaviour runs against
//! both, with real eventfds, timerfds and sockets and a real `EventManager`.
//!
//! The shapes:
//! 1. an activated device (virtio-net-like): an activation eventfd until
//!    activation, then two queues, an edge-triggered tap and two rate
//!    limiter timers; one check drops every event set but `IN`;
//! 2. a block-like device whose completion eventfd exists only for one
//!    engine;
//! 3. a vsock-like device generic over its backend, whose fd and interest
//!    come from the backend, and which signals its used queues after every
//!    event;
//! 4. a balloon-like device whose queues and stats timer depend on the
//!    features it was given.
//!
//! The derived versions write no data tag, no `fallback`, and no
//! `ops.add`/`ops.remove`/`ops.modify` for an fd they hold.
//!
//! Registration and dispatch code is marked, in both versions, with
//! `// [rd]` at the end of a line or between `// [rd begin]` and
//! `// [rd end]`, so that its lines can be counted per version:
//! attributes, data tags, the `MutEventSubscriber` impl, registration
//! calls, the hooks' signatures and the event-set filter. Handler
//! signatures and handler bodies (reading an eventfd, recording) are not
//! marked: both versions have them.

use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use event_manager_tests::eventfd;
use vmm_sys_util::eventfd::EventFd;
use vmm_sys_util::timerfd::TimerFd;

// ---------------------------------------------------------------------
// Helpers shared by every shape.
// ---------------------------------------------------------------------

/// Runs `manager` until `events` events have been dispatched; each run
/// waits up to a second for the next one, and must get at least one.
fn run_until<T: MutEventSubscriber>(manager: &mut EventManager<T>, events: usize) {
    let mut dispatched = 0;
    while dispatched < events {
        let now = manager.run_with_timeout(1000).unwrap();
        assert!(now > 0, "{dispatched} of {events} events came");
        dispatched += now;
    }
    assert_eq!(dispatched, events, "more events than expected");
}

/// Blocks until `fd` is readable (at most a second), without reading it.
fn wait_readable(fd: &impl AsRawFd) {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `poll` is one valid pollfd that lives across the call.
    let ready = unsafe { libc::poll(&mut poll, 1, 1000) };
    assert_eq!(ready, 1, "the fd did not become readable");
}

/// Arms `timer` to expire at once and waits until it has expired.
fn expire(timer: &mut TimerFd) {
    timer.reset(Duration::from_millis(1), None).unwrap();
    wait_readable(timer);
}

/// Asserts that subscriber `id` does not watch `fd`: removing it finds no
/// registration (and so changes nothing).
fn assert_not_watched<T: MutEventSubscriber>(
    manager: &mut EventManager<T>,
    id: event_manager::SubscriberId,
    fd: RawFd,
) {
    let mut ops = manager.event_ops(id).unwrap();
    assert_eq!(
        ops.remove(Events::empty_raw(fd)),
        Err(event_manager::Error::FdNotRegistered)
    );
}

/// Asserts that subscriber `id` watches `fd`: it registered it and has not
/// paused it.
fn assert_watched<T: MutEventSubscriber>(
    manager: &mut EventManager<T>,
    id: event_manager::SubscriberId,
    fd: RawFd,
) {
    let ops = manager.event_ops(id).unwrap();
    assert_eq!(ops.is_paused(&fd), Ok(false));
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut items = items.to_vec();
    items.sort();
    items
}

// ---------------------------------------------------------------------
// Shape 1: an activated device (virtio-net-like).
// ---------------------------------------------------------------------

/// A rate limiter: its timer is the fd the device watches.
pub struct RateLimiter {
    pub timer: TimerFd,
}

/// What a net device handled, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NetEvent {
    Activated,
    /// A queue kick, with the queue's index (0 RX, 1 TX).
    Queue(usize),
    /// Bytes read from the tap in one go.
    Tap(usize),
    RxLimiter,
    TxLimiter,
}

/// How many bytes the tap handler reads per event: one frame's worth.
const FRAME: usize = 64;

/// Net with the derive: `when` picks what `init` registers, the
/// activation handler swaps the sources with one `sync_registrations`,
/// and the `before` hook drops every event set but `IN`.
mod derived_net {
    use super::*;

    // [rd begin]
    #[derive(MutEventSubscriber)]
    #[subscriber(before = only_input)]
    #[event(fd = activate_evt, when = !self.activated)]
    #[event(fd = queue_evts[..], handler = on_queue, when = self.activated)]
    #[event(fd = tap, set = "IN | EDGE_TRIGGERED", when = self.activated)]
    #[event(fd = rx_limiter.timer, handler = on_rx_limiter, name = rx_timer, when = self.activated)]
    #[event(fd = tx_limiter.timer, handler = on_tx_limiter, name = tx_timer, when = self.activated)]
    // [rd end]
    pub struct Net {
        pub activate_evt: EventFd,
        pub activated: bool,
        /// RX at index 0, TX at index 1.
        pub queue_evts: Vec<EventFd>,
        pub tap: UnixStream,
        pub rx_limiter: RateLimiter,
        pub tx_limiter: RateLimiter,
        pub log: Vec<NetEvent>,
        /// Events the `IN` check dropped.
        pub ignored: u32,
    }

    impl Net {
        // [rd begin]
        fn only_input(&mut self, events: Events, _ops: &mut EventOps) -> bool {
            let input = events.event_set() == EventSet::IN;
            // [rd end]
            self.ignored += u32::from(!input);
            input
        }

        fn on_activate_evt(&mut self, ops: &mut EventOps) {
            self.activate_evt.read().unwrap();
            self.activated = true;
            // Detaches the activation eventfd, attaches every other source.
            self.sync_registrations(ops).unwrap(); // [rd]
            self.log.push(NetEvent::Activated);
        }

        fn on_queue(&mut self, index: usize) {
            self.queue_evts[index].read().unwrap();
            self.log.push(NetEvent::Queue(index));
        }

        fn on_tap(&mut self) {
            let read = self.tap.read(&mut [0; FRAME]).unwrap();
            self.log.push(NetEvent::Tap(read));
        }

        fn on_rx_limiter(&mut self) {
            self.rx_limiter.timer.wait().unwrap();
            self.log.push(NetEvent::RxLimiter);
        }

        fn on_tx_limiter(&mut self) {
            self.tx_limiter.timer.wait().unwrap();
            self.log.push(NetEvent::TxLimiter);
        }
    }
}

/// Net by hand: a data tag per fd, `init` and the activation handler
/// register the runtime fds through one helper, and `process` filters the
/// event set and matches on the tag.
mod by_hand_net {
    use super::*;

    // [rd begin]
    const ACTIVATE: u32 = 0;
    const RX_QUEUE: u32 = 1;
    const TX_QUEUE: u32 = 2;
    const TAP: u32 = 3;
    const RX_TIMER: u32 = 4;
    const TX_TIMER: u32 = 5;
    // [rd end]

    pub struct Net {
        pub activate_evt: EventFd,
        pub activated: bool,
        /// RX at index 0, TX at index 1.
        pub queue_evts: Vec<EventFd>,
        pub tap: UnixStream,
        pub rx_limiter: RateLimiter,
        pub tx_limiter: RateLimiter,
        pub log: Vec<NetEvent>,
        /// Events the `IN` check dropped.
        pub ignored: u32,
    }

    impl Net {
        // [rd begin]
        fn register_runtime_fds(&self, ops: &mut EventOps) -> event_manager::Result<()> {
            for (index, queue) in self.queue_evts.iter().enumerate() {
                let data = RX_QUEUE + index as u32;
                ops.add(Events::with_data(queue, data, EventSet::IN))?;
            }
            let tap_set = EventSet::IN | EventSet::EDGE_TRIGGERED;
            ops.add(Events::with_data(&self.tap, TAP, tap_set))?;
            let timers = [
                (&self.rx_limiter.timer, RX_TIMER),
                (&self.tx_limiter.timer, TX_TIMER),
            ];
            for (timer, data) in timers {
                ops.add(Events::with_data(timer, data, EventSet::IN))?;
            }
            Ok(())
        }
        // [rd end]

        fn on_activate_evt(&mut self, ops: &mut EventOps) {
            self.activate_evt.read().unwrap();
            // [rd begin]
            ops.remove(Events::empty(&self.activate_evt)).unwrap();
            self.register_runtime_fds(ops).unwrap();
            // [rd end]
            self.activated = true;
            self.log.push(NetEvent::Activated);
        }

        fn on_queue(&mut self, index: usize) {
            self.queue_evts[index].read().unwrap();
            self.log.push(NetEvent::Queue(index));
        }

        fn on_tap(&mut self) {
            let read = self.tap.read(&mut [0; FRAME]).unwrap();
            self.log.push(NetEvent::Tap(read));
        }

        fn on_rx_limiter(&mut self) {
            self.rx_limiter.timer.wait().unwrap();
            self.log.push(NetEvent::RxLimiter);
        }

        fn on_tx_limiter(&mut self) {
            self.tx_limiter.timer.wait().unwrap();
            self.log.push(NetEvent::TxLimiter);
        }
    }

    // [rd begin]
    impl MutEventSubscriber for Net {
        fn init(&mut self, ops: &mut EventOps) {
            if self.activated {
                self.register_runtime_fds(ops)
                    .expect("register the runtime fds");
            } else {
                let activate = Events::with_data(&self.activate_evt, ACTIVATE, EventSet::IN);
                ops.add(activate).expect("register the activation eventfd");
            }
        }

        fn process(&mut self, events: Events, ops: &mut EventOps) {
            if events.event_set() != EventSet::IN {
                self.ignored += 1;
                return;
            }
            match events.data() {
                ACTIVATE => self.on_activate_evt(ops),
                RX_QUEUE..=TX_QUEUE => self.on_queue((events.data() - RX_QUEUE) as usize),
                TAP => self.on_tap(),
                RX_TIMER => self.on_rx_limiter(),
                TX_TIMER => self.on_tx_limiter(),
                _ => {}
            }
        }
    }
    // [rd end]
}

/// What the net tests need of either version.
trait NetShape: MutEventSubscriber + Sized {
    /// A device with a fresh activation eventfd, queues and timers;
    /// `activated` as if restored from a snapshot of an active device.
    fn new(activated: bool, tap: UnixStream) -> Self;
    fn activate_evt(&self) -> &EventFd;
    fn queue_evts(&self) -> &[EventFd];
    fn timers(&mut self) -> [&mut TimerFd; 2];
    fn log(&self) -> &[NetEvent];
    fn ignored(&self) -> u32;
}

/// Both versions have the same fields, so one body gives both the access.
macro_rules! net_shape {
    ($module:ident) => {
        impl NetShape for $module::Net {
            fn new(activated: bool, tap: UnixStream) -> Self {
                Self {
                    activate_evt: eventfd(),
                    activated,
                    queue_evts: vec![eventfd(), eventfd()],
                    tap,
                    rx_limiter: RateLimiter {
                        timer: TimerFd::new().unwrap(),
                    },
                    tx_limiter: RateLimiter {
                        timer: TimerFd::new().unwrap(),
                    },
                    log: Vec::new(),
                    ignored: 0,
                }
            }
            fn activate_evt(&self) -> &EventFd {
                &self.activate_evt
            }
            fn queue_evts(&self) -> &[EventFd] {
                &self.queue_evts
            }
            fn timers(&mut self) -> [&mut TimerFd; 2] {
                [&mut self.rx_limiter.timer, &mut self.tx_limiter.timer]
            }
            fn log(&self) -> &[NetEvent] {
                &self.log
            }
            fn ignored(&self) -> u32 {
                self.ignored
            }
        }
    };
}

net_shape!(derived_net);
net_shape!(by_hand_net);

/// Makes every runtime fd ready: both queues kicked, a frame on the tap,
/// both timers expired.
fn make_runtime_fds_ready(net: &mut impl NetShape, peer: &mut UnixStream) {
    for queue in net.queue_evts() {
        queue.write(1).unwrap();
    }
    peer.write_all(b"frame").unwrap();
    for timer in net.timers() {
        expire(timer);
    }
}

fn net_activation<D: NetShape>() {
    let (tap, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::<D>::new().unwrap();
    let id = manager.add_subscriber(D::new(false, tap));
    make_runtime_fds_ready(manager.subscriber_mut(id).unwrap(), &mut peer);

    // Before activation only the activation eventfd is watched.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let net = manager.subscriber_mut(id).unwrap();
    net.activate_evt().write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(id).unwrap().log(),
        [NetEvent::Activated]
    );

    // The five runtime fds were attached, and were ready all along (the
    // edge-triggered tap too: a new registration reports what is ready).
    run_until(&mut manager, 5);
    let net = manager.subscriber_mut(id).unwrap();
    assert_eq!(
        sorted(net.log()),
        [
            NetEvent::Activated,
            NetEvent::Queue(0),
            NetEvent::Queue(1),
            NetEvent::Tap(5),
            NetEvent::RxLimiter,
            NetEvent::TxLimiter,
        ]
    );

    // One handler for both queues, told which one.
    net.queue_evts()[1].write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let net = manager.subscriber_mut(id).unwrap();
    assert_eq!(net.log().last(), Some(&NetEvent::Queue(1)));
    net.queue_evts()[0].write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let net = manager.subscriber_mut(id).unwrap();
    assert_eq!(net.log().last(), Some(&NetEvent::Queue(0)));

    // The tap is edge-triggered: a handler that reads one frame of two
    // is not called again for the second until more data comes.
    peer.write_all(&[0; 2 * FRAME]).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let net = manager.subscriber_mut(id).unwrap();
    assert_eq!(net.log().last(), Some(&NetEvent::Tap(FRAME)));
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // The activation eventfd is no longer watched.
    let net = manager.subscriber_mut(id).unwrap();
    net.activate_evt().write(1).unwrap();
    let activate_evt = net.activate_evt().as_raw_fd();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_not_watched(&mut manager, id, activate_evt);

    // The peer goes away: the tap reports `IN | READ_HANG_UP | HANG_UP`,
    // which the one check drops before any handler runs.
    let logged = manager.subscriber_mut(id).unwrap().log().len();
    drop(peer);
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let net = manager.subscriber_mut(id).unwrap();
    assert_eq!(net.ignored(), 1);
    assert_eq!(net.log().len(), logged, "no handler ran");
}

fn net_restored_active<D: NetShape>() {
    let (tap, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::<D>::new().unwrap();
    let id = manager.add_subscriber(D::new(true, tap));
    let net = manager.subscriber_mut(id).unwrap();
    make_runtime_fds_ready(net, &mut peer);
    net.activate_evt().write(1).unwrap();
    let activate_evt = net.activate_evt().as_raw_fd();

    // The runtime fds are watched from `init`; the activation eventfd is
    // not, though it is ready.
    run_until(&mut manager, 5);
    assert_eq!(
        sorted(manager.subscriber_mut(id).unwrap().log()),
        [
            NetEvent::Queue(0),
            NetEvent::Queue(1),
            NetEvent::Tap(5),
            NetEvent::RxLimiter,
            NetEvent::TxLimiter,
        ]
    );
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_not_watched(&mut manager, id, activate_evt);
}

#[test]
fn net_derived_watches_its_runtime_fds_after_activation() {
    net_activation::<derived_net::Net>();
}

#[test]
fn net_by_hand_watches_its_runtime_fds_after_activation() {
    net_activation::<by_hand_net::Net>();
}

#[test]
fn net_derived_restored_active_watches_its_runtime_fds_from_init() {
    net_restored_active::<derived_net::Net>();
}

#[test]
fn net_by_hand_restored_active_watches_its_runtime_fds_from_init() {
    net_restored_active::<by_hand_net::Net>();
}

// ---------------------------------------------------------------------
// Shape 2: an optional completion fd (block-like).
// ---------------------------------------------------------------------

/// How a block device performs its requests; only the asynchronous engine
/// has a completion eventfd.
pub enum Engine {
    Sync,
    Async(EventFd),
}

/// What a block device handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BlockEvent {
    Queue(usize),
    Completion,
}

/// Block with the derive: the queue array element by element, and the
/// completion eventfd from a method, registered only when it is `Some`.
mod derived_block {
    use super::*;

    // [rd begin]
    #[derive(MutEventSubscriber)]
    #[event(fd = queue_evts[..], handler = on_queue)]
    #[event(fd = self.completion_evt(), handler = on_completion)]
    // [rd end]
    pub struct Block {
        pub queue_evts: [EventFd; 1],
        pub engine: Engine,
        pub log: Vec<BlockEvent>,
    }

    impl Block {
        pub fn completion_evt(&self) -> Option<&EventFd> {
            match &self.engine {
                Engine::Sync => None,
                Engine::Async(completion) => Some(completion),
            }
        }

        fn on_queue(&mut self, index: usize) {
            self.queue_evts[index].read().unwrap();
            self.log.push(BlockEvent::Queue(index));
        }

        fn on_completion(&mut self) {
            self.completion_evt().unwrap().read().unwrap();
            self.log.push(BlockEvent::Completion);
        }
    }
}

/// Block by hand: two tags, and an `if let` for the completion eventfd.
mod by_hand_block {
    use super::*;

    // [rd begin]
    const QUEUE: u32 = 0;
    const COMPLETION: u32 = 1;
    // [rd end]

    pub struct Block {
        pub queue_evts: [EventFd; 1],
        pub engine: Engine,
        pub log: Vec<BlockEvent>,
    }

    impl Block {
        pub fn completion_evt(&self) -> Option<&EventFd> {
            match &self.engine {
                Engine::Sync => None,
                Engine::Async(completion) => Some(completion),
            }
        }

        fn on_queue(&mut self, index: usize) {
            self.queue_evts[index].read().unwrap();
            self.log.push(BlockEvent::Queue(index));
        }

        fn on_completion(&mut self) {
            self.completion_evt().unwrap().read().unwrap();
            self.log.push(BlockEvent::Completion);
        }
    }

    // [rd begin]
    impl MutEventSubscriber for Block {
        fn init(&mut self, ops: &mut EventOps) {
            let queue = Events::with_data(&self.queue_evts[0], QUEUE, EventSet::IN);
            ops.add(queue).expect("register the queue");
            if let Some(completion) = self.completion_evt() {
                let completion = Events::with_data(completion, COMPLETION, EventSet::IN);
                ops.add(completion).expect("register the completion");
            }
        }

        fn process(&mut self, events: Events, _ops: &mut EventOps) {
            match events.data() {
                QUEUE => self.on_queue(0),
                COMPLETION => self.on_completion(),
                _ => {}
            }
        }
    }
    // [rd end]
}

/// What the block tests need of either version.
trait BlockShape: MutEventSubscriber + Sized {
    fn new(engine: Engine) -> Self;
    fn queue_evt(&self) -> &EventFd;
    fn completion(&self) -> Option<&EventFd>;
    fn log(&self) -> &[BlockEvent];
}

macro_rules! block_shape {
    ($module:ident) => {
        impl BlockShape for $module::Block {
            fn new(engine: Engine) -> Self {
                Self {
                    queue_evts: [eventfd()],
                    engine,
                    log: Vec::new(),
                }
            }
            fn queue_evt(&self) -> &EventFd {
                &self.queue_evts[0]
            }
            fn completion(&self) -> Option<&EventFd> {
                self.completion_evt()
            }
            fn log(&self) -> &[BlockEvent] {
                &self.log
            }
        }
    };
}

block_shape!(derived_block);
block_shape!(by_hand_block);

fn block_sync<D: BlockShape>() {
    let mut manager = EventManager::<D>::new().unwrap();
    let id = manager.add_subscriber(D::new(Engine::Sync));
    let block = manager.subscriber_mut(id).unwrap();
    assert!(block.completion().is_none());
    block.queue_evt().write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let block = manager.subscriber_mut(id).unwrap();
    assert_eq!(block.log(), [BlockEvent::Queue(0)]);
    let queue = block.queue_evt().as_raw_fd();
    assert_watched(&mut manager, id, queue);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

fn block_async<D: BlockShape>() {
    let mut manager = EventManager::<D>::new().unwrap();
    let id = manager.add_subscriber(D::new(Engine::Async(eventfd())));
    let block = manager.subscriber_mut(id).unwrap();
    block.completion().unwrap().write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let block = manager.subscriber_mut(id).unwrap();
    assert_eq!(block.log(), [BlockEvent::Completion]);

    block.queue_evt().write(1).unwrap();
    block.completion().unwrap().write(1).unwrap();
    run_until(&mut manager, 2);
    assert_eq!(
        sorted(manager.subscriber_mut(id).unwrap().log()),
        [
            BlockEvent::Queue(0),
            BlockEvent::Completion,
            BlockEvent::Completion
        ]
    );
}

#[test]
fn block_derived_sync_engine_watches_its_queue_only() {
    block_sync::<derived_block::Block>();
}

#[test]
fn block_by_hand_sync_engine_watches_its_queue_only() {
    block_sync::<by_hand_block::Block>();
}

#[test]
fn block_derived_async_engine_watches_its_completion_eventfd() {
    block_async::<derived_block::Block>();
}

#[test]
fn block_by_hand_async_engine_watches_its_completion_eventfd() {
    block_async::<by_hand_block::Block>();
}

// ---------------------------------------------------------------------
// Shape 3: a generic backend (vsock-like).
// ---------------------------------------------------------------------

/// What a vsock device needs from its backend. The device struct does not
/// name this bound; only its subscriber impl does.
pub trait Backend {
    /// The fd the device watches for the backend.
    fn fd(&self) -> RawFd;
    /// What the device watches it for.
    fn interest(&self) -> EventSet;
    /// Handles an event of the backend's fd.
    fn notify(&mut self, events: EventSet);
}

/// A backend that waits for the host's data.
pub struct Reader {
    pub stream: UnixStream,
    pub received: Vec<u8>,
}

impl Backend for Reader {
    fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
    fn interest(&self) -> EventSet {
        EventSet::IN
    }
    fn notify(&mut self, _events: EventSet) {
        let mut buffer = [0; 64];
        let read = self.stream.read(&mut buffer).unwrap();
        self.received.extend_from_slice(&buffer[..read]);
    }
}

/// A backend that sends the host a greeting once it can write.
pub struct Writer {
    pub stream: UnixStream,
}

impl Backend for Writer {
    fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
    fn interest(&self) -> EventSet {
        EventSet::OUT | EventSet::EDGE_TRIGGERED
    }
    fn notify(&mut self, _events: EventSet) {
        self.stream.write_all(b"hello").unwrap();
    }
}

/// What a vsock device handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VsockEvent {
    /// A queue kick: 0 RX, 1 TX, 2 event queue.
    Queue(usize),
    /// The backend's fd, with the event set it reported.
    Backend(EventSet),
}

/// Vsock with the derive: the backend's fd and interest come from methods
/// of `B`, the bound is on the derive only, and `after` signals the used
/// queues once per event.
mod derived_vsock {
    use super::*;

    // [rd begin]
    #[derive(MutEventSubscriber)]
    #[subscriber(after = signal_used_queues, bound = "B: Backend")]
    #[event(fd = queue_evts[..], handler = on_queue)]
    #[event(fd = backend.fd(), set = self.backend.interest(), handler = on_backend)]
    // [rd end]
    pub struct Vsock<B> {
        pub queue_evts: Vec<EventFd>,
        pub backend: B,
        pub log: Vec<VsockEvent>,
        /// How many times the used queues were signalled.
        pub interrupts: u32,
    }

    impl<B: Backend> Vsock<B> {
        // [rd begin]
        fn signal_used_queues(&mut self, _ops: &mut EventOps) {
            // [rd end]
            self.interrupts += 1;
        }

        fn on_queue(&mut self, index: usize) {
            self.queue_evts[index].read().unwrap();
            self.log.push(VsockEvent::Queue(index));
        }

        fn on_backend(&mut self, events: Events) {
            self.backend.notify(events.event_set());
            self.log.push(VsockEvent::Backend(events.event_set()));
        }
    }
}

/// Vsock by hand: the backend's tag first, the queues' tags after it, and
/// the used queues signalled at the end of `process`.
mod by_hand_vsock {
    use super::*;

    // [rd begin]
    const BACKEND: u32 = 0;
    const FIRST_QUEUE: u32 = 1;
    // [rd end]

    pub struct Vsock<B> {
        pub queue_evts: Vec<EventFd>,
        pub backend: B,
        pub log: Vec<VsockEvent>,
        /// How many times the used queues were signalled.
        pub interrupts: u32,
    }

    impl<B: Backend> Vsock<B> {
        fn signal_used_queues(&mut self) {
            self.interrupts += 1;
        }

        fn on_queue(&mut self, index: usize) {
            self.queue_evts[index].read().unwrap();
            self.log.push(VsockEvent::Queue(index));
        }

        fn on_backend(&mut self, events: Events) {
            self.backend.notify(events.event_set());
            self.log.push(VsockEvent::Backend(events.event_set()));
        }
    }

    // [rd begin]
    impl<B: Backend> MutEventSubscriber for Vsock<B> {
        fn init(&mut self, ops: &mut EventOps) {
            for (index, queue) in self.queue_evts.iter().enumerate() {
                let data = FIRST_QUEUE + index as u32;
                let queue = Events::with_data(queue, data, EventSet::IN);
                ops.add(queue).expect("register a queue");
            }
            let backend =
                Events::with_data_raw(self.backend.fd(), BACKEND, self.backend.interest());
            ops.add(backend).expect("register the backend");
        }

        fn process(&mut self, events: Events, _ops: &mut EventOps) {
            match events.data() {
                BACKEND => self.on_backend(events),
                data => self.on_queue((data - FIRST_QUEUE) as usize),
            }
            self.signal_used_queues();
        }
    }
    // [rd end]
}

/// What the vsock tests need of either version.
trait VsockShape<B>: MutEventSubscriber + Sized {
    fn new(backend: B) -> Self;
    fn queue_evts(&self) -> &[EventFd];
    fn backend(&self) -> &B;
    fn log(&self) -> &[VsockEvent];
    fn interrupts(&self) -> u32;
}

macro_rules! vsock_shape {
    ($module:ident) => {
        impl<B: Backend> VsockShape<B> for $module::Vsock<B> {
            fn new(backend: B) -> Self {
                Self {
                    queue_evts: vec![eventfd(), eventfd(), eventfd()],
                    backend,
                    log: Vec::new(),
                    interrupts: 0,
                }
            }
            fn queue_evts(&self) -> &[EventFd] {
                &self.queue_evts
            }
            fn backend(&self) -> &B {
                &self.backend
            }
            fn log(&self) -> &[VsockEvent] {
                &self.log
            }
            fn interrupts(&self) -> u32 {
                self.interrupts
            }
        }
    };
}

vsock_shape!(derived_vsock);
vsock_shape!(by_hand_vsock);

/// Kicks each queue, the TX queue first; each reaches the queue handler
/// with its index and is followed by a signal of the used queues.
fn kick_every_queue<B, D: VsockShape<B>>(
    manager: &mut EventManager<D>,
    id: event_manager::SubscriberId,
) {
    for index in [1, 0, 2] {
        let interrupts = manager.subscriber_mut(id).unwrap().interrupts();
        manager.subscriber_mut(id).unwrap().queue_evts()[index]
            .write(1)
            .unwrap();
        assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
        let vsock = manager.subscriber_mut(id).unwrap();
        assert_eq!(vsock.log().last(), Some(&VsockEvent::Queue(index)));
        assert_eq!(vsock.interrupts(), interrupts + 1);
    }
}

fn vsock_reader<D: VsockShape<Reader>>() {
    let (stream, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::<D>::new().unwrap();
    let backend = Reader {
        stream,
        received: Vec::new(),
    };
    let id = manager.add_subscriber(D::new(backend));

    // Watched for `IN`: nothing until the host sends.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    peer.write_all(b"ping").unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let vsock = manager.subscriber_mut(id).unwrap();
    assert_eq!(vsock.log(), [VsockEvent::Backend(EventSet::IN)]);
    assert_eq!(vsock.backend().received, b"ping");
    assert_eq!(vsock.interrupts(), 1);

    kick_every_queue(&mut manager, id);
    assert_eq!(manager.subscriber_mut(id).unwrap().interrupts(), 4);
}

fn vsock_writer<D: VsockShape<Writer>>() {
    let (stream, mut peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::<D>::new().unwrap();
    let id = manager.add_subscriber(D::new(Writer { stream }));

    // Watched for `OUT | EDGE_TRIGGERED`: writable at once, and once only.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let vsock = manager.subscriber_mut(id).unwrap();
    assert_eq!(vsock.log(), [VsockEvent::Backend(EventSet::OUT)]);
    assert_eq!(vsock.interrupts(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    // Data from the host is not what this backend watches for.
    peer.write_all(b"ping").unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    kick_every_queue(&mut manager, id);
    assert_eq!(manager.subscriber_mut(id).unwrap().interrupts(), 4);

    // (Read last: the host draining the socket is a new `OUT` edge.)
    let mut greeting = [0; 5];
    peer.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"hello");
}

#[test]
fn vsock_derived_reader_backend_is_watched_for_input() {
    vsock_reader::<derived_vsock::Vsock<Reader>>();
}

#[test]
fn vsock_by_hand_reader_backend_is_watched_for_input() {
    vsock_reader::<by_hand_vsock::Vsock<Reader>>();
}

#[test]
fn vsock_derived_writer_backend_is_watched_for_output() {
    vsock_writer::<derived_vsock::Vsock<Writer>>();
}

#[test]
fn vsock_by_hand_writer_backend_is_watched_for_output() {
    vsock_writer::<by_hand_vsock::Vsock<Writer>>();
}

// ---------------------------------------------------------------------
// Shape 4: feature-dependent queues (balloon-like).
// ---------------------------------------------------------------------

/// The features a balloon device was given.
#[derive(Debug, Clone, Copy)]
pub struct BalloonFeatures {
    pub stats: bool,
    pub free_page_reporting: bool,
}

/// What a balloon queue is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueueKind {
    Inflate,
    Deflate,
    Stats,
    FreePageReporting,
}

impl BalloonFeatures {
    /// The device's queues, in index order: inflate and deflate always,
    /// then one per enabled feature.
    pub fn queues(self) -> Vec<QueueKind> {
        let mut queues = vec![QueueKind::Inflate, QueueKind::Deflate];
        if self.stats {
            queues.push(QueueKind::Stats);
        }
        if self.free_page_reporting {
            queues.push(QueueKind::FreePageReporting);
        }
        queues
    }
}

/// What a balloon device handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BalloonEvent {
    /// A queue kick: its index, and what the index means with these
    /// features.
    Queue(usize, QueueKind),
    StatsTimer,
}

/// Balloon with the derive: every queue of the feature-sized `Vec`, and
/// the stats timer only when statistics are enabled.
mod derived_balloon {
    use super::*;

    // [rd begin]
    #[derive(MutEventSubscriber)]
    #[event(fd = queue_evts[..], handler = on_queue)]
    #[event(fd = stats_timer, when = self.features.stats)]
    // [rd end]
    pub struct Balloon {
        pub features: BalloonFeatures,
        /// One per entry of `features.queues()`.
        pub queue_evts: Vec<EventFd>,
        pub stats_timer: TimerFd,
        pub log: Vec<BalloonEvent>,
    }

    impl Balloon {
        fn on_queue(&mut self, index: usize) {
            self.queue_evts[index].read().unwrap();
            let kind = self.features.queues()[index];
            self.log.push(BalloonEvent::Queue(index, kind));
        }

        fn on_stats_timer(&mut self) {
            self.stats_timer.wait().unwrap();
            self.log.push(BalloonEvent::StatsTimer);
        }
    }
}

/// Balloon by hand: the timer's tag first, the queues' after it, and an
/// `if` for the timer.
mod by_hand_balloon {
    use super::*;

    // [rd begin]
    const STATS_TIMER: u32 = 0;
    const FIRST_QUEUE: u32 = 1;
    // [rd end]

    pub struct Balloon {
        pub features: BalloonFeatures,
        /// One per entry of `features.queues()`.
        pub queue_evts: Vec<EventFd>,
        pub stats_timer: TimerFd,
        pub log: Vec<BalloonEvent>,
    }

    impl Balloon {
        fn on_queue(&mut self, index: usize) {
            self.queue_evts[index].read().unwrap();
            let kind = self.features.queues()[index];
            self.log.push(BalloonEvent::Queue(index, kind));
        }

        fn on_stats_timer(&mut self) {
            self.stats_timer.wait().unwrap();
            self.log.push(BalloonEvent::StatsTimer);
        }
    }

    // [rd begin]
    impl MutEventSubscriber for Balloon {
        fn init(&mut self, ops: &mut EventOps) {
            for (index, queue) in self.queue_evts.iter().enumerate() {
                let data = FIRST_QUEUE + index as u32;
                let queue = Events::with_data(queue, data, EventSet::IN);
                ops.add(queue).expect("register a queue");
            }
            if self.features.stats {
                let timer = Events::with_data(&self.stats_timer, STATS_TIMER, EventSet::IN);
                ops.add(timer).expect("register the stats timer");
            }
        }

        fn process(&mut self, events: Events, _ops: &mut EventOps) {
            match events.data() {
                STATS_TIMER => self.on_stats_timer(),
                data => self.on_queue((data - FIRST_QUEUE) as usize),
            }
        }
    }
    // [rd end]
}

/// What the balloon tests need of either version.
trait BalloonShape: MutEventSubscriber + Sized {
    fn new(features: BalloonFeatures) -> Self;
    fn queue_evts(&self) -> &[EventFd];
    fn stats_timer(&mut self) -> &mut TimerFd;
    fn log(&self) -> &[BalloonEvent];
}

macro_rules! balloon_shape {
    ($module:ident) => {
        impl BalloonShape for $module::Balloon {
            fn new(features: BalloonFeatures) -> Self {
                Self {
                    features,
                    queue_evts: features.queues().iter().map(|_| eventfd()).collect(),
                    stats_timer: TimerFd::new().unwrap(),
                    log: Vec::new(),
                }
            }
            fn queue_evts(&self) -> &[EventFd] {
                &self.queue_evts
            }
            fn stats_timer(&mut self) -> &mut TimerFd {
                &mut self.stats_timer
            }
            fn log(&self) -> &[BalloonEvent] {
                &self.log
            }
        }
    };
}

balloon_shape!(derived_balloon);
balloon_shape!(by_hand_balloon);

/// Kicks every queue and expires the stats timer; checks that each queue
/// reached the one queue handler with its index and kind, and the timer
/// its handler only with statistics enabled.
fn balloon<D: BalloonShape>(features: BalloonFeatures, expected_queues: &[QueueKind]) {
    let mut manager = EventManager::<D>::new().unwrap();
    let id = manager.add_subscriber(D::new(features));
    let balloon = manager.subscriber_mut(id).unwrap();
    assert_eq!(balloon.queue_evts().len(), expected_queues.len());
    for queue in balloon.queue_evts() {
        queue.write(1).unwrap();
    }
    expire(balloon.stats_timer());

    let events = expected_queues.len() + usize::from(features.stats);
    run_until(&mut manager, events);
    let mut expected: Vec<_> = expected_queues
        .iter()
        .enumerate()
        .map(|(index, &kind)| BalloonEvent::Queue(index, kind))
        .collect();
    if features.stats {
        expected.push(BalloonEvent::StatsTimer);
    }
    expected.sort();
    assert_eq!(sorted(manager.subscriber_mut(id).unwrap().log()), expected);

    // The timer is still expired when statistics are off: not watched.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    if !features.stats {
        let timer = manager
            .subscriber_mut(id)
            .unwrap()
            .stats_timer()
            .as_raw_fd();
        assert_not_watched(&mut manager, id, timer);
    }

    // The last queue alone: its index, and its kind for these features.
    let last = expected_queues.len() - 1;
    let balloon = manager.subscriber_mut(id).unwrap();
    balloon.queue_evts()[last].write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(id).unwrap().log().last(),
        Some(&BalloonEvent::Queue(last, expected_queues[last]))
    );
}

const STATS_ON: BalloonFeatures = BalloonFeatures {
    stats: true,
    free_page_reporting: true,
};
const STATS_OFF: BalloonFeatures = BalloonFeatures {
    stats: false,
    free_page_reporting: true,
};
const ALL_QUEUES: [QueueKind; 4] = [
    QueueKind::Inflate,
    QueueKind::Deflate,
    QueueKind::Stats,
    QueueKind::FreePageReporting,
];
/// Without statistics, the free page reporting queue moves to index 2.
const NO_STATS_QUEUES: [QueueKind; 3] = [
    QueueKind::Inflate,
    QueueKind::Deflate,
    QueueKind::FreePageReporting,
];

#[test]
fn balloon_derived_with_stats_watches_the_stats_queue_and_timer() {
    balloon::<derived_balloon::Balloon>(STATS_ON, &ALL_QUEUES);
}

#[test]
fn balloon_by_hand_with_stats_watches_the_stats_queue_and_timer() {
    balloon::<by_hand_balloon::Balloon>(STATS_ON, &ALL_QUEUES);
}

#[test]
fn balloon_derived_without_stats_has_neither() {
    balloon::<derived_balloon::Balloon>(STATS_OFF, &NO_STATS_QUEUES);
}

#[test]
fn balloon_by_hand_without_stats_has_neither() {
    balloon::<by_hand_balloon::Balloon>(STATS_OFF, &NO_STATS_QUEUES);
}
