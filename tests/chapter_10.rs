//! Chapter 10, the complete echo server (`10-echo-server`): its default
//! narration, one line per message, pinned in
//! `snapshots/10-echo-server.snap`; every way a connection can end, the
//! timeouts, the limits, and many clients at once.

mod support;

#[macro_use]
mod echo_behaviour;

echo_server_behaviour!(env!("CARGO_BIN_EXE_10-echo-server"), "10-echo-server");
