//! Interleaved measurement: every round times each contender once, in an
//! order that rotates from round to round, so that drift on a shared
//! machine hits all of them alike. Each contender's ratio to the floor is
//! taken within the round, then the median over rounds is reported.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::dispatch::Contender;

/// A contender and its display name. The first entry of a shape is its floor.
pub struct Entry {
    pub name: &'static str,
    pub contender: Box<dyn Contender>,
}

/// What one contender measured on one shape.
pub struct Measured {
    pub name: &'static str,
    /// Nanoseconds per event (or per operation), one sample per round.
    pub samples: Vec<f64>,
    /// Median over rounds, in nanoseconds per event (or per operation).
    pub ns_per_event: f64,
    /// Median over rounds of the ratio to the floor's time in that round.
    pub ratio: f64,
    /// The 25th and 75th percentile of that ratio.
    pub ratio_quartiles: (f64, f64),
}

pub struct Plan {
    pub rounds: usize,
    pub sample: Duration,
}

/// Something to do, untimed, before each run of the entry at an index.
pub type Prepare<'a> = &'a dyn Fn(usize);

/// Times the entries of one shape. `events_per_run` is what every
/// `run_once` must return (a contender that dispatches another number is
/// broken, and the run stops). With `prepare`, each run is timed on its
/// own and `prepare(entry index)` runs untimed before it. Each entry is
/// calibrated on its own, so that every sample lasts about `plan.sample`.
pub fn interleave(
    entries: &mut [Entry],
    events_per_run: usize,
    plan: &Plan,
    prepare: Option<Prepare<'_>>,
) -> Vec<Measured> {
    let runs_per_sample: Vec<usize> = (0..entries.len())
        .map(|index| {
            calibrate(
                &mut entries[index],
                index,
                events_per_run,
                plan.sample,
                prepare,
            )
        })
        .collect();
    let mut per_event = vec![Vec::with_capacity(plan.rounds); entries.len()];
    for round in 0..plan.rounds {
        for offset in 0..entries.len() {
            let index = (round + offset) % entries.len();
            let runs = runs_per_sample[index];
            let elapsed = sample(&mut entries[index], index, runs, events_per_run, prepare);
            per_event[index].push(elapsed.as_nanos() as f64 / (runs * events_per_run) as f64);
        }
    }
    let floor = per_event[0].clone();
    entries
        .iter()
        .zip(&per_event)
        .map(|(entry, samples)| {
            let mut ratios: Vec<f64> = samples
                .iter()
                .zip(&floor)
                .map(|(own, floor)| own / floor)
                .collect();
            Measured {
                name: entry.name,
                samples: samples.clone(),
                ns_per_event: median(&mut samples.clone()),
                ratio: median(&mut ratios),
                ratio_quartiles: (quantile(&mut ratios, 0.25), quantile(&mut ratios, 0.75)),
            }
        })
        .collect()
}

fn calibrate(
    entry: &mut Entry,
    index: usize,
    events_per_run: usize,
    target: Duration,
    prepare: Option<Prepare<'_>>,
) -> usize {
    let mut runs = 1;
    loop {
        let elapsed = sample(entry, index, runs, events_per_run, prepare);
        if elapsed >= target / 4 || runs >= 1 << 24 {
            let per_run = elapsed.as_secs_f64() / runs as f64;
            return ((target.as_secs_f64() / per_run) as usize).max(1);
        }
        runs *= 2;
    }
}

fn sample(
    entry: &mut Entry,
    index: usize,
    runs: usize,
    events_per_run: usize,
    prepare: Option<Prepare<'_>>,
) -> Duration {
    let check = |dispatched: usize| {
        assert_eq!(
            dispatched, events_per_run,
            "{} dispatched {dispatched} events instead of {events_per_run}",
            entry.name
        );
    };
    match prepare {
        None => {
            let start = Instant::now();
            for _ in 0..runs {
                let dispatched = black_box(entry.contender.run_once());
                if dispatched != events_per_run {
                    check(dispatched);
                }
            }
            start.elapsed()
        }
        Some(prepare) => {
            let mut elapsed = Duration::ZERO;
            for _ in 0..runs {
                prepare(index);
                let start = Instant::now();
                let dispatched = black_box(entry.contender.run_once());
                elapsed += start.elapsed();
                check(dispatched);
            }
            elapsed
        }
    }
}

/// The median and quartiles, over rounds, of `ours`'s time divided by
/// `peer`'s in the same round: below 1 means `ours` was faster.
pub fn pairwise(ours: &Measured, peer: &Measured) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = ours
        .samples
        .iter()
        .zip(&peer.samples)
        .map(|(ours, peer)| ours / peer)
        .collect();
    (
        quantile(&mut ratios, 0.25),
        quantile(&mut ratios, 0.5),
        quantile(&mut ratios, 0.75),
    )
}

fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let position = q * (values.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    values[low] + (values[high] - values[low]) * (position - low as f64)
}
