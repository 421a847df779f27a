//! Adding and cancelling many timers: this crate's `Timers` (one timerfd,
//! an indexed heap) against calloop's `Timer` sources (one source per
//! timer, inserted into a loop and removed again). Reports the time per
//! timer for an add and a cancel, the heap bytes per timer while all are
//! pending, and the heap bytes still held once all are cancelled.
//!
//! Every deadline is an hour or more away, so none comes due: what is
//! measured is the bookkeeping, not the firing.

use std::time::{Duration, Instant};

use crate::memory::live_bytes;

pub const OURS: &str = "event-manager `Timers`";
pub const CALLOOP: &str = "calloop 0.14 `Timer` sources";

/// One implementation with one number of timers.
pub struct TimerCost {
    pub name: &'static str,
    pub count: usize,
    /// The rounds measured (fewer than asked when they took too long).
    pub rounds: usize,
    /// Median over rounds, in nanoseconds per timer (one add and one cancel).
    pub ns_per_timer: f64,
    /// Heap bytes per timer with all of them pending.
    pub peak_bytes_per_timer: f64,
    /// Heap bytes still held after all were cancelled (the first round's;
    /// the largest of any round, so a leak that grows shows).
    pub held_after_cancel: isize,
}

/// A name and its add-all-then-cancel-all cycle for a number of timers.
type Contender = (&'static str, fn(usize) -> Cycle);

/// What one add-all-then-cancel-all cycle measured.
struct Cycle {
    elapsed: Duration,
    peak: isize,
    held: isize,
}

/// The delay of the `index`-th timer: an hour plus up to a second, in an
/// order unrelated to the index, so the heaps are not fed sorted input.
fn delay(index: usize, count: usize) -> Duration {
    let spread = (index as u64).wrapping_mul(7919) % (count as u64).max(1);
    Duration::from_secs(3600) + Duration::from_micros(spread * 1_000_000 / count as u64)
}

fn ours(count: usize) -> Cycle {
    let mut timers = event_manager::Timers::<()>::new().expect("timerfd");
    // Made before the count starts: only the timers' bytes count.
    let mut ids = Vec::with_capacity(count);
    let delays: Vec<Duration> = (0..count).map(|index| delay(index, count)).collect();
    let before = live_bytes();
    let start = Instant::now();
    for delay in &delays {
        ids.push(timers.after(*delay, ()).expect("add a timer"));
    }
    let peak = live_bytes() - before;
    for id in ids.drain(..) {
        timers.cancel(id).expect("cancel a timer");
    }
    let elapsed = start.elapsed();
    let held = live_bytes() - before;
    assert!(timers.is_empty());
    Cycle {
        elapsed,
        peak,
        held,
    }
}

fn calloop(count: usize) -> Cycle {
    use calloop::timer::{TimeoutAction, Timer};

    let mut event_loop: calloop::EventLoop<'static, ()> =
        calloop::EventLoop::try_new().expect("event loop");
    let handle = event_loop.handle();
    let mut tokens = Vec::with_capacity(count);
    let delays: Vec<Duration> = (0..count).map(|index| delay(index, count)).collect();
    let before = live_bytes();
    let start = Instant::now();
    for delay in &delays {
        let token = handle
            .insert_source(Timer::from_duration(*delay), |_, _, _| TimeoutAction::Drop)
            .expect("insert a timer");
        tokens.push(token);
    }
    let peak = live_bytes() - before;
    for token in tokens.drain(..) {
        handle.remove(token);
    }
    let elapsed = start.elapsed();
    // One dispatch with nothing due, untimed, lets the loop finish any
    // clean-up it defers to its next iteration.
    event_loop
        .dispatch(Some(Duration::ZERO), &mut ())
        .expect("dispatch");
    let held = live_bytes() - before;
    Cycle {
        elapsed,
        peak,
        held,
    }
}

/// A contender's rounds at one count stop once its cycles took this long
/// in all: calloop's cancel scans its whole heap, so one cycle of 100,000
/// timers takes seconds, and 31 of them minutes.
pub const TIME_BUDGET: Duration = Duration::from_secs(2);

/// Measures both implementations at each count, up to `rounds` times each
/// on a fresh instance, alternating which goes first; a contender stops
/// early, after at least one round, once its rounds took [`TIME_BUDGET`].
pub fn measure(counts: &[usize], rounds: usize) -> Vec<TimerCost> {
    let contenders: [Contender; 2] = [(OURS, ours), (CALLOOP, calloop)];
    let mut costs = Vec::new();
    for &count in counts {
        eprintln!("timers: add and cancel {count}");
        let mut cycles: Vec<Vec<Cycle>> = contenders.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for offset in 0..contenders.len() {
                let index = (round + offset) % contenders.len();
                let spent: Duration = cycles[index].iter().map(|cycle| cycle.elapsed).sum();
                if spent < TIME_BUDGET || cycles[index].is_empty() {
                    cycles[index].push((contenders[index].1)(count));
                }
            }
        }
        for ((name, _), cycles) in contenders.iter().zip(&cycles) {
            let mut times: Vec<f64> = cycles
                .iter()
                .map(|cycle| cycle.elapsed.as_nanos() as f64 / count as f64)
                .collect();
            times.sort_by(f64::total_cmp);
            costs.push(TimerCost {
                name,
                count,
                rounds: cycles.len(),
                ns_per_timer: times[times.len() / 2],
                peak_bytes_per_timer: cycles[0].peak as f64 / count as f64,
                held_after_cancel: cycles.iter().map(|cycle| cycle.held).max().unwrap_or(0),
            });
        }
    }
    costs
}
