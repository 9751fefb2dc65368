//! Requests every chapter refuses, and peers that vanish or say nothing.
//! The HTTP head, the handshake's checks and the listener are the same code
//! in every chapter, so chapter 4 stands in for all of them (and chapters
//! 1–3, which stop before it, are checked once more at the end). Each case
//! checks the answer (an HTTP status, or a closed connection) and then that
//! the *next* connection is still served: one bad peer must never take the
//! server down, as the article's `raise` inside its accept loop would.
//!
//! The frames a chapter refuses after the handshake are tested in that
//! chapter's own file.

mod support;

use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use support::{Server, assert_still_serving, status_line, upgrade_request};
use websocket_from_scratch::protocol::frame::{self, Opcode};

fn start() -> Server {
    Server::start(env!("CARGO_BIN_EXE_04-reply"), &[])
}

#[test]
fn refused_requests_get_the_right_status() {
    let server = start();
    let port = server.port;
    let mut huge = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
    huge.extend(vec![b'a'; 9000]);
    huge.extend_from_slice(b"\r\n\r\n");
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..101 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not a WebSocket",
            b"POST / HTTP/1.1\r\n\r\n".to_vec(),
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            "favicon",
            b"GET /favicon.ico HTTP/1.1\r\n\r\n".to_vec(),
            "HTTP/1.1 404 Not Found",
        ),
        (
            "malformed request line",
            b"HELLO THERE\r\n\r\n".to_vec(),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "binary garbage",
            vec![0xff, 0x00, 0x13, 0x37, b'\r', b'\n', b'\r', b'\n'],
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "head over 8 KiB",
            huge,
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        (
            "101 headers",
            many,
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        (
            "a request line over 8 KiB",
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000)).into_bytes(),
            "HTTP/1.1 414 URI Too Long",
        ),
        (
            "HTTP/2.0",
            b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n".to_vec(),
            "HTTP/1.1 505 HTTP Version Not Supported",
        ),
        (
            "a page request offering another upgrade (curl --http2)",
            b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n".to_vec(),
            "HTTP/1.1 200 OK",
        ),
        (
            "version 8",
            upgrade_request(port, ("Version: 13", "Version: 8")),
            "HTTP/1.1 426 Upgrade Required",
        ),
        (
            "short key",
            upgrade_request(port, ("E4i4gDQc1XTIQcQxvf+ODA==", "c2hvcnQ=")),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "no Connection: Upgrade",
            upgrade_request(port, ("Connection: Upgrade", "Connection: keep-alive")),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "no Upgrade: websocket",
            upgrade_request(port, ("Upgrade: websocket", "Upgrade: h2c")),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "a POST upgrade",
            upgrade_request(port, ("GET", "POST")),
            "HTTP/1.1 405 Method Not Allowed",
        ),
    ];
    for (name, request, expected) in cases {
        let answer = server.exchange_raw(&request);
        assert_eq!(status_line(&answer), expected, "{name}");
        assert_still_serving(&server);
    }
    let answer = server.exchange_raw(&upgrade_request(port, ("Version: 13", "Version: 8")));
    assert!(
        String::from_utf8_lossy(&answer).contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "426 must name the version we speak"
    );
    let log = server.log();
    assert!(log.contains("answered 431 Request Header Fields Too Large"));
    assert!(!log.contains("panicked"));
}

#[test]
fn a_peer_vanishing_midway_costs_only_its_own_connection() {
    let server = start();
    let request = upgrade_request(server.port, ("", ""));

    // Half a request head, then gone.
    server.connect_raw().write_all(&request[..20]).unwrap();
    server.wait_for_log("halfway through its request");
    assert_still_serving(&server);

    // A whole handshake, then half a frame, then gone.
    let mut stream = server.connect_raw();
    stream.write_all(&request).unwrap();
    // Read the 101 first: closing with unread bytes would send a reset
    // rather than a clean end of stream.
    let mut response = [0; 129];
    stream.read_exact(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 101"));
    let frame = frame::encode(true, Opcode::Text, Some([1, 2, 3, 4]), b"Can you hear me?");
    stream.write_all(&frame[..9]).unwrap();
    thread::sleep(Duration::from_millis(50));
    drop(stream);
    server.wait_for_log("halfway through a frame");
    assert_still_serving(&server);
}

#[test]
fn a_silent_connection_does_not_block_the_next() {
    let server = start();
    let mut silent = server.connect_raw();
    assert_still_serving(&server);
    // The silent one is still open, and is dropped quietly once it closes.
    silent.write_all(b"").unwrap();
    drop(silent);
    server.wait_for_log("closed without sending anything");
}

#[test]
fn every_chapter_survives_a_refused_request() {
    for binary in [
        env!("CARGO_BIN_EXE_01-print-request"),
        env!("CARGO_BIN_EXE_02-handshake"),
        env!("CARGO_BIN_EXE_03-read-frame"),
    ] {
        let server = Server::start(binary, &[]);
        let answer = server.exchange_raw(b"HELLO\r\n\r\n");
        assert_eq!(status_line(&answer), "HTTP/1.1 400 Bad Request", "{binary}");
        let mut page = server.connect_raw();
        page.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut html = String::new();
        page.read_to_string(&mut html).unwrap();
        assert!(html.starts_with("HTTP/1.1 200 OK"), "{binary}");
        assert!(html.contains("new WebSocket("), "{binary}");
    }
}
