//! Chapter 12, permessage-deflate (`12-compression`): the negotiation's
//! answers, the narration pinned in `snapshots/12-compression.snap` with the
//! exact compressed bytes of fixed messages, and the limits.
//!
//! The compressed bytes we send, and expect back, were made by zlib
//! (Python's `zlib.compressobj(wbits=-15)` with a sync flush, tail removed),
//! not by our code. The tests at the bottom drive Python `websockets`, an
//! independent implementation of RFC 7692; they need
//! `bash tests/deflate/setup` and are ignored unless asked for:
//!
//! ```text
//! bash tests/deflate/setup
//! cargo test --test chapter_12 -- --include-ignored
//! ```
//!
//! CI (`.ci/run`) asks for them.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Server, TEST_MASK, run_to_end};
use websocket_from_scratch::client::{ARTICLE_KEY, ARTICLE_MASK};
use websocket_from_scratch::protocol::deflate::PerMessageDeflate;
use websocket_from_scratch::protocol::extension::{self, DeflateAgreement, Offer};
use websocket_from_scratch::protocol::frame::{self, FrameHeader, Opcode};

const SERVER: &str = env!("CARGO_BIN_EXE_12-compression");
const CLIENT: &str = env!("CARGO_BIN_EXE_client");

/// zlib's compression of each message in turn, sharing one window.
const CAN_YOU_HEAR_ME: &[u8] = &[
    0x72, 0x4e, 0xcc, 0x53, 0xa8, 0xcc, 0x2f, 0x55, 0xc8, 0x48, 0x4d, 0x2c, 0x52, 0xc8, 0x4d, 0xb5,
    0x07, 0x00,
];
const JSON: &str = r#"{"from":"ada","text":"Can you hear me?"}"#;
const JSON_AFTER: &[u8] = &[
    0xaa, 0x56, 0x4a, 0x2b, 0xca, 0xcf, 0x55, 0xb2, 0x52, 0x4a, 0x4c, 0x49, 0x54, 0xd2, 0x51, 0x2a,
    0x49, 0xad, 0x28, 0x01, 0x72, 0x9c, 0xd1, 0x54, 0x29, 0xd5, 0x02, 0x00,
];
/// RFC 7692 §7.2.3.1: "Hello" with a fresh window.
const HELLO: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

/// Opens a connection offering `extensions` (if any); returns the socket
/// and the answer's `Sec-WebSocket-Extensions`, if it has one.
fn handshake(server: &Server, extensions: Option<&str>) -> (BufReader<TcpStream>, Option<String>) {
    let mut stream = server.connect_raw();
    let offer = extensions
        .map(|value| format!("Sec-WebSocket-Extensions: {value}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut answer = None;
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 101"), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("sec-websocket-extensions")
        {
            answer = Some(value.trim().to_string());
        }
    }
    (reader, answer)
}

/// A masked client frame, with RSV1 when `compressed`.
fn frame_bytes(fin: bool, compressed: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut bytes = frame::encode(fin, opcode, Some(TEST_MASK), payload);
    if compressed {
        bytes[0] |= 0b0100_0000;
    }
    bytes
}

fn send(socket: &mut BufReader<TcpStream>, bytes: &[u8]) {
    socket.get_mut().write_all(bytes).unwrap();
}

fn receive(socket: &mut BufReader<TcpStream>) -> (FrameHeader, Vec<u8>) {
    let header = frame::read_header(socket).unwrap();
    let payload = frame::read_payload(socket, &header).unwrap();
    (header, payload)
}

/// The close code the server fails the connection with.
fn close_code(socket: &mut BufReader<TcpStream>) -> u16 {
    loop {
        let (header, payload) = receive(socket);
        if header.opcode == Opcode::Close {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[test]
fn narration_shows_the_agreement_and_each_messages_sizes() {
    let server = Server::start(SERVER, &["--connections", "2"]);
    let (mut socket, answer) =
        handshake(&server, Some("permessage-deflate; client_max_window_bits"));
    assert_eq!(answer.as_deref(), Some("permessage-deflate"));
    let mut replies = Vec::new();
    send(
        &mut socket,
        &frame_bytes(true, true, Opcode::Text, CAN_YOU_HEAR_ME),
    );
    replies.push(receive(&mut socket));
    send(
        &mut socket,
        &frame_bytes(true, true, Opcode::Text, JSON_AFTER),
    );
    replies.push(receive(&mut socket));
    // The same message uncompressed: allowed, RSV1 clear (RFC 7692 §6).
    send(
        &mut socket,
        &frame_bytes(true, false, Opcode::Text, b"plain"),
    );
    replies.push(receive(&mut socket));
    send(
        &mut socket,
        &frame_bytes(true, false, Opcode::Ping, b"ping"),
    );
    replies.push(receive(&mut socket));
    send(
        &mut socket,
        &frame_bytes(true, false, Opcode::Close, &[0x03, 0xe8]),
    );
    replies.push(receive(&mut socket));
    drop(socket);
    // A client that offers nothing gets chapter 10's server.
    let (mut plain, answer) = handshake(&server, None);
    assert_eq!(answer, None);
    send(
        &mut plain,
        &frame_bytes(true, false, Opcode::Text, b"Hello"),
    );
    assert_eq!(receive(&mut plain).1, b"Hello");
    send(&mut plain, &frame_bytes(true, true, Opcode::Text, HELLO));
    assert_eq!(close_code(&mut plain), 1002);
    drop(plain);
    let log = server.finish();
    assert_chapter_snapshot!("12-compression", &log);

    // RSV1 on data, never on control frames; the echoes inflate (with a
    // window shared across messages, as the client keeps it) to what was
    // sent. "Can you hear me?" and "plain" come back as zlib's very bytes;
    // for the JSON our compressor picks another, equally valid, encoding.
    let summary: Vec<(u8, Opcode)> = replies
        .iter()
        .map(|(header, _)| (header.rsv, header.opcode))
        .collect();
    assert_eq!(
        summary,
        [
            (0b100, Opcode::Text),
            (0b100, Opcode::Text),
            (0b100, Opcode::Text),
            (0, Opcode::Pong),
            (0, Opcode::Close),
        ]
    );
    assert_eq!(replies[0].1, CAN_YOU_HEAR_ME);
    assert_eq!(replies[2].1, [0x2a, 0xc8, 0x49, 0xcc, 0xcc, 0x03, 0x00]);
    let mut window = flate2::Decompress::new(false);
    let inflated: Vec<Vec<u8>> = replies[..3]
        .iter()
        .map(|(_, payload)| {
            let mut input = payload.clone();
            input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
            let mut out = Vec::with_capacity(1000);
            window
                .decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
                .unwrap();
            out
        })
        .collect();
    assert_eq!(
        inflated,
        [
            b"Can you hear me?".to_vec(),
            JSON.as_bytes().to_vec(),
            b"plain".to_vec()
        ]
    );
    assert!(JSON.len() > JSON_AFTER.len());
}

#[test]
fn the_answer_names_what_was_accepted_and_declines_the_rest() {
    let server = Server::start(SERVER, &[]);
    let rows: [(&str, Option<&str>); 8] = [
        ("permessage-deflate", Some("permessage-deflate")),
        (
            "permessage-deflate; server_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        (
            "permessage-deflate; server_max_window_bits=10",
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        (
            "permessage-deflate; client_max_window_bits=9",
            Some("permessage-deflate"),
        ),
        // Declined (an unknown parameter), then the plain offer taken.
        (
            "permessage-deflate; mystery, permessage-deflate",
            Some("permessage-deflate"),
        ),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("x-webkit-deflate-frame", None),
    ];
    for (offer, expected) in rows {
        let (_, answer) = handshake(&server, Some(offer));
        assert_eq!(answer.as_deref(), expected, "{offer}");
    }
}

#[test]
fn quoted_values_are_read_as_the_library_reads_them() {
    // RFC 9110 §5.6.4: in a quoted string, a backslash makes the next
    // character itself. `"1\2"` is 12; `"\\12"` is a backslash and 12, no
    // number; `"12\"` never ends. The chapter answers as
    // `protocol::extension` does.
    let server = Server::start(SERVER, &[]);
    let rows: [(&str, Option<&str>); 3] = [
        (
            r#"permessage-deflate; server_max_window_bits="1\2""#,
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
        (r#"permessage-deflate; server_max_window_bits="\\12""#, None),
        (r#"permessage-deflate; server_max_window_bits="12\""#, None),
    ];
    for (offer, expected) in rows {
        let (_, answer) = handshake(&server, Some(offer));
        assert_eq!(answer.as_deref(), expected, "{offer}");
        let library = extension::negotiate(&extension::parse_offers([offer]));
        assert_eq!(
            library.agreed.map(|agreed| agreed.response()).as_deref(),
            expected,
            "{offer}"
        );
    }
}

#[test]
fn a_small_frame_that_inflates_past_the_limit_gets_1009_and_bad_data_1007() {
    let server = Server::start(
        SERVER,
        &["--max-message-size", "100000", "--connections", "3"],
    );
    // 10 MB of zeros, compressed (by our own codec: the limit is what is
    // tested here) to about 10 KB.
    let mut codec = PerMessageDeflate::new(
        DeflateAgreement::from_offer(&Offer {
            name: "permessage-deflate".into(),
            params: vec![],
        })
        .unwrap(),
    );
    let bomb = codec.compress(&vec![0; 10_000_000]).unwrap();
    assert!(bomb.len() < 20_000);
    let (mut socket, _) = handshake(&server, Some("permessage-deflate"));
    send(&mut socket, &frame_bytes(true, true, Opcode::Binary, &bomb));
    assert_eq!(close_code(&mut socket), 1009);
    let (mut socket, _) = handshake(&server, Some("permessage-deflate"));
    send(
        &mut socket,
        &frame_bytes(true, true, Opcode::Binary, &[0xff, 0xff]),
    );
    assert_eq!(close_code(&mut socket), 1007);
    // RSV1 on a continuation frame is a protocol error.
    let (mut socket, _) = handshake(&server, Some("permessage-deflate"));
    send(
        &mut socket,
        &frame_bytes(false, true, Opcode::Text, &HELLO[..3]),
    );
    send(
        &mut socket,
        &frame_bytes(true, true, Opcode::Continuation, &HELLO[3..]),
    );
    assert_eq!(close_code(&mut socket), 1002);
    let log = server.finish();
    assert!(
        log.contains("inflates past the limit of 100000 bytes"),
        "{log}"
    );
}

// Python `websockets`, an independent client that speaks RFC 7692.

fn deflate_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deflate")
}

/// Runs `client.py` with `args`; fails with its output unless it succeeds.
fn python_client(server: &Server, args: &[&str]) -> String {
    let python = deflate_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "Python websockets is not installed; run: bash tests/deflate/setup"
    );
    let port = server.port.to_string();
    let output = Command::new(python)
        .arg(deflate_dir().join("client.py"))
        .arg(args[0])
        .arg(&port)
        .args(&args[1..])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?} failed:\n{stdout}{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    stdout
}

#[test]
#[ignore = "needs Python websockets: bash tests/deflate/setup, then cargo test --test chapter_12 -- --ignored"]
fn python_websockets_agrees_on_each_parameter_and_gets_every_echo() {
    let server = Server::start(SERVER, &[]);
    let rows: [(&[&str], &str); 7] = [
        (&[], "permessage-deflate"),
        (&["client_max_window_bits"], "permessage-deflate"),
        (&["client_max_window_bits=9"], "permessage-deflate"),
        (
            &["server_no_context_takeover"],
            "permessage-deflate; server_no_context_takeover",
        ),
        (
            &["client_no_context_takeover"],
            "permessage-deflate; client_no_context_takeover",
        ),
        (
            &["server_max_window_bits=8"],
            "permessage-deflate; server_max_window_bits=8",
        ),
        (
            &[
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits=12",
                "client_max_window_bits=10",
            ],
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=12",
        ),
    ];
    for (params, answer) in rows {
        let mut args = vec!["echo"];
        args.extend_from_slice(params);
        let output = python_client(&server, &args);
        assert!(
            output.contains(&format!("agreed: {answer}\n")),
            "{params:?}:\n{output}"
        );
        assert!(output.contains("echoed: 55\n"), "{params:?}:\n{output}");
        assert!(output.contains("fragmented: ok\n"), "{params:?}:\n{output}");
    }
}

#[test]
#[ignore = "needs Python websockets: bash tests/deflate/setup, then cargo test --test chapter_12 -- --ignored"]
fn python_websockets_deflate_bomb_gets_1009_and_the_server_serves_on() {
    let server = Server::start(SERVER, &["--max-message-size", "1000000"]);
    // 100 MB of zeros: about 100 KB on the wire.
    let output = python_client(&server, &["bomb", "100000000"]);
    assert_eq!(output, "closed: 1009\n");
    let output = python_client(&server, &["echo"]);
    assert!(output.contains("echoed: 55\n"), "{output}");
}

#[test]
fn our_client_with_deflate_sends_what_zlib_makes_and_reads_the_compressed_echo() {
    let server = Server::start(SERVER, &["--connections", "1"]);
    let port = server.port.to_string();
    let mask = ARTICLE_MASK.map(|byte| byte.to_string()).join(",");
    let (ok, log) = run_to_end(
        CLIENT,
        &[
            "--port",
            &port,
            "--deflate",
            "--key",
            ARTICLE_KEY,
            "--mask",
            &mask,
        ],
    );
    assert!(ok, "{log}");
    let server_log = server.finish();
    assert!(
        log.contains("Sec-WebSocket-Extensions: permessage-deflate (the server agreed)"),
        "{log}"
    );
    // zlib's bytes for "Can you hear me?", RSV1 set, masked with the
    // article's key.
    let mut expected = frame::encode(true, Opcode::Text, Some(ARTICLE_MASK), CAN_YOU_HEAR_ME);
    expected[0] |= 0x40;
    assert!(
        log.contains(&format!("Frame bytes: {expected:?}")),
        "expected {expected:?}:\n{log}"
    );
    assert!(
        log.contains("Received text frame: \"Can you hear me?\""),
        "{log}"
    );
    assert!(log.contains("(it came compressed: 18 bytes)"), "{log}");
    assert!(
        server_log.contains("← text 16 bytes (compressed: 18) \"Can you hear me?\" → echoed"),
        "{server_log}"
    );
    assert!(log.contains("Received close frame: code 1000"), "{log}");
}

/// A chat's messages as chapter 11 sends them (`chat::wire::FromRoom`),
/// two members talking.
fn chat_messages() -> Vec<String> {
    let lines = [
        ("Ada", "Hello, Bob!"),
        ("Bob", "Hi Ada, how are you?"),
        (
            "Ada",
            "Fine, thanks. Did you read the chapter on compression?",
        ),
        ("Bob", "Not yet. Is it long?"),
        (
            "Ada",
            "Not very. The offer, the answer, then every message deflated.",
        ),
        ("Bob", "And the window stays between messages?"),
        ("Ada", "Unless either side asks for no context takeover."),
        ("Bob", "So the second Hello costs less than the first."),
        ("Ada", "Five bytes instead of seven."),
        ("Bob", "Nice. See you later!"),
    ];
    lines
        .iter()
        .map(|(from, text)| format!(r#"{{"type":"message","from":"{from}","text":"{text}"}}"#))
        .collect()
}

#[test]
fn a_chats_json_takes_about_half_its_size_only_with_context_takeover() {
    // The figures chapter 12's doc comment quotes: `cargo test --test
    // chapter_12 a_chats_json_takes -- --nocapture`. Each short message
    // finds the last ones' field names and words in the window; alone, it
    // has little to refer back to.
    let agreement = DeflateAgreement {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        server_window_requested: false,
        client_max_window_bits: None,
    };
    let mut taking_over = PerMessageDeflate::new(agreement);
    let mut afresh = PerMessageDeflate::new(DeflateAgreement {
        server_no_context_takeover: true,
        ..agreement
    });
    let messages = chat_messages();
    let raw: usize = messages.iter().map(String::len).sum();
    let sizes = |codec: &mut PerMessageDeflate| -> usize {
        messages
            .iter()
            .map(|message| {
                codec
                    .compress(message.as_bytes())
                    .map_or(0, |bytes| bytes.len())
            })
            .sum()
    };
    let (kept, fresh) = (sizes(&mut taking_over), sizes(&mut afresh));
    println!(
        "{} messages: {raw} bytes, {kept} compressed with context takeover, {fresh} without",
        messages.len()
    );
    assert!(kept * 10 < raw * 6, "{kept} of {raw}");
    assert!(fresh * 10 > raw * 9, "{fresh} of {raw}");
}
