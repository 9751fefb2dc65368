//! Chapter 9 — The closing handshake (the article's extra credit: "Closing handshake").
//!
//! Chapter 9 is chapter 8 plus the closing handshake (`diff
//! steps/08-ping-pong.rs steps/09-closing-handshake.rs`).
//!
//! Until now the server just hung up. A WebSocket ends politely: one side
//! sends a close frame (a two-byte status code and an optional UTF-8
//! reason), the other answers with a close frame, and then the server
//! closes the TCP connection (RFC 6455 §5.5.1, §7.1.1 — the server closes
//! first, so the client is not left holding the socket in TIME_WAIT).
//! `answer_close` does it: `parse_close` reads the payload, `close_answer`
//! makes the answer's; the log names each code's meaning
//! (`close::CloseCode::meaning`).
//!
//! Watch for close frames that are themselves wrong (`parse_close`): a
//! one-byte payload, a code that may not be sent (`may_be_sent`: 0–999,
//! 1004–1006, 1015, the unassigned 1016–2999 and anything over 4999 may
//! not) → 1002; a reason that is not UTF-8 → 1007. An empty close frame
//! has no code, and the answer has none either: 1005 ("no status code")
//! only ever describes such a frame, it is never sent.
//!
//! And from this chapter on, every protocol error from the earlier
//! chapters is answered properly: `fail` sends a close frame with the
//! code §7.4.1 assigns (`violation::Violation::close_code`) before hanging
//! up, instead of just dropping the connection.
//!
//! **What graduates.** Chapter 8's control-frame rules and test now live
//! in the library, `control::check` and `Opcode::is_control`; answering a
//! ping (`hear`) is chapter 8's code, unchanged.
//!
//! Try it: `cargo run --bin 09-closing-handshake`, then
//! `cargo run --bin client -- --close 1000 --reason bye`, or
//! `cargo run --bin client -- --close 999`, or from the browser's console on
//! the test page: `socket.close(4000, "bye")`, and watch the code come back.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/09-closing-handshake.snap`):
//!
//! ```text
//! Received close frame: code 1000 (normal closure), reason "bye"
//! Answering with close frame: code 1000 (normal closure)
//! Failing the connection: close code 999 (not used) may not be sent in a close frame
//! Sending close frame: 1002 (protocol error)
//! ```

// Your chapter 9. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 9`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::io::Read;
use std::process::ExitCode;

use websocket_from_scratch::Error;
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::close::{self, CloseCode, CloseFrame, CloseFrameError};
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
        "09-closing-handshake",
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
                narrate::aside(format!(
                    "The client closed TCP without a closing handshake: {}.",
                    CloseCode::ABNORMAL
                ));
                return Ok(());
            }
            header => header?,
        };
        check(&header, &assembler, limit)?;
        if header.opcode == Opcode::Close {
            let payload = frame::read_payload(reader, &header)?;
            return answer_close(writer, &payload);
        }
        if header.opcode.is_control() {
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

/// What any frame must satisfy, decided from the header alone, before its
/// payload is read. Nothing is left for a later chapter.
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
    if header.opcode.is_control() {
        // At most 125 bytes and never fragmented, so that one can always
        // slip in between the fragments of a long message (§5.5).
        return Ok(control::check(header)?);
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
    match opcode {
        Opcode::Ping => Heard::Ping {
            answer: Opcode::Pong,
            payload: payload.to_vec(),
        },
        Opcode::Pong if ping_sent.as_deref() == Some(payload) => {
            *ping_sent = None;
            Heard::OurPong
        }
        Opcode::Pong => Heard::UnsolicitedPong,
        _ => Heard::Nothing,
    }
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

/// §5.5.1: answers a close frame with a close frame echoing its code, then
/// hangs up. The server closes TCP first, so that the server, not the
/// client, waits out TIME_WAIT (§7.1.1).
fn answer_close(writer: &mut Socket, payload: &[u8]) -> Result<(), Error> {
    let received = parse_close(payload)?;
    match received.code {
        Some(code) => narrate::received(format!(
            "Received close frame: code {code}, reason {:?}",
            received.reason
        )),
        None => narrate::received("Received close frame with no status code"),
    }
    let answer = close_answer(&received);
    frame::write(writer, true, Opcode::Close, &answer)?;
    match answer.as_slice() {
        [] => narrate::sent("Answering with an empty close frame"),
        [high, low, ..] => narrate::sent(format!(
            "Answering with close frame: code {}",
            CloseCode(u16::from_be_bytes([*high, *low]))
        )),
        [_] => narrate::sent(format!(
            "Answering with a close frame of one byte: {answer:?}"
        )),
    }
    narrate::event("Closing the TCP connection; the server closes first (RFC 6455 §7.1.1).");
    Ok(())
}

/// A close frame's payload (§5.5.1): empty, or a two-byte code (big-endian)
/// followed by a reason in UTF-8.
fn parse_close(payload: &[u8]) -> Result<CloseFrame, Violation> {
    // lesson: empty: no code; one byte: refused; else a u16 code (may_be_sent?) and a UTF-8 reason
    todo!("empty: no code; one byte: refused; else a u16 code (may_be_sent?) and a UTF-8 reason")
    // end of lesson
}

/// The codes a close frame may carry (§7.4.1, §7.4.2): the assigned ones
/// meant for the wire, and those for libraries (3000–3999) and
/// applications (4000–4999). 1005, 1006 and 1015 only describe a closing.
fn may_be_sent(code: CloseCode) -> bool {
    // lesson: 1000-1003, 1007-1014 and 3000-4999 may be sent; 1004-1006, 1015 and the rest may not
    todo!("1000-1003, 1007-1014 and 3000-4999 may be sent; 1004-1006, 1015 and the rest may not")
    // end of lesson
}

/// The payload of the answer to a close frame: its code, if it had one.
fn close_answer(received: &CloseFrame) -> Vec<u8> {
    // lesson: echo the code as two big-endian bytes (a reason is optional); no code: empty
    todo!("echo the code as two big-endian bytes (a reason is optional); no code: empty")
    // end of lesson
}

/// Fails the connection after an error (§7.1.7): a close frame with the
/// code §7.4.1 assigns to that error, then the end of the conversation. An
/// error with no code (the peer vanished, say) just ends it.
fn fail(writer: &mut Socket, error: Error) -> Result<(), Error> {
    let Some(code) = error.close_code() else {
        return Err(error);
    };
    narrate::problem(format!("Failing the connection: {error}"));
    narrate::sent(format!("Sending close frame: {code}"));
    close::send(writer, code, &error.to_string())?;
    Ok(())
}
