//! A derived subscriber against the same subscriber written by hand
//! (`support/triple.rs`): 64 of them, three always-ready level-triggered
//! eventfds each, make 192 events per `run`. The hand-written `process` is
//! the `match` on the data tag that the derive is meant to write, so the
//! two rows should differ by noise only. The `activated` rows are 64
//! virtio-net-like devices activated before the measurement (two queue
//! eventfds and a tap each, also 192 events per `run`): by hand as
//! Firecracker writes it, or with `sync_registrations`.
//!
//! Run with `cargo bench -p event-manager --features derive --bench derive`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};

#[path = "support/triple.rs"]
mod triple;

const SUBSCRIBERS: usize = 64;
const EVENTS_PER_RUN: u64 = 3 * SUBSCRIBERS as u64;

fn manager<T: MutEventSubscriber>(make: impl Fn() -> T) -> EventManager<T> {
    let mut manager = EventManager::new().expect("manager");
    for _ in 0..SUBSCRIBERS {
        manager.add_subscriber(make());
    }
    manager
}

fn derived_against_hand_written(c: &mut Criterion) {
    let mut group = c.benchmark_group("derive_192_ready");
    group.throughput(Throughput::Elements(EVENTS_PER_RUN));

    let mut hand_written = manager(triple::HandWritten::new);
    group.bench_function("hand_written", |b| {
        b.iter(|| black_box(hand_written.run().expect("run")))
    });
    drop(hand_written);

    let mut derived = manager(triple::Derived::new);
    group.bench_function("derived", |b| {
        b.iter(|| black_box(derived.run().expect("run")))
    });
    drop(derived);

    let mut hand_written_queues = manager(triple::HandWrittenQueues::new);
    group.bench_function("hand_written_queues", |b| {
        b.iter(|| black_box(hand_written_queues.run().expect("run")))
    });
    drop(hand_written_queues);

    let mut derived_queues = manager(triple::DerivedQueues::new);
    group.bench_function("derived_queues", |b| {
        b.iter(|| black_box(derived_queues.run().expect("run")))
    });
    drop(derived_queues);

    let mut hand_written_activated = manager(triple::HandWrittenActivated::new);
    triple::activate_all(&mut hand_written_activated, SUBSCRIBERS);
    group.bench_function("hand_written_activated", |b| {
        b.iter(|| black_box(hand_written_activated.run().expect("run")))
    });
    drop(hand_written_activated);

    let mut derived_activated = manager(triple::DerivedActivated::new);
    triple::activate_all(&mut derived_activated, SUBSCRIBERS);
    group.bench_function("derived_activated", |b| {
        b.iter(|| black_box(derived_activated.run().expect("run")))
    });
    group.finish();
}

criterion_group!(benches, derived_against_hand_written);
criterion_main!(benches);
