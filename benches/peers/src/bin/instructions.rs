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

use event_manager::{MutEventSubscriber, SubscriberOps};
use event_manager_peers::dispatch::{self, Contender, Floor, Handler};
use event_manager_peers::fds::FdSet;
use std::hint::black_box;

/// The subscriber types of the workspace's derive benchmark.
#[path = "../../../../event-manager/benches/support/triple.rs"]
mod triple;

const TRIPLES: usize = 64;

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
        "hand-written" => Box::new(triples(triple::HandWritten::new)),
        "derived" => Box::new(triples(triple::Derived::new)),
        other => panic!("unknown loop {other}"),
    };
    let mut events = 0;
    for _ in 0..runs {
        events += black_box(contender.run_once());
    }
    println!("{name}: {events} events in {runs} runs");
}
