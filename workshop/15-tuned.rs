//! Chapter 15 — The event loop, tuned: finding where the time goes, and
//! closing the gap to the fastest servers (beyond the article).
//!
//! Chapter 15 is chapter 13 plus its tuning, and nothing else: the same
//! loop, phases, limits and narration, made to keep up with the fastest
//! servers we measured (`diff steps/13-event-loop.rs steps/15-tuned.rs` is
//! the tuning). Read chapter 13 first: this chapter is about measuring.
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
//!   `cargo bench --bench echo` prints it per message, MB or connection,
//!   and it does not depend on the load generator;
//! * instructions in user space, which no other load disturbs:
//!   `valgrind --tool=callgrind --instr-atstart=no` on the server, and
//!   `callgrind_control -i on PID` and `-i off` around a known number of
//!   messages;
//! * the same client against two servers, taking turns, pinned to one CPU,
//!   many short rounds and the median of their ratios: `cargo bench
//!   --bench echo` (`BENCH_SERVERS`, `BENCH_ONLY`, `BENCH_ROUNDS`), where a
//!   server may be the path of another build, such as this chapter with one
//!   technique taken out.
//!
//! Each technique below was found that way, and is kept because it
//! measured a gain; each figure comes with the command that gives it
//! (the ratios were taken on a shared machine under other load: the
//! benchmark's alternating rounds make them comparable, not exact).
//!
//! **Reading straight into the session.** Chapter 13 reads into one
//! buffer of the loop's, and `Session::receive` copies the bytes on. Here
//! the socket reads into `Session::buffer`: the session's small inbox, or,
//! for the rest of a long payload, the message itself, so megabytes go from
//! the socket to their final place with no copy between. Against a build
//! that reads into the loop's buffer and hands the bytes to
//! `Session::receive`, as chapter 13 does: 1.04 times on 64 KiB echoes,
//! 1.08 on 1 MiB, 1.14 on 16 MiB, 1.10 on 1 MiB in 16 fragments
//! (`BENCH_ONLY=echo BENCH_SERVERS=15,OTHER cargo bench --bench echo`,
//! one run). Cost: the inbox is the connection's own (8 KiB), so idle
//! connections must give it back (below).
//!
//! **Two places in one `readv`.** While a long payload is due, the read is
//! vectored (`Tuning::buffers`, from `protocol::session::tuning`): the
//! rest of the payload into the message, whatever follows into the inbox.
//! A message sent as 16 fragments of 64 KiB took 32 reads, as
//! fastwebsockets takes 17; now 17 (`perf stat -e
//! syscalls:sys_enter_readv,syscalls:sys_enter_read -p PID` during
//! `BENCH_ONLY="1 MiB echo in 16 fragments" cargo bench --bench echo`;
//! mio's plain reads count as `sys_enter_recvfrom`). A plain `read` where
//! there is only one place: `readv` alone cost 1–3 % on small messages.
//! Cost: a second way into the session, kept out of the session's plain
//! face.
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
//! copying the payload. Chapter 13 queues every frame first (header and
//! payload copied into one buffer for a short one) and writes it once the
//! reading is done. Against a build that queues each frame and writes the
//! queue with the same `writev`: the same system calls per message, but
//! 2,443–2,716 instructions per 16-byte round trip instead of 3,891
//! (callgrind, as above, 3,000 round trips, two runs each), and 1.02 times
//! on 16-byte round trips, 1.07 on 64 KiB echoes (`BENCH_SERVERS=15,OTHER`,
//! one run each). The header, too, is put together on the stack
//! (`frame::encode_header_array`) and copied only if it must wait: 2,694
//! instructions per 16-byte echo against 2,843 with a fresh vector for
//! each header (callgrind over 5,000 echoes, one message at a time). Cost:
//! the bookkeeping of a payload partly written, and of the longest one
//! written out, kept for recycling.
//!
//! **Idle connections give their memory back.** A connection whose reads
//! come more than 100 ms apart gives its inbox back as soon as it has read
//! (`Tuning::release_idle_memory`), and once a second the loop frees the
//! inbox of every busy connection gone quiet. 15,000 idle connections
//! that have each echoed one message hold 24.2–24.7 MiB; with neither,
//! 141.7 MiB (`BENCH_SERVERS=15,OTHER cargo bench --bench scale`, one
//! run). Either alone gives the same there (24.2 and 24.3 MiB): the sweep
//! is for connections busy a while and then idle, the release after a read
//! for those that wake more often than once a second, which the sweep
//! never finds quiet. It goes by the time between reads, not by how many
//! there were since the last sweep: counting, every new connection gave
//! its inbox back after its first reads and paid for a fresh one at the
//! next, 54,811 instructions per connection (handshake, one echo, closing
//! handshake) against 46,242 going by time (callgrind, as above, over 1,000
//! connections). Cost: a sweep over every connection once a second, and a
//! busy connection that pauses pays for a fresh inbox.
//!
//! **Connections boxed in their table.** A `HashMap` keeps spare room
//! (after it grows, up to half its slots are empty), and a slot holding a
//! connection costs a connection's size: 27.6 MiB for the 15,000 idle
//! connections above, against 24.2 with each connection in a `Box`, the
//! table then holding pointers (same command). Cost: an allocation per
//! connection.
//!
//! **No timer at every sleep.** `poll` with a timeout arms and cancels a
//! kernel timer on every wait: 1.7 % of the rate of 16-byte round trips
//! (64,894 against 63,788 messages a second, one build with the timeout
//! switched off, `BENCH_ONLY="16 B round trips, 1 connection"`). An alarm
//! thread (`server::deadlines::Alarm`) sleeps until the earliest
//! deadline and wakes the loop through a `mio::Waker`; `poll` waits with no
//! timeout. Only a deadline earlier than the one it waits for reaches the
//! alarm's thread: told of every move, it was woken twice per connection
//! for a client that connects once at a time, 4,000 `futex` calls and
//! 7,011 context switches for 1,000 runs of our client, against 10 and
//! 4,731 (`perf stat -e context-switches,syscalls:sys_enter_futex -p PID`).
//! Cost: a thread, with a 64 KiB stack, a lock when the earliest deadline
//! moves earlier, and now and then a ring with nothing due.
//!
//! **What graduates.** Chapter 13's set of deadlines moves into the
//! library, beside the alarm (`server::deadlines`): the same ordered set,
//! one entry per connection, taken out when its connection closes.
//!
//! **What did not pay, and went.** One reading of the clock per turn of
//! the loop, shared by every connection it handles: here the clock is read
//! without a system call (the kernel's clock source is `tsc`, read through
//! the vDSO; `cat /sys/devices/system/clocksource/clocksource0/current_clocksource`),
//! and sharing its readings measured no gain. Several
//! loops, each on a thread with its own `epoll` and its own copy of the
//! listening socket (an earlier `--threads N`): the benchmark pins client
//! and servers to one CPU, where a second loop can only take turns with
//! the first, so no gain could be measured; the option went, and the
//! shared counts it needed with it. One loop is busy only while bytes
//! move. A connection table hashed with one multiplication instead of
//! SipHash: 2,480 instructions per 16-byte echo over 100 connections
//! against 2,663, but the same rate (1.00, `BENCH_ONLY="16 B round trips,
//! 100 connections" BENCH_ROUNDS=31 BENCH_SERVERS=OTHER,15`). Writing
//! every connection's frames once the whole batch of events has been
//! read, instead of each as it is made: the client is then woken in a
//! burst, and takes the CPU back 0.16 times per message instead of 0.09
//! (as in "Where it stands"); this chapter was 1.04 times as fast (same
//! command).
//!
//! **A short read ends the turn, unless the peer's end came with it.**
//! Chapter 13 reads until `WouldBlock`: a second `read` per message that
//! finds nothing. A read that fills less than it was offered took all
//! there was, and bytes arriving later make a new edge. What makes no new
//! edge is an end of stream or a reset already waiting behind the bytes,
//! and `epoll` tells of it with the readiness (`EPOLLRDHUP`, `EPOLLHUP`,
//! `EPOLLERR`: `is_read_closed()`, `is_error()`): then the turn reads on
//! until it shows. Without that exception, `a_reset_after_a_partial_frame…`
//! and `a_half_close_after_a_partial_frame…` fail (tokio makes the same
//! exception). For the same reason a new connection is not read at once:
//! `epoll` reports a socket that is readable already when it is added.
//! With 100 connections, 1.0 `recvfrom` per message against 2.0; in
//! connect+echo+close, 4.0 per connection against 5.1 (`perf stat -e
//! 'syscalls:sys_enter_*' -p PID` during `BENCH_ONLY=...` runs of `cargo
//! bench --bench echo`). Rates against the build without it, same run
//! (`BENCH_SERVERS=15,OLD BENCH_ROUNDS=21`): 1.09 on 100 connections,
//! 1.04 on connect, 0.98 on one connection. Cost: being right now leans
//! on the readiness flags, which is why the exception is tested.
//!
//! **Longer turns.** Chapter 13's turn is 64 KiB; here it is 1 MiB, and a
//! turn that ended on a short read is not over early. With 64 KiB, each
//! fragment of a 1 MiB message in 16 ended a turn: 15 more `epoll_ctl`
//! and `epoll_wait` per message, 0.91 times fastwebsockets; with 1 MiB,
//! none, 1.01 (`perf stat` as above; `BENCH_ONLY="1 MiB echo in 16
//! fragments" BENCH_SERVERS=15,fastwebsockets BENCH_ROUNDS=21`). Cost:
//! while two peers flood pongs, another client's echo takes 3.8–16 ms
//! (median of 50, five runs) instead of chapter 13's 1.1–1.8
//! (`LOAD_ECHO_SERVER=15-tuned cargo bench --bench load -- pongs`, then
//! `=13-event-loop`).
//!
//! **Where it stands.** Against fastwebsockets and chapter 13, `cargo bench
//! --bench echo` (the README gives the last runs' figures): level with
//! fastwebsockets on short messages, ahead on long ones. uWebSockets, run
//! as a peer built elsewhere, stays ahead on short messages over many
//! connections and on new connections, with the same system calls: what
//! it spares is instructions between them (callgrind, 16-byte echoes over
//! 100 connections: 745 each against 2,444 here; per connection, 15,200
//! against 41,000, and one allocation where this chapter makes 29, 15 of
//! them the request head's strings). They cost more than their own time:
//! with client and server on one CPU, most of the server's context
//! switches are the client, woken by an echo, taking the CPU back (`nonvoluntary_ctxt_switches` in `/proc/PID/status`, over two
//! seconds of `BENCH_ONLY="16 B round trips, 100 connections"`), and the
//! longer each message keeps the server busy, the more often that
//! happens: 0.09–0.10 times per message here, 0.11 for fastwebsockets,
//! 0.05–0.06 for uWebSockets, 0.19 for chapter 13. A build of this
//! chapter with some 1,600 instructions of busy work added to each echo
//! was switched out 0.12 times per message, and this chapter was 1.03
//! times as fast as it (`BENCH_SERVERS=15,OTHER BENCH_ROUNDS=21`). On new
//! connections this chapter makes fewer system calls than uWebSockets (17
//! per connection against 19, `perf stat` as above, during
//! `BENCH_ONLY=connect+echo+close`), the kernel's work is the same, and
//! the difference is all user time: the benchmark splits the server's CPU
//! time per connection, and gave 90–92 µs of system time here against
//! 88–89, and 31–34 µs of user time against 18–26 (two runs). Its memory,
//! `cargo bench --bench scale`. The peak of one 16 MiB echo stays under 20
//! MiB (the last lines of `cargo bench --bench echo`).
//!
//! The options, the page, the narration and its levels are chapter 13's.
//! Every behaviour test of chapter 10 runs against this chapter too, and
//! so does the Autobahn suite
//! (`AUTOBAHN_BIN=15-tuned bash tests/autobahn/run`).
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

// Your chapter 15. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 15`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use websocket_from_scratch::Error;
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::frame::{self, FrameHeader};
use websocket_from_scratch::protocol::http::HttpError;
use websocket_from_scratch::protocol::session::tuning::Tuning;
use websocket_from_scratch::protocol::session::{Event, OutgoingFrame, Session, Timeout};
use websocket_from_scratch::server::admission::{Admission, Admitted, Gate, Ticket};
use websocket_from_scratch::server::conversation::{self, ServerOptions, Settings, tell_echo};
use websocket_from_scratch::server::deadlines::{Alarm, Deadlines};
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

/// The listening socket's token, and the alarm's; a connection's token is
/// its number.
const LISTENER: Token = Token(usize::MAX);
const ALARM: Token = Token(usize::MAX - 1);
/// Output beyond which a connection is not read until its peer catches up.
const BACKED_UP: usize = 1024 * 1024;
/// The most read from one connection before the others get their turn.
const READ_TURN: usize = 1024 * 1024;
/// Frames up to this size (header included) are written with one `write`.
const SMALL_FRAME: usize = 256;
/// How often the loop looks for quiet connections, and how long a
/// connection must have been quiet for its read buffer to be freed.
const QUIET: Duration = Duration::from_secs(1);
/// A connection whose reads come further apart than this reads only now
/// and then: it gives its read buffer back after each read.
const NOW_AND_THEN: Duration = Duration::from_millis(100);

/// Serves every connection from this thread, until `--connections` if set.
fn serve(listen: listener::Options, settings: Settings) -> Result<(), ListenError> {
    let (listening, port) = listener::listen(listen.port)?;
    let cannot = |error| ListenError { port, error };
    let (poll, listener) = {
        listening.set_nonblocking(true).map_err(cannot)?;
        let mut listener = TcpListener::from_std(listening);
        let poll = Poll::new().map_err(cannot)?;
        let registry = poll.registry();
        let registered = registry.register(&mut listener, LISTENER, Interest::READABLE);
        registered.map_err(cannot)?;
        (poll, listener)
    };
    let waker = Waker::new(poll.registry(), ALARM).map_err(cannot)?;
    let mut event_loop = EventLoop {
        poll,
        gate: Gate::new(listener, LISTENER, Admission::new(&listen)),
        connections: HashMap::new(),
        deadlines: Deadlines::new(),
        scratch: vec![0; 64 * 1024],
        handshake_timeout: listen.handshake_timeout,
        settings,
        alarm: Alarm::start(waker).map_err(cannot)?,
        sweep_at: Instant::now() + QUIET,
    };
    event_loop.run().map_err(cannot)
}

/// One `Poll` (one epoll instance), the listener behind its `Gate`, and every connection.
struct EventLoop {
    poll: Poll,
    gate: Gate,
    /// Boxed: the table's spare room then costs a pointer, not a connection.
    connections: HashMap<usize, Box<Connection>>,
    /// Every connection's next deadline, earliest first.
    deadlines: Deadlines,
    /// What every connection reads its request head into, and what its
    /// peer sends after our side closed.
    scratch: Vec<u8>,
    handshake_timeout: Duration,
    settings: Settings,
    /// Wakes `poll` at the earliest deadline, so that `poll` itself needs
    /// no timeout.
    alarm: Alarm,
    /// When to free the read buffers of the connections gone quiet.
    sweep_at: Instant,
}

/// A connection, from its first byte to its last.
struct Connection {
    stream: TcpStream,
    phase: Phase,
    /// Bytes waiting to be written, in order.
    output: Output,
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

    /// Queues `bytes`. A short frame joins the last chunk: in a vector of
    /// its own, a pong of 2 bytes would hold some 50, and `BACKED_UP`
    /// counts only the 2. Unlike chapter 13, never by copying a long
    /// payload elsewhere to make room: only into a short chunk, or into
    /// room a long one has spare.
    fn push(&mut self, bytes: Vec<u8>) {
        self.pending += bytes.len();
        let short = bytes.len() < 1024;
        match self.chunks.back_mut() {
            _ if bytes.is_empty() => {}
            Some(last) if short && last.len() + bytes.len() <= last.capacity().max(1024) => {
                last.extend(bytes)
            }
            _ => self.chunks.push_back(bytes),
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
    /// straight to the socket while nothing else waits (a short frame in
    /// one `write`, a long one's header and payload in one `writev`), and
    /// whatever the socket does not take now is queued. A long payload is
    /// queued as it is, without a copy.
    fn send_frame(&mut self, stream: &mut impl Write, frame: OutgoingFrame) -> io::Result<()> {
        // The header on the stack too: it is copied only if it must wait.
        let (bytes, length) = frame::encode_header_array(&FrameHeader {
            fin: true,
            rsv: conversation::rsv_of(&frame),
            opcode: frame.opcode,
            mask: None,
            payload_len: frame.payload.len() as u64,
        });
        let header = &bytes[..length];
        let payload = frame.payload;
        let mut header_out = 0;
        // lesson: nothing waits: to the socket, a short frame from the stack, a long in one writev
        todo!("nothing waits: to the socket, a short frame from the stack, a long in one writev");
        // end of lesson
        // lesson: what the socket did not take waits: a short frame whole, a long payload as it is
        todo!("what the socket did not take waits: a short frame whole, a long payload as it is")
        // end of lesson
    }

    /// Writes as much as the socket takes, in as few system calls as it
    /// can (`writev`). Returns whether anything was written.
    fn write_to(&mut self, stream: &mut impl Write) -> io::Result<bool> {
        let mut progress = false;
        // lesson: the queue goes out in one writev of up to 32 chunks, as much as fits
        todo!("the queue goes out in one writev of up to 32 chunks, as much as fits");
        // end of lesson
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

impl EventLoop {
    /// Waits for readiness or the next deadline, then acts on both.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while self.gate.serving() {
            // lesson: the alarm rings at the earliest: deadlines, the gate's retry, the sweep
            todo!("the alarm rings at the earliest: deadlines, the gate's retry, the sweep");
            // end of lesson
            match self.poll.poll(&mut events, None) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                result => result?,
            }
            for event in events.iter() {
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed();
                // The peer's end of stream, or an error, waits behind the bytes.
                let ended = event.is_read_closed() || event.is_error();
                match event.token() {
                    LISTENER => self.accept_all(),
                    ALARM => self.alarm.rang(),
                    Token(id) => self.ready(id, readable, writable, ended),
                }
            }
            self.fire_deadlines(Instant::now());
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
                Ok(connection) => self.connections.insert(id, Box::new(connection)),
                Err(error) => {
                    narrate::problem(format!("Could not set up a connection: {error}"));
                    continue;
                }
            };
            // No read yet: a socket readable already when it is added is
            // reported by `epoll` at once (`EPOLL_CTL_ADD` looks). But its
            // handshake deadline goes into the set now: a client that
            // sends nothing makes no event, and would never meet it.
            self.settle(id);
        }
    }

    /// A new connection, registered for readable, in its first phase.
    fn open(&self, mut stream: TcpStream, id: usize, ticket: Ticket) -> io::Result<Connection> {
        let now = Instant::now();
        let registry = self.poll.registry();
        registry.register(&mut stream, Token(id), Interest::READABLE)?;
        Ok(Connection {
            stream,
            phase: Phase::Opening {
                head: Vec::new(),
                deadline: now + self.handshake_timeout,
            },
            output: Output::default(),
            interest: Interest::READABLE,
            scheduled: None,
            wrote_at: now,
            done: false,
            _ticket: ticket,
        })
    }

    /// A connection's socket is ready: writes what waits, reads what came.
    fn ready(&mut self, id: usize, readable: bool, writable: bool, ended: bool) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        narrate::set_connection(id as u64);
        if writable {
            connection.flush();
        }
        if readable && connection.read(&mut self.scratch, &self.settings, ended) {
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
        if let Some(at) = connection.scheduled
            && (connection.done || connection.due(self.settings.idle_timeout) < at)
        {
            self.deadlines.cancel(at, id);
            connection.scheduled = None;
        }
        if connection.done {
            self.connections.remove(&id);
            return;
        }
        if connection.scheduled.is_none() {
            let due = connection.due(self.settings.idle_timeout);
            self.deadlines.schedule(due, id);
            connection.scheduled = Some(due);
        }
        let watched: io::Result<()> = {
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
        while let Some(deadline) = self.deadlines.pop_due(now) {
            let id = deadline.token;
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
        self.sweep(now);
    }

    /// Once a second: a connection quiet for a second gives back its read
    /// buffer (`Tuning::release_idle_memory`); the next read allocates it
    /// again. Freed after every read instead, a busy connection would
    /// allocate it again for every message; kept, fifteen thousand idle
    /// connections would hold 8 KiB each for nothing.
    fn sweep(&mut self, now: Instant) {
        if now < self.sweep_at {
            return;
        }
        self.sweep_at = now + QUIET;
        // lesson: every connection quiet for a second gives its inbox back
        todo!("every connection quiet for a second gives its inbox back")
        // end of lesson
    }
}

impl Connection {
    /// Whether the loop reads this connection now: not while its output
    /// is backed up, nor while its closing bytes wait to go out.
    fn reads(&self) -> bool {
        match &self.phase {
            Phase::Closing(linger) => linger.until().is_some(),
            _ => self.output.pending <= BACKED_UP,
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
    fn send(&mut self, bytes: Vec<u8>) {
        if self.output.is_empty() {
            self.wrote_at = Instant::now();
        }
        self.output.push(bytes);
    }

    /// Writes what waits, until the socket takes no more.
    fn flush(&mut self) {
        if self.output.is_empty() || self.done {
            return;
        }
        match self.output.write_to(&mut self.stream) {
            Ok(true) => {
                self.wrote_at = Instant::now();
                self.recycle_sent();
            }
            Ok(false) => {}
            Err(error) => self.failed(error),
        }
    }

    /// Gives the session back the longest payload sent out in full, to
    /// receive the next long message into (`Tuning::recycle`).
    fn recycle_sent(&mut self) {
        // Recycling gives the budget back what the session handed out: not
        // while the output is backed up, where those echoes still wait. The
        // payload sent is let go instead of kept outside the budget.
        if !self.reads() {
            self.output.sent = None;
            return;
        }
        // lesson: a payload, once sent, receives the next message
        todo!("a payload, once sent, receives the next message")
        // end of lesson
    }

    /// Reads what arrived, as the phase wants it, until `WouldBlock`, or
    /// until its turn ends: then it says there is more to read.
    fn read(&mut self, scratch: &mut [u8], settings: &Settings, ended: bool) -> bool {
        let last_read = match &self.phase {
            Phase::Talking { read_at, .. } => Some(*read_at),
            _ => None,
        };
        let (mut turn, mut drained) = (0, false);
        while self.reads() && !self.done && turn < READ_TURN {
            let (read, asked) = match &mut self.phase {
                // Straight into the session: its inbox, and the rest of a
                // long payload into the message itself, in one `readv`.
                Phase::Talking { session, .. } => {
                    // lesson: read into the session's places; say how much room they offered
                    todo!("read into the session's places; say how much room they offered")
                    // end of lesson
                }
                _ => (self.stream.read(scratch), scratch.len()),
            };
            let (count, error) = match read {
                Ok(count) => (count, None),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => (0, Some(error)),
            };
            turn += count;
            match &mut self.phase {
                _ if count == 0 => self.ended(error),
                Phase::Opening { head, .. } => {
                    let mut response = Vec::new();
                    match opening::answer_gathered(
                        head,
                        &scratch[..count],
                        &mut response,
                        "15-tuned",
                    ) {
                        None => {}
                        Some(Ok((opening, rest))) => {
                            self.answered(opening, response, &rest, settings)
                        }
                        Some(Err(error)) => self.refuse(error),
                    }
                }
                Phase::Talking { session, .. } => {
                    // lesson: tell the session how much arrived, then hand out what it made
                    todo!("tell the session how much arrived, then hand out what it made")
                    // end of lesson
                }
                Phase::Closing(linger) => self.done = linger.discard(count),
            }
            // A short read took all there was: the next bytes make a new
            // edge. Not when the peer's end or an error came with the edge:
            // nothing would tell of it again, so read on until it shows.
            // lesson: a short read ends the turn, unless the peer's end came with the edge
            todo!("a short read ends the turn, unless the peer's end came with the edge")
            // end of lesson
        }
        // Not stopped by `WouldBlock`: its turn is over, with more to read.
        let more = !drained && turn >= READ_TURN && self.reads() && !self.done;
        // A connection that reads only now and then gives its session's
        // inbox back as soon as it has read; a busy one keeps it until it
        // has been quiet for a second (the loop's sweep). Not one backed
        // up: the echoes waiting in its output stay in the budget.
        let reads = self.reads();
        // lesson: last read over NOW_AND_THEN ago and not mid-frame: give the inbox back
        todo!("last read over NOW_AND_THEN ago and not mid-frame: give the inbox back");
        // end of lesson
        more
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
        let mut session =
            Session::new(settings.max_message_size).with_budget(Arc::clone(&settings.budget));
        session.receive(rest);
        self.phase = Phase::Talking {
            session: Box::new(session),
            read_at: Instant::now(),
            stretch: None,
        };
        self.talk(rest.len(), settings);
    }

    /// `count` bytes reached the session, which hands out what they made.
    fn talk(&mut self, count: usize, settings: &Settings) {
        let Phase::Talking {
            session,
            read_at,
            stretch,
            ..
        } = &mut self.phase
        else {
            return;
        };
        *read_at = Instant::now();
        conversation::check_progress(session, stretch, count, settings.frame_timeout);
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

    /// Narrates the session's events, echoes its messages, and sends the
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
        let sent: io::Result<()> = {
            // lesson: each frame straight to the socket while nothing waits; the rest queued
            todo!("each frame straight to the socket while nothing waits; the rest queued")
            // end of lesson
        };
        let finished = session.is_finished();
        if let Err(error) = sent {
            return self.failed(error);
        }
        if finished {
            self.close(false);
        } else {
            self.recycle_sent();
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

/// A plain `read` where there is one place to read into, a `readv` where
/// there are two: a `readv` costs a little more.
fn read_into(stream: &mut TcpStream, [room, inbox]: [&mut [u8]; 2]) -> io::Result<usize> {
    // lesson: one place, a plain read; two, one readv: the payload's room first
    todo!("one place, a plain read; two, one readv: the payload's room first")
    // end of lesson
}
