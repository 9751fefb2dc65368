//! Chapter 7 — Messages in several frames (the article's extra credit:
//! "Support for multi-frame payloads").
//!
//! Chapter 7 is chapter 6 plus messages in several frames (`diff
//! steps/06-binary.rs steps/07-fragmented-messages.rs`).
//!
//! A sender that does not know a message's length in advance, or does not
//! want to hold all of it, can send it in pieces: a first text or binary
//! frame with FIN clear, continuation frames (opcode 0), and a last one
//! with FIN set. `converse` keeps the message in progress (`message_for`
//! starts it or adds to it, `finished` hands it over once its last frame is
//! in); the log shows each fragment, then the assembled message, which is
//! echoed as one frame.
//!
//! Watch for the order rules (RFC 6455 §5.4), checked by `check_order`
//! before a fragment's payload is read. A continuation
//! frame with no message in progress, or a new text or binary frame before
//! the current message has ended, is a protocol error. The size limit
//! applies to the whole message, not to each fragment — otherwise ten
//! 15 MiB fragments would slip past a 16 MiB limit. And a text message is
//! checked for UTF-8 as a whole, once complete: one character's bytes may
//! be split across two fragments, so a fragment on its own can look invalid
//! when the message is fine.
//!
//! Try it: `cargo run --bin 07-fragmented-messages`, then
//! `cargo run --bin client -- --fragments 3`. A browser splits only very long
//! messages (Chromium, above about 128 KiB), so pasting a long text into the
//! test page's box shows it too.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/07-fragmented-messages.snap`):
//!
//! ```text
//! Assembled a text message from 3 frames: 16 bytes
//! Echoing text frame: 16 bytes, header [129, 16]
//! ```

// Your chapter 7. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 7`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::io::Read;
use std::process::ExitCode;

use websocket_from_scratch::Error;
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::frame::{self, FrameError, FrameHeader, Opcode};
use websocket_from_scratch::protocol::message::Message;
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
        "07-fragmented-messages",
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
    // The message being put together, from its first fragment to its last.
    let mut in_progress: Option<Message> = None;
    loop {
        let header = match frame::read_header(reader) {
            Err(FrameError::Closed) => {
                narrate::event("The client closed the connection.");
                return Ok(());
            }
            header => header?,
        };
        check(&header, in_progress.as_ref(), limit)?;
        narrate::received(format!(
            "Received {} frame: FIN {}, {} bytes ({})",
            header.opcode,
            u8::from(header.fin),
            header.payload_len,
            narrate::describe_length(&header)
        ));
        // Each fragment's payload is read straight onto the end of the
        // message so far; the message comes out once its last frame is in.
        let message = message_for(&mut in_progress, &header);
        frame::read_payload_into(reader, &header, &mut message.payload)?;
        let Some(message) = finished(&mut in_progress, header.fin) else {
            continue;
        };
        // Only text has an encoding to check; binary is bytes, whatever they
        // are. A character may straddle two fragments, so the whole message
        // is checked, not each fragment.
        if message.opcode == Opcode::Text && std::str::from_utf8(&message.payload).is_err() {
            return Err(Violation::InvalidUtf8.into());
        }
        tell_echo(&message);
        frame::write(writer, true, message.opcode, &message.payload)?;
    }
}

/// What any frame must satisfy, and what this chapter supports, decided
/// from the header alone, before its payload is read.
fn check(header: &FrameHeader, in_progress: Option<&Message>, limit: u64) -> Result<(), Error> {
    if header.rsv != 0 {
        return Err(Violation::ReservedBits(header.rsv).into());
    }
    if let Opcode::Reserved(bits) = header.opcode {
        return Err(Violation::ReservedOpcode(bits).into());
    }
    if header.mask.is_none() {
        return Err(Violation::Unmasked.into());
    }
    let not_yet = |what: &str| Err(Error::NotYetSupported(what.to_string()));
    match header.opcode {
        Opcode::Ping | Opcode::Pong => return not_yet("ping and pong frames (chapter 8)"),
        Opcode::Close => return not_yet("a close frame; the closing handshake is chapter 9"),
        _ => {}
    }
    Ok(check_order(header, in_progress, limit)?)
}

/// The order of a message's frames (§5.4), and the size limit on the whole
/// message, checked before a fragment's payload is read.
fn check_order(
    header: &FrameHeader,
    in_progress: Option<&Message>,
    limit: u64,
) -> Result<(), Violation> {
    // lesson: no continuation without a message, no text/binary inside one; limit the whole message
    todo!("no continuation without a message, no text/binary inside one; limit the whole message")
    // end of lesson
}

/// The message a data frame adds to: the one in progress, or a new one,
/// whose opcode is its first frame's.
fn message_for<'a>(in_progress: &'a mut Option<Message>, header: &FrameHeader) -> &'a mut Message {
    // lesson: start a message with this frame's opcode if none is in progress; count its frames
    todo!("start a message with this frame's opcode if none is in progress; count its frames")
    // end of lesson
}

/// The message, once its last frame (FIN set) is in.
fn finished(in_progress: &mut Option<Message>, fin: bool) -> Option<Message> {
    // lesson: with FIN set the message is complete: take it out of in_progress
    todo!("with FIN set the message is complete: take it out of in_progress")
    // end of lesson
}

/// The story of a message and its echo: text quoted, binary in hex.
fn tell_echo(message: &Message) {
    let (opcode, payload) = (message.opcode, &message.payload);
    if message.frames > 1 {
        narrate::received(format!(
            "Assembled a {opcode} message from {} frames: {} bytes",
            message.frames,
            payload.len()
        ));
    }
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
