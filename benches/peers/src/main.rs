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

use std::path::PathBuf;
use std::time::Duration;

use event_manager_peers::dispatch::{self, Calloop, Floor, Handler, Mio, Polling};
use event_manager_peers::fds::{self, FdSet};
use event_manager_peers::measure::{interleave, Entry, Plan};
use event_manager_peers::report::{self, ShapeResult};
use event_manager_peers::{churn, endpoint, memory};

#[global_allocator]
static ALLOCATOR: memory::CountingAllocator = memory::CountingAllocator;

const OURS: &str = "event-manager (this workspace)";
const OURS_SHARED: &str = "event-manager, Arc<Mutex<dyn>>";
const THEIRS: &str = "event-manager 0.4.2";
const THEIRS_SHARED: &str = "event-manager 0.4.2, Arc<Mutex<dyn>>";
const POLLING: &str = "polling 3 (level)";
const CALLOOP: &str = "calloop 0.14 (level)";
const MIO: &str = "mio 1 (edge)";
const OURS_EDGE: &str = "event-manager, edge-triggered";

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

/// The floor and every level-triggered loop, on the same fds.
fn event_loops(raw: &[std::os::unix::io::RawFd], handler: Handler) -> Vec<Entry> {
    vec![
        entry("floor (epoll_wait + index)", Floor::new(raw, handler)),
        entry(OURS, dispatch::ours(raw, handler)),
        entry(OURS_SHARED, dispatch::ours_shared(raw, handler)),
        entry(THEIRS, dispatch::theirs(raw, handler)),
        entry(THEIRS_SHARED, dispatch::theirs_shared(raw, handler)),
        entry(POLLING, Polling::new(raw, handler)),
        entry(CALLOOP, Calloop::new(raw, handler)),
    ]
}

/// The level-triggered shapes: the fds stay ready, nothing is read.
fn level_shape(title: &'static str, count: usize, ready_every: usize, plan: &Plan) -> ShapeResult {
    let fds = FdSet::new(count, ready_every);
    let raw = fds.raw();
    let mut entries = event_loops(&raw, Handler::Count);
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
    let mut entries = event_loops(&raw, Handler::Drain);
    // mio registers edge-triggered only; ours joins it in that mode.
    entries.push(entry(MIO, Mio::new(&raw, Handler::Drain)));
    entries.push(entry(OURS_EDGE, dispatch::ours_edge(&raw, Handler::Drain)));
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
            endpoint::FloorPingPong::start(),
        ),
        entry(OURS, endpoint::OursRoundTrip::start()),
        entry(THEIRS, endpoint::TheirsRoundTrip::start()),
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

/// A loop's ratio on a shape, if it ran there.
fn ratio(shape: &ShapeResult, name: &str) -> Option<f64> {
    shape
        .rows
        .iter()
        .find(|row| row.name == name)
        .map(|row| row.ratio)
}

fn ratios(shapes: &[ShapeResult], name: &str) -> String {
    let found: Vec<String> = shapes
        .iter()
        .filter_map(|shape| ratio(shape, name))
        .map(|ratio| format!("{ratio:.3}"))
        .collect();
    found.join(" / ")
}

enum Comparison {
    Faster,
    Overlapping,
    Slower,
}

/// Whether `ours` beat `peer` on `shape` beyond the spread of the rounds:
/// its 75th percentile below the peer's 25th.
fn compare(shape: &ShapeResult, ours: &str, peer: &str) -> Comparison {
    let row = |name: &str| shape.rows.iter().find(|row| row.name == name);
    match (row(ours), row(peer)) {
        (Some(ours), Some(peer)) if ours.ratio_quartiles.1 < peer.ratio_quartiles.0 => {
            Comparison::Faster
        }
        (Some(ours), Some(peer)) if ours.ratio_quartiles.0 > peer.ratio_quartiles.1 => {
            Comparison::Slower
        }
        _ => Comparison::Overlapping,
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "yes"
    } else {
        "no"
    }
}

/// The issue's targets against this run, as table rows.
fn targets(shapes: &[ShapeResult], footprints: &[memory::Footprint]) -> Vec<[String; 3]> {
    let level = &shapes[..3];
    let (drain, churn, endpoint) = (&shapes[3], &shapes[4], &shapes[5]);
    let ours_level: Vec<f64> = level
        .iter()
        .filter_map(|shape| ratio(shape, OURS))
        .collect();
    let peers = [THEIRS, THEIRS_SHARED, POLLING, CALLOOP];
    let best_peer: Vec<f64> = level
        .iter()
        .map(|shape| {
            peers
                .iter()
                .filter_map(|peer| ratio(shape, peer))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let shared_level: Vec<f64> = level
        .iter()
        .filter_map(|shape| ratio(shape, OURS_SHARED))
        .collect();
    let value = |shape: &ShapeResult, name: &str| ratio(shape, name).unwrap_or(f64::NAN);
    let (ours_memory, theirs_memory) = (&footprints[0], &footprints[1]);
    vec![
        [
            "level-triggered shapes: within 5% of the floor".to_owned(),
            ratios(level, OURS),
            verdict(ours_level.iter().all(|ratio| *ratio <= 1.05)).to_owned(),
        ],
        [
            "level-triggered shapes: faster than every peer".to_owned(),
            format!(
                "best peer per shape: {}",
                best_peer
                    .iter()
                    .map(|ratio| format!("{ratio:.3}"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
            verdict(
                ours_level
                    .iter()
                    .zip(&best_peer)
                    .all(|(ours, peer)| ours < peer),
            )
            .to_owned(),
        ],
        [
            "level-triggered shapes behind `Arc<Mutex<dyn ...>>`: within 5% of the floor"
                .to_owned(),
            format!(
                "{} (0.4.2 with the same wrapper: {})",
                ratios(level, OURS_SHARED),
                ratios(level, THEIRS_SHARED)
            ),
            verdict(shared_level.iter().all(|ratio| *ratio <= 1.05)).to_owned(),
        ],
        [
            "drain: faster than the fastest peer of the same mode".to_owned(),
            format!(
                "level {:.3} (polling {:.3}); edge-triggered {:.3} (mio {:.3})",
                value(drain, OURS),
                value(drain, POLLING),
                value(drain, OURS_EDGE),
                value(drain, MIO)
            ),
            match (
                compare(drain, OURS, POLLING),
                compare(drain, OURS_EDGE, MIO),
            ) {
                (Comparison::Faster, Comparison::Faster) => "yes".to_owned(),
                (Comparison::Slower, _) | (_, Comparison::Slower) => "no".to_owned(),
                _ => "tie: the quartiles overlap".to_owned(),
            },
        ],
        [
            "churn: add + remove within 25% of two `epoll_ctl` calls".to_owned(),
            format!("{:.3}", value(churn, OURS)),
            verdict(value(churn, OURS) <= 1.25).to_owned(),
        ],
        [
            "endpoint round trip within 5% of the channel + eventfd ping-pong".to_owned(),
            format!(
                "{:.3} (0.4.2: {:.3})",
                value(endpoint, OURS),
                value(endpoint, THEIRS)
            ),
            verdict(value(endpoint, OURS) <= 1.05).to_owned(),
        ],
        [
            "memory: no more than event-manager 0.4.2".to_owned(),
            format!(
                "{:.1} against {:.1} bytes per subscriber, {:.1} against {:.1} per additional fd",
                ours_memory.per_subscriber,
                theirs_memory.per_subscriber,
                ours_memory.per_fd,
                theirs_memory.per_fd
            ),
            verdict(
                ours_memory.per_subscriber <= theirs_memory.per_subscriber
                    && ours_memory.per_fd <= theirs_memory.per_fd,
            )
            .to_owned(),
        ],
    ]
}

fn main() {
    let options = options();
    // Every single-threaded shape runs on core 0; endpoint loop threads on core 1.
    fds::pin_current_thread(0);
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
    let section = report::markdown(
        &shapes,
        &footprints,
        &targets(&shapes, &footprints),
        &context,
    );
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
