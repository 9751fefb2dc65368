//! Chapter 8 — Ping and pong (the article's extra credit: "Ping / Pong support").
//!
//! Chapter 8 is chapter 7 plus ping and pong (`diff
//! steps/07-fragmented-messages.rs steps/08-ping-pong.rs`).
//!
//! A ping asks "are you still there?"; the peer answers with a pong that
//! carries the same payload (RFC 6455 §5.5.2–§5.5.3). That keeps idle
//! connections alive through proxies and tells each end the other is
//! still listening. This server now answers pings (`control_frame`), and
//! right after the handshake sends one of its own and logs the pong that
//! answers it (browsers answer pings automatically; a page's script never
//! sees them). What a control frame calls for is decided in `hear`, and
//! `control_frame` does it.
//!
//! Control opcodes are the ones with their top bit set (`is_control`: 8
//! to 15), so a server knows a control frame by its opcode alone. Watch
//! for the control-frame rules (`check_control`): at most 125 bytes, never
//! fragmented. In exchange, a control frame may arrive between the
//! fragments of a message, and must be answered there and then — the log
//! says when a ping arrived mid-message. A pong nobody asked for is
//! allowed and ignored.
//!
//! **What graduates.** Chapter 7's fragment assembly now lives in the
//! library, `message::Assembler`: the same order rules (`check`), the
//! message in progress (`in_progress`, `buffered_len`) and the appending of
//! each fragment (`push_with`).
//!
//! Try it: `cargo run --bin 08-ping-pong`, then
//! `cargo run --bin client -- --ping "still here?" --fragments 2`, or open
//! <http://localhost:2345>: the log shows our ping and the browser's pong,
//! which no script wrote.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/08-ping-pong.snap`):
//!
//! ```text
//! Sending a ping of our own: "Are you still there?"
//! Received pong "Are you still there?": the client answered our ping
//! Received ping "still here?"; answering with a pong carrying the same payload
//! Sent pong "still here?"
//! ```

// Your chapter 8. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 8`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::io::Read;
use std::process::ExitCode;

use websocket_from_scratch::Error;
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::control;
use websocket_from_scratch::protocol::frame::{self, FrameError, FrameHeader, Opcode};
use websocket_from_scratch::protocol::message::{Assembler, Message};
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
        "08-ping-pong",
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
    let mut assembler = Assembler::new();
    narrate::sent(format!(
        "Sending a ping of our own: {}",
        narrate::text_preview(control::OUR_PING_TEXT)
    ));
    frame::write(writer, true, Opcode::Ping, control::OUR_PING)?;
    // The payload of the ping we sent, until its pong comes back.
    let mut ping_sent = Some(control::OUR_PING.to_vec());
    loop {
        let header = match frame::read_header(reader) {
            Err(FrameError::Closed) => {
                narrate::event("The client closed the connection.");
                return Ok(());
            }
            header => header?,
        };
        check(&header, &assembler, limit)?;
        if is_control(header.opcode) {
            let payload = frame::read_payload(reader, &header)?;
            control_frame(writer, header.opcode, &payload, &assembler, &mut ping_sent)?;
            continue;
        }
        narrate::received(format!(
            "Received {} frame: FIN {}, {} bytes ({})",
            header.opcode,
            u8::from(header.fin),
            header.payload_len,
            narrate::describe_length(&header)
        ));
        // Each fragment's payload is read straight onto the end of the
        // message so far; the message comes out once its last frame is in.
        let complete = assembler.push_with(&header, |message| -> Result<(), Error> {
            Ok(frame::read_payload_into(reader, &header, message)?)
        })?;
        let Some(message) = complete else {
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
fn check(header: &FrameHeader, assembler: &Assembler, limit: u64) -> Result<(), Error> {
    if header.rsv != 0 {
        return Err(Violation::ReservedBits(header.rsv).into());
    }
    if let Opcode::Reserved(bits) = header.opcode {
        return Err(Violation::ReservedOpcode(bits).into());
    }
    if header.mask.is_none() {
        return Err(Violation::Unmasked.into());
    }
    if header.opcode == Opcode::Close {
        let not_yet = "a close frame; the closing handshake is chapter 9";
        return Err(Error::NotYetSupported(not_yet.to_string()));
    }
    if is_control(header.opcode) {
        return Ok(check_control(header)?);
    }
    // A continuation with nothing to continue, or a new message before the
    // last one ended (§5.4).
    assembler.check(header)?;
    // The limit is on the whole message, not each frame: ten 15 MiB
    // fragments must not slip past a 16 MiB limit.
    let size = assembler.buffered_len() + header.payload_len;
    if size > limit {
        return Err(Violation::MessageTooBig { size, limit }.into());
    }
    Ok(())
}

/// Control frames (close, ping, pong) are the opcodes with the top bit of
/// the four set (§5.5); they may come between a message's fragments.
fn is_control(opcode: Opcode) -> bool {
    // lesson: an opcode is a control opcode when its bit 0b1000 is set
    todo!("an opcode is a control opcode when its bit 0b1000 is set")
    // end of lesson
}

/// The two rules every control frame obeys (§5.5), so that one can always
/// slip in between the fragments of a long message.
fn check_control(header: &FrameHeader) -> Result<(), Violation> {
    // lesson: at most 125 bytes (Violation::ControlTooLong), FIN set (Violation::FragmentedControl)
    todo!("at most 125 bytes (Violation::ControlTooLong), FIN set (Violation::FragmentedControl)")
    // end of lesson
}

/// What a control frame calls for.
enum Heard {
    /// A ping: send this frame back, now, even in the middle of a message.
    Ping {
        answer: Opcode,
        payload: Vec<u8>,
    },
    /// The pong that answers the ping we sent.
    OurPong,
    /// A pong nobody asked for: allowed, and ignored (§5.5.3).
    UnsolicitedPong,
    Nothing,
}

/// A ping is answered with a pong carrying the same payload (§5.5.2); a
/// pong carrying the payload of the ping we sent answers it (§5.5.3).
fn hear(opcode: Opcode, payload: &[u8], ping_sent: &mut Option<Vec<u8>>) -> Heard {
    // lesson: a ping gets a pong with its payload; a pong equal to ping_sent answers ours (clear it)
    todo!("a ping gets a pong with its payload; a pong equal to ping_sent answers ours (clear it)")
    // end of lesson
}

/// Does what a control frame calls for, and tells it: the answer as sent.
fn control_frame(
    writer: &mut Socket,
    opcode: Opcode,
    payload: &[u8],
    assembler: &Assembler,
    ping_sent: &mut Option<Vec<u8>>,
) -> Result<(), Error> {
    let described = control::describe(payload);
    match hear(opcode, payload, ping_sent) {
        Heard::Ping { answer, payload } => {
            narrate::received(format!(
                "Received ping {described}; answering with a pong carrying the same payload"
            ));
            if let Some(message) = assembler.in_progress() {
                narrate::aside(format!(
                    "(it arrived between fragments {} and {} of a {} message)",
                    message.frames,
                    message.frames + 1,
                    message.opcode
                ));
            }
            frame::write(writer, true, answer, &payload)?;
            narrate::sent(format!("Sent {answer} {}", control::describe(&payload)));
        }
        Heard::OurPong => narrate::received(format!(
            "Received pong {described}: the client answered our ping"
        )),
        Heard::UnsolicitedPong => narrate::aside(format!(
            "Received an unsolicited pong {described}; ignoring it (§5.5.3 allows them)"
        )),
        Heard::Nothing => {}
    }
    Ok(())
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
