//! Chapter 13 — One thread for every connection: an event loop (beyond
//! the article).
//!
//! Chapter 13 is chapter 10 plus an event loop: the same session, options,
//! limits and narration, served from one thread instead of a thread per
//! connection (`diff steps/10-echo-server.rs steps/13-event-loop.rs`).
//! Chapter 15 tunes this loop; this one is the lesson.
//!
//! Chapter 10 gives every connection a thread that blocks where it waits.
//! That reads top to bottom, and it stops where its doc comment says:
//! thousands of mostly idle connections are thousands of threads, each a
//! stack and a scheduler entry. This chapter serves every connection from
//! one thread (the log writer of chapter 10 is still a thread of its own),
//! the way nginx, Node and tokio do underneath, and it drives chapter 10's
//! engine, `protocol::session::Session`, through its plainest entry point,
//! `Session::receive`: the session never knew who waits.
//!
//! **Non-blocking sockets.** Every socket here is non-blocking: a `read`
//! with nothing to read returns `WouldBlock` at once instead of waiting,
//! and a `write` into a full send buffer writes what fits (maybe nothing).
//! So one thread can never get stuck on one connection; it needs to know
//! *which* sockets are worth trying.
//!
//! **Registering interest, and readiness.** That is what `epoll` tells,
//! through `mio` (the small crate tokio is built on; on Linux each of its
//! calls is one `epoll_*` system call, and it spares us the `unsafe` code
//! of calling them by hand). Each socket is registered once with what we
//! want to hear of ("tell me when it is readable"), and `poll` sleeps until
//! some are *ready*: bytes are waiting, or there is room to write. The
//! reading and writing are still ours. (Windows' IOCP and Linux's io_uring
//! work by *completion* instead: you hand the kernel a buffer, and it tells
//! you when the read into it is done.)
//!
//! **Edges: read until `WouldBlock`.** `mio` reports edges: a socket is
//! reported when it *becomes* ready, not while it stays ready. So a loop
//! must read until the socket says `WouldBlock`, or it may never hear of
//! the rest. A read that returns less than it asked for is not enough: the
//! peer's end of stream or a reset can wait right behind those bytes, and
//! no new edge will come for them (`mio`'s documentation says the same).
//! Stop early, and a peer that sends half a frame and resets holds its
//! connection until the idle timeout: 200 such clients would hold 200 of
//! `--max-connections` (the test `a_reset_after_a_partial_frame_…`).
//!
//! **A connection is a state machine.** A thread keeps its place in its
//! own stack; here each connection keeps it in a `Phase`. First its request
//! head gathers until whole (`protocol::http::parse_request`, chapter 10's
//! limits), and is answered as chapter 10 answers it (the page, a refusal
//! with its status, or the `101`). Then the bytes go into its `Session`, and
//! its events are handed out at once. Last, closing: our final bytes go
//! out, our side shuts, and what the peer still sends is read and dropped
//! for up to a second, as chapter 10's listener does. Every read goes into
//! one buffer of the loop's and on into the session, so a connection with
//! nothing arriving holds no read buffer at all.
//!
//! **Write interest only while output waits.** Frames the session queued
//! are written at once; what the socket does not take waits in the
//! connection's output, and only then does the loop ask to hear when the
//! socket is *writable*. Asked for always, `poll` would wake up for every
//! connection that could be written to, which is nearly all of them.
//!
//! **Backpressure.** A connection whose output holds more than 1 MiB is not
//! read any more (its interest drops to writable only) until its peer has
//! read enough of it. So a peer that sends and never reads costs a bounded
//! amount of memory and no time from the others, and if its output does not
//! move for the idle timeout, it is dropped, as chapter 10's write timeout
//! drops it.
//!
//! **One set of deadlines.** Chapter 10 lets the kernel time each blocking
//! read. Here one ordered set (`BTreeSet`) holds every connection's next
//! deadline, earliest first (the handshake's, the idle timeout, a write
//! that makes no progress), and `poll` waits no longer than the earliest.
//! A message pushes a connection's deadline back without touching the set:
//! when an entry comes due, the loop asks the connection for its real
//! deadline, and schedules the later one. But a closed connection's entry
//! leaves with it: a binary heap cannot take an entry out of its middle,
//! and one that kept them until they came due would hold some 180,000 at
//! 6,000 connections a second, paid for by every connection after. The
//! stalled-frame rule is chapter 10's (`conversation::check_progress`).
//! So every limit of chapter 10 holds: `--max-connections` (503 with
//! `Retry-After`), an `accept` that fails for want of descriptors (the
//! listener is left alone for a while, longer each time: the loop cannot
//! sleep, the others need it), `--max-buffered` (1013), `--frame-timeout`
//! (1008), and logging through the bounded queue.
//!
//! **Where `async`/`await` fits.** This loop is what tokio runs underneath.
//! An `async fn` is compiled into a state machine much like `Phase` below:
//! each `.await` on a socket that would block returns `Pending` to the
//! runtime, which has registered the socket with `epoll` and resumes the
//! function when `poll` says the socket is ready. Async code reads top to
//! bottom like chapter 10 and runs like chapter 13; what it hides is
//! exactly what this file shows. A sans-IO session is what lets all three
//! (threads, a hand-written loop, async) drive the same protocol code.
//!
//! **What it buys.** 15,000 idle connections in a few dozen MiB, where
//! chapter 10 needs a thread each (`cargo bench --bench scale`), and more
//! round trips and connections per second than chapter 10 (`cargo bench
//! --bench echo`; the README gives the figures).
//!
//! **What graduates.** Nothing: chapter 15 moves this chapter's set of
//! deadlines into the library (`server::deadlines`) as it tunes the loop.
//!
//! The options, the page, the narration and its levels are chapter 10's:
//! `--verbose`, `--quiet`, `--idle-timeout`, `--frame-timeout`,
//! `--handshake-timeout`, `--max-message-size`, `--max-buffered` and
//! `--max-connections`. Every behaviour test of chapter 10 runs against
//! this chapter too, and so does the Autobahn suite.
//!
//! Try it: `cargo run --bin 13-event-loop`, then
//! `cargo run --bin client -- --ping "still there?" --close 1000 --reason bye`,
//! or open <http://localhost:2345> and type into the page's box
//! (`--verbose` tells every frame).
//!
//! You should see, among its narration (as pinned in
//! `snapshots/13-event-loop.snap`):
//!
//! ```text
//! #1 ← text 16 bytes "Can you hear me?" → echoed
//! #1 ← ping "still there?" → pong
//! #1 ← close 1000 (normal closure) "bye" → close, hang up
//! ```

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use websocket_from_scratch::Error;
use websocket_from_scratch::command_line::{Args, CommandLineError};
use websocket_from_scratch::narrate::{self, Level};
use websocket_from_scratch::protocol::frame::{self, FrameHeader};
use websocket_from_scratch::protocol::http::{self, HttpError};
use websocket_from_scratch::protocol::message::Message;
use websocket_from_scratch::protocol::session::{Budget, Event, Session};
use websocket_from_scratch::server::conversation::{
    self, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFERED, DEFAULT_MAX_MESSAGE_SIZE,
};
use websocket_from_scratch::server::listener::{self, Failing, ListenError};
use websocket_from_scratch::server::opening::{self, Opening};

const CHAPTER: &str = "13-event-loop";

/// What this server allows, decided once at start-up.
struct Settings {
    max_message_size: u64,
    idle_timeout: Duration,
    frame_timeout: Duration,
    /// Shared by every connection: the bytes of messages being received.
    budget: Arc<Budget>,
}

/// The whole command line, read once.
struct Options {
    listen: listener::Options,
    settings: Settings,
    level: Level,
}

impl Options {
    fn from_env() -> Result<Options, CommandLineError> {
        let mut args = Args::from_env()?;
        let mut listen = listener::Options::take_with_cap(&mut args)?;
        if let Some(timeout) = args.seconds("--handshake-timeout")? {
            listen.handshake_timeout = timeout;
        }
        let max_message_size = args
            .value("--max-message-size", "BYTES")?
            .unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
        let idle_timeout = args
            .seconds("--idle-timeout")?
            .unwrap_or(DEFAULT_IDLE_TIMEOUT);
        let settings = Settings {
            max_message_size,
            idle_timeout,
            frame_timeout: args.seconds("--frame-timeout")?.unwrap_or(idle_timeout),
            budget: Budget::new(
                args.value("--max-buffered", "BYTES")?
                    .unwrap_or(DEFAULT_MAX_BUFFERED),
            ),
        };
        let level = narrate::take_level(&mut args);
        args.finish()?;
        Ok(Options {
            listen,
            settings,
            level,
        })
    }
}

fn main() -> ExitCode {
    let Options {
        listen,
        settings,
        level,
    } = match Options::from_env() {
        Ok(options) => options,
        Err(stop) => return stop.report(),
    };
    // No restart with allocator settings, unlike chapter 10: one thread
    // allocates from one arena, which gives its free top back by itself.
    narrate::set_level(level);
    narrate::write_through_queue(narrate::QUEUE_LINES);
    listener::exit_code(serve(listen, settings))
}

/// The listening socket's token; a connection's token is its slot.
const LISTENER: Token = Token(usize::MAX);
/// Output beyond which a connection is not read until its peer catches up.
const BACKED_UP: usize = 1024 * 1024;
/// After our side closes: how long, and how much, we read and discard
/// before dropping the socket (as `listener::Connection::close` does).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// Listens on loopback and serves every connection from this one thread.
/// Returns after `--connections` connections, if set.
fn serve(listen: listener::Options, settings: Settings) -> Result<(), ListenError> {
    narrate::init();
    let port = listen.port;
    let cannot = |error| ListenError { port, error };
    // Loopback only: a tutorial server should not be reachable from the network.
    let listening = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(cannot)?;
    let port = listening.local_addr().map_or(port, |addr| addr.port());
    narrate::headline(listener::listening_line(port));
    // lesson: a non-blocking listener, registered with poll for readable
    listening.set_nonblocking(true).map_err(cannot)?;
    let mut listener = TcpListener::from_std(listening);
    let poll = Poll::new().map_err(cannot)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(cannot)?;
    // end of lesson
    let mut event_loop = EventLoop {
        poll,
        listener: Some(listener),
        listening: true,
        connections: Vec::new(),
        free: Vec::new(),
        open: 0,
        accepted: 0,
        deadlines: BTreeSet::new(),
        scratch: vec![0; 64 * 1024],
        failing: Failing::default(),
        accept_again_at: None,
        over_cap: 0,
        listen,
        settings,
    };
    event_loop.run().map_err(cannot)
}

/// The loop: one `Poll` (one epoll instance), the listening socket, and
/// every connection, in slots.
struct EventLoop {
    poll: Poll,
    /// `None` once `--connections` have been accepted.
    listener: Option<TcpListener>,
    /// Whether the listener is registered (not while `accept` is failing).
    listening: bool,
    connections: Vec<Option<Connection>>,
    /// Slots whose connection has gone, to be used again.
    free: Vec<usize>,
    open: usize,
    accepted: u64,
    /// Every connection's next deadline, earliest first: (when, slot).
    deadlines: BTreeSet<(Instant, usize)>,
    /// Where every connection reads into; bytes go on into its session.
    scratch: Vec<u8>,
    failing: Failing,
    accept_again_at: Option<Instant>,
    over_cap: u64,
    listen: listener::Options,
    settings: Settings,
}

/// A connection, from its first byte to its last.
struct Connection {
    stream: TcpStream,
    id: u64,
    phase: Phase,
    /// Bytes waiting to be written, from `output[written..]`.
    output: Vec<u8>,
    written: usize,
    /// What `poll` was last asked to report for this socket.
    interest: Interest,
    /// The deadline the loop holds for this connection, if any.
    scheduled: Option<Instant>,
    /// When a write last made progress (or output began to wait).
    wrote_at: Instant,
    /// Nothing more to do: drop the socket.
    done: bool,
}

// lesson: a connection's state: its head, then its session, then closing
enum Phase {
    /// The request head is arriving: it gathers in `head` until whole.
    Opening { head: Vec<u8>, deadline: Instant },
    /// A WebSocket conversation, driven by its session (boxed: connections
    /// still in their handshake need none of its few hundred bytes).
    Talking {
        session: Box<Session>,
        read_at: Instant,
        /// A frame's stretch for `conversation::check_progress`.
        stretch: Option<(Instant, usize)>,
    },
    /// Our last bytes go out; then our side closes and what the peer still
    /// sends is read and discarded until it closes too, or `until`.
    Closing {
        until: Option<Instant>,
        discarded: usize,
        peer_gone: bool,
    },
}
// end of lesson

impl EventLoop {
    /// Waits for readiness or the next deadline, acts on what is ready,
    /// then on what is due. Returns once `--connections` have been served.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while self.listener.is_some() || self.open > 0 {
            // lesson: poll until the next deadline, then serve what is ready
            let next = [
                self.deadlines.first().map(|&(at, _)| at),
                self.accept_again_at,
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = next.map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    Token(slot) => {
                        let readable =
                            event.is_readable() || event.is_read_closed() || event.is_error();
                        let writable = event.is_writable() || event.is_write_closed();
                        self.ready(slot, readable, writable);
                    }
                }
            }
            self.fire_deadlines(Instant::now());
            // end of lesson
        }
        Ok(())
    }

    /// Accepts every connection waiting, until `WouldBlock`.
    fn accept_all(&mut self) {
        narrate::forget_connection();
        while let Some(listener) = &self.listener {
            match listener.accept() {
                Ok((stream, _)) => {
                    self.failing.recovered();
                    self.admit(stream);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    // Out of descriptors, say: trying again at once would
                    // spin, and sleeping would stop every connection. The
                    // listener is left alone until a deadline says so.
                    let wait = self.failing.failed_wait(&error);
                    self.stop_listening();
                    self.accept_again_at = Some(Instant::now() + wait);
                    return;
                }
            }
        }
    }

    fn stop_listening(&mut self) {
        if let Some(listener) = &mut self.listener
            && self.listening
        {
            let _ = self.poll.registry().deregister(listener);
            self.listening = false;
        }
    }

    /// Serves a new connection, or refuses it over the cap.
    fn admit(&mut self, stream: TcpStream) {
        if let Some(cap) = self.listen.max_connections {
            if self.open >= cap {
                if self.over_cap == 0 {
                    narrate::problem(format!(
                        "{cap} connections open, the most allowed (--max-connections): \
                         refusing new ones with 503 until some close"
                    ));
                }
                self.over_cap += 1;
                listener::refuse(stream.into(), "too many connections; try again shortly");
                return;
            }
            if self.over_cap > 0 {
                narrate::problem(format!(
                    "Below the connection cap again; {} connections were refused",
                    self.over_cap
                ));
                self.over_cap = 0;
            }
        }
        self.accepted += 1;
        if self
            .listen
            .connections
            .is_some_and(|limit| self.accepted >= limit as u64)
        {
            self.stop_listening();
            self.listener = None;
        }
        // Small frames go out at once instead of waiting to be merged (Nagle).
        let _ = stream.set_nodelay(true);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.connections.push(None);
            self.connections.len() - 1
        });
        let now = Instant::now();
        // lesson: a new connection starts reading its head, watched for readable
        let mut connection = Connection {
            stream,
            id: self.accepted,
            phase: Phase::Opening {
                head: Vec::new(),
                deadline: now + self.listen.handshake_timeout,
            },
            output: Vec::new(),
            written: 0,
            interest: Interest::READABLE,
            scheduled: None,
            wrote_at: now,
            done: false,
        };
        let registry = self.poll.registry();
        if let Err(error) =
            registry.register(&mut connection.stream, Token(slot), Interest::READABLE)
        {
            narrate::problem(format!("Could not set up a connection: {error}"));
            self.free.push(slot);
            return;
        }
        // end of lesson
        self.open += 1;
        self.connections[slot] = Some(connection);
        // Its request may be there already: no edge would tell of it again.
        self.ready(slot, true, false);
    }

    /// A connection's socket is ready: writes what waits, reads what came.
    fn ready(&mut self, slot: usize, readable: bool, writable: bool) {
        let Some(Some(connection)) = self.connections.get_mut(slot) else {
            return;
        };
        narrate::set_connection(connection.id);
        if writable {
            connection.flush();
        }
        if readable && connection.reads() {
            connection.read(&mut self.scratch, &self.settings);
        }
        if !connection.done {
            connection.flush();
        }
        self.settle(slot);
    }

    /// After anything happened to a connection: drop it if it is done,
    /// close our side once its last bytes are out, ask `poll` for what it
    /// now needs to hear, and keep its deadline in the set.
    fn settle(&mut self, slot: usize) {
        let Some(Some(connection)) = self.connections.get_mut(slot) else {
            return;
        };
        if let Phase::Closing {
            until, peer_gone, ..
        } = &mut connection.phase
            && until.is_none()
            && connection.output.is_empty()
        {
            if *peer_gone {
                connection.done = true;
            } else {
                let _ = connection.stream.shutdown(Shutdown::Write);
                *until = Some(Instant::now() + LINGER);
            }
        }
        // lesson: one set of deadlines: a connection's entry goes with it
        if connection.done {
            if let Some(at) = connection.scheduled {
                self.deadlines.remove(&(at, slot));
            }
            self.connections[slot] = None;
            self.free.push(slot);
            self.open -= 1;
            return;
        }
        let due = connection.due(self.settings.idle_timeout);
        if connection.scheduled.is_none_or(|scheduled| due < scheduled) {
            if let Some(at) = connection.scheduled {
                self.deadlines.remove(&(at, slot));
            }
            self.deadlines.insert((due, slot));
            connection.scheduled = Some(due);
        }
        // end of lesson
        // lesson: write interest only while output waits; no reading while it is backed up
        let wanted = match (connection.reads(), connection.output.is_empty()) {
            (true, true) => Interest::READABLE,
            (true, false) => Interest::READABLE | Interest::WRITABLE,
            (false, _) => Interest::WRITABLE,
        };
        if wanted != connection.interest {
            // Asked again for readable, epoll reports at once what arrived
            // while it was not read (`EPOLL_CTL_MOD` looks again).
            let registry = self.poll.registry();
            if let Err(error) = registry.reregister(&mut connection.stream, Token(slot), wanted) {
                narrate::problem(format!("Could not watch a connection: {error}"));
            }
            connection.interest = wanted;
        }
        // end of lesson
    }

    /// Acts on every deadline that has passed, and on the listener's.
    fn fire_deadlines(&mut self, now: Instant) {
        if self.accept_again_at.is_some_and(|at| at <= now) {
            self.accept_again_at = None;
            if let Some(listener) = &mut self.listener {
                let registered =
                    self.poll
                        .registry()
                        .register(listener, LISTENER, Interest::READABLE);
                self.listening = registered.is_ok();
                self.accept_all();
            }
        }
        // lesson: an entry that comes due asks its connection for its real deadline
        while let Some(&(at, slot)) = self.deadlines.first()
            && at <= now
        {
            self.deadlines.pop_first();
            let Some(Some(connection)) = self.connections.get_mut(slot) else {
                continue;
            };
            connection.scheduled = None;
            // A message since then has pushed the deadline back: `settle`
            // schedules the later one.
            if connection.due(self.settings.idle_timeout) <= now {
                narrate::set_connection(connection.id);
                connection.deadline_passed(now);
                if !connection.done {
                    connection.flush();
                }
            }
            self.settle(slot);
        }
        // end of lesson
    }
}

impl Connection {
    /// Whether the loop reads this connection now: not while its output
    /// is backed up (its peer is not reading), nor once its closing bytes
    /// wait to go out.
    fn reads(&self) -> bool {
        match &self.phase {
            Phase::Opening { .. } | Phase::Talking { .. } => self.pending() <= BACKED_UP,
            Phase::Closing { until, .. } => until.is_some(),
        }
    }

    fn pending(&self) -> usize {
        self.output.len() - self.written
    }

    /// When the loop must look at this connection again if nothing happens.
    fn due(&self, idle_timeout: Duration) -> Instant {
        if !self.output.is_empty() {
            // A peer that stops reading: chapter 10's write timeout.
            return self.wrote_at + idle_timeout;
        }
        match &self.phase {
            Phase::Opening { deadline, .. } => *deadline,
            Phase::Talking { read_at, .. } => *read_at + idle_timeout,
            Phase::Closing { until, .. } => until.unwrap_or(self.wrote_at + idle_timeout),
        }
    }

    /// Queues bytes to send, starting the write clock if none were waiting.
    fn send(&mut self, bytes: &[u8]) {
        if self.output.is_empty() {
            self.wrote_at = Instant::now();
        }
        self.output.extend_from_slice(bytes);
    }

    /// Writes what waits, until the socket takes no more; a write error
    /// ends the connection.
    fn flush(&mut self) {
        // lesson: a non-blocking write takes what fits; the rest waits in the output
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => self.done = true,
                Ok(count) => {
                    self.written += count;
                    self.wrote_at = Instant::now();
                    continue;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    if matches!(self.phase, Phase::Talking { .. }) {
                        narrate::problem(Error::from(error));
                    }
                    self.done = true;
                }
            }
            return;
        }
        // All out: a long echo's memory goes back now, not with the connection.
        self.output = Vec::new();
        self.written = 0;
        // end of lesson
    }

    /// Reads what arrived, as the phase wants it, until `WouldBlock`.
    fn read(&mut self, scratch: &mut [u8], settings: &Settings) {
        // lesson: read until WouldBlock: only then will new bytes be a new edge
        while self.reads() && !self.done {
            let count = match self.stream.read(scratch) {
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.failed(error);
                    return;
                }
            };
            // A read shorter than asked for is no proof that the socket is
            // drained: the peer's end of stream, or a reset, may wait
            // behind the bytes, and no new edge will tell of them.
            match &mut self.phase {
                Phase::Opening { head, .. } if count > 0 => {
                    head.extend_from_slice(&scratch[..count])
                }
                Phase::Talking { session, .. } if count > 0 => session.receive(&scratch[..count]),
                Phase::Closing { discarded, .. } if count > 0 => {
                    *discarded += count;
                    if *discarded >= LINGER_BYTES {
                        self.done = true;
                    }
                }
                _ => return self.ended(),
            }
            // end of lesson
            self.received(count, settings);
        }
    }

    /// The read failed: the connection is over.
    fn failed(&mut self, error: io::Error) {
        match self.phase {
            Phase::Opening { .. } => self.refuse(HttpError::Io(error).into()),
            Phase::Talking { .. } => {
                narrate::problem(Error::from(error));
                self.done = true;
            }
            Phase::Closing { .. } => self.done = true,
        }
    }

    /// The peer closed its side: what that means depends on the phase.
    fn ended(&mut self) {
        match &mut self.phase {
            Phase::Opening { head, .. } => {
                let error = match head.len() {
                    0 => HttpError::ClosedBeforeRequest,
                    received => HttpError::ClosedMidRequest { received },
                };
                self.refuse(error.into());
            }
            Phase::Talking { session, .. } => {
                match session.peer_closed() {
                    Ok(()) => narrate::session::tell_hang_up(),
                    Err(error) => narrate::problem(Error::from(error)),
                }
                self.close(true);
            }
            Phase::Closing { .. } => self.done = true,
        }
    }

    /// `count` bytes arrived into the head or the session: answers a whole
    /// head, or hands out what the session made of them.
    fn received(&mut self, count: usize, settings: &Settings) {
        match &mut self.phase {
            Phase::Opening { head, .. } => match http::parse_request(head) {
                Ok(None) => {}
                Ok(Some((request, used))) => {
                    let rest = head.split_off(used);
                    self.answer(&request, &rest, settings);
                }
                Err(error) => self.refuse(error.into()),
            },
            Phase::Talking {
                session,
                read_at,
                stretch,
            } => {
                *read_at = Instant::now();
                conversation::check_progress(session, stretch, count, settings.frame_timeout);
                self.hand_out();
            }
            Phase::Closing { .. } => {}
        }
    }

    /// Answers a whole request head as chapter 10 does: the page, a refusal
    /// with its status, or the `101` and a session, which takes whatever
    /// came after the head.
    fn answer(&mut self, request: &http::Request, rest: &[u8], settings: &Settings) {
        let mut response = Vec::new();
        match opening::answer_checking_origin(request, &mut response, None, CHAPTER, None) {
            Ok(Opening::Upgraded) => {
                self.send(&response);
                narrate::event(
                    "Handshake completed. Echoing every message until the client leaves.",
                );
                narrate::summary("connected: handshake completed");
                let mut session = Session::new(settings.max_message_size)
                    .with_budget(Arc::clone(&settings.budget));
                session.receive(rest);
                self.phase = Phase::Talking {
                    session: Box::new(session),
                    read_at: Instant::now(),
                    stretch: None,
                };
                self.received(rest.len(), settings);
            }
            Ok(Opening::ServedPage) => {
                self.send(&response);
                self.close(false);
            }
            Err(error) => self.refuse(error),
        }
    }

    /// The request cannot be served: the status that answers it, if any,
    /// and the reason in the log, as chapter 10's listener says them.
    fn refuse(&mut self, error: Error) {
        match error {
            Error::Http(HttpError::ClosedBeforeRequest) => narrate::aside(
                "A connection closed without sending anything (browsers open spare connections ahead of time).",
            ),
            error => match error.http_refusal() {
                Some((status, headers)) => {
                    let body = format!("{error}\n");
                    let mut response = Vec::new();
                    let _ = http::write_response(
                        &mut response,
                        status,
                        headers,
                        "text/plain; charset=utf-8",
                        body.as_bytes(),
                    );
                    self.send(&response);
                    narrate::problem(format!("{error} → answered {status}"));
                }
                None => narrate::problem(error),
            },
        }
        self.close(false);
    }

    /// From now on only our last bytes go out (`peer_gone`: the peer has
    /// closed its side already, so there is nothing left to read).
    fn close(&mut self, peer_gone: bool) {
        self.phase = Phase::Closing {
            until: None,
            discarded: 0,
            peer_gone,
        };
    }

    /// Narrates the session's events, echoes its messages, and queues the
    /// frames it made. Once the session is finished, the connection closes.
    fn hand_out(&mut self) {
        let Phase::Talking { session, .. } = &mut self.phase else {
            return;
        };
        while let Some(event) = session.next_event() {
            narrate::session::tell(&event);
            if let Event::Message(message) = event {
                tell_echo(&message);
                session.send(message.opcode, message.payload);
            }
        }
        let finished = session.is_finished();
        let mut frames = Vec::new();
        for outgoing in session.take_outgoing() {
            let rsv = conversation::rsv_of(&outgoing);
            let _ =
                frame::write_with_rsv(&mut frames, true, rsv, outgoing.opcode, &outgoing.payload);
        }
        if !frames.is_empty() {
            self.send(&frames);
        }
        if finished {
            self.close(false);
        }
    }

    /// A deadline passed with nothing else happening: chapter 10's
    /// timeouts, one by one.
    fn deadline_passed(&mut self, now: Instant) {
        if !self.output.is_empty() {
            // Our output has not moved for the idle timeout.
            if matches!(self.phase, Phase::Talking { .. }) {
                narrate::problem(Error::Io(io::ErrorKind::TimedOut.into()));
            }
            self.done = true;
            return;
        }
        match &mut self.phase {
            Phase::Opening { head, .. } => {
                let received = head.len();
                self.refuse(HttpError::TimedOut { received }.into());
            }
            Phase::Talking {
                session, read_at, ..
            } => {
                *read_at = now;
                match session.timed_out() {
                    Ok(()) => self.hand_out(),
                    Err(error) => {
                        narrate::problem(Error::from(error));
                        self.close(false);
                    }
                }
            }
            Phase::Closing { .. } => self.done = true,
        }
    }
}

/// The story of a complete message and its echo: the whole story when
/// `--verbose`, one line by default.
fn tell_echo(message: &Message) {
    if narrate::tells(Level::Frames) {
        if message.frames > 1 {
            narrate::received(format!(
                "Assembled a {} message from {} frames: {} bytes",
                message.opcode,
                message.frames,
                message.payload.len()
            ));
        }
        narrate::plain(format!("  {}", narrate::preview(message)));
        let echo_header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: message.opcode,
            mask: None,
            payload_len: message.payload.len() as u64,
        };
        narrate::sent(format!(
            "Echoing {} frame: {} bytes, header {:?}",
            message.opcode,
            message.payload.len(),
            frame::encode_header(&echo_header)
        ));
    } else if narrate::tells(Level::Messages) {
        let frames = if message.frames > 1 {
            format!(" in {} frames", message.frames)
        } else {
            String::new()
        };
        narrate::summary(format!(
            "← {} {} bytes{frames} {} → echoed",
            message.opcode,
            message.payload.len(),
            narrate::preview(message)
        ));
    }
}
