//! A device model written with `#[derive(MutEventSubscriber)]`, sharing a
//! manager with a subscriber written by hand.
//!
//! The device watches three fds, one handler each:
//!
//! - `kick`: an eventfd that a "vCPU" thread writes to, the way a guest
//!   notifies a queue;
//! - `ticks`: a `Timers` with one periodic timer, for housekeeping (here: a
//!   status line);
//! - `backend`: an `Option<UnixStream>` that is `None` at start. The first
//!   kick connects the device to its backend (a thread at the other end of
//!   a socket pair) and registers the socket from the handler; from then on
//!   each kick is forwarded to the backend, whose replies come back on it.
//!
//! Beside it, a hand-written `Shutdown` subscriber watches `Signals` (a
//! signalfd for SIGINT and SIGTERM) and, when one arrives, stops the loop
//! through a `StopHandle`; `main` runs the loop with `run_until_stopped`.
//! Both subscribers live in one `EventManager<Box<dyn MutEventSubscriber +
//! Send>>`.
//!
//! ```text
//! device [--ticks N]
//! ```
//!
//! - `--ticks N` (default `none`): after N ticks of the 200 ms timer, the
//!   device sends itself SIGTERM (`Signals::send_to_process`), so it stops
//!   through the same path as Ctrl-C. Without it, it runs until SIGINT or
//!   SIGTERM.
//! - `--help` prints what it does and its options; any other argument is
//!   an error.
//!
//! `cargo run --example device` runs until Ctrl-C; `cargo run --example
//! device -- --ticks 3` stops by itself after three ticks.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use event_manager::{
    EventManager, EventOps, EventSet, Events, MutEventSubscriber, Signals, StopHandle,
    SubscriberOps, Timers,
};
use event_manager_examples::CommandLine;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

const TICK_PERIOD: Duration = Duration::from_millis(200);
const KICK_PERIOD: Duration = Duration::from_millis(30);

/// What the device has done, shared with `main` for the final report.
#[derive(Default)]
struct DeviceStats {
    kicks: AtomicU64,
    ticks: AtomicU64,
    requests: AtomicU64,
    replies: AtomicU64,
}

#[derive(MutEventSubscriber)]
#[event(fd = kick, handler = on_kick)]
#[event(fd = ticks, handler = on_tick)]
#[event(fd = backend, handler = on_backend)]
struct Device {
    kick: EventFd,
    /// One periodic timer: the housekeeping tick.
    ticks: Timers,
    /// After this many ticks the device asks the process to stop.
    ticks_to_run: Option<u64>,
    backend: Option<UnixStream>,
    backend_thread: Option<JoinHandle<io::Result<()>>>,
    replies: Vec<u8>,
    stats: Arc<DeviceStats>,
}

impl Device {
    fn new(
        stats: Arc<DeviceStats>,
        ticks_to_run: Option<u64>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut ticks = Timers::new()?;
        ticks.every(TICK_PERIOD, ())?;
        Ok(Device {
            kick: EventFd::new(EFD_NONBLOCK)?,
            ticks,
            ticks_to_run,
            backend: None,
            backend_thread: None,
            replies: Vec::new(),
            stats,
        })
    }

    fn on_kick(&mut self, _events: Events, ops: &mut EventOps) {
        // One read returns every write since the last one, added up.
        let kicks = match self.kick.read() {
            Ok(kicks) => kicks,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
            Err(err) => return eprintln!("device: reading the kick eventfd failed: {err}"),
        };
        self.stats.kicks.fetch_add(kicks, Ordering::Relaxed);
        if self.backend.is_none() {
            if let Err(err) = self.connect_backend(ops) {
                return eprintln!("device: cannot connect the backend: {err}");
            }
        }
        if let Some(backend) = &mut self.backend {
            // A request is one short line; the socket buffer has room for
            // thousands of them, so this write does not block the loop.
            // One write per request line, so a full socket refuses a whole
            // line instead of splitting it.
            let request = format!("{kicks}\n");
            match backend.write(request.as_bytes()) {
                Ok(written) if written == request.len() => {
                    self.stats.requests.fetch_add(1, Ordering::Relaxed);
                }
                Ok(written) => eprintln!("device: the backend took {written} bytes of a request"),
                Err(err) => eprintln!("device: the backend refused a request: {err}"),
            }
        }
    }

    /// Starts the backend thread and watches the device's end of the
    /// socket, from inside a handler.
    fn connect_backend(&mut self, ops: &mut EventOps) -> io::Result<()> {
        // A backend that went away earlier: collect its thread first.
        self.disconnect_backend()?;
        let (device_end, backend_end) = UnixStream::pair()?;
        device_end.set_nonblocking(true)?;
        // `attach_backend` comes from the derive: it registers the field
        // as its `#[event]` says, so that its events reach `on_backend`.
        self.backend = Some(device_end);
        if let Err(err) = self.attach_backend(ops) {
            self.backend = None;
            return Err(io::Error::other(format!(
                "register the backend socket: {err}"
            )));
        }
        self.backend_thread = Some(thread::spawn(move || run_backend(backend_end)));
        println!("device: backend connected");
        Ok(())
    }

    fn on_tick(&mut self, _events: Events, _ops: &mut EventOps) {
        // A tick that came late (a busy loop) fires once, not once per
        // missed period: every tick below is one status line.
        while self.ticks.pop_expired().is_some() {
            let ticks = self.stats.ticks.fetch_add(1, Ordering::Relaxed) + 1;
            println!(
                "device: tick {ticks}: {} kicks, {} requests, {} replies",
                self.stats.kicks.load(Ordering::Relaxed),
                self.stats.requests.load(Ordering::Relaxed),
                self.stats.replies.load(Ordering::Relaxed),
            );
            if self.ticks_to_run == Some(ticks) {
                // The path a Ctrl-C takes: the Shutdown subscriber reads
                // the signal and stops the loop.
                if let Err(err) = Signals::send_to_process(libc::SIGTERM) {
                    eprintln!("device: cannot send itself SIGTERM: {err}");
                }
            }
        }
    }

    fn on_backend(&mut self, events: Events, ops: &mut EventOps) {
        let Some(backend) = &mut self.backend else {
            return;
        };
        let mut chunk = [0u8; 4096];
        let closed = match backend.read(&mut chunk) {
            Ok(0) => true,
            Ok(read) => {
                self.replies.extend_from_slice(&chunk[..read]);
                false
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => false,
            Err(err) => {
                eprintln!("device: reading the backend failed: {err}");
                true
            }
        };
        self.count_replies();
        if closed || events.event_set().contains(EventSet::HANG_UP) {
            println!("device: backend disconnected");
            if let Err(err) = self.detach_backend(ops) {
                eprintln!("device: cannot stop watching the backend: {err}");
            }
            self.backend = None;
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Err(err) = self.disconnect_backend() {
            eprintln!("device: disconnecting the backend failed: {err}");
        }
    }
}

impl Device {
    /// Tells the backend there are no more requests, takes the replies to
    /// those it has, and joins its thread.
    fn disconnect_backend(&mut self) -> io::Result<()> {
        if let Some(mut backend) = self.backend.take() {
            backend.shutdown(net::Shutdown::Write)?;
            backend.set_nonblocking(false)?;
            backend.read_to_end(&mut self.replies)?;
            self.count_replies();
        }
        match self.backend_thread.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(err))) => Err(err),
            Some(Err(_)) => Err(io::Error::other("the backend thread panicked")),
        }
    }

    /// Counts the complete reply lines; keeps a partial one for later.
    fn count_replies(&mut self) {
        if let Some(end) = self.replies.iter().rposition(|&byte| byte == b'\n') {
            let lines = self.replies[..=end].iter().filter(|&&b| b == b'\n').count();
            self.stats
                .replies
                .fetch_add(lines as u64, Ordering::Relaxed);
            self.replies.drain(..=end);
        }
    }
}

/// The backend: answers each request line with `done N`, until the device
/// closes its end.
fn run_backend(socket: UnixStream) -> io::Result<()> {
    let mut replies = socket.try_clone()?;
    for request in BufReader::new(socket).lines() {
        replies.write_all(format!("done {}\n", request?).as_bytes())?;
    }
    Ok(())
}

/// Stops the loop when SIGINT or SIGTERM arrives; written by hand.
struct Shutdown {
    signals: Signals,
    stop: StopHandle,
}

impl MutEventSubscriber for Shutdown {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(err) = ops.add(Events::new(&self.signals, EventSet::IN)) {
            eprintln!("shutdown: cannot watch the signals: {err}");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        loop {
            let signal = match self.signals.read() {
                Ok(Some(info)) => info.signal,
                Ok(None) => return,
                Err(err) => return eprintln!("shutdown: reading the signals failed: {err}"),
            };
            let name = if signal == libc::SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            println!("shutdown: {name} received, stopping");
            // The rest of this batch is still dispatched; then
            // `run_until_stopped` returns.
            if let Err(err) = self.stop.stop() {
                eprintln!("shutdown: cannot stop the loop: {err}");
            }
        }
    }
}

fn command_line() -> CommandLine {
    CommandLine::new(
        "device",
        "a device model written with the derive, beside a subscriber written by hand",
    )
    .about(format!(
        "The device watches three fds: a kick eventfd, written by a \"vCPU\" \
         thread every {} ms; a {} ms timer, whose ticks print a status line; \
         and a socket to a backend thread, which the first kick connects from \
         inside a handler, after which each kick becomes a request to the \
         backend. A hand-written subscriber stops the loop on SIGINT or \
         SIGTERM; then the device prints what it did.",
        KICK_PERIOD.as_millis(),
        TICK_PERIOD.as_millis(),
    ))
    .option(
        "--ticks",
        "N",
        "none",
        format!(
            "after N ticks of the {} ms timer, send itself SIGTERM and so stop \
             the way Ctrl-C does; without it, run until SIGINT or SIGTERM",
            TICK_PERIOD.as_millis()
        ),
    )
}

/// `--ticks N`: how many ticks to run before stopping by itself.
fn ticks_to_run(command_line: &CommandLine) -> Option<u64> {
    let mut ticks = None;
    for (flag, value) in command_line.read_args() {
        match (flag, value.parse()) {
            ("--ticks", Ok(count)) => ticks = Some(count),
            _ => command_line.fail(format!("{flag} takes a number, not `{value}`")),
        }
    }
    ticks
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Before any thread starts, so that every thread inherits the mask.
    let signals = Signals::new(&[libc::SIGTERM, libc::SIGINT])?;
    let ticks_to_run = ticks_to_run(&command_line());
    let stats = Arc::new(DeviceStats::default());

    let mut manager = EventManager::<Box<dyn MutEventSubscriber + Send>>::new()?;
    let device = Device::new(Arc::clone(&stats), ticks_to_run)?;
    let guest_kick = device.kick.try_clone()?;
    let device_id = manager.add_subscriber(Box::new(device));
    let stop = manager.stop_handle()?;
    let shutdown_id = manager.add_subscriber(Box::new(Shutdown { signals, stop }));

    // The "vCPU": kicks the device until the loop has stopped.
    let guest_running = Arc::new(AtomicBool::new(true));
    let guest = {
        let running = Arc::clone(&guest_running);
        thread::spawn(move || -> io::Result<u64> {
            let mut sent = 0;
            while running.load(Ordering::Relaxed) {
                guest_kick.write(1)?;
                sent += 1;
                thread::sleep(KICK_PERIOD);
            }
            Ok(sent)
        })
    };

    println!("device: running; Ctrl-C or SIGTERM stops it");
    manager.run_until_stopped()?;
    guest_running.store(false, Ordering::Relaxed);

    let kicks_sent = guest.join().map_err(|_| "the guest thread panicked")??;
    // Removing the device drops it, which disconnects its backend after
    // taking the replies to every request.
    drop(manager.remove_subscriber(device_id)?);
    drop(manager.remove_subscriber(shutdown_id)?);
    let requests = stats.requests.load(Ordering::Relaxed);
    let replies = stats.replies.load(Ordering::Relaxed);
    println!(
        "device: stopped after {} ticks; {kicks_sent} kicks sent, {} received, {requests} requests, {replies} replies",
        stats.ticks.load(Ordering::Relaxed),
        stats.kicks.load(Ordering::Relaxed),
    );
    if replies != requests {
        return Err("the backend did not answer every request".into());
    }
    Ok(())
}
