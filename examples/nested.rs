//! An `EventManager` nested in a tokio runtime, both on one thread.
//!
//! The manager's epoll fd is readable whenever one of its fds has an event,
//! so tokio can watch it like any other fd: `AsyncFd` owns the manager, and
//! a loop awaits `readable()`, then calls `run_with_timeout(0)`, which
//! dispatches what is ready without blocking the runtime's thread.
//!
//! Tokio watches fds edge-triggered, and `readable()` returns at once for as
//! long as the readiness it saw is not cleared. So the loop clears it only
//! once the manager is drained, when `run_with_timeout(0)` returns 0. Were
//! it cleared after one run while events were left (more than the manager's
//! ready list holds, or a level-triggered fd a subscriber left readable), no
//! new edge need come, and those events would wait until some other event
//! woke tokio.
//!
//! Here a tokio task sends numbers over a Unix socket pair; a subscriber of
//! the manager, at the other end, answers each with the next one. When the
//! task is done it closes its end, the subscriber sees the end of the
//! stream, and the loop gives the manager back.
//!
//! ```text
//! nested [--round-trips N]
//! ```
//!
//! - `--round-trips N` (default `1000`): how many numbers the task sends.
//! - `--help` prints what it does and its options; any other argument is
//!   an error.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use event_manager::{
    EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId, SubscriberOps,
};
use event_manager_examples::CommandLine;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};

/// Answers each number that comes on its socket with the next one.
struct Replier {
    socket: UnixStream,
    replies: u64,
    closed: bool,
}

impl MutEventSubscriber for Replier {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(err) = ops.add(Events::new(&self.socket, EventSet::IN)) {
            eprintln!("replier: cannot watch its socket: {err}");
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let mut number = [0u8; 8];
        let answered = match self.socket.read(&mut number) {
            Ok(8) => {
                let next = u64::from_le_bytes(number) + 1;
                self.socket.write_all(&next.to_le_bytes()).map(|()| true)
            }
            Ok(0) => Ok(false),
            Ok(short) => Err(std::io::Error::other(format!("{short} bytes, not 8"))),
            Err(err) if err.kind() == ErrorKind::WouldBlock => return,
            Err(err) => Err(err),
        };
        match answered {
            Ok(true) => self.replies += 1,
            result => {
                if let Err(err) = result {
                    eprintln!("replier: {err}");
                }
                // The task sees the end of the stream too, even on an error.
                let _ = self.socket.shutdown(Shutdown::Both);
                let _ = ops.remove(events);
                self.closed = true;
            }
        }
    }
}

/// Counts of the nesting loop, for the report.
#[derive(Default)]
struct Nesting {
    wake_ups: u64,
    runs: u64,
    dispatched: usize,
}

/// Hands the manager to tokio, whose reactor watches its epoll fd.
fn watch(manager: EventManager<Replier>) -> std::io::Result<AsyncFd<EventManager<Replier>>> {
    // SAFETY: tokio asks that the fd `as_raw_fd` gives be open, name the
    // same file and be the one it returns for as long as the `AsyncFd`
    // owns the value. An `EventManager`'s epoll fd is made with the
    // manager, never replaced, and closed only when the manager is
    // dropped, which cannot happen while the `AsyncFd` owns it (until
    // `into_inner` gives it back).
    let registered = unsafe { AsyncFd::register_with_interest(manager, Interest::READABLE) };
    registered.map_err(std::io::Error::from)
}

/// Runs the manager whenever its epoll fd is readable, until the replier
/// has closed its socket; then gives the manager back.
async fn run_nested(
    mut watched: AsyncFd<EventManager<Replier>>,
    replier: SubscriberId,
) -> Result<(EventManager<Replier>, Nesting), Box<dyn std::error::Error>> {
    let mut nesting = Nesting::default();
    loop {
        let mut ready = watched.readable_mut().await?;
        nesting.wake_ups += 1;
        let manager = ready.get_inner_mut();
        loop {
            nesting.runs += 1;
            // 0: epoll had nothing ready. (The manager also returns 0 on
            // EINTR, or for a batch of events all of fds removed during it;
            // here no signal handler runs and no fd is removed mid-batch.)
            match manager.run_with_timeout(0)? {
                0 => break,
                dispatched => nesting.dispatched += dispatched,
            }
        }
        let closed = manager.subscriber_mut(replier)?.closed;
        ready.clear_ready();
        if closed {
            return Ok((watched.into_inner(), nesting));
        }
    }
}

/// Sends `round_trips` numbers, each the answer to the one before, and
/// returns the last answer.
async fn send_numbers(
    mut socket: tokio::net::UnixStream,
    round_trips: u64,
) -> std::io::Result<u64> {
    let mut number = 0u64;
    for _ in 0..round_trips {
        socket.write_all(&number.to_le_bytes()).await?;
        let mut answer = [0u8; 8];
        socket.read_exact(&mut answer).await?;
        let answer = u64::from_le_bytes(answer);
        if answer != number + 1 {
            return Err(std::io::Error::other(format!(
                "{number} was answered with {answer}"
            )));
        }
        number = answer;
    }
    Ok(number)
}

fn command_line() -> CommandLine {
    CommandLine::new(
        "nested",
        "an event manager runs inside a tokio runtime, on the same thread",
    )
    .about(
        "A current-thread tokio runtime watches the manager's epoll fd through \
         AsyncFd and, each time it is readable, runs the manager without \
         blocking until nothing is left to dispatch. Beside it, a tokio task \
         sends numbers over a Unix socket pair to a subscriber of the manager, \
         which answers each with the next one. When every round trip is done \
         the task closes its socket, the manager is taken back from tokio, and \
         both sides print their counts.",
    )
    .option(
        "--round-trips",
        "N",
        1000,
        "how many numbers the tokio task sends and checks the answer to",
    )
}

/// `--round-trips N`: a positive number.
fn round_trips(command_line: &CommandLine) -> u64 {
    let mut round_trips = 1000;
    for (flag, value) in command_line.read_args() {
        match value.parse() {
            Ok(count) if count > 0 => round_trips = count,
            _ => command_line.fail(format!("{flag} takes a positive number, not `{value}`")),
        }
    }
    round_trips
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let round_trips = round_trips(&command_line());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let (manager_end, task_end) = UnixStream::pair()?;
        manager_end.set_nonblocking(true)?;
        task_end.set_nonblocking(true)?;

        let mut manager = EventManager::new()?;
        let replier = manager.add_subscriber(Replier {
            socket: manager_end,
            replies: 0,
            closed: false,
        });
        let watched = watch(manager)?;
        let task = tokio::spawn(send_numbers(
            tokio::net::UnixStream::from_std(task_end)?,
            round_trips,
        ));
        let (mut manager, nesting) = run_nested(watched, replier).await?;
        let last_answer = task.await??;

        println!("tokio task: {round_trips} round trips, last answer {last_answer}");
        println!(
            "event manager: {} replies; {} wake-ups of its epoll fd, {} runs, {} events dispatched",
            manager.remove_subscriber(replier)?.replies,
            nesting.wake_ups,
            nesting.runs,
            nesting.dispatched
        );
        Ok(())
    })
}
