//! Chapter 1 — Beginning the server (the article's "Beginning the server").
//!
//! Chapter 1 is the first: it builds on nothing but the standard library.
//!
//! A WebSocket begins as an ordinary HTTP request. Before answering it, look
//! at it: this server accepts connections on `localhost:2345`, reads each
//! request head line by line until the blank line that ends it, prints it,
//! and closes the connection.
//!
//! Open `http://localhost:2345` in a browser and watch two requests arrive.
//! The first is a plain `GET /` for the page, which we answer with the test
//! page (`page::serve`). The second comes from the page's script: the same
//! `GET /`, but carrying `Upgrade: websocket`, `Sec-WebSocket-Key` and
//! `Sec-WebSocket-Version`. We close it unanswered, so the page reports a
//! failed connection — the handshake is chapter 2.
//!
//! What differs from the article: it reads lines until a blank one with no
//! limit and no timeout, one connection at a time. Here each line comes
//! from `http::read_head_line`, which stops at 8 KiB (`414` for a request
//! line that long, `431` for a head) or 100 header lines (`431`), and
//! `listener::serve` gives each connection a thread and a deadline, since
//! browsers open spare connections that send nothing and would block the
//! loop. A malformed request line gets `400`; `HTTP/2.0`, say, gets `505`.
//!
//! Try it: `cargo run --bin 01-print-request`, then open
//! <http://localhost:2345>, or send the article's request with our client:
//! `cargo run --bin client -- --key E4i4gDQc1XTIQcQxvf+ODA==`.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/01-print-request.snap`):
//!
//! ```text
//! Incoming Request
//! GET / HTTP/1.1
//! Upgrade: websocket
//! Sec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==
//! Closing without an answer: answering the handshake is chapter 2.
//! ```

// Your chapter 1. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 1`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::io::BufRead;
use std::process::ExitCode;

use websocket_from_scratch::protocol::handshake;
use websocket_from_scratch::protocol::http::{self, HeadSoFar, Request};
use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::server::page;
use websocket_from_scratch::{Error, narrate};

fn main() -> ExitCode {
    listener::run("01-print-request", print_request)
}

fn print_request(connection: &mut Connection) -> Result<(), Error> {
    let request = read_request(&mut connection.reader)?;
    narrate::event("Incoming Request");
    for line in request.head.lines() {
        narrate::received(line);
    }
    if handshake::is_websocket_request(&request) {
        narrate::aside("Closing without an answer: answering the handshake is chapter 2.");
        return Ok(());
    }
    page::serve(connection, &request)
}

/// A request head is text lines, each ending in CRLF, up to an empty line.
fn read_request(reader: &mut impl BufRead) -> Result<Request, Error> {
    // lesson: read lines (http::read_head_line) until an empty one; Request::from_lines
    todo!("read lines (http::read_head_line) until an empty one; Request::from_lines")
    // end of lesson
}
