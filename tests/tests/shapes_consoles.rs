//! Four subscriber shapes that virtual-machine monitors write, each twice:
//! once with `#[derive(MutEventSubscriber)]` (in `mod derived_<shape>`),
//! once by hand with `init`, `process` and data tags of its own choosing
//! (in `mod by_hand_<shape>`). One behaviour body per shape, a macro
//! expanded inside both modules, runs each version against real fds and a
//! real `EventManager`.
//!
//! - console input: an optional input watched only when it is a terminal
//!   or a FIFO, a buffer-ready eventfd behind a method, the input detached
//!   on hang-up and a new one attached later;
//! - console manager: an optional stdin, an optional listener, and one
//!   connection at a time, attached on accept and detached at its end;
//! - reconnecting client: a reconnect timer and a boxed stream behind
//!   `Arc<Mutex<_>>`, replaced on each reconnection;
//! - queues: N queue eventfds known at run time, dispatched by one handler
//!   given the index, and a rate limiter whose fd may be `-1`.
//!
//! Registration and dispatch code is marked `// [rd]` (one line) or
//! enclosed by `// [rd begin]` and `// [rd end]` lines, so that the two
//! versions of each shape can be compared by line count.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::io::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_manager::{
    EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId, SubscriberOps,
};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use vmm_sys_util::timerfd::TimerFd;

// ---------------------------------------------------------------------
// Helpers shared by every shape.
// ---------------------------------------------------------------------

/// A pipe standing in for a console's stdin: (read end, write end), both
/// non-blocking.
fn stdin_pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new fds into the array we own.
    let result = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(result, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just opened, and nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    (File::from(read), File::from(write))
}

/// Reads what `source` holds now into `into`; true at the end of the
/// stream. `source` is non-blocking.
fn read_available(source: &mut (impl Read + ?Sized), into: &mut Vec<u8>) -> bool {
    let mut buffer = [0; 64];
    loop {
        match source.read(&mut buffer) {
            Ok(0) => return true,
            Ok(read) => into.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::WouldBlock => return false,
            Err(error) => panic!("read: {error}"),
        }
    }
}

/// Runs `manager` until `done` holds for subscriber `id` (it may take more
/// than one event: data and end of stream can come apart).
fn run_until<S: MutEventSubscriber>(
    manager: &mut EventManager<S>,
    id: SubscriberId,
    mut done: impl FnMut(&mut S) -> bool,
) {
    for _ in 0..20 {
        if done(manager.subscriber_mut(id).unwrap()) {
            return;
        }
        manager.run_with_timeout(1000).unwrap();
    }
    panic!("the subscriber never reached the expected state");
}

/// A socket path under the temporary directory, named after the test
/// module and the pid, removed when dropped.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(module: &str) -> Self {
        let name = format!(
            "em-{}-{}.sock",
            module.replace("::", "-"),
            std::process::id()
        );
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------
// 5. Console input.
// ---------------------------------------------------------------------

/// The device side of a serial port: the bytes for the guest, and the
/// eventfd the device writes when the guest has drained its buffer.
struct Serial {
    to_guest: Vec<u8>,
    buffer_ready: EventFd,
}

impl Serial {
    fn new() -> Self {
        Serial {
            to_guest: Vec::new(),
            buffer_ready: EventFd::new(EFD_NONBLOCK).unwrap(),
        }
    }

    fn buffer_ready_evt(&self) -> &EventFd {
        &self.buffer_ready
    }
}

/// What ends an input: its writer is gone, or it failed.
const HANG_UP_OR_ERROR: EventSet = EventSet::HANG_UP.union(EventSet::ERROR);

/// Whether epoll can watch `input`: a terminal or a FIFO can, a regular
/// file or `/dev/null` (a stdin redirected by a daemonizing launcher)
/// cannot.
fn is_terminal_or_fifo(input: &File) -> bool {
    use std::io::IsTerminal;
    use std::os::unix::fs::FileTypeExt;
    input.is_terminal()
        || input
            .metadata()
            .is_ok_and(|metadata| metadata.file_type().is_fifo())
}

/// The behaviour of both console inputs, expanded in each version's module.
macro_rules! console_input_behaviour {
    () => {
        mod behaviour {
            use super::*;

            fn console(input: File) -> ConsoleInput {
                ConsoleInput {
                    input: Some(input),
                    replacement: None,
                    serial: Serial::new(),
                    hang_ups: 0,
                    buffer_ready: 0,
                }
            }

            #[test]
            fn input_reaches_the_guest_hang_up_detaches_a_new_input_is_watched() {
                let (input, mut writer) = stdin_pipe();
                let mut manager = EventManager::new().unwrap();
                let id = manager.add_subscriber(console(input));

                writer.write_all(b"hello").unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                assert_eq!(
                    manager.subscriber_mut(id).unwrap().serial.to_guest,
                    b"hello"
                );

                // The writer goes away: the input hangs up and is detached.
                drop(writer);
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                let console = manager.subscriber_mut(id).unwrap();
                assert!(console.input.is_none());
                assert_eq!(console.hang_ups, 1);
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

                // A new input, already holding data, is parked; it is put in
                // place and attached once the guest's buffer is ready.
                let (input, mut writer) = stdin_pipe();
                writer.write_all(b" again").unwrap();
                manager.subscriber_mut(id).unwrap().replacement = Some(input);
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
                let console = manager.subscriber_mut(id).unwrap();
                console.serial.buffer_ready_evt().write(1).unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                let console = manager.subscriber_mut(id).unwrap();
                assert_eq!(console.buffer_ready, 1);
                assert!(console.input.is_some());
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                let console = manager.subscriber_mut(id).unwrap();
                assert_eq!(console.serial.to_guest, b"hello again");

                // The new input is watched for its hang-up too.
                drop(writer);
                run_until(&mut manager, id, |console| console.input.is_none());
                assert_eq!(manager.subscriber_mut(id).unwrap().hang_ups, 2);
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
            }

            #[test]
            fn an_input_that_is_neither_a_terminal_nor_a_fifo_is_not_watched() {
                // epoll refuses /dev/null (EPERM): registering it would make
                // `init` panic.
                let null = File::open("/dev/null").unwrap();
                assert!(!is_terminal_or_fifo(&null));
                let mut manager = EventManager::new().unwrap();
                let id = manager.add_subscriber(console(null));
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

                let console = manager.subscriber_mut(id).unwrap();
                console.serial.buffer_ready_evt().write(1).unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                let console = manager.subscriber_mut(id).unwrap();
                assert_eq!(console.buffer_ready, 1);
                assert!(console.serial.to_guest.is_empty());
            }
        }
    };
}

/// Console input, derived: the input is registered by `init` only when
/// it is pollable; the handlers detach and attach it by name.
mod derived_console_input {
    use super::*;

    #[derive(MutEventSubscriber)] // [rd]
    #[event(fd = input, when = self.input_is_pollable())] // [rd]
    #[event(fd = serial.buffer_ready_evt(), handler = on_buffer_ready)] // [rd]
    struct ConsoleInput {
        input: Option<File>,
        /// An input opened by the VMM, put in place once the old one is
        /// gone and the guest's buffer is ready.
        replacement: Option<File>,
        serial: Serial,
        hang_ups: u32,
        buffer_ready: u64,
    }

    impl ConsoleInput {
        fn input_is_pollable(&self) -> bool {
            self.input.as_ref().is_some_and(is_terminal_or_fifo)
        }

        fn on_input(&mut self, events: Events, ops: &mut EventOps) {
            if let Some(input) = self.input.as_mut() {
                read_available(input, &mut self.serial.to_guest);
            }
            let hung_up = events.event_set().intersects(HANG_UP_OR_ERROR); // [rd]
            if hung_up {
                self.detach_input(ops).unwrap(); // [rd]
                self.input = None;
                self.hang_ups += 1;
            }
        }

        fn on_buffer_ready(&mut self, ops: &mut EventOps) {
            self.buffer_ready += self.serial.buffer_ready_evt().read().unwrap();
            if self.input.is_none() {
                if let Some(input) = self.replacement.take() {
                    self.input = Some(input);
                    if self.input_is_pollable() {
                        self.attach_input(ops).unwrap(); // [rd]
                    }
                }
            }
        }
    }

    console_input_behaviour!();
}

/// Console input, by hand: two tags, the same condition in `init`.
mod by_hand_console_input {
    use super::*;

    const INPUT: u32 = 0; // [rd]
    const BUFFER_READY: u32 = 1; // [rd]

    struct ConsoleInput {
        input: Option<File>,
        /// An input opened by the VMM, put in place once the old one is
        /// gone and the guest's buffer is ready.
        replacement: Option<File>,
        serial: Serial,
        hang_ups: u32,
        buffer_ready: u64,
    }

    // [rd begin]
    impl MutEventSubscriber for ConsoleInput {
        fn init(&mut self, ops: &mut EventOps) {
            if let Some(input) = self.input.as_ref().filter(|_| self.input_is_pollable()) {
                ops.add(Events::with_data(input, INPUT, EventSet::IN))
                    .unwrap();
            }
            let buffer_ready = self.serial.buffer_ready_evt();
            ops.add(Events::with_data(buffer_ready, BUFFER_READY, EventSet::IN))
                .unwrap();
        }

        fn process(&mut self, events: Events, ops: &mut EventOps) {
            match events.data() {
                INPUT => self.on_input(events, ops),
                BUFFER_READY => self.on_buffer_ready(ops),
                _ => {}
            }
        }
    }
    // [rd end]

    impl ConsoleInput {
        fn input_is_pollable(&self) -> bool {
            self.input.as_ref().is_some_and(is_terminal_or_fifo)
        }

        fn on_input(&mut self, events: Events, ops: &mut EventOps) {
            if let Some(input) = self.input.as_mut() {
                read_available(input, &mut self.serial.to_guest);
            }
            let hung_up = events.event_set().intersects(HANG_UP_OR_ERROR); // [rd]
            if hung_up {
                let input = self.input.take().unwrap();
                ops.remove(Events::empty(&input)).unwrap(); // [rd]
                self.hang_ups += 1;
            }
        }

        fn on_buffer_ready(&mut self, ops: &mut EventOps) {
            self.buffer_ready += self.serial.buffer_ready_evt().read().unwrap();
            if self.input.is_none() {
                if let Some(input) = self.replacement.take() {
                    self.input = Some(input);
                    if self.input_is_pollable() {
                        let input = self.input.as_ref().unwrap(); // [rd]
                        ops.add(Events::with_data(input, INPUT, EventSet::IN)) // [rd]
                            .unwrap(); // [rd]
                    }
                }
            }
        }
    }

    console_input_behaviour!();
}

// ---------------------------------------------------------------------
// 6. Console manager.
// ---------------------------------------------------------------------

/// The behaviour of both console managers, expanded in each version's
/// module.
macro_rules! console_manager_behaviour {
    () => {
        mod behaviour {
            use super::*;

            fn console(stdin: Option<File>, listener: Option<UnixListener>) -> ConsoleManager {
                ConsoleManager {
                    stdin,
                    listener,
                    conn: None,
                    to_guest: Vec::new(),
                    connections: 0,
                }
            }

            #[test]
            fn stdin_and_one_connection_at_a_time_reach_the_guest() {
                let socket = SocketPath::new(module_path!());
                let listener = UnixListener::bind(&socket.0).unwrap();
                let (stdin, mut typing) = stdin_pipe();
                let mut manager = EventManager::new().unwrap();
                let id = manager.add_subscriber(console(Some(stdin), Some(listener)));
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

                typing.write_all(b"typed ").unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                assert_eq!(manager.subscriber_mut(id).unwrap().to_guest, b"typed ");

                for (number, text) in [(1, &b"first "[..]), (2, &b"second"[..])] {
                    let mut client = UnixStream::connect(&socket.0).unwrap();
                    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1, "accepted");
                    let console = manager.subscriber_mut(id).unwrap();
                    assert!(console.conn.is_some());
                    assert_eq!(console.connections, number);

                    // A second client while the first is connected is
                    // refused: accepted and closed at once.
                    let mut refused = UnixStream::connect(&socket.0).unwrap();
                    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                    assert_eq!(refused.read(&mut [0; 8]).unwrap(), 0, "closed");
                    assert_eq!(manager.subscriber_mut(id).unwrap().connections, number);

                    // Data, then the end of the stream: detached, dropped.
                    client.write_all(text).unwrap();
                    drop(client);
                    run_until(&mut manager, id, |console| console.conn.is_none());
                    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
                }
                assert_eq!(
                    manager.subscriber_mut(id).unwrap().to_guest,
                    b"typed first second"
                );

                // Stdin's writer goes away: it is detached too.
                drop(typing);
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                assert!(manager.subscriber_mut(id).unwrap().stdin.is_none());
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
            }

            #[test]
            fn absent_sources_are_not_registered() {
                let mut manager = EventManager::new().unwrap();
                let id = manager.add_subscriber(console(None, None));
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
                assert_eq!(manager.subscriber_mut(id).unwrap().connections, 0);
            }
        }
    };
}

/// Console manager, derived: three optional sources, the connection
/// attached by the listener's handler and detached by its own.
mod derived_console_manager {
    use super::*;

    #[derive(MutEventSubscriber)] // [rd]
    #[event(fd = stdin)] // [rd]
    #[event(fd = listener)] // [rd]
    #[event(fd = conn)] // [rd]
    struct ConsoleManager {
        stdin: Option<File>,
        listener: Option<UnixListener>,
        conn: Option<UnixStream>,
        to_guest: Vec<u8>,
        connections: u32,
    }

    impl ConsoleManager {
        fn on_stdin(&mut self, events: Events, ops: &mut EventOps) {
            if let Some(stdin) = self.stdin.as_mut() {
                read_available(stdin, &mut self.to_guest);
            }
            let hung_up = events.event_set().intersects(HANG_UP_OR_ERROR); // [rd]
            if hung_up {
                self.detach_stdin(ops).unwrap(); // [rd]
                self.stdin = None;
            }
        }

        fn on_listener(&mut self, ops: &mut EventOps) {
            let (conn, _) = self.listener.as_ref().unwrap().accept().unwrap();
            if self.conn.is_some() {
                return; // One at a time: this one is closed.
            }
            conn.set_nonblocking(true).unwrap();
            self.conn = Some(conn);
            self.attach_conn(ops).unwrap(); // [rd]
            self.connections += 1;
        }

        fn on_conn(&mut self, ops: &mut EventOps) {
            let conn = self.conn.as_mut().unwrap();
            if read_available(conn, &mut self.to_guest) {
                self.detach_conn(ops).unwrap(); // [rd]
                self.conn = None;
            }
        }
    }

    console_manager_behaviour!();
}

/// Console manager, by hand: three tags, three optional registrations.
mod by_hand_console_manager {
    use super::*;

    const STDIN: u32 = 0; // [rd]
    const LISTENER: u32 = 1; // [rd]
    const CONN: u32 = 2; // [rd]

    struct ConsoleManager {
        stdin: Option<File>,
        listener: Option<UnixListener>,
        conn: Option<UnixStream>,
        to_guest: Vec<u8>,
        connections: u32,
    }

    // [rd begin]
    impl MutEventSubscriber for ConsoleManager {
        fn init(&mut self, ops: &mut EventOps) {
            if let Some(stdin) = &self.stdin {
                ops.add(Events::with_data(stdin, STDIN, EventSet::IN))
                    .unwrap();
            }
            if let Some(listener) = &self.listener {
                ops.add(Events::with_data(listener, LISTENER, EventSet::IN))
                    .unwrap();
            }
            if let Some(conn) = &self.conn {
                ops.add(Events::with_data(conn, CONN, EventSet::IN))
                    .unwrap();
            }
        }

        fn process(&mut self, events: Events, ops: &mut EventOps) {
            match events.data() {
                STDIN => self.on_stdin(events, ops),
                LISTENER => self.on_listener(ops),
                CONN => self.on_conn(ops),
                _ => {}
            }
        }
    }
    // [rd end]

    impl ConsoleManager {
        fn on_stdin(&mut self, events: Events, ops: &mut EventOps) {
            if let Some(stdin) = self.stdin.as_mut() {
                read_available(stdin, &mut self.to_guest);
            }
            let hung_up = events.event_set().intersects(HANG_UP_OR_ERROR); // [rd]
            if hung_up {
                let stdin = self.stdin.take().unwrap();
                ops.remove(Events::empty(&stdin)).unwrap(); // [rd]
            }
        }

        fn on_listener(&mut self, ops: &mut EventOps) {
            let (conn, _) = self.listener.as_ref().unwrap().accept().unwrap();
            if self.conn.is_some() {
                return; // One at a time: this one is closed.
            }
            conn.set_nonblocking(true).unwrap();
            ops.add(Events::with_data(&conn, CONN, EventSet::IN)) // [rd]
                .unwrap(); // [rd]
            self.conn = Some(conn);
            self.connections += 1;
        }

        fn on_conn(&mut self, ops: &mut EventOps) {
            let conn = self.conn.as_mut().unwrap();
            if read_available(conn, &mut self.to_guest) {
                let conn = self.conn.take().unwrap();
                ops.remove(Events::empty(&conn)).unwrap(); // [rd]
            }
        }
    }

    console_manager_behaviour!();
}

// ---------------------------------------------------------------------
// 7. Reconnecting client.
// ---------------------------------------------------------------------

/// What the client talks over: a Unix socket here, a vsock or TCP stream
/// in a VMM.
trait Stream: AsRawFd + Read + Write + Send {}

impl Stream for UnixStream {}

/// The client's side of the connection, shared with the threads that
/// write to the server.
struct Connection {
    stream: Option<Box<dyn Stream>>,
}

/// Connects to the server at `path`, non-blocking, and greets it.
fn dial(path: &Path) -> Box<dyn Stream> {
    let mut stream = UnixStream::connect(path).unwrap();
    stream.write_all(b"hello").unwrap();
    stream.set_nonblocking(true).unwrap();
    Box::new(stream)
}

/// The delay before the client reconnects after the server went away.
const RETRY_AFTER: Duration = Duration::from_micros(1);

/// Accepts the client's next connection and reads its greeting.
fn accept_greeting(listener: &UnixListener) -> UnixStream {
    let (mut server, _) = listener.accept().unwrap();
    let mut greeting = [0; 5];
    server.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"hello");
    server
}

/// A second fd of the same socket, so that it stays open after the client
/// dropped its own: if it were still registered, its events would come.
fn keep_open(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` is open for the duration of this call.
    unsafe { BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .unwrap()
}

/// The behaviour of both clients, expanded in each version's module.
macro_rules! reconnecting_client_behaviour {
    () => {
        mod behaviour {
            use super::*;

            #[test]
            fn each_reconnection_watches_the_newest_stream_only() {
                let socket = SocketPath::new(module_path!());
                let listener = UnixListener::bind(&socket.0).unwrap();
                let client = Client {
                    reconnect: TimerFd::new().unwrap(),
                    conn: Arc::new(Mutex::new(Connection {
                        stream: Some(dial(&socket.0)),
                    })),
                    path: socket.0.clone(),
                    received: Vec::new(),
                    reconnects: 0,
                };
                let mut first = accept_greeting(&listener);
                let mut manager = EventManager::new().unwrap();
                let id = manager.add_subscriber(client);

                first.write_all(b"a").unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                assert_eq!(manager.subscriber_mut(id).unwrap().received, b"a");

                // Reconnection 1: the server goes away; the client detaches
                // the stream and arms its timer, whose handler reconnects.
                drop(first);
                run_until(&mut manager, id, |client| client.reconnects == 1);
                let mut second = accept_greeting(&listener);

                // Reconnection 2: forced while connected. A copy of the old
                // fd keeps its socket open.
                let client = manager.subscriber_mut(id).unwrap();
                let old = {
                    let conn = client.conn.lock().unwrap();
                    keep_open(conn.stream.as_ref().unwrap().as_raw_fd())
                };
                client.reconnect.reset(RETRY_AFTER, None).unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                assert_eq!(manager.subscriber_mut(id).unwrap().reconnects, 2);
                let mut third = accept_greeting(&listener);

                // The old stream has data, and is not watched.
                second.write_all(b"stale").unwrap();
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
                assert_eq!(manager.subscriber_mut(id).unwrap().received, b"a");
                drop(old);

                // The newest is.
                third.write_all(b"new").unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                assert_eq!(manager.subscriber_mut(id).unwrap().received, b"anew");

                // Another thread writes through the shared connection.
                let conn = Arc::clone(&manager.subscriber_mut(id).unwrap().conn);
                std::thread::spawn(move || {
                    let mut conn = conn.lock().unwrap();
                    conn.stream.as_mut().unwrap().write_all(b"ping").unwrap();
                })
                .join()
                .unwrap();
                let mut ping = [0; 4];
                third.read_exact(&mut ping).unwrap();
                assert_eq!(&ping, b"ping");
            }
        }
    };
}

/// Reconnecting client, derived: the stream is read through the lock, by
/// the derive; the timer's handler detaches, swaps and attaches.
mod derived_reconnecting_client {
    use super::*;

    #[derive(MutEventSubscriber)] // [rd]
    #[event(fd = reconnect)] // [rd]
    #[event(fd = conn.lock().unwrap().stream)] // [rd]
    struct Client {
        reconnect: TimerFd,
        conn: Arc<Mutex<Connection>>,
        path: PathBuf,
        received: Vec<u8>,
        reconnects: u32,
    }

    impl Client {
        fn on_reconnect(&mut self, ops: &mut EventOps) {
            self.reconnect.wait().unwrap();
            let new = dial(&self.path);
            if self.conn.lock().unwrap().stream.is_some() {
                self.detach_stream(ops).unwrap(); // [rd]
            }
            let old = self.conn.lock().unwrap().stream.replace(new);
            self.attach_stream(ops).unwrap(); // [rd]
            drop(old);
            self.reconnects += 1;
        }

        fn on_stream(&mut self, ops: &mut EventOps) {
            let mut conn = self.conn.lock().unwrap();
            let ended = read_available(conn.stream.as_mut().unwrap(), &mut self.received);
            drop(conn);
            if ended {
                self.detach_stream(ops).unwrap(); // [rd]
                self.conn.lock().unwrap().stream = None;
                self.reconnect.reset(RETRY_AFTER, None).unwrap();
            }
        }
    }

    reconnecting_client_behaviour!();
}

/// Reconnecting client, by hand: two tags; the stream's fd is read
/// through the lock by each registration.
mod by_hand_reconnecting_client {
    use super::*;

    const RECONNECT: u32 = 0; // [rd]
    const STREAM: u32 = 1; // [rd]

    struct Client {
        reconnect: TimerFd,
        conn: Arc<Mutex<Connection>>,
        path: PathBuf,
        received: Vec<u8>,
        reconnects: u32,
    }

    // [rd begin]
    impl MutEventSubscriber for Client {
        fn init(&mut self, ops: &mut EventOps) {
            ops.add(Events::with_data(&self.reconnect, RECONNECT, EventSet::IN))
                .unwrap();
            if let Some(stream) = self.conn.lock().unwrap().stream.as_deref() {
                ops.add(Events::with_data(stream, STREAM, EventSet::IN))
                    .unwrap();
            }
        }

        fn process(&mut self, events: Events, ops: &mut EventOps) {
            match events.data() {
                RECONNECT => self.on_reconnect(ops),
                STREAM => self.on_stream(ops),
                _ => {}
            }
        }
    }
    // [rd end]

    impl Client {
        fn on_reconnect(&mut self, ops: &mut EventOps) {
            self.reconnect.wait().unwrap();
            let new = dial(&self.path);
            let mut conn = self.conn.lock().unwrap();
            if let Some(old) = conn.stream.as_deref() {
                ops.remove(Events::empty(old)).unwrap(); // [rd]
            }
            ops.add(Events::with_data(&*new, STREAM, EventSet::IN)) // [rd]
                .unwrap(); // [rd]
            let old = conn.stream.replace(new);
            drop(old);
            self.reconnects += 1;
        }

        fn on_stream(&mut self, ops: &mut EventOps) {
            let mut conn = self.conn.lock().unwrap();
            let ended = read_available(conn.stream.as_mut().unwrap(), &mut self.received);
            if ended {
                let stream = conn.stream.take().unwrap();
                ops.remove(Events::empty(&*stream)).unwrap(); // [rd]
                self.reconnect.reset(RETRY_AFTER, None).unwrap();
            }
        }
    }

    reconnecting_client_behaviour!();
}

// ---------------------------------------------------------------------
// 8. N queues known at run time, and a rate limiter.
// ---------------------------------------------------------------------

/// One virtqueue: the eventfd the guest kicks (shared with the hypervisor's
/// ioeventfd registration), and what the device did with it.
struct Queue {
    eventfd: Arc<EventFd>,
    kicks: u64,
}

/// A rate limiter that has a timer only when it limits something; its fd
/// is `-1` otherwise.
struct RateLimiter {
    timer: Option<TimerFd>,
}

impl AsRawFd for RateLimiter {
    fn as_raw_fd(&self) -> RawFd {
        self.timer.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

/// The behaviour of both devices, expanded in each version's module.
macro_rules! queues_behaviour {
    () => {
        mod behaviour {
            use super::*;

            fn check(queue_count: usize, limited: bool) {
                let queues: Vec<Queue> = (0..queue_count)
                    .map(|_| Queue {
                        eventfd: Arc::new(EventFd::new(EFD_NONBLOCK).unwrap()),
                        kicks: 0,
                    })
                    .collect();
                let kick_fds: Vec<Arc<EventFd>> = queues
                    .iter()
                    .map(|queue| Arc::clone(&queue.eventfd))
                    .collect();
                let timer = limited.then(|| TimerFd::new().unwrap());
                let limiter = RateLimiter { timer };
                assert_eq!(limiter.as_raw_fd() < 0, !limited);
                let mut manager = EventManager::new().unwrap();
                let id = manager.add_subscriber(Device {
                    queues,
                    limiter,
                    refills: 0,
                });
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

                // Queue `index` is kicked `index + 1` times; each reaches
                // the one handler with its index.
                for (index, kick) in kick_fds.iter().enumerate() {
                    kick.write(index as u64 + 1).unwrap();
                }
                let mut dispatched = 0;
                while dispatched < queue_count {
                    dispatched += manager.run_with_timeout(1000).unwrap();
                }
                assert_eq!(dispatched, queue_count);
                let device = manager.subscriber_mut(id).unwrap();
                let kicks: Vec<u64> = device.queues.iter().map(|queue| queue.kicks).collect();
                let expected: Vec<u64> = (1..=queue_count as u64).collect();
                assert_eq!(kicks, expected);

                // The last queue alone.
                kick_fds[queue_count - 1].write(1).unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                let device = manager.subscriber_mut(id).unwrap();
                assert_eq!(device.queues[queue_count - 1].kicks, queue_count as u64 + 1);

                // The limiter's timer fires when it has one. Without one,
                // `-1` was not registered (else `init` would have failed).
                let device = manager.subscriber_mut(id).unwrap();
                if let Some(timer) = device.limiter.timer.as_mut() {
                    timer.reset(Duration::from_micros(1), None).unwrap();
                    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                }
                assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
                let refills = manager.subscriber_mut(id).unwrap().refills;
                assert_eq!(refills, u32::from(limited));
            }

            #[test]
            fn one_queue_without_a_limiter() {
                check(1, false);
            }

            #[test]
            fn one_queue_with_a_limiter() {
                check(1, true);
            }

            #[test]
            fn five_queues_without_a_limiter() {
                check(5, false);
            }

            #[test]
            fn five_queues_with_a_limiter() {
                check(5, true);
            }
        }
    };
}

/// Queues, derived: one `#[event]` for every element of the `Vec`, and a
/// limiter that registers nothing when its fd is `-1`.
mod derived_queues {
    use super::*;

    #[derive(MutEventSubscriber)] // [rd]
    #[event(fd = queues[..].eventfd, handler = on_queue)] // [rd]
    #[event(fd = limiter)] // [rd]
    struct Device {
        queues: Vec<Queue>,
        limiter: RateLimiter,
        refills: u32,
    }

    impl Device {
        fn on_queue(&mut self, index: usize) {
            let queue = &mut self.queues[index];
            queue.kicks += queue.eventfd.read().unwrap();
        }

        fn on_limiter(&mut self) {
            self.limiter.timer.as_mut().unwrap().wait().unwrap();
            self.refills += 1;
        }
    }

    queues_behaviour!();
}

/// Queues, by hand: the limiter's tag, then one tag per queue.
mod by_hand_queues {
    use super::*;

    const LIMITER: u32 = 0; // [rd]
    const FIRST_QUEUE: u32 = 1; // [rd]

    struct Device {
        queues: Vec<Queue>,
        limiter: RateLimiter,
        refills: u32,
    }

    // [rd begin]
    impl MutEventSubscriber for Device {
        fn init(&mut self, ops: &mut EventOps) {
            for (index, queue) in self.queues.iter().enumerate() {
                let data = FIRST_QUEUE + u32::try_from(index).unwrap();
                ops.add(Events::with_data(&*queue.eventfd, data, EventSet::IN))
                    .unwrap();
            }
            if self.limiter.as_raw_fd() >= 0 {
                ops.add(Events::with_data(&self.limiter, LIMITER, EventSet::IN))
                    .unwrap();
            }
        }

        fn process(&mut self, events: Events, _ops: &mut EventOps) {
            match events.data() {
                LIMITER => self.on_limiter(),
                data => self.on_queue((data - FIRST_QUEUE) as usize),
            }
        }
    }
    // [rd end]

    impl Device {
        fn on_queue(&mut self, index: usize) {
            let queue = &mut self.queues[index];
            queue.kicks += queue.eventfd.read().unwrap();
        }

        fn on_limiter(&mut self) {
            self.limiter.timer.as_mut().unwrap().wait().unwrap();
            self.refills += 1;
        }
    }

    queues_behaviour!();
}
