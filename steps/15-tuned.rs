//! Chapter 15 — The event loop, tuned: finding where the time goes, and
//! closing the gap to the fastest servers (beyond the article).
//!
//! Chapter 15 is chapter 13 plus its tuning, and nothing else: the same
//! loop, phases, limits and narration, made as fast as the fastest servers
//! we measured (`diff steps/13-event-loop.rs steps/15-tuned.rs` is the
//! tuning). Read chapter 13 first: this chapter is about measuring.
//!
//! **What to measure.** A wall-clock rate on a shared machine moves by
//! tens of percent; these do not, and they say *where* the time goes:
//!
//! * system calls and context switches per message: `perf stat -e
//!   'syscalls:sys_enter_*',context-switches -p PID` over a known number
//!   of messages, or `strace -c -f -p PID` for a table of calls;
//! * where the CPU goes inside the server: `perf record -g -p PID`, then
//!   `perf report` (user space against kernel, copies, zeroing);
//! * the server's CPU time per unit of work, from `/proc/PID/stat`:
//!   `cargo bench --bench echo` prints it per connection, and it does not
//!   depend on the load generator;
//! * the same client against two servers, taking turns, pinned to one CPU,
//!   many short rounds and the median of their ratios: `cargo bench
//!   --bench echo` (`BENCH_SERVERS`, `BENCH_ONLY`, `BENCH_ROUNDS`).
//!
//! Each technique below was found that way, and is kept because it
//! measured a gain; each figure comes with the command that gives it.
//!
//! **Reading straight into the session.** Chapter 13 reads into one
//! buffer of the loop's, and `Session::receive` copies the bytes on. Here
//! the socket reads into `Session::buffer`: the session's small inbox, or,
//! for the rest of a long payload, the message itself, so megabytes go from
//! the socket to their final place with no copy between. Cost: the inbox
//! is the connection's own (8 KiB), so idle connections must give it back
//! (below).
//!
//! **Two places in one `readv`.** While a long payload is due, the read is
//! vectored (`Tuning::buffers`, from `protocol::session::tuning`): the rest of the
//! payload into the message, whatever follows into the inbox. A message
//! sent as 16 fragments of 64 KiB took 32 reads, as fastwebsockets takes
//! 17; now 17 (`perf stat -e syscalls:sys_enter_readv,syscalls:sys_enter_read
//! -p PID` during `BENCH_ONLY="1 MiB echo in 16 fragments" cargo bench
//! --bench echo`). A plain `read` where there is only one place: `readv`
//! alone cost 1–3 % on small messages. Cost: a second way into the
//! session, kept out of the session's plain face.
//!
//! **Recycling payloads.** A `read` in safe Rust takes only initialized
//! bytes, so every fresh buffer is zeroed before the socket fills it: 11 %
//! of the server's samples on 1 MiB echoes (`perf record` during
//! `BENCH_ONLY="1 MiB echo"`). A payload written out in full goes back to
//! the session (`Tuning::recycle`), and the next long message is read
//! into it, with no allocation and no zeroing. Cost: one spare per
//! connection, no larger than the largest message, counted in
//! `--max-buffered` and kept only while the budget is at most half used.
//!
//! **Frames straight to the socket, with `writev`.** While nothing waits
//! to be written, a frame goes to the socket at once, before it is queued:
//! a short one put together on the stack and sent with one plain `write`,
//! a long one as header and payload together in one `writev`, without
//! copying the payload. Chapter 13 queues every frame first and writes a
//! long one with two `write`s, header then payload. Not measured alone.
//! Cost: the bookkeeping of a payload partly written, and of the longest
//! one written out, kept for recycling.
//!
//! **Idle connections give their memory back.** A connection that reads
//! only now and then gives its inbox back as soon as it has read
//! (`Tuning::release_idle_memory`), and once a second the loop frees the
//! inbox of every busy connection gone quiet. 15,000 idle connections hold
//! 23.3 MiB; counting every read as busy instead (so that no connection
//! gives its inbox back), 78.6 MiB (`BENCH_SERVERS=15 cargo bench --bench
//! scale`, both measured). Cost: a sweep over every connection once a
//! second, and a busy connection that pauses pays for a fresh inbox.
//!
//! **No timer at every sleep.** `poll` with a timeout arms and cancels a
//! kernel timer on every wait: 1.7 % of the rate of 16-byte round trips
//! (64,894 against 63,788 messages a second, one build with the timeout
//! switched off, `BENCH_ONLY="16 B round trips, 1 connection"`). An alarm
//! thread per loop (`server::deadlines::Alarm`) sleeps until the earliest
//! deadline and wakes the loop through a `mio::Waker`; `poll` waits with no
//! timeout, unless `--connections` is set (50 ms, to notice another loop
//! took the last one) or a read turn is pending (0). Cost: a thread per
//! loop, with a 64 KiB stack, and a lock when the earliest deadline moves.
//!
//! **Deadlines that leave with their connection.** Chapter 13's ordered set
//! graduates into the library (`server::deadlines`). Entries kept until
//! they came due made the server's CPU per connection grow with the
//! connections served before: 94.8 µs in the first slot, 110.3 in the
//! last, 104.6 over all; taken out as their connection closes, 85.3, 90.3
//! and 88.5 (`BENCH_ONLY=connect+echo+close BENCH_SERVERS=OLD,15
//! BENCH_ROUNDS=6 BENCH_SLOT_MS=3000 cargo bench --bench echo`, OLD a build
//! without `Deadlines::cancel`).
//!
//! **Fair turns, and one clock reading per turn.** A connection reads at
//! most 1 MiB (`READ_TURN`) before the others get theirs; the rest is read
//! in the next round (the `again` list), so one fast sender cannot hold
//! the loop. Every connection handled in one turn of the loop shares one
//! reading of the clock (on a virtual machine, a system call). Neither was
//! measured alone.
//!
//! **Several loops.** `--threads N` runs N loops, each with its own
//! `epoll` and its own copy of the listening socket: the kernel wakes them
//! all when a connection arrives, one wins the `accept`, and the others
//! find `WouldBlock`. The counts `--max-connections` needs are shared
//! atomics. One loop (the default) is usually enough: a loop is busy only
//! while bytes move.
//!
//! **Edges still mean reading until `WouldBlock`.** As in chapter 13: a
//! short read is no proof the socket is drained, so a read turn ends at
//! `WouldBlock` or at `READ_TURN`, never at a short read.
//!
//! **Where it stands.** Against fastwebsockets and chapter 13, `cargo bench
//! --bench echo` (the README gives the last run's figures); its memory,
//! `cargo bench --bench scale`. The peak of one 16 MiB echo stays under
//! 20 MiB (the same benchmark's last lines).
//!
//! The options, the page, the narration and its levels are chapter 13's,
//! and `--threads`. Every behaviour test of chapter 10 runs against this
//! chapter too, and so does the Autobahn suite.
//!
//! Try it: `cargo run --bin 15-tuned`, then
//! `cargo run --bin client -- --ping "still there?" --close 1000 --reason bye`,
//! or open <http://localhost:2345> and type into the page's box
//! (`--verbose` tells every frame).
//!
//! You should see these lines among its narration, as
//! `snapshots/15-tuned.snap` pins them (the client above sends its
//! ping before the text, so there the pong comes first):
//!
//! ```text
//! #1 ← text 16 bytes "Can you hear me?" → echoed
//! #1 ← ping "still there?" → pong
//! #1 ← close 1000 (normal closure) "bye" → close, hang up
//! ```

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use websocket_from_scratch::Error;
use websocket_from_scratch::command_line::{self, CommandLineError};
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::frame::{self, FrameHeader};
use websocket_from_scratch::protocol::http::HttpError;
use websocket_from_scratch::protocol::session::tuning::Tuning;
use websocket_from_scratch::protocol::session::{Event, OutgoingFrame, Session, Timeout};
use websocket_from_scratch::server::admission::{Admission, Admitted, Gate, Ticket};
use websocket_from_scratch::server::conversation::{self, ServerOptions, Settings, tell_echo};
use websocket_from_scratch::server::deadlines::{Alarm, Deadlines};
use websocket_from_scratch::server::listener::{self, ListenError};
use websocket_from_scratch::server::opening::{self, Opening};

const CHAPTER: &str = "15-tuned";

/// Chapter 15 of the tutorial: chapter 13's event loop, tuned, on as
/// many threads as asked.
#[derive(clap::Parser)]
struct Command {
    #[command(flatten)]
    server: conversation::ServerArgs,
    /// How many event loops serve connections, each on a thread of its own
    #[arg(long, value_name = "N", default_value = "1", value_parser = command_line::at_least_one)]
    threads: NonZeroUsize,
}

/// Chapter 13's command line, and `--threads N`.
fn options() -> Result<(ServerOptions, usize), CommandLineError> {
    let command: Command = command_line::parse()?;
    Ok((command.server.resolve::<Command>()?, command.threads.get()))
}

fn main() -> ExitCode {
    let (
        ServerOptions {
            listen,
            settings,
            level,
        },
        threads,
    ) = match options() {
        Ok(options) => options,
        Err(stop) => return stop.report(),
    };
    // No restart with allocator settings, as in chapter 13: with glibc's
    // trim threshold at 1 MiB, every large message faulted in fresh pages
    // (1 MiB echoes at 0.36 times fastwebsockets, `cargo bench --bench
    // echo` with the settings restored).
    narrate::set_level(level);
    narrate::write_through_queue(narrate::QUEUE_LINES);
    listener::exit_code(serve(listen, settings, threads))
}

/// The listening socket's token, and the alarm's; connections are
/// numbered by their slot.
const LISTENER: Token = Token(usize::MAX);
const ALARM: Token = Token(usize::MAX - 1);
/// The buffer every connection of a loop reads its request head, and what
/// it sends after our side closed, into.
const SCRATCH_BYTES: usize = 64 * 1024;
/// Frames up to this size (header included) are written with one `write`.
const SMALL_FRAME: usize = 256;
/// Output beyond which a connection is not read until its peer catches up.
const BACKED_UP: usize = 1024 * 1024;
/// At most this much is read from one connection before the others get
/// their turn; the rest waits for the next round.
const READ_TURN: usize = 1024 * 1024;
/// After our side closes: how long, and how much, we read and discard
/// before dropping the socket (as `listener::Connection::close` does).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;
/// How often the loop looks for quiet connections, and how long a
/// connection must have been quiet for its read buffer to be freed.
const QUIET: Duration = Duration::from_secs(1);
/// A connection that has read more often than this since it was last
/// quiet is busy: it keeps its read buffer between reads.
const BUSY_READS: u32 = 2;

/// What every loop shares: the settings, and counters across loops.
struct Shared {
    listen: listener::Options,
    settings: Settings,
    /// The connection cap, each address's share and the connections'
    /// numbers, across loops.
    admission: Arc<Admission>,
}

/// Listens on loopback and runs `threads` event loops, this thread being
/// the first. Returns after `--connections` connections, if set.
fn serve(listen: listener::Options, settings: Settings, threads: usize) -> Result<(), ListenError> {
    let (listening, port) = listener::listen(listen.port)?;
    let cannot = |error| ListenError { port, error };
    listening.set_nonblocking(true).map_err(cannot)?;
    let shared = Arc::new(Shared {
        admission: Admission::new(&listen),
        listen,
        settings,
    });
    let mut loops = Vec::new();
    for number in 2..=threads {
        let copy = listening.try_clone().map_err(cannot)?;
        let shared = Arc::clone(&shared);
        let started = thread::Builder::new()
            .name(format!("event loop {number}"))
            .spawn(move || {
                if let Err(error) = EventLoop::new(copy, &shared).and_then(|mut l| l.run()) {
                    narrate::problem(format!("Event loop {number} stopped: {error}"));
                }
            });
        match started {
            Ok(handle) => loops.push(handle),
            Err(error) => narrate::problem(format!(
                "Could not start event loop {number}: {error}; serving with fewer"
            )),
        }
    }
    let served = EventLoop::new(listening, &shared).and_then(|mut first| first.run());
    for handle in loops {
        let _ = handle.join();
    }
    served.map_err(cannot)
}

/// One event loop: a `Poll` (one epoll instance), the listening socket,
/// and every connection it accepted, in slots.
struct EventLoop<'a> {
    poll: Poll,
    /// This loop's copy of the listening socket, behind the shared
    /// admission (`server::admission`).
    gate: Gate,
    connections: Vec<Option<Connection>>,
    free: Vec<usize>,
    count: usize,
    /// Tells a slot's connections apart over time, for the deadlines.
    generation: u64,
    deadlines: Deadlines,
    /// Wakes `poll` at the earliest deadline, so that `poll` itself needs
    /// no timeout.
    alarm: Alarm,
    scratch: Vec<u8>,
    /// Connections whose read turn ended with bytes still waiting.
    again: Vec<(usize, u64)>,
    /// When to free the read buffers of the connections gone quiet.
    sweep_at: Instant,
    /// The time when `poll` last returned: one clock reading per turn of
    /// the loop serves every connection it handles (reading the clock can
    /// be a system call, on a virtual machine).
    now: Instant,
    shared: &'a Shared,
}

/// A connection, from its first byte to its last.
struct Connection {
    stream: TcpStream,
    id: u64,
    generation: u64,
    phase: Phase,
    output: Output,
    /// What `poll` was last asked to report for this socket.
    interest: Interest,
    /// The deadline the loop's heap holds for this connection, if any.
    scheduled: Option<Instant>,
    /// When a write last made progress (or output began to wait).
    wrote_at: Instant,
    /// Nothing more to do: drop the socket.
    done: bool,
    /// Its place under the cap, given back when it is dropped.
    _ticket: Ticket,
}

enum Phase {
    /// The request head is arriving: it gathers in `head` until whole.
    Opening { head: Vec<u8>, deadline: Instant },
    /// A WebSocket conversation, driven by its session.
    Talking {
        /// Boxed: a session is a few hundred bytes, and the connections
        /// still in their handshake need none of them.
        session: Box<Session>,
        read_at: Instant,
        /// A frame's stretch for `conversation::check_progress`.
        stretch: Option<(Instant, usize)>,
        /// Reads since the loop last found this connection quiet: past
        /// [`BUSY_READS`], it reads straight into its session.
        reads: u32,
    },
    /// Our last bytes go out; then our side closes and what the peer still
    /// sends is read and discarded until it closes too, or `until`.
    Closing {
        until: Option<Instant>,
        discarded: usize,
        peer_gone: bool,
    },
}

/// A connection's bytes waiting to be written, in order.
#[derive(Default)]
struct Output {
    chunks: VecDeque<Vec<u8>>,
    /// How much of the first chunk is already written.
    written: usize,
    pending: usize,
    /// The longest payload written out in full since the session last had
    /// one back: its memory can receive the next message.
    sent: Option<Vec<u8>>,
}

impl Output {
    fn is_empty(&self) -> bool {
        self.pending == 0
    }

    fn push(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.pending += bytes.len();
            self.chunks.push_back(bytes);
        }
    }

    /// `bytes` went out in full: kept if they are the longest so far.
    fn written_out(&mut self, bytes: Vec<u8>) {
        if self
            .sent
            .as_ref()
            .is_none_or(|sent| sent.len() < bytes.len())
        {
            self.sent = Some(bytes);
        }
    }

    /// Sends a frame as a server sends it, unmasked and unfragmented:
    /// straight to the socket while nothing else waits (header and payload
    /// in one `writev`), and whatever the socket does not take now is
    /// queued. A long payload is queued as it is, without a copy.
    fn send_frame(&mut self, stream: &mut impl Write, frame: OutgoingFrame) -> io::Result<()> {
        let mut header = frame::encode_header(&FrameHeader {
            fin: true,
            rsv: conversation::rsv_of(&frame),
            opcode: frame.opcode,
            mask: None,
            payload_len: frame.payload.len() as u64,
        });
        let payload = frame.payload;
        if self.is_empty() {
            // A short frame is put together on the stack and goes in one
            // plain `write`: cheaper than `writev` for a few bytes.
            let mut small = [0; SMALL_FRAME];
            let whole = header.len() + payload.len();
            if whole <= SMALL_FRAME {
                small[..header.len()].copy_from_slice(&header);
                small[header.len()..whole].copy_from_slice(&payload);
            }
            let written = loop {
                let attempt = if whole <= SMALL_FRAME {
                    stream.write(&small[..whole])
                } else {
                    stream.write_vectored(&[IoSlice::new(&header), IoSlice::new(&payload)])
                };
                match attempt {
                    Ok(written) => break written,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break 0,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            };
            if written >= header.len() {
                // The header is out, and some of the payload: the rest of
                // the payload waits, the first chunk, marked as begun.
                let begun = written - header.len();
                if begun < payload.len() {
                    self.pending += payload.len() - begun;
                    self.written = begun;
                    self.chunks.push_back(payload);
                } else {
                    self.written_out(payload);
                }
                return Ok(());
            }
            header.drain(..written);
        }
        if payload.len() <= 1024 {
            header.extend_from_slice(&payload);
            self.push(header);
        } else {
            self.push(header);
            self.push(payload);
        }
        Ok(())
    }

    /// Writes as much as the socket takes, in as few system calls as it
    /// can (`writev`). Returns whether anything was written.
    fn write_to(&mut self, stream: &mut impl Write) -> io::Result<bool> {
        let mut progress = false;
        while !self.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); 32];
            let mut count = 0;
            for (slice, chunk) in slices.iter_mut().zip(&self.chunks) {
                let from = if count == 0 { self.written } else { 0 };
                *slice = IoSlice::new(&chunk[from..]);
                count += 1;
            }
            match stream.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    progress = true;
                    self.advance(written);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        if self.chunks.is_empty() && self.chunks.capacity() > 64 {
            self.chunks = VecDeque::new();
        }
        Ok(progress)
    }

    fn advance(&mut self, mut count: usize) {
        self.pending -= count;
        while let Some(first) = self.chunks.front() {
            let left = first.len() - self.written;
            if count < left {
                self.written += count;
                return;
            }
            count -= left;
            self.written = 0;
            if let Some(chunk) = self.chunks.pop_front() {
                self.written_out(chunk);
            }
        }
    }
}

impl<'a> EventLoop<'a> {
    fn new(listener: std::net::TcpListener, shared: &'a Shared) -> io::Result<EventLoop<'a>> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let alarm = Alarm::start(Waker::new(poll.registry(), ALARM)?)?;
        Ok(EventLoop {
            poll,
            gate: Gate::new(listener, LISTENER, Arc::clone(&shared.admission)),
            connections: Vec::new(),
            free: Vec::new(),
            count: 0,
            generation: 0,
            deadlines: Deadlines::new(),
            alarm,
            scratch: vec![0; SCRATCH_BYTES],
            again: Vec::new(),
            sweep_at: Instant::now() + QUIET,
            now: Instant::now(),
            shared,
        })
    }

    /// The loop: wait for readiness or the next deadline, act on what is
    /// ready, then on what is due. Returns once `--connections` have been
    /// served.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let limit = self.shared.listen.connections;
        while self.gate.is_open() || self.count > 0 {
            // `--connections`: another loop may have accepted the last one.
            self.gate.close_if_all_admitted(self.poll.registry());
            // lesson: poll until the next deadline, then serve what is ready
            let sweep = (self.count > 0).then_some(self.sweep_at);
            let next = [self.deadlines.next(), self.gate.retry_at(), sweep]
                .into_iter()
                .flatten()
                .min();
            self.alarm.set(next);
            let timeout = if self.again.is_empty() {
                // With `--connections`, a loop looks at the count now and then.
                limit.map(|_| Duration::from_millis(50))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            self.now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    ALARM => self.alarm.rang(),
                    Token(slot) => {
                        let readable =
                            event.is_readable() || event.is_read_closed() || event.is_error();
                        let writable = event.is_writable() || event.is_write_closed();
                        self.ready(slot, None, readable, writable);
                    }
                }
            }
            for (slot, generation) in std::mem::take(&mut self.again) {
                self.ready(slot, Some(generation), true, false);
            }
            self.fire_deadlines();
            self.sweep();
            // end of lesson
        }
        Ok(())
    }

    /// Accepts every connection waiting, until `WouldBlock`.
    fn accept_all(&mut self) {
        narrate::forget_connection();
        while let Some(admitted) = self.gate.accept(self.poll.registry()) {
            self.admit(admitted);
        }
    }

    /// Serves a new connection in a free slot.
    fn admit(&mut self, Admitted { stream, id, ticket }: Admitted) {
        let shared = self.shared;
        // Small frames go out at once instead of waiting to be merged (Nagle).
        let _ = stream.set_nodelay(true);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.connections.push(None);
            self.connections.len() - 1
        });
        let mut connection = Connection {
            stream,
            id,
            generation: self.generation,
            phase: Phase::Opening {
                head: Vec::new(),
                deadline: self.now + shared.listen.handshake_timeout,
            },
            output: Output::default(),
            interest: Interest::READABLE,
            scheduled: None,
            wrote_at: self.now,
            done: false,
            _ticket: ticket,
        };
        self.generation += 1;
        if let Err(error) =
            self.poll
                .registry()
                .register(&mut connection.stream, Token(slot), Interest::READABLE)
        {
            narrate::problem(format!("Could not set up a connection: {error}"));
            self.free.push(slot);
            return;
        }
        self.count += 1;
        self.connections[slot] = Some(connection);
        self.settle(slot);
    }

    /// A connection's socket is ready: writes what waits, reads what came.
    fn ready(&mut self, slot: usize, generation: Option<u64>, readable: bool, writable: bool) {
        let shared = self.shared;
        let settings = &shared.settings;
        let Some(Some(connection)) = self.connections.get_mut(slot) else {
            return;
        };
        if generation.is_some_and(|generation| generation != connection.generation) {
            return;
        }
        narrate::set_connection(connection.id);
        if writable {
            connection.flush();
        }
        if readable && connection.reads() {
            let more = connection.read(&mut self.scratch, settings, self.now);
            if more {
                self.again.push((slot, connection.generation));
            }
        }
        if !connection.done {
            connection.flush();
        }
        self.settle(slot);
    }

    /// After anything happened to a connection: drop it if it is done,
    /// close our side once its last bytes are out, ask `poll` for what it
    /// now needs to hear, and keep its deadline in the heap.
    fn settle(&mut self, slot: usize) {
        let idle_timeout = self.shared.settings.idle_timeout;
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
        if connection.done {
            if let Some(at) = connection.scheduled {
                self.deadlines.cancel(at, slot, connection.generation);
            }
            self.connections[slot] = None;
            self.free.push(slot);
            self.count -= 1;
            return;
        }
        // lesson: write interest only while output waits; no reading while it is backed up
        let wanted = match (connection.reads(), connection.output.is_empty()) {
            (true, true) => Interest::READABLE,
            (true, false) => Interest::READABLE | Interest::WRITABLE,
            (false, _) => Interest::WRITABLE,
        };
        if wanted != connection.interest {
            let watched =
                self.poll
                    .registry()
                    .reregister(&mut connection.stream, Token(slot), wanted);
            tell_if_unwatched(watched);
            if wanted.is_readable() && !connection.interest.is_readable() {
                // Bytes that arrived while it was not read: read them now.
                self.again.push((slot, connection.generation));
            }
            connection.interest = wanted;
        }
        // end of lesson
        let due = connection.due(idle_timeout);
        if connection.scheduled.is_none_or(|scheduled| due < scheduled) {
            if let Some(at) = connection.scheduled {
                self.deadlines.cancel(at, slot, connection.generation);
            }
            self.deadlines.schedule(due, slot, connection.generation);
            connection.scheduled = Some(due);
        }
    }

    /// Once a second: a connection quiet for a second gives back its read
    /// buffer (`Tuning::release_idle_memory`); the next read allocates it
    /// again. Freed after every read instead, a busy connection would
    /// allocate it again for every message; kept, fifteen thousand idle
    /// connections would hold 8 KiB each for nothing.
    fn sweep(&mut self) {
        let now = self.now;
        if now < self.sweep_at {
            return;
        }
        self.sweep_at = now + QUIET;
        for connection in self.connections.iter_mut().flatten() {
            if let Phase::Talking {
                session,
                read_at,
                reads,
                ..
            } = &mut connection.phase
                && now.duration_since(*read_at) >= QUIET
            {
                session.release_idle_memory();
                *reads = 0;
            }
        }
    }

    /// Acts on every deadline that has passed, and on the listener's.
    fn fire_deadlines(&mut self) {
        let now = self.now;
        if self.gate.reopen_if_due(now, self.poll.registry()) {
            self.accept_all();
        }
        let shared = self.shared;
        let settings = &shared.settings;
        while let Some(deadline) = self.deadlines.pop_due(now) {
            let Some(Some(connection)) = self.connections.get_mut(deadline.token) else {
                continue;
            };
            if connection.generation != deadline.generation
                || connection.scheduled != Some(deadline.at)
            {
                continue;
            }
            connection.scheduled = None;
            if connection.due(settings.idle_timeout) <= now {
                narrate::set_connection(connection.id);
                connection.deadline_passed(now);
                if !connection.done {
                    connection.flush();
                }
            }
            self.settle(deadline.token);
        }
    }
}

/// Says when `poll` could not be told what a connection now waits for.
fn tell_if_unwatched(watched: io::Result<()>) {
    if let Err(error) = watched {
        narrate::problem(format!("Could not watch a connection: {error}"));
    }
}

impl Connection {
    /// A read failed: says why, and ends the connection (`false`: stop
    /// reading it).
    fn failed(&mut self, error: io::Error) -> bool {
        narrate::problem(Error::from(error));
        self.done = true;
        false
    }

    /// Whether the loop reads this connection now: not while its output
    /// is backed up (its peer is not reading), nor once its closing bytes
    /// wait to go out.
    fn reads(&self) -> bool {
        match &self.phase {
            Phase::Opening { .. } | Phase::Talking { .. } => self.output.pending <= BACKED_UP,
            Phase::Closing { until, .. } => until.is_some(),
        }
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

    /// Writes what waits; a write error ends the connection.
    fn flush(&mut self) {
        if self.output.is_empty() {
            return;
        }
        match self.output.write_to(&mut self.stream) {
            Ok(true) => {
                self.wrote_at = Instant::now();
                self.recycle_sent();
            }
            Ok(false) => {}
            Err(error) => {
                if matches!(self.phase, Phase::Talking { .. }) {
                    narrate::problem(Error::from(error));
                }
                self.done = true;
            }
        }
    }

    // lesson: a payload, once sent, receives the next message
    /// Gives the session back the longest payload sent out in full, to
    /// receive the next long message into (`Tuning::recycle`).
    fn recycle_sent(&mut self) {
        if let Some(payload) = self.output.sent.take()
            && let Phase::Talking { session, .. } = &mut self.phase
        {
            session.recycle(payload);
        }
    }
    // end of lesson

    /// Queues bytes to send, starting the write clock if none were waiting.
    fn send(&mut self, bytes: Vec<u8>) {
        if self.output.is_empty() {
            self.wrote_at = Instant::now();
        }
        self.output.push(bytes);
    }

    /// Reads what arrived, as the phase wants it. True if the read turn
    /// ended with bytes possibly still waiting.
    fn read(&mut self, scratch: &mut [u8], settings: &Settings, now: Instant) -> bool {
        match self.phase {
            Phase::Opening { .. } => self.read_request(scratch, settings, now),
            Phase::Talking { .. } => self.read_frames(settings, now),
            Phase::Closing { .. } => {
                self.discard(scratch);
                false
            }
        }
    }

    /// Gathers the request head; once whole, answers it, and reads on
    /// (true, as [`Connection::read_frames`], if bytes may still wait).
    fn read_request(&mut self, scratch: &mut [u8], settings: &Settings, now: Instant) -> bool {
        let Phase::Opening { head, .. } = &mut self.phase else {
            return false;
        };
        let count = match self.stream.read(scratch) {
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return false,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return true,
            Err(error) => {
                let error = opening::cut_short(head, Some(error));
                self.refuse(error);
                return false;
            }
        };
        if count == 0 {
            let error = opening::cut_short(head, None);
            self.refuse(error);
            return false;
        }
        let mut response = Vec::new();
        match opening::answer_gathered(head, &scratch[..count], &mut response, CHAPTER) {
            // A short read is no proof that the socket is drained: read
            // on until `WouldBlock`.
            None => self.read_request(scratch, settings, now),
            Some(Ok((Opening::Upgraded, rest))) => {
                self.send(response);
                narrate::event(
                    "Handshake completed. Echoing every message until the client leaves.",
                );
                narrate::summary("connected: handshake completed");
                let session = Box::new(
                    Session::new(settings.max_message_size)
                        .with_budget(Arc::clone(&settings.budget)),
                );
                self.phase = Phase::Talking {
                    session,
                    read_at: now,
                    stretch: None,
                    reads: 0,
                };
                if !rest.is_empty() {
                    self.feed(&rest, settings, now);
                }
                self.read_frames(settings, now)
            }
            Some(Ok((Opening::ServedPage, _))) => {
                self.send(response);
                self.close(false);
                false
            }
            Some(Err(error)) => {
                self.refuse(error);
                false
            }
        }
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

    /// Reads frames into the session until the socket has nothing more,
    /// the output backs up, or the read turn is over (then true).
    ///
    /// A connection that reads only now and then gives its session's
    /// inbox back as soon as it has read (`Tuning::release_idle_memory`):
    /// fifteen thousand connections that each wake up for one message then
    /// take turns with one inbox's worth of memory, instead of each keeping
    /// 8 KiB. A busy connection keeps its inbox until it has been quiet
    /// for a second (the loop's sweep), and does not allocate it anew for
    /// every message.
    fn read_frames(&mut self, settings: &Settings, now: Instant) -> bool {
        let mut turn = 0;
        // lesson: read what arrived into the session, and hand out what it made of it
        while self.output.pending <= BACKED_UP {
            let Phase::Talking { session, reads, .. } = &mut self.phase else {
                return false;
            };
            // Chapter 10's read, without the wait: into the session's
            // inbox, or straight into the message for a long payload and
            // into the inbox for what follows it, in one `readv`.
            let [room, inbox] = session.buffers();
            // A plain `read` costs a little less than a `readv`: one only
            // where there are two places.
            let read = if room.is_empty() {
                self.stream.read(inbox)
            } else if inbox.is_empty() {
                self.stream.read(room)
            } else {
                let mut both = [IoSliceMut::new(room), IoSliceMut::new(inbox)];
                self.stream.read_vectored(&mut both)
            };
            let count = match read {
                Ok(0) => {
                    session.end_of_stream();
                    self.hand_out(now);
                    self.close(true);
                    return false;
                }
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return self.failed(error),
            };
            // Reads that brought bytes: the final `WouldBlock` is not one.
            *reads = reads.saturating_add(1);
            session.filled(count);
            self.after_read(count, settings, now);
            if !matches!(self.phase, Phase::Talking { .. }) {
                return false;
            }
            turn += count;
            // A short read is no proof that the socket is drained (a
            // reset or the end of the stream may be waiting behind the
            // bytes): only `WouldBlock` is, and only then will the next
            // bytes be a new edge.
            if turn >= READ_TURN {
                return true;
            }
        }
        // end of lesson
        if let Phase::Talking { session, reads, .. } = &mut self.phase
            && *reads <= BUSY_READS
            && !session.is_mid_frame()
        {
            session.release_idle_memory();
        }
        false
    }

    /// Hands `bytes` that arrived to the session.
    fn feed(&mut self, bytes: &[u8], settings: &Settings, now: Instant) {
        if let Phase::Talking { session, .. } = &mut self.phase {
            session.receive(bytes);
        }
        self.after_read(bytes.len(), settings, now);
    }

    /// `count` bytes reached the session: checks the frame's progress,
    /// echoes every message, and queues every frame the session made.
    fn after_read(&mut self, count: usize, settings: &Settings, now: Instant) {
        let Phase::Talking {
            session,
            read_at,
            stretch,
            ..
        } = &mut self.phase
        else {
            return;
        };
        *read_at = now;
        conversation::check_progress(session, stretch, count, settings.frame_timeout);
        self.hand_out(now);
    }

    /// Narrates the session's events, echoes its messages, and moves the
    /// frames it queued into the output. Once the session is finished,
    /// the connection closes.
    fn hand_out(&mut self, now: Instant) {
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
        for frame in session.take_outgoing() {
            if self.output.is_empty() {
                self.wrote_at = now;
            }
            if let Err(error) = self.output.send_frame(&mut self.stream, frame) {
                narrate::problem(Error::from(error));
                self.done = true;
                return;
            }
        }
        if session.is_finished() {
            self.close(false);
        } else {
            self.recycle_sent();
        }
    }

    /// What the peer sends after our side closed: read and dropped.
    fn discard(&mut self, scratch: &mut [u8]) {
        let Phase::Closing { discarded, .. } = &mut self.phase else {
            return;
        };
        loop {
            match self.stream.read(scratch) {
                Ok(0) => break,
                Ok(count) => {
                    *discarded += count;
                    if *discarded >= LINGER_BYTES {
                        break;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.done = true;
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
                session.timed_out(Timeout::Idle);
                self.hand_out(now);
            }
            Phase::Closing { .. } => self.done = true,
        }
    }
}
