//! Chapter 13 — One thread for every connection: an event loop (beyond
//! the article).
//!
//! Chapter 13 is chapter 10 plus an event loop: the same session, options,
//! limits and narration, served from one thread (the log writer keeps its
//! own) instead of one per connection (`diff steps/10-echo-server.rs
//! steps/13-event-loop.rs`): how nginx, Node and tokio work inside.
//!
//! * **Non-blocking sockets.** A `read` with nothing to read returns
//!   `WouldBlock` at once, and a `write` writes what fits, maybe nothing.
//! * **Registering interest, and readiness.** Each socket is registered
//!   with `epoll` (through `mio`, tokio's base) for what we want to hear
//!   of; `poll` sleeps until some are *ready*, and the reads are ours.
//! * **Edges: read until `WouldBlock`.** `mio` reports a socket when it
//!   *becomes* ready; a short read is no proof that it is drained, and a
//!   reset or end of stream behind the bytes would make no new edge.
//! * **A connection's state**, kept on a thread's stack in chapter 10, is
//!   a `Phase`: the head gathers; bytes go into the session; last, our
//!   final bytes go out, our side shuts, the peer has a second to close.
//! * **Fair turns.** A turn ends once it has read 64 KiB; a connection
//!   with more asks `epoll` again, which reports it after the others, so
//!   a peer flooding pongs (which need no answer) cannot hold the loop.
//! * **Write interest only while output waits**: asked always, `poll`
//!   would wake for nearly every connection. **Backpressure**: a connection
//!   with more than 1 MiB of output waiting is not read until it is back under.
//! * **One set of deadlines**, earliest first, bounds how long `poll`
//!   sleeps. A due entry asks its connection for its real deadline; a
//!   closed connection's entry leaves with it, or entries would pile up.
//! * **Where `async`/`await` fits.** An `async fn` compiles into a state
//!   machine much like `Phase`: an `.await` that would block returns
//!   `Pending` to the runtime (tokio), which has registered the socket with
//!   `epoll` and resumes the function once it is ready.
//!
//! Everything from chapters 5–9, put together into a server you could point
//! a real client at: it echoes text as text and binary as binary, answers
//! pings, completes and starts closing handshakes, and fails the connection
//! with the right close code on every protocol error. The Autobahn
//! conformance suite, the standard test of WebSocket implementations,
//! passes with no failure and nothing merely "non-strict"
//! (`tests/autobahn/run`, the chapter named in `AUTOBAHN_BIN`).
//!
//! The session is chapter 10's, unchanged:
//! `protocol::session::Session`, a state machine with no socket inside.
//! Bytes go in (`Session::receive`, or `Session::buffer` and
//! `Session::filled` to read straight into place), and out come events —
//! a message, a ping, the peer's close, a failure — and the frames to send.
//! Chapter 9 blocks inside `frame::read_header` until a header
//! has arrived; the session takes whatever TCP delivers, half a header or
//! three frames at once, and remembers where it stopped. That is what lets
//! this loop drive it, through its plainest entry point, `Session::receive`.
//!
//! As in chapter 10:
//!
//! * Text is checked as it arrives (`protocol::utf8::Utf8Stream`), not
//!   once the message is complete: a message that turns invalid in its
//!   second byte is refused at the second byte, even while the rest of its
//!   frame is still on the way (RFC 6455 §8.1).
//! * Timeouts, so a peer that goes quiet cannot hold its slot for ever: the
//!   handshake must finish within `--handshake-timeout` (10 s); a connection
//!   silent for `--idle-timeout` (30 s) is pinged, and closed with 1001 if
//!   nothing comes back within as long again; a peer that stops reading,
//!   or takes less than 64 KiB of our output within each idle timeout,
//!   makes our writes time out. Half a frame and silence is a stalled read.
//! * The log is one line per message, numbered by connection. `--verbose`
//!   brings back the frame-by-frame story of the earlier chapters; `--quiet`
//!   keeps only problems, for benchmarks. Lines go through a bounded queue
//!   to one writer thread (`narrate::write_through_queue`): a stderr nobody
//!   reads would otherwise freeze every connection in its next log line, and
//!   a closed one would kill it, so a full queue drops lines and counts them
//!   ("… 1,234 lines dropped"), and a failed write is ignored.
//!
//! Refusals, not crashes: what a client or an operator gets wrong ends one
//! connection, or stops the server at start-up with a clear message, and
//! never panics a server that is running. A request with two `Host`
//! headers gets `400` (RFC 9112 §3.2); a timeout of more than a day is
//! refused on the command line, before it can overflow the clock.
//!
//! What chapter 10 adds to the checks of chapters 1 to 9, which check
//! only what the article does. The request must be HTTP/1.1 as RFC 9112
//! says (`handshake::check_http11`): no `Host` is `400` (§3.2); a version
//! before `HTTP/1.1` is `505` (RFC 6455 §4.1), a later `HTTP/1.x` is taken
//! as 1.1 (RFC 9110 §2.5); a body announced on
//! the `GET` (`Content-Length`, `Transfer-Encoding`) is `400`, and so is
//! `*` as the target (§3.2.4); an absolute-form target
//! (`ws://localhost:2345/`) is taken apart, its path used and its host
//! checked against `Host` (§3.2); one empty line before the request line
//! is ignored (§2.2). A handshake that repeats `Upgrade`,
//! `Sec-WebSocket-Key` or `Sec-WebSocket-Version` is `400` (RFC 6455
//! §4.2.1, `handshake::check_single_fields`). Each refusal's log line
//! names its section. One client address holds at most its share of the
//! connection slots, `--max-connections-per-address` (by default a quarter
//! of `--max-connections`): over it, `503` with `Retry-After`, said in the
//! log once per episode, not once per connection (`server::address_share`);
//! idle clients that answer pings are kept. And limits that make no sense
//! stop the server at start-up with exit status 2, the option named: zero
//! connections, a zero share, a `--max-buffered` budget smaller than one
//! message of `--max-message-size`. The budget counts the bytes of
//! messages, not what the allocator holds around them.
//!
//! Bounded and calm at capacity. A connection holds one socket, and at
//! most `--max-connections` are served at once (by default, the process's
//! limit on open files less a few): over the cap, a new connection gets
//! `503` with `Retry-After` and is closed at once. Should `accept` fail
//! anyway ("Too many open files"), the loop waits before trying again,
//! longer each time up to a second, and says so once, not once per try.
//!
//! Memory bounded by what arrived. A message's buffer grows with the bytes
//! that came, never more than a step (at most 4 MiB) ahead, whatever its
//! header claims; all the messages being received share one budget,
//! `--max-buffered` (256 MiB), and a message that would go over it closes
//! its connection with 1013, "try again later" (`session::Budget`). And a
//! frame must progress: one that gets less than 64 KiB further within
//! `--frame-timeout` (the idle timeout by default) is closed with 1008,
//! however steadily it trickles.
//!
//! Why one thread for every connection: in chapter 10, each thread costs a
//! stack (reserved, mostly untouched) and a scheduler entry, which is fine
//! for hundreds or a few thousand connections. It stops scaling around tens
//! of thousands of mostly idle connections, where the memory for stacks and
//! the cost of switching between threads dominate; there, an event loop
//! (epoll, or an async runtime such as tokio) serves many connections per
//! thread — and drives the very same `Session`.
//!
//! Nothing graduates here. What the loop buys: `cargo bench --bench scale`.
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
use websocket_from_scratch::server::listener::{self, Linger, ListenError};
use websocket_from_scratch::server::opening::{self, Opening};

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
/// The most read from one connection before the others get their turn.
const READ_TURN: usize = 64 * 1024;

/// Serves every connection from this thread, until `--connections` if set.
fn serve(listen: listener::Options, settings: Settings) -> Result<(), ListenError> {
    let (listening, port) = listener::listen(listen.port)?;
    let cannot = |error| ListenError { port, error };
    let (poll, listener) = {
        // lesson: a non-blocking listener, registered with poll
        listening.set_nonblocking(true).map_err(cannot)?;
        let mut listener = TcpListener::from_std(listening);
        let poll = Poll::new().map_err(cannot)?;
        let registry = poll.registry();
        let registered = registry.register(&mut listener, LISTENER, Interest::READABLE);
        registered.map_err(cannot)?;
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

/// One `Poll` (one epoll instance), the listener behind its `Gate`, and every connection.
struct EventLoop {
    poll: Poll,
    gate: Gate,
    connections: HashMap<usize, Connection>,
    /// Every connection's next deadline, earliest first: (when, number).
    deadlines: BTreeSet<(Instant, usize)>,
    /// What every connection reads into; the bytes go on into its session.
    scratch: Vec<u8>,
    handshake_timeout: Duration,
    settings: Settings,
}

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
    /// Nothing more to do: drop the socket, and give back its place.
    done: bool,
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
    /// Our last bytes go out, then our side shuts and we read what the
    /// peer still sends until it closes too (chapter 10's close).
    Closing(Linger),
}

impl EventLoop {
    /// Waits for readiness or the next deadline, then acts on both.
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

    /// Accepts what waits, until `WouldBlock` or the gate's turn ends (`ACCEPTS_PER_TURN`).
    fn accept_all(&mut self) {
        narrate::forget_connection();
        while let Some(Admitted { stream, id, ticket }) = self.gate.accept(self.poll.registry()) {
            // Small frames go out at once instead of waiting to be merged (Nagle).
            let _ = stream.set_nodelay(true);
            let id = id as usize;
            match self.open(stream, id, ticket) {
                Ok(connection) => self.connections.insert(id, connection),
                Err(error) => {
                    narrate::problem(format!("Could not set up a connection: {error}"));
                    continue;
                }
            };
            // Its request may be here already: read now (epoll would report it too).
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
        if readable && connection.read(&mut self.scratch, &self.settings) {
            // Its turn is over, bytes left: asked again, epoll reports it after the others.
            let registry = self.poll.registry();
            let asked = registry.reregister(&mut connection.stream, Token(id), connection.interest);
            connection.done |= asked.is_err();
        }
        connection.flush();
        self.settle(id);
    }

    /// After anything happened to a connection: drop it or shut our side,
    /// keep its deadline in the set, and ask `poll` for what it needs.
    fn settle(&mut self, id: usize) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        if let Phase::Closing(linger) = &mut connection.phase
            && connection.output.is_empty()
        {
            connection.done |= linger.shut(&connection.stream);
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
            if wanted == connection.interest {
                return;
            }
            // Asked again for readable, epoll looks again (`EPOLL_CTL_MOD`),
            // and reports at once what arrived while it was not read.
            let registry = self.poll.registry();
            let asked = registry.reregister(&mut connection.stream, Token(id), wanted);
            asked.map(|()| connection.interest = wanted)
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
            // Not yet, if a message pushed it back: `settle` schedules that.
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
            Phase::Closing(linger) => linger.until().is_some(),
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
            Phase::Closing(linger) => linger.until().unwrap_or(self.wrote_at + idle_timeout),
        }
    }

    /// Queues bytes to send, starting the write clock if none were waiting.
    /// A short frame joins the last chunk: alone, a 2-byte pong would take a whole allocation.
    fn send(&mut self, bytes: Vec<u8>) {
        if self.output.is_empty() {
            self.wrote_at = Instant::now();
        }
        self.pending += bytes.len();
        match self.output.back_mut() {
            Some(last) if bytes.len() < 1024 && last.len() < 64 * 1024 => last.extend(bytes),
            _ => self.output.push_back(bytes),
        }
    }

    /// Writes what waits, until the socket takes no more.
    fn flush(&mut self) {
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
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return self.failed(error),
            }
        }
        // end of lesson
    }

    /// Reads what arrived until `WouldBlock`, or says its turn ended first.
    fn read(&mut self, scratch: &mut [u8], settings: &Settings) -> bool {
        // lesson: read until WouldBlock (else no new edge); head bytes to opening::answer_gathered
        let mut turn = 0;
        while self.reads() && !self.done && turn < READ_TURN {
            let (count, error) = match self.stream.read(scratch) {
                Ok(count) => (count, None),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return false,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => (0, Some(error)),
            };
            turn += count;
            let bytes = &scratch[..count];
            match &mut self.phase {
                _ if count == 0 => self.ended(error),
                Phase::Opening { head, .. } => {
                    let mut response = Vec::new();
                    match opening::answer_gathered(head, bytes, &mut response, "13-event-loop") {
                        None => {}
                        Some(Ok((opening, rest))) => {
                            self.answered(opening, response, &rest, settings)
                        }
                        Some(Err(error)) => self.refuse(error),
                    }
                }
                Phase::Talking { .. } => self.talk(bytes, settings),
                Phase::Closing(linger) => self.done = linger.discard(count),
            }
        }
        // Not stopped by `WouldBlock`: its turn is over, with more to read.
        self.reads() && !self.done
        // end of lesson
    }

    /// The peer closed its side (`None`), or the socket failed.
    fn ended(&mut self, error: Option<io::Error>) {
        match (&mut self.phase, error) {
            (Phase::Opening { head, .. }, error) => {
                let error = opening::cut_short(head, error);
                self.refuse(error);
            }
            (Phase::Talking { session, .. }, None) => {
                session.end_of_stream();
                self.hand_out();
                self.close(true);
            }
            (_, Some(error)) => self.failed(error),
            (Phase::Closing(_), None) => self.done = true,
        }
    }

    /// The socket failed, or our output stopped moving: the connection ends.
    fn failed(&mut self, error: io::Error) {
        if matches!(self.phase, Phase::Talking { .. }) {
            narrate::problem(Error::from(error));
        }
        self.done = true;
    }

    /// A whole head, answered as in chapter 10; after a `101`, a session.
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

    /// The request cannot be served: answered and logged as chapter 10 does.
    fn refuse(&mut self, error: Error) {
        let mut response = Vec::new();
        error.refuse(&mut response);
        self.send(response);
        self.close(false);
    }

    /// From now on only our last bytes go out (`peer_gone`: nothing to read).
    fn close(&mut self, peer_gone: bool) {
        self.phase = Phase::Closing(Linger::new(peer_gone));
    }

    /// Narrates and echoes what the session hands out, and queues its frames.
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
            let outgoing = session.take_outgoing();
            outgoing.flat_map(conversation::wire_bytes).collect()
            // end of lesson
        };
        let finished = session.is_finished();
        frames.into_iter().for_each(|bytes| self.send(bytes));
        if finished {
            self.close(false);
        }
    }

    /// A deadline passed with nothing else happening: chapter 10's timeouts.
    fn deadline_passed(&mut self, id: usize, now: Instant) {
        narrate::set_connection(id as u64);
        match &mut self.phase {
            // Our output has not moved for the idle timeout.
            _ if !self.output.is_empty() => self.failed(io::ErrorKind::TimedOut.into()),
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
            Phase::Closing(_) => self.done = true,
        }
    }
}
