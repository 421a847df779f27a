//! Cost per dispatched event with 200 level-triggered eventfds that are
//! always ready (never drained), so every `run` dispatches 200 events.
//!
//! `floor` is a bare `epoll_wait` loop that keeps an index in the epoll
//! data and bumps a counter per event: what any event loop has to pay.
//! The other rows are this crate with one subscriber type (static
//! dispatch) and behind `Box<dyn MutEventSubscriber>`.
//!
//! Run with `cargo bench -p event-manager --bench dispatch`.

use std::hint::black_box;
use std::os::unix::io::AsRawFd;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent};
use vmm_sys_util::eventfd::EventFd;

const SUBSCRIBERS: usize = 200;

fn ready_eventfds() -> Vec<EventFd> {
    (0..SUBSCRIBERS)
        .map(|_| {
            let fd = EventFd::new(0).expect("eventfd");
            fd.write(1).expect("write eventfd");
            fd
        })
        .collect()
}

struct Counter {
    fd: EventFd,
    events: u64,
}

impl MutEventSubscriber for Counter {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN))
            .expect("register");
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        black_box(events);
        self.events += 1;
    }
}

fn floor(c: &mut Criterion) {
    let fds = ready_eventfds();
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
    let mut ready = vec![EpollEvent::default(); 256];
    let mut counters = vec![0u64; SUBSCRIBERS];
    let mut group = c.benchmark_group("dispatch_200_ready");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    group.bench_function("floor", |b| {
        b.iter(|| {
            let count = epoll.wait(-1, &mut ready).expect("epoll_wait");
            for event in &ready[..count] {
                counters[event.data() as usize] += 1;
            }
            black_box(count)
        })
    });

    let mut manager = EventManager::<Counter>::new().expect("manager");
    for fd in ready_eventfds() {
        manager.add_subscriber(Counter { fd, events: 0 });
    }
    group.bench_function("event_manager", |b| {
        b.iter(|| black_box(manager.run().expect("run")))
    });

    let mut boxed = EventManager::<Box<dyn MutEventSubscriber>>::new().expect("manager");
    for fd in ready_eventfds() {
        boxed.add_subscriber(Box::new(Counter { fd, events: 0 }));
    }
    group.bench_function("event_manager_boxed", |b| {
        b.iter(|| black_box(boxed.run().expect("run")))
    });
    group.finish();
    black_box(counters);
}

criterion_group!(benches, floor);
criterion_main!(benches);
