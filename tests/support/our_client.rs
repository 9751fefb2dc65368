//! Our own client (`websocket_from_scratch::client`), driven frame by frame:
//! it can send what no well-behaved client would.

use std::fmt;
use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use websocket_from_scratch::client::{ARTICLE_KEY, ARTICLE_MASK, Client};
use websocket_from_scratch::protocol::frame::{self, FrameError, Opcode};

use super::{Server, status_number, tungstenite_client, upgrade_request};

/// A fixed mask per test frame, so snapshots are the same on every run.
pub const TEST_MASK: [u8; 4] = [1, 2, 3, 4];

/// Connects our client with the article's key.
pub fn connect(server: &Server) -> Client {
    Client::connect(server.port, ARTICLE_KEY).expect("the handshake succeeds")
}

/// The article's scenario, played by our client: handshake with the
/// article's key, "Can you hear me?" with its mask. Returns the client.
pub fn article_client(server: &Server) -> Client {
    let mut client = connect(server);
    client
        .send(true, Opcode::Text, b"Can you hear me?", ARTICLE_MASK)
        .unwrap();
    client
}

/// One frame as a client sends it, masked with [`TEST_MASK`].
pub fn masked(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    frame::encode(fin, opcode, Some(TEST_MASK), payload)
}

/// Reads frames until one with `opcode` arrives, answering pings on the way;
/// returns its payload.
pub fn expect_frame(client: &mut Client, opcode: Opcode) -> Vec<u8> {
    loop {
        let (header, payload) = client.receive().expect("a frame arrives");
        if header.opcode == opcode {
            return payload;
        }
        if header.opcode == Opcode::Ping && opcode != Opcode::Ping {
            client
                .send(true, Opcode::Pong, &payload, TEST_MASK)
                .unwrap();
            continue;
        }
        panic!("expected a {opcode} frame, got {header:?}");
    }
}

/// The close frame the server sent: its code and reason.
pub fn expect_close(client: &mut Client) -> (u16, String) {
    let payload = expect_frame(client, Opcode::Close);
    assert!(
        payload.len() >= 2,
        "close frame without a code: {payload:?}"
    );
    (
        u16::from_be_bytes([payload[0], payload[1]]),
        String::from_utf8_lossy(&payload[2..]).into_owned(),
    )
}

/// After the close frame, the server hangs up.
pub fn expect_hang_up(client: &mut Client) {
    match client.receive() {
        Err(FrameError::Closed) => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
}

/// What the server sent, as our client saw it.
#[derive(PartialEq, Eq)]
pub enum Reply {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame's code and reason.
    Close(u16, String),
    /// The server closed the connection between frames.
    HungUp,
    /// Anything else: a frame no server of ours sends, a broken frame, a
    /// read that timed out.
    Other(String),
}

/// Reads the next frame from the server. A ping is answered at once with
/// a pong carrying the same payload, as a browser would, and returned too.
pub fn receive(client: &mut Client) -> Reply {
    let (header, payload) = match client.receive() {
        Ok(frame) => frame,
        Err(FrameError::Closed) => return Reply::HungUp,
        Err(error) => return Reply::Other(error.to_string()),
    };
    if !header.fin {
        return Reply::Other(format!("a fragment: {header:?}"));
    }
    match header.opcode {
        Opcode::Text => match String::from_utf8(payload) {
            Ok(text) => Reply::Text(text),
            Err(error) => Reply::Other(format!("text that is not UTF-8: {:?}", error.as_bytes())),
        },
        Opcode::Binary => Reply::Binary(payload),
        Opcode::Ping => match client.send(true, Opcode::Pong, &payload, TEST_MASK) {
            Ok(_) => Reply::Ping(payload),
            Err(error) => Reply::Other(format!("a ping, and our pong failed: {error}")),
        },
        Opcode::Pong => Reply::Pong(payload),
        Opcode::Close if payload.len() >= 2 => Reply::Close(
            u16::from_be_bytes([payload[0], payload[1]]),
            String::from_utf8_lossy(&payload[2..]).into_owned(),
        ),
        other => Reply::Other(format!("a {other} frame: {payload:?}")),
    }
}

/// Our client in a snapshot test. It records what the server sends rather
/// than judging it, so that the test compares the chapter's narration
/// first: a changed chapter shows its diff before any other failure. Once
/// the connection has failed or ended, it records nothing more.
pub struct Transcript {
    client: Option<Client>,
    replies: Vec<Reply>,
}

impl Transcript {
    /// Connects with the article's key; a refused handshake is recorded.
    pub fn connect(server: &Server) -> Transcript {
        match Client::connect(server.port, ARTICLE_KEY) {
            Ok(client) => Transcript {
                client: Some(client),
                replies: Vec::new(),
            },
            Err(error) => Transcript {
                client: None,
                replies: vec![Reply::Other(format!("the handshake failed: {error}"))],
            },
        }
    }

    /// Sends one frame masked with [`TEST_MASK`]; a failure is recorded.
    pub fn send(&mut self, fin: bool, opcode: Opcode, payload: &[u8]) {
        if let Some(client) = &mut self.client
            && let Err(error) = client.send(fin, opcode, payload, TEST_MASK)
        {
            self.replies.push(Reply::Other(format!(
                "sending a {opcode} frame failed: {error}"
            )));
            self.client = None;
        }
    }

    /// Records the next frame from the server (a ping is answered, as
    /// [`receive`] says).
    pub fn receive(&mut self) {
        if let Some(client) = &mut self.client {
            let reply = receive(client);
            if matches!(reply, Reply::HungUp | Reply::Other(_)) {
                self.client = None;
            }
            self.replies.push(reply);
        }
    }

    /// Records frames until the server hangs up.
    pub fn receive_to_the_end(&mut self) {
        while self.client.is_some() {
            self.receive();
        }
    }

    /// Hangs up, if the server has not already, and returns everything the
    /// server sent.
    pub fn hang_up(self) -> Vec<Reply> {
        self.replies
    }
}

/// Long payloads are cut short, so that a failed comparison of a
/// megabyte-long echo stays readable.
impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Text(text) => write!(f, "Text({})", shown_text(text)),
            Reply::Binary(bytes) => write!(f, "Binary({})", shown_bytes(bytes)),
            Reply::Ping(bytes) => write!(f, "Ping({})", shown_payload(bytes)),
            Reply::Pong(bytes) => write!(f, "Pong({})", shown_payload(bytes)),
            Reply::Close(code, reason) => write!(f, "Close({code}, {reason:?})"),
            Reply::HungUp => write!(f, "HungUp"),
            Reply::Other(what) => write!(f, "Other({what})"),
        }
    }
}

fn shown_text(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{:?}… ({} bytes)", &text[..end], text.len()),
        None => format!("{text:?}"),
    }
}

fn shown_bytes(bytes: &[u8]) -> String {
    if bytes.len() > 16 {
        format!("{:?}… ({} bytes)", &bytes[..16], bytes.len())
    } else {
        format!("{bytes:?}")
    }
}

/// A control frame's payload, as text when it is text.
fn shown_payload(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => shown_text(text),
        Err(_) => shown_bytes(bytes),
    }
}

/// Sends `bytes` after the handshake and returns the code of the close
/// frame that comes back, or what came instead. After its close frame the
/// server must hang up.
pub fn close_code_for(server: &Server, bytes: &[u8]) -> Result<u16, String> {
    let mut client = Client::connect(server.port, ARTICLE_KEY)
        .map_err(|error| format!("the handshake failed: {error}"))?;
    client
        .send_raw(bytes)
        .map_err(|error| format!("sending failed: {error}"))?;
    let code = loop {
        match receive(&mut client) {
            // Answered already: from chapter 8 on, the server pings first.
            Reply::Ping(_) => continue,
            Reply::Close(code, _) => break code,
            other => return Err(format!("{other:?} instead of a close frame")),
        }
    };
    match receive(&mut client) {
        Reply::HungUp => Ok(code),
        other => Err(format!(
            "close {code}, then {other:?} instead of hanging up"
        )),
    }
}

/// Plays each row of a protocol-error table on a fresh connection — the
/// rule its bytes break, the bytes, the close code that rule calls for —
/// and fails naming every row that got another answer.
#[track_caller]
pub fn assert_close_codes(server: &Server, rows: &[(&str, Vec<u8>, u16)]) {
    let mut wrong = Vec::new();
    for (rule, bytes, expected) in rows {
        match close_code_for(server, bytes) {
            Ok(code) if code == *expected => {}
            Ok(code) => wrong.push(format!(
                "{rule}: expected close {expected}, got close {code}"
            )),
            Err(what) => wrong.push(format!("{rule}: expected close {expected}, got {what}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows got the wrong answer:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

/// An event loop's peer that never reads: its echoes back up and it stops
/// being read, while another client is served in full (chapters 13, 15).
pub fn a_peer_that_never_reads_does_not_stop_the_loop(binary: &str) {
    // Its idle timeout is long: the stuck peer is still there, backed
    // up, all the while the other client is served.
    let server = Server::start(binary, &["--idle-timeout", "30"]);
    let mut stuck = server.connect_raw();
    stuck
        .write_all(upgrade_request(server.port, ("", "")).as_slice())
        .unwrap();
    let mut head = [0; 12];
    stuck.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    let big = frame::encode(true, Opcode::Binary, Some(TEST_MASK), &vec![0; 1 << 20]);
    // Send until the server stops reading us: its echoes, which we
    // never read, back up, and it stops taking our messages.
    stuck
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let give_up = Instant::now() + Duration::from_secs(20);
    while stuck.write_all(&big).is_ok() && Instant::now() < give_up {}
    // Meanwhile, another client is served in full.
    let mut client = connect(&server);
    for round in 0..200 {
        let text = format!("round {round}");
        client
            .send(true, Opcode::Text, text.as_bytes(), TEST_MASK)
            .unwrap();
        assert_eq!(expect_frame(&mut client, Opcode::Text), text.as_bytes());
    }
    let log = server.log();
    assert!(!log.contains("stopped reading"), "{log}");
    drop(stuck);
    thread::sleep(Duration::from_millis(100));
    client
        .send(true, Opcode::Text, b"after", TEST_MASK)
        .unwrap();
    assert_eq!(expect_frame(&mut client, Opcode::Text), b"after");
}

/// A raw connection past its `101`, its receive buffer set to `receive_buffer`
/// bytes when given (small: what the server sends backs up in the server).
fn upgraded_raw(server: &Server, receive_buffer: Option<usize>) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(bytes) = receive_buffer {
        socket.set_recv_buffer_size(bytes).unwrap();
    }
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], server.port));
    socket.connect(&address.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(&upgrade_request(server.port, ("", "")))
        .unwrap();
    read_101(&mut stream);
    stream
}

/// Reads a response head byte by byte, so that nothing after it is taken,
/// and checks that it is a `101`.
pub fn read_101(stream: &mut std::net::TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
}

/// The server's resident memory now, in KiB, once a first client has come
/// and gone (so that what every connection shares is counted already).
fn resident_after_a_first_client(server: &Server) -> u64 {
    drop(tungstenite_client(server));
    thread::sleep(Duration::from_millis(200));
    status_number(server.pid(), "VmRSS:")
}

/// Peers that send empty pings and never read their pongs: past
/// `BACKED_UP` (1 MiB of output waiting) an event loop stops reading them,
/// and each costs about that much memory, not a queue slot and an
/// allocation of its own for every 2-byte pong (chapters 13, 15).
pub fn peers_that_never_read_their_pongs_cost_about_their_backlog(binary: &str) {
    const PEERS: usize = 2;
    let server = Server::start(binary, &["--quiet", "--idle-timeout", "60"]);
    let before = resident_after_a_first_client(&server);
    let flood = masked(true, Opcode::Ping, b"").repeat(50_000);
    let peers: Vec<_> = (0..PEERS)
        .map(|_| upgraded_raw(&server, Some(4096)))
        .collect();
    thread::scope(|scope| {
        for mut stream in &peers {
            let flood = &flood;
            scope.spawn(move || {
                // Until the server stops reading us (a write waits 3 s), or 60 MB.
                stream
                    .set_write_timeout(Some(Duration::from_secs(3)))
                    .unwrap();
                let mut sent = 0;
                while sent < 60_000_000 && stream.write_all(flood).is_ok() {
                    sent += flood.len();
                }
            });
        }
    });
    let grown = status_number(server.pid(), "VmRSS:").saturating_sub(before);
    // 1 MiB of output each, with room for the allocator's slack.
    let allowed = PEERS as u64 * 4 * 1024;
    assert!(
        grown < allowed,
        "{PEERS} peers that never read their pongs grew the server by {grown} KiB (allowed {allowed})"
    );
}

/// Connections that once sent a burst of empty pings, read every pong and
/// then stay idle cost an idle connection's memory, not the burst's: the
/// queues a burst filled give their room back (chapters 13, 15).
pub fn a_burst_of_pings_leaves_no_memory_behind(binary: &str) {
    const CLIENTS: usize = 40;
    let server = Server::start(
        binary,
        &[
            "--quiet",
            "--idle-timeout",
            "60",
            "--max-connections-per-address",
            "100",
        ],
    );
    let before = resident_after_a_first_client(&server);
    let burst = masked(true, Opcode::Ping, b"").repeat(64 * 1024 / 6);
    let pongs = burst.len() / 6 * 2;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut stream = upgraded_raw(&server, None);
            stream.write_all(&burst).unwrap();
            let mut answer = vec![0; pongs];
            stream.read_exact(&mut answer).unwrap();
            stream
        })
        .collect();
    // Past chapter 15's once-a-second sweep of idle connections.
    thread::sleep(Duration::from_millis(2500));
    let grown = status_number(server.pid(), "VmRSS:").saturating_sub(before);
    let allowed = CLIENTS as u64 * 64;
    assert!(
        grown < allowed,
        "{CLIENTS} idle connections hold {grown} KiB after one burst of pings each (allowed {allowed})"
    );
    drop(clients);
}
