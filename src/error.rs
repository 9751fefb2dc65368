//! Everything that can end one connection, in one type.
//!
//! Each chapter's connection handler returns `Result<(), Error>`. The
//! listener prints the error as one red line and goes on accepting: a bad
//! peer costs its own connection, never the server. (The article `raise`s
//! inside its accept loop, so one odd frame stops the whole server.)

use std::fmt;
use std::io;

use crate::frame::FrameError;
use crate::handshake::HandshakeError;
use crate::http::{HttpError, Status};

#[derive(Debug)]
pub enum Error {
    Http(HttpError),
    Handshake(HandshakeError),
    /// A plain HTTP request that is not for our page and not for a WebSocket.
    NotWebSocket {
        method: String,
        target: String,
    },
    Frame(FrameError),
    /// A frame this chapter does not handle yet (a later chapter does).
    NotYetSupported(String),
    /// A client frame without a mask (RFC 6455 §5.1 requires one).
    Unmasked,
    Io(io::Error),
}

impl Error {
    /// The HTTP response that still fits, if the connection is still in its
    /// HTTP phase: a status and any headers the refusal must carry.
    pub fn http_refusal(&self) -> Option<(Status, &'static [(&'static str, &'static str)])> {
        match self {
            Error::Http(error) => error.status().map(|status| (status, &[][..])),
            Error::Handshake(error) => Some((error.status(), error.response_headers())),
            Error::NotWebSocket { .. } => Some((Status::METHOD_NOT_ALLOWED, &[("Allow", "GET")])),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Http(error) => error.fmt(f),
            Error::Handshake(error) => write!(f, "Refusing the handshake: {error}"),
            Error::NotWebSocket { method, target } => {
                write!(f, "Aborting non-websocket connection ({method} {target})")
            }
            Error::Frame(error) => error.fmt(f),
            Error::NotYetSupported(what) => write!(f, "Not supported yet: {what}"),
            Error::Unmasked => write!(
                f,
                "the client sent an unmasked frame; RFC 6455 §5.1 says every client frame is masked"
            ),
            Error::Io(error) => write!(f, "connection error: {error}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<HttpError> for Error {
    fn from(error: HttpError) -> Error {
        Error::Http(error)
    }
}

impl From<HandshakeError> for Error {
    fn from(error: HandshakeError) -> Error {
        Error::Handshake(error)
    }
}

impl From<FrameError> for Error {
    fn from(error: FrameError) -> Error {
        Error::Frame(error)
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Error {
        Error::Io(error)
    }
}
