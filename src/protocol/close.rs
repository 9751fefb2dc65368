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

    #[test]
    fn meanings_name_what_the_rfc_and_registry_name() {
        // RFC 6455 §7.4.1/§7.4.2 and the IANA "WebSocket Close Code Number
        // Registry" (§11.7) say what each code and range stands for; the
        // log must say the same thing, not any other code's meaning.
        let names = [
            (1000, "normal"),           // "1000 indicates a normal closure"
            (1001, "going away"),       // "an endpoint is \"going away\""
            (1002, "protocol error"),   // "terminating the connection due to a protocol error"
            (1003, "unsupported data"), // registry: "Unsupported Data"
            (1005, "no status"),        // registry: "No Status Rcvd"
            (1006, "abnormal"),         // registry: "Abnormal Closure"
            (1007, "invalid"),          // registry: "Invalid frame payload data"
            (1008, "policy"),           // "received a message that violates its policy"
            (1009, "too big"),          // "a message that is too big for it to process"
            (1010, "extension"),        // "expected the server to negotiate one or more extension"
            (1011, "internal"),         // registry: "Internal Error"
            (1012, "restart"),          // registry: "Service Restart"
            (1013, "try again later"),  // registry: "Try Again Later"
            (1014, "bad gateway"),      // registry: "Bad Gateway"
            (1015, "tls"),              // "failure to perform a TLS handshake"
            (0, "not used"),            // §7.4.2: "0-999 are not used"
            (999, "not used"),
            (1004, "reserved"), // registry: 1004 "Reserved"
            (1016, "reserved"), // §7.4.2: "1000-2999 are reserved for definition by this protocol"
            (2999, "reserved"),
            (3000, "iana"), // "3000-3999 are reserved for use by libraries, frameworks, and applications ... registered with IANA"
            (3999, "iana"),
            (4000, "private"), // "4000-4999 are reserved for private use"
            (4999, "private"),
        ];
        for (code, name) in names {
            let meaning = CloseCode(code).meaning().to_lowercase();
            assert!(meaning.contains(name), "{code}: {meaning:?}");
        }
    }

    #[test]
    fn displays_name_the_code() {
        // A log line about a close must show the number that went on the
        // wire (§7.4.1 codes are numbers first).
        let shown = CloseCode::NORMAL.to_string();
        assert!(
            shown.contains("1000") && shown.contains("normal"),
            "{shown}"
        );
        // 1005 "MUST NOT be set as a status code in a Close control frame" (§7.4.1).
        let refused = CloseFrameError::CodeNotAllowed(CloseCode(1005)).to_string();
        assert!(refused.contains("1005"), "{refused}");
        for error in [CloseFrameError::OneByte, CloseFrameError::ReasonNotUtf8] {
            assert!(!error.to_string().is_empty(), "{error:?}");
        }
    }

    #[test]
    fn a_sent_close_frame_has_the_rfc_layout() {
        // §5.2: FIN set and opcode 0x8 make the first byte 0x88; a server's
        // frame is unmasked (§5.1). §5.5.1: the body starts with the code
        // as a network-order 16-bit integer (1000 = 0x03E8), then the reason.
        let mut sent = Vec::new();
        send(&mut sent, CloseCode::NORMAL, "bye").unwrap();
        assert_eq!(sent, [0x88, 0x05, 0x03, 0xE8, b'b', b'y', b'e']);
    }
}
