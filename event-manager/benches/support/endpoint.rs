//! `RemoteEndpoint::call_blocking` to a manager that runs on another
//! thread, timed twice: with the caller and the loop's thread pinned to the
//! same core (every round trip switches threads on that core), then to two
//! cores (every round trip wakes the other core). Left to the scheduler, a
//! run lands in either case or between them, so the row would change from
//! run to run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use criterion::Criterion;
use event_manager::EventManager;

use super::Counter;

pub fn endpoint(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let Some(allowed) = affinity() else {
        eprintln!("endpoint: cannot read this thread's CPU affinity; skipped");
        return;
    };
    let mut group = c.benchmark_group("endpoint");
    group.throughput(criterion::Throughput::Elements(1));
    for (name, loop_cpu) in [
        ("call_blocking_one_core", 0),
        ("call_blocking_two_cores", 1),
    ] {
        if loop_cpu >= cores || !pin(0) {
            eprintln!("endpoint: cannot pin to cores 0 and {loop_cpu}; {name} skipped");
            continue;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let loop_stop = Arc::clone(&stop);
        let (endpoint_sender, endpoint) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let pinned = pin(loop_cpu);
            let mut manager = EventManager::<Counter>::new().expect("manager");
            endpoint_sender
                .send(pinned.then(|| manager.remote_endpoint()))
                .expect("endpoint");
            while pinned && !loop_stop.load(Ordering::Relaxed) {
                manager.run().expect("run");
            }
        });
        match endpoint.recv().expect("endpoint") {
            Some(endpoint) => {
                group.bench_function(name, |b| {
                    b.iter(|| {
                        endpoint
                            .call_blocking(|_ops| Ok::<_, event_manager::Error>(()))
                            .expect("call_blocking")
                    })
                });
                endpoint
                    .fire(move |_ops| stop.store(true, Ordering::Relaxed))
                    .expect("stop the loop");
            }
            None => eprintln!("endpoint: cannot pin the loop to core {loop_cpu}; {name} skipped"),
        }
        thread.join().expect("loop thread");
    }
    group.finish();
    set_affinity(&allowed);
}

/// The calling thread's CPU affinity.
fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: `cpu_set_t` is plain data for which all-zero bytes are a
    // valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is the
    // calling thread.
    let read = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    (read == 0).then_some(set)
}

fn set_affinity(set: &libc::cpu_set_t) -> bool {
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is the
    // calling thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) == 0 }
}

/// Pins the calling thread to `cpu`; returns whether the kernel agreed.
fn pin(cpu: usize) -> bool {
    // SAFETY: as in `affinity`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of_val(&set) {
        return false;
    }
    // SAFETY: `cpu` is below the set's capacity (checked above) and `set`
    // is a valid `cpu_set_t`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}
