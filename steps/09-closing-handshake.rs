//! Chapter 9 — The closing handshake (the article's extra credit: "Closing handshake").
//!
//! Until now the server just hung up. A WebSocket ends politely: one side
//! sends a close frame (a two-byte status code and an optional UTF-8
//! reason), the other answers with a close frame, and then the server
//! closes the TCP connection (RFC 6455 §5.5.1, §7.1.1 — the server closes
//! first, so the client is not left holding the socket in TIME_WAIT).
//! The log names each code's meaning (`close::CloseCode::meaning`).
//!
//! Watch for close frames that are themselves wrong (`close::parse`): a
//! one-byte payload, a code that may not be sent (0–999, 1004–1006, 1015,
//! the unassigned 1016–2999) → 1002; a reason that is not UTF-8 → 1007.
//!
//! And from this chapter on, every protocol error from the earlier
//! chapters is answered properly: the server sends a close frame with the
//! code §7.4.1 assigns (`violation::Violation::close_code`) before hanging
//! up, instead of just dropping the connection.

use websocket_from_scratch::server::echo::{self, Features};

fn main() -> std::process::ExitCode {
    echo::run("09-closing-handshake", Features::CLOSING_HANDSHAKE)
}
