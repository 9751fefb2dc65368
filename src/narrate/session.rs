//! Telling what a [`Session`] reports: the frame-by-frame story at
//! [`Level::Frames`], one line per event at [`Level::Messages`]
//! (chapter 10's default). Messages themselves are the chapter's to tell:
//! an echo server and a chat room say different things about them.
//!
//! [`Session`]: crate::protocol::session::Session

use crate::narrate::{self, Level};
use crate::protocol::close::CloseCode;
use crate::protocol::control;
use crate::protocol::session::Event;

/// Narrates one event, at the level the server was started with.
pub fn tell(event: &Event) {
    match event {
        Event::DataFrame(header) => {
            if narrate::tells(Level::Frames) {
                // RSV1 reaches here only where permessage-deflate was
                // agreed (chapter 12): elsewhere it fails the connection.
                let compressed = if header.rsv != 0 {
                    ", RSV1: compressed"
                } else {
                    ""
                };
                narrate::received(format_args!(
                    "Received {} frame: FIN {}, {} bytes ({}){compressed}",
                    header.opcode,
                    u8::from(header.fin),
                    header.payload_len,
                    narrate::describe_length(header)
                ));
            }
        }
        Event::Message(_) => {}
        Event::Ping {
            payload,
            between_fragments,
        } => {
            // Formatted only when told: a peer may send these by the million.
            if !narrate::tells(Level::Messages) {
                return;
            }
            let payload = control::describe(payload);
            if narrate::tells(Level::Frames) {
                narrate::received(format_args!(
                    "Received ping {payload}; answering with a pong carrying the same payload"
                ));
                if let Some((frames, opcode)) = between_fragments {
                    narrate::aside(format_args!(
                        "(it arrived between fragments {frames} and {} of a {opcode} message)",
                        frames + 1
                    ));
                }
                narrate::sent(format_args!("Sent pong {payload}"));
            }
            narrate::summary(format_args!("← ping {payload} → pong"));
        }
        Event::Pong {
            payload,
            answers_ours: true,
        } => {
            let payload = control::describe(payload);
            narrate::received(format_args!(
                "Received pong {payload}: the client answered our ping"
            ));
            narrate::summary(format_args!("← pong {payload}"));
        }
        Event::Pong { payload, .. } => {
            // Formatted only when told: a peer may send these by the million.
            if narrate::tells(Level::Frames) {
                narrate::aside(format_args!(
                    "Received an unsolicited pong {}; ignoring it (§5.5.3 allows them)",
                    control::describe(payload)
                ));
            }
        }
        Event::CloseReceived(received) => {
            match received.code {
                Some(code) => {
                    narrate::received(format_args!(
                        "Received close frame: code {code}, reason {:?}",
                        received.reason
                    ));
                    narrate::sent(format_args!("Answering with close frame: code {code}"));
                    narrate::summary(format_args!(
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
            narrate::sent(format_args!("Sending close frame: {code}"));
            narrate::summary(format_args!("→ close {code}"));
        }
        Event::CloseAnswered(answer) => {
            let code = answer
                .code
                .map_or("with no status code".to_string(), |code| code.to_string());
            narrate::received(format_args!(
                "Received close frame {code}, the answer to ours: the closing handshake is complete"
            ));
            narrate::summary(format_args!("← close {code}, the answer to ours: hang up"));
        }
        Event::HungUp => tell_hang_up(),
        Event::Dropped(why) => narrate::problem(why),
    }
}

/// The peer closed TCP between frames, without a closing handshake.
pub fn tell_hang_up() {
    narrate::aside(format_args!(
        "The client closed TCP without a closing handshake: {}.",
        CloseCode::ABNORMAL
    ));
    narrate::summary(format_args!(
        "← hung up without a close frame ({})",
        CloseCode::ABNORMAL
    ));
}
