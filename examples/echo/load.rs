//! The built-in load: client threads that send messages to the server and
//! check every byte that comes back.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// How much load to put on the server.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub clients: usize,
    pub messages: usize,
    pub size: usize,
}

/// What the clients saw.
#[derive(Debug)]
pub struct LoadReport {
    pub clients: usize,
    /// Bytes in each message.
    pub size: usize,
    /// Connections whose every message came back intact.
    pub connections: usize,
    pub messages: usize,
    /// Bytes each way: sent by the clients, and received back verified.
    pub bytes: u64,
    pub elapsed: Duration,
    /// One line per client that did not get its messages back intact.
    pub failures: Vec<String>,
}

/// Runs `load` against the server at `server` and waits for every client.
pub fn run(server: SocketAddr, load: Load) -> LoadReport {
    let started = Instant::now();
    let outcomes: Vec<io::Result<()>> = thread::scope(|scope| {
        let clients: Vec<_> = (0..load.clients)
            .map(|client| {
                thread::Builder::new().spawn_scoped(scope, move || run_client(server, client, load))
            })
            .collect();
        clients
            .into_iter()
            .map(|client| match client {
                Ok(client) => client
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the client thread panicked"))),
                Err(err) => Err(io::Error::other(format!("cannot start its thread: {err}"))),
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let failures: Vec<String> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(client, outcome)| {
            outcome
                .as_ref()
                .err()
                .map(|err| format!("client {client}: {err}"))
        })
        .collect();
    let succeeded = load.clients - failures.len();
    LoadReport {
        clients: load.clients,
        size: load.size,
        connections: succeeded,
        messages: succeeded * load.messages,
        bytes: (succeeded * load.messages * load.size) as u64,
        elapsed,
        failures,
    }
}

/// One connection: a writer thread sends the messages while this thread
/// reads the echo and compares it with what was sent, so a message larger
/// than the socket buffers cannot stall both sides.
fn run_client(server: SocketAddr, client: usize, load: Load) -> io::Result<()> {
    let mut reader = TcpStream::connect(server)?;
    reader.set_nodelay(true)?;
    let mut writer = reader.try_clone()?;
    thread::scope(|scope| {
        let sender = thread::Builder::new().spawn_scoped(scope, move || -> io::Result<()> {
            let mut message = vec![0; load.size];
            for index in 0..load.messages {
                fill_message(&mut message, client, index);
                writer.write_all(&message)?;
            }
            // End of stream: the server closes once it has echoed it all.
            writer.shutdown(Shutdown::Write)
        })?;
        let checked = check_echo(&mut reader, client, load);
        let sent = sender
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the sender thread panicked")));
        checked.and(sent)
    })
}

fn check_echo(reader: &mut TcpStream, client: usize, load: Load) -> io::Result<()> {
    let mut expected = vec![0; load.size];
    let mut received = vec![0; load.size];
    for index in 0..load.messages {
        fill_message(&mut expected, client, index);
        reader.read_exact(&mut received)?;
        if let Some(offset) = expected.iter().zip(&received).position(|(a, b)| a != b) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("message {index} differs from what was sent at byte {offset}"),
            ));
        }
    }
    let mut extra = [0u8; 1];
    match reader.read(&mut extra)? {
        0 => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the server sent more bytes than it was sent",
        )),
    }
}

/// Fills `message` with bytes that depend on the client and the message
/// index, so a byte from another message or another connection is caught.
pub fn fill_message(message: &mut [u8], client: usize, index: usize) {
    // xorshift64: cheap, and no two (client, index) pairs start alike.
    let mut state = ((client as u64) << 32 | index as u64) ^ 0x9e37_79b9_7f4a_7c15;
    for chunk in message.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}
