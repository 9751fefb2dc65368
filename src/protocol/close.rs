//! Close frames and status codes: RFC 6455 §5.5.1, §7.1 and §7.4.
//!
//! A close frame's payload is empty, or a two-byte status code (big-endian)
//! optionally followed by a UTF-8 reason. Some codes are only ever *used
//! locally* — 1005 "no code received", 1006 "closed without a close frame",
//! 1015 "TLS failure" — and must never appear on the wire; codes 0–999 are
//! not used at all, and 1016–2999 are reserved for future RFCs. A close
//! frame carrying any of those is itself a protocol error.

use std::fmt;
use std::io::{self, Write};

use crate::protocol::frame::{self, Opcode};

/// A close status code (§7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseCode(pub u16);

impl CloseCode {
    pub const NORMAL: CloseCode = CloseCode(1000);
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);

    /// What the code means, in a few words.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status code received",
            1006 => "closed abnormally, without a close frame",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension missing",
            1011 => "internal server error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            3000..=3999 => "registered with IANA for libraries and frameworks",
            4000..=4999 => "private, agreed between the application's ends",
            0..=999 => "not used",
            _ => "reserved",
        }
    }

    /// Whether a peer may send this code in a close frame.
    pub fn may_be_sent(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.meaning())
    }
}

/// What a close frame said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// `None` for an empty close payload.
    pub code: Option<CloseCode>,
    pub reason: String,
}

/// Why a close frame's payload is unacceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseFrameError {
    /// One byte cannot hold a two-byte code.
    OneByte,
    CodeNotAllowed(CloseCode),
    ReasonNotUtf8,
}

impl fmt::Display for CloseFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseFrameError::OneByte => {
                write!(f, "a close payload of one byte (a status code takes two)")
            }
            CloseFrameError::CodeNotAllowed(code) => {
                write!(f, "close code {code} may not be sent in a close frame")
            }
            CloseFrameError::ReasonNotUtf8 => write!(f, "a close reason that is not UTF-8"),
        }
    }
}

/// Reads a close frame's payload (§5.5.1).
pub fn parse(payload: &[u8]) -> Result<CloseFrame, CloseFrameError> {
    match payload {
        [] => Ok(CloseFrame {
            code: None,
            reason: String::new(),
        }),
        [_] => Err(CloseFrameError::OneByte),
        [high, low, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*high, *low]));
            if !code.may_be_sent() {
                return Err(CloseFrameError::CodeNotAllowed(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| CloseFrameError::ReasonNotUtf8)?;
            Ok(CloseFrame {
                code: Some(code),
                reason: reason.to_string(),
            })
        }
    }
}

/// The payload of a close frame: the code, then the reason.
pub fn payload(code: CloseCode, reason: &str) -> Vec<u8> {
    let mut bytes = code.0.to_be_bytes().to_vec();
    // A control frame carries at most 125 bytes, two of them the code.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    bytes.extend_from_slice(&reason.as_bytes()[..end]);
    bytes
}

/// Sends a close frame from the server (unmasked).
pub fn send(writer: &mut impl Write, code: CloseCode, reason: &str) -> io::Result<()> {
    frame::write(writer, true, Opcode::Close, &payload(code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_allowed_on_the_wire() {
        for allowed in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
        ] {
            assert!(CloseCode(allowed).may_be_sent(), "{allowed}");
        }
        for refused in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!CloseCode(refused).may_be_sent(), "{refused}");
        }
    }

    #[test]
    fn close_payloads_parse() {
        assert_eq!(
            parse(&payload(CloseCode::NORMAL, "bye")),
            Ok(CloseFrame {
                code: Some(CloseCode::NORMAL),
                reason: "bye".into()
            })
        );
        assert_eq!(parse(&[3]), Err(CloseFrameError::OneByte));
        assert_eq!(
            parse(&[0x03, 0xE7]),
            Err(CloseFrameError::CodeNotAllowed(CloseCode(999)))
        );
        assert_eq!(
            parse(&[0x03, 0xE8, 0xFF]),
            Err(CloseFrameError::ReasonNotUtf8)
        );
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let reason = "é".repeat(100);
        let bytes = payload(CloseCode::NORMAL, &reason);
        assert!(bytes.len() <= 125);
        assert!(std::str::from_utf8(&bytes[2..]).is_ok());
    }
}
