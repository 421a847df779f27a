//! The `echo` example as a separate process, on an ephemeral loopback
//! port, driven by real TCP clients: many at once, messages from one byte
//! to one MiB, clients that leave mid-message or reset the connection, and
//! a client that goes quiet under `--idle-timeout`.

use std::io::{self, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard};
use std::thread;

use event_manager_tests::ExampleProcess;

/// The echo example, serving on an ephemeral port until signalled.
struct Server {
    process: ExampleProcess,
    address: SocketAddr,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts it with `options` after `--listen 127.0.0.1:0`.
    fn start_with(options: &[&str]) -> Self {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        args.extend_from_slice(options);
        let mut process = ExampleProcess::start("echo", &args);
        let line = process.stdout_line_containing("listening on ");
        let address = line["listening on ".len()..]
            .parse()
            .unwrap_or_else(|_| panic!("no address in {line:?}"));
        Server { process, address }
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address).expect("connect to the echo server")
    }

    /// Waits until the server has logged the end of the connection from
    /// `client`, and returns the log line.
    fn closed_line(&mut self, client: SocketAddr) -> String {
        self.process
            .stderr_line_containing(&format!("from {client} closed"))
    }

    /// Stops the server with `signal` and returns its summary.
    fn stop(self, signal: libc::c_int) -> Summary {
        self.process.signal(signal);
        let finished = self.process.finish();
        assert!(finished.status.success(), "{finished:?}");
        // The lines come in the order things happened.
        let lines: Vec<&str> = finished.stdout.lines().collect();
        let [listening, serving, traffic, stopped] = lines[..] else {
            panic!("not four lines: {finished:?}");
        };
        assert!(listening.starts_with("listening on "), "{finished:?}");
        assert_eq!(
            serving,
            "serving until SIGINT or SIGTERM; the clients choose the size of their messages"
        );
        assert!(traffic.starts_with("traffic: "), "{finished:?}");
        assert!(stopped.starts_with("stopped by "), "{finished:?}");
        Summary {
            traffic: traffic.to_string(),
            stopped: stopped.to_string(),
        }
    }
}

/// What the server printed when it stopped.
struct Summary {
    /// `traffic: ...`: what it echoed.
    traffic: String,
    /// `stopped by ...`: why it stopped, and what became of its connections.
    stopped: String,
}

/// Message `index` of client `client`: bytes that depend on both and on
/// the position, so a byte that is lost, duplicated or taken from another
/// message shows.
fn message(client: usize, index: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|offset| ((client * 131 + index * 31 + offset) % 251) as u8)
        .collect()
}

/// Sends `messages` from a thread of its own while this thread reads the
/// echo, then half-closes and expects the server to close after the last
/// byte. Panics naming the first byte that differs.
fn exchange(stream: TcpStream, messages: &[Vec<u8>]) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = stream;
    thread::scope(|scope| {
        scope.spawn(move || {
            for message in messages {
                writer.write_all(message).unwrap();
            }
            writer.shutdown(Shutdown::Write).unwrap();
        });
        for (index, sent) in messages.iter().enumerate() {
            let mut echoed = vec![0; sent.len()];
            reader.read_exact(&mut echoed).unwrap();
            if let Some(offset) = sent.iter().zip(&echoed).position(|(a, b)| a != b) {
                panic!(
                    "message {index} of {} bytes differs at byte {offset}",
                    sent.len()
                );
            }
        }
        let mut after_the_end = Vec::new();
        reader.read_to_end(&mut after_the_end).unwrap();
        assert!(after_the_end.is_empty(), "the server sent extra bytes");
    });
}

/// The sizes the clients send: around the edges of one byte, a TCP
/// segment, the server's read chunk (64 KiB), its pending limit (256 KiB),
/// and up to one MiB.
const SIZES: [usize; 10] = [
    1,
    2,
    1_448,
    4_096,
    65_535,
    65_537,
    262_144,
    262_145,
    700_000,
    1 << 20,
];

/// Held by the idle-timeout test and by the tests that run many client
/// threads, so that those never run beside it. Under valgrind, which lets
/// one thread of the process run at a time, 64 busy client threads can
/// keep the idle test's talking client off the CPU for longer than the
/// idle timeout, and the server rightly closes its connection as idle.
static CLIENT_THREADS: Mutex<()> = Mutex::new(());

fn client_threads() -> MutexGuard<'static, ()> {
    // A failed test poisons it; the next one still runs.
    CLIENT_THREADS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn serves_64_concurrent_clients_byte_for_byte() {
    let _alone = client_threads();
    const CLIENTS: usize = 64;
    let server = Server::start();
    let everyone_connected = Barrier::new(CLIENTS);
    let mut expected_bytes = 0;
    let plans: Vec<Vec<Vec<u8>>> = (0..CLIENTS)
        .map(|client| {
            (0..3)
                .map(|index| message(client, index, SIZES[(client + index * 3) % SIZES.len()]))
                .collect()
        })
        .collect();
    for plan in &plans {
        expected_bytes += plan.iter().map(Vec::len).sum::<usize>();
    }
    thread::scope(|scope| {
        for plan in &plans {
            let everyone_connected = &everyone_connected;
            let address = server.address;
            scope.spawn(move || {
                let stream = TcpStream::connect(address).unwrap();
                // All 64 connections are open before any byte is sent.
                everyone_connected.wait();
                exchange(stream, plan);
            });
        }
    });
    let summary = server.stop(libc::SIGTERM);
    assert_eq!(
        summary.traffic,
        format!(
            "traffic: {expected_bytes} bytes echoed on {CLIENTS} connections, in messages of whatever size the clients sent"
        )
    );
    assert_eq!(
        summary.stopped,
        format!(
            "stopped by SIGTERM: {CLIENTS} connections accepted, {CLIENTS} finished, 0 failed, 0 still open"
        )
    );
}

#[test]
fn survives_clients_that_leave_mid_message_or_reset() {
    let _alone = client_threads();
    let mut server = Server::start();
    let fds_when_idle = server.process.open_fds();

    // Sends half a message and closes without reading the echo.
    let leaver = server.connect();
    let leaver_address = leaver.local_addr().unwrap();
    (&leaver).write_all(&message(0, 0, 50_000)).unwrap();
    drop(leaver);
    server.closed_line(leaver_address);

    // Resets: SO_LINGER with a zero timeout makes close send RST.
    let resetter = server.connect();
    let resetter_address = resetter.local_addr().unwrap();
    (&resetter).write_all(&message(1, 0, 10_000)).unwrap();
    let mut first_byte = [0u8; 1];
    (&resetter).read_exact(&mut first_byte).unwrap();
    set_linger_zero(&resetter).unwrap();
    drop(resetter);
    let line = server.closed_line(resetter_address);
    assert!(line.contains("reset"), "{line}");

    // Leaves in the middle of a stream: sends until its socket takes no
    // more without blocking, then resets while data waits both ways (the
    // echo it never reads, the rest of what it sent).
    let sender = server.connect();
    let sender_address = sender.local_addr().unwrap();
    sender.set_nonblocking(true).unwrap();
    let chunk = message(2, 0, 1 << 20);
    loop {
        match (&sender).write(&chunk) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => panic!("sending to the echo server: {err}"),
        }
    }
    set_linger_zero(&sender).unwrap();
    drop(sender);
    server.closed_line(sender_address);

    // Every socket of the three is closed on the server's side ...
    assert_eq!(server.process.open_fds(), fds_when_idle);
    // ... and the next client is served as if nothing happened.
    exchange(
        server.connect(),
        &[message(3, 0, 100_000), message(3, 1, 1)],
    );

    let summary = server.stop(libc::SIGTERM).stopped;
    assert!(summary.contains("4 connections accepted"), "{summary}");
    assert!(summary.contains("0 still open"), "{summary}");
}

#[test]
fn stops_on_sigint_with_a_connection_still_open() {
    let server = Server::start();
    let idle = server.connect();
    // A round trip proves the server has accepted the connection.
    exchange_one_byte(&idle);
    let summary = server.stop(libc::SIGINT);
    assert_eq!(
        summary.traffic,
        "traffic: 1 byte echoed on 1 connection, in messages of whatever size the clients sent"
    );
    assert_eq!(
        summary.stopped,
        "stopped by SIGINT: 1 connection accepted, 0 finished, 0 failed, 1 still open"
    );
    // The server closed the socket when it stopped.
    let mut rest = Vec::new();
    assert_eq!((&idle).read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn idle_timeout_closes_the_quiet_connection_and_keeps_serving_the_active_one() {
    let _alone = client_threads();
    // Long against a round trip, so the talker's connection is never idle
    // for that long, even on a loaded machine; it is also how long the
    // test takes.
    let mut server = Server::start_with(&["--idle-timeout", "2"]);
    let active = server.connect();
    let active_address = active.local_addr().unwrap();
    let quiet = server.connect();
    let quiet_address = quiet.local_addr().unwrap();
    // One round trip each: both are accepted and have their timers.
    exchange_one_byte(&active);
    exchange_one_byte(&quiet);
    // A guard against a hang if the server never closes it.
    quiet
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();

    let quiet_closed = AtomicBool::new(false);
    let round_trips = thread::scope(|scope| {
        // Talks without pause until the quiet one is closed, and once more
        // after: every byte it sends keeps its connection alive.
        let talker = scope.spawn(|| {
            let mut round_trips = 0u64;
            loop {
                let done = quiet_closed.load(Ordering::Acquire);
                exchange_one_byte(&active);
                round_trips += 1;
                if done {
                    return round_trips;
                }
            }
        });
        // The quiet client sends nothing more: its read waits until the
        // server closes the connection, and sees the end of the stream.
        let mut rest = Vec::new();
        let read = (&quiet).read_to_end(&mut rest).unwrap();
        quiet_closed.store(true, Ordering::Release);
        assert_eq!(read, 0, "the server sent {rest:?} instead of closing");
        talker.join().unwrap()
    });

    let line = server.closed_line(quiet_address);
    assert!(
        line.ends_with(&format!(
            "from {quiet_address} closed: idle for longer than 2 s"
        )),
        "{line}"
    );
    // The active client ends its connection itself.
    finish_and_wait_for_close(&active);
    let line = server.closed_line(active_address);
    assert!(line.ends_with(" closed"), "{line}");

    let summary = server.stop(libc::SIGTERM);
    assert_eq!(
        summary.stopped,
        "stopped by SIGTERM: 2 connections accepted, 1 finished, 1 closed as idle, 0 failed, 0 still open"
    );
    assert_eq!(
        summary.traffic,
        format!(
            "traffic: {} bytes echoed on 2 connections, in messages of whatever size the clients sent",
            2 + round_trips
        )
    );
}

#[test]
fn out_of_fds_it_pauses_accepting_and_resumes_when_a_connection_closes() {
    let mut server = Server::start();
    // New fds take the lowest free numbers below the limit: room for two.
    // (The server may hold fds above the limit, inherited ones included.)
    let open = server.process.fd_numbers();
    let second_free = (0..)
        .filter(|number| !open.contains(number))
        .nth(1)
        .unwrap();
    server.process.set_fd_limit(second_free + 1);
    // The kernel completes all four handshakes; the server can take two.
    let clients: Vec<TcpStream> = (0..4).map(|_| server.connect()).collect();
    exchange_one_byte(&clients[0]);
    exchange_one_byte(&clients[1]);
    server.process.stderr_line_containing("Too many open files");

    // Each connection that ends makes room for one that waited.
    finish_and_wait_for_close(&clients[0]);
    exchange_one_byte(&clients[2]);
    finish_and_wait_for_close(&clients[1]);
    exchange_one_byte(&clients[3]);

    let summary = server.stop(libc::SIGTERM).stopped;
    assert!(summary.contains("4 connections accepted"), "{summary}");
    assert!(
        summary.contains("2 finished, 0 failed, 2 still open"),
        "{summary}"
    );
}

#[test]
fn out_of_fds_with_no_connection_to_close_it_retries_by_itself() {
    let mut server = Server::start();
    let open = server.process.fd_numbers();
    let first_free = (0..).find(|number| !open.contains(number)).unwrap();
    // No room for any connection: accept fails, and no connection will
    // close to make room.
    server.process.set_fd_limit(first_free);
    let client = server.connect();
    server.process.stderr_line_containing("Too many open files");

    // Once there is room again, the server's retry timer resumes accepting.
    server.process.set_fd_limit(first_free + 16);
    // A guard against a hang if it never does.
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    exchange_one_byte(&client);

    let summary = server.stop(libc::SIGTERM).stopped;
    assert!(summary.contains("1 connection accepted"), "{summary}");
}

/// Half-closes `stream` and reads until the server closes its side.
fn finish_and_wait_for_close(stream: &TcpStream) {
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    (&*stream).read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

fn exchange_one_byte(stream: &TcpStream) {
    let mut stream = stream;
    stream.write_all(b"x").unwrap();
    let mut echoed = [0u8; 1];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"x");
}

/// Makes `close` on `stream` reset the connection instead of closing it.
fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value is a valid `linger` that outlives the call,
    // and its size is passed with it.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
