//! Chapter 5 — Long payloads (the article's extra credit: "Long payload support").
//!
//! Chapter 3 refused anything over 125 bytes. The 7-bit length field has
//! two special values: 126 means "the real length follows as a 16-bit
//! number" (up to 65,535 bytes), 127 means "a 64-bit number follows". The
//! log shows which form each frame used, with the extension's bytes, and
//! the header our echo sends back (`frame::read_header`,
//! `frame::encode_header`).
//!
//! From this chapter on, the connection stays open: every message is echoed
//! back with the same type until the client leaves (`echo::serve`). Text
//! must be valid UTF-8, or the server closes with code 1007.
//!
//! Watch for two rules the RFC adds and the article does not mention. A
//! length must be written in the shortest form (5 written with the 16-bit
//! form is a protocol error), and a 64-bit length must have its top bit
//! clear. And a server needs a limit: a header can announce 2^63 bytes in
//! ten bytes. Over `--max-message-size` (16 MiB by default) the server
//! sends close 1009 *before* reading the payload, and never allocates what
//! a header merely claims (`frame::read_masked_payload` grows its buffer as
//! bytes actually arrive).
//!
//! This chapter still takes one frame per message, and text only: binary,
//! fragments, ping/pong and close frames are refused with a red line until
//! the chapters that add them.

use websocket_from_scratch::server::echo::{self, Features};

fn main() -> std::process::ExitCode {
    echo::run("05-long-payloads", Features::LONG_PAYLOADS)
}
