//! Chapter 2 — The handshake (the article's "The handshake" and
//! "Implementing the handshake").
//!
//! The server now answers the upgrade request with `101 Switching
//! Protocols`, and the browser's `WebSocket` opens. All of it happens in
//! `opening::perform`: read the request, check it, turn the client's
//! `Sec-WebSocket-Key` into `Sec-WebSocket-Accept` with
//! `handshake::accept_key` (SHA-1 of the key and a fixed GUID, in base64),
//! and send the response.
//!
//! Watch for the article's numbers: with its key `E4i4gDQc1XTIQcQxvf+ODA==`
//! (`cargo run --bin client -- --key E4i4gDQc1XTIQcQxvf+ODA==`) the answer
//! is `d9WHst60HtB4IvjOVevrexl0oLA=`.
//!
//! What differs from the article: it looks only for the key, with a regular
//! expression that is case-sensitive although header names are not. We
//! also check the method, `Upgrade`, `Connection` and the version, and
//! refuse with the status RFC 6455 §4.2.2 suggests (400, or 426 with the
//! version we speak). Its response lines end in a bare newline; HTTP wants
//! CRLF, which `handshake::switching_protocols` sends.
//!
//! After the handshake this chapter simply closes the connection: reading
//! what the browser sends next is chapter 3.

use std::process::ExitCode;
use websocket_from_scratch::server::opening::{self, Opening};

use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::{Error, narrate};

fn main() -> ExitCode {
    listener::run("02-handshake", shake_hands)
}

fn shake_hands(connection: &mut Connection) -> Result<(), Error> {
    if opening::perform(connection)? == Opening::Upgraded {
        narrate::event("Handshake completed.");
    }
    Ok(())
}
