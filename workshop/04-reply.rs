//! Chapter 4 — Replying (the article's "Sending data back to the client").
//!
//! Chapter 4 is chapter 3 plus a reply frame (`diff steps/03-read-frame.rs
//! steps/04-reply.rs`).
//!
//! The server answers the browser's message with a text frame of its own,
//! "Loud and clear!", and the page shows it.
//!
//! A frame from the server is simpler than one from the client: it is never
//! masked (RFC 6455 §5.1). For a short text message it is just three parts,
//! built by hand in `reply_frame`: `0b1000_0001` (FIN set, opcode 1 =
//! text), the payload length with the mask bit clear, and the payload
//! bytes. The log shows every byte.
//!
//! Reading the client's frame is chapter 3's code, unchanged.
//!
//! What differs from the article: it writes `response.size` as the length,
//! which in Ruby counts characters, while a frame's length counts bytes —
//! the two part ways as soon as the reply holds a character such as "é".
//! We measure the UTF-8 bytes: try `--reply "Très bien"`, 9 characters
//! and 10 bytes. After replying, this chapter still closes the connection;
//! staying open for more messages is chapter 5.
//!
//! Try it: `cargo run --bin 04-reply`, open <http://localhost:2345>, and
//! the page shows "Loud and clear!"; or
//! `cargo run --bin client -- --key E4i4gDQc1XTIQcQxvf+ODA== --mask 80,191,161,254`.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/04-reply.snap`):
//!
//! ```text
//! Converted to a string: "Can you hear me?"
//! Sending response: "Loud and clear!"
//! Frame bytes: [129, 15, 76, 111, 117, 100, 32, 97, 110, 100, 32, 99, 108, 101, 97, 114, 33]
//! ```

// Your chapter 4. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 4`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use websocket_from_scratch::Error;
use websocket_from_scratch::command_line::{self, CommandLineError};
use websocket_from_scratch::narrate::{self, diagram};
use websocket_from_scratch::protocol::frame::{self, FrameHeader, Opcode};
use websocket_from_scratch::protocol::violation::Violation;
use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::server::opening::{self, Opening};

fn main() -> ExitCode {
    let (options, reply) = match options() {
        Ok(options) => options,
        Err(stop) => return stop.report(),
    };
    listener::exit_code(listener::serve("04-reply", &options, move |connection| {
        read_and_reply(connection, &reply)
    }))
}

const RESPONSE: &str = "Loud and clear!";

/// Chapter 4 of the tutorial: a WebSocket server that answers the
/// browser's message with a text frame of its own.
#[derive(Parser)]
struct Command {
    #[command(flatten)]
    listen: listener::Listen,
    /// The answer, sent as one text frame of at most 125 bytes
    #[arg(
        long,
        value_name = "TEXT",
        default_value = RESPONSE,
        allow_hyphen_values = true,
        value_parser = short_reply
    )]
    reply: String,
}

/// `--port N`, `--connections N`, and `--reply TEXT`, the answer.
fn options() -> Result<(listener::Options, String), CommandLineError> {
    let command: Command = command_line::parse()?;
    Ok((command.listen.options(), command.reply))
}

/// `--reply TEXT`: refused at start-up when its UTF-8 is over 125 bytes,
/// rather than on every connection.
fn short_reply(text: &str) -> Result<String, String> {
    match text.len() {
        0..=125 => Ok(text.to_string()),
        bytes => Err(format!(
            "{bytes} bytes; a reply is one frame of at most 125 bytes (longer lengths come in chapter 5)"
        )),
    }
}

fn read_and_reply(connection: &mut Connection, reply: &str) -> Result<(), Error> {
    if opening::perform(connection)? == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Starting to parse the websocket frame.");
    read_text_frame(&mut connection.reader)?;

    narrate::sent(format!("Sending response: {reply:?}"));
    let bytes = reply_frame(reply)?;
    narrate::sent(format!("Frame bytes: {bytes:?}"));
    connection.writer.write_all(&bytes)?;
    Ok(())
}

/// A short text frame from the server, byte by byte: FIN and the text
/// opcode, then the length with the mask bit clear (servers never mask,
/// §5.1), then the payload as it is.
fn reply_frame(text: &str) -> Result<Vec<u8>, Error> {
    // What the log says of a payload over 125 bytes ("Not supported yet:
    // …"): Error::NotYetSupported(not_yet.into()).
    let not_yet = "a reply over 125 bytes; longer lengths come in chapter 5";
    // lesson: 0b1000_0001 (FIN, text), the length in bytes (mask bit clear), the payload
    todo!("0b1000_0001 (FIN, text), the length in bytes (mask bit clear), the payload")
    // end of lesson
}

/// Reads one text frame and tells its story: each header field, the RFC
/// diagram with this frame's bits, the mask, the masked and unmasked bytes,
/// and the string they spell.
fn read_text_frame(reader: &mut impl Read) -> Result<String, Error> {
    let mut first_two = [0; 2];
    frame::read_frame_bytes(reader, &mut first_two, true)?;
    let [first_byte, second_byte] = first_two;

    let (fin, rsv, opcode) = split_first_byte(first_byte);
    narrate::received(format!(
        "First byte: {first_byte:#010b} → FIN: {}, RSV: {rsv:03b}, opcode: {} ({opcode})",
        u8::from(fin),
        opcode.bits(),
    ));
    let (masked, payload_len) = split_second_byte(second_byte);
    narrate::received(format!(
        "Second byte: {second_byte:#010b} → MASK: {}, payload length: {payload_len}",
        u8::from(masked),
    ));
    refuse_longer_lengths(payload_len)?;
    let mask = read_masking_key(reader, masked)?;
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: u64::from(payload_len),
    };
    for line in diagram::render(&header) {
        narrate::plain(line);
    }
    let key = check(&header)?;

    narrate::received(format!("Payload size: {payload_len} bytes"));
    narrate::received(format!("Got mask: {key:?}"));
    // At most 125 bytes: small enough to take the header at its word.
    let mut data = vec![0; usize::from(payload_len)];
    frame::read_frame_bytes(reader, &mut data, false)?;
    narrate::received(format!("Got masked data: {data:?}"));
    unmask(&mut data, key);
    narrate::plain(format!("Unmasked the data: {data:?}"));
    let text = String::from_utf8_lossy(&data).into_owned();
    narrate::plain(format!("Converted to a string: {text:?}"));
    Ok(text)
}

/// The first byte of a frame: FIN (the last frame of a message), three
/// reserved bits, and a 4-bit opcode (§5.2).
fn split_first_byte(byte: u8) -> (bool, u8, Opcode) {
    let fin = byte & 0b1000_0000 != 0;
    let rsv = (byte & 0b0111_0000) >> 4;
    let opcode = Opcode::from_bits(byte & 0b0000_1111);
    (fin, rsv, opcode)
}

/// The second byte: the MASK bit, and the 7-bit payload length.
fn split_second_byte(byte: u8) -> (bool, u8) {
    let masked = byte & 0b1000_0000 != 0;
    let payload_len = byte & 0b0111_1111;
    (masked, payload_len)
}

/// A 7-bit length of 126 or 127 is not a length: it says that a 16- or a
/// 64-bit one follows. This chapter reads short payloads only.
fn refuse_longer_lengths(payload_len: u8) -> Result<(), Error> {
    // What the log says of a longer length ("Not supported yet: …"), given
    // how many bits follow.
    let not_yet = |longer: u8| {
        Error::NotYetSupported(format!(
            "a payload length of {payload_len}, which means a {longer}-bit length follows; \
             lengths over 125 come in chapter 5"
        ))
    };
    if payload_len > 125 {
        let longer = if payload_len == 126 { 16 } else { 64 };
        return Err(not_yet(longer));
    }
    Ok(())
}

/// The 4-byte masking key, which follows the length when MASK is set.
fn read_masking_key(reader: &mut impl Read, masked: bool) -> Result<Option<[u8; 4]>, Error> {
    if !masked {
        return Ok(None);
    }
    let mut key = [0; 4];
    frame::read_frame_bytes(reader, &mut key, false)?;
    Ok(Some(key))
}

/// What this chapter can read: one whole, masked text frame. Returns its
/// masking key.
fn check(header: &FrameHeader) -> Result<[u8; 4], Error> {
    // What the log says of a frame this chapter cannot read yet ("Not
    // supported yet: …"): Error::NotYetSupported(split.into()), or
    // Error::NotYetSupported(not_text).
    let split = "a message split over several frames (chapter 7)";
    let not_text = format!(
        "a {} frame; this chapter reads text frames only",
        header.opcode
    );
    // No extension is agreed, so the reserved bits must be 0 (§5.2).
    if header.rsv != 0 {
        return Err(Violation::ReservedBits(header.rsv).into());
    }
    if !header.fin {
        return Err(Error::NotYetSupported(split.into()));
    }
    if header.opcode != Opcode::Text {
        return Err(Error::NotYetSupported(not_text));
    }
    // A client masks every frame (§5.1).
    let Some(key) = header.mask else {
        return Err(Violation::Unmasked.into());
    };
    Ok(key)
}

/// Removes the mask: byte i is XORed with key byte i modulo 4 (§5.3).
fn unmask(data: &mut [u8], key: [u8; 4]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}
