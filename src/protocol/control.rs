//! Control frames: RFC 6455 §5.5 (ping, pong and close share these rules).
//!
//! Control frames manage the connection rather than carry messages. They
//! may arrive between the fragments of a message (so that a ping is not
//! stuck behind a 16 MiB upload), and to keep that cheap the RFC limits
//! them: at most 125 bytes of payload, and never fragmented.
//!
//! A ping asks "are you there?"; the answer is a pong carrying the same
//! payload (§5.5.2, §5.5.3). A pong nobody asked for is allowed, and ignored.

use crate::protocol::frame::FrameHeader;
use crate::protocol::violation::Violation;

/// The text of the ping the server sends after the handshake.
pub const OUR_PING_TEXT: &str = "Are you still there?";
/// The same, as the bytes of the ping's payload.
pub const OUR_PING: &[u8] = OUR_PING_TEXT.as_bytes();
/// The payload of the ping sent to a connection that has gone quiet.
pub const IDLE_PING: &[u8] = b"idle check";

/// The most payload a control frame carries (§5.5).
pub const MAX_PAYLOAD: usize = 125;

/// The two rules every control frame obeys.
pub fn check(header: &FrameHeader) -> Result<(), Violation> {
    if header.payload_len > MAX_PAYLOAD as u64 {
        return Err(Violation::ControlTooLong {
            opcode: header.opcode,
            length: header.payload_len,
        });
    }
    if !header.fin {
        return Err(Violation::FragmentedControl(header.opcode));
    }
    Ok(())
}

/// A control payload for the log: quoted if it is text, else its bytes.
pub fn describe(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("{payload:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::Opcode;

    fn ping(fin: bool, payload_len: u64) -> FrameHeader {
        FrameHeader {
            fin,
            rsv: 0,
            opcode: Opcode::Ping,
            mask: None,
            payload_len,
        }
    }

    #[test]
    fn up_to_125_bytes_and_unfragmented() {
        // §5.5: "All control frames MUST have a payload length of 125 bytes
        // or less and MUST NOT be fragmented." 125 itself is allowed.
        assert_eq!(check(&ping(true, 0)), Ok(()));
        assert_eq!(check(&ping(true, 125)), Ok(()));
        assert_eq!(
            check(&ping(true, 126)),
            Err(Violation::ControlTooLong {
                opcode: Opcode::Ping,
                length: 126
            })
        );
        assert_eq!(
            check(&ping(false, 5)),
            Err(Violation::FragmentedControl(Opcode::Ping))
        );
    }

    #[test]
    fn described_payloads_show_their_content() {
        // §5.7's ping carries "Hello": text, so it is shown as text.
        let shown = describe(b"Hello");
        assert!(shown.contains("\"Hello\""), "{shown}");
        // 0xFF never appears in UTF-8 (RFC 3629 §1), so these are bytes.
        let shown = describe(&[0xFF, 0x00]);
        assert!(shown.contains("255"), "{shown}");
    }
}
