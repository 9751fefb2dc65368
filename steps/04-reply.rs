//! Chapter 4 — Replying (the article's "Sending data back to the client").
//!
//! The server answers the browser's message with a text frame of its own,
//! "Loud and clear!", and the page shows it.
//!
//! A frame from the server is simpler than one from the client: it is never
//! masked (RFC 6455 §5.1). For a short text message it is just three parts:
//! `0b1000_0001` (FIN set, opcode 1 = text), the payload length with the
//! mask bit clear, and the payload bytes. `frame::encode` builds exactly
//! that, and the log shows every byte.
//!
//! What differs from the article: it writes `response.size` as the length,
//! which in Ruby counts characters, while a frame's length counts bytes —
//! the two part ways as soon as the reply holds a character such as "é".
//! We measure the UTF-8 bytes. After replying, this chapter still closes
//! the connection; staying open for more messages is chapter 5.

use std::io::Write;

use std::process::ExitCode;
use websocket_from_scratch::protocol::frame::{self, Opcode};
use websocket_from_scratch::server::opening::{self, Opening};

use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::{Error, anatomy, narrate};

const RESPONSE: &str = "Loud and clear!";

fn main() -> ExitCode {
    listener::run("04-reply", read_and_reply)
}

fn read_and_reply(connection: &mut Connection) -> Result<(), Error> {
    if opening::perform(connection)? == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Starting to parse the websocket frame.");
    anatomy::read_text_frame(&mut connection.reader)?;

    narrate::sent(format!("Sending response: {RESPONSE:?}"));
    let bytes = frame::encode(true, Opcode::Text, None, RESPONSE.as_bytes());
    narrate::sent(format!("Frame bytes: {bytes:?}"));
    connection.writer.write_all(&bytes)?;
    Ok(())
}
