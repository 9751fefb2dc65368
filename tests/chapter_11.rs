//! Chapter 11, the chat room, with independent clients (tungstenite).
//!
//! The tests read and write the chat's JSON as plain `serde_json::Value`s,
//! not through the server's own `chat::wire` types, so a mistake in those
//! types shows up here instead of being shared by both sides.

mod support;

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, Socket, tungstenite_client, tungstenite_close, tungstenite_hang_up};
use tungstenite::Message;

const CHAT: &str = env!("CARGO_BIN_EXE_11-chat");

fn send(socket: &mut Socket, object: Value) {
    socket.send(Message::text(object.to_string())).unwrap();
}

/// The text of the next chat message this socket receives, exactly as sent
/// (pings are answered by tungstenite).
fn receive_text(socket: &mut Socket) -> String {
    loop {
        match socket.read().expect("a message") {
            Message::Text(text) => return text.as_str().to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The next chat object this socket receives.
fn receive(socket: &mut Socket) -> Value {
    let text = receive_text(socket);
    let object: Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(object.is_object(), "not an object: {text}");
    object
}

/// The string field `key` of `object`, or "" if it has none.
fn field<'a>(object: &'a Value, key: &str) -> &'a str {
    object[key].as_str().unwrap_or_default()
}

fn join(server: &Server, name: &str) -> Socket {
    let mut socket = tungstenite_client(server);
    send(&mut socket, json!({"type": "join", "name": name}));
    let welcome = receive(&mut socket);
    assert_eq!(field(&welcome, "type"), "welcome", "{welcome}");
    assert_eq!(field(&welcome, "name"), name, "{welcome}");
    let members = welcome["members"].as_array().expect("a list of members");
    assert_eq!(members.last(), Some(&json!(name)), "{welcome}");
    socket
}

fn say(socket: &mut Socket, text: &str) {
    send(socket, json!({"type": "say", "text": text}));
}

fn summary(object: &Value) -> String {
    match object["type"].as_str() {
        Some("message") => format!("{}: {}", field(object, "from"), field(object, "text")),
        Some(kind) => format!("{kind} {}", field(object, "name")),
        None => object.to_string(),
    }
}

/// Asserts that `object` is an `error` whose sentence contains `why`.
fn assert_refused(object: &Value, why: &str, what: &str) {
    assert_eq!(field(object, "type"), "error", "{what}: {object}");
    let sentence = field(object, "error");
    assert!(sentence.contains(why), "{what}: {sentence:?} lacks {why:?}");
}

#[test]
fn three_members_see_joins_messages_in_order_and_leaves() {
    let server = Server::start(CHAT, &[]);
    let mut ada = join(&server, "Ada");
    let mut bob = join(&server, "Bob");
    assert_eq!(receive(&mut ada), json!({"type": "joined", "name": "Bob"}));
    let mut cy = tungstenite_client(&server);
    send(&mut cy, json!({"type": "join", "name": "Cy"}));
    assert_eq!(
        receive(&mut cy),
        json!({"type": "welcome", "name": "Cy", "members": ["Ada", "Bob", "Cy"]})
    );
    assert_eq!(summary(&receive(&mut ada)), "joined Cy");
    assert_eq!(summary(&receive(&mut bob)), "joined Cy");

    for round in 0..50 {
        say(&mut ada, &format!("ada {round}"));
        say(&mut bob, &format!("bob {round}"));
    }
    for socket in [&mut ada, &mut bob, &mut cy] {
        let (mut from_ada, mut from_bob) = (0, 0);
        while from_ada + from_bob < 100 {
            let line = summary(&receive(socket));
            if let Some(round) = line.strip_prefix("Ada: ada ") {
                assert_eq!(round.parse::<i32>().unwrap(), from_ada, "Ada's order");
                from_ada += 1;
            } else if let Some(round) = line.strip_prefix("Bob: bob ") {
                assert_eq!(round.parse::<i32>().unwrap(), from_bob, "Bob's order");
                from_bob += 1;
            } else {
                panic!("unexpected {line}");
            }
        }
    }
    cy.close(None).unwrap();
    assert_eq!(receive(&mut ada), json!({"type": "left", "name": "Cy"}));
    assert_eq!(summary(&receive(&mut bob)), "left Cy");
}

#[test]
fn a_member_who_stops_reading_is_dropped_and_the_others_carry_on() {
    let server = Server::start(CHAT, &["--queue-length", "16"]);
    let mut ada = join(&server, "Ada");
    let mut bob = join(&server, "Bob");
    let mut sleeper = join(&server, "Sleeper"); // stops reading, until the end
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    assert_eq!(summary(&receive(&mut ada)), "joined Sleeper");
    assert_eq!(summary(&receive(&mut bob)), "joined Sleeper");

    // Enough to fill the sleeper's socket buffers and then its queue.
    let text = "x".repeat(400);
    let started = Instant::now();
    let mut sent = 0;
    let mut left = false;
    while !left && started.elapsed() < Duration::from_secs(60) {
        say(&mut ada, &text);
        sent += 1;
        for socket in [&mut ada, &mut bob] {
            loop {
                let line = summary(&receive(socket));
                if line == "left Sleeper" {
                    left = true;
                    continue;
                }
                assert!(line.starts_with("Ada: x"), "{line}");
                break;
            }
        }
    }
    assert!(left, "the sleeper was never dropped ({sent} messages)");
    server.wait_for_log("Sleeper is not reading fast enough: dropping them with 1008");
    // The room still works for the others.
    say(&mut bob, "still here");
    assert_eq!(summary(&receive(&mut ada)), "Bob: still here");
    // When the sleeper wakes up, it finds what it missed, then the reason;
    // a server that never sent its close fails the test instead of hanging it.
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = sleeper.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
    }
    assert_eq!(tungstenite_close(&mut sleeper).0, 1008);
    // The server started that close through the sleeper's session and
    // reads its answer: the closing handshake completes as any other.
    tungstenite_hang_up(&mut sleeper);
    server.wait_for_log("#3 ← close 1008 (policy violation), the answer to ours: hang up");
}

#[test]
fn a_member_the_server_can_no_longer_write_to_leaves_even_while_it_talks() {
    // Mute stops reading but keeps talking. Its queue is long enough never
    // to fill, so it is not dropped as too slow: its writer gives up
    // instead, at the write timeout (the idle timeout, 2 s). From then on
    // nothing can reach Mute, and it must leave the room, not stay listed
    // for as long as it talks.
    let server = Server::start(CHAT, &["--idle-timeout", "2", "--queue-length", "100000"]);
    let mut bob = join(&server, "Bob");
    let mut mute = join(&server, "Mute");
    assert_eq!(summary(&receive(&mut bob)), "joined Mute");
    // A test that waits for something that never comes fails, not hangs.
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = bob.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_secs(40)))
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    // Whether Bob hears Mute leave while Mute still talks: once Mute falls
    // silent, its idle timeout would end it anyway.
    let bob = thread::spawn(move || {
        while Instant::now() < deadline {
            if summary(&receive(&mut bob)) == "left Mute" {
                return Instant::now() < deadline;
            }
        }
        false
    });
    let text = "😀".repeat(500);
    let talk = |mute: &mut Socket, text: &str| {
        let said = json!({"type": "say", "text": text}).to_string();
        mute.send(Message::text(said)).is_ok()
    };
    'talking: while !bob.is_finished() && Instant::now() < deadline {
        // A burst of 6 MB, until the socket buffers between the server and
        // Mute are full (however large the system lets them grow)…
        for _ in 0..3000 {
            if !talk(&mut mute, &text) {
                break 'talking;
            }
        }
        // …then a line every quarter of a second (well within the idle
        // timeout) for longer than the write timeout.
        for _ in 0..12 {
            if bob.is_finished() || !talk(&mut mute, "still here") {
                break 'talking;
            }
            thread::sleep(Duration::from_millis(250));
        }
    }
    assert!(
        bob.join().unwrap(),
        "Bob never heard Mute leave:\n{}",
        server.log()
    );
    // The log says why, under Mute's number.
    server.wait_for_log("#2 timed out sending: the peer has stopped reading");
}

#[test]
fn pages_from_other_sites_are_refused_with_403() {
    let server = Server::start(CHAT, &["--allow-origin", "https://friend.example"]);
    let handshake = |origin: Option<&str>| {
        let origin = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
        );
        let mut stream = server.connect_raw();
        stream.write_all(request.as_bytes()).unwrap();
        let mut status = [0; 12];
        stream.read_exact(&mut status).unwrap();
        String::from_utf8_lossy(&status).into_owned()
    };
    let port = server.port;
    assert_eq!(handshake(Some("https://evil.example")), "HTTP/1.1 403");
    assert_eq!(handshake(Some("null")), "HTTP/1.1 403");
    assert_eq!(
        handshake(Some(&format!("http://localhost:{}", port + 1))),
        "HTTP/1.1 403"
    );
    assert_eq!(
        handshake(Some(&format!("http://localhost:{port}"))),
        "HTTP/1.1 101"
    );
    assert_eq!(
        handshake(Some(&format!("http://127.0.0.1:{port}"))),
        "HTTP/1.1 101"
    );
    assert_eq!(handshake(Some("https://friend.example")), "HTTP/1.1 101");
    assert_eq!(handshake(None), "HTTP/1.1 101");
    server.wait_for_log("cross-site WebSocket hijacking");
}

#[test]
fn malformed_messages_get_an_error_for_the_sender_only() {
    let server = Server::start(CHAT, &[]);
    let mut ada = join(&server, "Ada");
    let mut bob = join(&server, "Bob");
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    let bad: Vec<(Message, &str)> = vec![
        (Message::text("not json"), "that is not JSON"),
        (Message::text("[\"say\""), "that is not JSON"),
        (Message::text("[\"say\",\"hi\"]"), "a JSON object"),
        (Message::text("{\"type\":\"dance\"}"), "`dance`"),
        (Message::text("{\"text\":\"no type\"}"), "`type`"),
        (Message::text("{\"type\":\"say\"}"), "`text`"),
        (
            Message::text("{\"type\":\"say\",\"text\":42}"),
            "not a chat message",
        ),
        (
            Message::text("{\"type\":\"join\",\"name\":\"Ada again\"}"),
            "already joined",
        ),
        (
            Message::text("{\"type\":\"say\",\"text\":\"\"}"),
            "1 to 500 characters, not 0",
        ),
        (
            Message::text(format!(
                "{{\"type\":\"say\",\"text\":\"{}\"}}",
                "y".repeat(501)
            )),
            "1 to 500 characters, not 501",
        ),
        (Message::binary(vec![1, 2, 3]), "not binary"),
    ];
    for (message, why) in bad {
        ada.send(message.clone()).unwrap();
        assert_refused(&receive(&mut ada), why, &format!("{message:?}"));
    }
    // Names are checked, and unique.
    let mut eve = tungstenite_client(&server);
    for (name, why) in [
        ("<img src=x onerror=alert(1)>", "1 to 20 characters, not 28"),
        ("<b>Eve</b>", "letters, digits"),
        ("", "1 to 20 characters, not 0"),
        ("ada", "the name \"ada\" is taken"),
    ] {
        send(&mut eve, json!({"type": "join", "name": name}));
        assert_refused(&receive(&mut eve), why, name);
    }
    send(&mut eve, json!({"type": "say", "text": "before joining"}));
    assert_refused(&receive(&mut eve), "join with a name", "say before join");
    // Bob heard none of it; the next thing he hears is Ada's real message.
    say(&mut ada, "hello");
    assert_eq!(summary(&receive(&mut bob)), "Ada: hello");
}

#[test]
fn what_a_refusal_quotes_reaches_the_log_escaped() {
    // A JSON error quotes the unknown type: an escape sequence and a line
    // break in it would let a member write lines of its own into the log.
    let server = Server::start(CHAT, &[]);
    let mut mallory = tungstenite_client(&server);
    let forged = "\u{1b}[2K\r#7 Root joined (1 in the room)\n";
    send(&mut mallory, json!({ "type": forged }));
    assert_refused(&receive(&mut mallory), "#7 Root joined", "a forged line");
    let log = server.wait_for_log("unknown variant");
    assert!(
        log.contains(r"`\u{1b}[2K\u{d}#7 Root joined (1 in the room)\u{a}`"),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "{log}");
    assert!(
        !log.lines().any(|line| line.starts_with("#7 Root")),
        "{log}"
    );
}

#[test]
fn markup_characters_travel_escaped_and_arrive_unchanged() {
    let server = Server::start(CHAT, &[]);
    let mut ada = join(&server, "Ada");
    let said = "<b>bold</b> & \"quoted\" \\ é 😀";
    say(&mut ada, said);
    let text = receive_text(&mut ada);
    assert!(!text.contains(['<', '>', '&']), "{text}");
    assert!(text.contains(r"\u003cb\u003e"), "{text}");
    let message: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        message,
        json!({"type": "message", "from": "Ada", "text": said})
    );
}

#[test]
fn an_oversized_frame_closes_with_1009() {
    let server = Server::start(CHAT, &[]);
    let mut ada = join(&server, "Ada");
    let huge = format!("{{\"type\":\"say\",\"text\":\"{}\"}}", "z".repeat(9000));
    ada.send(Message::text(huge)).unwrap();
    assert_eq!(tungstenite_close(&mut ada).0, 1009);
}

#[test]
fn a_scripted_two_member_session() {
    // The room tells the members first and logs after, outside its lock:
    // each step waits for its log line, so that the next step's line
    // cannot come before it.
    let server = Server::start(CHAT, &["--connections", "2"]);
    let mut ada = join(&server, "Ada");
    server.wait_for_log("Ada joined");
    let mut bob = join(&server, "Bob");
    server.wait_for_log("Bob joined");
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    say(&mut ada, "Hello, Bob!");
    assert_eq!(summary(&receive(&mut ada)), "Ada: Hello, Bob!");
    assert_eq!(summary(&receive(&mut bob)), "Ada: Hello, Bob!");
    server.wait_for_log("Ada: \"Hello, Bob!\"");
    say(&mut bob, "Hi Ada <3");
    assert_eq!(summary(&receive(&mut ada)), "Bob: Hi Ada <3");
    assert_eq!(summary(&receive(&mut bob)), "Bob: Hi Ada <3");
    server.wait_for_log("Bob: \"Hi Ada <3\"");
    bob.close(None).unwrap();
    while bob.read().is_ok() {}
    assert_eq!(summary(&receive(&mut ada)), "left Bob");
    server.wait_for_log("Bob left");
    ada.close(None).unwrap();
    while ada.read().is_ok() {}
    thread::sleep(Duration::from_millis(50));
    let log = server.finish();
    assert_chapter_snapshot!("11-chat", log);
}

#[test]
fn the_verbose_story_still_tells_who_joined_said_and_left() {
    // --verbose tells more than the default, never less: the frames, and
    // what happened in the room.
    let server = Server::start(CHAT, &["--verbose"]);
    let mut ada = join(&server, "Ada");
    server.wait_for_log("Ada joined (1 in the room)");
    let mut bob = join(&server, "Bob");
    server.wait_for_log("Bob joined (2 in the room)");
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    say(&mut ada, "Hello, Bob!");
    assert_eq!(summary(&receive(&mut ada)), "Ada: Hello, Bob!");
    assert_eq!(summary(&receive(&mut bob)), "Ada: Hello, Bob!");
    server.wait_for_log("Ada: \"Hello, Bob!\"");
    bob.close(None).unwrap();
    while bob.read().is_ok() {}
    assert_eq!(summary(&receive(&mut ada)), "left Bob");
    let log = server.wait_for_log("Bob left (1 in the room)");
    // The frame-by-frame story is there too.
    assert!(log.contains("Incoming Request"), "{log}");
}
