//! The server around the protocol: sockets, threads, deadlines, pages,
//! and what turns a refusal into an HTTP status or a close code. Each
//! chapter's binary calls into here for what it does not teach itself.

pub mod address_share;
pub mod admission;
pub mod chat;
pub mod conversation;
pub mod deadlines;
pub mod error;
pub mod listener;
pub mod memory;
pub mod opening;
pub mod page;
