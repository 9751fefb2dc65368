//! Chapter 1 — Beginning the server (the article's "Beginning the server").
//!
//! A WebSocket begins as an ordinary HTTP request. Before answering it, look
//! at it: this server accepts connections on `localhost:2345`, prints each
//! request head it receives, and closes the connection.
//!
//! Open `http://localhost:2345` in a browser and watch two requests arrive.
//! The first is a plain `GET /` for the page, which we answer with the test
//! page (`page::serve`). The second comes from the page's script: the same
//! `GET /`, but carrying `Upgrade: websocket`, `Sec-WebSocket-Key` and
//! `Sec-WebSocket-Version`. We close it unanswered, so the page reports a
//! failed connection — the handshake is chapter 2.
//!
//! What differs from the article: it reads lines until a blank one, with no
//! limit and no timeout, one connection at a time. `http::read_request`
//! stops at 8 KiB or 100 headers, and `listener::serve` gives each
//! connection its own thread and a read timeout, because browsers open
//! spare connections that send nothing and would otherwise block the loop.

use std::process::ExitCode;

use websocket_from_scratch::protocol::{handshake, http};
use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::server::page;
use websocket_from_scratch::{Error, narrate};

fn main() -> ExitCode {
    listener::run("01-print-request", print_request)
}

fn print_request(connection: &mut Connection) -> Result<(), Error> {
    let request = http::read_request(&mut connection.reader)?;
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
