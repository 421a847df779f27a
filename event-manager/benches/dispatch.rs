//! The manager's costs, per dispatched event (or per operation), with
//! criterion:
//!
//! - `ready_200`: 200 subscribers whose eventfds are always ready and never
//!   drained (level-triggered), so every `run` dispatches 200 events; with
//!   the subscribers as one concrete type, `Arc<Mutex<_>>`,
//!   `Arc<dyn EventSubscriber>` with inner mutability, and two types mixed
//!   behind `Arc<Mutex<dyn MutEventSubscriber + Send>>` with data tags.
//!   `floor` is a bare `epoll_wait` loop that keeps an index in the epoll
//!   data: what any event loop has to pay.
//! - `sparse_200`: 200 subscribers, one in 23 ready.
//! - `large_10000`: 10,000 subscribers, 1% ready.
//! - `drain_200`: 200 eventfds written before each run (not timed) and read
//!   by their handlers.
//! - `churn`: `add_subscriber` and `remove_subscriber` of a one-fd
//!   subscriber, against two bare `epoll_ctl` calls.
//! - `endpoint`: `RemoteEndpoint::call_blocking` to a loop on another
//!   thread, with both threads pinned to one core, then to two
//!   (`support/endpoint.rs`).
//!
//! Run with `cargo bench -p event-manager --all-features --bench dispatch`
//! (add `-- GROUP` to run one group). The side-by-side comparison with
//! other event loops is in `benches/peers` at the root of the workspace.

use std::hint::black_box;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use event_manager::{
    EventManager, EventOps, EventSet, EventSubscriber, Events, MutEventSubscriber, SubscriberOps,
};
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent};
use vmm_sys_util::eventfd::EventFd;

#[cfg(feature = "remote_endpoint")]
#[path = "support/endpoint.rs"]
mod endpoint;

/// `count` eventfds, every `ready_every`-th one written once.
fn eventfds(count: usize, ready_every: usize) -> Vec<EventFd> {
    (0..count)
        .map(|index| {
            let fd = EventFd::new(0).expect("eventfd");
            if index % ready_every == 0 {
                fd.write(1).expect("write eventfd");
            }
            fd
        })
        .collect()
}

fn ready_count(count: usize, ready_every: usize) -> u64 {
    count.div_ceil(ready_every) as u64
}

/// One fd, a counter; reads the fd first when `drain` is set.
struct Counter {
    fd: EventFd,
    drain: bool,
    events: u64,
}

impl Counter {
    fn new(fd: EventFd) -> Self {
        Counter {
            fd,
            drain: false,
            events: 0,
        }
    }
}

impl MutEventSubscriber for Counter {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN))
            .expect("register");
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        if self.drain {
            self.fd.read().expect("read eventfd");
        }
        black_box(events);
        self.events += 1;
    }
}

/// A `&self` subscriber that counts through an atomic.
struct SharedCounter {
    fd: EventFd,
    events: AtomicU64,
}

impl EventSubscriber for SharedCounter {
    fn init(&self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN))
            .expect("register");
    }

    fn process(&self, events: Events, _ops: &mut EventOps) {
        black_box(events);
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

/// A second type for the mixed row: two fds told apart by data tag.
struct Pair {
    fds: [EventFd; 2],
    events: [u64; 2],
}

impl MutEventSubscriber for Pair {
    fn init(&mut self, ops: &mut EventOps) {
        for (tag, fd) in (0..).zip(&self.fds) {
            ops.add(Events::with_data(fd, tag, EventSet::IN))
                .expect("register");
        }
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        match events.data() {
            0 => self.events[0] += 1,
            1 => self.events[1] += 1,
            _ => {}
        }
    }
}

type SharedDyn = Arc<Mutex<dyn MutEventSubscriber + Send>>;

fn bench_run<T: MutEventSubscriber>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    manager: &mut EventManager<T>,
    expected: u64,
) {
    assert_eq!(
        manager.run_with_timeout(0).expect("run") as u64,
        expected,
        "{name}"
    );
    group.bench_function(name, |b| {
        b.iter(|| black_box(manager.run_with_timeout(0).expect("run")))
    });
}

/// An epoll instance watching `fds` for `IN`, each with its index as data.
fn floor_epoll(fds: &[EventFd]) -> Epoll {
    let epoll = Epoll::new().expect("epoll");
    for (index, fd) in fds.iter().enumerate() {
        epoll
            .ctl(
                ControlOperation::Add,
                fd.as_raw_fd(),
                EpollEvent::new(EventSet::IN, index as u64),
            )
            .expect("epoll_ctl");
    }
    epoll
}

fn floor(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, fds: &[EventFd]) {
    let epoll = floor_epoll(fds);
    let mut ready = vec![EpollEvent::default(); 256];
    let mut counters = vec![0u64; fds.len()];
    group.bench_function("floor", |b| {
        b.iter(|| {
            let count = epoll.wait(0, &mut ready).expect("epoll_wait");
            for event in &ready[..count] {
                counters[event.data() as usize] += 1;
            }
            black_box(count)
        })
    });
}

fn level_shape(c: &mut Criterion, name: &str, count: usize, ready_every: usize) {
    let expected = ready_count(count, ready_every);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(expected));
    floor(&mut group, &eventfds(count, ready_every));

    let mut plain = EventManager::<Counter>::new().expect("manager");
    for fd in eventfds(count, ready_every) {
        plain.add_subscriber(Counter::new(fd));
    }
    bench_run(&mut group, "plain", &mut plain, expected);
    drop(plain);

    let mut locked = EventManager::<Arc<Mutex<Counter>>>::new().expect("manager");
    for fd in eventfds(count, ready_every) {
        locked.add_subscriber(Arc::new(Mutex::new(Counter::new(fd))));
    }
    bench_run(&mut group, "arc_mutex", &mut locked, expected);
    drop(locked);

    let mut shared = EventManager::<Arc<dyn EventSubscriber>>::new().expect("manager");
    for fd in eventfds(count, ready_every) {
        shared.add_subscriber(Arc::new(SharedCounter {
            fd,
            events: AtomicU64::new(0),
        }));
    }
    bench_run(
        &mut group,
        "arc_dyn_event_subscriber",
        &mut shared,
        expected,
    );
    drop(shared);

    // Two types: a `Pair` with two fds, then a `Counter`, and again.
    let mut mixed = EventManager::<SharedDyn>::new().expect("manager");
    let mut fds = eventfds(count, ready_every).into_iter();
    while let Some(first) = fds.next() {
        let subscriber: SharedDyn = match fds.next() {
            Some(second) => Arc::new(Mutex::new(Pair {
                fds: [first, second],
                events: [0; 2],
            })),
            None => Arc::new(Mutex::new(Counter::new(first))),
        };
        mixed.add_subscriber(subscriber);
        if let Some(single) = fds.next() {
            mixed.add_subscriber(Arc::new(Mutex::new(Counter::new(single))));
        }
    }
    bench_run(&mut group, "mixed_arc_mutex_dyn", &mut mixed, expected);
    group.finish();
}

fn ready(c: &mut Criterion) {
    level_shape(c, "ready_200", 200, 1);
    level_shape(c, "sparse_200", 200, 23);
    level_shape(c, "large_10000", 10_000, 100);
}

/// Times `run` alone; the writes that make the fds ready come before it,
/// through duplicates of the registered eventfds.
fn timed_runs(iters: u64, writers: &[EventFd], mut run: impl FnMut() -> usize) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        for writer in writers {
            writer.write(1).expect("write eventfd");
        }
        let start = Instant::now();
        let dispatched = run();
        elapsed += start.elapsed();
        assert_eq!(dispatched, writers.len());
    }
    elapsed
}

fn duplicates(fds: &[EventFd]) -> Vec<EventFd> {
    fds.iter()
        .map(|fd| fd.try_clone().expect("dup eventfd"))
        .collect()
}

fn drain(c: &mut Criterion) {
    let mut group = c.benchmark_group("drain_200");
    group.throughput(Throughput::Elements(200));

    let fds = eventfds(200, usize::MAX);
    let writers = duplicates(&fds);
    let epoll = floor_epoll(&fds);
    let mut ready = vec![EpollEvent::default(); 256];
    group.bench_function("floor", |b| {
        b.iter_custom(|iters| {
            timed_runs(iters, &writers, || {
                let count = epoll.wait(0, &mut ready).expect("epoll_wait");
                for event in &ready[..count] {
                    fds[event.data() as usize].read().expect("read eventfd");
                }
                count
            })
        })
    });

    let mut manager = EventManager::<Counter>::new().expect("manager");
    let fds = eventfds(200, usize::MAX);
    let writers = duplicates(&fds);
    for fd in fds {
        manager.add_subscriber(Counter {
            fd,
            drain: true,
            events: 0,
        });
    }
    group.bench_function("plain", |b| {
        b.iter_custom(|iters| {
            timed_runs(iters, &writers, || {
                manager.run_with_timeout(0).expect("run")
            })
        })
    });
    group.finish();
}

fn churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("churn");
    group.throughput(Throughput::Elements(1));
    let fd = EventFd::new(0).expect("eventfd");
    let epoll = Epoll::new().expect("epoll");
    group.bench_function("floor_two_epoll_ctl", |b| {
        b.iter(|| {
            epoll
                .ctl(
                    ControlOperation::Add,
                    fd.as_raw_fd(),
                    EpollEvent::new(EventSet::IN, 0),
                )
                .expect("add");
            epoll
                .ctl(
                    ControlOperation::Delete,
                    fd.as_raw_fd(),
                    EpollEvent::default(),
                )
                .expect("delete");
        })
    });
    let mut manager = EventManager::<Counter>::new().expect("manager");
    let mut spare = Some(EventFd::new(0).expect("eventfd"));
    group.bench_function("add_remove_subscriber", |b| {
        b.iter(|| {
            let id = manager.add_subscriber(Counter::new(spare.take().expect("fd")));
            spare = Some(manager.remove_subscriber(id).expect("remove").fd);
        })
    });
    group.finish();
}

#[cfg(feature = "remote_endpoint")]
criterion_group!(benches, ready, drain, churn, endpoint::endpoint);
#[cfg(not(feature = "remote_endpoint"))]
criterion_group!(benches, ready, drain, churn);
criterion_main!(benches);
