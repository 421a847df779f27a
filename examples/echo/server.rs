//! The echo server: one subscriber for the listener, the stop fds, its
//! timers and every connection, written with `#[derive(MutEventSubscriber)]`.
//! The connections are one `#[event]` over a `Vec` of slots: no data tag is
//! written by hand, and the handler gets the slot's index.
//!
//! All the server's timers share one `Timers`: the retry of a paused
//! accept, and with an idle timeout one timer per connection, set when it
//! is accepted, moved on whenever bytes go either way, and cancelled when
//! it closes. A timer that fires closes its connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Duration;

use event_manager::{
    EventOps, EventSet, Events, MutEventSubscriber, Signals, StopHandle, TimerId, Timers,
};
use vmm_sys_util::eventfd::EventFd;

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
    /// Closed by the server after the idle timeout.
    pub idle_closed: u64,
    pub bytes_echoed: u64,
}

/// What a timer of the server is for.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// Accepting was paused for lack of fds or memory: try again.
    AcceptRetry,
    /// The connection in this slot has been idle for the idle timeout.
    Idle { slot: usize },
}

#[derive(MutEventSubscriber)]
#[event(fd = listener, handler = on_accept)]
#[event(fd = signals, handler = on_signal)]
#[event(fd = load_done, handler = on_load_done)]
#[event(fd = timers, handler = on_timers)]
#[event(fd = connections[..], handler = on_connection)]
pub struct EchoServer {
    listener: TcpListener,
    signals: Signals,
    /// Written by the built-in load when its clients are done.
    load_done: Option<EventFd>,
    /// Stops the loop's `run_until_stopped`.
    stop: StopHandle,
    /// Open connections; a closed one leaves `None` until a new one
    /// takes its slot.
    connections: Vec<Option<Connection>>,
    free_slots: Vec<usize>,
    timers: Timers<Due>,
    /// Set while accepting is paused (accept failed for lack of fds or
    /// memory): the timer that resumes it, unless a connection closes
    /// first.
    accept_retry: Option<TimerId>,
    /// A connection quiet for this long is closed.
    idle_timeout: Option<Duration>,
    read_buffer: Box<[u8]>,
    log_connections: bool,
    stopped_by: Option<&'static str>,
    stats: ServerStats,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Its idle timer, with an idle timeout.
    idle_timer: Option<TimerId>,
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
    /// Neither side sent a byte for the idle timeout.
    Idle,
    Failed(io::Error),
}

/// What one `Connection::serve` moved.
struct Progress {
    read: usize,
    echoed: usize,
}

impl EchoServer {
    /// A server on `listener` that calls `stop` when one of `signals`
    /// arrives or `load_done` becomes readable, and closes connections idle
    /// for longer than `idle_timeout`.
    pub fn new(
        listener: TcpListener,
        signals: Signals,
        stop: StopHandle,
        load_done: Option<EventFd>,
        idle_timeout: Option<Duration>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        listener.set_nonblocking(true)?;
        Ok(EchoServer {
            listener,
            signals,
            stop,
            log_connections: load_done.is_none(),
            load_done,
            connections: Vec::new(),
            free_slots: Vec::new(),
            timers: Timers::new()?,
            accept_retry: None,
            idle_timeout,
            read_buffer: vec![0; READ_CHUNK].into_boxed_slice(),
            stopped_by: None,
            stats: ServerStats::default(),
        })
    }

    /// Why the server asked the loop to stop, once it has.
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
    /// left) would wake the loop again at once: pause it until a
    /// connection closes or a short timer expires.
    fn pause_accepting(&mut self, err: io::Error, ops: &mut EventOps) {
        eprintln!("echo: accept failed: {err}; pausing for {ACCEPT_RETRY:?}");
        let retry = match self.timers.after(ACCEPT_RETRY, Due::AcceptRetry) {
            Ok(retry) => retry,
            // Without a timer only a closing connection would resume it.
            Err(err) => return eprintln!("echo: cannot set the retry timer: {err}"),
        };
        if let Err(err) = ops.pause(&self.listener) {
            eprintln!("echo: cannot pause the listener: {err}");
            let _ = self.timers.cancel(retry);
            return;
        }
        self.accept_retry = Some(retry);
    }

    fn resume_accepting(&mut self, ops: &mut EventOps) {
        let Some(retry) = self.accept_retry.take() else {
            return;
        };
        // Gone already when it is the timer that resumes.
        let _ = self.timers.cancel(retry);
        if let Err(err) = ops.resume(&self.listener) {
            eprintln!("echo: cannot resume accepting: {err}");
        }
    }

    fn on_timers(&mut self, ops: &mut EventOps) {
        while let Some((timer, due)) = self.timers.pop_expired() {
            match due {
                Due::AcceptRetry => self.resume_accepting(ops),
                Due::Idle { slot } => {
                    let Some(Some(connection)) = self.connections.get_mut(slot) else {
                        continue;
                    };
                    // Timers are cancelled when their connection closes;
                    // this check only guards against a mix-up.
                    if connection.idle_timer != Some(timer) {
                        continue;
                    }
                    connection.idle_timer = None;
                    self.close(slot, Closed::Idle, ops);
                }
            }
        }
    }

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, ops: &mut EventOps) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let slot = self.free_slots.pop().unwrap_or(self.connections.len());
        let idle_timer = match self.idle_timeout {
            Some(timeout) => match self.timers.after(timeout, Due::Idle { slot }) {
                Ok(timer) => Some(timer),
                Err(err) => {
                    self.free_slots.push(slot);
                    return Err(io::Error::other(format!("set its idle timer: {err}")));
                }
            },
            None => None,
        };
        let connection = Connection {
            stream,
            peer,
            idle_timer,
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
            if let Some(timer) = idle_timer {
                let _ = self.timers.cancel(timer);
            }
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
        let progress = match outcome {
            Ok(progress) => progress,
            Err(closed) => return self.close(slot, closed, ops),
        };
        self.stats.bytes_echoed += progress.echoed as u64;
        if let (Some(timer), Some(timeout)) = (connection.idle_timer, self.idle_timeout) {
            if progress.read > 0 || progress.echoed > 0 {
                // Later than before: no system call.
                if let Err(err) = self.timers.reschedule(timer, timeout) {
                    eprintln!("echo: cannot move the idle timer of connection {slot}: {err}");
                }
            }
        }
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
        if let Some(timer) = connection.idle_timer {
            let _ = self.timers.cancel(timer);
        }
        let peer = connection.peer;
        // An idle close during the load is news: it is logged even then.
        let log = self.log_connections || matches!(closed, Closed::Idle);
        // Closed before it is logged: whoever reads the log may count the
        // server's fds next.
        drop(connection);
        let reason = match closed {
            Closed::Finished => {
                self.stats.closed += 1;
                String::new()
            }
            Closed::Idle => {
                self.stats.idle_closed += 1;
                let timeout = self.idle_timeout.unwrap_or_default();
                format!(": idle for longer than {} s", timeout.as_secs_f64())
            }
            Closed::Failed(err) => {
                self.stats.failed += 1;
                format!(": {err}")
            }
        };
        if log {
            eprintln!("echo: connection {slot} from {peer} closed{reason}");
        }
        self.free_slots.push(slot);
        self.resume_accepting(ops);
    }

    fn on_signal(&mut self) {
        loop {
            match self.signals.read() {
                Ok(Some(info)) if info.signal == libc::SIGINT => self.stop_for("SIGINT"),
                Ok(Some(_)) => self.stop_for("SIGTERM"),
                Ok(None) => return,
                Err(err) => return eprintln!("echo: reading the signals failed: {err}"),
            }
        }
    }

    fn on_load_done(&mut self) {
        self.stop_for("the end of the load");
    }

    /// Asks the loop to stop once this batch of events is dispatched; the
    /// first reason given is the one reported.
    fn stop_for(&mut self, reason: &'static str) {
        self.stopped_by.get_or_insert(reason);
        if let Err(err) = self.stop.stop() {
            eprintln!("echo: cannot stop the loop: {err}");
        }
    }
}

impl Connection {
    /// Reads what the event says is there and writes back what it can.
    /// Returns the bytes read and written, or why the connection is over.
    fn serve(&mut self, ready: EventSet, read_buffer: &mut [u8]) -> Result<Progress, Closed> {
        let mut read_now = 0;
        // ERROR and HANG_UP come whatever the interest; the read (or the
        // write below) returns the socket's error or end of stream.
        let problem = EventSet::ERROR | EventSet::HANG_UP;
        if !self.peer_done && (ready.contains(EventSet::IN) || ready.intersects(problem)) {
            match self.stream.read(read_buffer) {
                Ok(0) => self.peer_done = true,
                Ok(read) => {
                    self.pending.extend_from_slice(&read_buffer[..read]);
                    read_now = read;
                }
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
        Ok(Progress {
            read: read_now,
            echoed,
        })
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
