//! Four subscriber shapes from VMMs and servers, each written twice: once
//! with `#[derive(MutEventSubscriber)]` (in `mod derived_<shape>`) and once
//! by hand with data tags of its own (in `mod by_hand_<shape>`). One test
//! body per shape, a macro expanded in both modules, runs the same checks
//! against both versions with real fds, sockets and a real `EventManager`.
//!
//! - 9, fd from a method: an exit handler whose only fd is
//!   `self.vm.exit_evt()`;
//! - 10, nested field: a queue handler whose tap is at `inner.tap`, which
//!   removes all its fds on anything but `IN`;
//! - 11, connection set: a TCP echo server with a listener and a
//!   `Vec<Option<Connection>>`, switching each connection between `IN` and
//!   `IN | OUT` as its write buffer fills and drains;
//! - 12, log, don't panic: a metrics subscriber whose API eventfd cannot
//!   be registered logs that and keeps its timer.
//!
//! Registration and dispatch code is marked in both versions, to count it:
//! a line ending in `// [rd]`, or every line between `// [rd begin]` and
//! `// [rd end]`. Handler signatures and what handlers do are not marked.

use std::any::type_name;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use event_manager::{
    EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId, SubscriberOps,
};
use event_manager_tests::eventfd;
use log::{Level, LevelFilter, Log, Metadata, Record};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use vmm_sys_util::timerfd::TimerFd;

/// How many times the tests run the manager while waiting for something,
/// before they give up.
const ROUNDS: usize = 1000;

/// How long one of those runs waits for an event at most, in milliseconds
/// (a bound on the wait, not something the tests check).
const WAIT_MS: i32 = 100;

/// Runs `manager` until `done` holds for subscriber `id`.
fn run_until<S: MutEventSubscriber>(
    manager: &mut EventManager<S>,
    id: SubscriberId,
    what: &str,
    mut done: impl FnMut(&mut S) -> bool,
) {
    for _ in 0..ROUNDS {
        if done(manager.subscriber_mut(id).unwrap()) {
            return;
        }
        manager.run_with_timeout(WAIT_MS).unwrap();
    }
    panic!("{what}: not after {ROUNDS} runs");
}

// ---------------------------------------------------------------------
// Shape 9: an fd from a method.
// ---------------------------------------------------------------------

/// A VM that hands out its exit eventfd by reference.
pub struct Vm {
    exit: EventFd,
}

impl Vm {
    fn new() -> Self {
        Vm { exit: eventfd() }
    }

    pub fn exit_evt(&self) -> &EventFd {
        &self.exit
    }
}

/// Writing the exit eventfd makes the handler record "exit", once per
/// write; no other fd is watched.
macro_rules! exit_handler_test {
    () => {
        #[test]
        fn writing_the_exit_eventfd_records_exit() {
            let mut manager = EventManager::new().unwrap();
            let id = manager.add_subscriber(ExitHandler {
                vm: Vm::new(),
                log: Vec::new(),
            });
            assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

            for exits in 1..=2 {
                let handler = manager.subscriber_mut(id).unwrap();
                handler.vm.exit_evt().write(1).unwrap();
                assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
                let log = &manager.subscriber_mut(id).unwrap().log;
                assert_eq!(log, &vec!["exit"; exits]);
            }
            // The handler read the counter: nothing is ready any more.
            assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
        }
    };
}

mod derived_exit {
    use super::*;

    /// A VMM's exit handler: its only fd comes from `self.vm.exit_evt()`.
    #[derive(MutEventSubscriber)] // [rd]
    #[event(fd = vm.exit_evt(), handler = on_exit)] // [rd]
    pub struct ExitHandler {
        pub vm: Vm,
        pub log: Vec<&'static str>,
    }

    impl ExitHandler {
        fn on_exit(&mut self) {
            self.vm.exit_evt().read().unwrap();
            self.log.push("exit");
        }
    }

    exit_handler_test!();
}

mod by_hand_exit {
    use super::*;

    /// A VMM's exit handler: its only fd comes from `self.vm.exit_evt()`.
    pub struct ExitHandler {
        pub vm: Vm,
        pub log: Vec<&'static str>,
    }

    const EXIT: u32 = 0; // [rd]

    // [rd begin]
    impl MutEventSubscriber for ExitHandler {
        fn init(&mut self, ops: &mut EventOps) {
            let exit = Events::with_data(self.vm.exit_evt(), EXIT, EventSet::IN);
            ops.add(exit).expect("register the exit eventfd");
        }

        fn process(&mut self, events: Events, _ops: &mut EventOps) {
            if events.data() == EXIT {
                self.on_exit();
            }
        }
    }
    // [rd end]

    impl ExitHandler {
        fn on_exit(&mut self) {
            self.vm.exit_evt().read().unwrap();
            self.log.push("exit");
        }
    }

    exit_handler_test!();
}

// ---------------------------------------------------------------------
// Shape 10: a nested field.
// ---------------------------------------------------------------------

/// What a queue handler keeps one level down: its tap (one end of a
/// socket pair) and its queue eventfd.
pub struct Inner {
    pub tap: UnixStream,
    pub queue_evt: EventFd,
}

/// `IN` on the tap and the queue is handled; a hang-up of the tap (the
/// peer is dropped) removes both fds, so later writes reach nothing.
macro_rules! queue_handler_test {
    () => {
        #[test]
        fn input_is_handled_and_a_hang_up_removes_every_fd() {
            let (tap, mut peer) = UnixStream::pair().unwrap();
            let mut manager = EventManager::new().unwrap();
            let id = manager.add_subscriber(QueueHandler {
                inner: Inner {
                    tap,
                    queue_evt: eventfd(),
                },
                frames: Vec::new(),
                kicks: 0,
                removed: false,
            });

            peer.write_all(b"frame").unwrap();
            let handler = manager.subscriber_mut(id).unwrap();
            handler.inner.queue_evt.write(1).unwrap();
            assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
            let handler = manager.subscriber_mut(id).unwrap();
            assert_eq!(handler.frames, b"frame");
            assert_eq!(handler.kicks, 1);
            assert!(!handler.removed);

            // The peer goes away: `IN | READ_HANG_UP | HANG_UP` on the tap.
            drop(peer);
            assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
            assert!(manager.subscriber_mut(id).unwrap().removed);

            // Neither fd is watched: not the queue eventfd written now, nor
            // the tap, which stays hung up (and so ready) for good.
            let handler = manager.subscriber_mut(id).unwrap();
            handler.inner.queue_evt.write(1).unwrap();
            assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
            let handler = manager.subscriber_mut(id).unwrap();
            assert_eq!((handler.kicks, &handler.frames[..]), (1, &b"frame"[..]));
        }
    };
}

mod derived_queue {
    use super::*;

    /// A queue handler whose tap is nested in `inner`; on any event set
    /// other than `IN` it removes all its fds.
    #[derive(MutEventSubscriber)] // [rd]
    #[subscriber(before = only_input)] // [rd]
    #[event(fd = inner.tap)] // [rd]
    #[event(fd = inner.queue_evt)] // [rd]
    pub struct QueueHandler {
        pub inner: Inner,
        pub frames: Vec<u8>,
        pub kicks: u64,
        pub removed: bool,
    }

    impl QueueHandler {
        // [rd begin]
        fn only_input(&mut self, events: Events, ops: &mut EventOps) -> bool {
            if events.event_set() == EventSet::IN {
                return true;
            }
            self.detach_tap(ops).unwrap();
            self.detach_queue_evt(ops).unwrap();
            self.removed = true;
            false
        }
        // [rd end]

        fn on_tap(&mut self) {
            let mut frame = [0; 64];
            let read = self.inner.tap.read(&mut frame).unwrap();
            self.frames.extend_from_slice(&frame[..read]);
        }

        fn on_queue_evt(&mut self) {
            self.kicks += self.inner.queue_evt.read().unwrap();
        }
    }

    queue_handler_test!();
}

mod by_hand_queue {
    use super::*;

    /// A queue handler whose tap is nested in `inner`; on any event set
    /// other than `IN` it removes all its fds.
    pub struct QueueHandler {
        pub inner: Inner,
        pub frames: Vec<u8>,
        pub kicks: u64,
        pub removed: bool,
    }

    const TAP: u32 = 0; // [rd]
    const QUEUE: u32 = 1; // [rd]

    // [rd begin]
    impl MutEventSubscriber for QueueHandler {
        fn init(&mut self, ops: &mut EventOps) {
            let tap = Events::with_data(&self.inner.tap, TAP, EventSet::IN);
            ops.add(tap).expect("register the tap");
            let queue = Events::with_data(&self.inner.queue_evt, QUEUE, EventSet::IN);
            ops.add(queue).expect("register the queue eventfd");
        }

        fn process(&mut self, events: Events, ops: &mut EventOps) {
            if events.event_set() != EventSet::IN {
                ops.remove(Events::empty(&self.inner.tap)).unwrap();
                ops.remove(Events::empty(&self.inner.queue_evt)).unwrap();
                self.removed = true;
                return;
            }
            match events.data() {
                TAP => self.on_tap(),
                QUEUE => self.on_queue_evt(),
                _ => {}
            }
        }
    }
    // [rd end]

    impl QueueHandler {
        fn on_tap(&mut self) {
            let mut frame = [0; 64];
            let read = self.inner.tap.read(&mut frame).unwrap();
            self.frames.extend_from_slice(&frame[..read]);
        }

        fn on_queue_evt(&mut self) {
            self.kicks += self.inner.queue_evt.read().unwrap();
        }
    }

    queue_handler_test!();
}

// ---------------------------------------------------------------------
// Shape 11: a connection set.
// ---------------------------------------------------------------------

/// One client of the echo server: its socket and the bytes read from it
/// that it has not taken back yet.
pub struct Connection {
    pub stream: TcpStream,
    pending: VecDeque<u8>,
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl Connection {
    pub fn new(stream: TcpStream) -> Self {
        stream.set_nonblocking(true).unwrap();
        Connection {
            stream,
            pending: VecDeque::new(),
        }
    }

    /// Whether echoed bytes wait for the socket to take them.
    pub fn is_waiting(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Reads what the client sent and writes back what the socket takes;
    /// `false` once the client is gone (end of stream or an error).
    pub fn pump(&mut self) -> bool {
        let mut buffer = [0; 16 * 1024];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => return false,
                Ok(read) => self.pending.extend(&buffer[..read]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        while !self.pending.is_empty() {
            let (front, _) = self.pending.as_slices();
            match self.stream.write(front) {
                Ok(written) => drop(self.pending.drain(..written)),
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// What the echo server did, in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServerNote {
    Accepted(usize),
    Closed(usize),
    Interest(usize, EventSet),
}

/// The next connection waiting on `listener`, if any.
pub fn accept(listener: &TcpListener) -> Option<TcpStream> {
    match listener.accept() {
        Ok((stream, _)) => Some(stream),
        Err(error) if error.kind() == ErrorKind::WouldBlock => None,
        Err(error) => panic!("accept: {error}"),
    }
}

/// The first free slot of `connections`, made at the end if none is.
pub fn free_slot(connections: &mut Vec<Option<Connection>>) -> usize {
    match connections.iter().position(Option::is_none) {
        Some(slot) => slot,
        None => {
            connections.push(None);
            connections.len() - 1
        }
    }
}

/// A non-blocking client connected to `address`.
fn connect(address: SocketAddr) -> TcpStream {
    let client = TcpStream::connect(address).unwrap();
    client.set_nonblocking(true).unwrap();
    client
}

/// Appends what `client` can read now to `into`.
fn read_available(client: &mut TcpStream, into: &mut Vec<u8>) {
    let mut buffer = [0; 64 * 1024];
    loop {
        match client.read(&mut buffer) {
            Ok(0) => panic!("the server closed the connection"),
            Ok(read) => into.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == ErrorKind::WouldBlock => return,
            Err(error) => panic!("read: {error}"),
        }
    }
}

/// Sends `message` from `client` and runs `manager` until it is back.
fn echo<S: MutEventSubscriber>(
    manager: &mut EventManager<S>,
    client: &mut TcpStream,
    message: &[u8],
) {
    client.write_all(message).unwrap();
    let mut echoed = Vec::new();
    for _ in 0..ROUNDS {
        read_available(client, &mut echoed);
        if echoed.len() >= message.len() {
            break;
        }
        manager.run_with_timeout(WAIT_MS).unwrap();
    }
    assert_eq!(echoed, message);
}

/// Byte `index` of what the flooding client sends.
fn pattern(index: usize) -> u8 {
    (index % 251) as u8
}

/// Sends `pattern` bytes from `client`, reading nothing, and runs
/// `manager` until `done` holds for subscriber `id`; returns how many
/// bytes were sent.
fn flood<S: MutEventSubscriber>(
    manager: &mut EventManager<S>,
    id: SubscriberId,
    client: &mut TcpStream,
    mut done: impl FnMut(&mut S) -> bool,
) -> usize {
    const CHUNK: usize = 64 * 1024;
    let mut sent = 0;
    for _ in 0..ROUNDS {
        if done(manager.subscriber_mut(id).unwrap()) {
            return sent;
        }
        let chunk: Vec<u8> = (sent..sent + CHUNK).map(pattern).collect();
        match client.write(&chunk) {
            Ok(written) => sent += written,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            Err(error) => panic!("write: {error}"),
        }
        manager.run_with_timeout(WAIT_MS).unwrap();
    }
    panic!("the server's write buffer did not fill after {sent} bytes");
}

/// Reads from `client`, running `manager`, until the `sent` bytes of
/// `flood` are back, and checks them.
fn drain<S: MutEventSubscriber>(
    manager: &mut EventManager<S>,
    client: &mut TcpStream,
    sent: usize,
) {
    let mut echoed = Vec::with_capacity(sent);
    for _ in 0..ROUNDS * 10 {
        read_available(client, &mut echoed);
        if echoed.len() >= sent {
            break;
        }
        manager.run_with_timeout(WAIT_MS).unwrap();
    }
    assert_eq!(echoed.len(), sent);
    let first_wrong = echoed.iter().enumerate().find(|&(i, &b)| b != pattern(i));
    assert_eq!(first_wrong, None);
}

/// Makes the kernel buffer `option` (`SO_SNDBUF` or `SO_RCVBUF`) of
/// `socket` as small as it allows.
fn shrink_buffer(socket: &impl AsRawFd, option: libc::c_int) {
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt reads one c_int from `size`, which lives through
    // the call, and `socket` is an open socket.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            std::ptr::addr_of!(size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(result, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// Several clients get their bytes back; a connection that was there
/// before the server started is watched from `init` (slot 1, slot 0 being
/// empty); the first accept takes the free slot 0, the next one a new
/// slot 2; a closed client's slot is reused by the next accept; and a
/// client that sends a lot without reading makes its connection's interest
/// `IN | OUT` until it reads everything back, then `IN` again.
macro_rules! echo_server_test {
    () => {
        #[test]
        fn echoes_reuses_slots_and_waits_for_out_when_its_buffer_fills() {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap();
            let mut early = connect(address);
            let (stream, _) = listener.accept().unwrap();
            listener.set_nonblocking(true).unwrap();
            let mut manager = EventManager::new().unwrap();
            let id = manager.add_subscriber(Server {
                listener,
                connections: vec![None, Some(Connection::new(stream))],
                log: Vec::new(),
            });
            echo(&mut manager, &mut early, b"before the server started");

            let accepted = |slot| {
                move |server: &mut Server| server.log.last() == Some(&ServerNote::Accepted(slot))
            };
            let mut a = connect(address);
            run_until(&mut manager, id, "accept a", accepted(0));
            let mut b = connect(address);
            run_until(&mut manager, id, "accept b", accepted(2));
            echo(&mut manager, &mut a, b"from a");
            echo(&mut manager, &mut b, b"from b");
            echo(&mut manager, &mut early, b"from early");

            // `a` goes away: its slot is freed, and the next client gets it.
            drop(a);
            run_until(&mut manager, id, "close a", |server| {
                server.log.last() == Some(&ServerNote::Closed(0))
            });
            assert!(manager.subscriber_mut(id).unwrap().connections[0].is_none());
            let mut c = connect(address);
            run_until(&mut manager, id, "accept c", accepted(0));
            echo(&mut manager, &mut c, b"from c, in slot 0");

            // `b` floods its connection (slot 2) without reading; with small
            // buffers on both sides, the echo soon waits for `OUT`.
            let server = manager.subscriber_mut(id).unwrap();
            shrink_buffer(
                &server.connections[2].as_ref().unwrap().stream,
                libc::SO_SNDBUF,
            );
            shrink_buffer(&b, libc::SO_RCVBUF);
            let in_out = ServerNote::Interest(2, EventSet::IN | EventSet::OUT);
            let sent = flood(&mut manager, id, &mut b, |server| {
                server.log.contains(&in_out)
            });
            assert!(manager.subscriber_mut(id).unwrap().connections[2]
                .as_ref()
                .unwrap()
                .is_waiting());
            // The others are served meanwhile.
            echo(&mut manager, &mut c, b"c while b floods");
            // `b` reads everything back; the connection's interest is `IN`
            // again once its last byte was written.
            drain(&mut manager, &mut b, sent);
            let server = manager.subscriber_mut(id).unwrap();
            let interest: Vec<ServerNote> = server
                .log
                .iter()
                .copied()
                .filter(|note| matches!(note, ServerNote::Interest(..)))
                .collect();
            assert_eq!(interest, [in_out, ServerNote::Interest(2, EventSet::IN)]);
            echo(&mut manager, &mut b, b"b after the flood");
            echo(&mut manager, &mut early, b"early at the end");

            let server = manager.subscriber_mut(id).unwrap();
            let accepts: Vec<ServerNote> = server
                .log
                .iter()
                .copied()
                .filter(|note| !matches!(note, ServerNote::Interest(..)))
                .collect();
            assert_eq!(
                accepts,
                [
                    ServerNote::Accepted(0),
                    ServerNote::Accepted(2),
                    ServerNote::Closed(0),
                    ServerNote::Accepted(0),
                ]
            );
        }
    };
}

mod derived_server {
    use super::*;

    /// A TCP echo server: a listener, and a slot per connection.
    #[derive(MutEventSubscriber)] // [rd]
    #[event(fd = listener)] // [rd]
    #[event(fd = connections[..], handler = on_connection)] // [rd]
    pub struct Server {
        pub listener: TcpListener,
        pub connections: Vec<Option<Connection>>,
        pub log: Vec<ServerNote>,
    }

    impl Server {
        fn on_listener(&mut self, ops: &mut EventOps) {
            while let Some(stream) = accept(&self.listener) {
                let slot = free_slot(&mut self.connections);
                self.connections[slot] = Some(Connection::new(stream));
                self.attach_connections(slot, ops).unwrap(); // [rd]
                self.log.push(ServerNote::Accepted(slot));
            }
        }

        fn on_connection(&mut self, index: usize, events: Events, ops: &mut EventOps) {
            let Some(connection) = self.connections[index].as_mut() else {
                return;
            };
            let was_waiting = connection.is_waiting();
            let open = connection.pump();
            let waiting = connection.is_waiting();
            // [rd begin]
            let hung_up = events
                .event_set()
                .intersects(EventSet::HANG_UP | EventSet::ERROR);
            // [rd end]
            if !open || hung_up {
                self.detach_connections(index, ops).unwrap(); // [rd]
                self.connections[index] = None;
                self.log.push(ServerNote::Closed(index));
            } else if waiting != was_waiting {
                // [rd begin]
                let interest = if waiting {
                    EventSet::IN | EventSet::OUT
                } else {
                    EventSet::IN
                };
                self.set_connections_interest(index, ops, interest).unwrap();
                // [rd end]
                self.log.push(ServerNote::Interest(index, interest));
            }
        }
    }

    echo_server_test!();
}

mod by_hand_server {
    use super::*;

    /// A TCP echo server: a listener, and a slot per connection.
    pub struct Server {
        pub listener: TcpListener,
        pub connections: Vec<Option<Connection>>,
        pub log: Vec<ServerNote>,
    }

    // [rd begin]
    const LISTENER: u32 = 0;
    const FIRST_CONNECTION: u32 = 1;

    /// The data tag of connection slot `slot`.
    fn connection_tag(slot: usize) -> u32 {
        FIRST_CONNECTION + u32::try_from(slot).expect("a slot that fits a tag")
    }

    impl MutEventSubscriber for Server {
        fn init(&mut self, ops: &mut EventOps) {
            let listener = Events::with_data(&self.listener, LISTENER, EventSet::IN);
            ops.add(listener).expect("register the listener");
            for (slot, connection) in self.connections.iter().enumerate() {
                if let Some(connection) = connection {
                    let events = Events::with_data(connection, connection_tag(slot), EventSet::IN);
                    ops.add(events).expect("register a connection");
                }
            }
        }

        fn process(&mut self, events: Events, ops: &mut EventOps) {
            match events.data() {
                LISTENER => self.on_listener(ops),
                tag => {
                    let slot = (tag - FIRST_CONNECTION) as usize;
                    self.on_connection(slot, events, ops);
                }
            }
        }
    }
    // [rd end]

    impl Server {
        fn on_listener(&mut self, ops: &mut EventOps) {
            while let Some(stream) = accept(&self.listener) {
                let slot = free_slot(&mut self.connections);
                let connection = Connection::new(stream);
                // [rd begin]
                let events = Events::with_data(&connection, connection_tag(slot), EventSet::IN);
                ops.add(events).unwrap();
                // [rd end]
                self.connections[slot] = Some(connection);
                self.log.push(ServerNote::Accepted(slot));
            }
        }

        fn on_connection(&mut self, index: usize, events: Events, ops: &mut EventOps) {
            let Some(connection) = self.connections[index].as_mut() else {
                return;
            };
            let was_waiting = connection.is_waiting();
            let open = connection.pump();
            let waiting = connection.is_waiting();
            // [rd begin]
            let hung_up = events
                .event_set()
                .intersects(EventSet::HANG_UP | EventSet::ERROR);
            // [rd end]
            if !open || hung_up {
                ops.remove(Events::empty(connection)).unwrap(); // [rd]
                self.connections[index] = None;
                self.log.push(ServerNote::Closed(index));
            } else if waiting != was_waiting {
                // [rd begin]
                let interest = if waiting {
                    EventSet::IN | EventSet::OUT
                } else {
                    EventSet::IN
                };
                let events = Events::with_data(connection, connection_tag(index), interest);
                ops.modify(events).unwrap();
                // [rd end]
                self.log.push(ServerNote::Interest(index, interest));
            }
        }
    }

    echo_server_test!();
}

// ---------------------------------------------------------------------
// Shape 12: log, don't panic.
// ---------------------------------------------------------------------

/// Every record logged in this test binary, as (level, message).
static RECORDS: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

struct KeepRecords;

impl Log for KeepRecords {
    fn enabled(&self, _metadata: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let entry = (record.level(), record.args().to_string());
        RECORDS.lock().unwrap().push(entry);
    }

    fn flush(&self) {}
}

/// Installs `KeepRecords` as the logger, once for the whole binary.
fn install_logger() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&KeepRecords).expect("no other logger in this binary");
        log::set_max_level(LevelFilter::Trace);
    });
}

/// The records whose message contains `needle`.
fn records_naming(needle: &str) -> Vec<(Level, String)> {
    let records = RECORDS.lock().unwrap();
    records
        .iter()
        .filter(|(_, message)| message.contains(needle))
        .cloned()
        .collect()
}

/// Two metrics subscribers share one API eventfd: the second one cannot
/// register it (`FdAlreadyRegistered`), logs that as an error naming its
/// type and the field, and runs on with its timer; API requests go to the
/// first one.
macro_rules! metrics_test {
    () => {
        #[test]
        fn a_failed_registration_is_logged_and_the_other_fd_still_works() {
            install_logger();
            let api = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
            let metrics = |api: &Arc<EventFd>| Metrics {
                metrics: TimerFd::new().unwrap(),
                api: Arc::clone(api),
                flushes: 0,
                api_requests: 0,
            };
            let mut manager = EventManager::new().unwrap();
            let first = manager.add_subscriber(metrics(&api));
            assert!(records_naming(type_name::<Metrics>()).is_empty());
            let second = manager.add_subscriber(metrics(&api));

            let logged = records_naming(type_name::<Metrics>());
            assert_eq!(logged.len(), 1, "{logged:?}");
            let (level, message) = &logged[0];
            assert_eq!(*level, Level::Error);
            assert!(message.contains("`api`"), "{message}");
            let error = event_manager::Error::FdAlreadyRegistered.to_string();
            assert!(message.contains(&error), "{message}");

            // The second one's timer is watched.
            let soon = Duration::from_millis(1);
            let timer = &mut manager.subscriber_mut(second).unwrap().metrics;
            timer.reset(soon, None).unwrap();
            run_until(&mut manager, second, "the timer fires", |metrics| {
                metrics.flushes > 0
            });
            assert_eq!(manager.subscriber_mut(second).unwrap().flushes, 1);

            // The API eventfd is the first one's.
            api.write(1).unwrap();
            assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
            assert_eq!(manager.subscriber_mut(first).unwrap().api_requests, 1);
            assert_eq!(manager.subscriber_mut(second).unwrap().api_requests, 0);
            assert_eq!(manager.subscriber_mut(first).unwrap().flushes, 0);
        }
    };
}

mod derived_metrics {
    use super::*;

    /// A VMM's metrics subscriber: a flush timer and an API eventfd that
    /// it shares; it logs a failed registration and runs on.
    #[derive(MutEventSubscriber)] // [rd]
    #[subscriber(init_error = "log")] // [rd]
    #[event(fd = metrics)] // [rd]
    #[event(fd = api)] // [rd]
    pub struct Metrics {
        pub metrics: TimerFd,
        pub api: Arc<EventFd>,
        pub flushes: u64,
        pub api_requests: u64,
    }

    impl Metrics {
        fn on_metrics(&mut self) {
            self.flushes += self.metrics.wait().unwrap();
        }

        fn on_api(&mut self) {
            self.api_requests += self.api.read().unwrap();
        }
    }

    metrics_test!();
}

mod by_hand_metrics {
    use super::*;

    /// A VMM's metrics subscriber: a flush timer and an API eventfd that
    /// it shares; it logs a failed registration and runs on.
    pub struct Metrics {
        pub metrics: TimerFd,
        pub api: Arc<EventFd>,
        pub flushes: u64,
        pub api_requests: u64,
    }

    const METRICS: u32 = 0; // [rd]
    const API: u32 = 1; // [rd]

    // [rd begin]
    impl MutEventSubscriber for Metrics {
        fn init(&mut self, ops: &mut EventOps) {
            let name = type_name::<Self>();
            let metrics = Events::with_data(&self.metrics, METRICS, EventSet::IN);
            if let Err(error) = ops.add(metrics) {
                log::error!("{name}: cannot register the fd of field `metrics`: {error}");
            }
            let api = Events::with_data(&*self.api, API, EventSet::IN);
            if let Err(error) = ops.add(api) {
                log::error!("{name}: cannot register the fd of field `api`: {error}");
            }
        }

        fn process(&mut self, events: Events, _ops: &mut EventOps) {
            match events.data() {
                METRICS => self.on_metrics(),
                API => self.on_api(),
                _ => {}
            }
        }
    }
    // [rd end]

    impl Metrics {
        fn on_metrics(&mut self) {
            self.flushes += self.metrics.wait().unwrap();
        }

        fn on_api(&mut self) {
            self.api_requests += self.api.read().unwrap();
        }
    }

    metrics_test!();
}
