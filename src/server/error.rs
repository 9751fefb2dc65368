//! Everything that can end one connection, in one type.
//!
//! Each chapter's connection handler returns `Result<(), Error>`. The
//! listener prints the error as one red line and goes on accepting: a bad
//! peer costs its own connection, never the server. (The article `raise`s
//! inside its accept loop, so one odd frame stops the whole server.)

use std::fmt;
use std::io;

use crate::narrate;
use crate::protocol::close::CloseCode;
use crate::protocol::frame::FrameError;
use crate::protocol::handshake::{self, HandshakeError};
use crate::protocol::http::{HttpError, Status};
use crate::protocol::violation::Violation;

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
            Error::Handshake(error) => Some(handshake_refusal(error)),
            Error::NotWebSocket { .. } => Some((Status::METHOD_NOT_ALLOWED, &[("Allow", "GET")])),
            _ => None,
        }
    }

    /// Writes the HTTP response that refuses the request, if one still
    /// fits ([`Error::http_refusal`]), with the error as its body; returns
    /// its status. For an event loop, which writes into a connection's
    /// output rather than onto a socket.
    pub fn write_refusal(&self, writer: &mut impl io::Write) -> Option<Status> {
        let (status, headers) = self.http_refusal()?;
        let body = format!("{self}\n");
        let plain = "text/plain; charset=utf-8";
        let _ =
            crate::protocol::http::write_response(writer, status, headers, plain, body.as_bytes());
        Some(status)
    }

    /// Ends a connection that cannot be served as every server here does:
    /// the refusal written into `writer` if one still fits, and one log
    /// line with the reason and the status. A connection that closed
    /// before its request is a browser's spare, told quietly. The
    /// thread-per-connection listener writes onto the socket; an event
    /// loop into the connection's output.
    pub fn refuse(&self, writer: &mut impl io::Write) {
        if matches!(self, Error::Http(HttpError::ClosedBeforeRequest)) {
            narrate::aside(
                "A connection closed without sending anything (browsers open spare connections ahead of time).",
            );
            return;
        }
        match self.write_refusal(writer) {
            Some(status) => narrate::problem(format!("{self} → answered {status}")),
            None => narrate::problem(self),
        }
    }
}

/// The HTTP status §4.2.2 suggests for each refused handshake, with the
/// headers it must carry: §4.4 says a version we do not speak is answered
/// with the version we do.
fn handshake_refusal(error: &HandshakeError) -> (Status, &'static [(&'static str, &'static str)]) {
    match error {
        HandshakeError::NotGet(_) => (Status::METHOD_NOT_ALLOWED, &[("Allow", "GET")]),
        HandshakeError::ForbiddenOrigin(_) => (Status::FORBIDDEN, &[]),
        HandshakeError::UnsupportedVersion(_) => (
            Status::UPGRADE_REQUIRED,
            &[("Sec-WebSocket-Version", handshake::VERSION)],
        ),
        HandshakeError::HttpVersion(_) => (Status::HTTP_VERSION_NOT_SUPPORTED, &[]),
        HandshakeError::NoUpgradeHeader
        | HandshakeError::NoConnectionUpgrade
        | HandshakeError::MissingKey
        | HandshakeError::BadKey(_)
        | HandshakeError::SeveralHosts(_)
        | HandshakeError::NoHost
        | HandshakeError::RepeatedHeader { .. }
        | HandshakeError::BodyAnnounced(_)
        | HandshakeError::AsteriskTarget
        | HandshakeError::UnusableTarget(_)
        | HandshakeError::FragmentInTarget(_)
        | HandshakeError::HostMismatch { .. } => (Status::BAD_REQUEST, &[]),
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
            Error::Io(error) if crate::protocol::http::is_timeout(error) => match error.get_ref() {
                // A progress rule's own account (`conversation::output_stalled`).
                Some(why) => write!(f, "timed out sending: {why}"),
                None => write!(f, "timed out sending: the peer has stopped reading"),
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refused_handshake_gets_the_status_rfc_6455_suggests() {
        let cases = [
            (HandshakeError::NotGet("POST".into()), 405),
            (HandshakeError::NoUpgradeHeader, 400),
            (HandshakeError::NoConnectionUpgrade, 400),
            (HandshakeError::UnsupportedVersion(Some("8".into())), 426),
            (HandshakeError::MissingKey, 400),
            (HandshakeError::BadKey("c2hvcnQ=".into()), 400),
            (HandshakeError::NoHost, 400),
            (HandshakeError::HttpVersion("HTTP/1.0".into()), 505),
            (
                HandshakeError::RepeatedHeader {
                    name: "Sec-WebSocket-Key",
                    count: 2,
                },
                400,
            ),
            (
                HandshakeError::BodyAnnounced("Content-Length: 5".into()),
                400,
            ),
            (HandshakeError::AsteriskTarget, 400),
            (
                HandshakeError::HostMismatch {
                    target: "evil.example".into(),
                    host: "localhost".into(),
                },
                400,
            ),
            (
                HandshakeError::ForbiddenOrigin("https://evil.example".into()),
                403,
            ),
        ];
        for (error, code) in cases {
            let refusal = Error::Handshake(error.clone()).http_refusal();
            assert_eq!(
                refusal.map(|(status, _)| status.code),
                Some(code),
                "{error}"
            );
        }
    }
}
