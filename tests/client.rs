//! Our client (`client`, from `steps/client.rs`) with the article's key and
//! mask, talking to chapter 4: what it prints, pinned in
//! `snapshots/client.snap`. Its handshake from the client's side, the
//! article's masked bytes, the reply, and the closing handshake it starts.
//! Then against servers that break the rules: it refuses what RFC 6455
//! says a client must refuse, and no server can keep it for ever.

mod support;

use support::play_article;

#[test]
fn our_client_plays_the_article_against_chapter_4() {
    let run = play_article(env!("CARGO_BIN_EXE_04-reply"));
    assert_chapter_snapshot!("client", &run.client_log);
}

use support::{Server, run_to_end};

const CLIENT: &str = env!("CARGO_BIN_EXE_client");

/// Runs our client against chapter 10 with `args`; returns its narration.
fn client_against_chapter_10(args: &[&str]) -> String {
    let server = Server::start(
        env!("CARGO_BIN_EXE_10-echo-server"),
        &["--connections", "1"],
    );
    let port = server.port.to_string();
    let mut all = vec!["--port", port.as_str()];
    all.extend_from_slice(args);
    let (ok, log) = run_to_end(CLIENT, &all);
    assert!(ok, "{log}");
    assert!(!log.contains("panicked"), "{log}");
    server.finish();
    log
}

#[test]
fn our_client_sends_binary_in_fragments() {
    let log =
        client_against_chapter_10(&["--binary", "--fragments", "3", "--message", "hello there"]);
    assert!(
        log.contains("Fragment 1 of 3: binary frame, FIN 0, 3 bytes"),
        "{log}"
    );
    assert!(
        log.contains("Fragment 3 of 3: continuation frame, FIN 1, 4 bytes"),
        "{log}"
    );
    // The echo, one binary frame of "hello there", shown in hex.
    assert!(
        log.contains("Received binary frame of 11 bytes: hex: 68 65 6c 6c 6f 20"),
        "{log}"
    );
}

#[test]
fn our_client_pings_and_closes_with_a_code_and_reason() {
    let log = client_against_chapter_10(&["--ping", "hi", "--close", "4000", "--reason", "bye"]);
    assert!(log.contains("Received pong frame: \"hi\""), "{log}");
    assert!(log.contains("Sending close frame with code 4000"), "{log}");
    assert!(log.contains("Received close frame: code 4000"), "{log}");
}

#[test]
fn our_client_sends_invalid_utf8_and_decodes_the_1007() {
    let log = client_against_chapter_10(&["--invalid-utf8"]);
    assert!(
        log.contains("Sending text that is not UTF-8, [195, 40]"),
        "{log}"
    );
    assert!(
        log.contains("Received close frame: code 1007 (invalid payload data)"),
        "{log}"
    );
}

#[test]
fn our_client_sends_raw_hex_bytes() {
    // An unmasked text frame: a client must mask, so the server fails it
    // with 1002 (RFC 6455 §5.1).
    let log = client_against_chapter_10(&["--hex", "81 02 68 69"]);
    assert!(
        log.contains("Sending raw bytes: [129, 2, 104, 105]"),
        "{log}"
    );
    assert!(
        log.contains("Received close frame: code 1002 (protocol error)"),
        "{log}"
    );
}

#[test]
fn our_client_shortens_long_payloads() {
    let long = "a".repeat(300);
    let log = client_against_chapter_10(&["--message", &long]);
    assert!(log.contains("Received text frame of 300 bytes: "), "{log}");
    assert!(!log.contains(&long), "{log}");
}

#[test]
fn our_client_never_panics_on_its_arguments() {
    let cases: [&[&str]; 10] = [
        &["--fragments", "0"],
        &["--fragments", "-1"],
        &["--fragments", "99999999999999999999"],
        &["--hex", "zz"],
        &["--hex", "8"],
        &["--hex", ""],
        &["--close", "70000"],
        &["--close"],
        &["--mask", "1,2,3"],
        &["--port", "0", "--binary", "--binary", "--what"],
    ];
    for args in cases {
        let (ok, log) = run_to_end(CLIENT, args);
        assert!(!ok, "{args:?} was accepted:\n{log}");
        assert!(!log.contains("panicked"), "{args:?}:\n{log}");
    }
}

// Against servers that break the rules: each a thread on a free loopback
// port that answers one handshake, then does as the test says.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use websocket_from_scratch::protocol::frame::{self, Opcode};
use websocket_from_scratch::protocol::handshake::accept_key;

/// A server that answers one handshake with a `101` carrying
/// `extra_headers` (and the right `Sec-WebSocket-Accept`), reads and drops
/// what the client sends if `drain` (so that it never blocks writing), and
/// then does `behave`.
fn rule_breaker(
    extra_headers: &'static str,
    drain: bool,
    behave: impl FnOnce(TcpStream) + Send + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut key = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.strip_prefix("Sec-WebSocket-Key: ") {
                key = value.trim().to_string();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut writer = stream.try_clone().unwrap();
        write!(
            writer,
            "HTTP/1.1 101 Switching Protocols\r\n{extra_headers}Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(&key)
        )
        .unwrap();
        if drain {
            thread::spawn(move || {
                let mut sink = [0; 4096];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
        behave(stream);
    });
    port
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n";

/// Runs our client on `port` with `args`: its exit code (`None` if it was
/// still running after 30 s, and killed) and its narration.
fn client_on(port: u16, args: &[&str]) -> (Option<i32>, String) {
    let child = std::process::Command::new(CLIENT)
        .args(["--port", &port.to_string()])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    support::exit_within(child, Duration::from_secs(30))
}

/// Reads until the client has gone.
fn wait_for_the_client_to_go(mut stream: TcpStream) {
    let mut sink = [0; 4096];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

/// Writes `frame` every `pause` until the client has gone.
fn keep_sending(mut stream: TcpStream, frame: &[u8], pause: Duration) {
    while stream.write_all(frame).is_ok() {
        thread::sleep(pause);
    }
}

#[test]
fn a_server_that_only_pings_does_not_keep_our_client() {
    let port = rule_breaker(UPGRADE, true, |stream| {
        let ping = frame::encode(true, Opcode::Ping, None, b"hi");
        keep_sending(stream, &ping, Duration::from_millis(500));
    });
    let (status, log) = client_on(port, &[]);
    assert!(status.is_some(), "still running after 30 s:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_server_that_never_answers_our_close_does_not_keep_our_client() {
    let port = rule_breaker(UPGRADE, true, |mut stream| {
        // The echo, then a pong nobody asked for every half second, never
        // the answer to our close.
        let echo = frame::encode(true, Opcode::Text, None, b"echo");
        stream.write_all(&echo).unwrap();
        let pong = frame::encode(true, Opcode::Pong, None, b"");
        keep_sending(stream, &pong, Duration::from_millis(500));
    });
    let (status, log) = client_on(port, &[]);
    assert!(status.is_some(), "still running after 30 s:\n{log}");
}

#[test]
fn a_server_that_answers_our_close_and_never_hangs_up_does_not_keep_our_client() {
    let port = rule_breaker(UPGRADE, true, |mut stream| {
        let echo = frame::encode(true, Opcode::Text, None, b"echo");
        stream.write_all(&echo).unwrap();
        let close = frame::encode(true, Opcode::Close, None, &[0x03, 0xe8]);
        stream.write_all(&close).unwrap();
        // Then a byte now and then, and never the end of TCP (§7.1.1).
        keep_sending(stream, b"x", Duration::from_millis(500));
    });
    let (status, log) = client_on(port, &[]);
    assert!(status.is_some(), "still running after 30 s:\n{log}");
}

#[test]
fn a_server_that_drips_endless_fragments_does_not_keep_our_client() {
    let port = rule_breaker(UPGRADE, true, |mut stream| {
        let first = frame::encode(false, Opcode::Text, None, b"a");
        stream.write_all(&first).unwrap();
        // One byte more of the same message every fifth of a second: the
        // 16 MiB limit is weeks away.
        let more = frame::encode(false, Opcode::Continuation, None, b"a");
        keep_sending(stream, &more, Duration::from_millis(200));
    });
    let (status, log) = client_on(port, &[]);
    assert!(status.is_some(), "still running after 30 s:\n{log}");
}

#[test]
fn our_client_that_fails_the_connection_exits_with_failure() {
    // A masked frame from a server breaks §5.1: the client fails the
    // connection with 1002, and its exit status says so.
    let port = rule_breaker(UPGRADE, true, |mut stream| {
        let masked = frame::encode(true, Opcode::Text, Some([1, 2, 3, 4]), b"bad");
        stream.write_all(&masked).unwrap();
        thread::sleep(Duration::from_millis(500));
        let _ = stream.shutdown(Shutdown::Both);
    });
    let (status, log) = client_on(port, &[]);
    assert!(log.contains("1002"), "{log}");
    assert_eq!(status, Some(1), "{log}");
}

#[test]
fn without_mask_our_client_masks_each_frame_with_a_fresh_key() {
    // §5.3: the client picks a fresh masking key for every frame.
    let (keys_seen, keys) = mpsc::channel();
    let port = rule_breaker(UPGRADE, false, move |stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut seen = Vec::new();
        for _ in 0..3 {
            let header = frame::read_header(&mut reader).unwrap();
            frame::read_payload(&mut reader, &header).unwrap();
            seen.push(header.mask);
        }
        keys_seen.send(seen).unwrap();
        let mut writer = stream;
        let close = frame::encode(true, Opcode::Close, None, &[0x03, 0xe8]);
        let _ = writer.write_all(&close);
        let _ = writer.shutdown(Shutdown::Both);
    });
    let (_, log) = client_on(port, &["--fragments", "3", "--message", "abcdef"]);
    let keys = keys.recv_timeout(Duration::from_secs(5)).expect(&log);
    assert!(
        keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2],
        "one key on several frames: {keys:?}"
    );
}

#[test]
fn our_client_refuses_a_101_that_does_not_upgrade_to_websocket() {
    // §4.1: without `Upgrade: websocket` and `Connection: Upgrade`, the
    // client fails the connection.
    let port = rule_breaker("", true, |stream| {
        keep_sending(stream, b"", Duration::from_millis(100))
    });
    let (status, log) = client_on(port, &[]);
    assert_eq!(status, Some(1), "{log}");
    assert!(log.contains("lacks Upgrade: websocket"), "{log}");
    assert!(!log.contains("Sending \"Can you hear me?\""), "{log}");
}

#[test]
fn our_client_refuses_what_it_did_not_offer() {
    // §4.1, RFC 7692 §5: an extension or a subprotocol the client did not
    // offer fails the connection before a message is sent.
    let rows: [(&'static str, &[&str], &str); 3] = [
        (
            concat!(
                "Upgrade: websocket\r\nConnection: Upgrade\r\n",
                "Sec-WebSocket-Extensions: permessage-deflate\r\n"
            ),
            &[],
            "answers no offer of ours",
        ),
        (
            concat!(
                "Upgrade: websocket\r\nConnection: Upgrade\r\n",
                "Sec-WebSocket-Protocol: chat\r\n"
            ),
            &[],
            "subprotocol",
        ),
        // Two Sec-WebSocket-Extensions lines are one list (RFC 9110
        // §5.3): the second names an extension nobody offered.
        (
            concat!(
                "Upgrade: websocket\r\nConnection: Upgrade\r\n",
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                "Sec-WebSocket-Extensions: x-evil\r\n"
            ),
            &["--deflate"],
            "x-evil",
        ),
    ];
    for (headers, options, said) in rows {
        let port = rule_breaker(headers, false, wait_for_the_client_to_go);
        let (status, log) = client_on(port, options);
        assert_eq!(status, Some(1), "{headers}: {log}");
        assert!(log.contains(said), "{headers}: {log}");
        assert!(!log.contains("Sending \"Can you hear me?\""), "{log}");
    }
}

/// A server that reads one handshake and answers it with what `answer`
/// makes of the client's key, as bytes, then does `behave`.
fn answering(
    answer: impl FnOnce(&str) -> Vec<u8> + Send + 'static,
    behave: impl FnOnce(TcpStream) + Send + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut key = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(value) = line.strip_prefix("Sec-WebSocket-Key: ") {
                key = value.trim().to_string();
            }
            if line == "\r\n" {
                break;
            }
        }
        let _ = stream.write_all(&answer(&key));
        behave(stream);
    });
    port
}

#[test]
fn a_server_that_drips_its_handshake_answer_does_not_keep_our_client() {
    // One byte of a header every fifth of a second: each read gets a byte
    // well within any read timeout, and the 8 KiB head limit is half an
    // hour away. The whole answer has a deadline.
    let port = answering(
        |key| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\n{UPGRADE}Sec-WebSocket-Accept: {}\r\nX-Slow: ",
                accept_key(key)
            )
            .into_bytes()
        },
        |stream| keep_sending(stream, b"a", Duration::from_millis(200)),
    );
    let (status, log) = client_on(port, &[]);
    assert_eq!(status, Some(1), "still running after 30 s?\n{log}");
    assert!(log.contains("no complete answer"), "{log}");
}

#[test]
fn a_server_that_never_accepts_does_not_keep_our_client() {
    // A listener whose queue is full: the kernel drops our SYNs, and a
    // connect without a timeout retries for about two minutes.
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let address = listener.local_addr().unwrap().as_socket().unwrap();
    let mut queued = Vec::new();
    while let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) {
        queued.push(stream);
        assert!(queued.len() < 100, "the listener's queue never fills");
    }
    let (status, log) = client_on(address.port(), &[]);
    assert_eq!(status, Some(1), "still running after 30 s?\n{log}");
    assert!(log.contains("could not connect"), "{log}");
    drop(listener);
}

#[test]
fn our_client_refuses_a_status_line_that_is_not_101() {
    // "1010" starts with "101", but is no status code (RFC 9112 §4).
    let port = answering(
        |key| {
            format!(
                "HTTP/1.1 1010 Switching Protocols\r\n{UPGRADE}Sec-WebSocket-Accept: {}\r\n\r\n",
                accept_key(key)
            )
            .into_bytes()
        },
        wait_for_the_client_to_go,
    );
    let (status, log) = client_on(port, &[]);
    assert_eq!(status, Some(1), "{log}");
    assert!(!log.contains("Sending \"Can you hear me?\""), "{log}");
}

#[test]
fn a_server_cannot_send_escape_sequences_to_our_terminal() {
    let port = answering(
        |_| b"HTTP/1.1 400 \x1b[31mred\x1b]0;title\x07\r\n\r\n".to_vec(),
        wait_for_the_client_to_go,
    );
    let (status, log) = client_on(port, &[]);
    assert_eq!(status, Some(1), "{log}");
    assert!(!log.contains('\x1b'), "{log:?}");
}

#[test]
fn an_endless_answer_is_told_as_the_server_s_not_a_request() {
    let port = answering(
        |_| {
            let mut answer = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
            answer.extend(std::iter::repeat_n(b'a', 9000));
            answer
        },
        wait_for_the_client_to_go,
    );
    let (status, log) = client_on(port, &[]);
    assert_eq!(status, Some(1), "{log}");
    assert!(!log.contains("request"), "{log}");
}

#[test]
fn a_key_that_is_not_16_bytes_in_base64_is_a_mistake() {
    // §4.1; and a key with a line break would add headers of its own.
    for key in ["abc", "abc\r\nX-Injected: yes", ""] {
        let (ok, log) = run_to_end(CLIENT, &["--port", "1", "--key", key]);
        assert!(!ok, "{key:?}:\n{log}");
        assert!(log.contains("--key"), "{key:?}:\n{log}");
        assert!(!log.contains("Sending handshake"), "{key:?}:\n{log}");
    }
    let (status, _) = client_on(1, &["--key", "abc"]);
    assert_eq!(status, Some(2));
}

#[test]
fn a_reset_after_the_closing_handshake_is_no_failure() {
    // The closing handshake is complete when the server resets TCP: the
    // conversation ended cleanly (§7.1.4).
    let port = rule_breaker(UPGRADE, false, |mut stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let header = frame::read_header(&mut reader).unwrap();
        frame::read_payload(&mut reader, &header).unwrap();
        stream
            .write_all(&frame::encode(true, Opcode::Text, None, b"echo"))
            .unwrap();
        let header = frame::read_header(&mut reader).unwrap();
        assert_eq!(header.opcode, Opcode::Close);
        frame::read_payload(&mut reader, &header).unwrap();
        stream
            .write_all(&frame::encode(true, Opcode::Close, None, &[0x03, 0xe8]))
            .unwrap();
        thread::sleep(Duration::from_millis(300));
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    let (status, log) = client_on(port, &[]);
    assert!(log.contains("Received close frame: code 1000"), "{log}");
    assert_eq!(status, Some(0), "{log}");
}

#[test]
fn with_mask_every_frame_our_client_sends_has_that_key() {
    // `--mask`: "the masking key of every frame sent", its close too.
    let (keys_seen, keys) = mpsc::channel();
    let port = rule_breaker(UPGRADE, false, move |mut stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut seen = Vec::new();
        let header = frame::read_header(&mut reader).unwrap();
        frame::read_payload(&mut reader, &header).unwrap();
        seen.push(header.mask);
        let _ = stream.write_all(&frame::encode(true, Opcode::Ping, None, b"hi"));
        let _ = stream.write_all(&frame::encode(true, Opcode::Text, None, b"echo"));
        for _ in 0..2 {
            let header = frame::read_header(&mut reader).unwrap();
            frame::read_payload(&mut reader, &header).unwrap();
            seen.push(header.mask);
        }
        keys_seen.send(seen).unwrap();
        let close = frame::encode(true, Opcode::Close, None, &[0x03, 0xe8]);
        let _ = stream.write_all(&close);
        let _ = stream.shutdown(Shutdown::Both);
    });
    let (_, log) = client_on(port, &["--mask", "1,2,3,4"]);
    let keys = keys.recv_timeout(Duration::from_secs(5)).expect(&log);
    assert_eq!(keys, [Some([1, 2, 3, 4]); 3], "{log}");
}

#[test]
fn a_101_that_repeats_upgrade_or_its_accept_is_refused() {
    // RFC 9110 §5.3: header lines with one name are one comma-separated
    // value. A second `Sec-WebSocket-Accept` (which §11.3.3 forbids) makes
    // it "right, wrong", not the value our key calls for; a second
    // `Upgrade` makes it "websocket, h2c", not "websocket" (§4.1).
    for extra in [
        "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",
        "Upgrade: h2c\r\n",
    ] {
        let port = answering(
            move |key| {
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\n{UPGRADE}Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
                    accept_key(key)
                )
                .into_bytes()
            },
            wait_for_the_client_to_go,
        );
        let (status, log) = client_on(port, &[]);
        assert_eq!(status, Some(1), "{extra}: {log}");
        assert!(
            !log.contains("Sending \"Can you hear me?\""),
            "{extra}: {log}"
        );
    }
}

#[test]
fn a_server_that_hangs_up_right_after_its_close_is_no_failure() {
    // A server that fails the connection may close TCP straight after its
    // close frame (§7.1.7): our answer then has nowhere to go, but the
    // server's close came, and the conversation is over.
    let port = rule_breaker(UPGRADE, false, |mut stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let header = frame::read_header(&mut reader).unwrap();
        frame::read_payload(&mut reader, &header).unwrap();
        let close = frame::encode(true, Opcode::Close, None, b"\x03\xeano thanks");
        stream.write_all(&close).unwrap();
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    let (status, log) = client_on(port, &[]);
    assert!(log.contains("Received close frame: code 1002"), "{log}");
    assert!(!log.contains("sending failed"), "{log}");
    assert_eq!(status, Some(0), "{log}");
}

#[test]
fn our_client_unfolds_a_folded_header_in_the_101() {
    // RFC 9112 §5.2: a user agent replaces obsolete line folding with a
    // space before reading the value (a server refuses it instead).
    let port = answering(
        |key| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive,\r\n\tUpgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                accept_key(key)
            )
            .into_bytes()
        },
        wait_for_the_client_to_go,
    );
    let (_, log) = client_on(port, &[]);
    assert!(log.contains("Sending \"Can you hear me?\""), "{log}");
}

#[test]
fn a_path_with_a_fragment_is_a_mistake() {
    // RFC 6455 §3: a WebSocket URI has no fragment (`#` is sent as %23),
    // and no request-target has one (RFC 9112 §3.2).
    let (status, log) = client_on(1, &["--path", "/chat#top"]);
    assert_eq!(status, Some(2), "{log}");
    assert!(log.contains("--path"), "{log}");
}

#[test]
fn a_server_that_closes_before_our_first_send_is_told_as_closing() {
    // The server answers the handshake and hangs up at once: our writes
    // then meet a closed socket (EPIPE, or a reset), which says only that
    // the server has gone, and is told as such, not as "broken pipe".
    for args in [&[][..], &["--ping", "hi"], &["--fragments", "3"]] {
        let port = rule_breaker(UPGRADE, false, |stream| {
            let _ = stream.shutdown(Shutdown::Both);
        });
        let (status, log) = client_on(port, args);
        assert!(
            status.is_some(),
            "{args:?}: still running after 30 s:\n{log}"
        );
        assert!(
            log.contains("The server closed the connection"),
            "{args:?}: {log}"
        );
        assert!(
            !log.to_lowercase().contains("broken pipe"),
            "{args:?}: {log}"
        );
        assert!(!log.contains("reset by peer"), "{args:?}: {log}");
    }
}

#[test]
fn a_ping_longer_than_a_control_frame_allows_is_a_mistake() {
    // RFC 6455 §5.5: a control frame carries at most 125 bytes. A longer
    // --ping is refused before anything is sent, the option named.
    let long = "a".repeat(126);
    let (status, log) = client_on(1, &["--ping", &long]);
    assert_eq!(status, Some(2), "{log}");
    assert!(log.contains("--ping"), "{log}");
    assert!(!log.contains("Connecting"), "{log}");
    // Bytes, not characters: 63 two-byte characters are 126 bytes.
    let (status, log) = client_on(1, &["--ping", &"é".repeat(63)]);
    assert_eq!(status, Some(2), "{log}");
    // 125 bytes is a ping: the client goes on to connect (and fails to).
    let (status, log) = client_on(1, &["--ping", &"a".repeat(125)]);
    assert_eq!(status, Some(1), "{log}");
    assert!(log.contains("could not connect"), "{log}");
}

#[test]
fn a_close_reason_longer_than_a_close_frame_allows_is_a_mistake() {
    // A close frame is a control frame: 125 bytes, two of them the code
    // (RFC 6455 §5.5, §5.5.1), so a reason has 123. A longer --reason is
    // refused before anything is sent, the option named, as --ping is: not
    // cut short while the log says it was sent whole.
    for long in ["a".repeat(124), "é".repeat(62)] {
        let (status, log) = client_on(1, &["--close", "4000", "--reason", &long]);
        assert_eq!(status, Some(2), "{log}");
        assert!(log.contains("--reason"), "{log}");
        assert!(!log.contains("Connecting"), "{log}");
    }
    // 123 bytes is a reason: the client goes on to connect (and fails to).
    let (status, log) = client_on(1, &["--reason", &"a".repeat(123)]);
    assert_eq!(status, Some(1), "{log}");
    assert!(log.contains("could not connect"), "{log}");
}

#[test]
fn port_zero_is_a_mistake_for_the_client() {
    // A server may ask for any free port with 0; a client cannot connect
    // to port 0, so it says so at start-up, the option named, instead of
    // failing to connect.
    let (status, log) = client_on(1, &["--port", "0"]);
    assert_eq!(status, Some(2), "{log}");
    assert!(log.contains("--port"), "{log}");
    assert!(!log.contains("Connecting"), "{log}");
}

#[test]
fn a_101_in_http_1_0_is_not_told_as_a_refusal() {
    // A 101 switches protocols, which only HTTP/1.1 can (RFC 9110 §7.8,
    // §15.2.2): the client fails the connection, and says why.
    let port = answering(
        |key| {
            format!(
                "HTTP/1.0 101 Switching Protocols\r\n{UPGRADE}Sec-WebSocket-Accept: {}\r\n\r\n",
                accept_key(key)
            )
            .into_bytes()
        },
        wait_for_the_client_to_go,
    );
    let (status, log) = client_on(port, &[]);
    assert_eq!(status, Some(1), "{log}");
    assert!(!log.contains("refused"), "{log}");
    assert!(log.contains("HTTP/1.1"), "{log}");
    assert!(!log.contains("Sending \"Can you hear me?\""), "{log}");
}

#[test]
fn a_101_in_a_later_http_1_minor_version_is_read_as_http_1_1() {
    // RFC 9110 §2.5: a higher minor version is processed as the highest
    // one the recipient implements.
    let port = answering(
        |key| {
            format!(
                "HTTP/1.2 101 Switching Protocols\r\n{UPGRADE}Sec-WebSocket-Accept: {}\r\n\r\n",
                accept_key(key)
            )
            .into_bytes()
        },
        wait_for_the_client_to_go,
    );
    let (_, log) = client_on(port, &[]);
    assert!(log.contains("Sending \"Can you hear me?\""), "{log}");
}
