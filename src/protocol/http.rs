//! Reading an HTTP/1.1 message head, and writing a response.
//!
//! A WebSocket connection begins life as an ordinary HTTP `GET`
//! (RFC 6455 §1.3, §4.1 and §4.2.1; the message syntax itself is RFC 9112
//! §2–§5). The head is a start line, then header lines, then an empty line.
//!
//! The article reads lines until it sees a blank one. That trusts the peer:
//! a client that never sends the blank line, or sends a megabyte of headers,
//! would be buffered forever. Here the head is bounded — at most
//! [`MAX_HEAD_BYTES`] bytes and [`MAX_HEADERS`] header lines — and every way
//! it can go wrong is an [`HttpError`] that knows which status to answer.

use std::fmt;
use std::io::{self, BufRead, Read, Write};

/// Largest request head we buffer (431 beyond it, as most servers do).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header lines we accept (431 beyond it).
pub const MAX_HEADERS: usize = 100;

/// One `Name: value` header line. Names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A message head: the start line and the header lines, as received.
#[derive(Debug, Clone)]
pub struct Head {
    pub start_line: String,
    pub headers: Vec<Header>,
}

impl Head {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.as_str())
    }

    /// The value of every header with this name, in order: a list header
    /// (RFC 9110 §5.3) may come on several lines.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.as_str())
    }

    /// Whether a comma-separated header such as `Connection: keep-alive, Upgrade`
    /// holds `token`, case-insensitively, in any of its lines.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    }

    /// The head as text, one line per header, without the final blank line.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.start_line.clone()).chain(
            self.headers
                .iter()
                .map(|header| format!("{}: {}", header.name, header.value)),
        )
    }
}

/// A parsed request head: `GET /chat HTTP/1.1` plus headers.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub version: String,
    pub head: Head,
}

impl Request {
    /// Shorthand for [`Head::header`].
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

/// Something was wrong with the request head, or it never fully arrived.
#[derive(Debug)]
pub enum HttpError {
    /// The peer closed the connection before sending anything at all.
    /// Browsers do this with the spare connections they open ahead of time.
    ClosedBeforeRequest,
    /// The peer closed the connection partway through the head.
    ClosedMidRequest {
        received: usize,
    },
    /// Nothing complete arrived before the read timeout.
    TimedOut {
        received: usize,
    },
    HeadTooLarge,
    /// The request line alone is over [`MAX_HEAD_BYTES`] (RFC 9112 §3: 414).
    RequestLineTooLong,
    TooManyHeaders,
    /// A well-formed `HTTP/x.y` that is not HTTP/1 (RFC 9110 §15.6.6: 505).
    VersionNotSupported(String),
    MalformedStartLine(String),
    MalformedHeader(String),
    Io(io::Error),
}

impl HttpError {
    /// The status to answer with, when answering still makes sense.
    pub fn status(&self) -> Option<Status> {
        match self {
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => {
                Some(Status::HEADER_FIELDS_TOO_LARGE)
            }
            HttpError::RequestLineTooLong => Some(Status::URI_TOO_LONG),
            HttpError::VersionNotSupported(_) => Some(Status::HTTP_VERSION_NOT_SUPPORTED),
            HttpError::MalformedStartLine(_) | HttpError::MalformedHeader(_) => {
                Some(Status::BAD_REQUEST)
            }
            HttpError::TimedOut { .. } => Some(Status::REQUEST_TIMEOUT),
            HttpError::ClosedBeforeRequest
            | HttpError::ClosedMidRequest { .. }
            | HttpError::Io(_) => None,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::ClosedBeforeRequest => {
                write!(
                    f,
                    "the peer closed the connection without sending a request"
                )
            }
            HttpError::ClosedMidRequest { received } => write!(
                f,
                "the peer closed the connection halfway through its request ({received} bytes in)"
            ),
            HttpError::TimedOut { received } => write!(
                f,
                "timed out waiting for a complete request ({received} bytes arrived)"
            ),
            HttpError::HeadTooLarge => {
                write!(f, "the request head is larger than {MAX_HEAD_BYTES} bytes")
            }
            HttpError::TooManyHeaders => {
                write!(f, "the request has more than {MAX_HEADERS} header lines")
            }
            HttpError::RequestLineTooLong => write!(
                f,
                "the request line is longer than {MAX_HEAD_BYTES} bytes (RFC 9112 §3)"
            ),
            HttpError::VersionNotSupported(version) => write!(
                f,
                "the request is {version}; this server speaks HTTP/1.1 (RFC 9110 §15.6.6)"
            ),
            HttpError::MalformedStartLine(line) => {
                write!(f, "malformed request line: {line:?}")
            }
            HttpError::MalformedHeader(line) => write!(f, "malformed header line: {line:?}"),
            HttpError::Io(error) => write!(f, "could not read the request: {error}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Whether an I/O error means "the read timeout expired".
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// How much of a message head has arrived: its limits are checked line by
/// line, so a peer can never make us buffer more than [`MAX_HEAD_BYTES`]
/// or read more than [`MAX_HEADERS`] header lines.
#[derive(Debug, Default)]
pub struct HeadSoFar {
    received: usize,
    lines: usize,
}

impl HeadSoFar {
    /// How many more bytes the head may take.
    fn room(&self) -> usize {
        MAX_HEAD_BYTES - self.received
    }

    /// The error for a head that reached [`MAX_HEAD_BYTES`] without a line
    /// end: still in its request line, or past it.
    fn too_large(&self) -> HttpError {
        if self.lines == 0 {
            HttpError::RequestLineTooLong
        } else {
            HttpError::HeadTooLarge
        }
    }

    /// Counts a whole line, given without its line ending: the start line,
    /// then at most [`MAX_HEADERS`] header lines before the blank one.
    fn count_line(&mut self, line: &[u8]) -> Result<(), HttpError> {
        if !line.is_empty() {
            self.lines += 1;
            if self.lines > MAX_HEADERS + 1 {
                return Err(HttpError::TooManyHeaders);
            }
        }
        Ok(())
    }
}

/// Reads the next line of a message head, without its line ending: an
/// empty line is the blank line that ends the head.
///
/// Only that line is consumed: whatever follows the head (a WebSocket frame
/// sent in the same TCP segment as the handshake, say) stays in `reader`'s
/// buffer for the next read. That is why the whole connection reads
/// through one `BufReader`.
pub fn read_head_line(
    reader: &mut impl BufRead,
    so_far: &mut HeadSoFar,
) -> Result<String, HttpError> {
    let mut line = Vec::new();
    let budget = so_far.room() as u64;
    let count = match reader.by_ref().take(budget).read_until(b'\n', &mut line) {
        Ok(count) => count,
        Err(error) if is_timeout(&error) => {
            return Err(HttpError::TimedOut {
                received: so_far.received + line.len(),
            });
        }
        Err(error) => return Err(HttpError::Io(error)),
    };
    so_far.received += count;
    if !line.ends_with(b"\n") {
        return Err(if so_far.received >= MAX_HEAD_BYTES {
            so_far.too_large()
        } else if so_far.received == 0 {
            HttpError::ClosedBeforeRequest
        } else {
            HttpError::ClosedMidRequest {
                received: so_far.received,
            }
        });
    }
    // The line ending goes: `\n`, and any `\r` before it.
    line.pop();
    while line.ends_with(b"\r") {
        line.pop();
    }
    so_far.count_line(&line)?;
    // Valid UTF-8 becomes the line as it is, without a copy.
    Ok(String::from_utf8(line)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
}

/// Reads one message head, byte-bounded and line-bounded: a start line,
/// then header lines up to the blank one.
pub fn read_head(reader: &mut impl BufRead) -> Result<Head, HttpError> {
    let mut so_far = HeadSoFar::default();
    let start_line = read_head_line(reader, &mut so_far)?;
    let mut header_lines = Vec::new();
    loop {
        let line = read_head_line(reader, &mut so_far)?;
        if line.is_empty() {
            break;
        }
        header_lines.push(line);
    }
    Head::from_lines(start_line, &header_lines)
}

/// [`read_head`] for a response: a header line folded onto the next (a
/// line that starts with a space or a tab, the obsolete line folding) is
/// joined to it with one space, as RFC 9112 §5.2 asks of a user agent
/// (a server refuses a folded request instead). A fold before the first
/// header has nothing to join, and stays malformed (RFC 9112 §2.2).
pub fn read_response_head(reader: &mut impl BufRead) -> Result<Head, HttpError> {
    let mut so_far = HeadSoFar::default();
    let start_line = read_head_line(reader, &mut so_far)?;
    let mut header_lines: Vec<String> = Vec::new();
    loop {
        let line = read_head_line(reader, &mut so_far)?;
        if line.is_empty() {
            break;
        }
        match header_lines.last_mut() {
            Some(previous) if line.starts_with([' ', '\t']) => {
                previous.push(' ');
                previous.push_str(line.trim_start_matches([' ', '\t']));
            }
            _ => header_lines.push(line),
        }
    }
    Head::from_lines(start_line, &header_lines)
}

/// Reads a request head and checks its request line (`METHOD target HTTP/1.x`).
pub fn read_request(reader: &mut impl BufRead) -> Result<Request, HttpError> {
    Request::from_head(read_head(reader)?)
}

/// [`read_request`], ignoring one empty line before the request line, as
/// RFC 9112 §2.2 asks of a server (some clients send a stray CRLF after a
/// previous message). Only one: a peer sending nothing but empty lines
/// still gets 400. What chapters 10 and up read a request with.
pub fn read_request_after_empty_line(reader: &mut impl BufRead) -> Result<Request, HttpError> {
    let mut so_far = HeadSoFar::default();
    let mut start_line = read_head_line(reader, &mut so_far)?;
    if start_line.is_empty() {
        start_line = read_head_line(reader, &mut so_far)?;
        if start_line.is_empty() {
            return Err(HttpError::MalformedStartLine(start_line));
        }
    }
    let mut header_lines = Vec::new();
    loop {
        let line = read_head_line(reader, &mut so_far)?;
        if line.is_empty() {
            break;
        }
        header_lines.push(line);
    }
    Request::from_head(Head::from_lines(start_line, &header_lines)?)
}

/// Parses a request head from the bytes that have arrived so far, for a
/// server that cannot block until the rest comes (an event loop, chapter
/// 13). `Ok(None)`: the head is not complete yet, and within the limits;
/// `Ok(Some((request, used)))`: the head took the first `used` bytes, and
/// whatever follows (a first frame) is the caller's. The limits and the
/// errors are [`read_request`]'s, checked line by line as before, and one
/// empty line before the request line is ignored, as
/// [`read_request_after_empty_line`] does.
///
/// It reads the lines where they are: the first pass finds them and
/// checks the limits, copying nothing, so that a head still arriving costs
/// no allocation; only a whole head is copied into its [`Request`].
pub fn parse_request(bytes: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
    let mut lines = LinesSoFar::new(bytes);
    let Some(mut start_line) = lines.next()? else {
        return Ok(None);
    };
    if start_line.is_empty() {
        let Some(second) = lines.next()? else {
            return Ok(None);
        };
        if second.is_empty() {
            return Err(HttpError::MalformedStartLine(String::new()));
        }
        start_line = second;
    }
    let headers_start = lines.used;
    let mut header_count = 0;
    loop {
        let Some(line) = lines.next()? else {
            return Ok(None);
        };
        if line.is_empty() {
            break;
        }
        header_count += 1;
    }
    let used = lines.used;
    let header_lines = bytes[headers_start..used]
        .split(|&byte| byte == b'\n')
        .map(without_carriage_returns)
        .take(header_count);
    let mut headers = Vec::with_capacity(header_count);
    for line in header_lines {
        headers.push(parse_header(&String::from_utf8_lossy(line))?);
    }
    let head = Head {
        start_line: String::from_utf8_lossy(start_line).into_owned(),
        headers,
    };
    Ok(Some((Request::from_head(head)?, used)))
}

/// The lines of a head among the bytes that have arrived, found where
/// they are, with [`read_head_line`]'s limits and errors.
struct LinesSoFar<'a> {
    bytes: &'a [u8],
    used: usize,
    so_far: HeadSoFar,
}

impl<'a> LinesSoFar<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LinesSoFar {
            bytes,
            used: 0,
            so_far: HeadSoFar::default(),
        }
    }

    /// The next line, without its line ending; `None` while it has not
    /// all arrived.
    fn next(&mut self) -> Result<Option<&'a [u8]>, HttpError> {
        let rest = &self.bytes[self.used..];
        let within = &rest[..rest.len().min(self.so_far.room())];
        let Some(end) = within.iter().position(|&byte| byte == b'\n') else {
            self.so_far.received += within.len();
            if self.so_far.received >= MAX_HEAD_BYTES {
                return Err(self.so_far.too_large());
            }
            return Ok(None);
        };
        self.used += end + 1;
        self.so_far.received += end + 1;
        let line = without_carriage_returns(&within[..end]);
        self.so_far.count_line(line)?;
        Ok(Some(line))
    }
}

/// A line without the `\r`s before its `\n`, as [`read_head_line`] takes them off.
fn without_carriage_returns(mut line: &[u8]) -> &[u8] {
    while let [before @ .., b'\r'] = line {
        line = before;
    }
    line
}

impl Head {
    /// A head from its lines as they arrived, each header line parsed.
    pub fn from_lines(start_line: String, header_lines: &[String]) -> Result<Head, HttpError> {
        let headers = header_lines
            .iter()
            .map(|line| parse_header(line))
            .collect::<Result<_, _>>()?;
        Ok(Head {
            start_line,
            headers,
        })
    }
}

impl Request {
    /// Checks the start line of a head that should be a request.
    pub fn from_head(head: Head) -> Result<Request, HttpError> {
        let mut parts = head.start_line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HttpError::MalformedStartLine(head.start_line));
        };
        let method_is_token = !method.is_empty() && method.bytes().all(is_token_byte);
        // No control characters: the request line ends up in our log, and a
        // peer must not be able to send escape sequences to our terminal.
        let target_is_clean = !target.is_empty() && !target.chars().any(char::is_control);
        // RFC 9112 §2.3: exactly `HTTP/1.` and one digit, so nothing else
        // (an escape sequence, say) can ride along into the log.
        let version_is_http1 = version.len() == 8
            && version.starts_with("HTTP/1.")
            && version.as_bytes()[7].is_ascii_digit();
        // Another version, well formed (`HTTP/` digit `.` digit), is 505.
        let version_is_http = version.len() == 8
            && version.starts_with("HTTP/")
            && version.as_bytes()[5].is_ascii_digit()
            && version.as_bytes()[6] == b'.'
            && version.as_bytes()[7].is_ascii_digit();
        if method_is_token && target_is_clean && version_is_http && !version_is_http1 {
            return Err(HttpError::VersionNotSupported(version.to_string()));
        }
        if !method_is_token || !target_is_clean || !version_is_http1 {
            return Err(HttpError::MalformedStartLine(head.start_line.clone()));
        }
        Ok(Request {
            method: method.to_string(),
            target: target.to_string(),
            version: version.to_string(),
            head,
        })
    }

    /// A request from the lines of its head, as they arrived (chapter 1
    /// reads them itself).
    pub fn from_lines(lines: &[String]) -> Result<Request, HttpError> {
        let (start_line, header_lines) = match lines {
            [start_line, header_lines @ ..] => (start_line.clone(), header_lines),
            [] => (String::new(), &[][..]),
        };
        Request::from_head(Head::from_lines(start_line, header_lines)?)
    }
}

/// Takes an absolute-form target apart (RFC 9112 §3.2.2): `ws://host:port/path?query`
/// gives the authority `host:port` and the path `/path?query` (`/` when the
/// URI has none). The schemes a WebSocket may be asked for are `ws`, `wss`,
/// `http` and `https`; a user name before `@` is refused (RFC 9110 §4.2.4).
pub fn split_absolute_target(target: &str) -> Option<(&str, String)> {
    let (scheme, rest) = target.split_once("://")?;
    if !["ws", "wss", "http", "https"]
        .iter()
        .any(|known| scheme.eq_ignore_ascii_case(known))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') || path.starts_with('#') {
        return None;
    }
    Some(match path.strip_prefix('?') {
        Some(_) => (authority, format!("/{path}")),
        None if path.is_empty() => (authority, "/".to_string()),
        None => (authority, path.to_string()),
    })
}

fn parse_header(line: &str) -> Result<Header, HttpError> {
    let malformed = || HttpError::MalformedHeader(line.to_string());
    let (name, value) = line.split_once(':').ok_or_else(malformed)?;
    // A name must be a token: no spaces, no leading whitespace (that would be
    // the obsolete line folding RFC 9112 §5.2 tells servers to reject).
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(malformed());
    }
    // RFC 9110 §5.5: no control characters in a value but tab (a bare CR
    // included, RFC 9112 §2.2). They would also reach our log unescaped.
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(malformed());
    }
    Ok(Header {
        name: name.to_string(),
        value: value.trim_matches([' ', '\t']).to_string(),
    })
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// An HTTP status code and its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
}

impl Status {
    pub const SWITCHING_PROTOCOLS: Status = Status::new(101, "Switching Protocols");
    pub const OK: Status = Status::new(200, "OK");
    pub const BAD_REQUEST: Status = Status::new(400, "Bad Request");
    pub const FORBIDDEN: Status = Status::new(403, "Forbidden");
    pub const NOT_FOUND: Status = Status::new(404, "Not Found");
    pub const METHOD_NOT_ALLOWED: Status = Status::new(405, "Method Not Allowed");
    pub const REQUEST_TIMEOUT: Status = Status::new(408, "Request Timeout");
    pub const UPGRADE_REQUIRED: Status = Status::new(426, "Upgrade Required");
    pub const URI_TOO_LONG: Status = Status::new(414, "URI Too Long");
    pub const HEADER_FIELDS_TOO_LARGE: Status = Status::new(431, "Request Header Fields Too Large");
    pub const SERVICE_UNAVAILABLE: Status = Status::new(503, "Service Unavailable");
    pub const HTTP_VERSION_NOT_SUPPORTED: Status = Status::new(505, "HTTP Version Not Supported");

    const fn new(code: u16, reason: &'static str) -> Status {
        Status { code, reason }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.reason)
    }
}

/// Builds a response head. Every line ends in CRLF, as HTTP requires; the
/// article's Ruby heredoc sends bare LF, which browsers forgive but the
/// RFC does not promise.
pub fn response_head(status: Status, headers: &[(&str, &str)]) -> String {
    let length: usize = headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum();
    let mut head = String::with_capacity(length + 64);
    head.push_str("HTTP/1.1 ");
    // The code's digits, without `fmt` (a status code has three, RFC 9110 §15).
    for place in [10_000, 1_000, 100, 10, 1] {
        if status.code >= place || place == 1 {
            head.push(char::from(b'0' + (status.code / place % 10) as u8));
        }
    }
    for piece in [" ", status.reason, "\r\n"] {
        head.push_str(piece);
    }
    for (name, value) in headers {
        for piece in [name, ": ", value, "\r\n"] {
            head.push_str(piece);
        }
    }
    head.push_str("\r\n");
    head
}

/// Writes a complete response that ends the connection: head, then body.
pub fn write_response(
    writer: &mut impl Write,
    status: Status,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let length = body.len().to_string();
    let mut all_headers = vec![
        ("Content-Type", content_type),
        ("Content-Length", length.as_str()),
        ("Connection", "close"),
    ];
    all_headers.extend_from_slice(headers);
    writer.write_all(response_head(status, &all_headers).as_bytes())?;
    writer.write_all(body)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Request, HttpError> {
        read_request(&mut io::BufReader::new(bytes))
    }

    #[test]
    fn reads_the_articles_request_and_leaves_the_rest() {
        let bytes = b"GET / HTTP/1.1\r\nHost: localhost:2345\r\nupgrade: websocket\r\n\r\n\x81\x80";
        let mut reader = io::BufReader::new(&bytes[..]);
        let request = read_request(&mut reader).unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.header("Upgrade"), Some("websocket"));
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"\x81\x80");
    }

    #[test]
    fn a_head_parses_from_whatever_has_arrived() {
        let bytes = b"GET / HTTP/1.1\r\nHost: localhost:2345\r\nupgrade: websocket\r\n\r\n\x81\x80";
        let head_len = bytes.len() - 2;
        for cut in 0..head_len {
            assert!(
                matches!(parse_request(&bytes[..cut]), Ok(None)),
                "incomplete at {cut} bytes"
            );
        }
        let (request, used) = parse_request(bytes).unwrap().unwrap();
        assert_eq!(used, head_len);
        assert_eq!(request.header("Upgrade"), Some("websocket"));
        assert_eq!(&bytes[used..], b"\x81\x80");
    }

    #[test]
    fn a_partial_head_already_over_the_limits_is_refused() {
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.extend(vec![b'a'; MAX_HEAD_BYTES]);
        assert!(matches!(parse_request(&long), Err(HttpError::HeadTooLarge)));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        assert!(matches!(
            parse_request(&many),
            Err(HttpError::TooManyHeaders)
        ));
        assert!(matches!(
            parse_request(b"hello\r\n\r\n"),
            Err(HttpError::MalformedStartLine(_))
        ));
    }

    /// What [`parse_request`] must agree with: the blocking reader of
    /// chapters 10 and up, given the bytes that have arrived.
    fn parse_request_by_reading(bytes: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
        let mut rest = bytes;
        match read_request_after_empty_line(&mut rest) {
            Ok(request) => Ok(Some((request, bytes.len() - rest.len()))),
            Err(HttpError::ClosedBeforeRequest | HttpError::ClosedMidRequest { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn assert_parsed_as_read(bytes: &[u8]) {
        let parsed = format!("{:?}", parse_request(bytes));
        let read = format!("{:?}", parse_request_by_reading(bytes));
        assert_eq!(parsed, read, "for {:?}", String::from_utf8_lossy(bytes));
    }

    #[test]
    fn a_head_parsed_where_it_lies_is_the_head_the_reader_reads() {
        let lines: [&[u8]; 14] = [
            b"GET / HTTP/1.1",
            b"GET /chat HTTP/1.0",
            b"",
            b"Host: localhost:2345",
            b"upgrade:websocket",
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            b"X:\t spaced \t",
            b"X: a\rb",
            b" folded: no",
            b"no colon",
            b"Caf\xc3\xa9: ol\xe9",
            b"\xff\xfe",
            b"GET /\x1b[31m HTTP/1.1",
            b"GET  / HTTP/1.1",
        ];
        let endings: [&[u8]; 4] = [b"\r\n", b"\n", b"\r\r\n", b"\r"];
        // A small generator of its own, so that every run checks the same heads.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        for _ in 0..600 {
            let mut bytes = Vec::new();
            for _ in 0..next(7) {
                bytes.extend_from_slice(lines[next(lines.len())]);
                bytes.extend_from_slice(endings[next(endings.len())]);
            }
            bytes.extend_from_slice(b"\r\n\x81\x80");
            for cut in 0..=bytes.len() {
                assert_parsed_as_read(&bytes[..cut]);
            }
        }
        // One stray empty line, however it ends, then a head and a frame.
        for stray in endings {
            let mut bytes = stray.to_vec();
            bytes.extend_from_slice(b"GET / HTTP/1.1\r\r\nHost: a\n\r\n\x81\x80");
            for cut in 0..=bytes.len() {
                assert_parsed_as_read(&bytes[..cut]);
            }
        }
        // Near the limits (header lines around MAX_HEADERS, bytes around
        // MAX_HEAD_BYTES), with and without a stray empty line first.
        for stray in [&b""[..], b"\r\n"] {
            assert_limits_parsed_as_read(stray);
        }
    }

    fn assert_limits_parsed_as_read(stray: &[u8]) {
        for extra in [0, 1, 2] {
            let mut many = [stray, b"GET / HTTP/1.1\r\n"].concat();
            for _ in 0..MAX_HEADERS - 1 + extra {
                many.extend_from_slice(b"X: y\r\n");
            }
            many.extend_from_slice(b"\r\n");
            assert_parsed_as_read(&many);
            assert_parsed_as_read(&many[..many.len() - 2]);
        }
        let start = [stray, b"GET / HTTP/1.1\r\nX: "].concat();
        for length in MAX_HEAD_BYTES - start.len() - 6..MAX_HEAD_BYTES - start.len() + 2 {
            let mut long = start.to_vec();
            long.resize(start.len() + length, b'a');
            long.extend_from_slice(b"\r\n\r\n");
            for cut in long.len() - 8..=long.len() {
                assert_parsed_as_read(&long[..cut]);
            }
        }
    }

    #[test]
    fn one_empty_line_before_the_request_line_is_ignored_not_two() {
        let request = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let read = read_request_after_empty_line(&mut &request[..]).unwrap();
        assert_eq!(read.target, "/");
        let (parsed, used) = parse_request(request).unwrap().unwrap();
        assert_eq!((parsed.header("Host"), used), (Some("a"), request.len()));
        assert!(matches!(parse_request(b"\r\n"), Ok(None)));
        assert!(matches!(
            parse_request(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
            Err(HttpError::MalformedStartLine(_))
        ));
        // Chapters 1 to 9 read as the article does: the empty line is the request.
        assert!(matches!(parse(request), Err(HttpError::MalformedHeader(_))));
    }

    #[test]
    fn a_response_may_fold_a_header_a_request_may_not() {
        let text = b"HTTP/1.1 101 Switching Protocols\r\nConnection: keep-alive,\r\n \t Upgrade\r\nX: a\r\n\tb\r\n\r\n";
        let head = read_response_head(&mut &text[..]).unwrap();
        assert!(head.header_has_token("Connection", "upgrade"));
        assert_eq!(head.header("X"), Some("a b"));
        assert!(matches!(
            read_head(&mut &text[..]),
            Err(HttpError::MalformedHeader(_))
        ));
        // Before the first header, a fold has nothing to join.
        let first = b"HTTP/1.1 101 Switching Protocols\r\n X: a\r\n\r\n";
        assert!(matches!(
            read_response_head(&mut &first[..]),
            Err(HttpError::MalformedHeader(_))
        ));
    }

    #[test]
    fn tokens_are_found_in_comma_lists() {
        let request = parse(b"GET / HTTP/1.1\r\nConnection: keep-alive, UPGRADE\r\n\r\n").unwrap();
        assert!(request.head.header_has_token("connection", "upgrade"));
        assert!(!request.head.header_has_token("connection", "close"));
    }

    #[test]
    fn another_version_is_505_and_a_request_line_over_the_limit_414() {
        let error = parse(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n").unwrap_err();
        assert_eq!(
            error.status(),
            Some(Status::HTTP_VERSION_NOT_SUPPORTED),
            "{error}"
        );
        // Not well formed: still 400.
        let error = parse(b"GET / HTTP/2\r\nHost: a\r\n\r\n").unwrap_err();
        assert_eq!(error.status(), Some(Status::BAD_REQUEST), "{error}");
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        for error in [
            parse(long.as_bytes()).unwrap_err(),
            parse_request(long.as_bytes()).unwrap_err(),
        ] {
            assert_eq!(error.status(), Some(Status::URI_TOO_LONG), "{error}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.extend(vec![b'a'; MAX_HEAD_BYTES]);
        assert!(matches!(parse(&long), Err(HttpError::HeadTooLarge)));

        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&many), Err(HttpError::TooManyHeaders)));

        // Exactly MAX_HEADERS header lines are within the limit, for both readers.
        let mut most = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..MAX_HEADERS {
            most.extend_from_slice(b"X: y\r\n");
        }
        most.extend_from_slice(b"\r\n");
        assert_eq!(parse(&most).unwrap().head.headers.len(), MAX_HEADERS);
        let (request, used) = parse_request(&most).unwrap().unwrap();
        assert_eq!(
            (request.head.headers.len(), used),
            (MAX_HEADERS, most.len())
        );
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        assert!(matches!(parse(b""), Err(HttpError::ClosedBeforeRequest)));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost"),
            Err(HttpError::ClosedMidRequest { received: 20 })
        ));
        assert!(matches!(
            parse(b"hello\r\n\r\n"),
            Err(HttpError::MalformedStartLine(_))
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n folded: no\r\n\r\n"),
            Err(HttpError::MalformedHeader(_))
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"),
            Err(HttpError::MalformedHeader(_))
        ));
        assert!(matches!(
            parse(b"GET /\x1b[31m HTTP/1.1\r\n\r\n"),
            Err(HttpError::MalformedStartLine(_))
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\x1b[31m\r\n\r\n"),
            Err(HttpError::MalformedStartLine(_))
        ));
    }

    #[test]
    fn a_head_of_eight_kib_is_read_and_one_byte_more_is_431() {
        let start = b"GET / HTTP/1.1\r\nX: ";
        for (size, fits) in [(8 * 1024, true), (8 * 1024 + 1, false)] {
            let mut head = start.to_vec();
            head.resize(size - 4, b'a');
            head.extend_from_slice(b"\r\n\r\n");
            assert_eq!(head.len(), size);
            let read = parse(&head);
            let parsed = parse_request(&head);
            if fits {
                assert_eq!(
                    read.unwrap().head.headers[0].value.len(),
                    size - 4 - start.len()
                );
                assert_eq!(parsed.unwrap().unwrap().1, size);
            } else {
                for error in [read.unwrap_err(), parsed.unwrap_err()] {
                    assert!(matches!(error, HttpError::HeadTooLarge), "{error}");
                    assert_eq!(error.status(), Some(Status::HEADER_FIELDS_TOO_LARGE));
                }
            }
        }
    }

    #[test]
    fn each_error_says_what_went_wrong_with_its_numbers() {
        let cases = [
            (parse(b"GET / HTTP/1.1\r\nHost"), "20 bytes"),
            (parse(b"GET / HTTP/2.0\r\n\r\n"), "HTTP/2.0"),
            (parse(b"hello\r\n\r\n"), "\"hello\""),
            (parse(b"GET / HTTP/1.1\r\n: x\r\n\r\n"), "\": x\""),
            (parse(&[b'a'; MAX_HEAD_BYTES]), "RFC 9112 §3"),
        ];
        for (result, expected) in cases {
            let message = result.unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn the_lines_of_a_head_are_its_start_line_then_one_per_header() {
        let request =
            parse(b"GET /chat HTTP/1.1\r\nHost:  a \r\nupgrade:websocket\r\n\r\n").unwrap();
        assert_eq!(
            request.head.lines().collect::<Vec<_>>(),
            ["GET /chat HTTP/1.1", "Host: a", "upgrade: websocket"]
        );
    }

    /// A peer that sends `data`, then fails every read with `error`.
    struct ThenFails {
        data: &'static [u8],
        error: io::ErrorKind,
    }

    impl Read for ThenFails {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(self.error.into());
            }
            let count = buffer.len().min(self.data.len());
            buffer[..count].copy_from_slice(&self.data[..count]);
            self.data = &self.data[count..];
            Ok(count)
        }
    }

    #[test]
    fn a_read_timeout_partway_is_408_counting_what_arrived() {
        for error in [io::ErrorKind::WouldBlock, io::ErrorKind::TimedOut] {
            let data = b"GET / HTTP/1.1\r\nHost: a";
            let mut peer = io::BufReader::new(ThenFails { data, error });
            let error = read_request(&mut peer).unwrap_err();
            assert!(
                matches!(error, HttpError::TimedOut { received: 23 }),
                "{error}"
            );
            assert_eq!(error.status(), Some(Status::REQUEST_TIMEOUT));
        }
    }

    #[test]
    fn another_read_error_is_not_a_timeout_and_gets_no_answer() {
        let data = b"GET / HTTP/1.1\r\n";
        let error = io::ErrorKind::ConnectionReset;
        let mut peer = io::BufReader::new(ThenFails { data, error });
        let error = read_request(&mut peer).unwrap_err();
        assert!(matches!(error, HttpError::Io(_)), "{error}");
        assert_eq!(error.status(), None);
    }

    #[test]
    fn an_absolute_target_needs_a_host_and_no_user() {
        // RFC 9112 §3.2.2: absolute-form is an absolute-URI, whose authority
        // names the host; RFC 9110 §4.2.4: a user name in an http(s) URI
        // is an error.
        assert_eq!(
            split_absolute_target("ws://localhost:2345/chat"),
            Some(("localhost:2345", "/chat".to_string()))
        );
        for target in [
            "ws://user@localhost/chat",
            "ws://user:secret@localhost",
            "ws:///chat",
            "ws://?x",
            "ws://localhost#top",
        ] {
            assert_eq!(split_absolute_target(target), None, "{target}");
        }
    }

    #[test]
    fn a_method_must_be_a_token() {
        // RFC 9112 §3.1: "method = token" (RFC 9110 §5.6.2: 1*tchar).
        for line in [
            &b" / HTTP/1.1"[..],
            b"GE(T / HTTP/1.1",
            b"G\x1bT / HTTP/1.1",
        ] {
            let head = [line, b"\r\nHost: a\r\n\r\n"].concat();
            assert!(
                matches!(parse(&head), Err(HttpError::MalformedStartLine(_))),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn a_status_is_shown_as_its_code_and_reason() {
        assert_eq!(Status::NOT_FOUND.to_string(), "404 Not Found");
    }

    #[test]
    fn a_closing_response_announces_its_body_and_the_close() {
        let mut written = Vec::new();
        write_response(
            &mut written,
            Status::NOT_FOUND,
            &[("X-A", "b")],
            "text/plain",
            b"no such page",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\
             Connection: close\r\nX-A: b\r\n\r\nno such page"
        );
    }
}
