//! RFC 6455, the protocol itself, with no I/O policy of its own: these
//! modules read and write bytes and requests and decide what they mean.
//! None of them logs, and none imports the server or the narration; the
//! blocking readers here take any `Read`, so a test feeds them a slice.

pub mod close;
pub mod control;
pub mod deflate;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod http;
pub mod mask;
pub mod message;
pub mod session;
pub mod utf8;
pub mod violation;
