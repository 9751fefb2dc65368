//! Chapter 7 — Messages in several frames (the article's extra credit:
//! "Support for multi-frame payloads").
//!
//! A sender that does not know a message's length in advance, or does not
//! want to hold all of it, can send it in pieces: a first text or binary
//! frame with FIN clear, continuation frames (opcode 0), and a last one
//! with FIN set. `message::Assembler` puts them back together, and the log
//! shows each fragment, then the assembled message, which is echoed as one
//! frame.
//!
//! Watch for the order rules (RFC 6455 §5.4). A continuation frame with no
//! message in progress, or a new text or binary frame before the current
//! message has ended, is a protocol error. The size limit applies to the
//! whole message, not to each fragment — otherwise ten 15 MiB fragments
//! would slip past a 16 MiB limit. And a text message is checked for UTF-8
//! as a whole, once complete: one character's bytes may be split across
//! two fragments, so a fragment on its own can look invalid when the
//! message is fine.

use websocket_from_scratch::server::echo::{self, Features};

fn main() -> std::process::ExitCode {
    echo::run("07-fragmented-messages", Features::FRAGMENTS)
}
