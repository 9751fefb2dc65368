//! The echo server's conversation: every chapter from 5 on.
//!
//! After the handshake the server reads frames until the client leaves,
//! and sends each message back with the same type. Each chapter from 5 to 9
//! switches on one more part of RFC 6455 in [`Features`]; what is switched
//! off is refused with a red line, exactly as that chapter would:
//!
//! | chapter | feature | where it lives |
//! |---|---|---|
//! | 5 | lengths of 126+ bytes, a size limit | [`crate::frame::read_header`], [`Features::max_message_size`] |
//! | 6 | binary messages | [`crate::narrate::hex_preview`] |
//! | 7 | fragmented messages | [`crate::message::Assembler`] |
//! | 8 | ping and pong | [`crate::control`] |
//! | 9 | the closing handshake, close codes | [`crate::close`], [`crate::violation`] |

use crate::args::Args;
use crate::close::{self, CloseCode};
use crate::control;
use crate::error::Error;
use crate::frame::{self, FrameError, FrameHeader, LengthField, Opcode};
use crate::handshake::{self, Opening};
use crate::listener::{self, Connection};
use crate::message::{Assembler, Message};
use crate::narrate;
use crate::violation::Violation;

/// 16 MiB: big enough for Autobahn's largest message, small enough that
/// a few hostile clients cannot exhaust memory.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;

/// Which parts of the protocol a chapter handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    /// Largest message accepted, in bytes; beyond it, close 1009.
    pub max_message_size: u64,
    pub binary: bool,
    pub fragments: bool,
    pub ping_pong: bool,
    /// Answer close frames, and fail every protocol error with its close
    /// code. Without it only 1007 and 1009 are sent, the two failures a
    /// chapter can meet before it knows about closing.
    pub closing_handshake: bool,
}

impl Features {
    /// Chapter 5: text messages of any length, one frame each.
    pub const LONG_PAYLOADS: Features = Features {
        max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        binary: false,
        fragments: false,
        ping_pong: false,
        closing_handshake: false,
    };
    /// Chapter 6: and binary messages.
    pub const BINARY: Features = Features {
        binary: true,
        ..Features::LONG_PAYLOADS
    };
    /// Chapter 7: and messages in several frames.
    pub const FRAGMENTS: Features = Features {
        fragments: true,
        ..Features::BINARY
    };
    /// Chapter 8: and ping/pong.
    pub const PING_PONG: Features = Features {
        ping_pong: true,
        ..Features::FRAGMENTS
    };
    /// Chapter 9: and the closing handshake.
    pub const CLOSING_HANDSHAKE: Features = Features {
        closing_handshake: true,
        ..Features::PING_PONG
    };
}

/// A chapter's `main`: takes `--port`, `--connections` and
/// `--max-message-size` from the command line, then serves `features`.
pub fn run(chapter: &'static str, features: Features) {
    let mut args = Args::from_env();
    let options = listener::Options::take_from(&mut args);
    let max_message_size = args
        .value("--max-message-size", "BYTES")
        .unwrap_or(features.max_message_size);
    args.finish();
    let features = Features {
        max_message_size,
        ..features
    };
    listener::serve(chapter, &options, move |connection| {
        serve(connection, &features)
    });
}

/// Performs the handshake, then echoes messages until the client leaves.
/// A protocol error fails the connection with its close code (§7.1.7).
pub fn serve(connection: &mut Connection, features: &Features) -> Result<(), Error> {
    if handshake::perform(connection)? == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Echoing every message until the client leaves.");
    // The handshake had a deadline; a conversation may idle as long as it likes.
    connection.set_read_timeout(None)?;
    let mut conversation = Conversation {
        features,
        assembler: Assembler::new(),
        ping_sent: None,
    };
    match conversation.run(connection) {
        Ok(()) => Ok(()),
        Err(error) => fail(connection, features, error),
    }
}

/// Sends the close frame an error calls for, if this chapter sends one.
fn fail(connection: &mut Connection, features: &Features, error: Error) -> Result<(), Error> {
    let code = error.close_code().filter(|code| {
        features.closing_handshake
            || *code == CloseCode::INVALID_PAYLOAD
            || *code == CloseCode::MESSAGE_TOO_BIG
    });
    let Some(code) = code else {
        return Err(error);
    };
    narrate::problem(format!("Failing the connection: {error}"));
    narrate::sent(format!("Sending close frame: {code}"));
    close::send(&mut connection.writer, code, &error.to_string())?;
    Ok(())
}

struct Conversation<'a> {
    features: &'a Features,
    assembler: Assembler,
    /// The payload of the ping we sent and whose pong we await.
    ping_sent: Option<Vec<u8>>,
}

/// What to do after a frame.
enum Next {
    KeepReading,
    Stop,
}

impl Conversation<'_> {
    fn run(&mut self, connection: &mut Connection) -> Result<(), Error> {
        if self.features.ping_pong {
            let payload = control::OUR_PING.to_vec();
            narrate::sent(format!(
                "Sending a ping of our own: {}",
                narrate::text_preview(control::OUR_PING_TEXT)
            ));
            frame::write(&mut connection.writer, true, Opcode::Ping, &payload)?;
            self.ping_sent = Some(payload);
        }
        loop {
            let header = match frame::read_header(&mut connection.reader) {
                Err(FrameError::Closed) => {
                    self.peer_hung_up();
                    return Ok(());
                }
                header => header?,
            };
            self.check(&header)?;
            let next = if header.opcode.is_control() {
                self.control_frame(connection, &header)?
            } else {
                self.data_frame(connection, &header)?
            };
            if let Next::Stop = next {
                return Ok(());
            }
        }
    }

    fn peer_hung_up(&self) {
        if self.features.closing_handshake {
            narrate::aside(format!(
                "The client closed TCP without a closing handshake: {}.",
                CloseCode::ABNORMAL
            ));
        } else {
            narrate::event("The client closed the connection.");
        }
    }

    /// What any frame must satisfy, and what this chapter supports.
    fn check(&self, header: &FrameHeader) -> Result<(), Error> {
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
            Opcode::Binary if !self.features.binary => {
                return not_yet("a binary frame (chapter 6)");
            }
            Opcode::Continuation | Opcode::Text | Opcode::Binary
                if !header.fin && !self.features.fragments =>
            {
                return not_yet("a message split over several frames (chapter 7)");
            }
            Opcode::Continuation if !self.features.fragments => {
                return not_yet("a continuation frame (chapter 7)");
            }
            Opcode::Ping | Opcode::Pong if !self.features.ping_pong => {
                return not_yet("ping and pong frames (chapter 8)");
            }
            Opcode::Close if !self.features.closing_handshake => {
                return not_yet("a close frame; the closing handshake is chapter 9");
            }
            _ => {}
        }
        if header.opcode.is_control() {
            control::check(header)?;
        } else {
            self.assembler.check(header)?;
            let size = self.assembler.buffered_len() + header.payload_len;
            let limit = self.features.max_message_size;
            if size > limit {
                return Err(Violation::MessageTooBig { size, limit }.into());
            }
        }
        Ok(())
    }

    fn data_frame(
        &mut self,
        connection: &mut Connection,
        header: &FrameHeader,
    ) -> Result<Next, Error> {
        narrate::received(format!(
            "Received {} frame: FIN {}, {} bytes ({})",
            header.opcode,
            u8::from(header.fin),
            header.payload_len,
            describe_length(header)
        ));
        let payload = frame::read_payload(&mut connection.reader, header)?;
        let Some(message) = self.assembler.push(header, payload)? else {
            return Ok(Next::KeepReading);
        };
        if message.opcode == Opcode::Text && std::str::from_utf8(&message.payload).is_err() {
            return Err(Violation::InvalidUtf8.into());
        }
        if message.frames > 1 {
            narrate::received(format!(
                "Assembled a {} message from {} frames: {} bytes",
                message.opcode,
                message.frames,
                message.payload.len()
            ));
        }
        narrate::plain(format!("  {}", preview(&message)));
        let echo_header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: message.opcode,
            mask: None,
            payload_len: message.payload.len() as u64,
        };
        narrate::sent(format!(
            "Echoing {} frame: {} bytes, header {:?}",
            message.opcode,
            message.payload.len(),
            frame::encode_header(&echo_header)
        ));
        frame::write(
            &mut connection.writer,
            true,
            message.opcode,
            &message.payload,
        )?;
        Ok(Next::KeepReading)
    }

    fn control_frame(
        &mut self,
        connection: &mut Connection,
        header: &FrameHeader,
    ) -> Result<Next, Error> {
        let payload = frame::read_payload(&mut connection.reader, header)?;
        match header.opcode {
            Opcode::Ping => {
                narrate::received(format!(
                    "Received ping {}; answering with a pong carrying the same payload",
                    control::describe(&payload)
                ));
                if let Some(message) = self.assembler.in_progress() {
                    narrate::aside(format!(
                        "(it arrived between fragments {} and {} of a {} message)",
                        message.frames,
                        message.frames + 1,
                        message.opcode
                    ));
                }
                frame::write(&mut connection.writer, true, Opcode::Pong, &payload)?;
                narrate::sent(format!("Sent pong {}", control::describe(&payload)));
            }
            Opcode::Pong if self.ping_sent.as_deref() == Some(payload.as_slice()) => {
                self.ping_sent = None;
                narrate::received(format!(
                    "Received pong {}: the client answered our ping",
                    control::describe(&payload)
                ));
            }
            Opcode::Pong => narrate::aside(format!(
                "Received an unsolicited pong {}; ignoring it (§5.5.3 allows them)",
                control::describe(&payload)
            )),
            Opcode::Close => {
                answer_close(connection, &payload)?;
                return Ok(Next::Stop);
            }
            _ => {}
        }
        Ok(Next::KeepReading)
    }
}

/// §5.5.1: answer a close frame with a close frame, then hang up.
fn answer_close(connection: &mut Connection, payload: &[u8]) -> Result<(), Error> {
    let received = close::parse(payload).map_err(Violation::BadClose)?;
    match &received.code {
        Some(code) => narrate::received(format!(
            "Received close frame: code {code}, reason {:?}",
            received.reason
        )),
        None => narrate::received("Received close frame with no status code"),
    }
    let reply = received
        .code
        .map(|code| close::payload(code, ""))
        .unwrap_or_default();
    frame::write(&mut connection.writer, true, Opcode::Close, &reply)?;
    match received.code {
        Some(code) => narrate::sent(format!("Answering with close frame: code {code}")),
        None => narrate::sent("Answering with an empty close frame"),
    }
    narrate::event("Closing the TCP connection; the server closes first (RFC 6455 §7.1.1).");
    Ok(())
}

/// How the header wrote the payload length, with the extension's bytes.
fn describe_length(header: &FrameHeader) -> String {
    let length = header.payload_len;
    match header.length_field() {
        LengthField::Short => "7-bit length".to_string(),
        LengthField::Extended16 => format!(
            "length 126, then 16-bit {:?}",
            (length as u16).to_be_bytes()
        ),
        LengthField::Extended64 => {
            format!("length 127, then 64-bit {:?}", length.to_be_bytes())
        }
    }
}

fn preview(message: &Message) -> String {
    match message.opcode {
        Opcode::Text => narrate::text_preview(&String::from_utf8_lossy(&message.payload)),
        _ => format!("hex: {}", narrate::hex_preview(&message.payload)),
    }
}
