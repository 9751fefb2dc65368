//! Chapter 10 — A complete echo server (beyond the article).
//!
//! Everything from chapters 5–9, put together into a server you could point
//! a real client at: it echoes text as text and binary as binary, answers
//! pings, completes and starts closing handshakes, and fails the connection
//! with the right close code on every protocol error (`echo::serve` with
//! `Features::COMPLETE`). The Autobahn conformance suite, the standard test
//! of WebSocket implementations, passes with no failure and nothing merely
//! "non-strict" (`tests/autobahn/run`).
//!
//! Three things are new.
//!
//! * Text is checked as it arrives (`utf8::Utf8Stream`), not once the
//!   message is complete: a message that turns invalid in its second byte
//!   is refused at the second byte, even while the rest of its frame is
//!   still on the way (RFC 6455 §8.1).
//! * Timeouts, so a peer that goes quiet cannot hold a thread for ever: the
//!   handshake must finish within `--handshake-timeout` (10 s); a connection
//!   silent for `--idle-timeout` (30 s) is pinged, and closed with 1001 if
//!   nothing comes back within as long again; a peer that stops reading
//!   makes our writes time out. Half a frame and silence is a stalled read.
//! * The log is one line per message, numbered by connection. `--verbose`
//!   brings back the frame-by-frame story of the earlier chapters; `--quiet`
//!   keeps only problems, for benchmarks.
//!
//! Why one thread per connection: each connection's code reads top to
//! bottom, blocking where it waits, exactly as the protocol is described —
//! no state machine, no async runtime. A thread costs a stack (reserved,
//! mostly untouched) and a scheduler entry, which is fine for hundreds or a
//! few thousand connections. It stops scaling around tens of thousands of
//! mostly idle connections, where the memory for stacks and the cost of
//! switching between threads dominate; there, an event loop (epoll, or an
//! async runtime such as tokio) serves many connections per thread.

use websocket_from_scratch::args::{Args, Seconds};
use websocket_from_scratch::echo::{self, Features};
use websocket_from_scratch::listener;
use websocket_from_scratch::narrate;

fn main() {
    let mut args = Args::from_env();
    let mut options = listener::Options::take_from(&mut args);
    if let Some(Seconds(timeout)) = args.value("--handshake-timeout", "SECONDS") {
        options.handshake_timeout = timeout;
    }
    let mut features = echo::take_max_message_size(&mut args, Features::COMPLETE);
    if let Some(Seconds(timeout)) = args.value("--idle-timeout", "SECONDS") {
        features.idle_timeout = Some(timeout);
    }
    let level = narrate::take_level(&mut args);
    args.finish();

    narrate::set_level(level);
    listener::serve("10-echo-server", &options, move |connection| {
        echo::serve(connection, &features)
    });
}
