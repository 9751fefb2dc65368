//! A connection's first request, from the server's side: a page for a
//! browser's address bar, or a WebSocket handshake (RFC 6455 §4.2).
//!
//! The handshake itself is pure and lives in the protocol
//! ([`crate::protocol::handshake`]: check the request, compute the accept key, build
//! the `101`). Deciding what a request is, serving the page, narrating in
//! the article's words, and lifting the handshake's deadline are the
//! server's business, and happen here. A refusal comes back as an
//! [`Error`]; the listener turns it into its HTTP status.

use std::io::Write;

use crate::narrate;
use crate::protocol::handshake::{
    self, accept_key, check_origin, validate, write_switching_protocols,
    write_switching_protocols_with,
};
use crate::protocol::http::{self, Request};
use crate::server::error::Error;
use crate::server::listener::Connection;
use crate::server::page;

/// What became of a connection's first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// The `101` went out: frames from here on.
    Upgraded,
    /// It was a plain HTTP request, answered with the test page (or a 404).
    ServedPage,
}

/// The whole server side of the handshake, narrated in the article's words
/// (chapter 2 does these steps itself; from chapter 3 on they are here): read the request, serve the page if it is a plain `GET`,
/// otherwise check it, compute the accept key and send `101`.
///
/// A refused handshake comes back as an [`Error`] that knows its HTTP
/// status; the listener sends that response and logs why.
pub fn perform(connection: &mut Connection) -> Result<Opening, Error> {
    perform_with(connection, None, None, false)
}

/// [`perform_checking_origin`] without an origin check (chapter 12),
/// letting `answer_extensions` read the request's offers and
/// say what the `101` answers in `Sec-WebSocket-Extensions` (`None`: the
/// header is left out, and every offer declined).
pub fn perform_negotiating(
    connection: &mut Connection,
    answer_extensions: &mut dyn FnMut(&Request) -> Option<String>,
) -> Result<Opening, Error> {
    let request = http::read_request(&mut connection.reader)?;
    narrate::event("Incoming Request");
    handshake::check_single_host(&request)?;
    if !handshake::is_websocket_request(&request) {
        page::serve(connection, &request)?;
        return Ok(Opening::ServedPage);
    }
    let key = validate(&request)?;
    narrate::received(format!("Websocket handshake detected with key: {key}"));
    let accept = accept_key(key);
    let extensions = answer_extensions(&request);
    narrate::sent(format!("Responding to handshake with key: {accept}"));
    write_switching_protocols_with(&mut connection.writer, &accept, extensions.as_deref())?;
    connection.handshake_finished();
    Ok(Opening::Upgraded)
}

/// [`perform`] for chapters 10 and 11, stricter: a request with two `Host`
/// headers is refused (400), and so are pages from origins not in
/// `allowed` (when given). Serves `page` (when given; else the chapters'
/// test page) to a plain `GET /`.
pub fn perform_checking_origin(
    connection: &mut Connection,
    allowed: Option<&[String]>,
    page: Option<&[u8]>,
) -> Result<Opening, Error> {
    perform_with(connection, allowed, page, true)
}

fn perform_with(
    connection: &mut Connection,
    allowed: Option<&[String]>,
    page: Option<&[u8]>,
    strict: bool,
) -> Result<Opening, Error> {
    let request = http::read_request(&mut connection.reader)?;
    let chapter = connection.chapter;
    let opening = answer(
        &request,
        &mut connection.writer,
        allowed,
        (chapter, page),
        strict,
    )?;
    if opening == Opening::Upgraded {
        connection.handshake_finished();
    }
    Ok(opening)
}

/// The decisions of [`perform_checking_origin`] for a request already
/// read, the response written to `writer`: what an event loop (chapter
/// 13) calls once a whole head has arrived in its buffer, with the same
/// checks, statuses and narration as the blocking chapters. `chapter`
/// labels the test page, served unless `page` is given.
pub fn answer_checking_origin(
    request: &Request,
    writer: &mut impl Write,
    allowed: Option<&[String]>,
    chapter: &str,
    page: Option<&[u8]>,
) -> Result<Opening, Error> {
    answer(request, writer, allowed, (chapter, page), true)
}

fn answer(
    request: &Request,
    writer: &mut impl Write,
    allowed: Option<&[String]>,
    (chapter, page): (&str, Option<&[u8]>),
    strict: bool,
) -> Result<Opening, Error> {
    narrate::event("Incoming Request");
    if strict {
        handshake::check_single_host(request)?;
    }
    if !handshake::is_websocket_request(request) {
        match page {
            Some(page) => page::answer(writer, request, page)?,
            None => page::answer(writer, request, page::html(chapter).as_bytes())?,
        }
        return Ok(Opening::ServedPage);
    }
    let key = validate(request)?;
    if let Some(allowed) = allowed {
        check_origin(request, allowed)?;
    }
    narrate::received(format!("Websocket handshake detected with key: {key}"));
    let accept = accept_key(key);
    narrate::sent(format!("Responding to handshake with key: {accept}"));
    write_switching_protocols(writer, &accept)?;
    Ok(Opening::Upgraded)
}
