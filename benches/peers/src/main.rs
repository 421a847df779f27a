//! Measures event-manager against the event loops its users would pick
//! instead (event-manager 0.4.2, polling, calloop, mio) and a bare
//! `epoll_wait` floor, interleaved round by round in one process, and
//! writes the results into the workspace's BENCHMARKS.md and a chart.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml
//! ```
//!
//! Flags: `--rounds N` (default 31), `--sample-ms N` (default 10), `--quick`
//! (3 rounds of 1 ms: checks that every loop runs, writes nothing),
//! `--no-write` (print the section instead of writing it).

mod churn;
mod dispatch;
mod endpoint;
mod fds;
mod measure;
mod memory;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use dispatch::{Calloop, Floor, Handler, Mio, Polling};
use fds::FdSet;
use measure::{interleave, Entry, Plan};
use report::ShapeResult;

#[global_allocator]
static ALLOCATOR: memory::CountingAllocator = memory::CountingAllocator;

const OURS: &str = "event-manager (this workspace)";
const OURS_SHARED: &str = "event-manager, Arc<Mutex<dyn>>";
const THEIRS: &str = "event-manager 0.4.2";
const THEIRS_SHARED: &str = "event-manager 0.4.2, Arc<Mutex<dyn>>";
const POLLING: &str = "polling 3 (level)";
const CALLOOP: &str = "calloop 0.14 (level)";
const MIO: &str = "mio 1 (edge)";

struct Options {
    rounds: usize,
    sample_ms: u64,
    write: bool,
}

fn options() -> Options {
    let mut options = Options {
        rounds: 31,
        sample_ms: 10,
        write: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> u64 {
            args.next()
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match arg.as_str() {
            "--rounds" => options.rounds = number("--rounds") as usize,
            "--sample-ms" => options.sample_ms = number("--sample-ms"),
            "--quick" => {
                options.rounds = 3;
                options.sample_ms = 1;
                options.write = false;
            }
            "--no-write" => options.write = false,
            other => {
                panic!("unknown argument {other}; see the doc comment of benches/peers/src/main.rs")
            }
        }
    }
    options
}

fn entry(name: &'static str, contender: impl dispatch::Contender + 'static) -> Entry {
    Entry {
        name,
        contender: Box::new(contender),
    }
}

/// The level-triggered shapes: the fds stay ready, nothing is read.
fn level_shape(title: &'static str, count: usize, ready_every: usize, plan: &Plan) -> ShapeResult {
    let fds = FdSet::new(count, ready_every);
    let raw = fds.raw();
    let handler = Handler::Count;
    let mut entries = vec![
        entry("floor (epoll_wait + index)", Floor::new(&raw, handler)),
        entry(OURS, dispatch::ours(&raw, handler)),
        entry(OURS_SHARED, dispatch::ours_shared(&raw, handler)),
        entry(THEIRS, dispatch::theirs(&raw, handler)),
        entry(THEIRS_SHARED, dispatch::theirs_shared(&raw, handler)),
        entry(POLLING, Polling::new(&raw, handler)),
        entry(CALLOOP, Calloop::new(&raw, handler)),
    ];
    eprintln!("{title}");
    let rows = interleave(&mut entries, fds.ready_count(), plan, None);
    drop(entries);
    ShapeResult {
        title,
        unit: "ns per event",
        rows,
    }
}

/// Every fd written before each run and read by its handler; mio joins in.
fn drain_shape(plan: &Plan) -> ShapeResult {
    let title = "drain: 200 eventfds written before each run, read in the handler";
    let fds = FdSet::idle(200);
    let raw = fds.raw();
    let handler = Handler::Drain;
    let mut entries = vec![
        entry("floor (epoll_wait + index)", Floor::new(&raw, handler)),
        entry(OURS, dispatch::ours(&raw, handler)),
        entry(OURS_SHARED, dispatch::ours_shared(&raw, handler)),
        entry(THEIRS, dispatch::theirs(&raw, handler)),
        entry(THEIRS_SHARED, dispatch::theirs_shared(&raw, handler)),
        entry(POLLING, Polling::new(&raw, handler)),
        entry(CALLOOP, Calloop::new(&raw, handler)),
        entry(MIO, Mio::new(&raw, handler)),
    ];
    eprintln!("{title}");
    let prepare = || fds.write_all();
    let rows = interleave(&mut entries, fds.len(), plan, Some(&prepare));
    drop(entries);
    ShapeResult {
        title,
        unit: "ns per event",
        rows,
    }
}

fn churn_shape(plan: &Plan) -> ShapeResult {
    let title = "churn: register one fd and remove it";
    let fds = FdSet::idle(1);
    let fd = fds.raw()[0];
    let mut entries = vec![
        entry("floor (two epoll_ctl calls)", churn::FloorChurn::new(fd)),
        entry(OURS, churn::OursChurn::new(fd)),
        entry(THEIRS, churn::TheirsChurn::new(fd)),
        entry(POLLING, churn::PollingChurn::new(fd)),
        entry(CALLOOP, churn::CalloopChurn::new(fd)),
        entry(MIO, churn::MioChurn::new(fd)),
    ];
    eprintln!("{title}");
    let rows = interleave(&mut entries, 1, plan, None);
    drop(entries);
    ShapeResult {
        title,
        unit: "ns per add + remove",
        rows,
    }
}

fn endpoint_shape(plan: &Plan) -> ShapeResult {
    let title = "endpoint: call_blocking round trip to a loop on another thread";
    let mut entries = vec![
        entry(
            "floor (channel + eventfd ping-pong)",
            endpoint::FloorPingPong::new(),
        ),
        entry(OURS, endpoint::OursRoundTrip::new()),
        entry(THEIRS, endpoint::TheirsRoundTrip::new()),
    ];
    eprintln!("{title}");
    let rows = interleave(&mut entries, 1, plan, None);
    drop(entries);
    ShapeResult {
        title,
        unit: "ns per round trip",
        rows,
    }
}

fn main() {
    let options = options();
    let plan = Plan {
        rounds: options.rounds,
        sample: Duration::from_millis(options.sample_ms),
    };
    // First, while fd numbers are low.
    let footprints = memory::footprints(1000);
    let shapes = vec![
        level_shape(
            "200 ready: 200 eventfds, all ready, level-triggered",
            200,
            1,
            &plan,
        ),
        level_shape(
            "1 in 23 ready: 200 eventfds, 9 ready, level-triggered",
            200,
            23,
            &plan,
        ),
        level_shape("10,000 fds: 100 ready, level-triggered", 10_000, 100, &plan),
        drain_shape(&plan),
        churn_shape(&plan),
        endpoint_shape(&plan),
    ];

    let mut command = "cargo run --release --manifest-path benches/peers/Cargo.toml".to_owned();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        command = format!("{command} -- {}", args.join(" "));
    }
    let chart_file = "benches/peers/ratio-to-floor.svg";
    let context = report::Context {
        command,
        rounds: options.rounds,
        sample_ms: options.sample_ms,
        chart_file,
    };
    let section = report::markdown(&shapes, &footprints, &context);
    if !options.write {
        println!("{section}");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let benchmarks = root.join("BENCHMARKS.md");
    let document = std::fs::read_to_string(&benchmarks).expect("read BENCHMARKS.md");
    std::fs::write(&benchmarks, report::splice(&document, &section)).expect("write BENCHMARKS.md");
    std::fs::write(root.join(chart_file), report::chart(&shapes)).expect("write the chart");
    println!("{section}");
    eprintln!(
        "wrote {} and {}",
        benchmarks.display(),
        root.join(chart_file).display()
    );
}
