//! A WebSocket server built from scratch, one chapter at a time.
//!
//! The binaries in `steps/` are the chapters; this library holds the
//! protocol concepts they share, one module per concept, each naming the
//! section of RFC 6455 it implements. Start reading at `steps/01-print-request.rs`.

pub mod anatomy;
pub mod args;
pub mod chat;
pub mod client;
pub mod close;
pub mod control;
pub mod conversation;
pub mod diagram;
pub mod echo;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod http;
pub mod listener;
pub mod mask;
pub mod message;
pub mod narrate;
pub mod opening;
pub mod page;
pub mod session;
pub mod utf8;
pub mod violation;

pub use error::Error;
