//! Chapter 14, the chat room across servers through Redis pub/sub, with
//! real processes: a `redis-server` of the test's own (see
//! `support::redis_server`), two or more chapter 14 servers, and
//! independent clients (tungstenite) reading the chat's JSON as plain
//! `serde_json::Value`s.
//!
//! They need Debian's `redis-server`. So that a plain `cargo test` never
//! counts them as passed where they cannot run, they are ignored unless
//! asked for:
//!
//! ```text
//! apt-get install redis-server
//! cargo test --test chapter_14 -- --ignored
//! ```
//!
//! Asked for without Redis, they fail. CI (`.ci/run`) asks for them.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Redis, Server, Socket, tungstenite_client};
use tungstenite::Message;
use tungstenite::stream::MaybeTlsStream;

const CHAT: &str = env!("CARGO_BIN_EXE_14-chat-cluster");

/// A chapter 14 server on `redis`, once it has subscribed.
fn server(redis: &Redis, extra: &[&str]) -> Server {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str()];
    args.extend_from_slice(extra);
    let server = Server::start(CHAT, &args);
    server.wait_for_log("Subscribed to chat:room");
    server
}

fn connect(server: &Server) -> Socket {
    let socket = tungstenite_client(server);
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        // A test that waits for something that never comes fails, not hangs.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
    }
    socket
}

fn send(socket: &mut Socket, object: Value) {
    socket.send(Message::text(object.to_string())).unwrap();
}

/// The next chat object this socket receives, whatever its type.
fn receive_any(socket: &mut Socket) -> Value {
    loop {
        match socket.read().expect("a message") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The next chat object this socket receives, leaving out what the server
/// says of the room's span (`span_is_told` checks those): they come when
/// the connection opens, and whenever a server is first heard of or gone,
/// which depends on the timing of heartbeats.
fn receive(socket: &mut Socket) -> Value {
    loop {
        let object = receive_any(socket);
        if object["type"] != "span" {
            return object;
        }
    }
}

fn field<'a>(object: &'a Value, key: &str) -> &'a str {
    object[key].as_str().unwrap_or_default()
}

fn summary(object: &Value) -> String {
    match object["type"].as_str() {
        Some("message") => format!("{}: {}", field(object, "from"), field(object, "text")),
        Some("servers") => format!("servers reachable={}", object["reachable"]),
        Some(kind) => format!("{kind} {}", field(object, "name")),
        None => object.to_string(),
    }
}

/// Joins as `name`; returns the socket and the welcome's member list.
fn join(server: &Server, name: &str) -> (Socket, Vec<String>) {
    let mut socket = connect(server);
    send(&mut socket, json!({"type": "join", "name": name}));
    let welcome = receive(&mut socket);
    assert_eq!(field(&welcome, "type"), "welcome", "{welcome}");
    let members = welcome["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|name| name.as_str().unwrap_or_default().to_string())
        .collect();
    (socket, members)
}

/// Waits until `server` has heard that `name` joined elsewhere: pub/sub
/// takes a moment, and a welcome lists only who its server has told its
/// members of.
fn heard_join(server: &Server, name: &str) {
    server.wait_for_log(&format!("{name} joined on another server"));
}

fn say(socket: &mut Socket, text: &str) {
    send(socket, json!({"type": "say", "text": text}));
}

/// The refusal a join of `name` gets.
fn refused_join(server: &Server, name: &str) -> String {
    let mut socket = connect(server);
    send(&mut socket, json!({"type": "join", "name": name}));
    let answer = receive(&mut socket);
    assert_eq!(field(&answer, "type"), "error", "{answer}");
    field(&answer, "error").to_string()
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn messages_cross_servers_each_sender_in_order() {
    let redis = Redis::start();
    let a = server(&redis, &[]);
    let b = server(&redis, &[]);
    let (mut ada, _) = join(&a, "Ada");
    heard_join(&b, "Ada");
    let (mut bob, members) = join(&b, "Bob");
    assert_eq!(members, ["Ada", "Bob"]);
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    heard_join(&a, "Bob");
    let (mut cy, members) = join(&a, "Cy");
    assert_eq!(members, ["Bob", "Ada", "Cy"]);
    heard_join(&b, "Cy");
    let (dee, members) = join(&b, "Dee");
    assert_eq!(members.len(), 4, "{members:?}");
    for socket in [&mut ada, &mut bob, &mut cy] {
        while summary(&receive(socket)) != "joined Dee" {}
    }

    // 500 from Ada on A and 500 from Bob on B, at the same time.
    let rounds = 500;
    let writers = [(ada, "ada"), (bob, "bob")].map(|(mut socket, who)| {
        thread::spawn(move || {
            for round in 0..rounds {
                say(&mut socket, &format!("{who} {round}"));
            }
            socket
        })
    });
    let readers = [(cy, "Cy"), (dee, "Dee")].map(|(mut socket, who)| {
        thread::spawn(move || {
            let (mut from_ada, mut from_bob) = (0, 0);
            while from_ada + from_bob < 2 * rounds {
                let line = summary(&receive(&mut socket));
                if let Some(round) = line.strip_prefix("Ada: ada ") {
                    assert_eq!(
                        round.parse::<i32>().unwrap(),
                        from_ada,
                        "Ada's order at {who}"
                    );
                    from_ada += 1;
                } else if let Some(round) = line.strip_prefix("Bob: bob ") {
                    assert_eq!(
                        round.parse::<i32>().unwrap(),
                        from_bob,
                        "Bob's order at {who}"
                    );
                    from_bob += 1;
                } else {
                    panic!("{who}: unexpected {line}");
                }
            }
            socket
        })
    });
    let [mut ada, mut bob] = writers.map(|writer| writer.join().unwrap());
    let [_cy, _dee] = readers.map(|reader| reader.join().unwrap());
    // The senders hear both too, each its own in order.
    for (socket, who) in [(&mut ada, "Ada"), (&mut bob, "Bob")] {
        let mut count = 0;
        while count < 2 * rounds {
            let line = summary(&receive(socket));
            assert!(
                line.starts_with("Ada: ") || line.starts_with("Bob: "),
                "{who}: {line}"
            );
            count += 1;
        }
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn joins_leaves_and_names_span_the_servers() {
    let redis = Redis::start();
    let a = server(&redis, &[]);
    let b = server(&redis, &[]);
    let (mut ada, members) = join(&a, "Ada");
    assert_eq!(members, ["Ada"]);
    heard_join(&b, "Ada");
    let (mut bob, members) = join(&b, "Bob");
    assert_eq!(members, ["Ada", "Bob"]);
    assert_eq!(receive(&mut ada), json!({"type": "joined", "name": "Bob"}));
    a.wait_for_log("Bob joined on another server (2 in the room)");
    // Names are unique across servers, whatever the case.
    assert!(refused_join(&b, "ADA").contains("the name \"ADA\" is taken"));
    assert!(refused_join(&a, "bob").contains("the name \"bob\" is taken"));
    // A third server, started later, learns who is where from Redis.
    let c = server(&redis, &[]);
    c.wait_for_log("Ada is on another server");
    c.wait_for_log("Bob is on another server");
    let (mut cy, members) = join(&c, "Cy");
    let mut sorted = members.clone();
    sorted.sort();
    assert_eq!(sorted, ["Ada", "Bob", "Cy"], "{members:?}");
    assert_eq!(members.last().map(String::as_str), Some("Cy"));
    assert_eq!(summary(&receive(&mut ada)), "joined Cy");
    assert_eq!(summary(&receive(&mut bob)), "joined Cy");
    // Bob leaves: everyone elsewhere hears it, and his name is free again.
    bob.close(None).unwrap();
    while bob.read().is_ok() {}
    assert_eq!(receive(&mut ada), json!({"type": "left", "name": "Bob"}));
    assert_eq!(receive(&mut cy), json!({"type": "left", "name": "Bob"}));
    b.wait_for_log("Bob left (");
    let (_bob_again, members) = join(&a, "Bob");
    assert_eq!(members.last().map(String::as_str), Some("Bob"));
    assert_eq!(summary(&receive(&mut cy)), "joined Bob");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_join_refused_for_a_name_taken_here_leaves_that_name_claimed() {
    // What a server may find after Redis lost its keys (restarted empty,
    // say) and before its heartbeat claims its members' names again: no
    // claim on "Ada", while Ada is here. Another "ada" joining here claims
    // the name, then is refused: the claim is this server's, which is
    // Ada's, and must not be given back for another server to take.
    let redis = Redis::start();
    // A heartbeat every 10 s: none claims the name again meanwhile.
    let ttl = ["--presence-ttl", "30"];
    let a = server(&redis, &ttl);
    let b = server(&redis, &ttl);
    let (mut ada, _) = join(&a, "Ada");
    heard_join(&b, "Ada");
    let mut admin = redis.connection().unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg("chat:name:ada")
        .query(&mut admin)
        .unwrap();
    assert!(refused_join(&a, "ada").contains("the name \"ada\" is taken"));
    // What A queued for Redis before Ada's next words has been sent once B
    // hears them.
    say(&mut ada, "still Ada");
    b.wait_for_log("Ada, on another server: \"still Ada\"");
    assert!(refused_join(&b, "Ada").contains("the name \"Ada\" is taken"));
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn redis_killed_and_restarted_mid_conversation() {
    let mut redis = Redis::start();
    let a = server(&redis, &[]);
    let b = server(&redis, &[]);
    let (mut ada, _) = join(&a, "Ada");
    let (mut cy, _) = join(&a, "Cy");
    // Bob's welcome lists them only once B has heard of them; otherwise
    // their joins reach him afterwards, as news.
    heard_join(&b, "Ada");
    heard_join(&b, "Cy");
    let (mut bob, _) = join(&b, "Bob");
    assert_eq!(summary(&receive(&mut ada)), "joined Cy");
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    assert_eq!(summary(&receive(&mut cy)), "joined Bob");
    say(&mut ada, "before");
    for socket in [&mut ada, &mut cy, &mut bob] {
        assert_eq!(summary(&receive(socket)), "Ada: before");
    }

    redis.kill();
    for socket in [&mut ada, &mut cy, &mut bob] {
        assert_eq!(
            receive(socket),
            json!({"type": "servers", "reachable": false})
        );
    }
    a.wait_for_log("other servers unreachable; chat goes on among the 2 members here");
    // Local chat goes on; nothing crosses; nobody new can take a name.
    say(&mut ada, "only here");
    assert_eq!(summary(&receive(&mut ada)), "Ada: only here");
    assert_eq!(summary(&receive(&mut cy)), "Ada: only here");
    say(&mut bob, "only on B");
    assert_eq!(summary(&receive(&mut bob)), "Bob: only on B");
    assert!(refused_join(&a, "Eve").contains("other servers unreachable"));

    redis.restart();
    for socket in [&mut ada, &mut cy, &mut bob] {
        assert_eq!(
            receive(socket),
            json!({"type": "servers", "reachable": true})
        );
    }
    // The names held before are claimed again in the new, empty Redis.
    let mut check = redis.connection().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for name in ["ada", "cy", "bob"] {
        let key = format!("chat:name:{name}");
        while redis::cmd("GET")
            .arg(&key)
            .query::<Option<String>>(&mut check)
            .unwrap()
            .is_none()
        {
            assert!(Instant::now() < deadline, "{key} never claimed again");
            thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(refused_join(&b, "Ada").contains("is taken"));
    // Chat crosses again; what was said during the outage stayed where it
    // was. Bob speaks once Ada's word has reached A's members: the two
    // take different roads (A alone, B then Redis then A), so which comes
    // first otherwise would be up to the scheduler.
    say(&mut ada, "after");
    for socket in [&mut ada, &mut cy] {
        assert_eq!(summary(&receive(socket)), "Ada: after");
    }
    say(&mut bob, "back");
    for socket in [&mut ada, &mut cy] {
        assert_eq!(summary(&receive(socket)), "Bob: back");
    }
    let mut heard = [summary(&receive(&mut bob)), summary(&receive(&mut bob))];
    heard.sort();
    assert_eq!(heard, ["Ada: after", "Bob: back"]);
    // Nobody was disconnected, on either server.
    assert!(!a.log().contains(" left ("), "{}", a.log());
    assert!(!b.log().contains(" left ("), "{}", b.log());
    a.wait_for_log("answers again: the other servers are reachable");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_name_claimed_elsewhere_during_an_outage_is_let_go_here() {
    let redis = Redis::start();
    let a = server(&redis, &["--presence-ttl", "2"]);
    let (mut ada, _) = join(&a, "Ada");
    // What another server does if it claims "Ada" in the moment before
    // this one, back from an outage, claims its names again.
    let mut other = redis.connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg("chat:name:ada")
        .arg("another-server")
        .arg("PX")
        .arg(60_000)
        .query(&mut other)
        .unwrap();
    // At its next heartbeat (within a third of the ttl), server A finds the
    // claim gone and lets its Ada go.
    let close = loop {
        match ada.read() {
            Ok(Message::Close(Some(frame))) => break frame,
            Ok(Message::Close(None)) => panic!("a close frame without a code"),
            Ok(_) => continue,
            Err(error) => panic!("no close frame: {error}"),
        }
    };
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(
        close.reason.as_str(),
        websocket_from_scratch::server::chat::NAME_TAKEN_ELSEWHERE
    );
    a.wait_for_log("letting our Ada go with 1008");
    // The claim stays the other server's: Ada's leaving did not free it.
    let holder: String = redis::cmd("GET")
        .arg("chat:name:ada")
        .query(&mut other)
        .unwrap();
    assert_eq!(holder, "another-server");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn the_verbose_story_still_tells_the_room_and_redis_coming_back() {
    let mut redis = Redis::start();
    // `server` waits for "Subscribed to chat:room", said at every level.
    let a = server(&redis, &["--verbose"]);
    let b = server(&redis, &[]);
    let (mut ada, _) = join(&a, "Ada");
    a.wait_for_log("Ada joined (1 in the room)");
    heard_join(&b, "Ada");
    let (mut bob, _) = join(&b, "Bob");
    heard_join(&a, "Bob");
    say(&mut bob, "Hi Ada");
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    assert_eq!(summary(&receive(&mut ada)), "Bob: Hi Ada");
    a.wait_for_log("Bob, on another server: \"Hi Ada\"");
    redis.kill();
    a.wait_for_log("is unreachable");
    redis.restart();
    a.wait_for_log("answers again: the other servers are reachable");
    b.wait_for_log("answers again: the other servers are reachable");
    drop(bob);
    a.wait_for_log("Bob left on another server (1 in the room)");
}

/// Publishes `event` straight to the room's channel, as a server that
/// does not exist would: anyone who can reach Redis can.
fn publish_as_intruder(publisher: &mut redis::Connection, seq: u64, event: Value) {
    let envelope = json!({"node": "intruder", "seq": seq, "v": 0, "event": event});
    let _: i64 = redis::cmd("PUBLISH")
        .arg("chat:room")
        .arg(envelope.to_string())
        .query(publisher)
        .unwrap();
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn what_comes_through_redis_obeys_the_rooms_rules() {
    let redis = Redis::start();
    let a = server(&redis, &[]);
    let (mut ada, _) = join(&a, "Ada");
    let mut publisher = redis.connection().unwrap();
    // A look-alike name, and a right-to-left override in a message.
    let ada_cyrillic = "\u{0410}da";
    publish_as_intruder(
        &mut publisher,
        1,
        json!({"type": "message", "from": ada_cyrillic, "text": "trust me"}),
    );
    publish_as_intruder(
        &mut publisher,
        2,
        json!({"type": "message", "from": "Eve", "text": "abc\u{202E}gnp.exe"}),
    );
    publish_as_intruder(
        &mut publisher,
        3,
        json!({"type": "message", "from": "Eve", "text": "plain words"}),
    );
    // Only the message that obeys the rules arrives.
    assert_eq!(summary(&receive(&mut ada)), "Eve: plain words");
    let log = a.wait_for_log("Eve, on another server");
    assert_eq!(
        log.matches("Ignored an event from another server").count(),
        2,
        "{log}"
    );
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn publications_numbered_anyhow_never_stop_a_server_hearing() {
    // Counting what was lost since a server's last publication must not
    // overflow, whatever numbers come: the thread that hears Redis is the
    // only one.
    let redis = Redis::start();
    let a = server(&redis, &[]);
    let (mut ada, _) = join(&a, "Ada");
    let mut publisher = redis.connection().unwrap();
    for (seq, text) in [(u64::MAX, "first"), (1, "second"), (2, "third")] {
        let event = json!({"type": "message", "from": "Eve", "text": text});
        publish_as_intruder(&mut publisher, seq, event);
    }
    for text in ["first", "second", "third"] {
        assert_eq!(summary(&receive(&mut ada)), format!("Eve: {text}"));
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_killed_servers_members_vanish_within_the_ttl() {
    let redis = Redis::start();
    let ttl = ["--presence-ttl", "2"];
    let a = server(&redis, &ttl);
    let mut b = server(&redis, &ttl);
    let (mut ada, _) = join(&a, "Ada");
    let (_bob, _) = join(&b, "Bob");
    let (_dee, _) = join(&b, "Dee");
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    assert_eq!(summary(&receive(&mut ada)), "joined Dee");
    b.kill();
    // No goodbye from B: A finds out when B's presence expires (2 s, plus
    // a heartbeat of A's).
    let mut gone = [summary(&receive(&mut ada)), summary(&receive(&mut ada))];
    gone.sort();
    assert_eq!(gone, ["left Bob", "left Dee"]);
    a.wait_for_log("Bob: their server is gone (1 in the room)");
    // B restarted: a new node; Bob comes back by himself (as the page does).
    let b = server(&redis, &ttl);
    // B learns of Ada from her presence in Redis, read at subscribing.
    b.wait_for_log("Ada is on another server");
    let (_bob, members) = join(&b, "Bob");
    assert_eq!(members, ["Ada", "Bob"]);
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
}

/// Reads `socket` until `line` (a `summary`) arrives, for at most `limit`:
/// whether it did.
fn told_within(socket: &mut Socket, line: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let MaybeTlsStream::Plain(stream) = socket.get_ref() else {
        unreachable!("plain TCP")
    };
    let stream = stream.try_clone().unwrap();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match socket.read() {
            Ok(Message::Text(text)) => {
                let object: Value = serde_json::from_str(text.as_str()).expect("JSON");
                if summary(&object) == line {
                    return true;
                }
            }
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// Reads `socket` to its end on a thread of its own: the close code it
/// was sent, if any.
fn drain(mut socket: Socket) -> thread::JoinHandle<Option<u16>> {
    thread::spawn(move || {
        let mut code = None;
        loop {
            match socket.read() {
                Ok(Message::Close(Some(frame))) => code = Some(u16::from(frame.code)),
                Ok(_) => continue,
                Err(_) => return code,
            }
        }
    })
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_name_key_of_another_type_does_not_stop_the_heartbeat() {
    // Anyone who can reach Redis can write a name's key: one that is not
    // a string must cost that name, not the server's presence.
    let redis = Redis::start();
    let ttl = ["--presence-ttl", "2"];
    let a = server(&redis, &ttl);
    let mut b = server(&redis, &ttl);
    let (mut ada, _) = join(&a, "Ada");
    let (cy, _) = join(&a, "Cy");
    heard_join(&b, "Ada");
    heard_join(&b, "Cy");
    let (_bob, _) = join(&b, "Bob");
    heard_join(&a, "Bob");
    let mut other = redis.connection().unwrap();
    let _: () = redis::pipe()
        .cmd("DEL")
        .arg("chat:name:cy")
        .ignore()
        .cmd("HSET")
        .arg("chat:name:cy")
        .arg("field")
        .arg("value")
        .ignore()
        .query(&mut other)
        .unwrap();
    b.kill();
    let cy = drain(cy);
    // B's presence expires within 2 s; A's next scans find it gone.
    assert!(
        told_within(&mut ada, "left Bob", Duration::from_secs(6)),
        "Ada was never told Bob left:\n{}",
        a.log()
    );
    // Cy's claim is no longer A's: Cy is let go, as any lost claim.
    assert_eq!(cy.join().unwrap(), Some(1008));
    a.wait_for_log("letting our Cy go with 1008");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_heartbeat_that_keeps_failing_is_said_once_and_so_is_its_return() {
    // Redis answers the subscriber but refuses the heartbeat's scripts
    // (an ACL without EVAL): nothing is kept in Redis, and the log must
    // say so at the default level, once, not at every beat.
    let redis = Redis::start();
    let a = server(&redis, &["--presence-ttl", "1"]);
    let (_ada, _) = join(&a, "Ada");
    let mut admin = redis.connection().unwrap();
    let acl = |admin: &mut redis::Connection, rule: &str| {
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg("default")
            .arg(rule)
            .query(admin)
            .unwrap();
    };
    acl(&mut admin, "-eval");
    a.wait_for_log("The heartbeat fails while Redis");
    // Six heartbeats more.
    thread::sleep(Duration::from_secs(2));
    acl(&mut admin, "+eval");
    let log = a.wait_for_log("The heartbeat works again");
    assert_eq!(log.matches("The heartbeat fails").count(), 1, "{log}");
    assert!(!log.contains("unreachable"), "{log}");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn what_others_wrote_under_chat_node_is_not_read_whole_at_every_heartbeat() {
    // Anyone who can reach Redis can write there: 256 "servers" whose
    // lists take 1 MiB each, under ids as long as a real node's, and 64
    // whose very names take 1 MiB. Read whole at every heartbeat, they
    // took a server to 271 MB (7 MB without them).
    let redis = Redis::start();
    let mut writer = redis.connection().unwrap();
    let mebibyte = "x".repeat(1 << 20);
    let mut keys = Vec::new();
    for i in 0..256 {
        keys.push((format!("chat:node:junk{i:012}"), mebibyte.clone()));
    }
    for i in 0..64 {
        keys.push((format!("chat:node:{i}{mebibyte}"), "{}".to_string()));
    }
    for (key, value) in &keys {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query(&mut writer)
            .unwrap();
    }
    let a = server(&redis, &["--presence-ttl", "1"]);
    let (mut ada, _) = join(&a, "Ada");
    // Nine heartbeats.
    thread::sleep(Duration::from_secs(3));
    let peak = support::status_number(a.pid(), "VmHWM:");
    let _: i64 = redis::cmd("DEL")
        .arg(keys.iter().map(|(key, _)| key).collect::<Vec<_>>())
        .query(&mut writer)
        .unwrap();
    assert!(peak < 64 * 1024, "the server peaked at {peak} KiB");
    // The room still works.
    say(&mut ada, "still here");
    assert_eq!(summary(&receive(&mut ada)), "Ada: still here");
}

/// Everything `socket` is told for `limit`, as `summary` lines.
fn heard_for(socket: &mut Socket, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let MaybeTlsStream::Plain(stream) = socket.get_ref() else {
        unreachable!("plain TCP")
    };
    let stream = stream.try_clone().unwrap();
    let mut heard = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return heard;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match socket.read() {
            Ok(Message::Text(text)) => {
                let object: Value = serde_json::from_str(text.as_str()).expect("JSON");
                heard.push(summary(&object));
            }
            Ok(_) => continue,
            Err(_) => return heard,
        }
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn after_a_name_conflict_the_ada_who_stays_is_not_announced_as_left() {
    let redis = Redis::start();
    let ttl = ["--presence-ttl", "2"];
    let a = server(&redis, &ttl);
    let b = server(&redis, &ttl);
    let (mut ada, _) = join(&a, "Ada");
    let (mut cy, _) = join(&a, "Cy");
    heard_join(&b, "Ada");
    heard_join(&b, "Cy");
    let (mut bob, _) = join(&b, "Bob");
    heard_join(&a, "Bob");
    // What an outage makes possible: A's claim on "Ada" gone, and B lets
    // another Ada join before A claims the name again (A's heartbeat
    // claims it anew every two thirds of a second: try until B wins).
    let mut admin = redis.connection().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let _other_ada = loop {
        let _: i64 = redis::cmd("DEL")
            .arg("chat:name:ada")
            .query(&mut admin)
            .unwrap();
        let mut socket = connect(&b);
        send(&mut socket, json!({"type": "join", "name": "Ada"}));
        let answer = receive(&mut socket);
        if field(&answer, "type") == "welcome" {
            break socket;
        }
        assert!(Instant::now() < deadline, "B never took Ada: {answer}");
    };
    // A finds its claim lost, and lets its Ada go.
    a.wait_for_log("letting our Ada go with 1008");
    while ada.read().is_ok() {}
    a.wait_for_log("Ada left (");
    // B's Ada is still in the room: nobody may be told she left.
    for (socket, who) in [(&mut bob, "Bob"), (&mut cy, "Cy")] {
        let heard = heard_for(socket, Duration::from_secs(2));
        let about_ada = heard.iter().rev().find(|line| line.ends_with(" Ada"));
        assert_ne!(
            about_ada.map(String::as_str),
            Some("left Ada"),
            "{who} heard {heard:?}"
        );
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_name_a_member_here_has_is_not_announced_when_a_scan_finds_it_elsewhere() {
    // What a server back from an outage may find in its first scan: a
    // list elsewhere with the name of one of its own members. That Ada is
    // here all along: neither she nor the others may hear her join or
    // leave. Zed, listed beside her, shows when the scans have happened.
    let redis = Redis::start();
    let a = server(&redis, &["--presence-ttl", "2"]);
    let (mut ada, _) = join(&a, "Ada");
    let (mut cy, _) = join(&a, "Cy");
    assert_eq!(summary(&receive(&mut ada)), "joined Cy");
    let mut other = redis.connection().unwrap();
    let key = "chat:node:0123456789abcdef";
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(r#"{"v":1,"names":["Ada","Zed"]}"#)
        .arg("PX")
        .arg(60_000)
        .query(&mut other)
        .unwrap();
    a.wait_for_log("Zed is on another server");
    let _: i64 = redis::cmd("DEL").arg(key).query(&mut other).unwrap();
    a.wait_for_log("Zed: their server is gone");
    for (socket, who) in [(&mut ada, "Ada"), (&mut cy, "Cy")] {
        let heard = heard_for(socket, Duration::from_millis(500));
        let expected: Vec<String> = ["joined Zed", "left Zed"].map(String::from).into();
        let heard: Vec<String> = heard.into_iter().filter(|line| line != "span ").collect();
        assert_eq!(heard, expected, "{who}");
    }
    assert!(!a.log().contains("Ada is on another server"), "{}", a.log());
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_scripted_two_server_session() {
    let redis = Redis::start();
    let a = server(&redis, &["--connections", "1"]);
    let b = server(&redis, &[]);
    // Each step waits for its line in server A's log, which the room
    // writes after it has told the members: the next step's line cannot
    // come before it.
    let (mut ada, _) = join(&a, "Ada");
    a.wait_for_log("Ada joined");
    heard_join(&b, "Ada");
    let (mut bob, _) = join(&b, "Bob");
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    a.wait_for_log("Bob joined on another server");
    say(&mut ada, "Hello, Bob!");
    assert_eq!(summary(&receive(&mut ada)), "Ada: Hello, Bob!");
    assert_eq!(summary(&receive(&mut bob)), "Ada: Hello, Bob!");
    a.wait_for_log("Ada: \"Hello, Bob!\"");
    say(&mut bob, "Hi Ada <3");
    assert_eq!(summary(&receive(&mut ada)), "Bob: Hi Ada <3");
    a.wait_for_log("Bob, on another server: \"Hi Ada <3\"");
    bob.close(None).unwrap();
    while bob.read().is_ok() {}
    assert_eq!(summary(&receive(&mut ada)), "left Bob");
    a.wait_for_log("Bob left on another server (1 in the room)");
    ada.close(None).unwrap();
    while ada.read().is_ok() {}
    thread::sleep(Duration::from_millis(50));
    let redis_port = format!(":{}", redis.port);
    let log = a
        .finish()
        .replace(&redis_port, ":REDIS_PORT")
        .lines()
        .map(|line| match line.split_once("node ") {
            Some((before, after)) if after.len() > 16 => {
                format!("{before}node NODE{}", &after[16..])
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_chapter_snapshot!("14-chat-cluster", log);
}

/// A member who talks every `every` and hears everything, on sockets of
/// its own: one thread writes, one reads (the room drops a member whose
/// queue fills up because nobody reads it).
struct Talker {
    heard: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Talker {
    fn start(socket: Socket, who: &'static str, every: Duration) -> Talker {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let MaybeTlsStream::Plain(stream) = socket.get_ref() else {
            unreachable!("plain TCP")
        };
        let mut writer = tungstenite::WebSocket::from_raw_socket(
            MaybeTlsStream::Plain(stream.try_clone().unwrap()),
            tungstenite::protocol::Role::Client,
            None,
        );
        let talking = Arc::clone(&stop);
        let writes = thread::spawn(move || {
            let mut count = 0;
            while !talking.load(Ordering::SeqCst) {
                count += 1;
                if writer
                    .send(Message::text(
                        json!({"type": "say", "text": format!("{who} {count}")}).to_string(),
                    ))
                    .is_err()
                {
                    break;
                }
                thread::sleep(every);
            }
        });
        let listening = Arc::clone(&heard);
        let reads = thread::spawn(move || {
            let mut socket = socket;
            while let Ok(message) = socket.read() {
                if let Message::Text(text) = message
                    && let Ok(object) = serde_json::from_str::<Value>(text.as_str())
                {
                    listening.lock().unwrap().push(object);
                }
            }
        });
        Talker {
            heard,
            stop,
            threads: vec![writes, reads],
        }
    }

    /// Everything heard so far, as `summary` lines.
    fn heard(&self) -> Vec<String> {
        self.heard.lock().unwrap().iter().map(summary).collect()
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.threads);
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn redis_frozen_for_ten_seconds_announces_nobody_as_left() {
    // As an operator would try it: two servers at the default ttl, members
    // talking on both, joins tried during the outage.
    let redis = Redis::start();
    let a = server(&redis, &[]);
    let b = server(&redis, &[]);
    let (ada, _) = join(&a, "Ada");
    heard_join(&b, "Ada");
    let (bob, _) = join(&b, "Bob");
    heard_join(&a, "Bob");
    let (dee, _) = join(&b, "Dee");
    heard_join(&a, "Dee");
    let ada = Talker::start(ada, "ada", Duration::from_millis(100));
    let bob = Talker::start(bob, "bob", Duration::from_millis(250));
    let dee = Talker::start(dee, "dee", Duration::from_secs(1));
    thread::sleep(Duration::from_secs(3));

    redis.pause();
    let frozen = Instant::now();
    let mut refusals = Vec::new();
    for at in [1, 5, 9] {
        thread::sleep((frozen + Duration::from_secs(at)).saturating_duration_since(Instant::now()));
        refusals.push(refused_join(&a, "Eve"));
        refusals.push(refused_join(&b, "Fay"));
    }
    thread::sleep((frozen + Duration::from_secs(10)).saturating_duration_since(Instant::now()));
    redis.resume();
    // Writes a server had in flight when Redis froze land now, and may
    // renew its presence: delete every presence, as if none had been, so
    // that each server must do without the others' until they write again.
    let mut check = redis.connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("chat:node:*")
        .query(&mut check)
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(&keys).query(&mut check).unwrap();
    }
    for refusal in &refusals {
        assert!(refusal.contains("other servers unreachable"), "{refusal}");
    }

    // Longer than a ttl plus a heartbeat, and than the wait before a
    // missing key counts: whoever would be announced as left has been.
    a.wait_for_log("answers again: the other servers are reachable");
    b.wait_for_log("answers again: the other servers are reachable");
    thread::sleep(Duration::from_secs(16));
    for (talker, who) in [(&ada, "Ada"), (&bob, "Bob"), (&dee, "Dee")] {
        let heard = talker.heard();
        assert!(
            !heard.iter().any(|line| line.starts_with("left ")),
            "{who} was told someone left: {heard:?}"
        );
        // The outage was seen, and chat crossed again after it.
        let back = heard
            .iter()
            .position(|line| line == "servers reachable=true")
            .unwrap_or_else(|| panic!("{who} never heard the servers were back: {heard:?}"));
        let other = if who == "Ada" { "Bob: " } else { "Ada: " };
        assert!(
            heard[back..].iter().any(|line| line.starts_with(other)),
            "{who} heard nothing from the other server after the outage"
        );
    }
    for (log, server) in [(a.log(), "A"), (b.log(), "B")] {
        assert!(!log.contains(" left ("), "server {server}:\n{log}");
        assert!(
            !log.contains("their server is gone"),
            "server {server}:\n{log}"
        );
        assert!(
            !log.contains("left on another server"),
            "server {server}:\n{log}"
        );
        assert!(
            !log.contains("is on another server"),
            "server {server}:\n{log}"
        );
    }
    for talker in [ada, bob, dee] {
        talker.stop();
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_password_in_the_redis_url_never_reaches_the_log() {
    let mut redis = Redis::start_with_password("secretpw");
    let url = redis.url();
    assert!(url.contains(":secretpw@"));
    let shown = format!("redis://:***@127.0.0.1:{}", redis.port);
    // On the command line, and from REDIS_URL, where `ps` does not show it.
    let a = server(&redis, &[]);
    let b = Server::start_with_env(CHAT, &[], &[("REDIS_URL", &url)]);
    b.wait_for_log("Subscribed to chat:room");
    let wrong = format!("redis://:wrongpw@127.0.0.1:{}", redis.port);
    let c = Server::start(CHAT, &["--redis", &wrong]);
    c.wait_for_log("is unreachable");
    // The password works: names are claimed, chat crosses.
    let (mut ada, _) = join(&a, "Ada");
    heard_join(&b, "Ada");
    let (_bob, members) = join(&b, "Bob");
    assert_eq!(members, ["Ada", "Bob"]);
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    // Every line that names Redis: at start, unreachable, back again.
    redis.kill();
    a.wait_for_log("is unreachable");
    redis.restart();
    a.wait_for_log("answers again");
    for (server, name) in [(&a, "--redis"), (&b, "REDIS_URL"), (&c, "a wrong password")] {
        let log = server.log();
        assert!(!log.contains("secretpw"), "{name}:\n{log}");
        assert!(!log.contains("wrongpw"), "{name}:\n{log}");
        assert!(log.contains("redis://:***@127.0.0.1:"), "{name}:\n{log}");
    }
    let log = a.log();
    for line in [
        format!("subscribed to chat:room at {shown}\n"),
        format!("Redis at {shown} is unreachable"),
        format!("Redis at {shown} answers again"),
    ] {
        assert!(log.contains(&line), "{line:?} not in\n{log}");
    }
    eprintln!("--- server A's log ---\n{}", a.log());
    eprintln!("--- server C's log ---\n{}", c.log());
}

/// Runs chapter 14 with `args` and no `REDIS_URL` unless given: its exit
/// status and what it wrote on stderr.
fn run_briefly(args: &[&str], environment: &[(&str, &str)]) -> (Option<i32>, String) {
    let child = std::process::Command::new(CHAT)
        .args(["--port", "0"])
        .args(args)
        .env_remove("REDIS_URL")
        .envs(environment.iter().copied())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    support::exit_within_seconds(child)
}

#[test]
fn a_redis_url_the_server_cannot_use_stops_it_at_start_up() {
    for (url, why) in [
        (
            "redis://:secretpw@127.0.0.1:notaport",
            "the port \"notaport\"",
        ),
        (
            "redis://:secretpw@127.0.0.1:6379/2",
            "names a database (/2)",
        ),
        (
            "rediss://:secretpw@127.0.0.1:6379",
            "rediss:// (Redis over TLS)",
        ),
        ("secretpw", "not a URL"),
    ] {
        let (status, stderr) = run_briefly(&["--redis", url], &[]);
        assert_eq!(status, Some(2), "{url}: {stderr}");
        assert!(stderr.starts_with("error: --redis: "), "{url}: {stderr}");
        assert!(stderr.contains(why), "{url}: {stderr}");
        assert!(!stderr.contains("secretpw"), "{url}: {stderr}");
        assert!(!stderr.contains("Listening"), "{url}: {stderr}");
    }
    let (status, stderr) = run_briefly(&[], &[("REDIS_URL", "redis://:secretpw@host:x")]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: REDIS_URL: the port \"x\""),
        "{stderr}"
    );
    assert!(!stderr.contains("secretpw"), "{stderr}");
}

#[test]
fn a_redis_that_does_not_answer_at_start_up_is_no_mistake() {
    let nobody = support::free_port();
    let url = format!("redis://:secretpw@127.0.0.1:{nobody}");
    let a = Server::start(CHAT, &["--redis", &url]);
    let log = a.wait_for_log("is unreachable");
    assert!(log.contains("trying again"), "{log}");
    assert!(!log.contains("secretpw"), "{log}");
    // It serves: chat goes on here, and names cannot be checked elsewhere.
    assert!(refused_join(&a, "Ada").contains("other servers unreachable"));
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn each_connection_is_told_its_server_and_how_many_the_room_spans() {
    let redis = Redis::start();
    let ttl = ["--presence-ttl", "2"];
    let a = server(&redis, &ttl);
    let node_of = |server: &Server| {
        let log = server.wait_for_log("This server is node ");
        let (_, after) = log.split_once("This server is node ").unwrap();
        after[..16].to_string()
    };
    let mut ada = connect(&a);
    assert_eq!(
        receive_any(&mut ada),
        json!({"type": "span", "node": node_of(&a), "servers": 1})
    );
    send(&mut ada, json!({"type": "join", "name": "Ada"}));
    assert_eq!(field(&receive_any(&mut ada), "type"), "welcome");
    // The span again, right after the welcome: it may have changed since
    // the greeting, and a connection hears of changes only once it joined.
    assert_eq!(
        receive_any(&mut ada),
        json!({"type": "span", "node": node_of(&a), "servers": 1})
    );
    let mut b = server(&redis, &ttl);
    b.wait_for_log("Ada is on another server");
    let mut bob = connect(&b);
    assert_eq!(
        receive_any(&mut bob),
        json!({"type": "span", "node": node_of(&b), "servers": 2})
    );
    // A learns of B, and tells its members.
    assert_eq!(
        receive_any(&mut ada),
        json!({"type": "span", "node": node_of(&a), "servers": 2})
    );
    // B is killed: once it is gone, the room spans one server again.
    drop(bob);
    b.kill();
    assert_eq!(
        receive_any(&mut ada),
        json!({"type": "span", "node": node_of(&a), "servers": 1})
    );
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_connection_that_joins_after_the_span_changed_hears_the_new_span() {
    let redis = Redis::start();
    let ttl = ["--presence-ttl", "2"];
    let a = server(&redis, &ttl);
    // Ada opens her page while A is alone, and has not joined yet.
    let mut ada = connect(&a);
    assert_eq!(receive_any(&mut ada)["servers"], 1);
    let (mut watcher, _) = join(&a, "Watcher");
    let _b = server(&redis, &ttl);
    // Once A has told its members of B, Ada joins: her page must not keep
    // saying that the room spans one server.
    loop {
        let news = receive_any(&mut watcher);
        if news["type"] == "span" && news["servers"] == 2 {
            break;
        }
    }
    send(&mut ada, json!({"type": "join", "name": "Ada"}));
    assert_eq!(field(&receive_any(&mut ada), "type"), "welcome");
    assert_eq!(receive_any(&mut ada)["servers"], 2);
}

/// What B says is its node id, as it greets a connection.
fn node_of(server: &Server) -> String {
    let mut greeted = connect(server);
    let span = receive_any(&mut greeted);
    assert_eq!(field(&span, "type"), "span", "{span}");
    field(&span, "node").to_string()
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_forged_version_does_not_stop_a_server_hearing_another_s_joins() {
    // Anyone who can reach Redis can publish in a real server's name (its
    // id is in every envelope), with a version no real one reaches.
    let redis = Redis::start();
    let ttl = ["--presence-ttl", "1"];
    let a = server(&redis, &ttl);
    let b = server(&redis, &ttl);
    let (mut ada, _) = join(&a, "Ada");
    let mut publisher = redis.connection().unwrap();
    let forged = json!({
        "node": node_of(&b),
        "seq": u64::MAX,
        "v": u64::MAX,
        "event": {"type": "left", "name": "Nobody"},
    });
    let _: i64 = redis::cmd("PUBLISH")
        .arg("chat:room")
        .arg(forged.to_string())
        .query(&mut publisher)
        .unwrap();
    // Published after it: A hears the forgery first.
    let (_bob, _) = join(&b, "Bob");
    assert!(
        told_within(&mut ada, "joined Bob", Duration::from_secs(10)),
        "Ada was never told Bob joined:\n{}",
        a.log()
    );
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_server_key_whose_name_is_not_text_does_not_stop_the_scan() {
    // Key names are bytes: anyone can write one under chat:node: that is
    // as long as a node id and no UTF-8.
    let redis = Redis::start();
    let ttl = ["--presence-ttl", "1"];
    let a = server(&redis, &ttl);
    let mut b = server(&redis, &ttl);
    let (mut ada, _) = join(&a, "Ada");
    let (_bob, _) = join(&b, "Bob");
    assert_eq!(summary(&receive(&mut ada)), "joined Bob");
    let mut writer = redis.connection().unwrap();
    let mut key = b"chat:node:".to_vec();
    key.extend([0xff; 16]);
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg("{}")
        .query(&mut writer)
        .unwrap();
    b.kill();
    assert!(
        told_within(&mut ada, "left Bob", Duration::from_secs(10)),
        "Ada was never told Bob left:\n{}",
        a.log()
    );
}

/// How many times Redis ran `command` since its statistics were reset.
fn calls(redis: &mut redis::Connection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(redis).unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test chapter_14 -- --ignored"]
fn a_redis_holding_many_keys_costs_each_heartbeat_a_bounded_scan() {
    use websocket_from_scratch::server::chat::presence::MAX_SCAN_CALLS;
    // SCAN walks every key of the database, whatever it matches: 300,000
    // keys that are no server's (names claimed, anyone's) took a
    // heartbeat 3,000 round trips.
    let redis = Redis::start();
    let mut admin = redis.connection().unwrap();
    let _: () = redis::cmd("EVAL")
        .arg("for i = 1, tonumber(ARGV[1]) do redis.call('set', 'chat:junk:' .. i, 'x') end")
        .arg(0)
        .arg(300_000)
        .query(&mut admin)
        .unwrap();
    let a = server(&redis, &["--presence-ttl", "1"]);
    let (mut ada, _) = join(&a, "Ada");
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut admin)
        .unwrap();
    // Each heartbeat writes A's presence once (SET), then scans; one may
    // have been under way at the reset.
    let deadline = Instant::now() + Duration::from_secs(10);
    let beats = loop {
        let beats = calls(&mut admin, "set");
        if beats >= 3 {
            break beats;
        }
        assert!(Instant::now() < deadline, "no heartbeats:\n{}", a.log());
        thread::sleep(Duration::from_millis(10));
    };
    let scans = calls(&mut admin, "scan");
    assert!(
        scans <= (beats + 1) * MAX_SCAN_CALLS as u64,
        "{scans} SCAN calls in {beats} heartbeats"
    );
    let log = a.wait_for_log("stopped its scan of Redis");
    assert_eq!(log.matches("stopped its scan").count(), 1, "{log}");
    // The room still works.
    say(&mut ada, "still here");
    assert_eq!(summary(&receive(&mut ada)), "Ada: still here");
}
