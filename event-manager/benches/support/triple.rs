//! One subscriber type written twice, with the derive and by hand: three
//! always-ready eventfds with data tags 0, 1 and 2 and one method each.
//! Shared by `benches/derive.rs` and the instruction-count driver of
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
