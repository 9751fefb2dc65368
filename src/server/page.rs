//! The test page every chapter serves to a plain `GET /`.
//!
//! The article opens its HTML file from a separate static server. Here the
//! chapter serves the page itself, so `http://localhost:2345` is all a
//! reader needs: the page connects back to `ws://` the same host, sends
//! "Can you hear me?" and writes everything that happens onto the page.
//!
//! Plain HTTP/1.1 (RFC 9112); the only WebSocket part is what the page's
//! script does.

use std::io::Write;

use crate::narrate;
use crate::protocol::http::{self, Request, Status};
use crate::server::error::Error;
use crate::server::listener::Connection;

const PAGE: &str = include_str!("page/index.html");

/// The page, labelled with the chapter that serves it.
pub fn html(chapter: &str) -> String {
    PAGE.replace("{{CHAPTER}}", chapter)
}

/// Answers a request that is not a WebSocket handshake: the page for
/// `GET /`, 404 for any other path (a browser will ask for `/favicon.ico`),
/// and a refusal for any other method.
pub fn serve(connection: &mut Connection, request: &Request) -> Result<(), Error> {
    serve_page(connection, request, html(connection.chapter).as_bytes())
}

/// [`serve`], with a page of the caller's choosing.
pub fn serve_page(
    connection: &mut Connection,
    request: &Request,
    page: &[u8],
) -> Result<(), Error> {
    answer(&mut connection.writer, request, page)
}

/// [`serve_page`], writing the response to `writer`: a socket, or the
/// output buffer of a connection in an event loop (chapter 13).
pub fn answer(writer: &mut impl Write, request: &Request, page: &[u8]) -> Result<(), Error> {
    if request.method != "GET" {
        return Err(Error::NotWebSocket {
            method: request.method.clone(),
            target: request.target.clone(),
        });
    }
    let (status, content_type, body) = match request.target.as_str() {
        "/" | "/index.html" => (Status::OK, "text/html; charset=utf-8", page),
        _ => (
            Status::NOT_FOUND,
            "text/plain; charset=utf-8",
            &b"Not found\n"[..],
        ),
    };
    narrate::sent(format_args!(
        "Not a WebSocket request: answering {} {} with {status}",
        request.method, request.target
    ));
    narrate::summary(format_args!(
        "{} {} → {status}",
        request.method, request.target
    ));
    http::write_response(writer, status, &[], content_type, body)?;
    Ok(())
}
