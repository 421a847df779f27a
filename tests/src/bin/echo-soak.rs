//! A soak of the `echo` example: the server runs as a process of its own
//! while client threads open connections, exchange messages, and close
//! them, in a loop, for a given time; every few seconds the server's
//! resident memory (`VmRSS` in `/proc/<pid>/status`) and open fds
//! (`/proc/<pid>/fd`) are sampled and printed as a table row. Not run in
//! CI: BENCHMARKS.md ("Scale and soak") has the command and what a
//! 10-minute run gave.
//!
//! ```text
//! cargo build --release --example echo
//! cargo build --release -p event-manager-tests --bin echo-soak
//! taskset -c 1 target/release/echo-soak --seconds 600
//! ```
//!
//! (`taskset -c 1` keeps the server and the clients on one core.)
//!
//! `--help` lists the options: how long, how many client threads and
//! idle connections, how often to sample, where the echo binary is.
//!
//! Each client thread repeats one of three connections: most send 1 to 8
//! messages of 1 byte to 64 KiB, check every byte of the echo, shut down
//! their side and read the server's close; one in ten resets the
//! connection after its echo (`SO_LINGER` 0), and one in ten sends and
//! leaves without reading. When the time is up the clients stop, the idle
//! connections close, and once the server has logged every connection as
//! closed it is sampled once more and stopped with SIGTERM.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use event_manager_tests::fd_numbers;

/// How long a client waits for an echo before calling it lost.
const ECHO_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server may take to close its side of every connection
/// once the clients are gone.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest message a client sends.
const MAX_MESSAGE: usize = 64 * 1024;

struct Options {
    seconds: u64,
    clients: usize,
    idle: usize,
    interval: u64,
    server: Option<PathBuf>,
}

const USAGE: &str = "\
usage: echo-soak [--seconds N] [--clients N] [--idle N] [--interval SECONDS] [--server PATH]

Starts the echo example as a server process, loads it with connections
that open, exchange and close, and samples its VmRSS and open fds.

  --seconds N          how long the load runs [default: 600]
  --clients N          client threads opening connections [default: 4]
  --idle N             connections held open and idle throughout [default: 32]
  --interval SECONDS   time between samples [default: 5]
  --server PATH        the echo binary [default: examples/echo beside this one]

Exit status: 0 if every checked echo was intact and the server's fds came
back to their count before the first connection; 1 if not; 2 if the soak
could not run.";

const FLAGS: [&str; 5] = ["--seconds", "--clients", "--idle", "--interval", "--server"];

/// The options given, or `None` for `--help`.
fn parse_options() -> Result<Option<Options>, String> {
    let mut options = Options {
        seconds: 600,
        clients: 4,
        idle: 32,
        interval: 5,
        server: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown option `{flag}`"));
        }
        let value = args.next().ok_or_else(|| format!("{flag} takes a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes a number, not `{value}`"))
        };
        match flag.as_str() {
            "--seconds" => options.seconds = number()?,
            "--clients" => options.clients = number()? as usize,
            "--idle" => options.idle = number()? as usize,
            "--interval" => options.interval = number()?.max(1),
            "--server" => options.server = Some(PathBuf::from(&value)),
            _ => unreachable!("{flag} is one of FLAGS"),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("echo-soak: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match soak(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("echo-soak: {err}");
            ExitCode::from(2)
        }
    }
}

/// What the server's log says about its connections.
#[derive(Default)]
struct ServerLog {
    opened: u64,
    closed: u64,
    /// Closed with an error (resets and abandoned connections give some).
    closed_failed: u64,
    /// Lines that are neither: kept for the summary.
    other: Vec<String>,
}

/// What the clients did.
#[derive(Default)]
struct ClientCounts {
    connections: AtomicU64,
    clean: AtomicU64,
    resets: AtomicU64,
    abandoned: AtomicU64,
    bytes_checked: AtomicU64,
    failures: AtomicU64,
    first_failures: Mutex<Vec<String>>,
}

struct Sample {
    second: u64,
    rss_kb: u64,
    fds: usize,
}

fn soak(options: &Options) -> Result<bool, Box<dyn std::error::Error>> {
    let server_path = match &options.server {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("no directory around this binary")?
            .join("examples/echo"),
    };
    if !server_path.exists() {
        return Err(format!(
            "no echo server at {}: build it first (cargo build --release --example echo) \
             or give --server",
            server_path.display()
        )
        .into());
    }
    let mut server = Command::new(&server_path)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = server.id();
    let mut stdout = BufReader::new(server.stdout.take().ok_or("no stdout")?);
    let mut first = String::new();
    stdout.read_line(&mut first)?;
    let address: SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .parse()?;
    let log = Arc::new((Mutex::new(ServerLog::default()), Condvar::new()));
    let log_reader = {
        let stderr = server.stderr.take().ok_or("no stderr")?;
        let log = Arc::clone(&log);
        thread::spawn(move || read_log(stderr, &log))
    };

    println!(
        "echo-soak: server {} (pid {pid}) on {address}; {} s of load from {} client threads, \
         {} idle connections, a sample every {} s",
        server_path.display(),
        options.seconds,
        options.clients,
        options.idle,
        options.interval
    );
    let started = Instant::now();
    let baseline = sample(pid, 0)?;
    println!("   time   VmRSS kB   fds   open conns   connections   conn/s   failures");
    let counts = Arc::new(ClientCounts::default());
    print_row(&baseline, &log, &counts, 0);

    let idle: Vec<TcpStream> = (0..options.idle)
        .map(|_| open_idle(address))
        .collect::<io::Result<_>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..options.clients)
        .map(|client| {
            let (stop, counts) = (Arc::clone(&stop), Arc::clone(&counts));
            thread::spawn(move || run_client(address, client as u64, &stop, &counts))
        })
        .collect();

    let mut samples = vec![baseline];
    let mut previous_connections = 0;
    let mut tick = 1;
    while tick * options.interval <= options.seconds {
        let due = Duration::from_secs(tick * options.interval);
        thread::sleep(due.saturating_sub(started.elapsed()));
        let sample = sample(pid, due.as_secs())?;
        let connections = counts.connections.load(Ordering::Relaxed);
        print_row(
            &sample,
            &log,
            &counts,
            (connections - previous_connections) / options.interval,
        );
        previous_connections = connections;
        samples.push(sample);
        tick += 1;
    }

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().map_err(|_| "a client thread panicked")?;
    }
    drop(idle);
    let drained = wait_for_every_close(&log);
    let after = sample(pid, started.elapsed().as_secs())?;
    println!("after the load, once the server closed every connection:");
    print_row(&after, &log, &counts, 0);

    stop_server(&mut server)?;
    let mut rest = String::new();
    stdout.read_to_string(&mut rest)?;
    let status = server.wait()?;
    log_reader.join().map_err(|_| "the log reader panicked")?;
    let server_report = rest
        .lines()
        .map(|line| format!("  server: {line}"))
        .collect::<Vec<_>>()
        .join("\n");

    let middle = &samples[samples.len() / 2];
    let end = samples.last().unwrap_or(&after);
    let log = log.0.lock().unwrap();
    println!("summary:");
    for (name, sample) in [
        ("start", &samples[0]),
        ("middle", middle),
        ("end", end),
        ("after", &after),
    ] {
        println!(
            "  {name:<6} at {:>4} s: VmRSS {} kB, {} fds",
            sample.second, sample.rss_kb, sample.fds
        );
    }
    let (lowest, highest) = samples[1..]
        .iter()
        .fold((u64::MAX, 0), |(low, high), sample| {
            (low.min(sample.rss_kb), high.max(sample.rss_kb))
        });
    if lowest <= highest {
        println!("  under load: VmRSS between {lowest} and {highest} kB in the samples");
    }
    println!(
        "  clients: {} connections ({} clean, {} reset, {} abandoned), {} bytes echoed and checked, {} failures",
        counts.connections.load(Ordering::Relaxed),
        counts.clean.load(Ordering::Relaxed),
        counts.resets.load(Ordering::Relaxed),
        counts.abandoned.load(Ordering::Relaxed),
        counts.bytes_checked.load(Ordering::Relaxed),
        counts.failures.load(Ordering::Relaxed),
    );
    for failure in counts.first_failures.lock().unwrap().iter() {
        println!("  client failure: {failure}");
    }
    println!(
        "  server log: {} opened, {} closed ({} with an error); other lines: {}",
        log.opened,
        log.closed,
        log.closed_failed,
        log.other.len()
    );
    for line in log.other.iter().take(10) {
        println!("  server said: {line}");
    }
    println!("{server_report}\n  server exit: {status}");

    let fds_back = after.fds == samples[0].fds;
    let intact = counts.failures.load(Ordering::Relaxed) == 0;
    println!(
        "result: {}; fds {} -> {} ({}); every checked echo {}",
        if drained {
            "the server closed every connection"
        } else {
            "the server did NOT close every connection in time"
        },
        samples[0].fds,
        after.fds,
        if fds_back {
            "back to the start"
        } else {
            "NOT back to the start"
        },
        if intact { "intact" } else { "NOT intact" },
    );
    Ok(drained && fds_back && intact && status.success())
}

fn print_row(sample: &Sample, log: &(Mutex<ServerLog>, Condvar), counts: &ClientCounts, rate: u64) {
    let open = {
        let log = log.0.lock().unwrap();
        log.opened - log.closed
    };
    println!(
        "{:>7} {:>10} {:>5} {:>12} {:>13} {:>8} {:>10}",
        format!("{} s", sample.second),
        sample.rss_kb,
        sample.fds,
        open,
        counts.connections.load(Ordering::Relaxed),
        rate,
        counts.failures.load(Ordering::Relaxed),
    );
}

fn sample(pid: u32, second: u64) -> io::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok(Sample {
        second,
        rss_kb: field("VmRSS:"),
        fds: fd_numbers(&pid.to_string()).len(),
    })
}

/// Counts the server's "connection N from PEER opened/closed" lines.
fn read_log(stderr: impl Read, log: &(Mutex<ServerLog>, Condvar)) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let mut log_state = log.0.lock().unwrap();
        if line.starts_with("echo: connection ") && line.ends_with(" opened") {
            log_state.opened += 1;
        } else if line.starts_with("echo: connection ") && line.contains(" closed") {
            log_state.closed += 1;
            if !line.ends_with(" closed") {
                log_state.closed_failed += 1;
            }
        } else {
            log_state.other.push(line);
        }
        log.1.notify_all();
    }
}

/// Waits until the server has logged as many closes as opens.
fn wait_for_every_close(log: &(Mutex<ServerLog>, Condvar)) -> bool {
    let (state, changed) = log;
    let (state, timeout) = changed
        .wait_timeout_while(state.lock().unwrap(), DRAIN_TIMEOUT, |log| {
            log.closed < log.opened
        })
        .unwrap();
    drop(state);
    !timeout.timed_out()
}

fn stop_server(server: &mut Child) -> io::Result<()> {
    let pid = libc::pid_t::try_from(server.id()).map_err(io::Error::other)?;
    // SAFETY: kill takes no memory; `pid` is our child, not yet waited for,
    // so the number cannot belong to another process.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A connection that stays open and idle; one byte is echoed first, so
/// it is known to be accepted.
fn open_idle(address: SocketAddr) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(ECHO_TIMEOUT))?;
    stream.write_all(b"i")?;
    let mut byte = [0];
    stream.read_exact(&mut byte)?;
    Ok(stream)
}

fn run_client(address: SocketAddr, client: u64, stop: &AtomicBool, counts: &ClientCounts) {
    let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ (client + 1));
    let mut message = vec![0u8; MAX_MESSAGE];
    let mut echo = vec![0u8; MAX_MESSAGE];
    while !stop.load(Ordering::Relaxed) {
        let kind = random.below(10);
        let outcome = match kind {
            0 => reset(address, &mut random, &mut message, &mut echo),
            1 => abandon(address, &mut random, &mut message),
            _ => clean(address, &mut random, &mut message, &mut echo),
        };
        counts.connections.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(checked) => {
                counts.bytes_checked.fetch_add(checked, Ordering::Relaxed);
                let counter = match kind {
                    0 => &counts.resets,
                    1 => &counts.abandoned,
                    _ => &counts.clean,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                counts.failures.fetch_add(1, Ordering::Relaxed);
                let mut first = counts.first_failures.lock().unwrap();
                if first.len() < 10 {
                    first.push(format!("client {client}: {err}"));
                }
            }
        }
    }
}

fn connect(address: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(ECHO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends 1 to 8 messages, checks each echo, shuts down its side and
/// waits for the server's close. Returns the bytes checked.
fn clean(
    address: SocketAddr,
    random: &mut Random,
    message: &mut [u8],
    echo: &mut [u8],
) -> io::Result<u64> {
    let mut stream = connect(address)?;
    let mut checked = 0;
    for _ in 0..=random.below(8) {
        checked += exchange(&mut stream, random, message, echo)?;
    }
    stream.shutdown(Shutdown::Write)?;
    match stream.read(&mut echo[..1])? {
        0 => Ok(checked),
        _ => Err(io::Error::other("bytes after the echo")),
    }
}

/// One checked exchange, then a reset instead of a close.
fn reset(
    address: SocketAddr,
    random: &mut Random,
    message: &mut [u8],
    echo: &mut [u8],
) -> io::Result<u64> {
    let mut stream = connect(address)?;
    let checked = exchange(&mut stream, random, message, echo)?;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the socket is open; setsockopt reads `linger`, which we
    // own, for the size we give.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(checked)
}

/// Sends a message and closes without reading its echo.
fn abandon(address: SocketAddr, random: &mut Random, message: &mut [u8]) -> io::Result<u64> {
    let mut stream = connect(address)?;
    let size = 1 + random.below(MAX_MESSAGE as u64) as usize;
    random.fill(&mut message[..size]);
    stream.write_all(&message[..size])?;
    Ok(0)
}

/// Sends one message of 1 byte to 64 KiB and checks its echo.
fn exchange(
    stream: &mut TcpStream,
    random: &mut Random,
    message: &mut [u8],
    echo: &mut [u8],
) -> io::Result<u64> {
    let size = 1 + random.below(MAX_MESSAGE as u64) as usize;
    random.fill(&mut message[..size]);
    // Written whole before reading: 64 KiB fits in loopback's buffers
    // and the server's pending limit.
    stream.write_all(&message[..size])?;
    stream.read_exact(&mut echo[..size])?;
    if message[..size] != echo[..size] {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echo differs from the message",
        ));
    }
    Ok(size as u64)
}

/// xorshift64: enough to vary sizes and contents.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
    }
}
