//! Chapter 6 — Binary messages (the article's extra credit: "Binary payload support").
//!
//! Opcode 2 carries bytes that are not text: an image, a compressed blob,
//! a game's state. The framing is identical to text; only the meaning
//! differs, so there is nothing to decode and no UTF-8 to check. The log
//! shows a short hex preview (`narrate::hex_preview`) instead of a string,
//! and the echo goes back as binary — answering bytes with text would hand
//! the browser a string where it expects a `Blob`.
//!
//! Try it from the browser's console on the test page:
//! `socket.send(new Uint8Array([1, 2, 3]))`.

use websocket_from_scratch::server::echo::{self, Features};

fn main() -> std::process::ExitCode {
    echo::run("06-binary", Features::BINARY)
}
