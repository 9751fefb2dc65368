//! The echo server's conversation: every chapter from 5 on.
//!
//! After the handshake the server reads frames until the client leaves,
//! and sends each message back with the same type. Each chapter from 5 to 9
//! switches on one more part of RFC 6455 in [`Features`]; what is switched
//! off is refused with a red line, exactly as that chapter would:
//!
//! | chapter | feature | where it lives |
//! |---|---|---|
//! | 5 | lengths of 126+ bytes, a size limit | [`crate::protocol::frame::read_header`], [`Features::max_message_size`] |
//! | 6 | binary messages | [`crate::narrate::hex_preview`] |
//! | 7 | fragmented messages | [`crate::protocol::message::Assembler`] |
//! | 8 | ping and pong | [`crate::protocol::control`] |
//! | 9 | the closing handshake, close codes | [`crate::protocol::close`], [`crate::protocol::violation`] |
//! | 10 | UTF-8 checked as it arrives, idle connections pinged and dropped | [`crate::protocol::utf8`], [`Features::idle_timeout`] |
//!
//! The story is told frame by frame at [`narrate::Level::Frames`] (chapters
//! 5–9), and in one line per message at [`narrate::Level::Messages`]
//! (chapter 10). Lines nobody will see are not even formatted.

use crate::command_line::Args;
use crate::narrate::{self, Level};
use crate::protocol::close::{self, CloseCode};
use crate::protocol::control;
use crate::protocol::frame::{self, FrameError, FrameHeader, LengthField, Opcode};
use crate::protocol::message::{Assembler, Message};
use crate::protocol::utf8::{self, Utf8Stream};
use crate::protocol::violation::Violation;
use crate::server::error::Error;
use crate::server::listener::{self, Connection};
use crate::server::opening::{self, Opening};
use std::io::Read;
use std::time::Duration;

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
    /// Send a ping right after the handshake, to show a pong coming back.
    pub ping_on_connect: bool,
    /// Answer close frames, and fail every protocol error with its close
    /// code. Without it only 1007 and 1009 are sent, the two failures a
    /// chapter can meet before it knows about closing.
    pub closing_handshake: bool,
    /// Check text as it arrives rather than once the message is complete.
    pub utf8_fail_fast: bool,
    /// After this long without a frame, ping; after as long again, give up.
    /// `None`: wait for ever.
    pub idle_timeout: Option<Duration>,
}

impl Features {
    /// Chapter 5: text messages of any length, one frame each.
    pub const LONG_PAYLOADS: Features = Features {
        max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        binary: false,
        fragments: false,
        ping_pong: false,
        ping_on_connect: false,
        closing_handshake: false,
        utf8_fail_fast: false,
        idle_timeout: None,
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
        ping_on_connect: true,
        ..Features::FRAGMENTS
    };
    /// Chapter 9: and the closing handshake.
    pub const CLOSING_HANDSHAKE: Features = Features {
        closing_handshake: true,
        ..Features::PING_PONG
    };
    /// Chapter 10: all of it, checking text as it arrives and pinging idle
    /// peers (rather than every peer on arrival).
    pub const COMPLETE: Features = Features {
        ping_on_connect: false,
        utf8_fail_fast: true,
        idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        ..Features::CLOSING_HANDSHAKE
    };
}

/// How long a connection may stay silent before the server pings it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A chapter's `main`: takes `--port`, `--connections` and
/// `--max-message-size` from the command line, then serves `features`.
pub fn run(chapter: &'static str, features: Features) -> std::process::ExitCode {
    let parsed = Args::from_env().and_then(|mut args| {
        let options = listener::Options::take_from(&mut args)?;
        let max_message_size = args
            .value("--max-message-size", "BYTES")?
            .unwrap_or(features.max_message_size);
        args.finish()?;
        Ok((options, max_message_size))
    });
    let (options, max_message_size) = match parsed {
        Ok(parsed) => parsed,
        Err(stop) => return stop.report(),
    };
    let features = Features {
        max_message_size,
        ..features
    };
    listener::exit_code(listener::serve(chapter, &options, move |connection| {
        serve(connection, &features)
    }))
}

/// Performs the handshake, then echoes messages until the client leaves.
/// A protocol error fails the connection with its close code (§7.1.7).
pub fn serve(connection: &mut Connection, features: &Features) -> Result<(), Error> {
    if opening::perform(connection)? == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Echoing every message until the client leaves.");
    start(connection, features)?;
    let Connection { reader, writer, .. } = connection;
    converse(reader, writer, features, &mut echo)
}

/// Sends a complete message back as it came.
fn echo(message: Message, outbox: &mut dyn Outbox) -> Result<(), Error> {
    tell_message(&message);
    outbox.send(message.opcode, &message.payload)
}

/// Sets the timeouts for the conversation that follows a handshake.
pub fn start(connection: &mut Connection, features: &Features) -> Result<(), Error> {
    narrate::summary("connected: handshake completed");
    // The handshake had a deadline; a conversation may idle for as long as
    // the chapter allows (chapters 5–9: for ever).
    connection.set_read_timeout(features.idle_timeout)?;
    // A peer that stops reading blocks our writes: give up on it as soon as
    // on a silent one (chapters 5–9: after the handshake's 10 s).
    let write_timeout = features.idle_timeout.unwrap_or(listener::HANDSHAKE_TIMEOUT);
    connection.writer.set_write_timeout(Some(write_timeout))?;
    Ok(())
}

/// Where a conversation's outgoing frames go: straight onto the socket for
/// the echo server, through a member's queue for the chat (chapter 11).
pub trait Outbox {
    /// Sends one complete, unfragmented frame.
    fn send(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Error>;
}

impl Outbox for std::net::TcpStream {
    fn send(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Error> {
        frame::write(self, true, opcode, payload)?;
        Ok(())
    }
}

/// Reads frames from `reader` until the conversation ends, handling control
/// frames itself and handing each complete message to `on_message`.
/// A protocol error fails the connection with its close code (§7.1.7).
pub fn converse(
    reader: &mut dyn Read,
    outbox: &mut dyn Outbox,
    features: &Features,
    on_message: &mut dyn FnMut(Message, &mut dyn Outbox) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut conversation = Conversation {
        features,
        reader,
        outbox,
        on_message,
        assembler: Assembler::new(),
        text: Utf8Stream::new(),
        ping_sent: None,
    };
    match conversation.run() {
        Ok(()) => Ok(()),
        Err(error) => conversation.fail(error),
    }
}

struct Conversation<'a> {
    features: &'a Features,
    reader: &'a mut dyn Read,
    outbox: &'a mut dyn Outbox,
    on_message: &'a mut dyn FnMut(Message, &mut dyn Outbox) -> Result<(), Error>,
    assembler: Assembler,
    /// The UTF-8 state of the text message in progress (chapter 10).
    text: Utf8Stream,
    /// The payload of the ping we sent and whose pong we await.
    ping_sent: Option<Vec<u8>>,
}

/// What to do after a frame.
enum Next {
    KeepReading,
    Stop,
}

impl Conversation<'_> {
    fn run(&mut self) -> Result<(), Error> {
        if self.features.ping_on_connect {
            narrate::sent(format!(
                "Sending a ping of our own: {}",
                narrate::text_preview(control::OUR_PING_TEXT)
            ));
            self.ping(control::OUR_PING)?;
        }
        loop {
            let header = match frame::read_header(&mut self.reader) {
                Err(FrameError::Closed) => {
                    self.peer_hung_up();
                    return Ok(());
                }
                Err(FrameError::TimedOut) => {
                    if self.idle()? {
                        continue;
                    }
                    return Ok(());
                }
                header => header?,
            };
            self.check(&header)?;
            let next = if header.opcode.is_control() {
                self.control_frame(&header)?
            } else {
                self.data_frame(&header)?
            };
            if let Next::Stop = next {
                return Ok(());
            }
        }
    }

    /// Sends the close frame an error calls for, if this chapter sends one.
    fn fail(&mut self, error: Error) -> Result<(), Error> {
        let features = self.features;
        let code = error.close_code().filter(|code| {
            features.closing_handshake
                || *code == CloseCode::INVALID_PAYLOAD
                || *code == CloseCode::MESSAGE_TOO_BIG
        });
        let Some(code) = code else {
            return Err(error);
        };
        self.fail_with(code, &error.to_string())
    }

    fn fail_with(&mut self, code: CloseCode, why: &str) -> Result<(), Error> {
        narrate::problem(format!("Failing the connection: {why}"));
        narrate::sent(format!("Sending close frame: {code}"));
        narrate::summary(format!("→ close {code}"));
        self.outbox.send(Opcode::Close, &close::payload(code, why))
    }

    fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.outbox.send(Opcode::Ping, payload)?;
        self.ping_sent = Some(payload.to_vec());
        Ok(())
    }

    /// Nothing arrived for the idle timeout: ping once, then give up.
    /// Returns whether to keep reading.
    fn idle(&mut self) -> Result<bool, Error> {
        if self.ping_sent.as_deref() == Some(control::IDLE_PING) {
            self.fail_with(
                CloseCode::GOING_AWAY,
                "no answer to our ping; dropping an idle connection",
            )?;
            return Ok(false);
        }
        narrate::sent("The connection is idle: sending a ping");
        narrate::summary("idle: → ping");
        self.ping(control::IDLE_PING)?;
        Ok(true)
    }

    fn peer_hung_up(&self) {
        if self.features.closing_handshake {
            narrate::aside(format!(
                "The client closed TCP without a closing handshake: {}.",
                CloseCode::ABNORMAL
            ));
            narrate::summary(format!(
                "← hung up without a close frame ({})",
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

    /// Whether this data frame belongs to a text message.
    fn is_text(&self, header: &FrameHeader) -> bool {
        match self.assembler.in_progress() {
            Some(message) => message.opcode == Opcode::Text,
            None => header.opcode == Opcode::Text,
        }
    }

    fn data_frame(&mut self, header: &FrameHeader) -> Result<Next, Error> {
        if narrate::tells(Level::Frames) {
            narrate::received(format!(
                "Received {} frame: FIN {}, {} bytes ({})",
                header.opcode,
                u8::from(header.fin),
                header.payload_len,
                describe_length(header)
            ));
        }
        let check_as_it_arrives = self.features.utf8_fail_fast && self.is_text(header);
        let (reader, text) = (&mut self.reader, &mut self.text);
        let complete = self
            .assembler
            .push_with(header, |buffer| -> Result<(), Error> {
                if check_as_it_arrives {
                    utf8::read_checked_payload_into(reader, header, text, buffer)
                } else {
                    Ok(frame::read_payload_into(reader, header, buffer)?)
                }
            })?;
        let Some(message) = complete else {
            return Ok(Next::KeepReading);
        };
        if message.opcode == Opcode::Text {
            if check_as_it_arrives {
                self.text.finish()?;
            } else if std::str::from_utf8(&message.payload).is_err() {
                return Err(Violation::InvalidUtf8.into());
            }
        }
        (self.on_message)(message, &mut *self.outbox)?;
        Ok(Next::KeepReading)
    }

    fn control_frame(&mut self, header: &FrameHeader) -> Result<Next, Error> {
        let payload = frame::read_payload(&mut self.reader, header)?;
        match header.opcode {
            Opcode::Ping => {
                self.tell_ping(&payload);
                self.outbox.send(Opcode::Pong, &payload)?;
                narrate::sent(format!("Sent pong {}", control::describe(&payload)));
            }
            Opcode::Pong if self.ping_sent.as_deref() == Some(payload.as_slice()) => {
                self.ping_sent = None;
                narrate::received(format!(
                    "Received pong {}: the client answered our ping",
                    control::describe(&payload)
                ));
                narrate::summary(format!("← pong {}", control::describe(&payload)));
            }
            Opcode::Pong => narrate::aside(format!(
                "Received an unsolicited pong {}; ignoring it (§5.5.3 allows them)",
                control::describe(&payload)
            )),
            Opcode::Close => {
                answer_close(&mut *self.outbox, &payload)?;
                return Ok(Next::Stop);
            }
            _ => {}
        }
        Ok(Next::KeepReading)
    }

    fn tell_ping(&self, payload: &[u8]) {
        if narrate::tells(Level::Frames) {
            narrate::received(format!(
                "Received ping {}; answering with a pong carrying the same payload",
                control::describe(payload)
            ));
            if let Some(message) = self.assembler.in_progress() {
                narrate::aside(format!(
                    "(it arrived between fragments {} and {} of a {} message)",
                    message.frames,
                    message.frames + 1,
                    message.opcode
                ));
            }
        }
        narrate::summary(format!("← ping {} → pong", control::describe(payload)));
    }
}

/// The story of a complete message and its echo.
fn tell_message(message: &Message) {
    if narrate::tells(Level::Frames) {
        if message.frames > 1 {
            narrate::received(format!(
                "Assembled a {} message from {} frames: {} bytes",
                message.opcode,
                message.frames,
                message.payload.len()
            ));
        }
        narrate::plain(format!("  {}", preview(message)));
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
    } else if narrate::tells(Level::Messages) {
        let frames = if message.frames > 1 {
            format!(" in {} frames", message.frames)
        } else {
            String::new()
        };
        narrate::summary(format!(
            "← {} {} bytes{frames} {} → echoed",
            message.opcode,
            message.payload.len(),
            preview(message)
        ));
    }
}

/// §5.5.1: answer a close frame with a close frame, then hang up.
fn answer_close(outbox: &mut dyn Outbox, payload: &[u8]) -> Result<(), Error> {
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
    outbox.send(Opcode::Close, &reply)?;
    match received.code {
        Some(code) => {
            narrate::sent(format!("Answering with close frame: code {code}"));
            narrate::summary(format!(
                "← close {code} {:?} → close, hang up",
                received.reason
            ));
        }
        None => {
            narrate::sent("Answering with an empty close frame");
            narrate::summary("← close (no code) → close, hang up");
        }
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
