//! The rules a peer can break after the handshake, each with the close code
//! that answers it: RFC 6455 §5.1–§5.5, §7.4.1 and §8.1.
//!
//! §7.1.7 says how to "fail the WebSocket connection": send a close frame
//! with the right code, then close TCP. [`Violation::close_code`] is the
//! right code.

use std::fmt;

use crate::protocol::close::{CloseCode, CloseFrameError};
use crate::protocol::frame::Opcode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// §5.1: every frame from a client is masked.
    Unmasked,
    /// §5.1: no frame from a server is masked.
    Masked,
    /// §5.2: RSV1–3 must be 0 unless an extension gave them a meaning.
    ReservedBits(u8),
    /// §5.2: opcodes 3–7 and 11–15 are reserved.
    ReservedOpcode(u8),
    /// §5.5: control frames carry at most 125 bytes…
    ControlTooLong { opcode: Opcode, length: u64 },
    /// …and are never fragmented.
    FragmentedControl(Opcode),
    /// §5.4: a continuation frame with no message to continue.
    NothingToContinue,
    /// §5.4: a new text or binary frame before the last message ended.
    MessageInterrupted(Opcode),
    /// §8.1: text must be valid UTF-8.
    InvalidUtf8,
    /// Our own limit (§10.4 asks servers to have one).
    MessageTooBig { size: u64, limit: u64 },
    /// §5.5.1 / §7.4: a close frame we cannot accept.
    BadClose(CloseFrameError),
    /// RFC 7692 §6.1: with permessage-deflate, RSV1 belongs on the first
    /// frame of a message only.
    CompressionBitMisplaced(Opcode),
    /// RFC 7692 §6: permessage-deflate gives RSV1 a meaning, and only RSV1.
    ReservedBitsBesideDeflate(u8),
    /// RFC 7692 §7.2.2: the payload is not DEFLATE data.
    BadCompressedData(String),
    /// Our own limit, reached while inflating (§10.4 again).
    InflatesTooBig { limit: u64 },
    /// More compressed bytes than any message within our limit needs
    /// (`deflate::compressed_bound`): refused before they are held.
    CompressedTooBig { size: u64, limit: u64, bound: u64 },
}

impl Violation {
    /// The code §7.4.1 assigns to this kind of failure.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Violation::InvalidUtf8
            | Violation::BadClose(CloseFrameError::ReasonNotUtf8)
            | Violation::BadCompressedData(_) => CloseCode::INVALID_PAYLOAD,
            Violation::MessageTooBig { .. }
            | Violation::InflatesTooBig { .. }
            | Violation::CompressedTooBig { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Unmasked => write!(
                f,
                "the client sent an unmasked frame; RFC 6455 §5.1 says every client frame is masked"
            ),
            Violation::Masked => write!(
                f,
                "the server sent a masked frame; RFC 6455 §5.1 says a server never masks"
            ),
            Violation::ReservedBits(bits) => write!(
                f,
                "reserved bits {bits:03b} are set, but no extension was agreed"
            ),
            Violation::ReservedOpcode(bits) => write!(f, "opcode {bits} is reserved"),
            Violation::ControlTooLong { opcode, length } => write!(
                f,
                "a {opcode} frame of {length} bytes; control frames carry at most 125"
            ),
            Violation::FragmentedControl(opcode) => {
                write!(
                    f,
                    "a fragmented {opcode} frame; control frames are never fragmented"
                )
            }
            Violation::NothingToContinue => {
                write!(f, "a continuation frame, but no message is in progress")
            }
            Violation::MessageInterrupted(opcode) => write!(
                f,
                "a new {opcode} frame in the middle of a fragmented message"
            ),
            Violation::InvalidUtf8 => write!(f, "a text message that is not valid UTF-8"),
            Violation::MessageTooBig { size, limit } => {
                write!(f, "a message of {size} bytes; the limit is {limit}")
            }
            Violation::BadClose(error) => error.fmt(f),
            Violation::CompressionBitMisplaced(opcode) => write!(
                f,
                "RSV1 on a {opcode} frame; it marks only the first frame of a compressed message"
            ),
            Violation::ReservedBitsBesideDeflate(bits) => write!(
                f,
                "reserved bits {bits:03b} are set; permessage-deflate gives a meaning to RSV1 alone"
            ),
            Violation::BadCompressedData(why) => {
                write!(f, "a compressed message that does not inflate: {why}")
            }
            Violation::InflatesTooBig { limit } => write!(
                f,
                "a compressed message that inflates past the limit of {limit} bytes"
            ),
            Violation::CompressedTooBig { size, limit, bound } => write!(
                f,
                "a compressed message of {size} bytes; a message within the limit of {limit} bytes compresses to at most {bound}"
            ),
        }
    }
}
