//! The opening handshake: RFC 6455 §4.2 (server side) and §1.3.
//!
//! The client proves it speaks WebSocket by sending a random
//! `Sec-WebSocket-Key`; the server proves it read that request (and is not a
//! confused HTTP cache) by hashing the key with a fixed GUID and sending the
//! result back in `Sec-WebSocket-Accept`. Nothing here is secret — it is a
//! protocol check, not authentication.
//!
//! The article only looks for the key. A server should also check the rest
//! of what §4.2.1 asks for, and say why it refuses: [`validate`] returns a
//! [`HandshakeError`] that knows its HTTP status.

use std::fmt;
use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

use crate::protocol::http::{self, Request, Status, response_head};

/// The "magic constant" of RFC 6455 §1.3, the same for every server.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The one protocol version RFC 6455 defines.
pub const VERSION: &str = "13";

/// `base64(SHA-1(key + GUID))`: the value of `Sec-WebSocket-Accept`.
pub fn accept_key(key: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(GUID.as_bytes());
    BASE64.encode(hasher.finalize())
}

/// Whether the request asks for a WebSocket at all, rather than a page.
///
/// A plain `GET /` from a browser's address bar carries none of the
/// WebSocket headers; chapters answer it with their test page. So does a
/// request that offers to upgrade to another protocol (`Upgrade: h2c`, as
/// `curl --http2` sends): a server may ignore an upgrade it does not want
/// (RFC 9110 §7.8).
pub fn is_websocket_request(request: &Request) -> bool {
    request.head.header_has_token("Upgrade", "websocket")
        || request.header("Sec-WebSocket-Key").is_some()
}

/// Why a request cannot become a WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    NotGet(String),
    NoUpgradeHeader,
    NoConnectionUpgrade,
    UnsupportedVersion(Option<String>),
    MissingKey,
    BadKey(String),
    /// A browser page from a site we do not trust (§10.2).
    ForbiddenOrigin(String),
    /// More than one `Host` header (RFC 9112 §3.2): which one names the
    /// server is ambiguous, and a proxy and we might pick different ones.
    SeveralHosts(usize),
    /// No `Host` header at all (RFC 9112 §3.2).
    NoHost,
    /// A request line older than `HTTP/1.1`, or not HTTP/1 (RFC 6455 §4.1).
    HttpVersion(String),
    /// A header the handshake needs exactly once, repeated (§4.2.1): two
    /// keys would leave the accept key ambiguous.
    RepeatedHeader {
        name: &'static str,
        count: usize,
    },
    /// `Content-Length` or `Transfer-Encoding` announcing a body on the
    /// `GET`: a handshake has none, and whatever followed the head would
    /// be read as frames.
    BodyAnnounced(String),
    /// `*` as the target: only `OPTIONS` may ask that (RFC 9112 §3.2.4).
    AsteriskTarget,
    /// A target in neither origin form (`/path`) nor absolute form
    /// (`ws://host/path`) (RFC 9112 §3.2).
    UnusableTarget(String),
    /// A target with a fragment (`/chat#x`): no form of request-target
    /// has one (RFC 9112 §3.2), nor has a WebSocket URI (RFC 6455 §3).
    FragmentInTarget(String),
    /// An absolute-form target whose host is not the `Host` header's
    /// (RFC 9112 §3.2: a client must send the same).
    HostMismatch {
        target: String,
        host: String,
    },
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NotGet(method) => {
                write!(f, "a WebSocket handshake must be a GET, not {method}")
            }
            HandshakeError::NoUpgradeHeader => {
                write!(f, "the request has no `Upgrade: websocket` header")
            }
            HandshakeError::NoConnectionUpgrade => {
                write!(f, "the request has no `Connection: Upgrade` header")
            }
            HandshakeError::UnsupportedVersion(Some(version)) => write!(
                f,
                "the client speaks WebSocket version {version:?}; we speak {VERSION}"
            ),
            HandshakeError::UnsupportedVersion(None) => {
                write!(f, "the request has no Sec-WebSocket-Version header")
            }
            HandshakeError::MissingKey => write!(f, "the request has no Sec-WebSocket-Key"),
            HandshakeError::BadKey(key) => write!(
                f,
                "Sec-WebSocket-Key {key:?} is not 16 bytes encoded in base64"
            ),
            HandshakeError::SeveralHosts(count) => write!(
                f,
                "the request has {count} Host headers; HTTP/1.1 allows one (RFC 9112 §3.2)"
            ),
            HandshakeError::NoHost => write!(
                f,
                "the request has no Host header; HTTP/1.1 requires one (RFC 9112 §3.2)"
            ),
            HandshakeError::HttpVersion(version) => write!(
                f,
                "the request is {version}; a WebSocket handshake is an HTTP/1.1 request \
                 (RFC 6455 §4.1), the one version this server speaks (RFC 9110 §15.6.6)"
            ),
            HandshakeError::RepeatedHeader { name, count } => write!(
                f,
                "the request has {count} {name} headers; the handshake takes exactly one \
                 (RFC 6455 §4.2.1)"
            ),
            HandshakeError::BodyAnnounced(header) => write!(
                f,
                "the GET announces a body ({header}); a handshake has none, and what \
                 follows its head is frames (RFC 6455 §4.1, RFC 9112 §6.3)"
            ),
            HandshakeError::AsteriskTarget => {
                write!(f, "the target `*` is for OPTIONS only (RFC 9112 §3.2.4)")
            }
            HandshakeError::FragmentInTarget(target) => write!(
                f,
                "the target {target:?} has a fragment, which no request carries (RFC 9112 §3.2, RFC 6455 §3)"
            ),
            HandshakeError::UnusableTarget(target) => write!(
                f,
                "the target {target:?} is neither a path nor an absolute URI (RFC 9112 §3.2)"
            ),
            HandshakeError::HostMismatch { target, host } => write!(
                f,
                "the target names {target:?} but the Host header says {host:?}; they must \
                 agree (RFC 9112 §3.2)"
            ),
            HandshakeError::ForbiddenOrigin(origin) => write!(
                f,
                "a page from {origin} may not connect: browsers let any page open a \
                 WebSocket to any server, with the user's cookies, so without this check \
                 another site could act as our users (cross-site WebSocket hijacking)"
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Refuses a request with more than one `Host` header (RFC 9112 §3.2:
/// answered with 400). Chapters 10 and 11 check it.
pub fn check_single_host(request: &Request) -> Result<(), HandshakeError> {
    let count = request
        .head
        .headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("Host"))
        .count();
    if count > 1 {
        return Err(HandshakeError::SeveralHosts(count));
    }
    Ok(())
}

/// Checks what HTTP/1.1 asks of every request, for chapters 10 and up
/// (chapters 1 to 9 check only what the article does): the version is
/// at least `HTTP/1.1` (RFC 6455 §4.1), a later `HTTP/1.x` taken as 1.1
/// (RFC 9110 §2.5); there is exactly one `Host` (RFC 9112
/// §3.2); no body is announced; the target is a path, or an absolute URI
/// whose host is the `Host` header's (RFC 9112 §3.2). Returns the path an
/// absolute-form target asks for (`ws://localhost:2345/chat?x` → `/chat?x`),
/// or `None` when the target is a path already.
pub fn check_http11(request: &Request) -> Result<Option<String>, HandshakeError> {
    // RFC 6455 §4.1 asks for HTTP "at least 1.1". A later minor version
    // of HTTP/1 is read as the 1.1 we speak (RFC 9110 §2.5), and answered
    // in 1.1; only HTTP/1.0 (or anything not HTTP/1.x) is refused.
    let minor = request.version.strip_prefix("HTTP/1.");
    let at_least_1_1 = matches!(minor.map(str::as_bytes), Some([b'1'..=b'9']));
    if !at_least_1_1 {
        return Err(HandshakeError::HttpVersion(request.version.clone()));
    }
    check_single_host(request)?;
    let host = request.header("Host").ok_or(HandshakeError::NoHost)?;
    for header in &request.head.headers {
        let announces_body = if header.name.eq_ignore_ascii_case("Transfer-Encoding") {
            true
        } else if header.name.eq_ignore_ascii_case("Content-Length") {
            // 1*DIGIT (RFC 9110 §8.6): 00 is as empty a body as 0.
            header.value.is_empty() || header.value.bytes().any(|byte| byte != b'0')
        } else {
            false
        };
        if announces_body {
            return Err(HandshakeError::BodyAnnounced(format!(
                "{}: {}",
                header.name, header.value
            )));
        }
    }
    let target = request.target.as_str();
    if target.contains('#') {
        return Err(HandshakeError::FragmentInTarget(target.to_string()));
    }
    if target.starts_with('/') {
        return Ok(None);
    }
    if target == "*" {
        return Err(HandshakeError::AsteriskTarget);
    }
    let unusable = || HandshakeError::UnusableTarget(target.to_string());
    let (authority, path) = http::split_absolute_target(target).ok_or_else(unusable)?;
    // Compared as authorities, not as strings: the port a URI leaves out
    // (or leaves empty) is its scheme's default (RFC 9110 §4.2.3), so
    // `ws://localhost:80/` names the host `Host: localhost` does.
    let scheme = target.split_once("://").map_or("", |(scheme, _)| scheme);
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "wss" | "https" => "443",
        _ => "80",
    };
    if with_port(authority, default_port) != with_port(host, default_port) {
        return Err(HandshakeError::HostMismatch {
            target: authority.to_string(),
            host: host.to_string(),
        });
    }
    Ok(Some(path))
}

/// `authority` in lower case with its port written out, `default_port`
/// when it has none or an empty one. The port follows the last colon,
/// unless that colon is inside an IPv6 literal's brackets (`[::1]`).
fn with_port(authority: &str, default_port: &str) -> String {
    let lower = authority.to_ascii_lowercase();
    match lower.rfind(':') {
        Some(at) if !lower[at..].contains(']') => {
            let (host, port) = (&lower[..at], &lower[at + 1..]);
            let port = if port.is_empty() { default_port } else { port };
            format!("{host}:{port}")
        }
        _ => format!("{lower}:{default_port}"),
    }
}

/// Refuses a handshake that repeats `Upgrade`, `Sec-WebSocket-Key` or
/// `Sec-WebSocket-Version` (RFC 6455 §4.2.1 asks for one of each; which of
/// two keys to answer is anybody's guess). Chapters 10 and up check it.
pub fn check_single_fields(request: &Request) -> Result<(), HandshakeError> {
    for name in ["Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version"] {
        let count = request
            .head
            .headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case(name))
            .count();
        if count > 1 {
            return Err(HandshakeError::RepeatedHeader { name, count });
        }
    }
    Ok(())
}

/// Checks the method and the WebSocket headers RFC 6455 §4.2.1 asks of
/// an upgrade request, and returns its key; the HTTP version and `Host`
/// are [`check_http11`]'s (chapters 10 and up).
pub fn validate(request: &Request) -> Result<&str, HandshakeError> {
    if request.method != "GET" {
        return Err(HandshakeError::NotGet(request.method.clone()));
    }
    if !request.head.header_has_token("Upgrade", "websocket") {
        return Err(HandshakeError::NoUpgradeHeader);
    }
    if !request.head.header_has_token("Connection", "Upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    match request.header("Sec-WebSocket-Version") {
        Some(VERSION) => {}
        other => {
            return Err(HandshakeError::UnsupportedVersion(
                other.map(str::to_string),
            ));
        }
    }
    let key = request
        .header("Sec-WebSocket-Key")
        .ok_or(HandshakeError::MissingKey)?;
    match BASE64.decode(key) {
        Ok(bytes) if bytes.len() == 16 => Ok(key),
        _ => Err(HandshakeError::BadKey(key.to_string())),
    }
}

/// The origins of this server's own pages on `port`: a browser sends one
/// of these in `Origin` when our page opens the WebSocket.
pub fn own_origins(port: u16) -> Vec<String> {
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|host| format!("http://{host}:{port}"))
        .collect()
}

/// Checks the `Origin` header against an allow-list (RFC 6455 §10.2).
///
/// Browsers always send `Origin` and scripts cannot forge it, so it tells
/// which site's page is asking. Tools that are not browsers (our client,
/// `websocat`, tests) usually send none, and are accepted: they cannot
/// borrow a user's cookies anyway.
pub fn check_origin(request: &Request, allowed: &[String]) -> Result<(), HandshakeError> {
    match request.header("Origin") {
        None => Ok(()),
        Some(origin) if allowed.iter().any(|ok| ok.eq_ignore_ascii_case(origin)) => Ok(()),
        Some(origin) => Err(HandshakeError::ForbiddenOrigin(origin.to_string())),
    }
}

/// The `101 Switching Protocols` response head for an accepted key.
pub fn switching_protocols(accept: &str) -> String {
    switching_protocols_with(accept, None)
}

/// [`switching_protocols`], naming the extensions the server accepted
/// (RFC 6455 §9.1), if any.
pub fn switching_protocols_with(accept: &str, extensions: Option<&str>) -> String {
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept),
    ];
    if let Some(extensions) = extensions {
        headers.push(("Sec-WebSocket-Extensions", extensions));
    }
    response_head(Status::SWITCHING_PROTOCOLS, &headers)
}

/// The values of every `Sec-WebSocket-Extensions` header of a request, in
/// order: each may hold several offers.
pub fn extension_offers(request: &Request) -> impl Iterator<Item = &str> {
    request.head.header_values("Sec-WebSocket-Extensions")
}

/// Sends the `101` response. From the next byte on, the connection speaks
/// WebSocket frames, not HTTP.
pub fn write_switching_protocols(writer: &mut impl Write, accept: &str) -> io::Result<()> {
    write_switching_protocols_with(writer, accept, None)
}

/// [`write_switching_protocols`], with an extensions answer.
pub fn write_switching_protocols_with(
    writer: &mut impl Write,
    accept: &str,
    extensions: Option<&str>,
) -> io::Result<()> {
    writer.write_all(switching_protocols_with(accept, extensions).as_bytes())?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::read_request;

    fn request(text: &str) -> Request {
        read_request(&mut io::BufReader::new(text.as_bytes())).unwrap()
    }

    const GOOD: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn the_accept_key_for_the_rfcs_sample_nonce_is_the_rfcs() {
        // RFC 6455 §1.3: for the key "dGhlIHNhbXBsZSBub25jZQ==" the server
        // "would return the value "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in the
        // |Sec-WebSocket-Accept| header field" (and §4.2.2, step 5.4).
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn either_websocket_header_alone_makes_a_websocket_request() {
        // Half a handshake is still a handshake, refused with its reason,
        // not answered with the test page.
        let without_key = GOOD.replacen("Sec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==\r\n", "", 1);
        assert!(is_websocket_request(&request(&without_key)));
        let without_upgrade = GOOD.replacen("Upgrade: WebSocket\r\n", "", 1);
        assert!(is_websocket_request(&request(&without_upgrade)));
        let page = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(!is_websocket_request(&request(page)));
    }

    #[test]
    fn an_upgrade_to_another_protocol_is_a_page_request() {
        let h2c = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n";
        assert!(!is_websocket_request(&request(h2c)));
        assert!(is_websocket_request(&request(GOOD)));
    }

    #[test]
    fn accepts_tokens_in_any_case_and_in_lists() {
        assert_eq!(validate(&request(GOOD)), Ok("E4i4gDQc1XTIQcQxvf+ODA=="));
    }

    #[test]
    fn each_missing_piece_has_its_own_error() {
        let cases = [
            ("GET", "POST", HandshakeError::NotGet("POST".into())),
            (
                "Upgrade: WebSocket",
                "Upgrade: h2c",
                HandshakeError::NoUpgradeHeader,
            ),
            (
                "keep-alive, Upgrade",
                "keep-alive",
                HandshakeError::NoConnectionUpgrade,
            ),
            (
                "Version: 13",
                "Version: 8",
                HandshakeError::UnsupportedVersion(Some("8".into())),
            ),
            (
                "E4i4gDQc1XTIQcQxvf+ODA==",
                "c2hvcnQ=",
                HandshakeError::BadKey("c2hvcnQ=".into()),
            ),
        ];
        for (from, to, error) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_eq!(validate(&request(&text)), Err(error), "{to}");
        }
    }

    fn checked(text: &str) -> Result<Option<String>, HandshakeError> {
        let request = request(text);
        check_http11(&request)?;
        check_single_fields(&request)?;
        check_http11(&request)
    }

    #[test]
    fn each_http11_rule_has_its_own_refusal() {
        let key = "Sec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==\r\n";
        let cases = [
            ("Host: localhost\r\n", "", HandshakeError::NoHost),
            (
                "Host: localhost\r\n",
                "Host: localhost\r\nHost: evil\r\n",
                HandshakeError::SeveralHosts(2),
            ),
            (
                "HTTP/1.1",
                "HTTP/1.0",
                HandshakeError::HttpVersion("HTTP/1.0".into()),
            ),
            (
                key,
                &format!("{key}{key}"),
                HandshakeError::RepeatedHeader {
                    name: "Sec-WebSocket-Key",
                    count: 2,
                },
            ),
            (
                "Sec-WebSocket-Version: 13\r\n",
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n",
                HandshakeError::RepeatedHeader {
                    name: "Sec-WebSocket-Version",
                    count: 2,
                },
            ),
            (
                "Upgrade: WebSocket\r\n",
                "Upgrade: WebSocket\r\nUpgrade: websocket\r\n",
                HandshakeError::RepeatedHeader {
                    name: "Upgrade",
                    count: 2,
                },
            ),
            (
                "\r\n\r\n",
                "\r\nContent-Length: 5\r\n\r\n",
                HandshakeError::BodyAnnounced("Content-Length: 5".into()),
            ),
            (
                "\r\n\r\n",
                "\r\nTransfer-Encoding: chunked\r\n\r\n",
                HandshakeError::BodyAnnounced("Transfer-Encoding: chunked".into()),
            ),
            ("GET / ", "GET * ", HandshakeError::AsteriskTarget),
            (
                "GET / ",
                "GET localhost:80 ",
                HandshakeError::UnusableTarget("localhost:80".into()),
            ),
            (
                "GET / ",
                "GET ftp://localhost/ ",
                HandshakeError::UnusableTarget("ftp://localhost/".into()),
            ),
            (
                "GET / ",
                "GET ws://evil.example/chat ",
                HandshakeError::HostMismatch {
                    target: "evil.example".into(),
                    host: "localhost".into(),
                },
            ),
        ];
        for (from, to, error) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_eq!(checked(&text), Err(error.clone()), "{to}");
            assert!(error.to_string().contains("RFC "), "{error}");
        }
    }

    #[test]
    fn a_later_http_1_minor_version_is_taken_as_http_1_1() {
        // RFC 9110 §2.5: "A recipient that receives a message with a major
        // version number that it implements and a minor version number
        // higher than what it implements SHOULD process the message as if
        // it were in the highest minor version within that major version
        // to which the recipient is conformant." 505 is for a major
        // version we do not speak (§15.6.6), and RFC 6455 §4.1 asks for
        // "at least 1.1".
        for version in ["HTTP/1.2", "HTTP/1.9"] {
            let text = GOOD.replacen("HTTP/1.1", version, 1);
            assert_eq!(checked(&text), Ok(None), "{version}");
        }
    }

    #[test]
    fn an_absolute_target_naming_the_host_gives_its_path() {
        for (target, path) in [
            ("ws://LOCALHOST/chat?room=1", "/chat?room=1"),
            ("http://localhost", "/"),
            ("wss://localhost?x", "/?x"),
        ] {
            let text = GOOD.replacen("GET / ", &format!("GET {target} "), 1);
            assert_eq!(checked(&text), Ok(Some(path.to_string())), "{target}");
        }
        assert_eq!(checked(GOOD), Ok(None));
        let empty_length = GOOD.replace("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(checked(&empty_length), Ok(None));
    }

    #[test]
    fn a_content_length_of_zero_written_with_more_digits_announces_no_body() {
        // RFC 9110 §8.6: Content-Length is 1*DIGIT, so 00 is zero, as 0 is.
        for zero in ["00", "000"] {
            let text = GOOD.replace("\r\n\r\n", &format!("\r\nContent-Length: {zero}\r\n\r\n"));
            assert_eq!(checked(&text), Ok(None), "{zero}");
        }
        let five = GOOD.replace("\r\n\r\n", "\r\nContent-Length: 05\r\n\r\n");
        assert!(matches!(
            checked(&five),
            Err(HandshakeError::BodyAnnounced(_))
        ));
    }

    #[test]
    fn a_default_port_written_or_left_out_is_the_same_authority() {
        // RFC 9110 §4.2.3: a port left out (or empty) is the scheme's
        // default, 80 for ws and http, 443 for wss and https (RFC 6455 §3).
        for (target, host) in [
            ("ws://localhost:80/chat", "localhost"),
            ("ws://localhost/chat", "localhost:80"),
            ("ws://localhost:/chat", "localhost"),
            ("wss://LocalHost:443/chat", "localhost"),
            ("https://localhost/chat", "localhost:443"),
            ("ws://[::1]/chat", "[::1]:80"),
        ] {
            let text = GOOD
                .replacen("GET / ", &format!("GET {target} "), 1)
                .replacen("Host: localhost\r\n", &format!("Host: {host}\r\n"), 1);
            assert_eq!(checked(&text), Ok(Some("/chat".into())), "{target} {host}");
        }
        for (target, host) in [
            ("ws://localhost:8080/chat", "localhost"),
            ("http://localhost:443/chat", "localhost"),
            ("wss://localhost/chat", "localhost:80"),
            ("ws://[::1]:8080/chat", "[::1]"),
        ] {
            let text = GOOD
                .replacen("GET / ", &format!("GET {target} "), 1)
                .replacen("Host: localhost\r\n", &format!("Host: {host}\r\n"), 1);
            assert!(
                matches!(checked(&text), Err(HandshakeError::HostMismatch { .. })),
                "{target} {host}"
            );
        }
    }

    #[test]
    fn origins_are_checked_only_when_present() {
        let allowed = own_origins(2345);
        assert_eq!(check_origin(&request(GOOD), &allowed), Ok(()));
        let ours = GOOD.replace("\r\n\r\n", "\r\nOrigin: http://LOCALHOST:2345\r\n\r\n");
        assert_eq!(check_origin(&request(&ours), &allowed), Ok(()));
        let theirs = GOOD.replace("\r\n\r\n", "\r\nOrigin: https://evil.example\r\n\r\n");
        let refused = check_origin(&request(&theirs), &allowed);
        assert_eq!(
            refused,
            Err(HandshakeError::ForbiddenOrigin(
                "https://evil.example".into()
            ))
        );
    }

    #[test]
    fn extension_offers_on_several_lines_are_all_read_in_order() {
        // RFC 6455 §9.1: the header "MAY appear multiple times in an HTTP
        // request (which is logically the same as a single
        // |Sec-WebSocket-Extensions| header field that contains all values)".
        let offers = GOOD.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-a\r\n\
             sec-websocket-extensions: x-b\r\n\r\n",
        );
        let offered = request(&offers);
        assert_eq!(
            extension_offers(&offered).collect::<Vec<_>>(),
            ["permessage-deflate; client_max_window_bits, x-a", "x-b"]
        );
        assert_eq!(extension_offers(&request(GOOD)).count(), 0);
    }

    #[test]
    fn the_written_response_is_the_response_head() {
        let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let mut written = Vec::new();
        write_switching_protocols(&mut written, accept).unwrap();
        assert_eq!(written, switching_protocols(accept).as_bytes());
        let mut written = Vec::new();
        write_switching_protocols_with(&mut written, accept, Some("permessage-deflate")).unwrap();
        let head = String::from_utf8(written).unwrap();
        assert_eq!(
            head,
            switching_protocols_with(accept, Some("permessage-deflate"))
        );
        assert!(head.ends_with("Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"));
    }

    #[test]
    fn the_response_ends_each_line_with_crlf() {
        let head = switching_protocols("d9WHst60HtB4IvjOVevrexl0oLA=");
        assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(head.ends_with("Sec-WebSocket-Accept: d9WHst60HtB4IvjOVevrexl0oLA=\r\n\r\n"));
        assert_eq!(head.matches('\n').count(), head.matches("\r\n").count());
    }
}
