//! The loop on a thread of its own, driven from other threads through a
//! `RemoteEndpoint` (the `remote_endpoint` feature).
//!
//! Each worker thread asks the loop to add a counter subscriber, writes to
//! the counter's eventfd directly, changes the counter's interest with a
//! `fire` request (no reply awaited), and finally asks the loop to remove
//! the counter and hand it back. Whatever the loop had not yet read is
//! still in the eventfd, so the worker checks that the counted and the
//! unread values add up to what it wrote. Then `main` stops the loop with
//! one more request and joins its thread.
//!
//! Run it with `cargo run --example remote`. It takes no options;
//! `--help` says what it does, and any other argument is an error.

use std::io;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use event_manager::{Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber};
use event_manager_examples::CommandLine;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

const WORKERS: u64 = 4;
const WRITES: u64 = 10_000;

/// Adds up what is written to its eventfd.
struct Counter {
    doorbell: EventFd,
    counted: u64,
}

impl MutEventSubscriber for Counter {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(err) = ops.add(Events::new(&self.doorbell, EventSet::IN)) {
            eprintln!("counter: cannot watch its eventfd: {err}");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        match self.doorbell.read() {
            Ok(value) => self.counted += value,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => eprintln!("counter: read failed: {err}"),
        }
    }
}

/// What a worker saw once its counter came back.
struct WorkerReport {
    counted_by_loop: u64,
    left_in_eventfd: u64,
}

fn run_worker(
    endpoint: event_manager::RemoteEndpoint<Counter>,
) -> Result<WorkerReport, Box<dyn std::error::Error + Send + Sync>> {
    let doorbell = EventFd::new(EFD_NONBLOCK)?;
    // The worker writes through a duplicate; requests name the registered
    // fd by its number.
    let writer = doorbell.try_clone()?;
    let doorbell_fd = doorbell.as_raw_fd();
    let counter = Counter {
        doorbell,
        counted: 0,
    };
    // The closure runs on the loop's thread; its result comes back here.
    let id = endpoint
        .call_blocking(move |ops| -> Result<_, Error> { Ok(ops.add_subscriber(counter)) })?;

    for written in 1..=WRITES {
        writer.write(1)?;
        if written == WRITES / 2 {
            // Edge-triggered from now on. `fire` queues the change and
            // returns at once, so a failure is reported from the loop.
            endpoint.fire(move |ops| {
                let interest =
                    Events::new_raw(doorbell_fd, EventSet::IN | EventSet::EDGE_TRIGGERED);
                if let Err(err) = ops.event_ops(id).and_then(|ops| ops.modify(interest)) {
                    eprintln!("counter: cannot switch to edge-triggered: {err}");
                }
            })?;
        }
    }

    let counter = endpoint.call_blocking(move |ops| ops.remove_subscriber(id))?;
    let left_in_eventfd = match writer.read() {
        Ok(value) => value,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
        Err(err) => return Err(err.into()),
    };
    Ok(WorkerReport {
        counted_by_loop: counter.counted,
        left_in_eventfd,
    })
}

fn command_line() -> CommandLine {
    CommandLine::new(
        "remote",
        "the loop on a thread of its own, driven through a RemoteEndpoint",
    )
    .about(format!(
        "Each of {WORKERS} worker threads asks the loop to add a counter subscriber, \
         writes {WRITES} times to the counter's eventfd, switches the counter to \
         edge-triggered halfway with a `fire` request, and asks the loop to \
         remove the counter and hand it back. It checks that what the loop \
         counted plus what is still unread in the eventfd adds up to what it \
         wrote. Then one more request stops the loop; it exits with an error \
         if a worker's writes do not add up."
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    command_line().read_args();
    let mut manager = EventManager::<Counter>::new()?;
    let endpoint = manager.remote_endpoint();
    let stop = Arc::new(AtomicBool::new(false));

    let event_loop = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || -> event_manager::Result<u64> {
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) {
                manager.run()?;
                runs += 1;
            }
            Ok(runs)
        })
    };

    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let endpoint = endpoint.clone();
            thread::spawn(move || run_worker(endpoint).map_err(|err| err.to_string()))
        })
        .collect();

    let mut failed = false;
    for (index, worker) in workers.into_iter().enumerate() {
        let report = worker.join().map_err(|_| "a worker thread panicked")??;
        let total = report.counted_by_loop + report.left_in_eventfd;
        println!(
            "worker {index}: wrote {WRITES}; the loop counted {}, {} still unread at removal",
            report.counted_by_loop, report.left_in_eventfd
        );
        failed |= total != WRITES;
    }

    // The last request: set the flag on the loop's thread, so the `run`
    // that serves it is the last one.
    endpoint.call_blocking(move |_ops| -> Result<(), Error> {
        stop.store(true, Ordering::Relaxed);
        Ok(())
    })?;
    let runs = event_loop
        .join()
        .map_err(|_| "the loop thread panicked")??;
    println!("loop: stopped after {runs} runs");

    if failed {
        return Err("a worker's writes do not add up".into());
    }
    Ok(())
}
