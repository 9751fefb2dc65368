//! Chapters 10 to 15 under attack: each defence, tried with
//! small configured limits so that every test runs in seconds. The load
//! figures themselves come from `cargo bench --bench load`, run by hand.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{Socket, status_number};
use tungstenite::Message;
use tungstenite::protocol::WebSocketConfig;

const ECHO: &str = env!("CARGO_BIN_EXE_10-echo-server");
const CHAT: &str = env!("CARGO_BIN_EXE_11-chat");
const COMPRESSION: &str = env!("CARGO_BIN_EXE_12-compression");
/// Chapter 13 serves every connection from one event loop: the same
/// defences, without a thread per connection.
const EVENT: &str = env!("CARGO_BIN_EXE_13-event-loop");
/// Chapter 15, the same loop tuned: tuning must keep every defence.
const TUNED: &str = env!("CARGO_BIN_EXE_15-tuned");
/// Chapter 14, the chat across servers: it starts without Redis, so its
/// start-up checks can be tried here too.
const CLUSTER: &str = env!("CARGO_BIN_EXE_14-chat-cluster");

/// A server whose stderr the test handles itself (to stop reading it, say).
struct Raw {
    child: Child,
    port: u16,
    stderr: Option<BufReader<ChildStderr>>,
}

impl Raw {
    fn start(command: Command) -> Raw {
        let mut command = command;
        let mut child = command
            .args(["--port", "0"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let port = websocket_from_scratch::server::listener::port_in_listening_line(&first)
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        Raw {
            child,
            port,
            stderr: Some(stderr),
        }
    }

    fn of(binary: &str, args: &[&str]) -> Raw {
        let mut command = Command::new(binary);
        command.args(args);
        Raw::start(command)
    }

    fn client(&self) -> Socket {
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
        let url = format!("ws://127.0.0.1:{}/", self.port);
        tungstenite::client::connect_with_config(url, Some(config), 3)
            .expect("the handshake completes")
            .0
    }

    #[allow(dead_code)]
    fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Reads stderr from now on, on a thread; returns what it gathers.
    fn collect_log(&mut self) -> std::sync::Arc<std::sync::Mutex<String>> {
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&log);
        let stderr = self.stderr.take().unwrap();
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        log
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(log: &std::sync::Mutex<String>, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = log.lock().unwrap().clone();
        if now.contains(text) {
            return now;
        }
        assert!(Instant::now() < deadline, "{text:?} never logged:\n{now}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn echo_many(socket: &mut Socket, count: usize) {
    for batch in 0..count / 100 {
        for index in 0..100 {
            socket
                .write(Message::text(format!("m{batch}-{index}")))
                .unwrap();
        }
        socket.flush().unwrap();
        for index in 0..100 {
            let message = loop {
                match socket.read().expect("an echo") {
                    Message::Text(text) => break text,
                    _ => continue,
                }
            };
            assert_eq!(message.as_str(), format!("m{batch}-{index}"));
        }
    }
}

// (1) Logging never blocks or kills a connection.

#[test]
fn a_stderr_nobody_reads_does_not_freeze_the_server() {
    for binary in [ECHO, EVENT, TUNED] {
        let mut server = Raw::of(binary, &[]);
        // Nobody reads stderr now: 20,000 log lines overflow the pipe and the
        // queue, and must be dropped, not waited for.
        let mut socket = server.client();
        let started = Instant::now();
        echo_many(&mut socket, 20_000);
        assert!(started.elapsed() < Duration::from_secs(20));
        let log = server.collect_log();
        // The next line written says how many were lost.
        let mut again = server.client();
        again.send(Message::text("after")).unwrap();
        let log = wait_for(&log, "lines dropped");
        assert!(log.contains("… "), "{log}");
    }
}

/// A server told to stop after `--connections N` stops, whoever reads its
/// stderr: lines it could not write (the pipe full, the queue full) are
/// not waited for beyond the second `narrate::flush` gives them, and
/// neither is the line that counts them.
#[test]
fn a_stderr_nobody_reads_does_not_keep_the_server_from_exiting() {
    for binary in [ECHO, EVENT, TUNED] {
        let mut server = Raw::of(binary, &["--connections", "1"]);
        let mut socket = server.client();
        echo_many(&mut socket, 20_000);
        socket.close(None).unwrap();
        while socket.read().is_ok() {}
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.still_running() {
            assert!(
                Instant::now() < deadline,
                "{binary} never exited with its stderr unread"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn a_closed_stderr_does_not_kill_connections() {
    for binary in [ECHO, EVENT, TUNED] {
        let mut server = Raw::of(binary, &[]);
        drop(server.stderr.take());
        for round in 0..3 {
            let mut socket = server.client();
            socket
                .send(Message::text(format!("hello {round}")))
                .unwrap();
            assert_eq!(
                socket.read().unwrap(),
                Message::text(format!("hello {round}"))
            );
            socket.close(None).unwrap();
            while socket.read().is_ok() {}
        }
        assert!(server.still_running());
    }
}

// (2) Refusals, not crashes.

const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==\r\nSec-WebSocket-Version: 13\r\n";

/// The status line's code of what the server answers `request`.
fn status_of(server: &Raw, request: &str) -> String {
    let mut stream = server.raw();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0];
    while !answer.ends_with(b"\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
        answer.push(byte[0]);
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_refused_thread_refuses_its_connection_with_503_and_the_server_goes_on() {
    for binary in [ECHO, CHAT] {
        let mut command = Command::new(binary);
        // Every thread asks for a petabyte of stack: the system refuses it.
        command.env("RUST_MIN_STACK", (1u64 << 50).to_string());
        let mut server = Raw::start(command);
        let log = server.collect_log();
        for _ in 0..3 {
            let answer = status_of(&server, &format!("{UPGRADE}\r\n"));
            assert_eq!(answer, "HTTP/1.1 503 Service Unavailable", "{binary}");
        }
        wait_for(&log, "Could not start a thread for connection #3");
        assert!(server.still_running(), "{binary}");
    }
}

#[test]
fn two_host_headers_get_400() {
    for binary in [ECHO, CHAT, COMPRESSION, EVENT, TUNED] {
        let server = Raw::of(binary, &[]);
        let answer = status_of(&server, &format!("{UPGRADE}Host: evil.example\r\n\r\n"));
        assert_eq!(answer, "HTTP/1.1 400 Bad Request", "{binary}");
        let answer = status_of(&server, &format!("{UPGRADE}\r\n"));
        assert_eq!(answer, "HTTP/1.1 101 Switching Protocols", "{binary}");
    }
}

#[test]
fn durations_over_a_day_are_refused_at_start_up() {
    for binary in [ECHO, EVENT, TUNED] {
        for option in ["--handshake-timeout", "--idle-timeout"] {
            let output = Command::new(binary)
                .args([option, "1e19"])
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(2), "{option}");
            let said = String::from_utf8_lossy(&output.stderr);
            assert!(said.contains("more than a day"), "{option}: {said}");
        }
    }
}

#[test]
fn negative_numbers_and_zero_connections_are_refused_naming_the_option() {
    // A negative value is the option's mistake, not an unknown argument
    // `-1`; and `--connections 0` would serve one connection all the same.
    for binary in [ECHO, EVENT, TUNED] {
        for (option, value) in [
            ("--port", "-1"),
            ("--idle-timeout", "-1"),
            ("--max-message-size", "-5"),
            ("--connections", "0"),
        ] {
            let output = Command::new(binary).args([option, value]).output().unwrap();
            assert_eq!(output.status.code(), Some(2), "{binary} {option} {value}");
            let said = String::from_utf8_lossy(&output.stderr);
            assert!(
                said.contains(&format!("'{value}' for '{option}")),
                "{binary} {option} {value}: {said}"
            );
        }
    }
}

#[test]
fn an_origin_no_browser_would_send_is_refused_at_start_up() {
    // A path (a final `/` too) never matches a browser's `Origin`: that
    // site's pages would be refused for good, without a word at start-up.
    for wrong in [
        "https://chat.example.com/",
        "chat.example.com",
        "https://chat.example.com:http",
        "https://",
        "https://user@chat.example.com",
    ] {
        let child = Command::new(CHAT)
            .args(["--port", "0", "--allow-origin", wrong])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, said) = support::exit_within_seconds(child);
        assert_eq!(status, Some(2), "{wrong}: {said}");
        assert!(said.contains("--allow-origin"), "{wrong}: {said}");
        assert!(said.contains("not an origin"), "{wrong}: {said}");
    }
}

// (3) Bounded and calm at capacity.

/// CPU time (user + system, in clock ticks) the process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A server with `slots` connection slots, all of them for one address
/// (every client here comes from 127.0.0.1).
fn capped(binary: &str, slots: &str) -> Raw {
    Raw::of(
        binary,
        &[
            "--max-connections",
            slots,
            "--max-connections-per-address",
            slots,
        ],
    )
}

/// What the server answers a client that connects and waits: the status
/// line of a refusal, or "" while it waits for the request.
fn first_line_unasked(server: &Raw) -> (TcpStream, String) {
    first_line_unasked_within(server, Duration::from_millis(150))
}

/// What the server answers a client that connects and waits, waiting up
/// to 10 s: for a client that must be refused. A refusal comes at once
/// and is followed by the end of the stream, so this waits long only if
/// the server wrongly holds the client, or if the server is slow to get
/// to it (a loaded machine), where 150 ms would misread a refusal as "".
fn refusal_unasked(server: &Raw) -> String {
    first_line_unasked_within(server, Duration::from_secs(10)).1
}

fn first_line_unasked_within(server: &Raw, wait: Duration) -> (TcpStream, String) {
    let mut stream = server.raw();
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let first = answer.lines().next().unwrap_or_default().to_string();
    let refusal = if answer.contains("Retry-After: ") {
        first
    } else {
        String::new()
    };
    (stream, refusal)
}

/// A refusal is the listener's, not the connection read just before it:
/// with a request and a client over the cap waiting together, chapter 13
/// reads the request as it accepts it, then refuses the next client, and
/// the refusal's line must carry no connection's number.
#[test]
fn a_refusal_after_a_read_in_the_same_turn_carries_no_connections_number() {
    for binary in [EVENT, TUNED] {
        let mut server = capped(binary, "1");
        let log = server.collect_log();
        let pid = server.child.id().to_string();
        let signal = |name: &str| {
            let sent = Command::new("kill").args([name, &pid]).status();
            assert!(sent.is_ok_and(|status| status.success()), "kill {name}");
        };
        // Both wait in the backlog while the server is stopped, and it
        // meets them in one turn of its loop.
        signal("-STOP");
        let mut first = server.raw();
        first.write_all(UPGRADE.as_bytes()).unwrap();
        first.write_all(b"\r\n").unwrap();
        let second = server.raw();
        signal("-CONT");
        let text = wait_for(&log, "refusing new ones with 503");
        let line = text
            .lines()
            .find(|line| line.contains("refusing new ones with 503"))
            .unwrap_or_default();
        assert!(!line.starts_with('#'), "{binary}: {line}");
        drop((first, second));
    }
}

#[test]
fn over_the_connection_cap_a_client_gets_503_with_retry_after() {
    for binary in [ECHO, CHAT, EVENT, TUNED] {
        // Every client comes from 127.0.0.1: its share is the whole cap.
        let mut server = capped(binary, "3");
        let log = server.collect_log();
        let mut held: Vec<TcpStream> = (0..3).map(|_| first_line_unasked(&server).0).collect();
        let refused = refusal_unasked(&server);
        assert_eq!(refused, "HTTP/1.1 503 Service Unavailable", "{binary}");
        wait_for(&log, "refusing new ones with 503");
        // One leaves: the next client is served, once the server has seen
        // it go (refused with 503 until then).
        held.pop();
        let mut socket = client_once_a_place_frees(&server, binary);
        socket.send(Message::text("{}")).unwrap();
        assert!(socket.read().is_ok(), "{binary}");
    }
}

/// A WebSocket client, once the server has seen a place free: a handshake
/// answered 503 is tried again, for up to 10 s.
fn client_once_a_place_frees(server: &Raw, binary: &str) -> Socket {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = format!("ws://127.0.0.1:{}/", server.port);
        match tungstenite::client::connect(url) {
            Ok((socket, _)) => return socket,
            Err(tungstenite::Error::Http(response)) if response.status() == 503 => {
                assert!(
                    Instant::now() < deadline,
                    "{binary}: still 503 10 s after a client left"
                );
                thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("{binary}: the handshake failed: {error}"),
        }
    }
}

/// Whether the server lets a new client in: 150 ms of silence suggests
/// it did, and the client's upgrade request, answered 101, settles it. A
/// refusal slower than that (a loaded machine) answers the request with
/// its 503 instead, or, as the server closes with the request unread,
/// with a reset: either way, not let in.
fn let_in(server: &Raw) -> (TcpStream, bool) {
    let (mut stream, refused) = first_line_unasked(server);
    if !refused.is_empty() {
        return (stream, false);
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(format!("{UPGRADE}\r\n").as_bytes());
    let mut status = String::new();
    let _ = BufReader::new(stream.try_clone().unwrap()).read_line(&mut status);
    let upgraded = status.starts_with("HTTP/1.1 101 ");
    (stream, upgraded)
}

/// A client that is served, once the server has seen a place free;
/// counts the refusals before it.
fn served_at_last(server: &Raw, refusals: &mut usize, binary: &str) -> TcpStream {
    loop {
        let (stream, let_in) = let_in(server);
        if let_in {
            return stream;
        }
        *refusals += 1;
        assert!(*refusals < 100, "{binary}: no place ever frees");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn at_the_cap_with_clients_coming_and_going_the_refusals_are_told_once() {
    for binary in [ECHO, CHAT, EVENT, TUNED] {
        let mut server = capped(binary, "4");
        let log = server.collect_log();
        let mut held: Vec<TcpStream> = (0..4).map(|_| first_line_unasked(&server).0).collect();
        // At capacity, a place frees now and then and a waiting client
        // takes it at once: one episode, not one per place freed.
        let mut refusals = 0;
        for _ in 0..4 {
            let refused = refusal_unasked(&server);
            assert_eq!(refused, "HTTP/1.1 503 Service Unavailable", "{binary}");
            refusals += 1;
            held.remove(0);
            // Refused until the server has seen the place free.
            let stream = served_at_last(&server, &mut refusals, binary);
            held.push(stream);
        }
        let text = wait_for(&log, "refusing new ones with 503");
        assert_eq!(
            text.matches("refusing new ones with 503").count(),
            1,
            "{binary}: {text}"
        );
        assert!(
            !text.contains("Below the connection cap"),
            "{binary}: {text}"
        );
        // Everyone leaves: once the server has seen them go, the next
        // client admitted ends the episode, with its count.
        drop(held);
        for attempt in 0.. {
            assert!(attempt < 100, "{binary}: the episode never ends");
            if let_in(&server).1 {
                if log.lock().unwrap().contains("Below the connection cap") {
                    break;
                }
            } else {
                refusals += 1;
            }
            thread::sleep(Duration::from_millis(20));
        }
        wait_for(
            &log,
            &format!("Below the connection cap again; {refusals} connections were refused"),
        );
    }
}

#[test]
fn the_default_cap_follows_the_descriptor_limit() {
    for binary in [ECHO, EVENT, TUNED] {
        let mut command = Command::new("prlimit");
        // Every client comes from 127.0.0.1: its share is the whole cap.
        command.args(["--nofile=64", binary, "--max-connections-per-address", "64"]);
        let server = Raw::start(command);
        // 64 descriptors, 32 kept back: the 33rd waiting client is refused.
        let mut held = Vec::new();
        for _ in 0..32 {
            let (stream, refused) = first_line_unasked(&server);
            assert_eq!(refused, "");
            held.push(stream);
        }
        assert_eq!(refusal_unasked(&server), "HTTP/1.1 503 Service Unavailable");
    }
}

#[test]
fn accept_failures_back_off_and_are_logged_once() {
    for binary in [ECHO, EVENT, TUNED] {
        let mut command = Command::new("prlimit");
        command.args(["--nofile=40", binary, "--max-connections", "1000"]);
        let mut server = Raw::start(command);
        let log = server.collect_log();
        // More clients than descriptors: `accept` fails with EMFILE.
        let held: Vec<TcpStream> = (0..60)
            .map(|_| TcpStream::connect((Ipv4Addr::LOCALHOST, server.port)).unwrap())
            .collect();
        wait_for(&log, "Too many open files");
        let pid = server.child.id();
        let before = cpu_ticks(pid);
        thread::sleep(Duration::from_secs(2));
        let used = cpu_ticks(pid) - before;
        // Ticks are hundredths of a second: under 5 % of a core.
        assert!(used < 10, "{used} ticks of CPU in 2 s");
        let text = log.lock().unwrap().clone();
        assert_eq!(text.matches("Could not accept").count(), 1, "{text}");
        // The load goes away: clients are served again.
        drop(held);
        wait_for(&log, "Accepting connections again");
        let mut socket = server.client();
        socket.send(Message::text("back")).unwrap();
        assert_eq!(socket.read().unwrap(), Message::text("back"));
        assert!(server.still_running());
    }
}

// (4) Memory bounded by what arrived; frames must progress.

const MASK: [u8; 4] = [1, 2, 3, 4];

/// A raw connection that has completed its handshake.
fn upgraded(server: &Raw) -> TcpStream {
    let mut stream = server.raw();
    stream
        .write_all(format!("{UPGRADE}\r\n").as_bytes())
        .unwrap();
    support::read_101(&mut stream);
    stream
}

/// Reads frames until a close frame, and returns its code.
fn close_code(stream: &mut TcpStream) -> u16 {
    loop {
        let mut head = [0; 2];
        stream.read_exact(&mut head).unwrap();
        let length = match head[1] & 0x7F {
            126 => {
                let mut extended = [0; 2];
                stream.read_exact(&mut extended).unwrap();
                u16::from_be_bytes(extended) as usize
            }
            127 => {
                let mut extended = [0; 8];
                stream.read_exact(&mut extended).unwrap();
                u64::from_be_bytes(extended) as usize
            }
            short => short as usize,
        };
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).unwrap();
        if head[0] & 0x0F == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

/// Bytes waiting in the kernel's queues on the loopback connection from
/// `local` to `remote` (`/proc/net/tcp`): its send queue and its receive
/// queue, or `None` if there is no such connection.
fn queued_bytes(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> Option<(u64, u64)> {
    let hex = |address: std::net::SocketAddr| match address {
        std::net::SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        std::net::SocketAddr::V6(_) => unreachable!("IPv4 loopback only"),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) || fields.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let (send, receive) = fields.get(4)?.split_once(':')?;
        Some((
            u64::from_str_radix(send, 16).ok()?,
            u64::from_str_radix(receive, 16).ok()?,
        ))
    })
}

/// Waits, up to 10 s, until everything written on `stream` has been read
/// by the server: nothing left in our send queue, nor in the receive
/// queue of the server's end of the connection.
fn wait_until_read_by_the_server(stream: &TcpStream) {
    let (ours, theirs) = (stream.local_addr().unwrap(), stream.peer_addr().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sending = queued_bytes(ours, theirs).map_or(0, |(send, _)| send);
        let unread = queued_bytes(theirs, ours).map_or(0, |(_, receive)| receive);
        if sending == 0 && unread == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server never read what was sent: {sending} bytes still to send, {unread} unread"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_message_over_the_shared_budget_is_refused_with_1013_and_the_others_go_on() {
    for binary in [ECHO, EVENT, TUNED] {
        // The budget holds one message of the largest size, no more.
        let server = Raw::of(
            binary,
            &["--max-message-size", "1000000", "--max-buffered", "1000000"],
        );
        let big = websocket_from_scratch::protocol::frame::encode(
            true,
            websocket_from_scratch::protocol::frame::Opcode::Binary,
            Some(MASK),
            &vec![5; 900_000],
        );
        let mut first = upgraded(&server);
        first.write_all(&big[..500_000]).unwrap();
        // The server has read all of it, and taken it from the budget,
        // before the second client sends.
        wait_until_read_by_the_server(&first);
        let mut second = upgraded(&server);
        second.write_all(&big[..600_000]).unwrap();
        assert_eq!(close_code(&mut second), 1013);
        // The first message was within the budget, and arrives whole.
        first.write_all(&big[500_000..]).unwrap();
        let mut head = [0; 10];
        first.read_exact(&mut head).unwrap();
        assert_eq!(head[0], 0x82);
        assert_eq!(u64::from_be_bytes(head[2..].try_into().unwrap()), 900_000);
    }
}

#[test]
fn a_trickled_frame_is_closed_however_steadily_it_trickles() {
    for binary in [ECHO, CHAT, EVENT, TUNED] {
        let server = Raw::of(binary, &["--idle-timeout", "5", "--frame-timeout", "0.5"]);
        let frame = websocket_from_scratch::protocol::frame::encode(
            true,
            websocket_from_scratch::protocol::frame::Opcode::Text,
            Some(MASK),
            &[b'x'; 100],
        );
        let mut stream = upgraded(&server);
        let started = Instant::now();
        let mut writer = stream.try_clone().unwrap();
        let trickler = thread::spawn(move || {
            // A byte every 100 ms: well within the idle timeout, every time.
            for byte in frame {
                if writer.write_all(&[byte]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        assert_eq!(close_code(&mut stream), 1008, "{binary}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{binary}: {took:?}");
        drop(stream);
        let _ = trickler.join();
    }
}

// Memory given back once the load has gone (`server::memory`).

/// Writable mappings of exactly a thread's stack size (Rust's default,
/// 2 MiB): the stacks the process still holds, running or not.
fn stacks_mapped(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .filter(|line| line.split_whitespace().nth(1) == Some("rw-p"))
        .filter(|line| line.split_whitespace().nth(5).is_none())
        .filter(|line| {
            let range = line.split_whitespace().next().unwrap_or("");
            let (start, end) = range.split_once('-').unwrap();
            let size =
                u64::from_str_radix(end, 16).unwrap() - u64::from_str_radix(start, 16).unwrap();
            size == 2 << 20
        })
        .count()
}

#[test]
fn the_servers_run_with_allocator_settings_that_give_memory_back() {
    let settings = websocket_from_scratch::server::memory::ALLOCATOR_SETTINGS;
    // Not chapter 13: one thread allocates from one arena, which gives its
    // free top back by itself.
    for binary in [ECHO, CHAT, COMPRESSION] {
        let server = Raw::of(binary, &[]);
        let environment = std::fs::read(format!("/proc/{}/environ", server.child.id())).unwrap();
        let environment = String::from_utf8_lossy(&environment);
        // glibc cuts the variable into its settings in place when it reads
        // it, so look for each setting rather than for the whole line.
        assert!(environment.contains("GLIBC_TUNABLES="), "{binary}");
        for setting in settings.split(':') {
            assert!(
                environment.contains(setting),
                "{binary} runs without {setting}"
            );
        }
    }
}

/// Started again once at most: a server that finds it was started again
/// already runs as it is, even if `GLIBC_TUNABLES` lost our settings on
/// the way (glibc drops it for a program run with capabilities).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_server_started_again_already_is_not_started_again() {
    let marker = websocket_from_scratch::server::memory::STARTED_AGAIN;
    for binary in [ECHO, CHAT, COMPRESSION] {
        let mut command = Command::new(binary);
        command.env(marker, "1").env_remove("GLIBC_TUNABLES");
        let server = Raw::start(command);
        let environment = std::fs::read(format!("/proc/{}/environ", server.child.id())).unwrap();
        let environment = String::from_utf8_lossy(&environment);
        assert!(
            !environment.contains("GLIBC_TUNABLES="),
            "{binary} was started again: {environment}"
        );
    }
}

/// A server that cannot start itself again says so before it listens,
/// and that line too is plain under `NO_COLOR`, even where `CLICOLOR_FORCE`
/// is set (`NO_COLOR` wins, as `narrate::init` says). A `GLIBC_TUNABLES`
/// one setting short of the kernel's limit on one variable (128 KiB) makes
/// the restart fail: with ours added, it no longer fits.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_problem_before_the_listening_line_is_plain_under_no_color() {
    let tunables = format!("x={}", "y".repeat(131_000));
    for binary in [ECHO, CHAT, COMPRESSION, CLUSTER] {
        let mut child = Command::new(binary)
            .args(["--port", "0"])
            .env("NO_COLOR", "1")
            .env("CLICOLOR_FORCE", "1")
            .env("GLIBC_TUNABLES", &tunables)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            first.contains("Could not restart with the allocator's settings"),
            "{binary}: {first:?}"
        );
        assert!(!first.contains('\x1b'), "{binary}: coloured: {first:?}");
    }
}

#[test]
fn a_finished_connection_gives_its_thread_stack_back() {
    let server = Raw::of(ECHO, &["--quiet"]);
    let pid = server.child.id();
    let threads_idle = status_number(pid, "Threads:");
    let stacks_idle = stacks_mapped(pid);
    let clients: Vec<Socket> = (0..200)
        .map(|index| {
            let mut socket = server.client();
            socket
                .send(Message::text(format!("hello {index}")))
                .unwrap();
            assert!(socket.read().unwrap().is_text());
            socket
        })
        .collect();
    assert!(stacks_mapped(pid) >= stacks_idle + 200);
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_number(pid, "Threads:") > threads_idle {
        assert!(
            Instant::now() < deadline,
            "the connections' threads never ended"
        );
        thread::sleep(Duration::from_millis(20));
    }
    // glibc keeps up to 40 MiB of stacks for threads to come: 20 at most.
    let stacks_left = stacks_mapped(pid) - stacks_idle;
    assert!(
        stacks_left <= 20,
        "{stacks_left} stacks of ended threads still mapped"
    );
}

// (5) Fair chat.

fn chat_client(server: &Raw, name: &str) -> Socket {
    let mut socket = server.client();
    socket
        .send(Message::text(format!(
            r#"{{"type":"join","name":"{name}"}}"#
        )))
        .unwrap();
    loop {
        if let Message::Text(text) = socket.read().unwrap()
            && text.contains("welcome")
        {
            return socket;
        }
    }
}

/// Reads until `count` messages from `from` have arrived; panics on a
/// close or on anyone leaving.
fn read_burst(socket: &mut Socket, from: &str, count: usize) {
    let marker = format!(r#""from":"{from}""#);
    let mut seen = 0;
    while seen < count {
        match socket.read() {
            Ok(Message::Text(text)) => {
                assert!(!text.contains(r#""type":"left""#), "{text}");
                if text.contains(&marker) {
                    seen += 1;
                }
            }
            Ok(Message::Close(frame)) => panic!("closed after {seen}: {frame:?}"),
            Ok(_) => {}
            Err(error) => panic!("{error} after {seen}"),
        }
    }
}

#[test]
fn a_burst_from_one_member_drops_nobody_who_reads() {
    for burst in [300, 3000] {
        let server = Raw::of(CHAT, &["--queue-length", "16"]);
        let readers: Vec<_> = (0..5)
            .map(|index| {
                let mut socket = chat_client(&server, &format!("reader{index}"));
                thread::spawn(move || read_burst(&mut socket, "sender", burst))
            })
            .collect();
        let mut sender = chat_client(&server, "sender");
        // The whole burst in as few TCP writes as tungstenite makes.
        for index in 0..burst {
            sender
                .write(Message::text(format!(
                    r#"{{"type":"say","text":"burst {index}"}}"#
                )))
                .unwrap();
        }
        sender.flush().unwrap();
        read_burst(&mut sender, "sender", burst);
        for reader in readers {
            reader.join().expect("every reader got the whole burst");
        }
    }
}

// (6) Names and text that cannot deceive.

fn next_text(socket: &mut Socket) -> String {
    loop {
        if let Message::Text(text) = socket.read().unwrap() {
            return text.as_str().to_string();
        }
    }
}

#[test]
fn look_alike_names_and_bidi_overrides_are_refused() {
    let server = Raw::of(CHAT, &[]);
    let mut observer = chat_client(&server, "observer");
    let mut impostor = server.client();
    for name in [
        "\u{41E}bserver",
        "ｏｂｓｅｒｖｅｒ",
        "𝐨𝐛𝐬𝐞𝐫𝐯𝐞𝐫",
        "OBSERVER",
        "observer\u{200B}",
        "\u{202E}revresbo",
    ] {
        impostor
            .send(Message::text(
                serde_json::json!({"type": "join", "name": name}).to_string(),
            ))
            .unwrap();
        let answer = next_text(&mut impostor);
        assert!(answer.contains(r#""type":"error""#), "{name:?}: {answer}");
    }
    observer
        .send(Message::text(
            serde_json::json!({"type": "say", "text": "abc\u{202E}gnp.exe"}).to_string(),
        ))
        .unwrap();
    let answer = next_text(&mut observer);
    assert!(answer.contains("U+202E"), "{answer}");
    // Ordinary text in any script still goes through.
    observer
        .send(Message::text(
            serde_json::json!({"type": "say", "text": "Привет, שלום, 😀"}).to_string(),
        ))
        .unwrap();
    let answer = next_text(&mut observer);
    assert!(answer.contains("Привет"), "{answer}");
}

// (7) One address cannot take every slot (`server::address_share`).

/// A WebSocket from the loopback address `source`.
fn client_from(server: &Raw, source: Ipv4Addr) -> tungstenite::WebSocket<TcpStream> {
    let stream = support::connect_from(source, server.port);
    let url = format!("ws://127.0.0.1:{}/", server.port);
    tungstenite::client::client(url, stream)
        .expect("the handshake completes")
        .0
}

/// What a client from `source` that connects and sends nothing is told at
/// once: the status line of a refusal, or "" if it was let in.
fn refusal_from(server: &Raw, source: Ipv4Addr) -> String {
    refusal_from_within(server, source, Duration::from_millis(500))
}

/// [`refusal_from`] for a client that must be refused: a refusal comes at
/// once, then the end of the stream, so waiting up to 10 s costs nothing
/// unless the server is slow to get to it (a loaded machine).
fn expected_refusal_from(server: &Raw, source: Ipv4Addr) -> String {
    refusal_from_within(server, source, Duration::from_secs(10))
}

fn refusal_from_within(server: &Raw, source: Ipv4Addr, wait: Duration) -> String {
    let mut stream = support::connect_from(source, server.port);
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if answer.contains("\r\nRetry-After: ") {
        answer.lines().next().unwrap_or_default().to_string()
    } else {
        String::new()
    }
}

/// Reads for `how_long`, as an idle chat member's page does: pings are
/// answered (tungstenite does it while reading), nothing else is sent.
/// Returns how many pings came.
fn idle_answering_pings(
    socket: &mut tungstenite::WebSocket<TcpStream>,
    how_long: Duration,
) -> usize {
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let until = Instant::now() + how_long;
    let mut pings = 0;
    while Instant::now() < until {
        match socket.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("only pings while idle, not {other:?}"),
            Err(tungstenite::Error::Io(error)) if http::is_timeout(&error) => {}
            Err(error) => panic!("the connection was lost while idle: {error}"),
        }
    }
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    pings
}

/// The next message that is not a ping: the server keeps pinging an idle
/// client, and one may come just before the answer to what it sent.
fn reply_past_pings(
    socket: &mut tungstenite::WebSocket<TcpStream>,
) -> tungstenite::Result<Message> {
    for _ in 0..100 {
        match socket.read()? {
            Message::Ping(_) => continue,
            other => return Ok(other),
        }
    }
    Ok(Message::Ping(Default::default()))
}

use websocket_from_scratch::protocol::http;

#[test]
fn one_address_holds_only_its_share_and_idle_clients_that_answer_pings_stay() {
    let crowded = Ipv4Addr::new(127, 0, 0, 2);
    let other = Ipv4Addr::new(127, 0, 0, 3);
    for binary in [ECHO, CHAT, COMPRESSION, EVENT, TUNED] {
        let mut server = Raw::of(
            binary,
            &[
                "--max-connections",
                "6",
                "--max-connections-per-address",
                "2",
                "--idle-timeout",
                "0.3",
            ],
        );
        let log = server.collect_log();
        // Several idle timeouts pass; the held clients answer every ping
        // and stay, as idle chat members must. Each then speaks at once,
        // in its own thread: one left waiting for another would fall
        // silent past the timeout. They start idling at once, so that
        // they answer pings while the refusals below are tried: a held
        // client nobody reads would be dropped after two idle timeouts.
        let idlers: Vec<_> = (0..2)
            .map(|_| client_from(&server, crowded))
            .map(|mut socket| {
                thread::spawn(move || {
                    let pings = idle_answering_pings(&mut socket, Duration::from_secs(2));
                    socket.send(Message::text("{}")).unwrap();
                    let answer = reply_past_pings(&mut socket);
                    (socket, pings, answer)
                })
            })
            .collect();
        for _ in 0..3 {
            assert_eq!(
                expected_refusal_from(&server, crowded),
                "HTTP/1.1 503 Service Unavailable",
                "{binary}"
            );
        }
        // Another address still gets in: the server is far from its cap.
        let mut newcomer = client_from(&server, other);
        newcomer.send(Message::text("{}")).unwrap();
        assert!(
            matches!(reply_past_pings(&mut newcomer), Ok(Message::Text(_))),
            "{binary}"
        );
        drop(newcomer);
        let mut held = Vec::new();
        for idler in idlers {
            let (socket, pings, answer) = idler.join().unwrap();
            assert!(pings >= 2, "{binary}: {pings} pings");
            assert!(
                matches!(answer, Ok(Message::Text(_))),
                "{binary}: an idle client that answered its pings is still served, \
                 not {answer:?}"
            );
            held.push(socket);
        }
        // Told once for the whole episode, not once per refusal.
        let text = wait_for(&log, "127.0.0.2 holds 2 connections, its share");
        assert_eq!(text.matches("holds 2 connections").count(), 1, "{text}");
        // The address leaves: the episode ends with its count, and it is
        // served again.
        drop(held);
        wait_for(&log, "127.0.0.2 is below its share again; 3 of its");
        let mut back = client_from(&server, crowded);
        back.send(Message::text("{}")).unwrap();
        assert!(
            matches!(reply_past_pings(&mut back), Ok(Message::Text(_))),
            "{binary}"
        );
    }
}

#[test]
fn by_default_one_address_holds_a_quarter_of_the_cap() {
    for binary in [ECHO, CHAT, EVENT, TUNED] {
        let server = Raw::of(binary, &["--max-connections", "8"]);
        let source = Ipv4Addr::new(127, 0, 0, 4);
        let held: Vec<TcpStream> = (0..2)
            .map(|_| support::connect_from(source, server.port))
            .collect();
        thread::sleep(Duration::from_millis(100));
        assert_eq!(
            expected_refusal_from(&server, source),
            "HTTP/1.1 503 Service Unavailable",
            "{binary}"
        );
        assert_eq!(refusal_from(&server, Ipv4Addr::new(127, 0, 0, 5)), "");
        drop(held);
    }
}

// (8) The upgrade request is HTTP/1.1 (`handshake::check_http11`).

/// Waits for a log line holding every one of `parts`, and returns it.
fn wait_for_line(log: &std::sync::Mutex<String>, parts: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = log.lock().unwrap().clone();
        if let Some(line) = now
            .lines()
            .find(|line| parts.iter().all(|part| line.contains(part)))
        {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no line with {parts:?}:\n{now}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn upgrade_requests_http11_forbids_are_refused_naming_the_rule() {
    let key = "Sec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==\r\n";
    let version = "Sec-WebSocket-Version: 13\r\n";
    let upgrade = "Upgrade: websocket\r\n";
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "no Host",
            UPGRADE.replace("Host: localhost\r\n", ""),
            "400",
            "no Host header; HTTP/1.1 requires one (RFC 9112 §3.2)",
        ),
        (
            "HTTP/1.0",
            UPGRADE.replace("HTTP/1.1", "HTTP/1.0"),
            "505",
            "the request is HTTP/1.0; a WebSocket handshake is an HTTP/1.1 request (RFC 6455 §4.1)",
        ),
        (
            "a fragment in the target",
            UPGRADE.replace("GET / ", "GET /chat#x "),
            "400",
            "has a fragment",
        ),
        (
            "two keys",
            UPGRADE.replace(key, &format!("{key}{key}")),
            "400",
            "2 Sec-WebSocket-Key headers; the handshake takes exactly one (RFC 6455 §4.2.1)",
        ),
        (
            "two versions",
            UPGRADE.replace(version, &format!("{version}{version}")),
            "400",
            "2 Sec-WebSocket-Version headers",
        ),
        (
            "two Upgrade headers",
            UPGRADE.replace(upgrade, &format!("{upgrade}{upgrade}")),
            "400",
            "2 Upgrade headers",
        ),
        (
            "a Content-Length",
            format!("{UPGRADE}Content-Length: 5\r\n"),
            "400",
            "announces a body (Content-Length: 5)",
        ),
        (
            "a Transfer-Encoding",
            format!("{UPGRADE}Transfer-Encoding: chunked\r\n"),
            "400",
            "announces a body (Transfer-Encoding: chunked)",
        ),
        (
            "the target *",
            UPGRADE.replace("GET / ", "GET * "),
            "400",
            "the target `*` is for OPTIONS only (RFC 9112 §3.2.4)",
        ),
        (
            "an absolute target naming another host",
            UPGRADE.replace("GET / ", "GET ws://evil.example/ "),
            "400",
            "the target names \"evil.example\" but the Host header says \"localhost\"",
        ),
    ];
    for binary in [ECHO, CHAT, COMPRESSION, EVENT, TUNED] {
        let mut server = Raw::of(binary, &[]);
        let log = server.collect_log();
        for (name, request, code, said) in &cases {
            let answer = status_of(&server, &format!("{request}\r\n"));
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {code} ")),
                "{binary}, {name}: {answer}"
            );
            let line = wait_for_line(&log, &[said, &format!("→ answered {code}")]);
            assert!(line.contains("(RFC "), "{binary}, {name}: {line}");
        }
        // What HTTP/1.1 allows is served: one empty line before the
        // request line, an absolute-form target naming the Host, and a
        // later minor version.
        let answer = status_of(&server, &format!("\r\n{UPGRADE}\r\n"));
        assert_eq!(answer, "HTTP/1.1 101 Switching Protocols", "{binary}");
        let absolute = UPGRADE.replace("GET / ", "GET ws://LOCALHOST/ ");
        let answer = status_of(&server, &format!("{absolute}\r\n"));
        assert_eq!(answer, "HTTP/1.1 101 Switching Protocols", "{binary}");
        // RFC 9110 §2.5: "A recipient that receives a message with a
        // major version number that it implements and a minor version
        // number higher than what it implements SHOULD process the message
        // as if it were in the highest minor version within that major
        // version to which the recipient is conformant." So HTTP/1.2 is
        // served as HTTP/1.1, not refused with 505 (§15.6.6: a major
        // version not supported).
        let later = UPGRADE.replace("HTTP/1.1", "HTTP/1.2");
        let answer = status_of(&server, &format!("{later}\r\n"));
        assert_eq!(answer, "HTTP/1.1 101 Switching Protocols", "{binary}");
        assert!(server.still_running(), "{binary}");
    }
}

// (9) Limits that make no sense stop the server at start-up.

#[test]
fn nonsense_limits_are_refused_at_start_up_with_the_option_named() {
    // What was wrong, and which option: clap's words around ours.
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["--max-message-size", "0"],
            &["'--max-message-size <BYTES>'", "must be at least 1, not 0"],
        ),
        (
            &["--max-connections", "0"],
            &["'--max-connections <N>'", "must be at least 1, not 0"],
        ),
        (
            &["--max-connections-per-address", "0"],
            &[
                "'--max-connections-per-address <N>'",
                "must be at least 1, not 0",
            ],
        ),
        (
            &["--max-buffered", "0"],
            &["--max-buffered must be at least"],
        ),
        (
            &["--max-message-size", "1000", "--max-buffered", "999"],
            &["--max-buffered must be at least 1000, not 999"],
        ),
    ];
    for binary in [ECHO, CHAT, COMPRESSION, EVENT, CLUSTER, TUNED] {
        for (args, said) in cases {
            let child = Command::new(binary)
                .args(["--port", "0"])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // A server that accepted the limit would listen for ever.
            let (status, stderr) = support::exit_within_seconds(child);
            assert_eq!(status, Some(2), "{binary} {args:?}: {stderr}");
            assert!(stderr.starts_with("error: "), "{binary} {args:?}: {stderr}");
            for words in said {
                assert!(stderr.contains(words), "{binary} {args:?}: {stderr}");
            }
        }
    }
}

#[test]
fn chapters_5_to_9_refuse_a_message_size_of_zero_with_the_option_named() {
    for binary in [
        env!("CARGO_BIN_EXE_05-long-payloads"),
        env!("CARGO_BIN_EXE_06-binary"),
        env!("CARGO_BIN_EXE_07-fragmented-messages"),
        env!("CARGO_BIN_EXE_08-ping-pong"),
        env!("CARGO_BIN_EXE_09-closing-handshake"),
    ] {
        let child = Command::new(binary)
            .args(["--port", "0", "--max-message-size", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, stderr) = support::exit_within_seconds(child);
        assert_eq!(status, Some(2), "{binary}: {stderr}");
        for words in ["'--max-message-size <BYTES>'", "must be at least 1, not 0"] {
            assert!(stderr.contains(words), "{binary}: {stderr}");
        }
    }
}

#[test]
fn a_chat_queue_of_no_frames_is_refused_at_start_up_with_the_option_named() {
    // A queue that holds nothing would drop every member at the first
    // message: the chat binaries refuse it, as the other limits.
    for binary in [CHAT, CLUSTER] {
        let child = Command::new(binary)
            .args(["--port", "0", "--queue-length", "0"])
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, stderr) = support::exit_within_seconds(child);
        assert_eq!(status, Some(2), "{binary}: {stderr}");
        assert!(stderr.starts_with("error: "), "{binary}: {stderr}");
        for words in ["'--queue-length <FRAMES>'", "must be at least 1, not 0"] {
            assert!(stderr.contains(words), "{binary}: {stderr}");
        }
    }
}

// (10) The chat serves every message its rules allow.

#[test]
fn five_hundred_emoji_sent_as_json_escapes_are_served() {
    let server = Raw::of(CHAT, &[]);
    let mut ada = chat_client(&server, "Ada");
    let text = "😀".repeat(500);
    let escaped: String = text
        .encode_utf16()
        .map(|unit| format!("\\u{unit:04x}"))
        .collect();
    let frame = format!(r#"{{"type":"say","text":"{escaped}"}}"#);
    assert!(frame.len() > 6000, "{} bytes", frame.len());
    ada.send(Message::text(frame)).unwrap();
    let said: serde_json::Value = serde_json::from_str(&next_text(&mut ada)).unwrap();
    assert_eq!(said["type"], "message");
    assert_eq!(said["text"], text.as_str());
    // One character more is refused with a reply, the connection kept.
    let frame = format!(r#"{{"type":"say","text":"{escaped}\ud83d\ude00"}}"#);
    ada.send(Message::text(frame)).unwrap();
    let refused: serde_json::Value = serde_json::from_str(&next_text(&mut ada)).unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
}

/// Pongs nobody asked for need no answer, so nothing backs up to stop a
/// peer that sends them without pause: an event loop must still take turns
/// (chapter 13's "fair turns"), or every other connection waits for ever.
#[test]
fn a_peer_flooding_unasked_pongs_does_not_hold_up_the_others() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    for binary in [ECHO, EVENT, TUNED] {
        let server = Raw::of(binary, &["--quiet"]);
        let stop = Arc::new(AtomicBool::new(false));
        let pong = websocket_from_scratch::protocol::frame::encode(
            true,
            websocket_from_scratch::protocol::frame::Opcode::Pong,
            Some(MASK),
            b"",
        );
        let flood: Vec<u8> = pong.repeat(10_000);
        let flooders: Vec<_> = (0..2)
            .map(|_| {
                let mut stream = upgraded(&server);
                let (stop, flood) = (Arc::clone(&stop), flood.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) && stream.write_all(&flood).is_ok() {}
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(300));
        // Within the raw stream's 10-second read timeout, or the test fails.
        let mut other = upgraded(&server);
        let ping = websocket_from_scratch::protocol::frame::encode(
            true,
            websocket_from_scratch::protocol::frame::Opcode::Binary,
            Some(MASK),
            b"still served?",
        );
        for _ in 0..20 {
            other.write_all(&ping).unwrap();
            let mut echo = [0; 15];
            other
                .read_exact(&mut echo)
                .unwrap_or_else(|error| panic!("{binary}: no echo while others flood: {error}"));
            assert_eq!(&echo[2..], b"still served?");
        }
        stop.store(true, Ordering::Relaxed);
        drop(server);
        for flooder in flooders {
            flooder.join().unwrap();
        }
    }
}

// A client that connects and sends nothing must meet the
// handshake deadline too, or it holds its connection slot for ever.
#[test]
fn a_client_that_sends_nothing_gets_408_at_the_handshake_deadline() {
    for binary in [ECHO, COMPRESSION, EVENT, TUNED] {
        let server = Raw::of(binary, &["--handshake-timeout", "0.5"]);
        let mut stream = server.raw();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = Instant::now();
        let mut answer = [0; 28];
        stream.read_exact(&mut answer).unwrap_or_else(|error| {
            panic!("{binary}: nothing after {:?}: {error}", started.elapsed())
        });
        assert_eq!(&answer, b"HTTP/1.1 408 Request Timeout", "{binary}");
    }
}

// The log's queue is bounded in lines; a peer must not make each
// line long. A refused request line is quoted with its escapes: 8 KiB of
// control bytes make a line of some 48 KiB.
#[test]
fn a_stderr_nobody_reads_holds_little_memory_however_long_a_peer_makes_the_lines() {
    for binary in [ECHO, EVENT, TUNED] {
        // Nobody reads stderr: the pipe fills, then the queue of 4,096 lines.
        let server = Raw::of(binary, &["--max-connections-per-address", "100000"]);
        let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "\u{1f}".repeat(8150));
        for _ in 0..4500 {
            let mut stream = server.raw();
            stream.write_all(request.as_bytes()).unwrap();
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let resident = support::status_number(server.child.id(), "VmRSS:") / 1024;
        assert!(resident < 64, "{binary}: {resident} MiB resident");
    }
}

// One request head must not fill the log's queue (4,096 lines).
#[test]
fn a_head_full_of_extension_offers_is_told_in_a_few_lines() {
    let offers = vec!["permessage-deflate; x"; 340].join(", ");
    let request = format!("{UPGRADE}Sec-WebSocket-Extensions: {offers}\r\n\r\n");
    for level in [&[][..], &["--verbose"][..]] {
        let mut server = Raw::of(COMPRESSION, level);
        let log = server.collect_log();
        let mut stream = server.raw();
        stream.write_all(request.as_bytes()).unwrap();
        support::read_101(&mut stream);
        thread::sleep(Duration::from_millis(300));
        let lines = log.lock().unwrap().lines().count();
        assert!(lines < 30, "{level:?}: {lines} lines for one handshake");
    }
}

/// The close code of the next close frame on `stream`, or `None` if none
/// comes within `wait`.
fn close_code_within(stream: &mut TcpStream, wait: Duration) -> Option<u16> {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let (sender, code) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let read =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| close_code(&mut reader)));
        let _ = sender.send(read.ok());
    });
    code.recv_timeout(wait + Duration::from_secs(1))
        .ok()
        .flatten()
}

/// A 7,900,000-byte binary message in one masked frame.
fn long_binary_frame() -> Vec<u8> {
    websocket_from_scratch::protocol::frame::encode(
        true,
        websocket_from_scratch::protocol::frame::Opcode::Binary,
        Some(MASK),
        &vec![5; 7_900_000],
    )
}

/// A connection that has completed its handshake, with a tiny receive
/// window: an echo cannot hide in the kernel's buffers, most of it waits
/// in the server.
fn upgraded_with_a_tiny_window(server: &Raw) -> TcpStream {
    use socket2::{Domain, Socket as RawSocket, Type};
    let socket = RawSocket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(1).unwrap();
    socket
        .connect(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, server.port)).into())
        .unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(format!("{UPGRADE}\r\n").as_bytes())
        .unwrap();
    support::read_101(&mut stream);
    stream
}

// An echo waiting for a peer that does not read is memory the server
// holds: it stays in the budget until it has gone out, or peers that stop
// reading could each make the server hold a message outside the budget,
// and together hold any amount of memory.
#[test]
fn an_echo_its_peer_does_not_read_stays_in_the_budget() {
    for binary in [ECHO, EVENT, TUNED] {
        // The budget holds one message of the largest size, no more.
        let size = "8000000";
        let server = Raw::of(
            binary,
            &["--max-message-size", size, "--max-buffered", size],
        );
        let big = long_binary_frame();
        let mut first = upgraded_with_a_tiny_window(&server);
        first.write_all(&big).unwrap();
        wait_until_read_by_the_server(&first);
        // Long enough for a quiet connection to give back what it holds
        // (chapter 15 sweeps once a second).
        thread::sleep(Duration::from_millis(2500));
        let mut second = upgraded(&server);
        second.write_all(&big[..2_000_000]).unwrap();
        assert_eq!(
            close_code_within(&mut second, Duration::from_secs(5)),
            Some(1013),
            "{binary}: a second long message was taken in while the first's echo waits"
        );
        drop(first);
    }
}

// A peer that reads, but too slowly, is let go as one that stopped reading
// is: our output must move on by 64 KiB within each idle timeout. Without
// that rule it keeps its echo, and the echo's share of the budget, for as
// long as it goes on reading a little, just often enough. (The event loops
// hear that a socket can take more only once a good part of its send
// buffer has drained, so for chapters 13 and 15 a reader this slow goes
// quiet, and is let go as one that stopped reading.)
#[test]
fn a_peer_that_reads_its_echo_too_slowly_is_let_go() {
    for binary in [ECHO, COMPRESSION, EVENT, TUNED] {
        // The budget holds the one echo, no more.
        let size = "8000000";
        let limits = ["--max-message-size", size, "--max-buffered", size];
        let mut server = Raw::of(binary, &[&limits[..], &["--idle-timeout", "1"]].concat());
        let log = server.collect_log();
        let mut stream = upgraded_with_a_tiny_window(&server);
        stream.write_all(&long_binary_frame()).unwrap();
        // 1,000 bytes every 100 ms: some 10 KB in each 1-second idle
        // timeout, never silent for long.
        let reading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let still = std::sync::Arc::clone(&reading);
        let reader = thread::spawn(move || {
            let mut chunk = [0; 1000];
            let mut total = 0;
            while still.load(std::sync::atomic::Ordering::Relaxed) {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(count) => total += count,
                }
                thread::sleep(Duration::from_millis(100));
            }
            total
        });
        // The threaded chapters say it was the rule, not a plain write
        // timeout, which a kernel may also give such a reader.
        let blocking = binary == ECHO || binary == COMPRESSION;
        wait_for(
            &log,
            if blocking {
                "timed out sending: the peer has stopped reading, or reads too slowly"
            } else {
                "timed out sending: the peer has stopped reading"
            },
        );
        reading.store(false, std::sync::atomic::Ordering::Relaxed);
        let read = reader.join().unwrap();
        assert!(read > 0, "{binary}: the peer read nothing at all");
        // The echo's share of the budget is back: a new message fits.
        let mut second = upgraded(&server);
        let next = websocket_from_scratch::protocol::frame::encode(
            true,
            websocket_from_scratch::protocol::frame::Opcode::Binary,
            Some(MASK),
            &[6; 100_000],
        );
        second.write_all(&next).unwrap();
        let mut head = [0; 2];
        second.read_exact(&mut head).unwrap();
        assert_eq!(head[0], 0x82, "{binary}: {head:?} instead of an echo");
    }
}
