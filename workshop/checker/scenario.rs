//! Each chapter's own scenario, as its test in `tests/chapter_NN.rs` plays
//! it: the article's key and mask, the RFC's rules, the bytes on the wire
//! checked first; the narration is compared with the snapshot afterwards.

use std::path::Path;
use std::thread;
use std::time::Duration;

use websocket_from_scratch::Error;
use websocket_from_scratch::client::{self, ARTICLE_KEY, ARTICLE_MASK};
use websocket_from_scratch::protocol::control;
use websocket_from_scratch::protocol::frame::{self, Opcode};
use websocket_from_scratch::protocol::violation::Violation;

use crate::failure::Failure;
use crate::wire::{Redis, Server, TEST_MASK, Wire, answer_timeout};

/// The accept key RFC 6455 §1.3 and the article give for the article's key.
const ARTICLE_ACCEPT: &str = "d9WHst60HtB4IvjOVevrexl0oLA=";

/// What a run left: the narration, and the first failed wire check.
pub struct Run {
    pub log: String,
    pub failure: Option<Failure>,
}

/// Plays chapter `number`'s scenario against `binary`.
pub fn play(number: usize, binary: &Path) -> Run {
    let connections = match number {
        1..=4 | 9 | 11 | 12 => 2,
        _ => 1,
    };
    // Chapter 14's room spans servers through Redis: one of the checker's
    // own, and the reference chapter as the other server.
    let redis = match number {
        14 => match Redis::start() {
            Ok(redis) => Some(redis),
            Err(failure) => {
                return Run {
                    log: String::new(),
                    failure: Some(failure),
                };
            }
        },
        _ => None,
    };
    let redis_url = redis.as_ref().map(Redis::url);
    let extra: Vec<&str> = match &redis_url {
        Some(url) => vec!["--redis", url.as_str()],
        None => Vec::new(),
    };
    let mut server = match Server::start_with(binary, connections, &extra) {
        Ok(server) => server,
        Err(failure) => {
            return Run {
                log: String::new(),
                failure: Some(failure),
            };
        }
    };
    let played = match number {
        1..=4 => article(&mut server, number),
        5 => long_payloads(&mut server),
        6 => binary_echo(&mut server),
        7 => fragments(&mut server),
        8 => ping_between_fragments(&mut server),
        9 => closing(&mut server),
        10 | 13 | 15 => echo_server(&mut server),
        11 => chat(&mut server),
        12 => compression(&mut server),
        14 => match &redis_url {
            Some(url) => chat_across_servers(&mut server, url),
            None => Err(Failure::plain("chapter 14 needs Redis".into())),
        },
        _ => Err(Failure::plain(format!("chapter {number} has no scenario"))),
    };
    // Whether the server died on its own, before the checker stops it.
    let mut died = None;
    if played.is_err() {
        let status = server.wait_for_exit(Duration::from_millis(300));
        if !status.contains("exit status: 0") && !status.contains("stopped by the checker") {
            died = Some(status);
        }
    }
    let status = server.wait_for_exit(answer_timeout());
    let mut log = server.log();
    if let Some(redis) = &redis {
        log = without_node_ids(&log.replace(&format!(":{}", redis.port), ":REDIS_PORT"));
    }
    let port = format!(":{}", server.port);
    let played = played.map_err(|failure| {
        let line = failure.to_string().replace(&port, ":PORT");
        Failure::plain(match died {
            Some(status) => format!("your server exited ({status}); the checker was at: {line}"),
            None => line,
        })
    });
    let failure = match played {
        Err(failure) => Some(failure),
        Ok(()) if status.contains("stopped by the checker") => Some(Failure::plain(format!(
            "your server did not exit after its {connections} connection(s) ended: \
             is a connection still open?"
        ))),
        Ok(()) if !status.contains("exit status: 0") => {
            Some(Failure::plain(format!("your server exited with {status}")))
        }
        Ok(()) => None,
    };
    Run { log, failure }
}

fn page_request(port: u16) -> String {
    format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\nAccept: text/html\r\n\r\n")
}

fn upgrade_request(port: u16) -> String {
    client::handshake_request(&format!("localhost:{port}"), ARTICLE_KEY)
}

/// The `101` with the article's accept value, checked byte for byte where
/// it matters: the status line and `Sec-WebSocket-Accept`.
fn expect_101(wire: &mut Wire) -> Result<Vec<u8>, Failure> {
    let expected = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {ARTICLE_ACCEPT}\r\n\r\n"
    );
    let head = wire.read_head(expected.as_bytes())?;
    let text = String::from_utf8_lossy(&head);
    let status = text.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101 ") {
        return Err(wire.mismatch(
            "no 101: the server did not switch protocols",
            b"HTTP/1.1 101 Switching Protocols\r\n",
            &head,
        ));
    }
    let accept = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-accept")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    if accept != ARTICLE_ACCEPT {
        return Err(wire.mismatch(
            "wrong Sec-WebSocket-Accept (SHA-1 of the key and the GUID, in base64)",
            format!("Sec-WebSocket-Accept: {ARTICLE_ACCEPT}").as_bytes(),
            format!("Sec-WebSocket-Accept: {accept}").as_bytes(),
        ));
    }
    Ok(head)
}

/// Connects with the article's key and checks the `101`.
fn open(server: &mut Server) -> Result<Wire, Failure> {
    let mut wire = server.connect()?;
    wire.send(upgrade_request(server.port).as_bytes())?;
    expect_101(&mut wire)?;
    Ok(wire)
}

fn expect_hang_up(wire: &mut Wire) -> Result<(), Failure> {
    match wire.read_to_end() {
        Ok(rest) if rest.is_empty() => Ok(()),
        Ok(rest) => Err(unexpected(
            wire,
            "more bytes than expected before hanging up",
            &rest,
        )),
        Err((rest, why)) => Err(unexpected(wire, &why, &rest)),
    }
}

/// Bytes where none were expected: an HTTP answer shown as text, anything
/// else taken apart as a frame.
fn unexpected(wire: &Wire, why: &str, rest: &[u8]) -> Failure {
    if rest.starts_with(b"HTTP/") {
        wire.mismatch(why, b"", rest)
    } else {
        wire.frame_mismatch(why, b"", rest)
    }
}

/// Chapters 1 to 4: the browser's two requests, the article's frame, the
/// article's reply.
fn article(server: &mut Server, number: usize) -> Result<(), Failure> {
    let mut page = server.connect()?;
    page.send(page_request(server.port).as_bytes())?;
    let answer = page.read_to_end().unwrap_or_else(|(got, _)| got);
    if !answer.starts_with(b"HTTP/1.1 200 OK\r\n") {
        return Err(page.mismatch(
            "the page request got no page",
            b"HTTP/1.1 200 OK\r\n",
            &answer,
        ));
    }
    let mut wire = server.connect()?;
    wire.send(upgrade_request(server.port).as_bytes())?;
    if number == 1 {
        // Chapter 1 only looks: the upgrade request gets no answer.
        return expect_hang_up(&mut wire);
    }
    expect_101(&mut wire)?;
    if number == 2 {
        return expect_hang_up(&mut wire);
    }
    // The article's frame: "Can you hear me?" masked with [80, 191, 161, 254]
    // is [129, 144, 80, 191, 161, 254, 19, 222, 207, 222, …].
    wire.send_frame(true, Opcode::Text, b"Can you hear me?", ARTICLE_MASK)?;
    if number == 4 {
        let expected = frame::encode(true, Opcode::Text, None, b"Loud and clear!");
        wire.expect_frame(&expected, "the reply \"Loud and clear!\"")?;
    }
    expect_hang_up(&mut wire)
}

/// Sends `payload` and expects it back in one frame of the same opcode.
fn echo(wire: &mut Wire, opcode: Opcode, payload: &[u8]) -> Result<(), Failure> {
    wire.send_frame(true, opcode, payload, TEST_MASK)?;
    let expected = frame::encode(true, opcode, None, payload);
    wire.expect_frame(
        &expected,
        &format!("the echo of a {} byte {opcode} message", payload.len()),
    )?;
    Ok(())
}

fn long_payloads(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    // Each length form, and each side of each boundary (RFC 6455 §5.2).
    for size in [125, 126, 65535, 65536, 1_000_000] {
        echo(&mut wire, Opcode::Text, "a".repeat(size).as_bytes())?;
    }
    Ok(())
}

fn binary_echo(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    let every_byte: Vec<u8> = (0..=255).collect();
    echo(&mut wire, Opcode::Binary, &every_byte)
}

fn fragments(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    wire.send_frames(&[
        (false, Opcode::Text, b"Can you"),
        (false, Opcode::Continuation, b" hear"),
        (true, Opcode::Continuation, b" me?"),
    ])?;
    let expected = frame::encode(true, Opcode::Text, None, b"Can you hear me?");
    wire.expect_frame(&expected, "three fragments echoed as one message")?;
    Ok(())
}

/// The server's own ping, answered with a pong as a browser would.
fn answer_our_ping(wire: &mut Wire) -> Result<(), Failure> {
    let ping = frame::encode(true, Opcode::Ping, None, control::OUR_PING);
    let frame = wire.expect_frame(&ping, "the server's own ping")?;
    wire.answer_frame(Opcode::Pong, &frame.payload, TEST_MASK)
}

fn ping_between_fragments(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    answer_our_ping(&mut wire)?;
    wire.send_frames(&[
        (false, Opcode::Text, b"Hel"),
        (true, Opcode::Ping, b"still here?"),
        (true, Opcode::Continuation, b"lo"),
    ])?;
    let pong = frame::encode(true, Opcode::Pong, None, b"still here?");
    wire.expect_frame(&pong, "the pong for a ping between two fragments")?;
    let hello = frame::encode(true, Opcode::Text, None, b"Hello");
    wire.expect_frame(&hello, "the message around the ping")?;
    Ok(())
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// The answer to a close frame with `code`: a close frame echoing the code
/// (§5.5.1), with any reason or none, which RFC 6455 leaves to the server.
fn expect_close_answer(wire: &mut Wire, code: u16) -> Result<(), Failure> {
    let polite = frame::encode(true, Opcode::Close, None, &close_payload(code, ""));
    let frame = wire.read_frame(&polite)?;
    let echoes_code = frame.payload.starts_with(&code.to_be_bytes());
    let reason_is_text = frame
        .payload
        .get(2..)
        .is_some_and(|reason| std::str::from_utf8(reason).is_ok());
    let header_is_plain = frame.bytes.first() == Some(&0x88);
    if frame.opcode != Opcode::Close || !echoes_code || !reason_is_text || !header_is_plain {
        return Err(wire.frame_mismatch(
            &format!(
                "wrong frame for the answer to close {code}: a close frame echoing its code \
                 (a reason is optional)"
            ),
            &polite,
            &frame.bytes,
        ));
    }
    Ok(())
}

fn closing(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    wire.send_frame(true, Opcode::Text, b"Can you hear me?", TEST_MASK)?;
    answer_our_ping(&mut wire)?;
    let text = frame::encode(true, Opcode::Text, None, b"Can you hear me?");
    wire.expect_frame(&text, "the echo")?;
    wire.send_frame(true, Opcode::Close, &close_payload(1000, "bye"), TEST_MASK)?;
    expect_close_answer(&mut wire, 1000)?;
    expect_hang_up(&mut wire)?;

    let mut wire = open(server)?;
    wire.send_frame(true, Opcode::Close, &999u16.to_be_bytes(), TEST_MASK)?;
    answer_our_ping(&mut wire)?;
    let frame = wire.read_frame(&[136, 2, 3, 234])?;
    if frame.opcode != Opcode::Close || !frame.payload.starts_with(&1002u16.to_be_bytes()) {
        return Err(wire.frame_mismatch(
            "close code 999 must be refused with 1002 (protocol error, RFC 6455 §7.4.1)",
            &[136, 2, 3, 234],
            &frame.bytes,
        ));
    }
    expect_hang_up(&mut wire)
}

fn echo_server(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    echo(&mut wire, Opcode::Text, b"Can you hear me?")?;
    let every_byte: Vec<u8> = (0..=255).collect();
    echo(&mut wire, Opcode::Binary, &every_byte)?;
    wire.send_frames(&[
        (false, Opcode::Text, b"Hel"),
        (true, Opcode::Ping, b"still there?"),
        (true, Opcode::Continuation, b"lo"),
    ])?;
    let pong = frame::encode(true, Opcode::Pong, None, b"still there?");
    wire.expect_frame(&pong, "the pong for a ping between two fragments")?;
    let hello = frame::encode(true, Opcode::Text, None, b"Hello");
    wire.expect_frame(&hello, "the message around the ping")?;
    wire.send_frame(true, Opcode::Close, &close_payload(1000, "bye"), TEST_MASK)?;
    expect_close_answer(&mut wire, 1000)?;
    expect_hang_up(&mut wire)
}

/// The next chat message (a JSON text frame), skipping pings; `expected`
/// sums up the message awaited (`welcome Ada`), shown as a text frame if
/// no frame comes.
fn chat_receive(wire: &mut Wire, expected: &str) -> Result<serde_json::Value, Failure> {
    let awaited = frame::encode(true, Opcode::Text, None, expected.as_bytes());
    loop {
        let frame = wire.read_frame(&awaited)?;
        match frame.opcode {
            Opcode::Ping => wire.answer_frame(Opcode::Pong, &frame.payload, TEST_MASK)?,
            Opcode::Pong => {}
            Opcode::Text => {
                let object: serde_json::Value =
                    serde_json::from_slice(&frame.payload).map_err(|_| {
                        wire.mismatch(
                            "a chat message that is not JSON",
                            expected.as_bytes(),
                            &frame.bytes,
                        )
                    })?;
                // Chapter 14 says which server this is and how many the
                // room spans, whenever that changes: not a step.
                if object["type"] != "span" {
                    return Ok(object);
                }
            }
            _ => {
                return Err(wire.mismatch("not a chat message", expected.as_bytes(), &frame.bytes));
            }
        }
    }
}

/// One chat message, summed up: `Ada: Hello`, `joined Bob`, `welcome Ada`.
fn summary(object: &serde_json::Value) -> String {
    let field = |key: &str| object[key].as_str().unwrap_or_default().to_string();
    match object["type"].as_str() {
        Some("message") => format!("{}: {}", field("from"), field("text")),
        Some(kind) => format!("{kind} {}", field("name")),
        None => object.to_string(),
    }
}

fn chat_expect(wire: &mut Wire, expected: &str) -> Result<(), Failure> {
    let object = chat_receive(wire, expected)?;
    let got = summary(&object);
    if got != expected {
        return Err(wire.mismatch(
            "a different chat message",
            expected.as_bytes(),
            object.to_string().as_bytes(),
        ));
    }
    Ok(())
}

/// [`chat_expect`] for a message that another member's step caused: a
/// failure shows what that step sent, not what `wire` sent last.
fn chat_hear(wire: &mut Wire, step: &Wire, expected: &str) -> Result<(), Failure> {
    wire.sent.clone_from(&step.sent);
    chat_expect(wire, expected)
}

fn chat_send(wire: &mut Wire, object: serde_json::Value) -> Result<(), Failure> {
    wire.send_frame(true, Opcode::Text, object.to_string().as_bytes(), TEST_MASK)
}

fn join(server: &mut Server, name: &str) -> Result<Wire, Failure> {
    let mut wire = open(server)?;
    chat_send(&mut wire, serde_json::json!({"type": "join", "name": name}))?;
    chat_expect(&mut wire, &format!("welcome {name}"))?;
    Ok(wire)
}

fn leave(wire: &mut Wire) -> Result<(), Failure> {
    wire.send_frame(true, Opcode::Close, &[], TEST_MASK)?;
    loop {
        match wire.read_frame(&[136, 0]) {
            Ok(frame) if frame.opcode == Opcode::Close => return expect_hang_up(wire),
            Ok(_) => continue,
            Err(failure) => return Err(failure),
        }
    }
}

/// Chapter 11: two members. Each step waits for its line in the log,
/// which the room writes after telling the members: otherwise the next
/// step's line could come first (a message is delivered, then logged).
fn chat(server: &mut Server) -> Result<(), Failure> {
    let mut ada = join(server, "Ada")?;
    server.wait_for_log("Ada joined", "Ada's join")?;
    let mut bob = join(server, "Bob")?;
    chat_hear(&mut ada, &bob, "joined Bob")?;
    server.wait_for_log("Bob joined", "Bob's join")?;
    chat_send(
        &mut ada,
        serde_json::json!({"type": "say", "text": "Hello, Bob!"}),
    )?;
    chat_expect(&mut ada, "Ada: Hello, Bob!")?;
    chat_hear(&mut bob, &ada, "Ada: Hello, Bob!")?;
    server.wait_for_log("Ada: \"Hello, Bob!\"", "Ada's message")?;
    chat_send(
        &mut bob,
        serde_json::json!({"type": "say", "text": "Hi Ada <3"}),
    )?;
    chat_hear(&mut ada, &bob, "Bob: Hi Ada <3")?;
    chat_expect(&mut bob, "Bob: Hi Ada <3")?;
    server.wait_for_log("Bob: \"Hi Ada <3\"", "Bob's message")?;
    leave(&mut bob)?;
    chat_hear(&mut ada, &bob, "left Bob")?;
    server.wait_for_log("Bob left", "Bob's leave")?;
    leave(&mut ada)?;
    thread::sleep(Duration::from_millis(50));
    Ok(())
}

/// Chapter 12's offer: Chromium's, taken as it is.
const CHROMIUMS_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// An upgrade request offering `offer` in `Sec-WebSocket-Extensions`.
fn offering(port: u16, offer: &str) -> String {
    let request = upgrade_request(port);
    let head = request.trim_end_matches("\r\n");
    format!("{head}\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n")
}

/// Connects offering `offer`; checks the `101` and that its answer to the
/// offer is `answer` (`None`: no `Sec-WebSocket-Extensions` at all).
fn open_offering(server: &mut Server, offer: &str, answer: Option<&str>) -> Result<Wire, Failure> {
    let mut wire = server.connect()?;
    wire.send(offering(server.port, offer).as_bytes())?;
    let head = expect_101(&mut wire)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let got = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| value.trim().to_string())
    });
    if got.as_deref() != answer {
        let show = |value: Option<&str>| match value {
            Some(value) => value.to_string(),
            None => "(no Sec-WebSocket-Extensions header)".to_string(),
        };
        return Err(wire.mismatch(
            &format!(
                "wrong Sec-WebSocket-Extensions for the offer {offer:?} (RFC 7692 §5: answer \
                 with one offer you honour, naming what you accepted, or decline them all)"
            ),
            show(answer).as_bytes(),
            show(got.as_deref()).as_bytes(),
        ));
    }
    Ok(wire)
}

/// A masked client frame with RSV1 set: a compressed message (RFC 7692 §6).
fn compressed_frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = frame::encode(true, Opcode::Text, Some(TEST_MASK), payload);
    bytes[0] |= 0x40;
    bytes
}

/// A server's compressed text frame: RSV1 set, unmasked.
fn compressed_reply(payload: &[u8]) -> Vec<u8> {
    let mut bytes = frame::encode(true, Opcode::Text, None, payload);
    bytes[0] |= 0x40;
    bytes
}

/// Chapter 12: zlib's own bytes in (RSV1 set, the sync tail dropped), the
/// reference's bytes out; then a client that offers nothing.
fn compression(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open_offering(server, CHROMIUMS_OFFER, Some("permessage-deflate"))?;
    // zlib's "Can you hear me?", then the JSON with the same window.
    let can_you_hear_me = [
        0x72, 0x4e, 0xcc, 0x53, 0xa8, 0xcc, 0x2f, 0x55, 0xc8, 0x48, 0x4d, 0x2c, 0x52, 0xc8, 0x4d,
        0xb5, 0x07, 0x00,
    ];
    let json_after = [
        0xaa, 0x56, 0x4a, 0x2b, 0xca, 0xcf, 0x55, 0xb2, 0x52, 0x4a, 0x4c, 0x49, 0x54, 0xd2, 0x51,
        0x2a, 0x49, 0xad, 0x28, 0x01, 0x72, 0x9c, 0xd1, 0x54, 0x29, 0xd5, 0x02, 0x00,
    ];
    let json_echo = [
        0xaa, 0x56, 0x4a, 0x2b, 0xca, 0xcf, 0x55, 0xb2, 0x52, 0x4a, 0x4c, 0x49, 0x54, 0xd2, 0x51,
        0x2a, 0x49, 0xad, 0x28, 0x51, 0xb2, 0x52, 0x72, 0x46, 0x53, 0xa5, 0x54, 0x0b, 0x00,
    ];
    wire.send(&compressed_frame(&can_you_hear_me))?;
    wire.expect_frame(
        &compressed_reply(&can_you_hear_me),
        "the compressed echo of \"Can you hear me?\" (RSV1 set, the sync tail 00 00 ff ff dropped)",
    )?;
    wire.send(&compressed_frame(&json_after))?;
    wire.expect_frame(
        &compressed_reply(&json_echo),
        "the compressed echo of a JSON message, the window kept from the message before",
    )?;
    // Uncompressed is allowed too, RSV1 clear; the echo is compressed.
    wire.send_frame(true, Opcode::Text, b"plain", TEST_MASK)?;
    wire.expect_frame(
        &compressed_reply(&[0x2a, 0xc8, 0x49, 0xcc, 0xcc, 0x03, 0x00]),
        "the compressed echo of \"plain\", sent uncompressed",
    )?;
    wire.send_frame(true, Opcode::Ping, b"ping", TEST_MASK)?;
    wire.expect_frame(
        &frame::encode(true, Opcode::Pong, None, b"ping"),
        "the pong (control frames are never compressed: RSV1 clear)",
    )?;
    wire.send_frame(true, Opcode::Close, &close_payload(1000, ""), TEST_MASK)?;
    expect_close_answer(&mut wire, 1000)?;
    expect_hang_up(&mut wire)?;

    let mut wire = open(server)?;
    echo(&mut wire, Opcode::Text, b"Hello")?;
    // RSV1 with nothing agreed is a protocol error (RFC 6455 §5.2).
    wire.send(&compressed_frame(&[
        0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
    ]))?;
    let frame = wire.read_frame(&[136, 2, 3, 234])?;
    if frame.opcode != Opcode::Close || !frame.payload.starts_with(&1002u16.to_be_bytes()) {
        return Err(wire.frame_mismatch(
            "RSV1 set with no extension agreed must be refused with 1002 (RFC 6455 §5.2)",
            &[136, 2, 3, 234],
            &frame.bytes,
        ));
    }
    expect_hang_up(&mut wire)
}

/// What a line of chapter 14's log says of a node: its random id, shown as
/// `NODE`, as the chapter's test pins it.
fn without_node_ids(log: &str) -> String {
    log.lines()
        .map(|line| match line.split_once("node ") {
            Some((before, after)) if after.len() > 16 && after.is_char_boundary(16) => {
                format!("{before}node NODE{}", &after[16..])
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The reference chapter 14, built beside the checker: the other server.
fn other_server() -> std::path::PathBuf {
    let folder = std::env::current_exe()
        .ok()
        .and_then(|me| me.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    folder.join(format!("14-chat-cluster{}", std::env::consts::EXE_SUFFIX))
}

/// Chapter 14: Ada on your server, Bob on the reference's, one room
/// through Redis.
fn chat_across_servers(server: &mut Server, url: &str) -> Result<(), Failure> {
    server.wait_for_log(
        "Subscribed to chat:room",
        "subscribing to the room's channel",
    )?;
    let mut other =
        Server::start_with(&other_server(), 1, &["--redis", url]).map_err(|failure| {
            Failure::plain(format!("the other server (the reference): {failure}"))
        })?;
    other.wait_for_log("Subscribed to chat:room", "the other server")?;
    let mut ada = join(server, "Ada")?;
    server.wait_for_log("Ada joined", "Ada's join")?;
    // Bob's welcome lists whom his server has heard of: Ada, once heard,
    // through her join's publication or, if the heartbeat that follows its
    // subscription read your server's list first, through Redis's keys.
    other
        .wait_for_any_log(
            &["Ada joined on another server", "Ada is on another server"],
            "",
        )
        .map_err(|_| {
            Failure::plain(format!(
                "the other server (the reference) never heard that Ada joined on yours within \
                 {} s: does your server publish each join on chat:room, in an envelope?",
                answer_timeout().as_secs_f32()
            ))
        })?;
    let mut bob = join(&mut other, "Bob")?;
    chat_hear(&mut ada, &bob, "joined Bob")?;
    server.wait_for_log(
        "Bob joined on another server",
        "Bob's join, heard through Redis",
    )?;
    chat_send(
        &mut ada,
        serde_json::json!({"type": "say", "text": "Hello, Bob!"}),
    )?;
    chat_expect(&mut ada, "Ada: Hello, Bob!")?;
    chat_hear(&mut bob, &ada, "Ada: Hello, Bob!")?;
    server.wait_for_log("Ada: \"Hello, Bob!\"", "Ada's message")?;
    chat_send(
        &mut bob,
        serde_json::json!({"type": "say", "text": "Hi Ada <3"}),
    )?;
    chat_hear(&mut ada, &bob, "Bob: Hi Ada <3")?;
    server.wait_for_log(
        "Bob, on another server: \"Hi Ada <3\"",
        "Bob's message, heard through Redis",
    )?;
    leave(&mut bob)?;
    chat_hear(&mut ada, &bob, "left Bob")?;
    server.wait_for_log(
        "Bob left on another server (1 in the room)",
        "Bob's leave, heard through Redis",
    )?;
    leave(&mut ada)?;
    thread::sleep(Duration::from_millis(50));
    Ok(())
}

/// What each rule below checks, as the verdict names it when the server
/// panicked.
const OLD_VERSION: &str = "a request for WebSocket version 8, to be refused with 426";
const REPLY: &str = "the reply \"Très bien\" (--reply)";
const OFFERS: &str = "offers of permessage-deflate, one declined and the next taken";
const LONG_ECHO: &str = "the echo of an 8 MiB text message";
const FRAGMENTED: &str = "the echo of a 1 MiB binary message sent as 16 fragments of 64 KiB";
const ENDED: &str = "peers that end their stream partway through a frame";
const SECOND_PONG: &str = "a second pong with our ping's payload, once our ping is answered";

/// Rules the narrated scenario does not reach, each played on a server of
/// its own whose narration is not compared (only searched, where the wire
/// cannot tell: chapter 3's refusals, chapters 8 and 9's second pong):
/// what a chapter must refuse, and what it must answer. A server that panicked meanwhile fails with
/// its panic, even if the panic's hang-up looked like a refusal.
pub fn rules(number: usize, binary: &Path) -> Option<Failure> {
    let played = match number {
        2 => own_server(binary, 1, &[], OLD_VERSION, old_version),
        4 => own_server(binary, 1, &["--reply", "Très bien"], REPLY, reply_in_bytes),
        8 | 9 => own_server(binary, 1, &[], SECOND_PONG, second_pong),
        12 => own_server(binary, 2, &[], OFFERS, offers_declined),
        13 | 15 => own_server(binary, 1, &[], LONG_ECHO, long_echo)
            .and_then(|()| own_server(binary, 1, &[], FRAGMENTED, fragmented_long_echo))
            .and_then(|()| {
                own_server(binary, PEERS, &[], ENDED, partial_frames_then_end_of_stream)
            }),
        _ => Ok(()),
    };
    played
        .and_then(|()| refuse_all(binary, number, &refusals(number)))
        .and_then(|()| match number {
            9 => close_answers(binary),
            _ => Ok(()),
        })
        .err()
}

/// Frames that break a rule, sent as one step, and how the chapter must
/// refuse them.
struct Refusal {
    /// The server's options besides `--port` and `--connections`.
    args: &'static [&'static str],
    bad: Vec<u8>,
    /// The close frame's code sent before hanging up; `None`: the server
    /// just hangs up.
    code: Option<u16>,
    /// What the server's log must say of it, where a hang-up alone shows
    /// nothing: chapter 3 hangs up after its one frame, taken or refused.
    told: Option<String>,
    why: String,
}

/// Masked client frames, one after the other.
fn frames(frames: &[(bool, Opcode, &[u8])]) -> Vec<u8> {
    frames
        .iter()
        .flat_map(|(fin, opcode, payload)| frame::encode(*fin, *opcode, Some(TEST_MASK), payload))
        .collect()
}

/// A masked text frame whose length is written in `form` (the 7-bit field
/// 126 or 127) whatever the length, and its bytes.
fn frame_with_length_form(form: u8, length: u64, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x81, 0x80 | form];
    match form {
        126 => bytes.extend_from_slice(&(length as u16).to_be_bytes()),
        _ => bytes.extend_from_slice(&length.to_be_bytes()),
    }
    bytes.extend_from_slice(&TEST_MASK);
    bytes.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ TEST_MASK[i % 4]),
    );
    bytes
}

/// The rules chapter `number` teaches, or keeps from the chapters before,
/// that a frame can break: each with what the chapter must do. Before
/// chapter 9 "refused" means the server hangs up (chapters 5 to 8 send
/// 1007 and 1009 first); from chapter 9 on, it first sends close 1002.
fn refusals(number: usize) -> Vec<Refusal> {
    let protocol_error = (number >= 9).then_some(1002);
    let mut refusals = Vec::new();
    let refused = |bad: Vec<u8>, code: Option<u16>, why: &str| Refusal {
        args: &[],
        bad,
        code,
        told: None,
        why: why.to_string(),
    };
    // Chapter 3 teaches these two rules, but hangs up after its one frame
    // whether it refused it or not: there, its log tells, in the words the
    // library gives each refusal (no lesson writes them).
    let told = |violation: Violation| (number == 3).then(|| Error::from(violation).to_string());
    if (3..=4).contains(&number) {
        refusals.push(Refusal {
            told: told(Violation::Unmasked),
            ..refused(
                frame::encode(true, Opcode::Text, None, b"Can you hear me?"),
                None,
                "an unmasked frame must be refused (RFC 6455 §5.1: a client masks every frame)",
            )
        });
    }
    if (3..=9).contains(&number) {
        let mut reserved = frames(&[(true, Opcode::Text, b"x")]);
        reserved[0] |= 0b0100_0000;
        refusals.push(Refusal {
            told: told(Violation::ReservedBits(0b100)),
            ..refused(
                reserved,
                protocol_error,
                "a frame with a reserved bit set must be refused (RFC 6455 §5.2: no extension \
                 was agreed)",
            )
        });
    }
    if number == 5 {
        refusals.push(refused(
            frame_with_length_form(126, 5, b"hello"),
            None,
            "a length of 5 written in the 16-bit form must be refused (RFC 6455 §5.2: the \
             shortest form)",
        ));
        refusals.push(refused(
            frame_with_length_form(127, 65535, &[b'a'; 65535]),
            None,
            "a length of 65535 written in the 64-bit form must be refused (RFC 6455 §5.2: the \
             shortest form)",
        ));
        refusals.push(refused(
            frame_with_length_form(127, (1 << 63) | 5, b"hello"),
            None,
            "a 64-bit length with its top bit set must be refused (RFC 6455 §5.2: the most \
             significant bit must be 0)",
        ));
    }
    if number == 6 {
        refusals.push(refused(
            frames(&[(true, Opcode::Text, &[0xff, 0xfe])]),
            Some(1007),
            "a text message that is not UTF-8 must be refused with 1007 (RFC 6455 §8.1)",
        ));
    }
    if (7..=9).contains(&number) {
        refusals.push(refused(
            frames(&[(true, Opcode::Continuation, b"x")]),
            protocol_error,
            "a continuation frame with no message to continue must be refused (RFC 6455 §5.4)",
        ));
        refusals.push(refused(
            frames(&[(false, Opcode::Text, b"Hel"), (true, Opcode::Text, b"lo")]),
            protocol_error,
            "a text frame inside an unfinished message must be refused (RFC 6455 §5.4: a new \
             message only once the last one ended)",
        ));
        refusals.push(Refusal {
            args: &["--max-message-size", "10"],
            ..refused(
                frames(&[
                    (false, Opcode::Text, b"abcdef"),
                    (true, Opcode::Continuation, b"ghijkl"),
                ]),
                Some(1009),
                "a message of two 6-byte fragments under --max-message-size 10 must be refused \
                 with 1009: the limit is on the whole message, not on each frame",
            )
        });
    }
    if (8..=9).contains(&number) {
        refusals.push(refused(
            frames(&[(true, Opcode::Ping, &[b'p'; 126])]),
            protocol_error,
            "a ping of 126 bytes must be refused (RFC 6455 §5.5: control frames carry at most 125)",
        ));
        refusals.push(refused(
            frames(&[(false, Opcode::Ping, b"frag")]),
            protocol_error,
            "a fragmented ping must be refused (RFC 6455 §5.5: control frames have FIN set)",
        ));
    }
    if number == 9 {
        for (code, because) in [
            (1005u16, "it only describes a closing, and is never sent"),
            (1006, "it only describes a closing, and is never sent"),
            (1015, "it only describes a closing, and is never sent"),
            (1004, "it is reserved"),
            (2999, "1016 to 2999 are kept for the protocol itself"),
            (5000, "no code is above 4999"),
        ] {
            refusals.push(refused(
                frames(&[(true, Opcode::Close, &code.to_be_bytes())]),
                protocol_error,
                &format!("close code {code} must be refused with 1002 (RFC 6455 §7.4: {because})"),
            ));
        }
        refusals.push(refused(
            frames(&[(true, Opcode::Close, &[3])]),
            protocol_error,
            "a close frame whose payload is one byte must be refused with 1002 (RFC 6455 §5.5.1: \
             a code is two bytes)",
        ));
        refusals.push(refused(
            frames(&[(true, Opcode::Close, &[3, 232, 0xff, 0xfe])]),
            Some(1007),
            "a close reason that is not UTF-8 must be refused with 1007 (RFC 6455 §5.5.1, §8.1)",
        ));
    }
    refusals
}

/// Plays `rule` on a server of its own, started with `args` for
/// `connections` connections; a panic meanwhile is the verdict.
fn own_server(
    binary: &Path,
    connections: usize,
    args: &[&str],
    what: &str,
    rule: impl FnOnce(&mut Server) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut server = Server::start_with(binary, connections, args)?;
    let played = rule(&mut server);
    without_panic(server, played, what)
}

/// Plays each refusal on a server of its own.
fn refuse_all(binary: &Path, number: usize, refusals: &[Refusal]) -> Result<(), Failure> {
    refusals.iter().try_for_each(|refusal| {
        own_server(binary, 1, refusal.args, &refusal.why, |server| {
            refuse(server, number, refusal)
        })
    })
}

/// One refusal: the frames sent, then the close frame expected, if any,
/// then the hang-up. The connection is gone when this returns.
fn refuse(server: &mut Server, number: usize, refusal: &Refusal) -> Result<(), Failure> {
    let mut wire = open(server)?;
    if number >= 8 {
        answer_our_ping(&mut wire)?;
    }
    wire.send(&refusal.bad)?;
    if let Some(code) = refusal.code {
        let expected = frame::encode(true, Opcode::Close, None, &code.to_be_bytes());
        let frame = wire.read_frame(&expected)?;
        if frame.opcode != Opcode::Close || !frame.payload.starts_with(&code.to_be_bytes()) {
            return Err(wire.frame_mismatch(&refusal.why, &expected, &frame.bytes));
        }
    }
    match wire.read_to_end() {
        Ok(rest) if rest.is_empty() => {}
        Ok(rest) | Err((rest, _)) => return Err(wire.frame_mismatch(&refusal.why, b"", &rest)),
    }
    let Some(told) = &refusal.told else {
        return Ok(());
    };
    // Its last lines are out once it has exited (one connection).
    server.wait_for_exit(answer_timeout());
    if server.log().contains(told.as_str()) {
        return Ok(());
    }
    Err(Failure::plain(format!(
        "{}: your server read it as if it were right (its log never says {told:?})",
        refusal.why
    )))
}

/// What chapters 8 and 9 say of a pong that answers our ping; the second
/// pong must not be told so (the reference's `hear`, `Heard::OurPong`).
const OUR_PING_ANSWERED: &str = "the client answered our ping";

/// Our ping answered, then the same pong again: our ping was answered
/// already, so the second answers nothing and is unsolicited (§5.5.3). A
/// server that never forgets its ping takes every such pong for the
/// answer; nothing on the wire shows it (a pong gets no reply), its log
/// does.
fn second_pong(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    answer_our_ping(&mut wire)?;
    wire.send_frame(true, Opcode::Pong, control::OUR_PING, TEST_MASK)?;
    // Still talking after it.
    echo(&mut wire, Opcode::Text, b"after two pongs")?;
    drop(wire);
    // Its last lines are out once it has exited (one connection).
    server.wait_for_exit(answer_timeout());
    let answered = server.log().matches(OUR_PING_ANSWERED).count();
    if answered > 1 {
        return Err(Failure::plain(format!(
            "a second pong with our ping's payload must be taken as unsolicited (RFC 6455 \
             §5.5.3): our ping was answered by the first, yet your server took the second for \
             the answer too ({OUR_PING_ANSWERED:?} {answered} times in its log): forget the \
             ping once its pong arrives"
        )));
    }
    Ok(())
}

/// A rule's verdict once its server has exited, unless that server
/// panicked meanwhile: a panicking thread hangs up too, which is no
/// refusal, and the panic says more than anything on the wire. Every
/// connection of the rule must be gone (the server waits for the peer's
/// end before it lets go).
fn without_panic(
    mut server: Server,
    played: Result<(), Failure>,
    what: &str,
) -> Result<(), Failure> {
    // A server that failed a check may be waiting for connections that
    // will not come: a moment is enough for its last lines.
    let limit = match played {
        Ok(()) => answer_timeout(),
        Err(_) => Duration::from_millis(300),
    };
    server.wait_for_exit(limit);
    match crate::panic_line(&server.log()) {
        Some(panic) => Err(Failure::plain(format!("{panic}\n  checking: {what}"))),
        None => played,
    }
}

/// The answer to a close frame echoes its code, for codes at either end of
/// the ranges a close frame may carry (§5.5.1, §7.4); an empty close gets
/// an empty answer.
fn close_answers(binary: &Path) -> Result<(), Failure> {
    [1001, 1014, 3000, 4999]
        .into_iter()
        .try_for_each(|code| {
            own_server(
                binary,
                1,
                &[],
                &format!("the answer to close {code}"),
                |server| answered(server, code),
            )
        })
        .and_then(|()| {
            own_server(
                binary,
                1,
                &[],
                "the answer to an empty close frame",
                empty_close,
            )
        })
}

/// A close frame with `code` answered with its code, then the hang-up.
fn answered(server: &mut Server, code: u16) -> Result<(), Failure> {
    let mut wire = open(server)?;
    answer_our_ping(&mut wire)?;
    wire.send_frame(true, Opcode::Close, &close_payload(code, "bye"), TEST_MASK)?;
    expect_close_answer(&mut wire, code)?;
    expect_hang_up(&mut wire)
}

/// Offers that cannot be honoured are declined, and the next taken: a
/// window of 16 bits, then one with no context takeover, which the answer
/// repeats (RFC 7692 §5, §7.1.1.1).
fn offers_declined(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open_offering(
        server,
        "permessage-deflate; server_max_window_bits=16, permessage-deflate; \
         server_no_context_takeover; client_max_window_bits",
        Some("permessage-deflate; server_no_context_takeover"),
    )?;
    wire.send_frame(true, Opcode::Close, &close_payload(1000, ""), TEST_MASK)?;
    expect_close_answer(&mut wire, 1000)?;
    let mut wire = open_offering(
        server,
        "x-webkit-deflate-frame, permessage-deflate; mystery",
        None,
    )?;
    wire.send_frame(true, Opcode::Close, &close_payload(1000, ""), TEST_MASK)?;
    expect_close_answer(&mut wire, 1000)
}

/// A message larger than any one read or write: read until `WouldBlock`
/// on every edge, and a write that takes part of it keeps the rest. The
/// checker reads the echo only after a pause, so that the server's first
/// write finds the socket's buffers full and takes only part (Linux's
/// loopback holds a few MiB at most).
fn long_echo(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    let payload = vec![b'a'; 8 << 20];
    wire.send_frame(true, Opcode::Text, &payload, TEST_MASK)?;
    thread::sleep(Duration::from_millis(300));
    let expected = frame::encode(true, Opcode::Text, None, &payload);
    wire.expect_frame(
        &expected,
        "the echo of an 8 MiB text message (more than one write can take)",
    )?;
    Ok(())
}

/// A message sent in fragments longer than the server's reads: each
/// fragment's last bytes land in the message, the next header after them.
fn fragmented_long_echo(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    let fragment = vec![b'f'; 64 << 10];
    let frames: Vec<(bool, Opcode, &[u8])> = (0..16)
        .map(|index| {
            let opcode = if index == 0 {
                Opcode::Binary
            } else {
                Opcode::Continuation
            };
            (index == 15, opcode, fragment.as_slice())
        })
        .collect();
    wire.send_frames(&frames)?;
    let expected = frame::encode(true, Opcode::Binary, None, &vec![b'f'; 1 << 20]);
    wire.expect_frame(
        &expected,
        "the echo of a 1 MiB binary message sent as 16 fragments of 64 KiB",
    )?;
    Ok(())
}

/// How many peers end their stream partway through a frame.
const PEERS: usize = 20;

/// Peers that end their stream partway through a frame are let go at once,
/// as chapter 10 lets them go. Their end of stream comes in the same
/// segment as their last bytes, and no later edge will tell of it: a loop
/// that stops reading before it sees the end keeps them until the idle
/// timeout.
fn partial_frames_then_end_of_stream(server: &mut Server) -> Result<(), Failure> {
    let mut wires = Vec::new();
    for _ in 0..PEERS {
        wires.push(open(server)?);
    }
    let whole = frame::encode(true, Opcode::Binary, Some(TEST_MASK), &[b'p'; 1000]);
    for wire in &mut wires {
        wire.send_then_end_stream(&whole[..300])?;
    }
    for wire in &mut wires {
        if let Err((_, why)) = wire.read_to_end() {
            return Err(Failure::plain(format!(
                "a peer sent 300 bytes of a 1,000-byte frame, then ended its stream \
                 (shutdown): the server must hang up at once, not at its idle timeout ({why})"
            )));
        }
    }
    Ok(())
}

/// A reply with a character of two bytes (`--reply "Très bien"`): the
/// length counts bytes.
fn reply_in_bytes(server: &mut Server) -> Result<(), Failure> {
    let reply = "Très bien";
    let mut wire = open(server)?;
    wire.send_frame(true, Opcode::Text, b"Can you hear me?", ARTICLE_MASK)?;
    let expected = frame::encode(true, Opcode::Text, None, reply.as_bytes());
    wire.expect_frame(
        &expected,
        "the reply \"Très bien\" (--reply): 9 characters, 10 bytes",
    )?;
    Ok(())
}

/// A WebSocket version we do not speak is refused with 426 (§4.2.2).
fn old_version(server: &mut Server) -> Result<(), Failure> {
    let mut wire = server.connect()?;
    let request = upgrade_request(server.port)
        .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    wire.send(request.as_bytes())?;
    let expected = b"HTTP/1.1 426 Upgrade Required\r\n";
    let answer = wire.read_to_end().unwrap_or_else(|(got, _)| got);
    if !answer.starts_with(b"HTTP/1.1 426 ") {
        return Err(wire.mismatch(
            "a request for WebSocket version 8 must be refused with 426 (RFC 6455 §4.2.2)",
            expected,
            &answer,
        ));
    }
    Ok(())
}

/// An empty close frame has no code, and neither has its answer: 1005
/// names that absence and is never sent (§7.4.1).
fn empty_close(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    answer_our_ping(&mut wire)?;
    wire.send_frame(true, Opcode::Close, &[], TEST_MASK)?;
    wire.expect_frame(
        &[136, 0],
        "the answer to an empty close frame: an empty close frame (1005 is never sent, RFC 6455 §7.4.1)",
    )?;
    expect_hang_up(&mut wire)
}
