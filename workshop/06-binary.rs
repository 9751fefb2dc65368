//! Chapter 6 — Binary messages (the article's extra credit: "Binary payload support").
//!
//! Chapter 6 is chapter 5 plus binary messages (`diff
//! steps/05-long-payloads.rs steps/06-binary.rs`).
//!
//! Opcode 2 carries bytes that are not text: an image, a compressed blob,
//! a game's state. The framing is identical to text; only the meaning
//! differs, so there is nothing to decode and no UTF-8 to check. The log
//! shows a short hex preview (`narrate::hex_preview`) instead of a string,
//! and the echo goes back as binary — answering bytes with text would hand
//! the browser a string where it expects a `Blob`.
//!
//! The lesson is in two places: `accepted_opcode` dispatches on the
//! opcode, where binary now joins text and the rest still waits for its
//! chapter, and `check_payload` applies the UTF-8 check to text only. The
//! log previews bytes in hex.
//!
//! **What graduates.** Chapter 5's `read_header` and `encode_header` now
//! live in the library: `frame::read_header` reads a header with every
//! length form and its rules, and `frame::write` sends a frame with the
//! shortest length form.
//!
//! Try it: `cargo run --bin 06-binary`, then
//! `cargo run --bin client -- --binary`, or from the browser's console on
//! the test page: `socket.send(new Uint8Array([1, 2, 3]))`.
//!
//! You should see, among its narration when the test sends the 256 byte
//! values, 0 to 255 (as pinned in `snapshots/06-binary.snap`):
//!
//! ```text
//! Received binary frame: FIN 1, 256 bytes (length 126, then 16-bit [1, 0])
//! Echoing binary frame: 256 bytes, header [130, 126, 1, 0]
//! ```

// Your chapter 6. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 6`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::io::Read;
use std::process::ExitCode;

use websocket_from_scratch::Error;
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::frame::{self, FrameError, FrameHeader, Opcode};
use websocket_from_scratch::protocol::violation::Violation;
use websocket_from_scratch::server::conversation::{self, EchoOptions};
use websocket_from_scratch::server::listener::{self, Connection, Socket};
use websocket_from_scratch::server::opening::{self, Opening};

fn main() -> ExitCode {
    let options = match EchoOptions::from_env() {
        Ok(options) => options,
        Err(stop) => return stop.report(),
    };
    let limit = options.max_message_size;
    listener::exit_code(listener::serve(
        "06-binary",
        &options.listen,
        move |connection| echo(connection, limit),
    ))
}

/// Performs the handshake, then echoes messages until the client leaves.
fn echo(connection: &mut Connection, limit: u64) -> Result<(), Error> {
    if opening::perform(connection)? == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Echoing every message until the client leaves.");
    conversation::start(connection, None)?;
    let Connection { reader, writer, .. } = connection;
    match converse(reader, writer, limit) {
        Ok(()) => Ok(()),
        Err(error) => fail(writer, error),
    }
}

/// Reads frames until the client leaves, and echoes each message.
fn converse(reader: &mut impl Read, writer: &mut Socket, limit: u64) -> Result<(), Error> {
    loop {
        let header = match frame::read_header(reader) {
            Err(FrameError::Closed) => {
                narrate::event("The client closed the connection.");
                return Ok(());
            }
            header => header?,
        };
        check(&header, limit)?;
        narrate::received(format!(
            "Received {} frame: FIN {}, {} bytes ({})",
            header.opcode,
            u8::from(header.fin),
            header.payload_len,
            narrate::describe_length(&header)
        ));
        let payload = frame::read_payload(reader, &header)?;
        check_payload(header.opcode, &payload)?;
        tell_echo(header.opcode, &payload);
        frame::write(writer, true, header.opcode, &payload)?;
    }
}

/// What any frame must satisfy, and what this chapter supports, decided
/// from the header alone, before its payload is read.
fn check(header: &FrameHeader, limit: u64) -> Result<(), Error> {
    if header.rsv != 0 {
        return Err(Violation::ReservedBits(header.rsv).into());
    }
    if let Opcode::Reserved(bits) = header.opcode {
        return Err(Violation::ReservedOpcode(bits).into());
    }
    if header.mask.is_none() {
        return Err(Violation::Unmasked.into());
    }
    accepted_opcode(header)?;
    if header.payload_len > limit {
        let size = header.payload_len;
        return Err(Violation::MessageTooBig { size, limit }.into());
    }
    Ok(())
}

/// Dispatches on the opcode: what this chapter echoes (whole text and
/// binary messages), what a later chapter adds, and what no one may send.
fn accepted_opcode(header: &FrameHeader) -> Result<(), Error> {
    // What later chapters add, as the log says it ("Not supported yet:
    // …"): not_yet(split), not_yet(continuation) and so on.
    let not_yet = |what: &str| -> Result<(), Error> { Err(Error::NotYetSupported(what.into())) };
    let split = "a message split over several frames (chapter 7)";
    let continuation = "a continuation frame (chapter 7)";
    let ping_pong = "ping and pong frames (chapter 8)";
    let close = "a close frame; the closing handshake is chapter 9";
    // lesson: whole text and binary pass; reserved opcodes are violations; the rest: not_yet(…)
    todo!("whole text and binary pass; reserved opcodes are violations; the rest: not_yet(…)")
    // end of lesson
}

/// Text must be UTF-8 (§8.1); binary is bytes, whatever they are.
fn check_payload(opcode: Opcode, payload: &[u8]) -> Result<(), Error> {
    // lesson: refuse text that is not UTF-8 (Violation::InvalidUtf8); binary may be any bytes
    todo!("refuse text that is not UTF-8 (Violation::InvalidUtf8); binary may be any bytes")
    // end of lesson
}

/// The story of a message and its echo: text quoted, binary in hex.
fn tell_echo(opcode: Opcode, payload: &[u8]) {
    let preview = match opcode {
        Opcode::Text => narrate::text_preview(&String::from_utf8_lossy(payload)),
        _ => format!("hex: {}", narrate::hex_preview(payload)),
    };
    narrate::plain(format!("  {preview}"));
    let echo_header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    narrate::sent(format!(
        "Echoing {opcode} frame: {} bytes, header {:?}",
        payload.len(),
        frame::encode_header(&echo_header)
    ));
}

/// Ends the conversation after an error. This chapter knows two close
/// codes, for the two failures it can meet that are not plain protocol
/// errors: 1007 (text that is not UTF-8) and 1009 (over the limit). On any
/// other error it just hangs up; chapter 9 sends a code for every one.
fn fail(writer: &mut Socket, error: Error) -> Result<(), Error> {
    let code = match error.close_code() {
        Some(code @ (CloseCode::INVALID_PAYLOAD | CloseCode::MESSAGE_TOO_BIG)) => code,
        _ => return Err(error),
    };
    narrate::problem(format!("Failing the connection: {error}"));
    narrate::sent(format!("Sending close frame: {code}"));
    close::send(writer, code, &error.to_string())?;
    Ok(())
}
