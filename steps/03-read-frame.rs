//! Chapter 3 — Reading a frame (the article's "The websocket frame
//! protocol" and "Receiving data").
//!
//! After the handshake the browser sends "Can you hear me?" as one frame.
//! `anatomy::read_text_frame` takes it apart the way the article does, one
//! field at a time — FIN and opcode from the first byte, the mask bit and
//! the length from the second, then the four-byte masking key, then the
//! payload — and draws the RFC 6455 §5.2 diagram filled in with the bits
//! that actually arrived.
//!
//! Watch for the article's numbers: sent with its mask
//! (`cargo run --bin client -- --mask 80,191,161,254`) the masked bytes are
//! `[19, 222, 207, 222, …]` and unmask to "Can you hear me?".
//!
//! This is the simple version on purpose: one unfragmented, masked text
//! frame of at most 125 bytes, unmasked one byte at a time with `i % 4`
//! (`mask::apply_bytewise`). Anything else is refused with a red line.
//!
//! What differs from the article: its FIN and mask checks can never fail
//! (in Ruby, 0 is true), it describes lengths 126 and 127 as "greater than
//! 126", and it `raise`s inside the accept loop, so one unexpected frame
//! takes down the whole server. Here a frame we cannot handle ends only its
//! own connection, and the next connection is served.

use std::process::ExitCode;
use websocket_from_scratch::server::opening::{self, Opening};

use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::{Error, anatomy, narrate};

fn main() -> ExitCode {
    listener::run("03-read-frame", read_one_frame)
}

fn read_one_frame(connection: &mut Connection) -> Result<(), Error> {
    if opening::perform(connection)? == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Starting to parse the websocket frame.");
    anatomy::read_text_frame(&mut connection.reader)?;
    Ok(())
}
