//! Subscriber types written twice, with the derive and by hand: three
//! always-ready eventfds with data tags 0, 1 and 2 and one method each
//! (`Derived`), the same three as a `Vec` (`DerivedQueues`), and a
//! virtio-net-like device activated at run time, whose two queues and tap
//! are registered by its activation handler (`DerivedActivated`). Shared
//! by `benches/derive.rs` and the instruction-count driver of
//! `benches/peers`, so both measure the same code.

use std::hint::black_box;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

fn ready_eventfd() -> EventFd {
    let fd = EventFd::new(0).expect("eventfd");
    fd.write(1).expect("write eventfd");
    fd
}

#[derive(MutEventSubscriber)]
#[event(fd = rx)]
#[event(fd = tx)]
#[event(fd = control)]
pub struct Derived {
    rx: EventFd,
    tx: EventFd,
    control: EventFd,
    counts: [u64; 3],
}

impl Derived {
    pub fn new() -> Self {
        Derived {
            rx: ready_eventfd(),
            tx: ready_eventfd(),
            control: ready_eventfd(),
            counts: [0; 3],
        }
    }

    fn on_rx(&mut self, events: Events, _ops: &mut EventOps) {
        black_box(events);
        self.counts[0] += 1;
    }

    fn on_tx(&mut self, events: Events, _ops: &mut EventOps) {
        black_box(events);
        self.counts[1] += 1;
    }

    fn on_control(&mut self, events: Events, _ops: &mut EventOps) {
        black_box(events);
        self.counts[2] += 1;
    }
}

/// The same fds and methods, with the `init` and `process` the derive is
/// meant to write, written by hand.
pub struct HandWritten(Derived);

impl HandWritten {
    pub fn new() -> Self {
        HandWritten(Derived::new())
    }
}

impl MutEventSubscriber for HandWritten {
    fn init(&mut self, ops: &mut EventOps) {
        let inner = &self.0;
        for (tag, fd) in (0..).zip([&inner.rx, &inner.tx, &inner.control]) {
            ops.add(Events::with_data(fd, tag, EventSet::IN))
                .expect("register");
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        match events.data() {
            0 => self.0.on_rx(events, ops),
            1 => self.0.on_tx(events, ops),
            2 => self.0.on_control(events, ops),
            _ => {}
        }
    }
}

/// The three eventfds as a collection: one `#[event]` over a `Vec`, one
/// method given the index.
#[derive(MutEventSubscriber)]
#[event(fd = queues[..], handler = on_queue)]
pub struct DerivedQueues {
    queues: Vec<EventFd>,
    counts: [u64; 3],
}

impl DerivedQueues {
    pub fn new() -> Self {
        DerivedQueues {
            queues: vec![ready_eventfd(), ready_eventfd(), ready_eventfd()],
            counts: [0; 3],
        }
    }

    fn on_queue(&mut self, index: usize, events: Events) {
        black_box(events);
        self.counts[index] += 1;
    }
}

/// The same collection by hand: the element's index is its data tag.
pub struct HandWrittenQueues(DerivedQueues);

impl HandWrittenQueues {
    pub fn new() -> Self {
        HandWrittenQueues(DerivedQueues::new())
    }
}

impl MutEventSubscriber for HandWrittenQueues {
    fn init(&mut self, ops: &mut EventOps) {
        for (tag, fd) in (0..).zip(&self.0.queues) {
            ops.add(Events::with_data(fd, tag, EventSet::IN))
                .expect("register");
        }
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        let index = events.data() as usize;
        if index < self.0.queues.len() {
            self.0.on_queue(index, events);
        }
    }
}

/// The index of the receive queue in `queue_evts`, as in Firecracker.
const RX_INDEX: usize = 0;
/// The index of the transmit queue.
const TX_INDEX: usize = 1;

/// A virtio-net-like device that is activated at run time: an activation
/// eventfd, registered until the device is activated, then two queue
/// eventfds and a tap (an eventfd here), registered from then on. The
/// activation handler is the recipe of `sync_registrations`. The
/// measured events come after activation (see [`activate_all`]): the
/// queues and the tap, always ready, as in the types above.
#[derive(MutEventSubscriber)]
#[event(fd = activate_evt, when = !self.activated)]
#[event(fd = queue_evts[..], handler = on_queue, when = self.activated)]
#[event(fd = tap, when = self.activated)]
pub struct DerivedActivated {
    activate_evt: EventFd,
    queue_evts: Vec<EventFd>,
    tap: EventFd,
    activated: bool,
    counts: [u64; 3],
}

impl DerivedActivated {
    /// Not activated yet, with the activation eventfd written (as the
    /// device's `activate` writes it from the vCPU thread).
    pub fn new() -> Self {
        DerivedActivated {
            activate_evt: ready_eventfd(),
            queue_evts: vec![ready_eventfd(), ready_eventfd()],
            tap: ready_eventfd(),
            activated: false,
            counts: [0; 3],
        }
    }

    fn on_activate_evt(&mut self, ops: &mut EventOps) {
        self.activate_evt.read().expect("read activate_evt");
        self.activated = true;
        self.sync_registrations(ops).unwrap();
    }

    fn on_queue(&mut self, index: usize, events: Events) {
        black_box(events);
        self.counts[index] += 1;
    }

    fn on_tap(&mut self, events: Events) {
        black_box(events);
        self.counts[2] += 1;
    }
}

/// The same device written the way Firecracker writes its net device's
/// event handler: a data tag per fd, `init` registering the activation
/// eventfd, the activation handler adding the queues and the tap by hand
/// and removing the activation eventfd, and `process` checking that the
/// device is activated before it matches on the tag. (Firecracker sets
/// the flag in `activate`, before it writes the eventfd; here the
/// handler sets it, as the derived one does.) The fds and the queue and
/// tap methods are the derived type's.
pub struct HandWrittenActivated(DerivedActivated);

impl HandWrittenActivated {
    const PROCESS_ACTIVATE: u32 = 0;
    const PROCESS_VIRTQ_RX: u32 = 1;
    const PROCESS_VIRTQ_TX: u32 = 2;
    const PROCESS_TAP_RX: u32 = 3;

    pub fn new() -> Self {
        HandWrittenActivated(DerivedActivated::new())
    }

    fn register_runtime_events(&self, ops: &mut EventOps) {
        let device = &self.0;
        for (fd, tag) in [
            (&device.queue_evts[RX_INDEX], Self::PROCESS_VIRTQ_RX),
            (&device.queue_evts[TX_INDEX], Self::PROCESS_VIRTQ_TX),
            (&device.tap, Self::PROCESS_TAP_RX),
        ] {
            ops.add(Events::with_data(fd, tag, EventSet::IN))
                .expect("register");
        }
    }

    fn register_activate_event(&self, ops: &mut EventOps) {
        ops.add(Events::with_data(
            &self.0.activate_evt,
            Self::PROCESS_ACTIVATE,
            EventSet::IN,
        ))
        .expect("register activate_evt");
    }

    fn process_activate_event(&mut self, ops: &mut EventOps) {
        self.0.activate_evt.read().expect("read activate_evt");
        self.0.activated = true;
        self.register_runtime_events(ops);
        ops.remove(Events::with_data(
            &self.0.activate_evt,
            Self::PROCESS_ACTIVATE,
            EventSet::IN,
        ))
        .expect("deregister activate_evt");
    }
}

impl MutEventSubscriber for HandWrittenActivated {
    fn init(&mut self, ops: &mut EventOps) {
        if self.0.activated {
            self.register_runtime_events(ops);
        } else {
            self.register_activate_event(ops);
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let source = events.data();
        if self.0.activated {
            match source {
                Self::PROCESS_VIRTQ_RX => self.0.on_queue(RX_INDEX, events),
                Self::PROCESS_VIRTQ_TX => self.0.on_queue(TX_INDEX, events),
                Self::PROCESS_TAP_RX => self.0.on_tap(events),
                _ => {}
            }
        } else if source == Self::PROCESS_ACTIVATE {
            self.process_activate_event(ops);
        }
    }
}

/// Activates every device of `manager` (`subscribers` of them, each with
/// its activation eventfd written): one run dispatches the activation
/// events, whose handlers register the queues and the tap, which the
/// runs after it dispatch.
pub fn activate_all<T: MutEventSubscriber>(
    manager: &mut event_manager::EventManager<T>,
    subscribers: usize,
) {
    let activated = manager.run_with_timeout(0).expect("activation run");
    assert_eq!(activated, subscribers, "one activation event per device");
}
