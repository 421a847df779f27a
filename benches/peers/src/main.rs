//! Measures event-manager against the event loops its users would pick
//! instead (event-manager 0.4.2, polling, calloop, mio) and a bare
//! `epoll_wait` floor, interleaved round by round in one process.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml
//! ```
//!
//! rewrites the last section of the workspace's BENCHMARKS.md and
//! `benches/peers/ratio-to-floor.svg` (both found from this crate's
//! manifest directory, whatever the current or target directory). To look
//! without writing, add `-- --no-write`; `-- --quick` is a short run that
//! writes nothing either; `-- --timers` runs only the timers measurement
//! (adding and cancelling many timers) and prints its table. `-- --help`
//! lists the flags.

use std::os::unix::io::RawFd;
use std::path::PathBuf;
use std::time::Duration;

use event_manager_peers::dispatch::{self, Calloop, Floor, Handler, Mio, Polling};
use event_manager_peers::fds::{self, FdSet};
use event_manager_peers::measure::{self, interleave, Entry, Plan};
use event_manager_peers::report::{self, ShapeResult};
use event_manager_peers::{churn, endpoint, memory, timers};

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
    timer_counts: &'static [usize],
    /// Only the timers measurement, printed, nothing written.
    timers_only: bool,
}

/// The numbers of timers the timers measurement adds and cancels; fewer
/// with `--quick`, which only checks that it runs.
const TIMER_COUNTS: [usize; 2] = [10_000, 100_000];
const QUICK_TIMER_COUNTS: [usize; 2] = [1_000, 10_000];

const USAGE: &str = "\
usage: event-manager-peers [--rounds N] [--sample-ms N] [--no-write | --quick | --timers]

Times every loop on every shape, interleaved round by round, prints the
section and, unless told not to, rewrites the last section of BENCHMARKS.md
and benches/peers/ratio-to-floor.svg.

  --rounds N      rounds per shape (default 31)
  --sample-ms N   the time of each loop in each round, in ms (default 10)
  --no-write      print the section only; write no file
  --quick         3 rounds of 1 ms (and 1,000 and 10,000 timers), to check
                  that every loop runs; writes no file
  --timers        only the timers measurement (add and cancel 10,000 and
                  100,000 timers); prints its table, writes no file
  --help          print this text
";

fn usage_error(message: &str) -> ! {
    eprintln!("error: {message}\n\n{USAGE}");
    std::process::exit(2);
}

fn options() -> Options {
    let mut options = Options {
        rounds: 31,
        sample_ms: 10,
        write: true,
        timer_counts: &TIMER_COUNTS,
        timers_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> u64 {
            args.next()
                .and_then(|value| value.parse().ok())
                .filter(|value| *value > 0)
                .unwrap_or_else(|| usage_error(&format!("{name} takes a positive number")))
        };
        match arg.as_str() {
            "--rounds" => options.rounds = number("--rounds") as usize,
            "--sample-ms" => options.sample_ms = number("--sample-ms"),
            "--quick" => {
                options.rounds = 3;
                options.sample_ms = 1;
                options.write = false;
                options.timer_counts = &QUICK_TIMER_COUNTS;
            }
            "--no-write" => options.write = false,
            "--timers" => {
                options.timers_only = true;
                options.write = false;
            }
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => usage_error(&format!("unknown argument {other}")),
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

/// Measures a shape's loops, then drops them: before the caller's fds,
/// which they watch.
fn measure_shape(
    title: &'static str,
    unit: &'static str,
    mut entries: Vec<Entry>,
    events_per_run: usize,
    plan: &Plan,
    prepare: Option<measure::Prepare<'_>>,
) -> ShapeResult {
    eprintln!("{title}");
    let rows = interleave(&mut entries, events_per_run, plan, prepare);
    drop(entries);
    ShapeResult { title, unit, rows }
}

/// The floor and every level-triggered loop; `fds(i)` gives the fds of
/// the `i`-th.
fn event_loops(fds: &dyn Fn(usize) -> Vec<RawFd>, handler: Handler) -> Vec<Entry> {
    vec![
        entry("floor (epoll_wait + index)", Floor::new(&fds(0), handler)),
        entry(OURS, dispatch::ours(&fds(1), handler)),
        entry(OURS_SHARED, dispatch::ours_shared(&fds(2), handler)),
        entry(THEIRS, dispatch::theirs(&fds(3), handler)),
        entry(THEIRS_SHARED, dispatch::theirs_shared(&fds(4), handler)),
        entry(POLLING, Polling::new(&fds(5), handler)),
        entry(CALLOOP, Calloop::new(&fds(6), handler)),
    ]
}

/// The level-triggered shapes: the fds stay ready, nothing is read, so
/// every loop can watch the same fds.
fn level_shape(title: &'static str, count: usize, ready_every: usize, plan: &Plan) -> ShapeResult {
    let fds = FdSet::new(count, ready_every);
    let raw = fds.raw();
    let entries = event_loops(&|_| raw.clone(), Handler::Count);
    measure_shape(
        title,
        "ns per event",
        entries,
        fds.ready_count(),
        plan,
        None,
    )
}

/// Every fd written before each run and read by its handler; mio joins in.
/// Each loop has fds of its own: a write to an fd that several epoll
/// instances watch wakes all of them, which would add the same cost to
/// every loop and squeeze the ratios towards 1.
fn drain_shape(plan: &Plan) -> ShapeResult {
    let title = "drain: 200 eventfds written before each run, read in the handler";
    let sets: Vec<FdSet> = (0..9).map(|_| FdSet::idle(200)).collect();
    let mut entries = event_loops(&|index| sets[index].raw(), Handler::Drain);
    // mio registers edge-triggered only; ours joins it in that mode.
    entries.push(entry(MIO, Mio::new(&sets[7].raw(), Handler::Drain)));
    entries.push(entry(
        OURS_EDGE,
        dispatch::ours_edge(&sets[8].raw(), Handler::Drain),
    ));
    let prepare = |index: usize| sets[index].write_all();
    measure_shape(title, "ns per event", entries, 200, plan, Some(&prepare))
}

fn churn_shape(plan: &Plan) -> ShapeResult {
    let title = "churn: register one fd and remove it";
    let fds = FdSet::idle(1);
    let fd = fds.raw()[0];
    let entries = vec![
        entry("floor (two epoll_ctl calls)", churn::FloorChurn::new(fd)),
        entry(OURS, churn::OursChurn::new(fd)),
        entry(THEIRS, churn::TheirsChurn::new(fd)),
        entry(POLLING, churn::PollingChurn::new(fd)),
        entry(CALLOOP, churn::CalloopChurn::new(fd)),
        entry(MIO, churn::MioChurn::new(fd)),
    ];
    measure_shape(title, "ns per add + remove", entries, 1, plan, None)
}

fn endpoint_shape(plan: &Plan) -> ShapeResult {
    let title = "endpoint: call_blocking round trip to a loop on another thread";
    let entries = vec![
        entry(
            "floor (channel + eventfd ping-pong)",
            endpoint::FloorPingPong::start(),
        ),
        entry(OURS, endpoint::OursRoundTrip::start()),
        entry(THEIRS, endpoint::TheirsRoundTrip::start()),
    ];
    measure_shape(title, "ns per round trip", entries, 1, plan, None)
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

/// Whether `ours` beat `peer` on `shape`, round by round: the quartiles of
/// `ours`'s time over `peer`'s in the same round both below 1 (faster),
/// both above (slower), or 1 between them (a tie).
fn compare(shape: &ShapeResult, ours: &str, peer: &str) -> Comparison {
    let row = |name: &str| shape.rows.iter().find(|row| row.name == name);
    let (Some(ours), Some(peer)) = (row(ours), row(peer)) else {
        return Comparison::Overlapping;
    };
    match measure::pairwise(ours, peer) {
        (_, _, high) if high < 1.0 => Comparison::Faster,
        (low, _, _) if low > 1.0 => Comparison::Slower,
        _ => Comparison::Overlapping,
    }
}

fn describe(comparison: &Comparison) -> &'static str {
    match comparison {
        Comparison::Faster => "yes",
        Comparison::Slower => "no",
        Comparison::Overlapping => "tie",
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
    // Per shape, the peer with the lowest median, and how ours compares to
    // it round by round.
    let against_best: Vec<(String, Comparison)> = level
        .iter()
        .map(|shape| {
            let best = peers
                .iter()
                .filter_map(|peer| ratio(shape, peer).map(|ratio| (*peer, ratio)))
                .min_by(|left, right| left.1.total_cmp(&right.1));
            match best {
                Some((peer, ratio)) => (format!("{peer} {ratio:.3}"), compare(shape, OURS, peer)),
                None => ("none".to_owned(), Comparison::Overlapping),
            }
        })
        .collect();
    let shared_level: Vec<f64> = level
        .iter()
        .filter_map(|shape| ratio(shape, OURS_SHARED))
        .collect();
    let value = |shape: &ShapeResult, name: &str| ratio(shape, name).unwrap_or(f64::NAN);
    vec![
        [
            "level-triggered shapes: within 5% of the floor".to_owned(),
            ratios(level, OURS),
            verdict(ours_level.iter().all(|ratio| *ratio <= 1.05)).to_owned(),
        ],
        [
            "level-triggered shapes: faster than every peer (round by round)".to_owned(),
            format!(
                "best peer per shape: {}",
                against_best
                    .iter()
                    .map(|(best, _)| best.as_str())
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
            against_best
                .iter()
                .map(|(_, comparison)| describe(comparison))
                .collect::<Vec<_>>()
                .join(" / "),
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
            "drain: faster than polling (level) / than mio (edge), round by round".to_owned(),
            format!(
                "level {:.3} (polling {:.3}); edge-triggered {:.3} (mio {:.3})",
                value(drain, OURS),
                value(drain, POLLING),
                value(drain, OURS_EDGE),
                value(drain, MIO)
            ),
            format!(
                "{} / {}",
                describe(&compare(drain, OURS, POLLING)),
                describe(&compare(drain, OURS_EDGE, MIO))
            ),
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
            "bytes per subscriber and per additional fd, in every case of the memory table"
                .to_owned(),
            verdict(footprints.iter().all(|case| {
                case.ours.per_subscriber <= case.theirs.per_subscriber
                    && case.ours.per_fd <= case.theirs.per_fd
            }))
            .to_owned(),
        ],
    ]
}

/// The chart, relative to the workspace root (and so in BENCHMARKS.md).
const CHART_FILE: &str = "benches/peers/ratio-to-floor.svg";

/// The files a writing run rewrites.
struct Files {
    benchmarks: PathBuf,
    chart: PathBuf,
}

/// Finds the files from this crate's manifest directory (two levels below
/// the workspace root), not from the current or the target directory, and
/// checks before measuring that BENCHMARKS.md is there.
fn files() -> Files {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("the workspace root, two levels above benches/peers");
    let files = Files {
        benchmarks: root.join("BENCHMARKS.md"),
        chart: root.join(CHART_FILE),
    };
    if !files.benchmarks.is_file() {
        usage_error(&format!(
            "{} not found; run with --no-write to only print the results",
            files.benchmarks.display()
        ));
    }
    files
}

fn main() {
    let options = options();
    let files = options.write.then(files);
    // Counted before pinning, which narrows what the process may use.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // Every single-threaded shape runs on core 0; endpoint loop threads on
    // core 1 (see `endpoint.rs`).
    let pinned = cores >= 2 && fds::pin_current_thread(0);
    if !pinned {
        eprintln!("warning: threads are not pinned; the endpoint figures depend on placement");
    }
    if options.timers_only {
        let costs = timers::measure(options.timer_counts, options.rounds);
        print!("{}", report::timers_section(&costs, options.rounds));
        return;
    }
    // Before the shapes, while no other thread allocates: the counter is
    // the whole process's.
    let timer_costs = timers::measure(options.timer_counts, options.rounds);
    let plan = Plan {
        rounds: options.rounds,
        sample: Duration::from_millis(options.sample_ms),
    };
    // First, while fd numbers are low; then with the numbers pushed up.
    let mut footprints: Vec<memory::Footprint> = [250, 500, 1000, 1500, 2000]
        .iter()
        .map(|&count| memory::footprint(count, 0))
        .collect();
    footprints.push(memory::footprint(1000, 10_000));
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
    let context = report::Context {
        command,
        rounds: options.rounds,
        sample_ms: options.sample_ms,
        chart_file: CHART_FILE,
        cores,
        pinned,
    };
    let section = report::markdown(
        &shapes,
        &footprints,
        &timer_costs,
        &targets(&shapes, &footprints),
        &context,
    );
    if let Some(files) = files {
        let document = std::fs::read_to_string(&files.benchmarks).expect("read BENCHMARKS.md");
        std::fs::write(&files.benchmarks, report::splice(&document, &section))
            .expect("write BENCHMARKS.md");
        std::fs::write(&files.chart, report::chart(&shapes)).expect("write the chart");
        println!("{section}");
        eprintln!(
            "wrote {} and {}",
            files.benchmarks.display(),
            files.chart.display()
        );
    } else {
        println!("{section}");
    }
}
