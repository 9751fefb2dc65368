//! Each chapter's own scenario, as its test in `tests/chapter_NN.rs` plays
//! it: the article's key and mask, the RFC's rules, the bytes on the wire
//! checked first; the narration is compared with the snapshot afterwards.

use std::path::Path;
use std::thread;
use std::time::Duration;

use websocket_from_scratch::client::{self, ARTICLE_KEY, ARTICLE_MASK};
use websocket_from_scratch::protocol::control;
use websocket_from_scratch::protocol::frame::{self, Opcode};

use crate::failure::Failure;
use crate::wire::{Server, Wire, answer_timeout};

/// A fixed mask per frame, as the chapter tests use, so that the narration
/// is the same on every run.
const TEST_MASK: [u8; 4] = [1, 2, 3, 4];

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
        1..=4 | 9 | 11 => 2,
        _ => 1,
    };
    let mut server = match Server::start(binary, connections) {
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
        10 => echo_server(&mut server),
        _ => chat(&mut server),
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
    let log = server.log();
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
fn expect_101(wire: &mut Wire) -> Result<(), Failure> {
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
    Ok(())
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
        Ok(rest) => Err(wire.mismatch("more bytes than expected before hanging up", b"", &rest)),
        Err((rest, why)) => Err(wire.mismatch(&why, b"", &rest)),
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
    wire.send_frame(false, Opcode::Text, b"Can you", TEST_MASK)?;
    wire.send_frame(false, Opcode::Continuation, b" hear", TEST_MASK)?;
    wire.send_frame(true, Opcode::Continuation, b" me?", TEST_MASK)?;
    let expected = frame::encode(true, Opcode::Text, None, b"Can you hear me?");
    wire.expect_frame(&expected, "three fragments echoed as one message")?;
    Ok(())
}

/// The server's own ping, answered with a pong as a browser would.
fn answer_our_ping(wire: &mut Wire) -> Result<(), Failure> {
    let ping = frame::encode(true, Opcode::Ping, None, control::OUR_PING);
    let frame = wire.expect_frame(&ping, "the server's own ping")?;
    wire.send_frame(true, Opcode::Pong, &frame.payload, TEST_MASK)
}

fn ping_between_fragments(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    answer_our_ping(&mut wire)?;
    wire.send_frame(false, Opcode::Text, b"Hel", TEST_MASK)?;
    wire.send_frame(true, Opcode::Ping, b"still here?", TEST_MASK)?;
    wire.send_frame(true, Opcode::Continuation, b"lo", TEST_MASK)?;
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

fn closing(server: &mut Server) -> Result<(), Failure> {
    let mut wire = open(server)?;
    wire.send_frame(true, Opcode::Text, b"Can you hear me?", TEST_MASK)?;
    answer_our_ping(&mut wire)?;
    let text = frame::encode(true, Opcode::Text, None, b"Can you hear me?");
    wire.expect_frame(&text, "the echo")?;
    wire.send_frame(true, Opcode::Close, &close_payload(1000, "bye"), TEST_MASK)?;
    let polite = frame::encode(true, Opcode::Close, None, &close_payload(1000, ""));
    wire.expect_frame(
        &polite,
        "the answer to close 1000: a close frame with code 1000",
    )?;
    expect_hang_up(&mut wire)?;

    let mut wire = open(server)?;
    wire.send_frame(true, Opcode::Close, &999u16.to_be_bytes(), TEST_MASK)?;
    answer_our_ping(&mut wire)?;
    let frame = wire.read_frame(&[136, 2, 3, 234])?;
    if frame.opcode != Opcode::Close || !frame.payload.starts_with(&1002u16.to_be_bytes()) {
        return Err(wire.mismatch(
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
    wire.send_frame(false, Opcode::Text, b"Hel", TEST_MASK)?;
    wire.send_frame(true, Opcode::Ping, b"still there?", TEST_MASK)?;
    wire.send_frame(true, Opcode::Continuation, b"lo", TEST_MASK)?;
    let pong = frame::encode(true, Opcode::Pong, None, b"still there?");
    wire.expect_frame(&pong, "the pong for a ping between two fragments")?;
    let hello = frame::encode(true, Opcode::Text, None, b"Hello");
    wire.expect_frame(&hello, "the message around the ping")?;
    wire.send_frame(true, Opcode::Close, &close_payload(1000, "bye"), TEST_MASK)?;
    let polite = frame::encode(true, Opcode::Close, None, &close_payload(1000, ""));
    wire.expect_frame(&polite, "the answer to close 1000")?;
    expect_hang_up(&mut wire)
}

/// The next chat message (a JSON text frame), skipping pings.
fn chat_receive(wire: &mut Wire, expected: &str) -> Result<serde_json::Value, Failure> {
    loop {
        let frame = wire.read_frame(expected.as_bytes())?;
        match frame.opcode {
            Opcode::Ping => wire.send_frame(true, Opcode::Pong, &frame.payload, TEST_MASK)?,
            Opcode::Pong => {}
            Opcode::Text => {
                return serde_json::from_slice(&frame.payload).map_err(|_| {
                    wire.mismatch(
                        "a chat message that is not JSON",
                        expected.as_bytes(),
                        &frame.bytes,
                    )
                });
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

fn chat(server: &mut Server) -> Result<(), Failure> {
    let mut ada = join(server, "Ada")?;
    let mut bob = join(server, "Bob")?;
    chat_expect(&mut ada, "joined Bob")?;
    chat_send(
        &mut ada,
        serde_json::json!({"type": "say", "text": "Hello, Bob!"}),
    )?;
    chat_expect(&mut ada, "Ada: Hello, Bob!")?;
    chat_expect(&mut bob, "Ada: Hello, Bob!")?;
    chat_send(
        &mut bob,
        serde_json::json!({"type": "say", "text": "Hi Ada <3"}),
    )?;
    chat_expect(&mut ada, "Bob: Hi Ada <3")?;
    chat_expect(&mut bob, "Bob: Hi Ada <3")?;
    leave(&mut bob)?;
    chat_expect(&mut ada, "left Bob")?;
    leave(&mut ada)?;
    thread::sleep(Duration::from_millis(50));
    Ok(())
}
