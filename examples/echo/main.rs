//! A TCP echo server on one `EventManager`, written with
//! `#[derive(MutEventSubscriber)]`, with a built-in load to prove it.
//!
//! The server is a single subscriber: the listener, a signalfd and an
//! optional "load finished" eventfd are fields with an `#[event]`
//! attribute each; every accepted connection is registered from a handler
//! with a data tag of its own (its slot in the connection table) and
//! reaches the `fallback` method. Sockets are non-blocking; a connection
//! asks for `OUT` only while some of its bytes wait to be written back,
//! and stops reading while too many do, so a slow reader neither spins
//! the loop nor grows the server's memory.
//!
//! ```text
//! echo [--listen ADDR] [--clients N] [--messages M] [--size BYTES]
//! ```
//!
//! - `--listen ADDR` (default `127.0.0.1:0`, any free port): where to
//!   listen; the bound address is printed on start.
//! - Without load flags it serves until SIGINT or SIGTERM.
//! - With any of `--clients N` (default 8), `--messages M` (default 1000)
//!   and `--size BYTES` (default 1024), it also starts N client threads
//!   that each send M messages of BYTES bytes and check every byte of the
//!   echo; it prints what was sent and how fast, and exits with 0 only if
//!   everything came back intact.
//!
//! `cargo run --release --example echo -- --clients 32 --messages 2000`

mod load;
mod server;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::thread;

use event_manager::{EventManager, SubscriberOps};
use event_manager_examples::StopSignals;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::load::{Load, LoadReport};
use crate::server::EchoServer;

const USAGE: &str = "usage: echo [--listen ADDR] [--clients N] [--messages M] [--size BYTES]";

/// The largest `--size`: each client thread holds two buffers this big.
const MAX_SIZE: usize = 16 * 1024 * 1024;

struct Options {
    listen: SocketAddr,
    load: Option<Load>,
}

/// The options, or `None` for `--help`.
fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut load = Load {
        clients: 8,
        messages: 1000,
        size: 1024,
    };
    let mut load_asked = false;
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let count = || -> Result<usize, String> {
            match value.parse::<usize>() {
                Ok(count) if count > 0 => Ok(count),
                _ => Err(format!("{flag} takes a positive number, not `{value}`")),
            }
        };
        match flag.as_str() {
            "--listen" => {
                listen = value.parse().map_err(|_| {
                    format!("--listen takes an address such as 127.0.0.1:7000, not `{value}`")
                })?;
            }
            "--clients" => load.clients = count()?,
            "--messages" => load.messages = count()?,
            "--size" => load.size = count()?,
            _ => return Err(format!("unknown option `{flag}`\n{USAGE}")),
        }
        load_asked |= flag != "--listen";
    }
    if load.size > MAX_SIZE {
        return Err(format!("--size is at most {MAX_SIZE} bytes"));
    }
    Ok(Some(Options {
        listen,
        load: load_asked.then_some(load),
    }))
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("echo: {err}");
            ExitCode::from(2)
        }
    }
}

/// Serves until stopped; with a load, returns whether it all came back.
fn run() -> Result<bool, Box<dyn std::error::Error>> {
    // Before any thread starts, so that the client threads inherit it.
    let signals = StopSignals::new()?;
    let Some(options) = parse_options(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(true);
    };

    let listener = TcpListener::bind(options.listen)
        .map_err(|err| format!("cannot listen on {}: {err}", options.listen))?;
    let address = listener.local_addr()?;
    let load_done = match options.load {
        Some(_) => Some(EventFd::new(EFD_NONBLOCK)?),
        None => None,
    };
    let load_thread = match (options.load, &load_done) {
        (Some(load), Some(done)) => {
            let done = done.try_clone()?;
            Some(thread::spawn(move || {
                // Stops the server however the load ends, even by a panic.
                let _stop_server = WriteOnDrop(done);
                load::run(address, load)
            }))
        }
        _ => None,
    };

    let mut manager = EventManager::<EchoServer>::new()?;
    let id = manager.add_subscriber(EchoServer::new(listener, signals, load_done)?);
    println!("listening on {address}");
    io::stdout().flush()?;

    let stopped_by = loop {
        manager.run()?;
        if let Some(reason) = manager.subscriber_mut(id)?.stopped_by() {
            break reason;
        }
    };
    let server = manager.remove_subscriber(id)?;
    let stats = server.stats();
    println!(
        "stopped by {stopped_by}: {} connections accepted, {} finished, {} failed, {} still open, {} bytes echoed",
        stats.accepted,
        stats.closed,
        stats.failed,
        server.open_connections(),
        stats.bytes_echoed,
    );
    drop(server);

    let Some(load_thread) = load_thread else {
        return Ok(true);
    };
    let report = load_thread.join().map_err(|_| "the load thread panicked")?;
    print_report(&report);
    Ok(report.failures.is_empty() && stats.failed == 0)
}

/// Writes its eventfd when dropped.
struct WriteOnDrop(EventFd);

impl Drop for WriteOnDrop {
    fn drop(&mut self) {
        if let Err(err) = self.0.write(1) {
            eprintln!("echo: cannot tell the server that the load ended: {err}");
        }
    }
}

fn print_report(report: &LoadReport) {
    let seconds = report.elapsed.as_secs_f64();
    let mebibytes = report.bytes as f64 / (1024.0 * 1024.0);
    let outcome = if report.failures.is_empty() {
        "verified".to_string()
    } else {
        format!(
            "{} of {} clients FAILED",
            report.failures.len(),
            report.clients
        )
    };
    println!(
        "load: {} connections, {} messages, {} bytes each way, {outcome}, in {:.3} s",
        report.connections, report.messages, report.bytes, seconds
    );
    println!(
        "load: {:.0} messages/s, {:.1} MiB/s each way",
        report.messages as f64 / seconds,
        mebibytes / seconds
    );
    for failure in &report.failures {
        println!("load: FAILED {failure}");
    }
}
