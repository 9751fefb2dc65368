//! Chapter 13 — One thread for every connection: an event loop (beyond
//! the article).
//!
//! Chapter 13 is chapter 10 plus an event loop: the same session, options,
//! limits and narration, served from one thread instead of a thread per
//! connection (`diff steps/10-echo-server.rs steps/13-event-loop.rs`).
//! Chapter 15 tunes this loop; this chapter is the lesson.
//!
//! A thread per connection stops scaling at tens of thousands of mostly
//! idle connections (chapter 10 says why). Here one thread serves them all
//! (the log writer is still a thread of its own), as nginx, Node and tokio
//! do underneath, and drives chapter 10's `Session` through its plainest
//! entry point, `Session::receive`: the session never knew who waits.
//!
//! * **Non-blocking sockets.** A `read` with nothing to read returns
//!   `WouldBlock` at once, and a `write` writes what fits, maybe nothing.
//!   One thread never gets stuck on one connection; it needs to know which
//!   sockets are worth trying.
//! * **Registering interest, and readiness.** Each socket is registered
//!   with `epoll` (through `mio`, the crate tokio is built on) for what we
//!   want to hear of, and `poll` sleeps until some are *ready*: bytes
//!   wait, or there is room to write. The reads and writes are still ours
//!   (io_uring and IOCP report *completion* instead: the kernel did them).
//! * **Edges: read until `WouldBlock`.** `mio` reports a socket when it
//!   *becomes* ready. A short read is no proof that it is drained: the
//!   peer's end of stream or a reset may wait behind the bytes, and no new
//!   edge will tell of them. Stop early, and 200 clients that each send
//!   half a frame and reset hold 200 slots until the idle timeout (the test
//!   `a_reset_after_a_partial_frame_lets_the_connection_go_at_once`).
//! * **A connection's state.** A thread keeps its place on its stack; here
//!   a `Phase` keeps it: the request head gathers until whole and is
//!   answered as chapter 10 answers it; then bytes go into the session and
//!   its events are handed out at once; last, our final bytes go out, our
//!   side shuts, and the loop waits up to a second for the peer's end.
//!   Every read goes into one buffer of the loop's.
//! * **Write interest only while output waits.** What the socket does not
//!   take waits in the connection's output, and only then does the loop
//!   ask to hear when it is *writable*; asked always, `poll` would wake for
//!   nearly every connection.
//! * **Backpressure.** A connection with more than 1 MiB of output waiting
//!   is not read until its peer catches up, and is dropped if its output
//!   does not move for the idle timeout (chapter 10's write timeout).
//! * **One set of deadlines.** One ordered set holds every connection's
//!   next deadline (the handshake's, the idle timeout, a write that makes
//!   no progress), and `poll` waits no longer than the earliest. A message
//!   pushes a deadline back without touching the set: an entry that comes
//!   due asks its connection for its real deadline. A closed connection's
//!   entry leaves with it: entries kept until due would pile up (some
//!   180,000 at 6,000 connections a second) for later connections to pay.
//! * **Where `async`/`await` fits.** An `async fn` compiles into a state
//!   machine much like `Phase`: each `.await` on a socket that would block
//!   returns `Pending` to the runtime (tokio), which has registered the
//!   socket with `epoll` and resumes the function once `poll` says it is
//!   ready. Async code reads like chapter 10 and runs like this chapter.
//!
//! Chapter 10's plumbing comes from the library, one copy for both
//! chapters: the options (`conversation::ServerOptions`), the connection
//! cap and each address's share with their once-per-episode log lines,
//! and the back-off of a failing `accept` (`server::admission`), and the
//! refusals (`Error::refuse`). Its behaviour tests and the Autobahn suite
//! pass here too. What the loop buys is measured by `cargo bench --bench
//! scale` and `cargo bench --bench echo` (figures in the README). Nothing
//! graduates here: chapter 15 moves the set of deadlines into the library.
//!
//! Try it: `cargo run --bin 13-event-loop`, then
//! `cargo run --bin client -- --ping "still there?" --close 1000 --reason bye`,
//! or open <http://localhost:2345> and type into the page's box
//! (`--verbose` tells every frame).
//!
//! You should see these lines among its narration, as
//! `snapshots/13-event-loop.snap` pins them (the client above sends its
//! ping before the text, so there the pong comes first):
//!
//! ```text
//! #1 ← text 16 bytes "Can you hear me?" → echoed
//! #1 ← ping "still there?" → pong
//! #1 ← close 1000 (normal closure) "bye" → close, hang up
//! ```

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use websocket_from_scratch::Error;
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::http::HttpError;
use websocket_from_scratch::protocol::session::{Event, Session, Timeout};
use websocket_from_scratch::server::admission::{Admission, Admitted, Gate, Ticket};
use websocket_from_scratch::server::conversation::{self, ServerOptions, Settings, tell_echo};
use websocket_from_scratch::server::listener::{self, ListenError};
use websocket_from_scratch::server::opening::{self, Opening};

const CHAPTER: &str = "13-event-loop";

fn main() -> ExitCode {
    let ServerOptions {
        listen,
        settings,
        level,
    } = match ServerOptions::from_env() {
        Ok(options) => options,
        Err(stop) => return stop.report(),
    };
    // No restart with allocator settings, unlike chapter 10: one thread
    // allocates from one arena, which gives its free top back by itself.
    narrate::set_level(level);
    narrate::write_through_queue(narrate::QUEUE_LINES);
    listener::exit_code(serve(listen, settings))
}

/// The listening socket's token; a connection's token is its number.
const LISTENER: Token = Token(usize::MAX);
/// Output beyond which a connection is not read until its peer catches up.
const BACKED_UP: usize = 1024 * 1024;
/// After our side closes: how long, and how much, we read and discard
/// before dropping the socket (as `listener::Connection::close` does).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// Listens on loopback and serves every connection from this thread.
/// Returns after `--connections` connections, if set.
fn serve(listen: listener::Options, settings: Settings) -> Result<(), ListenError> {
    let (listening, port) = listener::listen(listen.port)?;
    let cannot = |error| ListenError { port, error };
    let (poll, listener) = {
        // lesson: a non-blocking listener, registered with poll
        listening.set_nonblocking(true).map_err(cannot)?;
        let mut listener = TcpListener::from_std(listening);
        let poll = Poll::new().map_err(cannot)?;
        let registry = poll.registry();
        registry
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(cannot)?;
        (poll, listener)
        // end of lesson
    };
    let mut event_loop = EventLoop {
        poll,
        gate: Gate::new(listener, LISTENER, Admission::new(&listen)),
        connections: HashMap::new(),
        deadlines: BTreeSet::new(),
        scratch: vec![0; 64 * 1024],
        handshake_timeout: listen.handshake_timeout,
        settings,
    };
    event_loop.run().map_err(cannot)
}

/// One `Poll` (one epoll instance), the listening socket, and every
/// connection.
struct EventLoop {
    poll: Poll,
    /// The listening socket, behind chapter 10's connection cap and
    /// address shares (`server::admission`).
    gate: Gate,
    connections: HashMap<usize, Connection>,
    /// Every connection's next deadline, earliest first: (when, number).
    deadlines: BTreeSet<(Instant, usize)>,
    /// What every connection reads into; the bytes go on into its session.
    scratch: Vec<u8>,
    handshake_timeout: Duration,
    settings: Settings,
}

/// A connection, from its first byte to its last.
struct Connection {
    stream: TcpStream,
    phase: Phase,
    /// Bytes waiting to be written, in order; `written` bytes of the
    /// first are out already, `pending` bytes wait in all.
    output: VecDeque<Vec<u8>>,
    written: usize,
    pending: usize,
    /// What `poll` was last asked to report for this socket.
    interest: Interest,
    /// This connection's entry in the set of deadlines, if any.
    scheduled: Option<Instant>,
    /// When a write last made progress (or output began to wait).
    wrote_at: Instant,
    /// Nothing more to do: drop the socket.
    done: bool,
    /// Its place under the cap, given back when it is dropped.
    _ticket: Ticket,
}

/// A connection's state: its head, then its session, then closing.
enum Phase {
    Opening {
        head: Vec<u8>,
        deadline: Instant,
    },
    Talking {
        session: Box<Session>,
        read_at: Instant,
        /// A frame's stretch for `conversation::check_progress`.
        stretch: Option<(Instant, usize)>,
    },
    /// Our last bytes go out; then our side shuts (`until` is set) and
    /// what the peer still sends is dropped until it closes too, or
    /// `until`. `peer_gone`: it has closed already.
    Closing {
        until: Option<Instant>,
        discarded: usize,
        peer_gone: bool,
    },
}

impl EventLoop {
    /// Waits for readiness or the next deadline, acts on what is ready,
    /// then on what is due. Returns once `--connections` have been served.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while self.gate.serving() {
            // lesson: poll until the next deadline, then serve what is ready
            let first = self.deadlines.first().map(|&(at, _)| at);
            let next = first.into_iter().chain(self.gate.retry_at()).min();
            let timeout = next.map(|at| at.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, timeout) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                result => result?,
            }
            for event in events.iter() {
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed();
                match event.token() {
                    LISTENER => self.accept_all(),
                    Token(id) => self.ready(id, readable, writable),
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
        while let Some(Admitted { stream, id, ticket }) = self.gate.accept(self.poll.registry()) {
            // Small frames go out at once instead of waiting to be merged (Nagle).
            let _ = stream.set_nodelay(true);
            let id = id as usize;
            let connection = match self.open(stream, id, ticket) {
                Ok(connection) => connection,
                Err(error) => {
                    narrate::problem(format!("Could not set up a connection: {error}"));
                    continue;
                }
            };
            self.connections.insert(id, connection);
            // Its request may be here already, and no edge would tell of it.
            self.ready(id, true, false);
        }
    }

    /// A new connection, registered for readable, in its first phase.
    fn open(&self, mut stream: TcpStream, id: usize, ticket: Ticket) -> io::Result<Connection> {
        let now = Instant::now();
        // lesson: a new connection, registered for readable, starts with its head
        let registry = self.poll.registry();
        registry.register(&mut stream, Token(id), Interest::READABLE)?;
        Ok(Connection {
            stream,
            phase: Phase::Opening {
                head: Vec::new(),
                deadline: now + self.handshake_timeout,
            },
            output: VecDeque::new(),
            written: 0,
            pending: 0,
            interest: Interest::READABLE,
            scheduled: None,
            wrote_at: now,
            done: false,
            _ticket: ticket,
        })
        // end of lesson
    }

    /// A connection's socket is ready: writes what waits, reads what came.
    fn ready(&mut self, id: usize, readable: bool, writable: bool) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        narrate::set_connection(id as u64);
        if writable {
            connection.flush();
        }
        if readable {
            connection.read(&mut self.scratch, &self.settings);
        }
        connection.flush();
        self.settle(id);
    }

    /// After anything happened to a connection: drop it if it is done,
    /// shut our side once its last bytes are out, keep its deadline in the
    /// set, and ask `poll` for what it now needs to hear.
    fn settle(&mut self, id: usize) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        if let Phase::Closing {
            until: until @ None,
            peer_gone,
            ..
        } = &mut connection.phase
            && connection.output.is_empty()
        {
            connection.done |= *peer_gone;
            let _ = connection.stream.shutdown(Shutdown::Write);
            *until = Some(Instant::now() + LINGER);
        }
        // lesson: one set of deadlines, one entry per connection, gone with it
        if let Some(at) = connection.scheduled
            && (connection.done || connection.due(self.settings.idle_timeout) < at)
        {
            self.deadlines.remove(&(at, id));
            connection.scheduled = None;
        }
        if connection.done {
            self.connections.remove(&id);
            return;
        }
        if connection.scheduled.is_none() {
            let due = connection.due(self.settings.idle_timeout);
            self.deadlines.insert((due, id));
            connection.scheduled = Some(due);
        }
        // end of lesson
        let watched: io::Result<()> = {
            // lesson: write interest only while output waits; no reading while it is backed up
            let wanted = match (connection.reads(), connection.output.is_empty()) {
                (true, true) => Interest::READABLE,
                (true, false) => Interest::READABLE | Interest::WRITABLE,
                (false, _) => Interest::WRITABLE,
            };
            if wanted != connection.interest {
                connection.interest = wanted;
                // Asked again for readable, epoll looks again (`EPOLL_CTL_MOD`),
                // and reports at once what arrived while it was not read.
                let registry = self.poll.registry();
                registry.reregister(&mut connection.stream, Token(id), wanted)
            } else {
                Ok(())
            }
            // end of lesson
        };
        if let Err(error) = watched {
            narrate::problem(format!("Could not watch a connection: {error}"));
        }
    }

    /// Acts on every deadline that has passed, and on the listener's.
    fn fire_deadlines(&mut self, now: Instant) {
        if self.gate.reopen_if_due(now, self.poll.registry()) {
            self.accept_all();
        }
        // lesson: a deadline due asks its connection for its real one
        while let Some(&(at, id)) = self.deadlines.first()
            && at <= now
        {
            self.deadlines.pop_first();
            let Some(connection) = self.connections.get_mut(&id) else {
                continue;
            };
            connection.scheduled = None;
            // Not yet, if a message has pushed it back: `settle` schedules
            // the later one.
            if connection.due(self.settings.idle_timeout) <= now {
                connection.deadline_passed(id, now);
                connection.flush();
            }
            self.settle(id);
        }
        // end of lesson
    }
}

impl Connection {
    /// Whether the loop reads this connection now: not while its output
    /// is backed up, nor while its closing bytes wait to go out.
    fn reads(&self) -> bool {
        match &self.phase {
            Phase::Closing { until, .. } => until.is_some(),
            _ => self.pending <= BACKED_UP,
        }
    }

    /// When the loop must look at this connection again if nothing happens.
    fn due(&self, idle_timeout: Duration) -> Instant {
        match &self.phase {
            // A peer that stops reading: chapter 10's write timeout.
            _ if !self.output.is_empty() => self.wrote_at + idle_timeout,
            Phase::Opening { deadline, .. } => *deadline,
            Phase::Talking { read_at, .. } => *read_at + idle_timeout,
            Phase::Closing { until, .. } => until.unwrap_or(self.wrote_at + idle_timeout),
        }
    }

    /// Queues bytes to send, starting the write clock if none were waiting.
    fn send(&mut self, bytes: Vec<u8>) {
        if self.output.is_empty() {
            self.wrote_at = Instant::now();
        }
        self.pending += bytes.len();
        self.output.push_back(bytes);
    }

    /// Writes what waits, until the socket takes no more; a write error
    /// ends the connection.
    fn flush(&mut self) {
        if let Err(error) = self.write_out() {
            if matches!(self.phase, Phase::Talking { .. }) {
                narrate::problem(Error::from(error));
            }
            self.done = true;
        }
    }

    /// The loop of writes itself: `Ok` once everything is out or the
    /// socket takes no more for now.
    fn write_out(&mut self) -> io::Result<()> {
        // lesson: a non-blocking write takes what fits; the rest waits
        while let Some(bytes) = self.output.front()
            && !self.done
        {
            match self.stream.write(&bytes[self.written..]) {
                Ok(count) if count > 0 || bytes.is_empty() => {
                    self.written += count;
                    self.pending -= count;
                    self.wrote_at = Instant::now();
                    if self.written == bytes.len() {
                        self.output.pop_front();
                        self.written = 0;
                    }
                }
                Ok(_) => self.done = true,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
        // end of lesson
    }

    /// Reads what arrived, as the phase wants it, until `WouldBlock`.
    fn read(&mut self, scratch: &mut [u8], settings: &Settings) {
        // lesson: read until WouldBlock: only then will new bytes make a new edge
        while self.reads() && !self.done {
            let count = match self.stream.read(scratch) {
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return self.ended(Some(error)),
            };
            // A read shorter than asked for is no proof that the socket is
            // drained: the peer's end of stream or a reset may wait behind
            // these bytes, and no new edge will tell of them.
            let bytes = &scratch[..count];
            match &mut self.phase {
                _ if count == 0 => return self.ended(None),
                Phase::Opening { head, .. } => {
                    let mut response = Vec::new();
                    match opening::answer_gathered(head, bytes, &mut response, CHAPTER) {
                        None => {}
                        Some(Ok((opening, rest))) => {
                            self.answered(opening, response, &rest, settings)
                        }
                        Some(Err(error)) => self.refuse(error),
                    }
                }
                Phase::Talking { .. } => self.talk(bytes, settings),
                Phase::Closing { discarded, .. } => {
                    *discarded += count;
                    self.done = *discarded >= LINGER_BYTES;
                }
            }
        }
        // end of lesson
    }

    /// The peer closed its side (`None`), or the socket failed.
    fn ended(&mut self, error: Option<io::Error>) {
        match (&mut self.phase, error) {
            (Phase::Opening { head, .. }, error) => {
                let error = opening::cut_short(head, error);
                self.refuse(error);
            }
            (Phase::Talking { .. }, Some(error)) => {
                narrate::problem(Error::from(error));
                self.done = true;
            }
            (Phase::Talking { session, .. }, None) => {
                session.end_of_stream();
                self.hand_out();
                self.close(true);
            }
            (Phase::Closing { .. }, _) => self.done = true,
        }
    }

    /// A whole head, answered as chapter 10 answers it: the page, or the
    /// `101` and a session, which takes whatever came after the head.
    fn answered(&mut self, opening: Opening, response: Vec<u8>, rest: &[u8], settings: &Settings) {
        self.send(response);
        if opening == Opening::ServedPage {
            return self.close(false);
        }
        narrate::event("Handshake completed. Echoing every message until the client leaves.");
        narrate::summary("connected: handshake completed");
        // lesson: after the 101, bytes go into a session, as in chapter 10
        let session =
            Session::new(settings.max_message_size).with_budget(Arc::clone(&settings.budget));
        self.phase = Phase::Talking {
            session: Box::new(session),
            read_at: Instant::now(),
            stretch: None,
        };
        // end of lesson
        self.talk(rest, settings);
    }

    /// Bytes for the session, which hands out what they made.
    fn talk(&mut self, bytes: &[u8], settings: &Settings) {
        let Phase::Talking {
            session,
            read_at,
            stretch,
        } = &mut self.phase
        else {
            return;
        };
        session.receive(bytes);
        *read_at = Instant::now();
        conversation::check_progress(session, stretch, bytes.len(), settings.frame_timeout);
        self.hand_out();
    }

    /// The request cannot be served: the status that answers it, if any,
    /// and the reason in the log, as chapter 10's listener says them.
    fn refuse(&mut self, error: Error) {
        let mut response = Vec::new();
        error.refuse(&mut response);
        self.send(response);
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
        let frames: Vec<Vec<u8>> = {
            // lesson: the frames the session queued go into the output, a long payload as it is
            session
                .take_outgoing()
                .flat_map(conversation::wire_bytes)
                .collect()
            // end of lesson
        };
        let finished = session.is_finished();
        for bytes in frames {
            self.send(bytes);
        }
        if finished {
            self.close(false);
        }
    }

    /// A deadline passed with nothing else happening: chapter 10's
    /// timeouts, one by one.
    fn deadline_passed(&mut self, id: usize, now: Instant) {
        narrate::set_connection(id as u64);
        match &mut self.phase {
            // Our output has not moved for the idle timeout.
            _ if !self.output.is_empty() => {
                if matches!(self.phase, Phase::Talking { .. }) {
                    narrate::problem(Error::Io(io::ErrorKind::TimedOut.into()));
                }
                self.done = true;
            }
            Phase::Opening { head, .. } => {
                let received = head.len();
                self.refuse(HttpError::TimedOut { received }.into());
            }
            Phase::Talking {
                session, read_at, ..
            } => {
                *read_at = now;
                session.timed_out(Timeout::Idle);
                self.hand_out();
            }
            Phase::Closing { .. } => self.done = true,
        }
    }
}
