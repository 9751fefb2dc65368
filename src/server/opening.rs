//! A connection's first request, from the server's side: a page for a
//! browser's address bar, or a WebSocket handshake (RFC 6455 §4.2).
//!
//! The handshake itself is pure and lives in the protocol
//! ([`crate::protocol::handshake`]: check the request, compute the accept key, build
//! the `101`). Deciding what a request is, serving the page, narrating in
//! the article's words, and lifting the handshake's deadline are the
//! server's business, and happen here. A refusal comes back as an
//! [`Error`]; the listener turns it into its HTTP status.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::narrate;
use crate::protocol::handshake::{
    self, accept_key, check_origin, validate, write_switching_protocols,
    write_switching_protocols_with,
};
use crate::protocol::http::{self, HttpError, Request};
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
    let request = http::read_request_after_empty_line(&mut connection.reader)?;
    narrate::event("Incoming Request");
    let request = check_http11(&request)?;
    if !handshake::is_websocket_request(&request) {
        page::serve(connection, &request)?;
        return Ok(Opening::ServedPage);
    }
    handshake::check_single_fields(&request)?;
    let key = validate(&request)?;
    narrate::received(format_args!("Websocket handshake detected with key: {key}"));
    let accept = accept_key(key);
    let extensions = answer_extensions(&request);
    narrate::sent(format_args!("Responding to handshake with key: {accept}"));
    write_switching_protocols_with(&mut connection.writer, &accept, extensions.as_deref())?;
    connection.handshake_finished();
    Ok(Opening::Upgraded)
}

/// [`perform`] for chapters 10, 11 and 14, stricter: the request must be
/// HTTP/1.1 as RFC 9112 says (`handshake::check_http11`: one `Host`, the
/// version, no body, a usable target; one empty line before it is
/// ignored), a handshake must not repeat its headers
/// (`handshake::check_single_fields`), and pages from origins not in
/// `allowed` (when given) are refused. Serves `page` (when given; else the
/// chapters' test page) to a plain `GET /`.
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
    let request = if strict {
        http::read_request_after_empty_line(&mut connection.reader)?
    } else {
        http::read_request(&mut connection.reader)?
    };
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
/// read, the response written to `writer`: what [`answer_gathered`] calls
/// for an event loop (chapters 13 and 15) once a whole head has arrived in
/// its buffer, with the same checks, statuses and narration as the
/// blocking chapters. `chapter` labels the test page, served unless
/// `page` is given.
pub fn answer_checking_origin(
    request: &Request,
    writer: &mut impl Write,
    allowed: Option<&[String]>,
    chapter: &str,
    page: Option<&[u8]>,
) -> Result<Opening, Error> {
    answer(request, writer, allowed, (chapter, page), true)
}

/// A request head gathering in an event loop's buffer (chapter 13):
/// `bytes` join `head` until the head is whole (one that arrives in one
/// piece is parsed where it lies, and `head` stays empty); it is then
/// answered as [`answer_checking_origin`] answers it, into `response`. `None` while
/// the head is incomplete; else what became of it, with the bytes that
/// came after the head.
pub fn answer_gathered(
    head: &mut Vec<u8>,
    bytes: &[u8],
    response: &mut Vec<u8>,
    chapter: &str,
) -> Option<Result<(Opening, Vec<u8>), Error>> {
    // A head that arrives whole, as most do, is parsed where it lies; only
    // one that comes in pieces is gathered in `head`.
    let first_piece = head.is_empty();
    if !first_piece {
        head.extend_from_slice(bytes);
    }
    let gathered = if first_piece { bytes } else { &head[..] };
    match http::parse_request(gathered) {
        Ok(None) => {
            if first_piece {
                head.extend_from_slice(bytes);
            }
            None
        }
        Ok(Some((request, used))) => {
            let rest = gathered[used..].to_vec();
            let opening = answer_checking_origin(&request, response, None, chapter, None);
            Some(opening.map(|opening| (opening, rest)))
        }
        Err(error) => Some(Err(error.into())),
    }
}

/// Why a head still gathering ended: the socket failed (`error`), or the
/// peer closed before its request or in the middle of it.
pub fn cut_short(head: &[u8], error: Option<io::Error>) -> Error {
    Error::Http(match error {
        Some(error) => HttpError::Io(error),
        None if head.is_empty() => HttpError::ClosedBeforeRequest,
        None => HttpError::ClosedMidRequest {
            received: head.len(),
        },
    })
}

fn answer(
    request: &Request,
    writer: &mut impl Write,
    allowed: Option<&[String]>,
    (chapter, page): (&str, Option<&[u8]>),
    strict: bool,
) -> Result<Opening, Error> {
    narrate::event("Incoming Request");
    let checked;
    let request = if strict {
        checked = check_http11(request)?;
        &*checked
    } else {
        request
    };
    if !handshake::is_websocket_request(request) {
        match page {
            Some(page) => page::answer(writer, request, page)?,
            None => page::answer(writer, request, page::html(chapter).as_bytes())?,
        }
        return Ok(Opening::ServedPage);
    }
    if strict {
        handshake::check_single_fields(request)?;
    }
    let key = validate(request)?;
    if let Some(allowed) = allowed {
        check_origin(request, allowed)?;
    }
    narrate::received(format_args!("Websocket handshake detected with key: {key}"));
    let accept = accept_key(key);
    narrate::sent(format_args!("Responding to handshake with key: {accept}"));
    write_switching_protocols(writer, &accept)?;
    Ok(Opening::Upgraded)
}

/// The request as chapters 10 and up take it, once HTTP/1.1's rules are
/// checked (`handshake::check_http11`): an absolute-form target is
/// replaced by the path it names, so the page and the handshake see
/// `/chat`, never `ws://localhost:2345/chat`.
fn check_http11(request: &Request) -> Result<Cow<'_, Request>, Error> {
    Ok(match handshake::check_http11(request)? {
        None => Cow::Borrowed(request),
        Some(path) => Cow::Owned(Request {
            target: path,
            ..request.clone()
        }),
    })
}
