//! A derived subscriber against the same subscriber written by hand.
//!
//! Each subscriber watches three level-triggered eventfds that are always
//! ready, with data tags 0, 1 and 2 and one method per fd; 64 of them make
//! 192 events per `run`. The hand-written `process` is the `match` on the
//! data tag that the derive is meant to write, so the two rows should
//! differ by noise only.
//!
//! Run with `cargo bench -p event-manager --features derive --bench derive`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::EventFd;

const SUBSCRIBERS: usize = 64;
const FDS_PER_SUBSCRIBER: usize = 3;

fn ready_eventfd() -> EventFd {
    let fd = EventFd::new(0).expect("eventfd");
    fd.write(1).expect("write eventfd");
    fd
}

#[derive(MutEventSubscriber)]
#[event(fd = rx)]
#[event(fd = tx)]
#[event(fd = control)]
struct Derived {
    rx: EventFd,
    tx: EventFd,
    control: EventFd,
    counts: [u64; FDS_PER_SUBSCRIBER],
}

impl Derived {
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

struct HandWritten {
    rx: EventFd,
    tx: EventFd,
    control: EventFd,
    counts: [u64; FDS_PER_SUBSCRIBER],
}

impl HandWritten {
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

impl MutEventSubscriber for HandWritten {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::with_data(&self.rx, 0, EventSet::IN))
            .expect("register rx");
        ops.add(Events::with_data(&self.tx, 1, EventSet::IN))
            .expect("register tx");
        ops.add(Events::with_data(&self.control, 2, EventSet::IN))
            .expect("register control");
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        match events.data() {
            0 => self.on_rx(events, ops),
            1 => self.on_tx(events, ops),
            2 => self.on_control(events, ops),
            _ => {}
        }
    }
}

fn derived_against_hand_written(c: &mut Criterion) {
    let mut group = c.benchmark_group("derive_192_ready");
    group.throughput(Throughput::Elements(
        (SUBSCRIBERS * FDS_PER_SUBSCRIBER) as u64,
    ));

    let mut hand_written = EventManager::<HandWritten>::new().expect("manager");
    for _ in 0..SUBSCRIBERS {
        hand_written.add_subscriber(HandWritten {
            rx: ready_eventfd(),
            tx: ready_eventfd(),
            control: ready_eventfd(),
            counts: [0; FDS_PER_SUBSCRIBER],
        });
    }
    group.bench_function("hand_written", |b| {
        b.iter(|| black_box(hand_written.run().expect("run")))
    });
    drop(hand_written);

    let mut derived = EventManager::<Derived>::new().expect("manager");
    for _ in 0..SUBSCRIBERS {
        derived.add_subscriber(Derived {
            rx: ready_eventfd(),
            tx: ready_eventfd(),
            control: ready_eventfd(),
            counts: [0; FDS_PER_SUBSCRIBER],
        });
    }
    group.bench_function("derived", |b| {
        b.iter(|| black_box(derived.run().expect("run")))
    });
    group.finish();
}

criterion_group!(benches, derived_against_hand_written);
criterion_main!(benches);
