//! The client side: RFC 6455 §4.1 (opening handshake) and §5.3 (masking).
//!
//! Writing a client is the best test of a server, and the best way to
//! reproduce the article's numbers: the article's bytes depend on the key
//! and the mask its browser happened to choose, and [`Client`] lets the
//! caller choose them instead.
//!
//! After the handshake, a [`Client`] can send and read single frames as
//! they are (what a test of a server needs), or drive a client's
//! [`Session`], the same engine a server uses, in the client's role
//! ([`Client::read_into`], [`Client::send_queued`]).

use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::protocol::extension::{self, DeflateAgreement, PERMESSAGE_DEFLATE};
use crate::protocol::frame::{self, FrameError, FrameHeader, Opcode};
use crate::protocol::handshake::{self, VERSION};
use crate::protocol::http::{self, Head, HttpError};
use crate::protocol::session::Session;

/// The key the article's browser sent with the request it prints.
pub const ARTICLE_KEY: &str = "E4i4gDQc1XTIQcQxvf+ODA==";
/// The mask the article's browser chose for "Can you hear me?".
pub const ARTICLE_MASK: [u8; 4] = [80, 191, 161, 254];

/// Sixteen unpredictable bytes, base64-encoded (§4.1 asks for a fresh
/// random key per connection).
pub fn random_key() -> String {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&random_u64().to_ne_bytes());
    bytes[8..].copy_from_slice(&random_u64().to_ne_bytes());
    BASE64.encode(bytes)
}

/// A fresh mask for one frame (§5.3).
pub fn random_mask() -> [u8; 4] {
    crate::protocol::mask::random_key()
}

/// Randomness from the standard library alone: each `RandomState` is seeded
/// from the operating system. Fine for a tutorial; a browser uses a
/// cryptographic generator, as §10.3 recommends.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// The request a browser would send to open a WebSocket on `host`.
pub fn handshake_request(host: &str, key: &str) -> String {
    request_for(host, "/", key, None)
}

/// The opening request for `path` on `host`, offering `extensions` (a
/// `Sec-WebSocket-Extensions` value, §9.1) if any.
pub fn request_for(host: &str, path: &str, key: &str, extensions: Option<&str>) -> String {
    let offer = extensions
        .map(|value| format!("Sec-WebSocket-Extensions: {value}\r\n"))
        .unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {VERSION}\r\n{offer}\r\n"
    )
}

#[derive(Debug)]
pub enum ClientError {
    Connect(io::Error),
    Response(HttpError),
    /// The server answered, but not with `101 Switching Protocols`.
    Refused(String),
    /// The server's `Sec-WebSocket-Accept` is not the one our key calls for.
    WrongAccept {
        expected: String,
        got: Option<String>,
    },
    /// The server's `Sec-WebSocket-Extensions` is not an answer to our
    /// offer (RFC 7692 §5: the client then fails the connection).
    Extension(String),
    /// The `101` lacks `Upgrade: websocket` or `Connection: Upgrade`
    /// (RFC 6455 §4.1: the client then fails the connection).
    NotUpgraded,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(error) => write!(f, "could not connect: {error}"),
            ClientError::Response(HttpError::ClosedBeforeRequest) => {
                write!(f, "the server closed the connection without answering")
            }
            ClientError::Response(error) => write!(f, "bad handshake response: {error}"),
            ClientError::Refused(status) => write!(f, "the server refused: {status}"),
            ClientError::WrongAccept { expected, got } => write!(
                f,
                "the server answered Sec-WebSocket-Accept {got:?}, expected {expected:?}"
            ),
            ClientError::Extension(why) => write!(f, "the server's extensions: {why}"),
            ClientError::NotUpgraded => write!(
                f,
                "the server's 101 lacks Upgrade: websocket or Connection: Upgrade"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// What a client offers for permessage-deflate: the defaults, and that it
/// can honour a limit on its own window (RFC 7692 §7.1.2.2).
pub const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// What the server's `101` says of our offer of permessage-deflate: the
/// agreement, `None` if it declined, or why its answer is not one a client
/// may accept (§5: an extension we did not offer, or parameters out of
/// place).
pub fn deflate_answer(response: &Head) -> Result<Option<DeflateAgreement>, ClientError> {
    let answers = extension::parse_offers(response.header("Sec-WebSocket-Extensions"));
    match answers.as_slice() {
        [] => Ok(None),
        [answer] if answer.name == PERMESSAGE_DEFLATE => DeflateAgreement::from_offer(answer)
            .map(Some)
            .map_err(|why| ClientError::Extension(why.to_string())),
        _ => Err(ClientError::Extension(format!(
            "{:?} answers no offer of ours",
            response
                .header("Sec-WebSocket-Extensions")
                .unwrap_or_default()
        ))),
    }
}

/// An open WebSocket, from the client's side.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The server's `101` response, as received.
    pub response: Head,
}

impl Client {
    /// Connects to `localhost:port` and performs the opening handshake
    /// with `key`, checking the server's answer.
    pub fn connect(port: u16, key: &str) -> Result<Client, ClientError> {
        Client::connect_to(port, "/", key, None)
    }

    /// Connects to `localhost:port` and opens a WebSocket on `path`,
    /// offering `extensions` if any; the server's answer is in
    /// [`Client::response`].
    pub fn connect_to(
        port: u16,
        path: &str,
        key: &str,
        extensions: Option<&str>,
    ) -> Result<Client, ClientError> {
        let stream =
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(ClientError::Connect)?;
        let timeout = Some(Duration::from_secs(10));
        stream
            .set_read_timeout(timeout)
            .map_err(ClientError::Connect)?;
        stream
            .set_write_timeout(timeout)
            .map_err(ClientError::Connect)?;
        stream.set_nodelay(true).map_err(ClientError::Connect)?;
        let mut writer = stream.try_clone().map_err(ClientError::Connect)?;
        let mut reader = BufReader::new(stream);

        let request = request_for(&format!("localhost:{port}"), path, key, extensions);
        writer
            .write_all(request.as_bytes())
            .map_err(ClientError::Connect)?;
        let response = http::read_head(&mut reader).map_err(ClientError::Response)?;
        if !response.start_line.starts_with("HTTP/1.1 101") {
            return Err(ClientError::Refused(response.start_line));
        }
        // §4.1: the 101 upgrades to WebSocket, and names no extension we
        // did not offer.
        let upgrades = response
            .header("Upgrade")
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("websocket"));
        if !upgrades || !response.header_has_token("Connection", "upgrade") {
            return Err(ClientError::NotUpgraded);
        }
        if extensions.is_none()
            && let Some(answer) = response.header("Sec-WebSocket-Extensions")
        {
            return Err(ClientError::Extension(format!(
                "{answer:?} answers no offer of ours"
            )));
        }
        let expected = handshake::accept_key(key);
        let got = response.header("Sec-WebSocket-Accept");
        if got != Some(expected.as_str()) {
            return Err(ClientError::WrongAccept {
                expected,
                got: got.map(str::to_string),
            });
        }
        Ok(Client {
            reader,
            writer,
            response,
        })
    }

    /// Sends one frame masked with `mask` and returns the bytes that went
    /// on the wire.
    pub fn send(
        &mut self,
        fin: bool,
        opcode: Opcode,
        payload: &[u8],
        mask: [u8; 4],
    ) -> io::Result<Vec<u8>> {
        let bytes = frame::encode(fin, opcode, Some(mask), payload);
        self.send_raw(&bytes)?;
        Ok(bytes)
    }

    /// Sends bytes as they are: for tests that need a frame no well-behaved
    /// client would send.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Reads the next frame from the server.
    pub fn receive(&mut self) -> Result<(FrameHeader, Vec<u8>), FrameError> {
        let header = frame::read_header(&mut self.reader)?;
        let payload = frame::read_payload(&mut self.reader, &header)?;
        Ok((header, payload))
    }

    /// Sends, in order, the frames `session` has queued, each masked as a
    /// client's session masks it.
    pub fn send_queued(&mut self, session: &mut Session) -> io::Result<()> {
        for frame in session.take_outgoing() {
            self.writer.write_all(&frame.to_bytes())?;
        }
        self.writer.flush()
    }

    /// Reads once from the server into `session`: the bytes that came, or
    /// the end of the stream. A read that fails, the read timeout
    /// included, is the caller's to decide about.
    pub fn read_into(&mut self, session: &mut Session) -> io::Result<()> {
        match self.reader.read(session.buffer()) {
            Ok(0) => session.end_of_stream(),
            Ok(count) => session.filled(count),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// Once the conversation is over: waits for the server to close TCP
    /// first, as it should (§7.1.1), discarding anything more it sends, for
    /// `within` at most (then a `TimedOut` error): a server that keeps
    /// sending cannot keep us for ever.
    pub fn wait_for_close(&mut self, within: Duration) -> io::Result<()> {
        let deadline = Instant::now() + within;
        let mut discard = [0; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.writer.set_read_timeout(Some(left))?;
            match self.reader.read(&mut discard) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Changes how long [`Client::receive`] waits.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.writer.set_read_timeout(timeout)
    }
}

/// A masking key written as four numbers, `80,191,161,254`, as the article
/// prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskKey(pub [u8; 4]);

impl std::str::FromStr for MaskKey {
    type Err = String;

    fn from_str(text: &str) -> Result<MaskKey, String> {
        let numbers: Vec<u8> = text
            .trim_matches(['[', ']'])
            .split(',')
            .map(|part| part.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|error| error.to_string())?;
        let key: [u8; 4] = numbers
            .try_into()
            .map_err(|_| "a mask is four numbers".to_string())?;
        Ok(MaskKey(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keys_parse_as_the_article_prints_them() {
        assert_eq!("80,191,161,254".parse(), Ok(MaskKey(ARTICLE_MASK)));
        assert_eq!("[80, 191, 161, 254]".parse(), Ok(MaskKey(ARTICLE_MASK)));
        assert!("80,191,161".parse::<MaskKey>().is_err());
        assert!("80,191,161,256".parse::<MaskKey>().is_err());
    }

    fn response_with(extensions: Option<&str>) -> Head {
        let mut text = String::from("HTTP/1.1 101 Switching Protocols\r\n");
        if let Some(value) = extensions {
            text.push_str(&format!("Sec-WebSocket-Extensions: {value}\r\n"));
        }
        text.push_str("\r\n");
        http::read_head(&mut text.as_bytes()).unwrap()
    }

    #[test]
    fn a_deflate_answer_is_accepted_only_if_it_answers_our_offer() {
        assert!(matches!(deflate_answer(&response_with(None)), Ok(None)));
        let agreed = deflate_answer(&response_with(Some(
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
        )));
        let Ok(Some(agreement)) = agreed else {
            panic!("{agreed:?}");
        };
        assert!(agreement.server_no_context_takeover);
        assert_eq!(agreement.client_max_window_bits, Some(10));
        for wrong in [
            "x-webkit-deflate-frame",
            "permessage-deflate; colour=blue",
            "permessage-deflate, permessage-deflate",
        ] {
            assert!(
                matches!(
                    deflate_answer(&response_with(Some(wrong))),
                    Err(ClientError::Extension(_))
                ),
                "{wrong}"
            );
        }
    }

    #[test]
    fn random_keys_are_valid_and_differ() {
        let key = random_key();
        assert_eq!(BASE64.decode(&key).map(|bytes| bytes.len()), Ok(16));
        assert_ne!(key, random_key());
    }
}
