//! The echo server: one subscriber for the listener, the stop fds and every
//! connection, written with `#[derive(MutEventSubscriber)]`. The
//! connections are one `#[event]` over a `Vec` of slots: no data tag is
//! written by hand, and the handler gets the slot's index.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Duration;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use event_manager_examples::{set_nonblocking, signal_name, StopSignals};
use vmm_sys_util::eventfd::EventFd;
use vmm_sys_util::timerfd::TimerFd;

/// How long accepting pauses when the process is out of fds or memory.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How many bytes of a connection may wait to be echoed before the server
/// stops reading from it: a client that sends without reading is slowed
/// down by TCP instead of growing the server's memory.
const MAX_PENDING: usize = 256 * 1024;

/// Bytes read from a socket in one call.
const READ_CHUNK: usize = 64 * 1024;

/// What the server did, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServerStats {
    pub accepted: u64,
    pub closed: u64,
    pub failed: u64,
    pub bytes_echoed: u64,
}

#[derive(MutEventSubscriber)]
#[event(fd = listener, handler = on_accept)]
#[event(fd = signals, handler = on_signal)]
#[event(fd = load_done, handler = on_load_done)]
#[event(fd = accept_retry, handler = on_accept_retry)]
#[event(fd = connections[..], handler = on_connection)]
pub struct EchoServer {
    listener: TcpListener,
    signals: StopSignals,
    /// Written by the built-in load when its clients are done.
    load_done: Option<EventFd>,
    /// Open connections; a closed one leaves `None` until a new one
    /// takes its slot.
    connections: Vec<Option<Connection>>,
    free_slots: Vec<usize>,
    /// False while accept fails for lack of fds or memory; a closed
    /// connection or `accept_retry` turns it back on.
    accepting: bool,
    /// A one-shot timer armed while accepting is paused.
    accept_retry: TimerFd,
    read_buffer: Box<[u8]>,
    log_connections: bool,
    stopped_by: Option<&'static str>,
    stats: ServerStats,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes read and not yet written back, from `written` on.
    pending: Vec<u8>,
    written: usize,
    /// The peer shut down its sending side (a read returned 0).
    peer_done: bool,
    interest: EventSet,
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

/// Why a connection ended.
enum Closed {
    /// The peer finished sending and everything was echoed.
    Finished,
    Failed(io::Error),
}

impl EchoServer {
    /// A server on `listener` that stops on `signals`, or when `load_done`
    /// becomes readable.
    pub fn new(
        listener: TcpListener,
        signals: StopSignals,
        load_done: Option<EventFd>,
    ) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(EchoServer {
            listener,
            signals,
            log_connections: load_done.is_none(),
            load_done,
            connections: Vec::new(),
            free_slots: Vec::new(),
            accepting: true,
            accept_retry: nonblocking_timer()?,
            read_buffer: vec![0; READ_CHUNK].into_boxed_slice(),
            stopped_by: None,
            stats: ServerStats::default(),
        })
    }

    /// Why the loop should stop, once it should.
    pub fn stopped_by(&self) -> Option<&'static str> {
        self.stopped_by
    }

    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    pub fn open_connections(&self) -> usize {
        self.connections.iter().flatten().count()
    }

    fn on_accept(&mut self, ops: &mut EventOps) {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if out_of_resources(&err) => return self.pause_accepting(err, ops),
                Err(err) => {
                    // A connection that failed before it was accepted
                    // (ECONNABORTED, EPROTO, ...). Any others wait for the
                    // next run rather than loop here on an error that
                    // might repeat.
                    self.stats.failed += 1;
                    return eprintln!("echo: accept failed: {err}");
                }
            };
            self.stats.accepted += 1;
            if let Err(err) = self.open(stream, peer, ops) {
                self.stats.failed += 1;
                eprintln!("echo: dropping the connection from {peer}: {err}");
            }
        }
    }

    /// Level-triggered, a listener that cannot accept (no fds or memory
    /// left) would wake the loop again at once: stop watching it until a
    /// connection closes or a short timer expires.
    fn pause_accepting(&mut self, err: io::Error, ops: &mut EventOps) {
        eprintln!("echo: accept failed: {err}; pausing for {ACCEPT_RETRY:?}");
        if let Err(err) = self.set_listener_interest(ops, EventSet::empty()) {
            eprintln!("echo: cannot pause the listener: {err}");
            return;
        }
        self.accepting = false;
        if let Err(err) = self.accept_retry.reset(ACCEPT_RETRY, None) {
            eprintln!("echo: cannot arm the retry timer: {err}");
        }
    }

    fn resume_accepting(&mut self, ops: &mut EventOps) {
        if self.accepting {
            return;
        }
        match self.set_listener_interest(ops, EventSet::IN) {
            Ok(()) => self.accepting = true,
            Err(err) => eprintln!("echo: cannot resume accepting: {err}"),
        }
        if let Err(err) = self.accept_retry.clear() {
            eprintln!("echo: cannot disarm the retry timer: {err}");
        }
    }

    fn on_accept_retry(&mut self, ops: &mut EventOps) {
        match self.accept_retry.wait() {
            Ok(_) => self.resume_accepting(ops),
            // Re-armed or disarmed since epoll reported it.
            Err(err) if matches!(err.errno(), libc::EAGAIN | libc::EINTR) => {}
            Err(err) => eprintln!("echo: reading the retry timer failed: {err}"),
        }
    }

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, ops: &mut EventOps) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let slot = self.free_slots.pop().unwrap_or(self.connections.len());
        let connection = Connection {
            stream,
            peer,
            pending: Vec::new(),
            written: 0,
            peer_done: false,
            interest: EventSet::IN,
        };
        if slot == self.connections.len() {
            self.connections.push(Some(connection));
        } else {
            self.connections[slot] = Some(connection);
        }
        if let Err(err) = self.attach_connections(slot, ops) {
            self.connections[slot] = None;
            self.free_slots.push(slot);
            return Err(io::Error::other(format!("register the socket: {err}")));
        }
        if self.log_connections {
            eprintln!("echo: connection {slot} from {peer} opened");
        }
        Ok(())
    }

    fn on_connection(&mut self, slot: usize, events: Events, ops: &mut EventOps) {
        let Some(Some(connection)) = self.connections.get_mut(slot) else {
            return;
        };
        let outcome = connection.serve(events.event_set(), &mut self.read_buffer);
        let echoed = match outcome {
            Ok(echoed) => echoed,
            Err(closed) => return self.close(slot, closed, ops),
        };
        self.stats.bytes_echoed += echoed as u64;
        let (current, wanted) = (connection.interest, connection.wanted_interest());
        if wanted == current {
            return;
        }
        match self.set_connections_interest(slot, ops, wanted) {
            Ok(()) => {
                if let Some(connection) = &mut self.connections[slot] {
                    connection.interest = wanted;
                }
            }
            Err(err) => {
                let err = io::Error::other(format!("change the interest: {err}"));
                self.close(slot, Closed::Failed(err), ops);
            }
        }
    }

    fn close(&mut self, slot: usize, closed: Closed, ops: &mut EventOps) {
        // Deregistered while the slot still holds the socket: the
        // generated method reads the fd from it.
        if let Err(err) = self.detach_connections(slot, ops) {
            eprintln!("echo: cannot unregister connection {slot}: {err}");
        }
        let Some(connection) = self.connections[slot].take() else {
            return;
        };
        let peer = connection.peer;
        // Closed before it is logged: whoever reads the log may count the
        // server's fds next.
        drop(connection);
        let reason = match closed {
            Closed::Finished => {
                self.stats.closed += 1;
                String::new()
            }
            Closed::Failed(err) => {
                self.stats.failed += 1;
                format!(": {err}")
            }
        };
        if self.log_connections {
            eprintln!("echo: connection {slot} from {peer} closed{reason}");
        }
        self.free_slots.push(slot);
        self.resume_accepting(ops);
    }

    fn on_signal(&mut self) {
        match self.signals.take() {
            Ok(Some(signal)) => self.stopped_by = Some(signal_name(signal)),
            Ok(None) => {}
            Err(err) => eprintln!("echo: reading the signalfd failed: {err}"),
        }
    }

    fn on_load_done(&mut self) {
        self.stopped_by = Some("the end of the load");
    }
}

impl Connection {
    /// Reads what the event says is there and writes back what it can.
    /// Returns the bytes written, or why the connection is over.
    fn serve(&mut self, ready: EventSet, read_buffer: &mut [u8]) -> Result<usize, Closed> {
        // ERROR and HANG_UP come whatever the interest; the read (or the
        // write below) returns the socket's error or end of stream.
        let problem = EventSet::ERROR | EventSet::HANG_UP;
        if !self.peer_done && (ready.contains(EventSet::IN) || ready.intersects(problem)) {
            match self.stream.read(read_buffer) {
                Ok(0) => self.peer_done = true,
                Ok(read) => self.pending.extend_from_slice(&read_buffer[..read]),
                Err(err) if is_transient(&err) => {}
                Err(err) => return Err(Closed::Failed(err)),
            }
        }
        let before = self.written;
        while self.written < self.pending.len() {
            match self.stream.write(&self.pending[self.written..]) {
                Ok(written) => self.written += written,
                Err(err) if is_transient(&err) => break,
                Err(err) => return Err(Closed::Failed(err)),
            }
        }
        let echoed = self.written - before;
        if self.written == self.pending.len() {
            self.pending.clear();
            self.written = 0;
            if self.peer_done {
                return Err(Closed::Finished);
            }
        } else if self.written >= READ_CHUNK {
            // Drop the part already sent, so the buffer stays within
            // MAX_PENDING plus two read chunks.
            self.pending.drain(..self.written);
            self.written = 0;
        }
        if self.written < self.pending.len() && ready.contains(EventSet::HANG_UP) && self.peer_done
        {
            // Both directions are shut: what is left cannot be delivered.
            return Err(Closed::Failed(io::Error::from(io::ErrorKind::BrokenPipe)));
        }
        Ok(echoed)
    }

    /// Reads while there is room, writability while bytes wait: no
    /// wake-ups for a socket that has nothing to do.
    fn wanted_interest(&self) -> EventSet {
        let waiting = self.pending.len() - self.written;
        let mut interest = EventSet::empty();
        if !self.peer_done && waiting < MAX_PENDING {
            interest |= EventSet::IN;
        }
        if waiting > 0 {
            interest |= EventSet::OUT;
        }
        interest
    }
}

fn nonblocking_timer() -> io::Result<TimerFd> {
    let timer = TimerFd::new()?;
    set_nonblocking(&timer)?;
    Ok(timer)
}

/// Errors of `accept` that say the process is short of fds or memory, not
/// that something is wrong with one connection.
fn out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
