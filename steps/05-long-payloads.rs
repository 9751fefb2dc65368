//! Chapter 5 — Long payloads (the article's extra credit: "Long payload support").
//!
//! Chapter 5 is chapter 4 plus 16- and 64-bit lengths (`diff
//! steps/04-reply.rs steps/05-long-payloads.rs`).
//!
//! Chapter 3 refused anything over 125 bytes. The 7-bit length field has
//! two special values: 126 means "the real length follows as a 16-bit
//! number" (up to 65,535 bytes), 127 means "a 64-bit number follows". The
//! log shows which form each frame used, with the extension's bytes, and
//! the header our echo sends back in the same forms.
//!
//! This chapter reads each header itself (`read_header`: chapter 3's bit
//! masks, then `payload_length` for the two longer forms) and writes the
//! echo's header itself (`encode_header`, which picks the shortest form
//! for any length). From chapter 6 on, the library's `frame::read_header`
//! and `frame::write` do the same, RFC 6455 §5.2 to the letter.
//!
//! **What graduates.** Chapter 3's unmasking now lives in the library:
//! `frame::read_payload` removes the mask from each piece as it arrives
//! (`mask::apply_from`, the same XOR a word at a time).
//!
//! From this chapter on, the connection stays open: `converse` reads frame
//! after frame and echoes each message back with the same type, until the
//! client leaves. Text must be valid UTF-8, or the server closes with code
//! 1007.
//!
//! Watch for two rules the RFC adds and the article does not mention. A
//! length must be written in the shortest form (5 written with the 16-bit
//! form is a protocol error), and a 64-bit length must have its top bit
//! clear. And a server needs a limit: a header can announce 2^63 − 1
//! bytes in ten bytes. Over `--max-message-size` (16 MiB by default) the server
//! sends close 1009 *before* reading the payload, and never allocates what
//! a header merely claims (`frame::read_payload` grows its buffer as bytes
//! actually arrive).
//!
//! This chapter still takes one frame per message, and text only: each
//! thing a later chapter adds is refused in `check` with one line naming
//! that chapter.
//!
//! Try it: `cargo run --bin 05-long-payloads`, then send one message of
//! each length form: `cargo run --bin client -- --message "$(head -c 65536 /dev/zero | tr '\0' a)"`
//! (or 125, 126, 65535 bytes), or paste a long text into the page's box.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/05-long-payloads.snap`):
//!
//! ```text
//! Received text frame: FIN 1, 125 bytes (7-bit length)
//! Received text frame: FIN 1, 126 bytes (length 126, then 16-bit [0, 126])
//! Received text frame: FIN 1, 65536 bytes (length 127, then 64-bit [0, 0, 0, 0, 0, 1, 0, 0])
//! Echoing text frame: 65536 bytes, header [129, 127, 0, 0, 0, 0, 0, 1, 0, 0]
//! ```

use std::io::{Read, Write};
use std::process::ExitCode;

use websocket_from_scratch::Error;
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::frame::{self, FrameError, FrameHeader, LengthField, Opcode};
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
        "05-long-payloads",
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
        let header = match read_header(reader) {
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
        if std::str::from_utf8(&payload).is_err() {
            return Err(Violation::InvalidUtf8.into());
        }
        let echo_header = encode_header(header.opcode, payload.len() as u64);
        tell_echo(header.opcode, &payload, &echo_header);
        let mut echo = echo_header;
        echo.extend_from_slice(&payload);
        writer.write_all(&echo)?;
    }
}

/// Reads a frame's header: the first two bytes as in chapter 3, then the
/// bytes they announce (an extended length, a masking key) in one read.
fn read_header(reader: &mut impl Read) -> Result<FrameHeader, FrameError> {
    let mut bytes = [0; 14];
    frame::read_frame_bytes(reader, &mut bytes[..2], true)?;
    let [first, second] = [bytes[0], bytes[1]];
    let mask_len = if second & 0b1000_0000 != 0 { 4 } else { 0 };
    let total = 2 + extended_length_bytes(second) + mask_len;
    frame::read_frame_bytes(reader, &mut bytes[2..total], false).map_err(|error| error.after(2))?;
    let (payload_len, rest) = payload_length(second, &bytes[2..total])?;
    let mask = match rest {
        [a, b, c, d] => Some([*a, *b, *c, *d]),
        _ => None,
    };
    Ok(FrameHeader {
        fin: first & 0b1000_0000 != 0,
        rsv: (first & 0b0111_0000) >> 4,
        opcode: Opcode::from_bits(first & 0b0000_1111),
        mask,
        payload_len,
    })
}

/// How many bytes of extended length follow the second byte.
fn extended_length_bytes(second_byte: u8) -> usize {
    // lesson: a 7-bit length of 126 is followed by 2 more length bytes, 127 by 8, any other by 0
    match second_byte & 0b0111_1111 {
        126 => 2,
        127 => 8,
        _ => 0,
    }
    // end of lesson
}

/// The payload length, from the 7-bit field and the extended length bytes
/// at the start of `rest` (big-endian); returns what follows them.
fn payload_length(second_byte: u8, rest: &[u8]) -> Result<(u64, &[u8]), FrameError> {
    // lesson: 126: u16 big-endian, at least 126; 127: u64, top bit clear, over 65535
    match (second_byte & 0b0111_1111, rest) {
        (126, [high, low, rest @ ..]) => {
            let length = u64::from(u16::from_be_bytes([*high, *low]));
            // A length that fits in 7 bits must be written in 7 bits (§5.2).
            if length < 126 {
                let field = LengthField::Extended16;
                return Err(FrameError::NonMinimalLength { length, field });
            }
            Ok((length, rest))
        }
        (127, rest) if rest.len() >= 8 => {
            let (eight, rest) = rest.split_at(8);
            let mut bytes = [0; 8];
            bytes.copy_from_slice(eight);
            let length = u64::from_be_bytes(bytes);
            // §5.2: "the most significant bit MUST be 0".
            if length >> 63 != 0 {
                return Err(FrameError::LengthTopBitSet);
            }
            if length <= 0xFFFF {
                let field = LengthField::Extended64;
                return Err(FrameError::NonMinimalLength { length, field });
            }
            Ok((length, rest))
        }
        (short, rest) => Ok((u64::from(short), rest)),
    }
    // end of lesson
}

/// The header of a whole, unmasked frame from the server, with its length
/// in the shortest form (§5.2).
fn encode_header(opcode: Opcode, length: u64) -> Vec<u8> {
    // lesson: FIN and the opcode, then the shortest form: 7-bit, 126 and 16 bits, 127 and 64 bits
    let mut bytes = vec![0b1000_0000 | opcode.bits()];
    // The MASK bit stays clear: a server never masks.
    if length <= 125 {
        bytes.push(length as u8);
    } else if length <= 0xFFFF {
        bytes.push(126);
        bytes.extend_from_slice(&(length as u16).to_be_bytes());
    } else {
        bytes.push(127);
        bytes.extend_from_slice(&length.to_be_bytes());
    }
    bytes
    // end of lesson
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
    let not_yet = |what: &str| Err(Error::NotYetSupported(what.to_string()));
    match header.opcode {
        Opcode::Binary => return not_yet("a binary frame (chapter 6)"),
        Opcode::Continuation | Opcode::Text if !header.fin => {
            return not_yet("a message split over several frames (chapter 7)");
        }
        Opcode::Continuation => return not_yet("a continuation frame (chapter 7)"),
        Opcode::Ping | Opcode::Pong => return not_yet("ping and pong frames (chapter 8)"),
        Opcode::Close => return not_yet("a close frame; the closing handshake is chapter 9"),
        _ => {}
    }
    if header.payload_len > limit {
        let size = header.payload_len;
        return Err(Violation::MessageTooBig { size, limit }.into());
    }
    Ok(())
}

/// The story of a message and its echo, with the header actually sent.
fn tell_echo(opcode: Opcode, payload: &[u8], echo_header: &[u8]) {
    let preview = narrate::text_preview(&String::from_utf8_lossy(payload));
    narrate::plain(format!("  {preview}"));
    narrate::sent(format!(
        "Echoing {opcode} frame: {} bytes, header {echo_header:?}",
        payload.len(),
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
