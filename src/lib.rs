//! A WebSocket server built from scratch, one chapter at a time.
//!
//! The chapters are the binaries in `steps/`: start reading at
//! `steps/01-print-request.rs`, and `diff` a chapter with its base (named
//! in its first lines) to see what it teaches. Each chapter holds the code it teaches;
//! once a later chapter needs that code in a general form, it *graduates*
//! into this library, and the chapter's doc comment says so.
//!
//! # Layout
//!
//! Three layers, each a folder, each importing only the ones above it in
//! this list:
//!
//! * [`protocol`]: RFC 6455 itself, pure: bytes and requests in, bytes and
//!   decisions out. No sockets, no threads, no logging.
//!   - [`protocol::http`]: the HTTP/1.1 request head a WebSocket starts as.
//!   - [`protocol::handshake`]: checking the upgrade request, the accept key,
//!     the `101` response (§4).
//!   - [`protocol::frame`]: the frame header and payload (§5.2), with
//!     [`protocol::mask`] (§5.3).
//!   - [`protocol::message`]: fragments put back together (§5.4).
//!   - [`protocol::control`] and [`protocol::close`]: ping, pong and close
//!     frames, close codes (§5.5, §7.4).
//!   - [`protocol::utf8`]: text checked as it arrives (§8.1).
//!   - [`protocol::violation`]: each rule a peer can break, with its close code.
//!   - [`protocol::session`]: a whole conversation as a state machine, without
//!     I/O (chapters 10 to 15); [`protocol::session::tuning`], what only
//!     chapter 15's tuned loop asks of it.
//!   - [`protocol::extension`] and [`protocol::deflate`]: permessage-deflate
//!     (RFC 7692): the offer and the answer, compressing and inflating
//!     (chapter 12).
//! * [`narrate`]: what a chapter says about the bytes it sees, coloured on a
//!   terminal: log lines and previews, [`narrate::diagram`] (the §5.2
//!   diagram filled in with real bits), [`narrate::session`] (what a
//!   session reports, told line by line).
//! * [`server`]: sockets, threads and event loops around the protocol.
//!   - [`server::listener`]: accepting on loopback, one thread per
//!     connection, deadlines; the close an event loop lingers through.
//!   - [`server::address_share`]: each client address's share of the
//!     connection slots.
//!   - [`server::admission`]: the connection cap and the address's share,
//!     one copy for every server, and the listening socket of an event
//!     loop (chapters 13 and 15) behind them.
//!   - [`server::memory`]: the allocator settings that let a server give
//!     memory back once a load has gone.
//!   - [`server::deadlines`]: chapter 13's set of deadlines for every
//!     connection of an event loop, graduated for chapter 15, and the
//!     alarm that wakes its loop at the earliest.
//!   - [`server::opening`]: a connection's first request: the test page or
//!     the handshake, read from a socket or decided from a head already
//!     in a buffer.
//!   - [`server::page`]: the pages the chapters serve.
//!   - [`server::conversation`]: the blocking loop that drives a
//!     [`protocol::session::Session`] over a socket, and what every echo
//!     server shares: its options and how it tells an echo.
//!   - [`server::chat`]: chapter 11's room, its members' queues and its wire
//!     format; [`server::chat::cluster`], the Redis connections that let
//!     chapter 14 share the room between several servers, and
//!     [`server::chat::presence`], who is on which of them.
//!   - [`server::error`]: everything that can end one connection, with the
//!     HTTP status or close code that answers it.
//!
//! Beside them: [`client`], our own client (the handshake from the other
//! side, then a [`protocol::session::Session`] in the client's role), and
//! [`command_line`], the options every binary reads once at start-up.

pub mod client;
pub mod command_line;
pub mod narrate;
pub mod protocol;
pub mod server;

pub use server::error::Error;
