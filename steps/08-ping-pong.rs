//! Chapter 8 — Ping and pong (the article's extra credit: "Ping / Pong support").
//!
//! A ping asks "are you still there?"; the peer answers with a pong that
//! carries the same payload (RFC 6455 §5.5.2–§5.5.3). That keeps idle
//! connections alive through proxies and tells each end the other is
//! still listening. This server now answers pings, and right after the
//! handshake sends one of its own and logs the pong that answers it
//! (browsers answer pings automatically; a page's script never sees them).
//!
//! Watch for the control-frame rules (`control::check`): at most 125 bytes,
//! never fragmented. In exchange, a control frame may arrive between the
//! fragments of a message, and must be answered there and then — the log
//! says when a ping arrived mid-message. A pong nobody asked for is
//! allowed and ignored.

use websocket_from_scratch::server::echo::{self, Features};

fn main() -> std::process::ExitCode {
    echo::run("08-ping-pong", Features::PING_PONG)
}
