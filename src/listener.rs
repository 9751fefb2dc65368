//! Listening for connections: one thread per connection.
//!
//! Every WebSocket starts as a TCP connection to the server's port
//! (RFC 6455 §4.1, §4.2). The article serves one connection at a time, in
//! its accept loop. That breaks as soon as a browser is involved: browsers
//! open spare connections that send nothing, and one of those would block
//! the loop until it closes. Here each connection gets its own thread and a
//! read timeout, and a handler's error ends only that connection.

use std::io::{BufReader, Read};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::args::Args;
use crate::error::Error;
use crate::http::{self, HttpError};
use crate::narrate;

/// The article's port.
pub const DEFAULT_PORT: u16 = 2345;

/// How long a client may take to send its request head.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection.
///
/// Reading goes through one `BufReader` for the whole life of the
/// connection: the HTTP head and the first frame can arrive in the same TCP
/// segment, and a fresh reader per phase would lose whatever the old one had
/// buffered. Writing goes straight to the socket.
pub struct Connection {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    pub peer: SocketAddr,
    /// The chapter's binary name, shown on its test page.
    pub chapter: &'static str,
}

impl Connection {
    pub fn new(stream: TcpStream, chapter: &'static str) -> std::io::Result<Connection> {
        let peer = stream.peer_addr()?;
        let writer = stream.try_clone()?;
        Ok(Connection {
            reader: BufReader::new(stream),
            writer,
            peer,
            chapter,
        })
    }

    /// Changes how long a read may wait (`None`: for ever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.writer.set_read_timeout(timeout)
    }

    /// Closes our side, then reads and discards what the peer still sends
    /// until it closes too (or a short wait runs out).
    ///
    /// Dropping a socket with unread bytes in its receive buffer makes the
    /// kernel send a reset, and a reset can destroy our last response before
    /// the peer reads it — an error page that never arrives.
    pub fn close(mut self) {
        let _ = self.writer.shutdown(Shutdown::Write);
        let _ = self.set_read_timeout(Some(Duration::from_secs(1)));
        let mut discard = [0; 4096];
        let mut budget: usize = 1 << 20;
        while let Ok(count @ 1..) = self.reader.read(&mut discard) {
            budget = budget.saturating_sub(count);
            if budget == 0 {
                break;
            }
        }
    }
}

/// Where and how long to listen.
#[derive(Debug, Clone)]
pub struct Options {
    /// `0` asks the system for any free port.
    pub port: u16,
    /// Stop after this many connections (tests and workshops); `None`: never.
    pub connections: Option<usize>,
}

impl Options {
    /// Takes `--port N` and `--connections N` from the command line.
    pub fn take_from(args: &mut Args) -> Options {
        Options {
            port: args.value("--port", "N").unwrap_or(DEFAULT_PORT),
            connections: args.value("--connections", "N"),
        }
    }

    /// For a chapter with no options of its own.
    pub fn from_env() -> Options {
        let mut args = Args::from_env();
        let options = Options::take_from(&mut args);
        args.finish();
        options
    }
}

/// Accepts connections on loopback and hands each to `handler` on its own
/// thread. Returns after `options.connections` connections, if set.
pub fn serve<F>(chapter: &'static str, options: &Options, handler: F)
where
    F: Fn(&mut Connection) -> Result<(), Error> + Send + Sync + 'static,
{
    narrate::init();
    // Loopback only: a tutorial server should not be reachable from the network.
    let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)) {
        Ok(listener) => listener,
        Err(error) => {
            narrate::problem(format!("Cannot listen on port {}: {error}", options.port));
            std::process::exit(1);
        }
    };
    let port = listener
        .local_addr()
        .map_or(options.port, |addr| addr.port());
    narrate::event(format!(
        "Listening on ws://localhost:{port} (open http://localhost:{port} in a browser)"
    ));

    let handler = Arc::new(handler);
    let mut threads = Vec::new();
    let mut accepted = 0;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                narrate::problem(format!("Could not accept a connection: {error}"));
                continue;
            }
        };
        let handler = Arc::clone(&handler);
        threads.push(thread::spawn(move || serve_one(stream, chapter, &*handler)));
        threads.retain(|thread| !thread.is_finished());
        accepted += 1;
        if options.connections.is_some_and(|limit| accepted >= limit) {
            break;
        }
    }
    for thread in threads {
        let _ = thread.join();
    }
}

fn serve_one<F>(stream: TcpStream, chapter: &'static str, handler: &F)
where
    F: Fn(&mut Connection) -> Result<(), Error>,
{
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
    let mut connection = match Connection::new(stream, chapter) {
        Ok(connection) => connection,
        Err(error) => {
            narrate::problem(format!("Could not set up a connection: {error}"));
            return;
        }
    };
    match handler(&mut connection) {
        Ok(()) => {}
        Err(Error::Http(HttpError::ClosedBeforeRequest)) => narrate::aside(
            "A connection closed without sending anything (browsers open spare connections ahead of time).",
        ),
        Err(error) => {
            if let Some((status, headers)) = error.http_refusal() {
                let body = format!("{error}\n");
                let _ = http::write_response(
                    &mut connection.writer,
                    status,
                    headers,
                    "text/plain; charset=utf-8",
                    body.as_bytes(),
                );
                narrate::problem(format!("{error} → answered {status}"));
            } else {
                narrate::problem(error);
            }
        }
    }
    connection.close();
}
