//! Many connections: chapter 10 (a thread each), chapter 13 (one event
//! loop), chapter 15 (the loop, tuned) and fastwebsockets (one tokio
//! thread), in the same run.
//!
//! `cargo bench --bench scale` runs two scenarios against each server in
//! turn, every process pinned to CPU 0 (`taskset -c 0`) as in
//! `benches/echo.rs`:
//!
//! * **Idle connections.** `BENCH_IDLE` (default 15,000) WebSocket
//!   connections are opened, each echoes one 16-byte message, and then all
//!   of them sit idle. Reported: the server's resident memory (`VmRSS` in
//!   `/proc/PID/status`) before and with them, per connection, its
//!   threads, and how long a fresh client then takes to connect, complete
//!   its handshake and get an echo (it should be well under a second).
//! * **Many slow talkers.** `BENCH_TALKERS` (default 10,000) connections
//!   each send a 16-byte message once a second, spread evenly over the
//!   second, for `BENCH_TALK_SECONDS` (default 10; the first second is not
//!   counted); reported: the connections held, the echoes counted, the
//!   round-trip latency's median, 99th percentile and maximum, and how
//!   many messages were not sent because the connection's previous echo
//!   had not come back within its second (`late`).
//!
//! The client is one event loop of its own (`mio`), so that it can hold as
//! many connections as the servers; it opens them 64 at a time. It sets
//! no descriptor limit of its own: the client and each server inherit the
//! shell's (`ulimit -n`, 20,000 per process on this project's machines),
//! which the defaults stay under. `BENCH_SERVERS` chooses the servers,
//! separated by commas: `15`, `13`, `10`, `fastwebsockets`, or the path
//! of another build of a chapter (default `15,13,10,fastwebsockets`;
//! unlike `benches/echo.rs`, no `tungstenite` and no `peer:PATH`). A
//! server that dies or stops echoing during the talk is reported as such,
//! not as a latency.
//!
//! fastwebsockets is built from `benches/peers/` on first use.

mod peers_build;

use std::collections::VecDeque;
use std::env;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use websocket_from_scratch::client::{ARTICLE_KEY, ARTICLE_MASK, handshake_request};
use websocket_from_scratch::protocol::frame::{self, Opcode};
use websocket_from_scratch::protocol::http;

const CPU: &str = "0";
const PINNED: &str = "WS_BENCH_PINNED";
const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    if env::var_os(PINNED).is_none() {
        let status = Command::new("taskset")
            .args(["-c", CPU])
            .arg(env::current_exe().expect("the benchmark knows its own path"))
            .args(env::args().skip(1))
            .env(PINNED, "1")
            .status()
            .expect("taskset runs (util-linux)");
        std::process::exit(status.code().unwrap_or(1));
    }
    run();
}

fn setting(name: &str, default: usize) -> usize {
    env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// The servers

struct Server {
    name: String,
    child: Child,
    port: u16,
}

impl Server {
    fn start(name: &str) -> Server {
        let mut command = Command::new("taskset");
        command.args(["-c", CPU]);
        // Idle for the whole run: our chapters would otherwise ping every
        // connection after 30 s (fastwebsockets never does).
        // One client address opens every connection, so its share is
        // the whole cap.
        let ours = [
            "--port",
            "0",
            "--quiet",
            "--idle-timeout",
            "3600",
            "--max-connections-per-address",
            "1000000",
        ];
        match name {
            "10" => command.arg(env!("CARGO_BIN_EXE_10-echo-server")).args(ours),
            "13" => command.arg(env!("CARGO_BIN_EXE_13-event-loop")).args(ours),
            "15" => command.arg(env!("CARGO_BIN_EXE_15-tuned")).args(ours),
            "fastwebsockets" => command.arg(peers_build::fastwebsockets_binary()),
            path => command.arg(path).args(ours),
        };
        let mut child = command
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let port = if name == "fastwebsockets" {
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("piped"))
                .read_line(&mut line)
                .expect("the port line");
            line.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name} printed no port: {line:?}"))
        } else {
            let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
            let mut first = String::new();
            stderr.read_line(&mut first).expect("the listening line");
            let label = name.to_string();
            thread::spawn(move || {
                for line in stderr.lines().map_while(Result::ok) {
                    eprintln!("{label}: {line}");
                }
            });
            websocket_from_scratch::server::listener::port_in_listening_line(&first)
                .unwrap_or_else(|| panic!("{name} did not start: {first:?}"))
        };
        Server {
            name: label_of(name),
            child,
            port,
        }
    }

    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    fn rss_bytes(&self) -> u64 {
        self.status("VmRSS") * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn label_of(name: &str) -> String {
    match name {
        "10" => "10-echo-server".into(),
        "13" => "13-event-loop".into(),
        "15" => "15-tuned".into(),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------
// The client: many connections on one event loop

/// A 16-byte binary message, masked as a client sends it.
fn message() -> Vec<u8> {
    frame::encode(true, Opcode::Binary, Some(ARTICLE_MASK), &[7; 16])
}

struct Conn {
    stream: TcpStream,
    request_sent: bool,
    open: bool,
    /// Refused, or closed before its handshake completed.
    gone: bool,
    input: Vec<u8>,
    /// When the message awaiting its echo was sent.
    sent_at: Option<Instant>,
}

struct Fleet {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    refused: usize,
    failed: usize,
}

impl Fleet {
    /// Opens `count` WebSocket connections to `port`, `batch` at a time.
    fn open(port: u16, count: usize) -> Fleet {
        let mut fleet = Fleet {
            poll: Poll::new().expect("epoll"),
            events: Events::with_capacity(1024),
            conns: Vec::with_capacity(count),
            refused: 0,
            failed: 0,
        };
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let request = handshake_request(&format!("localhost:{port}"), ARTICLE_KEY);
        let give_up = Instant::now() + Duration::from_secs(300);
        let mut pending = 0;
        let mut started = 0;
        while (started < count || pending > 0) && Instant::now() < give_up {
            while pending < 64 && started < count {
                started += 1;
                match TcpStream::connect(address) {
                    Ok(mut stream) => {
                        let token = Token(fleet.conns.len());
                        fleet
                            .poll
                            .registry()
                            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                            .expect("register");
                        fleet.conns.push(Conn {
                            stream,
                            request_sent: false,
                            open: false,
                            gone: false,
                            input: Vec::new(),
                            sent_at: None,
                        });
                        pending += 1;
                    }
                    Err(_) => fleet.failed += 1,
                }
            }
            fleet
                .poll
                .poll(&mut fleet.events, Some(Duration::from_millis(100)))
                .expect("poll");
            for event in fleet.events.iter() {
                let conn = &mut fleet.conns[event.token().0];
                if conn.open || conn.gone {
                    continue;
                }
                if !conn.request_sent && event.is_writable() {
                    conn.request_sent = conn.stream.write_all(request.as_bytes()).is_ok();
                }
                let mut hung_up = event.is_error();
                if event.is_readable() || event.is_read_closed() {
                    let mut buffer = [0; 4096];
                    loop {
                        match conn.stream.read(&mut buffer) {
                            Ok(0) => {
                                hung_up = true;
                                break;
                            }
                            Ok(n) => conn.input.extend_from_slice(&buffer[..n]),
                            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                            Err(_) => {
                                hung_up = true;
                                break;
                            }
                        }
                    }
                }
                if let Some(end) = find(&conn.input, b"\r\n\r\n") {
                    pending -= 1;
                    if conn.input.starts_with(b"HTTP/1.1 101") {
                        conn.open = true;
                        conn.input.drain(..end + 4);
                    } else {
                        fleet.refused += 1;
                        conn.gone = true;
                    }
                } else if hung_up {
                    pending -= 1;
                    fleet.failed += 1;
                    conn.gone = true;
                }
            }
        }
        // Only what opened stays.
        fleet.conns.retain(|conn| conn.open);
        for (index, conn) in fleet.conns.iter_mut().enumerate() {
            fleet
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(index), Interest::READABLE)
                .expect("reregister");
        }
        fleet
    }

    /// Sends one message on every connection and waits for every echo.
    fn echo_all(&mut self) -> usize {
        let bytes = message();
        for conn in &mut self.conns {
            if conn.stream.write_all(&bytes).is_ok() {
                conn.sent_at = Some(Instant::now());
            }
        }
        let mut waiting = self.conns.iter().filter(|c| c.sent_at.is_some()).count();
        let give_up = Instant::now() + Duration::from_secs(60);
        let mut samples = Vec::new();
        while waiting > 0 && Instant::now() < give_up {
            let before = samples.len();
            self.turn(Duration::from_millis(100), &mut samples);
            waiting -= samples.len() - before;
        }
        samples.len()
    }

    /// Polls once, reads whatever arrived, and records the round trip of
    /// every echo that came back.
    fn turn(&mut self, timeout: Duration, samples: &mut Vec<Duration>) {
        self.poll
            .poll(&mut self.events, Some(timeout))
            .expect("poll");
        let now = Instant::now();
        for event in self.events.iter() {
            let conn = &mut self.conns[event.token().0];
            let mut buffer = [0; 4096];
            loop {
                match conn.stream.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => conn.input.extend_from_slice(&buffer[..n]),
                    Err(_) => break,
                }
            }
            while let Some((opcode, used)) = parse_frame(&conn.input) {
                conn.input.drain(..used);
                if opcode == 0x2
                    && let Some(sent) = conn.sent_at.take()
                {
                    samples.push(now - sent);
                }
            }
        }
    }

    /// Every connection sends a message once a second, spread evenly, for
    /// `seconds`; returns the round trips of all but the first second.
    fn talk(&mut self, seconds: u64) -> (Vec<Duration>, usize) {
        let bytes = message();
        let count = self.conns.len();
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        let warm = start + Duration::from_secs(1);
        let mut schedule: VecDeque<(Instant, usize)> = (0..count)
            .map(|index| {
                let offset = Duration::from_secs(1).mul_f64(index as f64 / count as f64);
                (start + offset, index)
            })
            .collect();
        let mut samples = Vec::new();
        let mut counted = Vec::new();
        let mut late = 0;
        while Instant::now() < end {
            let now = Instant::now();
            while let Some(&(at, index)) = schedule.front() {
                if at > now {
                    break;
                }
                schedule.pop_front();
                let conn = &mut self.conns[index];
                if conn.sent_at.is_some() {
                    // The last one never came back within a second.
                    late += 1;
                } else if conn.stream.write_all(&bytes).is_ok() {
                    conn.sent_at = Some(now);
                }
                schedule.push_back((at + Duration::from_secs(1), index));
            }
            let next = schedule
                .front()
                .map_or(Duration::from_millis(1), |(at, _)| {
                    at.saturating_duration_since(Instant::now())
                });
            let before = samples.len();
            self.turn(next.min(Duration::from_millis(10)), &mut samples);
            if Instant::now() >= warm {
                counted.extend_from_slice(&samples[before..]);
            }
        }
        (counted, late)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A whole unmasked frame at the start of `bytes`: its opcode and length.
fn parse_frame(bytes: &[u8]) -> Option<(u8, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (header, length) = match second & 0x7F {
        126 => (
            4,
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
        ),
        short => (2, short as usize),
    };
    (bytes.len() >= header + length).then_some((first & 0x0F, header + length))
}

/// A fresh client, with the same blocking code as `benches/echo.rs`:
/// connect, handshake, one echo. Returns how long it took.
fn fresh_client(port: u16) -> Option<Duration> {
    let started = Instant::now();
    let stream = StdStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.set_nodelay(true).ok()?;
    let mut writer = stream.try_clone().ok()?;
    let mut reader = BufReader::new(stream);
    writer
        .write_all(handshake_request(&format!("localhost:{port}"), ARTICLE_KEY).as_bytes())
        .ok()?;
    let head = http::read_head(&mut reader).ok()?;
    if !head.start_line.starts_with("HTTP/1.1 101") {
        return None;
    }
    writer.write_all(&message()).ok()?;
    let header = frame::read_header(&mut reader).ok()?;
    let mut payload = vec![0; header.payload_len as usize];
    reader.read_exact(&mut payload).ok()?;
    Some(started.elapsed())
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn run() {
    let idle = setting("BENCH_IDLE", 15_000);
    let talkers = setting("BENCH_TALKERS", 10_000);
    let talk_seconds = setting("BENCH_TALK_SECONDS", 10) as u64;
    let servers: Vec<String> = env::var("BENCH_SERVERS")
        .unwrap_or_else(|_| "15,13,10,fastwebsockets".into())
        .split(',')
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());

    println!("\n{idle} idle connections (each has echoed one 16-byte message)\n");
    println!(
        "{:<16} {:>8} {:>10} {:>12} {:>14} {:>8} {:>14}",
        "server", "held", "RSS before", "RSS with", "per connection", "threads", "fresh client"
    );
    for name in &servers {
        let server = Server::start(name);
        thread::sleep(Duration::from_millis(200));
        let before = server.rss_bytes();
        let mut fleet = Fleet::open(server.port, idle);
        let echoed = fleet.echo_all();
        // Time to settle: chapter 13 frees the read buffers of connections
        // quiet for a second, once a second.
        thread::sleep(Duration::from_secs(3));
        let with = server.rss_bytes();
        let threads = server.status("Threads");
        let fresh = fresh_client(server.port);
        let held = fleet.conns.len();
        let per = (with.saturating_sub(before)) as f64 / held.max(1) as f64;
        println!(
            "{:<16} {:>8} {:>10} {:>12} {:>14} {:>8} {:>14}",
            server.name,
            held,
            format!("{:.1} MiB", before as f64 / MIB),
            format!("{:.1} MiB", with as f64 / MIB),
            format!("{:.2} KiB", per / 1024.0),
            threads,
            fresh.map_or("no answer".to_string(), ms),
        );
        if held < idle || echoed < held {
            println!(
                "{:<16} of {idle}: {} refused (503), {} failed to connect, {} echoes of {held}",
                "", fleet.refused, fleet.failed, echoed
            );
        }
        drop(fleet);
        drop(server);
        thread::sleep(Duration::from_secs(1));
    }

    println!(
        "\n{talkers} connections, each sending a 16-byte message once a second \
         ({talk_seconds} s, the first not counted)\n"
    );
    println!(
        "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "server", "held", "echoes", "p50", "p99", "max", "late"
    );
    for name in &servers {
        let mut server = Server::start(name);
        let mut fleet = Fleet::open(server.port, talkers);
        let (mut samples, late) = fleet.talk(talk_seconds);
        samples.sort();
        println!(
            "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>8}",
            server.name,
            fleet.conns.len(),
            samples.len(),
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.99)),
            ms(samples.last().copied().unwrap_or_default()),
            late
        );
        // Every connection, once a second, after the first second.
        let expected = fleet.conns.len() * (talk_seconds.saturating_sub(1) as usize);
        if !server.alive() || samples.len() < expected * 9 / 10 {
            println!(
                "{:<16} NOT A RESULT: {} echoes of about {expected} expected; server {}",
                "",
                samples.len(),
                if server.alive() { "running" } else { "DEAD" }
            );
        }
        drop(fleet);
        drop(server);
        thread::sleep(Duration::from_secs(1));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nload average after: {}", load.trim());
}
