//! Chapter 10 — A complete echo server (beyond the article).
//!
//! Chapter 10 is chapter 9 with its conversation moved into the library as a
//! session, plus timeouts, limits and one log line per message (`diff
//! steps/09-closing-handshake.rs steps/10-echo-server.rs`).
//!
//! Everything from chapters 5–9, put together into a server you could point
//! a real client at: it echoes text as text and binary as binary, answers
//! pings, completes and starts closing handshakes, and fails the connection
//! with the right close code on every protocol error. The Autobahn
//! conformance suite, the standard test of WebSocket implementations,
//! passes with no failure and nothing merely "non-strict"
//! (`tests/autobahn/run`, the chapter named in `AUTOBAHN_BIN`).
//!
//! **What graduates.** Chapter 9's conversation loop moves into the
//! library, and changes shape on the way: it becomes
//! `protocol::session::Session`, a state machine with no socket inside.
//! Bytes go in (`Session::receive`, or `Session::buffer` and
//! `Session::filled` to read straight into place), and out come events —
//! a message, a ping, the peer's close, a failure — and the frames to send.
//! The rules are chapter 9's, checked in the same order; what changes is
//! who waits. Chapter 9 blocks inside `frame::read_header` until a header
//! has arrived; the session takes whatever TCP delivers, half a header or
//! three frames at once, and remembers where it stopped. That is what lets
//! the same engine run under one thread per connection (here, and in
//! chapter 11), under an event loop serving thousands of connections, or in
//! a unit test fed byte by byte. The loop around it,
//! `server::conversation::converse`, is some fifty lines: read into the
//! session, hand out its events, write what it queued.
//!
//! Three things are new besides.
//!
//! * Text is checked as it arrives (`protocol::utf8::Utf8Stream`), not
//!   once the message is complete: a message that turns invalid in its
//!   second byte is refused at the second byte, even while the rest of its
//!   frame is still on the way (RFC 6455 §8.1).
//! * Timeouts, so a peer that goes quiet cannot hold a thread for ever: the
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
//! refused on the command line, before it can overflow the clock; and when
//! the system refuses a thread for a new connection, that connection gets
//! `503` and the server goes on serving the others.
//!
//! What this chapter adds to the checks of chapters 1 to 9, which check
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
//! messages, not what the allocator holds around them: under 100 clients
//! each sending 16 MiB − 64 KiB, this server peaks at up to twice the
//! budget (392–507 MiB, `cargo bench --bench load -- memory`), under 100
//! trickling 8 MiB + 64 KiB of 16 MiB at 1.1–1.2 times (271–303 MiB,
//! `-- tricklers`). A thread per connection spreads over glibc's arenas,
//! and each keeps the room its last long message freed; the settings that
//! would keep both within the budget plus 25 % cost more than they give
//! (`server::memory` has the measurements; so has the README's "Limits
//! and defences").
//!
//! Bounded and calm at capacity. A connection holds one file descriptor
//! (its reader and writer share the socket, `listener::Socket`), and at
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
//! Memory given back. Freed memory stays with the C library's allocator
//! unless it is told otherwise, so the server starts itself again, in
//! place, with three settings for glibc's `malloc` (`server::memory`): after
//! 5,000 connections have come and gone, it holds 17 MiB rather than 105
//! (`cargo bench --bench load -- churn`). And a finished connection's
//! thread is let go at once (detached), so its stack goes back too.
//!
//! Why one thread per connection: each connection's loop reads top to
//! bottom, blocking where it waits — no async runtime. A thread costs a
//! stack (reserved, mostly untouched) and a scheduler entry, which is fine
//! for hundreds or a few thousand connections. It stops scaling around tens
//! of thousands of mostly idle connections, where the memory for stacks and
//! the cost of switching between threads dominate; there, an event loop
//! (epoll, or an async runtime such as tokio) serves many connections per
//! thread — and drives the very same `Session`.
//!
//! Try it: `cargo run --bin 10-echo-server`, then
//! `cargo run --bin client -- --ping "still there?" --close 1000 --reason bye`,
//! or open <http://localhost:2345> and type into the page's box
//! (`--verbose` tells every frame).
//!
//! You should see these lines among its narration, as
//! `snapshots/10-echo-server.snap` pins them (the client above sends its
//! ping before the text, so there the pong comes first):
//!
//! ```text
//! #1 ← text 16 bytes "Can you hear me?" → echoed
//! #1 ← ping "still there?" → pong
//! #1 ← close 1000 (normal closure) "bye" → close, hang up
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use websocket_from_scratch::Error;
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::message::Message;
use websocket_from_scratch::protocol::session::Session;
use websocket_from_scratch::server::conversation::{self, ServerOptions, Settings, tell_echo};
use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::server::memory;
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
    // Before any thread starts: glibc reads these settings only when the
    // program starts (see `server::memory`).
    if let Err(error) = memory::tune_allocator() {
        narrate::problem(format!(
            "Could not restart with the allocator's settings ({error}): memory freed after a load may stay with the server"
        ));
    }
    narrate::set_level(level);
    narrate::write_through_queue(narrate::QUEUE_LINES);
    listener::exit_code(listener::serve(
        "10-echo-server",
        &listen,
        move |connection| echo(connection, &settings),
    ))
}

/// Performs the handshake, then echoes messages until the client leaves.
fn echo(connection: &mut Connection, settings: &Settings) -> Result<(), Error> {
    if opening::perform_checking_origin(connection, None, None)? == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Echoing every message until the client leaves.");
    conversation::start(connection, Some(settings.idle_timeout))?;
    let Connection { reader, writer, .. } = connection;
    let frame_timeout = Some(settings.frame_timeout);
    // lesson: a Session, conversation::converse; each message to echo_back
    let mut session =
        Session::new(settings.max_message_size).with_budget(Arc::clone(&settings.budget));
    conversation::converse(reader, writer, &mut session, frame_timeout, &mut echo_back)
    // end of lesson
}

/// Tells a message, then sends it back as it came (text as text).
fn echo_back(message: Message, session: &mut Session) -> Result<(), Error> {
    tell_echo(&message);
    // lesson: the echo: the same opcode, the same payload, queued in the session
    session.send(message.opcode, message.payload);
    Ok(())
    // end of lesson
}
