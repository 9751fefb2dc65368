//! Driving a [`Session`] from a thread that blocks on one socket
//! (chapters 10 and 11): RFC 6455 §5–§7 happen in the session; here is only
//! reading, writing, timeouts and telling the story.
//!
//! The loop is the whole of it: read what the peer sent into the session's
//! buffer, hand each event to the narration (and each message to the
//! chapter), send whatever the session queued, and stop once the session
//! says the conversation is over. A read that times out is the session's
//! business too: it decides between an idle ping, giving up, and a stalled
//! frame.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use crate::narrate::{self, Level};
use crate::protocol::close::CloseCode;
use crate::protocol::control;
use crate::protocol::frame::{self, FrameHeader, LengthField, Opcode};
use crate::protocol::http::is_timeout;
use crate::protocol::message::Message;
use crate::protocol::session::{Event, Session};
use crate::server::error::Error;
use crate::server::listener::{self, Connection};

/// 16 MiB: big enough for Autobahn's largest message, small enough that
/// a few hostile clients cannot exhaust memory.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;

/// How long a connection may stay silent before the server pings it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Sets the timeouts for the conversation that follows a handshake.
pub fn start(connection: &mut Connection, idle_timeout: Option<Duration>) -> Result<(), Error> {
    narrate::summary("connected: handshake completed");
    // The handshake had a deadline; a conversation may idle for as long as
    // the chapter allows (`None`: for ever).
    connection.set_read_timeout(idle_timeout)?;
    // A peer that stops reading blocks our writes: give up on it as soon as
    // on a silent one (or after the handshake's 10 s, without an idle timeout).
    let write_timeout = idle_timeout.unwrap_or(listener::HANDSHAKE_TIMEOUT);
    connection.writer.set_write_timeout(Some(write_timeout))?;
    Ok(())
}

/// Where a conversation's outgoing frames go: straight onto the socket for
/// the echo server, through a member's queue for the chat (chapter 11).
pub trait Outbox {
    /// Sends one complete, unfragmented frame.
    fn send(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Error>;
}

impl Outbox for TcpStream {
    fn send(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Error> {
        frame::write(self, true, opcode, payload)?;
        Ok(())
    }
}

/// Feeds what `reader` delivers to `session` until the conversation ends,
/// handing each complete message to `on_message` and each frame the
/// session queues to `outbox`.
pub fn converse(
    reader: &mut impl Read,
    outbox: &mut dyn Outbox,
    session: &mut Session,
    on_message: &mut dyn FnMut(Message, &mut Session) -> Result<(), Error>,
) -> Result<(), Error> {
    loop {
        match reader.read(session.buffer()) {
            Ok(0) => {
                session.peer_closed()?;
                tell_hang_up();
                return Ok(());
            }
            Ok(count) => session.filled(count),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => session.timed_out()?,
            Err(error) => return Err(error.into()),
        }
        while let Some(event) = session.next_event() {
            tell(&event);
            if let Event::Message(message) = event {
                on_message(message, session)?;
            }
        }
        for frame in session.take_outgoing() {
            outbox.send(frame.opcode, &frame.payload)?;
        }
        if session.is_finished() {
            return Ok(());
        }
    }
}

/// Narrates an event: the frame-by-frame story at [`Level::Frames`], one
/// line at [`Level::Messages`]. Messages are the chapter's to tell.
fn tell(event: &Event) {
    match event {
        Event::DataFrame(header) => {
            if narrate::tells(Level::Frames) {
                narrate::received(format!(
                    "Received {} frame: FIN {}, {} bytes ({})",
                    header.opcode,
                    u8::from(header.fin),
                    header.payload_len,
                    describe_length(header)
                ));
            }
        }
        Event::Message(_) => {}
        Event::Ping {
            payload,
            between_fragments,
        } => {
            let payload = control::describe(payload);
            if narrate::tells(Level::Frames) {
                narrate::received(format!(
                    "Received ping {payload}; answering with a pong carrying the same payload"
                ));
                if let Some((frames, opcode)) = between_fragments {
                    narrate::aside(format!(
                        "(it arrived between fragments {frames} and {} of a {opcode} message)",
                        frames + 1
                    ));
                }
                narrate::sent(format!("Sent pong {payload}"));
            }
            narrate::summary(format!("← ping {payload} → pong"));
        }
        Event::Pong {
            payload,
            answers_ours: true,
        } => {
            let payload = control::describe(payload);
            narrate::received(format!(
                "Received pong {payload}: the client answered our ping"
            ));
            narrate::summary(format!("← pong {payload}"));
        }
        Event::Pong { payload, .. } => narrate::aside(format!(
            "Received an unsolicited pong {}; ignoring it (§5.5.3 allows them)",
            control::describe(payload)
        )),
        Event::CloseReceived(received) => {
            match received.code {
                Some(code) => {
                    narrate::received(format!(
                        "Received close frame: code {code}, reason {:?}",
                        received.reason
                    ));
                    narrate::sent(format!("Answering with close frame: code {code}"));
                    narrate::summary(format!(
                        "← close {code} {:?} → close, hang up",
                        received.reason
                    ));
                }
                None => {
                    narrate::received("Received close frame with no status code");
                    narrate::sent("Answering with an empty close frame");
                    narrate::summary("← close (no code) → close, hang up");
                }
            }
            narrate::event(
                "Closing the TCP connection; the server closes first (RFC 6455 §7.1.1).",
            );
        }
        Event::IdlePing => {
            narrate::sent("The connection is idle: sending a ping");
            narrate::summary("idle: → ping");
        }
        Event::Failed { code, reason } => {
            narrate::problem(format!("Failing the connection: {reason}"));
            narrate::sent(format!("Sending close frame: {code}"));
            narrate::summary(format!("→ close {code}"));
        }
    }
}

fn tell_hang_up() {
    narrate::aside(format!(
        "The client closed TCP without a closing handshake: {}.",
        CloseCode::ABNORMAL
    ));
    narrate::summary(format!(
        "← hung up without a close frame ({})",
        CloseCode::ABNORMAL
    ));
}

/// How the header wrote the payload length, with the extension's bytes.
pub fn describe_length(header: &FrameHeader) -> String {
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

/// A message's payload for the log: quoted text, or the first bytes in hex.
pub fn preview(message: &Message) -> String {
    match message.opcode {
        Opcode::Text => narrate::text_preview(&String::from_utf8_lossy(&message.payload)),
        _ => format!("hex: {}", narrate::hex_preview(&message.payload)),
    }
}
