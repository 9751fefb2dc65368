//! Everything that can end one connection, in one type.
//!
//! Each chapter's connection handler returns `Result<(), Error>`. The
//! listener prints the error as one red line and goes on accepting: a bad
//! peer costs its own connection, never the server. (The article `raise`s
//! inside its accept loop, so one odd frame stops the whole server.)

use std::fmt;
use std::io;

use crate::close::CloseCode;
use crate::frame::FrameError;
use crate::handshake::HandshakeError;
use crate::http::{HttpError, Status};
use crate::violation::Violation;

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
    /// The peer broke a rule of the protocol.
    Protocol(Violation),
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

impl Error {
    /// The close code that fails the connection for this error (§7.1.7),
    /// when the error is the peer's doing and the connection is a WebSocket.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(violation) => Some(violation.close_code()),
            Error::Frame(FrameError::NonMinimalLength { .. } | FrameError::LengthTopBitSet) => {
                Some(CloseCode::PROTOCOL_ERROR)
            }
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
            Error::Protocol(violation) => violation.fmt(f),
            Error::Io(error) if crate::http::is_timeout(error) => {
                write!(f, "timed out sending: the peer has stopped reading")
            }
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

impl From<Violation> for Error {
    fn from(violation: Violation) -> Error {
        Error::Protocol(violation)
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Error {
        Error::Io(error)
    }
}
