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
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::protocol::extension::{self, DeflateAgreement, PERMESSAGE_DEFLATE};
use crate::protocol::frame::{self, FrameError, FrameHeader, Opcode};
use crate::protocol::handshake::{self, VERSION};
use crate::protocol::http::{self, Head, HttpError};
use crate::protocol::session::{OutgoingFrame, Session};

/// How long the client gives the server to accept the connection, then to
/// answer the handshake (all of its answer, however it trickles in), and
/// then, after the handshake, each read ([`Client::set_read_timeout`]
/// changes that one).
pub const TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The server answered `101` in HTTP/1.0, which cannot switch
    /// protocols: `Upgrade` and `101` are HTTP/1.1's (RFC 9110 §7.8,
    /// §15.2).
    NotHttp11(String),
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
    /// The `101` names a subprotocol, and we offered none (RFC 6455 §4.1:
    /// the client then fails the connection).
    Subprotocol(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(error) => write!(f, "could not connect: {error}"),
            ClientError::Response(HttpError::ClosedBeforeRequest) => {
                write!(f, "the server closed the connection without answering")
            }
            ClientError::Response(error) => {
                write!(f, "bad handshake response: {}", response_problem(error))
            }
            ClientError::Refused(status) => write!(f, "the server refused: {status}"),
            ClientError::NotHttp11(status) => write!(
                f,
                "the server answered {status:?}: switching protocols takes HTTP/1.1 (RFC 9110 §7.8), and an HTTP/1.0 answer cannot"
            ),
            ClientError::WrongAccept { expected, got } => write!(
                f,
                "the server answered Sec-WebSocket-Accept {got:?}, expected {expected:?}"
            ),
            ClientError::Extension(why) => write!(f, "the server's extensions: {why}"),
            ClientError::NotUpgraded => write!(
                f,
                "the server's 101 lacks Upgrade: websocket or Connection: Upgrade"
            ),
            ClientError::Subprotocol(protocol) => write!(
                f,
                "the server chose the subprotocol {protocol:?}, and we offered none (RFC 6455 §4.1)"
            ),
        }
    }
}

/// What went wrong with the server's answer, said of a response: the
/// errors are [`http::read_response_head`]'s, whose own words are a server's, about
/// a request.
fn response_problem(error: &HttpError) -> String {
    use crate::protocol::http::{MAX_HEAD_BYTES, MAX_HEADERS};
    match error {
        HttpError::ClosedBeforeRequest => {
            "the server closed the connection without answering".into()
        }
        HttpError::ClosedMidRequest { received } => format!(
            "the server closed the connection halfway through its answer ({received} bytes in)"
        ),
        HttpError::TimedOut { received } => format!(
            "no complete answer within {} s ({received} bytes arrived)",
            TIMEOUT.as_secs()
        ),
        HttpError::HeadTooLarge | HttpError::RequestLineTooLong => {
            format!("the answer's head is larger than {MAX_HEAD_BYTES} bytes")
        }
        HttpError::TooManyHeaders => format!("the answer has more than {MAX_HEADERS} header lines"),
        HttpError::MalformedStartLine(line) | HttpError::VersionNotSupported(line) => {
            format!("malformed status line: {line:?}")
        }
        HttpError::MalformedHeader(line) => format!("malformed header line: {line:?}"),
        HttpError::Io(error) => format!("could not read the answer: {error}"),
    }
}

/// The minor version and status code of a response's status line (RFC
/// 9112 §4): `HTTP/1.x`, three digits, and a reason phrase free of control
/// characters (the line ends up in our log: a server must not send escape
/// sequences to our terminal). `None` if the line is not one.
fn status_line(line: &str) -> Option<(u8, &str)> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let (minor, rest) = rest.split_at_checked(1)?;
    let rest = rest.strip_prefix(' ')?;
    let (code, reason) = rest.split_at_checked(3)?;
    let well_formed = minor.bytes().all(|byte| byte.is_ascii_digit())
        && code.bytes().all(|byte| byte.is_ascii_digit())
        && (reason.is_empty() || reason.starts_with(' '))
        && !reason.chars().any(|c| c.is_control() && c != '\t');
    let minor = minor.parse().ok()?;
    well_formed.then_some((minor, code))
}

/// A reader that gives up at `deadline`, however slowly the bytes come:
/// each read waits only for what is left of the time.
struct BeforeDeadline<'a> {
    reader: &'a mut BufReader<TcpStream>,
    deadline: Instant,
}

impl BeforeDeadline<'_> {
    /// Before a read from the socket: its timeout is the time left.
    fn arm(&self) -> io::Result<()> {
        if !self.reader.buffer().is_empty() {
            return Ok(());
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.reader.get_ref().set_read_timeout(Some(left))
    }
}

impl Read for BeforeDeadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.reader.read(buf)
    }
}

impl BufRead for BeforeDeadline<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.arm()?;
        self.reader.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.reader.consume(amount);
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
    // Every `Sec-WebSocket-Extensions` line, not just the first: a second
    // one may name an extension we never offered.
    let values: Vec<&str> = response.header_values("Sec-WebSocket-Extensions").collect();
    let answers = extension::parse_offers(values.iter().copied());
    match answers.as_slice() {
        [] => Ok(None),
        [answer] if answer.name == PERMESSAGE_DEFLATE => DeflateAgreement::from_response(answer)
            .map(Some)
            .map_err(|why| ClientError::Extension(why.to_string())),
        _ => Err(ClientError::Extension(format!(
            "{:?} answers no offer of ours",
            values.join(", ")
        ))),
    }
}

/// What became of a message the session was asked to compress, as the
/// client tells it: `frame` is the frame the session queued for it.
pub fn compression_outcome(frame: &OutgoingFrame) -> String {
    // When the compressor fails, the session sends the message as it is,
    // RSV1 clear, which §6 allows: say so rather than claim a compression.
    if frame.compressed {
        format!(
            "Compressed to {} bytes, RSV1 set (RFC 7692 §6)",
            frame.payload.len()
        )
    } else {
        format!(
            "Compressing failed: sent uncompressed, {} bytes, RSV1 clear (RFC 7692 §6 allows it)",
            frame.payload.len()
        )
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
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&address, TIMEOUT).map_err(ClientError::Connect)?;
        let timeout = Some(TIMEOUT);
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
        // The whole answer within TIMEOUT, not each read: a server sending
        // a byte now and then cannot keep us for ever.
        let deadline = Instant::now() + TIMEOUT;
        let response = http::read_response_head(&mut BeforeDeadline {
            reader: &mut reader,
            deadline,
        })
        .map_err(ClientError::Response)?;
        reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(ClientError::Connect)?;
        // A later HTTP/1 minor version is read as HTTP/1.1, the highest
        // we speak (RFC 9110 §2.5); HTTP/1.0 has no 101 to give.
        match status_line(&response.start_line) {
            None => {
                return Err(ClientError::Response(HttpError::MalformedStartLine(
                    response.start_line,
                )));
            }
            Some((0, "101")) => return Err(ClientError::NotHttp11(response.start_line)),
            Some((_, "101")) => {}
            Some(_) => return Err(ClientError::Refused(response.start_line)),
        }
        // §4.1: the 101 upgrades to WebSocket, and names no extension we
        // did not offer. Lines with one name are one value (RFC 9110 §5.3):
        // a second `Upgrade` line makes it `websocket, h2c`, not `websocket`.
        let upgrades = matches!(
            response.header_values("Upgrade").collect::<Vec<_>>()[..],
            [value] if value.eq_ignore_ascii_case("websocket")
        );
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
        // We never offer a subprotocol, so the server may choose none.
        if let Some(protocol) = response.header("Sec-WebSocket-Protocol") {
            return Err(ClientError::Subprotocol(protocol.to_string()));
        }
        // Every `Sec-WebSocket-Accept` line, not just the first: two make
        // one value, `right, wrong`, which is not the one (§11.3.3 allows
        // only one).
        let expected = handshake::accept_key(key);
        let got: Vec<&str> = response.header_values("Sec-WebSocket-Accept").collect();
        if got != [expected.as_str()] {
            return Err(ClientError::WrongAccept {
                expected,
                got: (!got.is_empty()).then(|| got.join(", ")),
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
    fn an_answer_must_give_client_max_window_bits_a_value() {
        // RFC 7692 §7.1.2.2: an offer may name the parameter alone; the
        // server's answer, if it names it, gives the window it allows.
        let answer = response_with(Some("permessage-deflate; client_max_window_bits"));
        assert!(
            matches!(deflate_answer(&answer), Err(ClientError::Extension(_))),
            "{:?}",
            deflate_answer(&answer)
        );
    }

    fn status_code(line: &str) -> Option<&str> {
        status_line(line).map(|(_, code)| code)
    }

    #[test]
    fn a_status_line_is_http_1_three_digits_and_no_control_characters() {
        assert_eq!(status_code("HTTP/1.1 101 Switching Protocols"), Some("101"));
        assert_eq!(status_code("HTTP/1.1 101"), Some("101"));
        assert_eq!(status_code("HTTP/1.0 400 Bad Request"), Some("400"));
        for wrong in [
            "HTTP/1.1 1010 Switching Protocols",
            "HTTP/1.1 10",
            "HTTP/2 101",
            "HTTP/1.1 400 \u{1b}[31mred",
            "101 Switching Protocols",
        ] {
            assert_eq!(status_code(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn every_extensions_line_must_answer_our_offer() {
        let text = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: x-evil\r\n\r\n";
        let response = http::read_head(&mut text.as_bytes()).unwrap();
        assert!(matches!(
            deflate_answer(&response),
            Err(ClientError::Extension(why)) if why.contains("x-evil")
        ));
    }

    #[test]
    fn response_errors_speak_of_the_answer_not_a_request() {
        for error in [
            HttpError::TimedOut { received: 3 },
            HttpError::HeadTooLarge,
            HttpError::ClosedMidRequest { received: 3 },
            HttpError::MalformedStartLine("x".into()),
        ] {
            let said = ClientError::Response(error).to_string();
            assert!(!said.contains("request"), "{said}");
        }
    }

    #[test]
    fn a_message_the_compressor_failed_on_is_not_told_as_compressed() {
        // Session::send queues the message uncompressed when compressing
        // fails (RFC 7692 §6 allows it): RSV1 is clear, and the client
        // must not say otherwise.
        let mut frame = OutgoingFrame {
            opcode: Opcode::Text,
            payload: b"Hello".to_vec(),
            compressed: false,
            mask: None,
        };
        let said = compression_outcome(&frame);
        assert!(!said.contains("Compressed to"), "{said}");
        assert!(said.contains("uncompressed"), "{said}");
        frame.compressed = true;
        let said = compression_outcome(&frame);
        assert!(
            said.starts_with("Compressed to 5 bytes, RSV1 set"),
            "{said}"
        );
    }

    #[test]
    fn random_keys_are_valid_and_differ() {
        let key = random_key();
        assert_eq!(BASE64.decode(&key).map(|bytes| bytes.len()), Ok(16));
        assert_ne!(key, random_key());
    }
}
