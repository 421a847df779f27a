//! A driver for counting user-space instructions per dispatched event with
//! callgrind, which (unlike wall time) repeats exactly from run to run:
//!
//! ```text
//! cargo build --release --manifest-path benches/peers/Cargo.toml --bin instructions
//! valgrind --tool=callgrind benches/peers/target/release/instructions LOOP RUNS
//! ```
//!
//! `LOOP` is `floor`, `ours`, `ours-shared`, `theirs` or `theirs-shared`
//! (200 always-ready eventfds), or `hand-written` or `derived` (64
//! subscribers with three always-ready eventfds each). Running it for two
//! values of `RUNS` and dividing the difference in instructions by the
//! difference in events cancels the set-up cost.

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use event_manager_peers::dispatch::{self, Contender, Floor, Handler};
use event_manager_peers::fds::FdSet;
use std::hint::black_box;
use vmm_sys_util::eventfd::EventFd;

const TRIPLES: usize = 64;

fn ready_eventfd() -> EventFd {
    let fd = EventFd::new(0).expect("eventfd");
    fd.write(1).expect("write eventfd");
    fd
}

/// Three fds, one method each, written with the derive.
#[derive(MutEventSubscriber)]
#[event(fd = rx)]
#[event(fd = tx)]
#[event(fd = control)]
struct Derived {
    rx: EventFd,
    tx: EventFd,
    control: EventFd,
    counts: [u64; 3],
}

/// The same subscriber written by hand, with the `match` the derive writes.
struct HandWritten(Derived);

impl Derived {
    fn new() -> Self {
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

fn triples<T: MutEventSubscriber>(make: impl Fn() -> T) -> event_manager::EventManager<T> {
    let mut manager = event_manager::EventManager::new().expect("manager");
    for _ in 0..TRIPLES {
        manager.add_subscriber(make());
    }
    manager
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, runs] = args.as_slice() else {
        panic!("usage: instructions LOOP RUNS (see the doc comment)");
    };
    let runs: usize = runs.parse().expect("RUNS is a number");
    let fds = FdSet::new(200, 1);
    let raw = fds.raw();
    let mut contender: Box<dyn Contender> = match name.as_str() {
        "floor" => Box::new(Floor::new(&raw, Handler::Count)),
        "ours" => Box::new(dispatch::ours(&raw, Handler::Count)),
        "ours-shared" => Box::new(dispatch::ours_shared(&raw, Handler::Count)),
        "theirs" => Box::new(dispatch::theirs(&raw, Handler::Count)),
        "theirs-shared" => Box::new(dispatch::theirs_shared(&raw, Handler::Count)),
        "hand-written" => Box::new(triples(|| HandWritten(Derived::new()))),
        "derived" => Box::new(triples(Derived::new)),
        other => panic!("unknown loop {other}"),
    };
    let mut events = 0;
    for _ in 0..runs {
        events += black_box(contender.run_once());
    }
    println!("{name}: {events} events in {runs} runs");
}
