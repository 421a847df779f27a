//! User-space instructions per dispatched event, counted by callgrind,
//! which (unlike wall time) repeats exactly from run to run, except where
//! the measured code is random itself (event-manager 0.4.2 keeps its fds in
//! `HashMap`s seeded per process, so its counts vary a little):
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml --bin instructions
//! ```
//!
//! For each loop, this program runs itself under
//! `valgrind --tool=callgrind` twice, for 100 and for 1,100 runs of the
//! loop, and prints a table: the two totals and their difference divided
//! by the difference in events, which cancels the set-up cost. It finds
//! itself through `std::env::current_exe`, so it works wherever cargo put
//! it (`CARGO_TARGET_DIR` included). It writes no file.
//!
//! The loops: `floor`, `ours`, `ours-shared`, `theirs` and `theirs-shared`
//! (200 always-ready eventfds), `hand-written`, `derived`,
//! `hand-written-queues` and `derived-queues` (64 subscribers with three
//! always-ready eventfds each: three fields, or a `Vec` of three), and
//! `hand-written-activated` and `derived-activated` (64 virtio-net-like
//! devices, activated before the count: a `Vec` of two queue eventfds and
//! a tap eventfd each, registered by the activation handler). Run with
//! `--help` for the flags.

use std::hint::black_box;
use std::process::Command;

use event_manager::{MutEventSubscriber, SubscriberOps};
use event_manager_peers::dispatch::{self, Contender, Floor, Handler};
use event_manager_peers::fds::FdSet;

/// The subscriber types of the workspace's derive benchmark.
#[path = "../../../../event-manager/benches/support/triple.rs"]
mod triple;

const TRIPLES: usize = 64;

const LOOPS: [&str; 11] = [
    "floor",
    "ours",
    "ours-shared",
    "theirs",
    "theirs-shared",
    "hand-written",
    "derived",
    "hand-written-queues",
    "derived-queues",
    "hand-written-activated",
    "derived-activated",
];

const USAGE: &str = "\
usage: instructions [--runs LOW HIGH] [LOOP...]
       instructions --run LOOP RUNS

Counts user-space instructions per event with valgrind --tool=callgrind:
runs every LOOP (all of them if none is named) under callgrind for LOW and
for HIGH runs and prints (instructions at HIGH - instructions at LOW) /
(events at HIGH - events at LOW). Writes no file.

  --runs LOW HIGH   the two run counts (default 100 1100)
  --run LOOP RUNS   run LOOP RUNS times without valgrind and print the
                    events dispatched (what each callgrind run executes)
  --help            print this text

LOOP: floor, ours, ours-shared, theirs, theirs-shared (200 always-ready
eventfds), hand-written, derived, hand-written-queues, derived-queues (64
subscribers, three eventfds each: three fields, or a Vec of three),
hand-written-activated, derived-activated (64 devices activated before the
count, by hand or with sync_registrations: a Vec of two queue eventfds and
a tap eventfd each).
";

fn triples<T: MutEventSubscriber>(make: impl Fn() -> T) -> event_manager::EventManager<T> {
    let mut manager = event_manager::EventManager::new().expect("manager");
    for _ in 0..TRIPLES {
        manager.add_subscriber(make());
    }
    manager
}

/// [`triples`], each device activated by a run before the count.
fn activated<T: MutEventSubscriber>(make: impl Fn() -> T) -> event_manager::EventManager<T> {
    let mut manager = triples(make);
    triple::activate_all(&mut manager, TRIPLES);
    manager
}

/// Runs `name` `runs` times and returns the events it dispatched.
fn run_loop(name: &str, runs: usize) -> usize {
    let fds = FdSet::new(200, 1);
    let raw = fds.raw();
    let mut contender: Box<dyn Contender> = match name {
        "floor" => Box::new(Floor::new(&raw, Handler::Count)),
        "ours" => Box::new(dispatch::ours(&raw, Handler::Count)),
        "ours-shared" => Box::new(dispatch::ours_shared(&raw, Handler::Count)),
        "theirs" => Box::new(dispatch::theirs(&raw, Handler::Count)),
        "theirs-shared" => Box::new(dispatch::theirs_shared(&raw, Handler::Count)),
        "hand-written" => Box::new(triples(triple::HandWritten::new)),
        "derived" => Box::new(triples(triple::Derived::new)),
        "hand-written-queues" => Box::new(triples(triple::HandWrittenQueues::new)),
        "derived-queues" => Box::new(triples(triple::DerivedQueues::new)),
        "hand-written-activated" => Box::new(activated(triple::HandWrittenActivated::new)),
        "derived-activated" => Box::new(activated(triple::DerivedActivated::new)),
        other => fail(&format!("unknown loop {other}")),
    };
    let mut events = 0;
    for _ in 0..runs {
        events += black_box(contender.run_once());
    }
    events
}

/// One callgrind run of `name` for `runs` runs: (instructions, events).
fn count(name: &str, runs: usize) -> (u64, u64) {
    let exe = std::env::current_exe().expect("the path of this program");
    let mut command = Command::new("valgrind");
    command
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&exe)
        .args(["--run", name, &runs.to_string()]);
    let output = command.output().unwrap_or_else(|error| {
        fail(&format!(
            "cannot start valgrind ({error}); install valgrind to count instructions"
        ))
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        fail(&format!(
            "{command:?} failed ({}):\n{stdout}{stderr}",
            output.status
        ));
    }
    // callgrind reports its total as "==PID== Collected : N" on stderr.
    let instructions = stderr
        .lines()
        .find_map(|line| {
            line.split_once("Collected :")
                .map(|(_, total)| total.trim())
        })
        .and_then(|total| total.parse().ok())
        .unwrap_or_else(|| fail(&format!("no total in callgrind's output:\n{stderr}")));
    let events = stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| fail(&format!("no event count in {stdout:?}")));
    (instructions, events)
}

fn fail(message: &str) -> ! {
    eprintln!("instructions: {message}");
    std::process::exit(2);
}

fn number(value: Option<&String>, what: &str) -> usize {
    value
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| fail(&format!("{what} takes a number; see --help")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--run") {
        let (Some(name), runs) = (args.get(1), args.get(2)) else {
            fail("--run takes a loop and a number of runs; see --help");
        };
        println!("{}", run_loop(name, number(runs, "--run")));
        return;
    }
    let (mut low, mut high) = (100, 1100);
    let mut loops: Vec<&str> = Vec::new();
    let mut index = 0;
    while index < args.len() {
        match args[index].as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                return;
            }
            "--runs" => {
                low = number(args.get(index + 1), "--runs");
                high = number(args.get(index + 2), "--runs");
                index += 2;
            }
            name if LOOPS.contains(&name) => loops.push(name),
            other => fail(&format!("unknown argument {other}; see --help")),
        }
        index += 1;
    }
    if low >= high {
        fail("--runs LOW HIGH needs LOW below HIGH");
    }
    if loops.is_empty() {
        loops = LOOPS.to_vec();
    }
    println!(
        "| loop | events per run | instructions at {low} runs | at {high} runs | instructions per event |"
    );
    println!("|---|---|---|---|---|");
    for name in loops {
        let (low_instructions, low_events) = count(name, low);
        let (high_instructions, high_events) = count(name, high);
        let per_event = (high_instructions as f64 - low_instructions as f64)
            / (high_events as f64 - low_events as f64);
        println!(
            "| `{name}` | {} | {low_instructions} | {high_instructions} | {per_event:.2} |",
            high_events / high as u64
        );
    }
}
