//! The opening request: arbitrary bytes as the first thing a peer sends.
//!
//! The same bytes are read through BufReaders of three capacities (the
//! default, 7 bytes and 1 byte, so lines are cut at every possible place);
//! the outcome and the bytes left unread must not depend on it.

#![no_main]

use std::io::{BufReader, Read};

use libfuzzer_sys::fuzz_target;
use websocket_from_scratch::protocol::handshake;
use websocket_from_scratch::protocol::http::{
    self, HttpError, MAX_HEAD_BYTES, MAX_HEADERS, Request,
};

fuzz_target!(|data: &[u8]| {
    let (outcome, rest) = read(BufReader::new(data));
    for capacity in [7, 1] {
        let (other, other_rest) = read(BufReader::with_capacity(capacity, data));
        assert_eq!(
            format!("{outcome:?}"),
            format!("{other:?}"),
            "capacity {capacity}"
        );
        assert_eq!(rest, other_rest, "capacity {capacity}");
    }
    let consumed = data.len() - rest.len();
    assert_eq!(&data[consumed..], &rest[..]);
    same_as_the_event_loop(data);

    match outcome {
        Ok(request) => check_request(&request, &data[..consumed]),
        Err(error) => {
            let _ = error.status();
            let _ = error.to_string();
            match error {
                HttpError::ClosedBeforeRequest => assert!(data.is_empty()),
                HttpError::ClosedMidRequest { received } => {
                    assert!(received > 0 && received < MAX_HEAD_BYTES);
                    assert_eq!(received, data.len());
                    assert!(rest.is_empty());
                }
                HttpError::HeadTooLarge | HttpError::RequestLineTooLong => {
                    assert_eq!(consumed, MAX_HEAD_BYTES)
                }
                HttpError::VersionNotSupported(ref version) => {
                    assert!(consumed <= MAX_HEAD_BYTES);
                    assert!(version.starts_with("HTTP/") && !version.starts_with("HTTP/1."));
                }
                HttpError::TooManyHeaders
                | HttpError::MalformedStartLine(_)
                | HttpError::MalformedHeader(_) => assert!(consumed <= MAX_HEAD_BYTES),
                HttpError::TimedOut { .. } | HttpError::Io(_) => {
                    panic!("a byte slice cannot time out or fail: {error:?}")
                }
            }
        }
    }
});

/// Chapters 10–12 read a request with `read_request_after_empty_line`;
/// chapters 13 and 15 parse the bytes that have arrived with
/// `parse_request`, whose limits and errors are documented as the same.
/// Whole input at once: `Ok(None)` (not complete yet) is where the
/// blocking reader sees the peer close.
fn same_as_the_event_loop(data: &[u8]) {
    let mut reader = BufReader::new(data);
    let blocking = http::read_request_after_empty_line(&mut reader);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    match http::parse_request(data) {
        Ok(None) => assert!(
            matches!(
                blocking,
                Err(HttpError::ClosedBeforeRequest | HttpError::ClosedMidRequest { .. })
            ),
            "{blocking:?}"
        ),
        Ok(Some((request, used))) => {
            assert_eq!(
                format!("{:?}", Ok::<_, HttpError>(request)),
                format!("{blocking:?}")
            );
            assert_eq!(used, data.len() - rest.len());
        }
        Err(error) => assert_eq!(
            format!("{:?}", Err::<Request, _>(error)),
            format!("{blocking:?}")
        ),
    }
}

/// Reads one request, then everything after it.
fn read<R: Read>(mut reader: BufReader<R>) -> (Result<Request, HttpError>, Vec<u8>) {
    let outcome = http::read_request(&mut reader);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    (outcome, rest)
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

fn check_request(request: &Request, head: &[u8]) {
    assert!(head.len() <= MAX_HEAD_BYTES);
    assert!(head.ends_with(b"\n"));
    assert!(request.head.headers.len() <= MAX_HEADERS);
    assert!(is_token(&request.method), "{:?}", request.method);
    assert!(!request.target.is_empty());
    assert!(request.version.starts_with("HTTP/1."));
    assert_eq!(
        request.head.start_line,
        format!("{} {} {}", request.method, request.target, request.version)
    );
    for header in &request.head.headers {
        assert!(is_token(&header.name), "{:?}", header.name);
        assert!(!header.value.contains('\n'));
        assert!(!header.value.starts_with([' ', '\t']));
        assert!(!header.value.ends_with([' ', '\t']));
        assert!(request.header(&header.name).is_some());
    }
    assert_eq!(request.head.lines().count(), request.head.headers.len() + 1);

    let is_websocket = handshake::is_websocket_request(request);
    match handshake::validate(request) {
        Ok(key) => {
            assert!(is_websocket);
            assert_eq!(request.method, "GET");
            assert!(request.head.header_has_token("upgrade", "WebSocket"));
            assert!(request.head.header_has_token("connection", "upgrade"));
            assert_eq!(
                request.header("sec-websocket-version"),
                Some(handshake::VERSION)
            );
            assert_eq!(request.header("Sec-WebSocket-Key"), Some(key));
            let accept = handshake::accept_key(key);
            assert_eq!(accept.len(), 28);
            assert!(handshake::switching_protocols(&accept).contains(&accept));
        }
        Err(error) => {
            let refusal = websocket_from_scratch::Error::Handshake(error.clone()).http_refusal();
            assert!(refusal.is_some_and(|(status, _)| (400..500).contains(&status.code)));
            let _ = error.to_string();
        }
    }
}
