//! A counter subscriber and a small app around it, both written by hand
//! against the traits (no derive).
//!
//! Each counter watches one eventfd and adds up what is written to it. The
//! app registers a few counters, a producer thread writes to their
//! eventfds, and the loop runs until every write has been counted; then
//! the app removes the counters and prints what each one saw.
//!
//! Run it with `cargo run --example counter`. It takes no options;
//! `--help` says what it does, and any other argument is an error.

use std::sync::Arc;
use std::thread;

use event_manager::{
    EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId, SubscriberOps,
};
use event_manager_examples::CommandLine;
use vmm_sys_util::eventfd::EventFd;

/// Adds up the values written to its eventfd.
struct CounterSubscriber {
    doorbell: Arc<EventFd>,
    total: u64,
    wake_ups: u64,
}

impl CounterSubscriber {
    fn new() -> std::io::Result<Self> {
        Ok(CounterSubscriber {
            doorbell: Arc::new(EventFd::new(0)?),
            total: 0,
            wake_ups: 0,
        })
    }
}

impl MutEventSubscriber for CounterSubscriber {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(err) = ops.add(Events::new(self.doorbell.as_ref(), EventSet::IN)) {
            eprintln!("counter: cannot watch its eventfd: {err}");
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let set = events.event_set();
        if set.contains(EventSet::IN) {
            // Reading resets the eventfd's counter to zero and returns the
            // sum of everything written since the last read.
            match self.doorbell.read() {
                Ok(value) => {
                    self.total += value;
                    self.wake_ups += 1;
                }
                Err(err) => eprintln!("counter: read failed: {err}"),
            }
        }
        if set.intersects(EventSet::ERROR | EventSet::HANG_UP) {
            eprintln!("counter: its eventfd failed ({set:?}); no longer watching it");
            if let Err(err) = ops.remove(events) {
                eprintln!("counter: cannot stop watching: {err}");
            }
        }
    }
}

/// The manager and the ids of the counters it holds.
struct App {
    event_manager: EventManager<CounterSubscriber>,
    subscriber_ids: Vec<SubscriberId>,
}

impl App {
    fn new() -> event_manager::Result<Self> {
        Ok(App {
            event_manager: EventManager::new()?,
            subscriber_ids: Vec::new(),
        })
    }

    fn add_subscriber(&mut self) -> std::io::Result<Arc<EventFd>> {
        let counter = CounterSubscriber::new()?;
        let doorbell = Arc::clone(&counter.doorbell);
        let id = self.event_manager.add_subscriber(counter);
        self.subscriber_ids.push(id);
        Ok(doorbell)
    }

    fn counted(&mut self) -> u64 {
        let manager = &mut self.event_manager;
        self.subscriber_ids
            .iter()
            .map(|&id| manager.subscriber_mut(id).map_or(0, |c| c.total))
            .sum()
    }

    fn run(&mut self) -> event_manager::Result<usize> {
        self.event_manager.run_with_timeout(100)
    }
}

const COUNTERS: usize = 4;
const WRITES_PER_COUNTER: u64 = 1_000;

fn command_line() -> CommandLine {
    CommandLine::new(
        "counter",
        "subscribers written by hand add up what is written to their eventfds",
    )
    .about(format!(
        "It registers {COUNTERS} counter subscribers, written against the traits \
         without the derive, each watching an eventfd. A producer thread writes 1 to every \
         eventfd {WRITES_PER_COUNTER} times; the loop runs until every write is \
         counted. Then the counters are removed and each one's total is \
         printed; it exits with an error if a counter lost a write."
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    command_line().read_args();

    let mut app = App::new()?;
    let doorbells = (0..COUNTERS)
        .map(|_| app.add_subscriber())
        .collect::<Result<Vec<_>, _>>()?;

    let producer = thread::spawn(move || -> std::io::Result<()> {
        for _ in 0..WRITES_PER_COUNTER {
            for doorbell in &doorbells {
                doorbell.write(1)?;
            }
        }
        Ok(())
    });

    let expected = COUNTERS as u64 * WRITES_PER_COUNTER;
    let mut runs = 0u64;
    let mut dispatched = 0usize;
    while app.counted() < expected {
        dispatched += app.run()?;
        runs += 1;
    }
    producer.join().expect("producer thread panicked")?;

    println!("{COUNTERS} counters, {expected} writes, {runs} runs, {dispatched} events dispatched");
    for (index, id) in app.subscriber_ids.clone().into_iter().enumerate() {
        let counter = app.event_manager.remove_subscriber(id)?;
        println!(
            "counter {index}: total {} in {} wake-ups",
            counter.total, counter.wake_ups
        );
        if counter.total != WRITES_PER_COUNTER {
            return Err(format!("counter {index} lost writes").into());
        }
    }
    Ok(())
}
