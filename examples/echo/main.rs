//! A TCP echo server on one `EventManager`, written with
//! `#[derive(MutEventSubscriber)]`, with a built-in load to prove it.
//!
//! The server is a single subscriber: the listener, its `Signals` (SIGINT
//! and SIGTERM), an optional "load finished" eventfd and its `Timers` are
//! fields with an `#[event]` attribute each, and one more `#[event]` covers
//! the connection table,
//! a `Vec` of slots: an accepted connection takes a free slot and is
//! attached with the generated `attach_connections(slot, ...)`, and its
//! events reach `on_connection` with the slot's index. No data tag is
//! written by hand. Sockets are non-blocking; a connection
//! asks for `OUT` only while some of its bytes wait to be written back,
//! and stops reading while too many do, so a slow reader neither spins
//! the loop nor grows the server's memory. A signal or the end of the load
//! makes the server call its `StopHandle`; `main` runs the loop with
//! `run_until_stopped`.
//!
//! ```text
//! echo [--listen ADDR] [--idle-timeout SECONDS] [--clients N] [--messages M] [--size BYTES]
//! ```
//!
//! - `--listen ADDR` (default `127.0.0.1:0`): where to listen; port 0 takes
//!   any free port. The bound address is the first line printed.
//! - `--idle-timeout SECONDS` (default `none`): close a connection on which
//!   no byte has gone either way for this long; decimals such as `0.2` are
//!   accepted. Each connection gets a timer when it is accepted, moved on
//!   by every read or write and cancelled when it closes; all of them share
//!   one `Timers`. Each idle close is logged on stderr, and the final line
//!   counts them. Without it, connections stay open until their client
//!   closes them.
//! - `--clients N` (default `8`): client threads of the built-in load.
//! - `--messages M` (default `1000`): messages each client sends.
//! - `--size BYTES` (default `1024`): bytes in each message, at most 16 MiB.
//! - `--help` prints what it does and its options; any other argument is
//!   an error, reported with the usage on stderr (exit status 2).
//!
//! Without `--clients`, `--messages` or `--size`, it serves until SIGINT or
//! SIGTERM, logging each connection on stderr. With any of them it also
//! starts the load (the others take their defaults): N client threads
//! that each send M messages of BYTES bytes and check every byte of the
//! echo. Its output follows the run: the listening address, the load, the
//! traffic and throughput, whether every byte was verified, and how the
//! server stopped. It exits with 0 if all went well, 1 if a byte of the
//! load was not verified or a connection failed during the load, and 2
//! for a bad command line or a server that cannot start.
//!
//! `cargo run --release --example echo -- --clients 32 --messages 2000`

mod load;
mod server;

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use event_manager::{EventManager, Signals, SubscriberOps};
use event_manager_examples::{CommandLine, USAGE_ERROR};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::load::{Load, LoadReport};
use crate::server::{EchoServer, ServerStats};

/// Loopback, on any free port.
const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The load when only some of its options are given.
const DEFAULT_LOAD: Load = Load {
    clients: 8,
    messages: 1000,
    size: 1024,
};

/// The largest `--size`: each client thread holds two buffers this big.
const MAX_SIZE: usize = 16 * 1024 * 1024;

struct Options {
    listen: SocketAddr,
    idle_timeout: Option<Duration>,
    load: Option<Load>,
}

fn command_line() -> CommandLine {
    CommandLine::new(
        "echo",
        "a TCP echo server on one EventManager, with a built-in load to test it",
    )
    .about(
        "The server is one subscriber written with #[derive(MutEventSubscriber)]: \
         it watches the listener, SIGINT and SIGTERM through a signalfd, its \
         timers and every connection it accepts, and writes back each byte it \
         reads.",
    )
    .option(
        "--listen",
        "ADDR",
        DEFAULT_LISTEN,
        "where to listen; port 0 takes any free port, and the bound address is \
         the first line printed",
    )
    .option(
        "--idle-timeout",
        "SECONDS",
        "none",
        "close a connection on which no byte has gone either way for this \
         long, such as 0.2 or 30; each idle close is logged on stderr and \
         counted in the last line; without it, connections stay open until \
         their client closes them",
    )
    .option(
        "--clients",
        "N",
        DEFAULT_LOAD.clients,
        "client threads of the built-in load",
    )
    .option(
        "--messages",
        "M",
        DEFAULT_LOAD.messages,
        "messages each client sends",
    )
    .option(
        "--size",
        "BYTES",
        DEFAULT_LOAD.size,
        format!("bytes in each message, at most {MAX_SIZE} (16 MiB)"),
    )
    .note(
        "Without --clients, --messages or --size, it serves until SIGINT or \
         SIGTERM (Ctrl-C), logging each connection on stderr. With any of them \
         it also runs the load, the others taking their defaults: N client \
         threads each send M messages of BYTES bytes and check every byte that \
         comes back. It prints, in order, the listening address, the load, the \
         traffic and throughput, whether every byte was verified, and how the \
         server stopped.",
    )
    .note(
        "Exit status: 0 if all went well; 1 if a byte of the load was not \
         verified or a connection failed during the load; 2 for a bad command \
         line or a server that cannot start.",
    )
}

/// Turns the options given into what to run.
fn parse_options(given: Vec<(&'static str, String)>) -> Result<Options, String> {
    let mut options = Options {
        listen: DEFAULT_LISTEN,
        idle_timeout: None,
        load: None,
    };
    for (flag, value) in given {
        if flag == "--listen" {
            options.listen = value.parse().map_err(|_| {
                format!("--listen takes an address such as 127.0.0.1:7000, not `{value}`")
            })?;
            continue;
        }
        if flag == "--idle-timeout" {
            options.idle_timeout = Some(parse_seconds(&value).ok_or_else(|| {
                format!("--idle-timeout takes a positive number of seconds, at most a year, not `{value}`")
            })?);
            continue;
        }
        let count = match value.parse::<usize>() {
            Ok(count) if count > 0 => count,
            _ => return Err(format!("{flag} takes a positive number, not `{value}`")),
        };
        // Any load option starts the load; the others keep their defaults.
        let load = options.load.get_or_insert(DEFAULT_LOAD);
        match flag {
            "--clients" => load.clients = count,
            "--messages" => load.messages = count,
            "--size" => load.size = count,
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    if options.load.is_some_and(|load| load.size > MAX_SIZE) {
        return Err(format!("--size is at most {MAX_SIZE} bytes"));
    }
    Ok(options)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("echo: {err}");
            // The status of a bad command line: the run did not happen.
            ExitCode::from(USAGE_ERROR as u8)
        }
    }
}

/// A positive number of seconds, decimals allowed, that a `Duration` can
/// hold.
fn parse_seconds(value: &str) -> Option<Duration> {
    let seconds: f64 = value.parse().ok()?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|duration| !duration.is_zero() && *duration <= MAX_IDLE_TIMEOUT)
}

/// The longest `--idle-timeout`: a year. Far beyond any use, and far
/// below what the monotonic clock can add to the present.
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Serves until stopped; with a load, returns whether it all came back.
fn run() -> Result<bool, Box<dyn std::error::Error>> {
    // Before any thread starts, so that the client threads inherit it.
    let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM])?;
    let command_line = command_line();
    let options =
        parse_options(command_line.read_args()).unwrap_or_else(|err| command_line.fail(err));

    let listener = TcpListener::bind(options.listen)
        .map_err(|err| format!("cannot listen on {}: {err}", options.listen))?;
    let address = listener.local_addr()?;
    let load_done = match options.load {
        Some(_) => Some(EventFd::new(EFD_NONBLOCK)?),
        None => None,
    };
    let stop_server = load_done.as_ref().map(EventFd::try_clone).transpose()?;
    let mut manager = EventManager::<EchoServer>::new()?;
    let stop = manager.stop_handle()?;
    let server = EchoServer::new(listener, signals, stop, load_done, options.idle_timeout)?;
    let id = manager.add_subscriber(server);

    println!("listening on {address}");
    match options.load {
        Some(load) => println!(
            "load: {}, each sending {} of {} and checking every byte that comes back",
            count(load.clients, "client"),
            count(load.messages, "message"),
            count(load.size, "byte"),
        ),
        None => println!(
            "serving until SIGINT or SIGTERM; the clients choose the size of their messages"
        ),
    }
    io::stdout().flush()?;

    let load_thread = match (options.load, stop_server) {
        (Some(load), Some(done)) => Some(thread::spawn(move || {
            // Stops the server however the load ends, even by a panic.
            let _stop_server = WriteOnDrop(done);
            load::run(address, load)
        })),
        _ => None,
    };

    // The server stops it, on a signal or at the end of the load.
    manager.run_until_stopped()?;
    let server = manager.remove_subscriber(id)?;
    let stopped_by = server.stopped_by().unwrap_or("a stop request");
    let stats = server.stats();
    let still_open = server.open_connections();
    drop(server);

    let all_well = match load_thread {
        Some(load_thread) => {
            let report = load_thread.join().map_err(|_| "the load thread panicked")?;
            print_load_report(&report, &stats)
        }
        None => {
            println!(
                "traffic: {} echoed on {}, in messages of whatever size the clients sent",
                count(stats.bytes_echoed, "byte"),
                count(stats.accepted, "connection"),
            );
            true
        }
    };
    // Idle closes are counted only where there can be some.
    let idle_closed = match options.idle_timeout {
        Some(_) => format!(", {} closed as idle", stats.idle_closed),
        None => String::new(),
    };
    println!(
        "stopped by {stopped_by}: {} accepted, {} finished{idle_closed}, {} failed, {still_open} still open",
        count(stats.accepted, "connection"),
        stats.closed,
        stats.failed,
    );
    Ok(all_well)
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

/// Prints the traffic of the load and whether every byte came back;
/// returns whether all went well.
fn print_load_report(report: &LoadReport, server: &ServerStats) -> bool {
    let seconds = report.elapsed.as_secs_f64();
    let mebibytes = report.bytes as f64 / (1024.0 * 1024.0);
    let connections = if report.failures.is_empty() {
        count(report.connections, "connection")
    } else {
        format!(
            "the {} of {} connections that came back intact",
            report.connections, report.clients
        )
    };
    println!(
        "traffic: {} of {} on {connections}, {} ({mebibytes:.1} MiB) each way, in {seconds:.3} s",
        count(report.messages, "message"),
        count(report.size, "byte"),
        count(report.bytes, "byte"),
    );
    println!(
        "throughput: {:.0} messages/s, {:.1} MiB/s each way",
        report.messages as f64 / seconds,
        mebibytes / seconds
    );
    for failure in &report.failures {
        println!("FAILED {failure}");
    }
    let all_well = report.failures.is_empty() && server.failed == 0;
    if all_well {
        println!("result: verified, every byte of every message came back as it was sent");
    } else {
        println!(
            "result: FAILED, not every byte was verified: {} of {} clients failed, {} on the server",
            report.failures.len(),
            report.clients,
            count(server.failed, "connection failure"),
        );
    }
    all_well
}

/// `n` and `noun`, with an `s` unless `n` is 1.
fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    if n == N::from(1) {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
