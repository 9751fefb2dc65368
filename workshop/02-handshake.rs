//! Chapter 2 — The handshake (the article's "The handshake" and
//! "Implementing the handshake").
//!
//! Chapter 2 is chapter 1 plus the handshake's answer (`diff
//! steps/01-print-request.rs steps/02-handshake.rs`).
//!
//! The server now answers the upgrade request with `101 Switching
//! Protocols`, and the browser's `WebSocket` opens. Three steps, all in
//! `shake_hands` below:
//!
//! 1. check that the request really asks for a WebSocket (`validate`
//!    below, RFC 6455 §4.2.1), and take its `Sec-WebSocket-Key`;
//! 2. compute `Sec-WebSocket-Accept` from it (`accept_key` below: SHA-1
//!    of the key followed by a fixed GUID, in base64, §1.3). The client
//!    computes the same value and compares: that proves the answer comes
//!    from a server that read this very request, not from a cache;
//! 3. write the `101` with that value, byte for byte
//!    (`switching_protocols` below).
//!
//! Watch for the article's numbers: with its key `E4i4gDQc1XTIQcQxvf+ODA==`
//! the answer is `d9WHst60HtB4IvjOVevrexl0oLA=`.
//!
//! What differs from the article: it looks only for the key, with a regular
//! expression that is case-sensitive although header names are not. We
//! also check the method, `Upgrade`, `Connection` and the version, and
//! refuse with the status §4.2.2 suggests (400, or 426 with the version we
//! speak). Its response lines end in a bare newline; HTTP wants CRLF.
//!
//! After the handshake this chapter simply closes the connection: reading
//! what the browser sends next is chapter 3.
//!
//! Try it: `cargo run --bin 02-handshake`, then in another terminal
//! `cargo run --bin client -- --key E4i4gDQc1XTIQcQxvf+ODA==`, or open
//! <http://localhost:2345> and see the page say the connection opened.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/02-handshake.snap`):
//!
//! ```text
//! Websocket handshake detected with key: E4i4gDQc1XTIQcQxvf+ODA==
//! Responding to handshake with key: d9WHst60HtB4IvjOVevrexl0oLA=
//! Handshake completed.
//! ```

// Your chapter 2. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 2`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::io::{BufRead, Write};
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

use websocket_from_scratch::protocol::handshake::{self, HandshakeError};
use websocket_from_scratch::protocol::http::{self, HeadSoFar, Request};
use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::server::page;
use websocket_from_scratch::{Error, narrate};

/// Fixed by RFC 6455 §1.3: a value no HTTP server would produce by chance.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn main() -> ExitCode {
    listener::run("02-handshake", shake_hands)
}

fn shake_hands(connection: &mut Connection) -> Result<(), Error> {
    let request = read_request(&mut connection.reader)?;
    narrate::event("Incoming Request");
    if !handshake::is_websocket_request(&request) {
        return page::serve(connection, &request);
    }
    // A refusal comes back as an error that knows its HTTP status; the
    // listener answers with it and logs why.
    let key = validate(&request)?;
    narrate::received(format!("Websocket handshake detected with key: {key}"));
    let accept = accept_key(key);
    let response = switching_protocols(&accept);
    // The log shows the key as the response carries it: what is sent.
    let sent = sent_accept(&response).unwrap_or("(none)");
    narrate::sent(format!("Responding to handshake with key: {sent}"));
    connection.writer.write_all(response.as_bytes())?;
    connection.writer.flush()?;
    // From the next byte on, the connection speaks WebSocket frames.
    connection.handshake_finished();
    narrate::event("Handshake completed.");
    Ok(())
}

/// Checks what RFC 6455 §4.2.1 asks of an upgrade request's method and
/// WebSocket headers, and returns its key; the HTTP version and `Host`
/// are left to chapter 10. Each refusal is a `HandshakeError`, which knows
/// its HTTP status.
fn validate(request: &Request) -> Result<&str, HandshakeError> {
    // lesson: a GET; Upgrade: websocket; Connection: Upgrade; version 13; a 16-byte key
    todo!("a GET; Upgrade: websocket; Connection: Upgrade; version 13; a 16-byte key")
    // end of lesson
}

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §1.3): SHA-1 of the
/// key followed by a GUID every WebSocket server knows, in base64.
fn accept_key(key: &str) -> String {
    // lesson: hash the key followed by WEBSOCKET_GUID with Sha1, and BASE64.encode the digest
    todo!("hash the key followed by WEBSOCKET_GUID with Sha1, and BASE64.encode the digest")
    // end of lesson
}

/// The `101 Switching Protocols` response head, as text: a status line,
/// three headers, each line ending in CRLF, and an empty line to end it.
fn switching_protocols(accept: &str) -> String {
    // lesson: the 101 status line, Upgrade, Connection, Sec-WebSocket-Accept; CRLF after each
    todo!("the 101 status line, Upgrade, Connection, Sec-WebSocket-Accept; CRLF after each")
    // end of lesson
}

/// The value of the response's `Sec-WebSocket-Accept` line, if it has one.
fn sent_accept(response: &str) -> Option<&str> {
    response.lines().find_map(|line| {
        line.trim_end_matches('\r')
            .strip_prefix("Sec-WebSocket-Accept: ")
    })
}

/// A request head is text lines, each ending in CRLF, up to an empty line.
fn read_request(reader: &mut impl BufRead) -> Result<Request, Error> {
    let mut so_far = HeadSoFar::default();
    let mut lines = Vec::new();
    loop {
        let line = http::read_head_line(reader, &mut so_far)?;
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    // The first line says what is asked for (`GET / HTTP/1.1`), the others
    // are `Name: value` headers.
    Ok(Request::from_lines(&lines)?)
}
