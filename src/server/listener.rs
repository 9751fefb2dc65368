//! Listening for connections: one thread per connection.
//!
//! Every WebSocket starts as a TCP connection to the server's port
//! (RFC 6455 §4.1, §4.2). The article serves one connection at a time, in
//! its accept loop. That breaks as soon as a browser is involved: browsers
//! open spare connections that send nothing, and one of those would block
//! the loop until it closes. Here each connection gets its own thread and a
//! read timeout, and a handler's error ends only that connection.

use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::command_line::{self, CommandLineError};
use crate::narrate;
use crate::protocol::http::{self, Status, is_timeout};
use crate::server::address_share;
use crate::server::admission::Admission;
use crate::server::conversation::{self, Stretch};
use crate::server::error::Error;

/// The article's port.
pub const DEFAULT_PORT: u16 = 2345;

/// How long a client may take to send its request head, by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's socket, shared by whoever reads and writes it.
///
/// One socket is one file descriptor, and descriptors are what a busy
/// server runs out of first. `TcpStream::try_clone` would give the reader
/// and the writer a descriptor each; instead they share the one socket,
/// since reading and writing need only `&TcpStream` (the kernel keeps the
/// two directions apart).
#[derive(Debug, Clone)]
pub struct Socket {
    stream: Arc<TcpStream>,
    /// With a period, our output must move on within each
    /// ([`Socket::demand_progress`]); this copy's stretch, if output waits.
    progress: Option<(Duration, Option<Stretch>)>,
}

impl Socket {
    pub fn new(stream: TcpStream) -> Socket {
        Socket {
            stream: Arc::new(stream),
            progress: None,
        }
    }

    /// From now on, writes through this socket (and clones made from it
    /// afterwards) fail with [`conversation::output_stalled`] once output has waited
    /// for `period` without [`conversation::FRAME_PROGRESS_BYTES`] of it
    /// going out. A blocking write returns after the write timeout with
    /// what it managed, so `period` should be that timeout.
    pub fn demand_progress(&mut self, period: Duration) {
        self.progress = Some((period, None));
    }

    /// One write, under the progress rule if there is one: `wanted` bytes
    /// asked for, `write` the system call.
    fn write_progressing(
        &mut self,
        wanted: usize,
        write: impl FnOnce(&TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let Some((period, waiting)) = &mut self.progress else {
            return write(&self.stream);
        };
        let stretch = waiting.get_or_insert_with(Stretch::begin);
        if stretch.began.elapsed() > *period {
            return Err(conversation::output_stalled());
        }
        match write(&self.stream) {
            Ok(count) if count >= wanted => {
                *waiting = None;
                Ok(count)
            }
            Ok(count) => {
                stretch.moved(count);
                Ok(count)
            }
            Err(error) if is_timeout(&error) => Err(conversation::output_stalled()),
            Err(error) => Err(error),
        }
    }
}

impl std::ops::Deref for Socket {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl Read for Socket {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        (&*self.stream).read(buffer)
    }
}

impl Write for Socket {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_progressing(bytes.len(), |mut stream| stream.write(bytes))
    }

    fn write_vectored(&mut self, buffers: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let wanted = buffers.iter().map(|buffer| buffer.len()).sum();
        self.write_progressing(wanted, |mut stream| stream.write_vectored(buffers))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket a connection reads from, with an optional overall deadline.
///
/// A read timeout alone bounds each `read`, not the whole: a client sending
/// one byte every nine seconds would keep a 10-second timeout happy for
/// ever. While a deadline is set, every read waits at most until then.
pub struct DeadlineStream {
    stream: Socket,
    deadline: Option<Instant>,
}

impl Read for DeadlineStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        self.stream.read(buffer)
    }
}

/// One client connection.
///
/// Reading goes through one `BufReader` for the whole life of the
/// connection: the HTTP head and the first frame can arrive in the same TCP
/// segment, and a fresh reader per phase would lose whatever the old one had
/// buffered. Writing goes straight to the socket, the same one.
pub struct Connection {
    pub reader: BufReader<DeadlineStream>,
    pub writer: Socket,
    /// The port the server listens on (it is in the `Origin` of our own pages).
    pub local_port: u16,
    /// Connections are numbered from 1 in the order they are admitted
    /// (one refused at the cap or at its address's share gets no number).
    pub id: u64,
    /// The chapter's binary name, shown on its test page.
    pub chapter: &'static str,
}

impl Connection {
    pub fn new(
        stream: TcpStream,
        local_port: u16,
        id: u64,
        chapter: &'static str,
    ) -> io::Result<Connection> {
        let writer = Socket::new(stream);
        Ok(Connection {
            reader: BufReader::new(DeadlineStream {
                stream: writer.clone(),
                deadline: None,
            }),
            writer,
            local_port,
            id,
            chapter,
        })
    }

    /// Changes how long a read may wait (`None`: for ever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.writer.set_read_timeout(timeout)
    }

    /// Every read from now on must finish by `deadline` (`None`: no deadline).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.reader.get_mut().deadline = deadline;
    }

    /// Lifts the handshake's deadline. Reads keep the timeout the deadline
    /// last set (what was left of it) until the chapter sets its own.
    pub fn handshake_finished(&mut self) {
        self.set_deadline(None);
    }

    /// Closes our side, then reads and discards what the peer still sends
    /// until it closes too (or a short wait runs out).
    ///
    /// Dropping a socket with unread bytes in its receive buffer makes the
    /// kernel send a reset, and a reset can destroy our last response before
    /// the peer reads it — an error page that never arrives.
    pub fn close(mut self) {
        let _ = self.writer.shutdown(Shutdown::Write);
        // An overall deadline, not a per-read timeout: a peer trickling a
        // byte at a time must not keep this thread here.
        self.set_deadline(Some(Instant::now() + LINGER));
        let mut discard = [0; 4096];
        let mut budget: usize = LINGER_BYTES;
        while let Ok(count @ 1..) = self.reader.read(&mut discard) {
            budget = budget.saturating_sub(count);
            if budget == 0 {
                break;
            }
        }
    }
}

/// After our side closes: how long, and how much, a server reads and
/// discards before it drops the socket.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// [`Connection::close`] for an event loop (chapters 13 and 15), which
/// cannot wait in a read: once the connection's last bytes are out, our
/// side shuts, and what the peer still sends is read and dropped, up to
/// 1 MiB, until it closes too or a second has passed.
#[derive(Debug)]
pub struct Linger {
    until: Option<Instant>,
    discarded: usize,
    peer_gone: bool,
}

impl Linger {
    /// Closing starts; `peer_gone`: the peer has closed its side already,
    /// so there will be nothing to read.
    pub fn new(peer_gone: bool) -> Linger {
        Linger {
            until: None,
            discarded: 0,
            peer_gone,
        }
    }

    /// Our last bytes are out: shuts our side, once. Returns whether the
    /// connection is over already (the peer had closed).
    pub fn shut(&mut self, stream: &mio::net::TcpStream) -> bool {
        if self.until.is_none() {
            let _ = stream.shutdown(Shutdown::Write);
            self.until = Some(Instant::now() + LINGER);
        }
        self.peer_gone
    }

    /// When to stop waiting for the peer: `None` until our side has shut
    /// (until then there is nothing to read).
    pub fn until(&self) -> Option<Instant> {
        self.until
    }

    /// `count` more bytes read and dropped; whether that is enough.
    pub fn discard(&mut self, count: usize) -> bool {
        self.discarded += count;
        self.discarded >= LINGER_BYTES
    }
}

/// Where and how long to listen.
#[derive(Debug, Clone)]
pub struct Options {
    /// `0` asks the system for any free port.
    pub port: u16,
    /// Stop after this many connections (tests and workshops); `None`: never.
    pub connections: Option<usize>,
    /// How long a client has to complete its request head.
    pub handshake_timeout: Duration,
    /// The most connections served at once (chapters 10 and up); `None`:
    /// no cap.
    pub max_connections: Option<usize>,
    /// The most of those one client address may hold
    /// (`server::address_share`); `None`: no share.
    pub max_connections_per_address: Option<usize>,
}

/// `--port` and `--connections`: what every chapter reads.
#[derive(Debug, Clone, clap::Args)]
pub struct Listen {
    /// The port to listen on, on loopback; 0 asks the system for any free
    /// port (the first line on stderr says which)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Stop after serving this many connections (tests and workshops)
    /// [default: never]
    #[arg(long, value_name = "N", value_parser = connection_count)]
    pub connections: Option<usize>,
}

/// `--connections N`: zero is refused, since the server would serve one
/// connection all the same (it stops once one more is in).
fn connection_count(text: &str) -> Result<usize, String> {
    command_line::at_least_one(text).map(NonZeroUsize::get)
}

impl Listen {
    /// Where and how long to listen, with no cap on connections.
    pub fn options(&self) -> Options {
        Options {
            port: self.port,
            connections: self.connections,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            max_connections: None,
            max_connections_per_address: None,
        }
    }
}

/// [`Listen`] and the connection cap: `--max-connections N` and
/// `--max-connections-per-address N`. Zero of either is refused: it would
/// start a server that answers everyone 503.
#[derive(Debug, Clone, clap::Args)]
pub struct Capped {
    #[command(flatten)]
    pub listen: Listen,
    /// The most connections served at once; more are answered 503
    /// [default: this process's limit on open files (ulimit -n) less 32]
    #[arg(long, value_name = "N", value_parser = connection_slots)]
    pub max_connections: Option<usize>,
    /// The most of those one client address may hold; more from it are
    /// answered 503 [default: a quarter of --max-connections]
    #[arg(long, value_name = "N", value_parser = connection_slots)]
    pub max_connections_per_address: Option<usize>,
}

impl Capped {
    /// Without `--max-connections`, the cap is [`default_max_connections`];
    /// without `--max-connections-per-address`, each address's share is a
    /// quarter of the cap ([`address_share::default_share`]).
    pub fn options(&self) -> Options {
        let cap = self.max_connections.unwrap_or_else(default_max_connections);
        Options {
            max_connections: Some(cap),
            max_connections_per_address: Some(
                self.max_connections_per_address
                    .unwrap_or_else(|| address_share::default_share(cap)),
            ),
            ..self.listen.options()
        }
    }
}

/// A number of connection slots: zero is refused, told why (it would
/// start a server that answers every client 503).
fn connection_slots(text: &str) -> Result<usize, String> {
    let why = "a server with no connection slots would answer every client 503";
    command_line::at_least_one_since(text, Some(why)).map(NonZeroUsize::get)
}

/// A chapter's command line when it has no options but [`Listen`]'s.
#[derive(Debug, clap::Parser)]
struct ListenCommand {
    #[command(flatten)]
    listen: Listen,
}

impl Options {
    /// For a chapter with no options of its own: `--port` and
    /// `--connections`.
    pub fn from_env() -> Result<Options, CommandLineError> {
        let command: ListenCommand = command_line::parse_chapter()?;
        Ok(command.listen.options())
    }
}

/// Descriptors kept back from the connection cap, for the server's own
/// files: the listening socket, stdio, the log.
const RESERVED_DESCRIPTORS: usize = 32;

/// The default connection cap: this process's limit on open files, less a
/// few for its own. Each connection holds one descriptor, so under the cap
/// `accept` does not run out of them.
pub fn default_max_connections() -> usize {
    open_files_limit()
        .unwrap_or(1024)
        .saturating_sub(RESERVED_DESCRIPTORS)
        .max(1)
}

/// The soft limit on open files (`ulimit -n`), as Linux shows it in
/// `/proc/self/limits`: `Max open files  1024  524288  files`.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

/// The listening socket could not be opened: the port is taken, say.
#[derive(Debug)]
pub struct ListenError {
    pub port: u16,
    pub error: io::Error,
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cannot listen on port {}: {}", self.port, self.error)
    }
}

impl std::error::Error for ListenError {}

/// A whole chapter with no options of its own: reads the command line,
/// serves, and says how it ended, as `main` returns it.
pub fn run<F>(chapter: &'static str, handler: F) -> ExitCode
where
    F: Fn(&mut Connection) -> Result<(), Error> + Send + Sync + 'static,
{
    match Options::from_env() {
        Ok(options) => exit_code(serve(chapter, &options, handler)),
        Err(stop) => stop.report(),
    }
}

/// How a server's run ended, as `main` returns it: a listening socket that
/// could not be opened is reported, and the exit status says so.
pub fn exit_code(served: Result<(), ListenError>) -> ExitCode {
    let code = match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            narrate::problem(error);
            ExitCode::FAILURE
        }
    };
    narrate::flush();
    code
}

/// A server's first line: where it listens. Tests, benchmarks and the
/// workshop checker start servers on port 0 and read the port back from
/// it with [`port_in_listening_line`].
pub fn listening_line(port: u16) -> String {
    format!("Listening on ws://localhost:{port} (open http://localhost:{port} in a browser)")
}

/// The port a [`listening_line`] names, if `line` is one.
pub fn port_in_listening_line(line: &str) -> Option<u16> {
    line.split("ws://localhost:")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Opens the listening socket on loopback and says where, in the
/// [`listening_line`]: the port asked for, or the one the system gave for
/// port 0.
pub fn listen(port: u16) -> Result<(TcpListener, u16), ListenError> {
    narrate::init();
    // Loopback only: a tutorial server should not be reachable from the network.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .map_err(|error| ListenError { port, error })?;
    let port = listener.local_addr().map_or(port, |addr| addr.port());
    narrate::headline(listening_line(port));
    Ok((listener, port))
}

/// Accepts connections on loopback and hands each to `handler` on its own
/// thread. Returns after `options.connections` connections, if set.
pub fn serve<F>(chapter: &'static str, options: &Options, handler: F) -> Result<(), ListenError>
where
    F: Fn(&mut Connection) -> Result<(), Error> + Send + Sync + 'static,
{
    serve_after(chapter, options, |_| {}, handler)
}

/// [`serve`], calling `listening` with the port once the listening line is
/// out and before the first connection is accepted: what a server starts
/// beside its listener (chapter 14's link to the other servers) speaks
/// after that line, never before.
pub fn serve_after<F>(
    chapter: &'static str,
    options: &Options,
    listening: impl FnOnce(u16),
    handler: F,
) -> Result<(), ListenError>
where
    F: Fn(&mut Connection) -> Result<(), Error> + Send + Sync + 'static,
{
    let (listener, port) = listen(options.port)?;
    listening(port);

    let handler = Arc::new(handler);
    let mut threads = Vec::new();
    let mut failing = Failing::default();
    let admission = Admission::new(options);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => {
                failing.recovered();
                accepted
            }
            Err(error) => {
                failing.failed(&error);
                continue;
            }
        };
        // Over the cap or the address's share, a connection is answered at
        // once with 503 and `Retry-After`, instead of holding a thread and
        // a descriptor.
        let ticket = match admission.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(refused) => {
                refused.answer(stream);
                continue;
            }
        };
        let handler = Arc::clone(&handler);
        let id = ticket.id();
        let timeout = options.handshake_timeout;
        let accepted_on = Accepted {
            stream,
            local_port: port,
            id,
        };
        // The connection is handed over once its thread exists: if the
        // system refuses a thread (a container's limit on processes, say),
        // `thread::spawn` would panic and take the whole server down, so
        // the connection is refused with 503 instead and the loop goes on.
        let (hand_over, take) = mpsc::sync_channel::<Accepted>(1);
        let spawned = thread::Builder::new().spawn(move || {
            if let Ok(accepted_on) = take.recv() {
                serve_one(accepted_on, timeout, chapter, &*handler);
            }
            drop(ticket);
        });
        match spawned {
            Ok(thread) => {
                let _ = hand_over.send(accepted_on);
                // Only a server told to stop after `--connections N` waits
                // for its threads. Otherwise the handle is dropped at once,
                // which detaches the thread: its stack is given back the
                // moment it ends. A kept handle would hold that stack
                // (megabytes of address space, some of it touched) until
                // someone joined it.
                if options.connections.is_some() {
                    threads.push(thread);
                }
            }
            Err(error) => {
                narrate::problem(format!(
                    "Could not start a thread for connection #{id}: {error} → answered 503"
                ));
                refuse(
                    accepted_on.stream,
                    "the server cannot start a thread for you now",
                );
            }
        }
        if admission.all_admitted() {
            break;
        }
    }
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}

/// Answers `503 Service Unavailable` with `Retry-After` on the accepting
/// thread, and closes: used when a connection cannot be served (no thread
/// for it, or too many connections). Never waits: the response goes into
/// the socket's empty send buffer, and what the client already sent (up to
/// 256 KiB) is read and discarded first, so that closing does not reset
/// the connection before the response is read.
pub fn refuse(stream: TcpStream, why: &str) {
    /// At most 256 KiB read and discarded: a request head is 8 KiB at most.
    const REFUSE_DISCARD_READS: usize = 64;
    let _ = stream.set_nonblocking(true);
    let mut discard = [0; 4096];
    // Bounded: a client that keeps sending cannot keep this thread (the
    // accepting one, or an event loop) here.
    for _ in 0..REFUSE_DISCARD_READS {
        if !matches!((&stream).read(&mut discard), Ok(1..)) {
            break;
        }
    }
    let body = format!("{why}\n");
    let _ = http::write_response(
        &mut &stream,
        Status::SERVICE_UNAVAILABLE,
        &[("Retry-After", "1")],
        "text/plain; charset=utf-8",
        body.as_bytes(),
    );
    let _ = stream.shutdown(Shutdown::Write);
}

/// A run of failed `accept`s, such as "Too many open files".
///
/// Retrying at once would spin: the cause (no descriptor free) lasts until
/// connections close, and every attempt fails the same way. So the loop
/// waits between attempts, twice as long each time up to a second, and
/// says so once per run of failures, not once per attempt.
///
/// An event loop cannot sleep (every other connection would wait too): it
/// asks [`Failing::failed_wait`] how long to leave the listener alone, and
/// serves the others meanwhile (`server::admission::Gate`, chapters 13
/// and 15).
#[derive(Debug, Default)]
pub struct Failing {
    attempts: u64,
}

impl Failing {
    const FIRST_WAIT: Duration = Duration::from_millis(10);
    const LONGEST_WAIT: Duration = Duration::from_secs(1);

    fn failed(&mut self, error: &io::Error) {
        thread::sleep(self.failed_wait(error));
    }

    /// Counts a failed `accept` (saying so on the first of a run) and
    /// returns how long to wait before the next attempt.
    pub fn failed_wait(&mut self, error: &io::Error) -> Duration {
        if self.attempts == 0 {
            narrate::problem(format!(
                "Could not accept a connection: {error}. Retrying less and less often \
                 (up to once a second) until it works"
            ));
        }
        self.attempts += 1;
        Failing::FIRST_WAIT
            .saturating_mul(1 << self.attempts.min(10))
            .min(Failing::LONGEST_WAIT)
    }

    /// An `accept` worked: ends a run of failures, saying how long it was.
    pub fn recovered(&mut self) {
        if self.attempts > 0 {
            narrate::problem(format!(
                "Accepting connections again, after {} failed attempts",
                self.attempts
            ));
            self.attempts = 0;
        }
    }
}

/// A connection just accepted, and what the listener knows about it.
struct Accepted {
    stream: TcpStream,
    local_port: u16,
    id: u64,
}

fn serve_one<F>(accepted: Accepted, handshake_timeout: Duration, chapter: &'static str, handler: &F)
where
    F: Fn(&mut Connection) -> Result<(), Error>,
{
    let Accepted {
        stream,
        local_port,
        id,
    } = accepted;
    narrate::set_connection(id);
    // Small frames go out at once instead of waiting to be merged (Nagle).
    let _ = stream.set_nodelay(true);
    // Reads are bounded by the handshake deadline, set below. Writes need no
    // timeout yet: an HTTP response fits in the socket's buffer, and the
    // WebSocket chapters set one when the conversation starts.
    let mut connection = match Connection::new(stream, local_port, id, chapter) {
        Ok(connection) => connection,
        Err(error) => {
            narrate::problem(format!("Could not set up a connection: {error}"));
            return;
        }
    };
    connection.set_deadline(Some(Instant::now() + handshake_timeout));
    if let Err(error) = handler(&mut connection) {
        error.refuse(&mut connection.writer);
    }
    connection.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linger_shuts_our_side_once_then_reads_at_most_a_mebibyte_for_a_second() {
        let listening = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a port");
        let mut peer =
            TcpStream::connect(listening.local_addr().expect("its address")).expect("connected");
        peer.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read timeout");
        let (ours, _) = listening.accept().expect("accepted");
        let ours = mio::net::TcpStream::from_std(ours);
        let mut linger = Linger::new(false);
        assert_eq!(
            linger.until(),
            None,
            "nothing to read before our side shuts"
        );
        let before = Instant::now();
        assert!(!linger.shut(&ours), "the peer is still there");
        let until = linger.until().expect("a deadline once shut");
        assert!(until >= before + LINGER && until <= Instant::now() + LINGER);
        assert!(!linger.shut(&ours));
        assert_eq!(linger.until(), Some(until), "shut once, not again");
        let mut end = [0; 1];
        assert_eq!(peer.read(&mut end).expect("the end of our stream"), 0);
        assert!(!linger.discard(LINGER_BYTES - 1));
        assert!(linger.discard(1), "a mebibyte is enough");
        assert!(
            Linger::new(true).shut(&ours),
            "a peer gone already: over at once"
        );
    }

    #[test]
    fn only_zero_connection_slots_is_told_it_would_refuse_everyone() {
        let zero = connection_slots("0").unwrap_err();
        assert!(zero.contains("no connection slots"), "{zero}");
        for typo in ["1.5", "-1", "many"] {
            let said = connection_slots(typo).unwrap_err();
            assert!(said.contains("is not a count"), "{said}");
            assert!(!said.contains("no connection slots"), "{typo}: {said}");
        }
        assert_eq!(connection_slots("7"), Ok(7));
    }

    #[test]
    fn the_listening_line_gives_its_port_back() {
        assert_eq!(port_in_listening_line(&listening_line(2345)), Some(2345));
        assert_eq!(port_in_listening_line(&listening_line(0)), Some(0));
        assert_eq!(port_in_listening_line("Cannot listen on port 2345"), None);
    }
}
