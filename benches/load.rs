//! Chapters 10 and 11 under load and faults, as an operator would try
//! them. Not a timed test: run it by hand, and compare two builds.
//!
//! ```text
//! cargo bench --bench load                       # every scenario
//! cargo bench --bench load -- burst memory       # only these
//! LOAD_BIN_DIR=/tmp/before cargo bench --bench load   # another build's binaries
//! ```
//!
//! `LOAD_BIN_DIR` is the folder holding `10-echo-server` and `11-chat`
//! (default: where `cargo bench` built them, `target/release` unless
//! `CARGO_TARGET_DIR` says otherwise). A name that is no scenario stops
//! the benchmark before anything runs. `LOAD_ECHO_SERVER` names the echo server
//! that `memory`, `tricklers`, `trickle`, `churn`, `long_echoes` and `pongs` load
//! (default `10-echo-server`; `13-event-loop` compares the event loop). Each scenario starts its own server on a
//! free port and prints what it measured:
//!
//! * `burst`: chat, 6 members; one sends a burst of N `say` messages in
//!   one TCP write while the 5 others read as fast as the kernel delivers.
//!   How many members were dropped, for N = 100, 300, 3,000.
//! * `descriptors`: the echo server under `prlimit --nofile=LOAD_NOFILE`
//!   (2,000); clients connect until no more are served. Connections held,
//!   refused with 503, unanswered; the server's CPU and log lines in the 5 s
//!   that follow; whether a new client is served once they leave.
//! * `memory`: 100 clients each send one message just under 16 MiB. Peak
//!   RSS, and how many were echoed or refused with 1013. Then RSS once they
//!   have left.
//! * `tricklers`: 100 clients each send 8 MiB + 64 KiB of a 16 MiB frame,
//!   then a byte every 2 s (server `--idle-timeout 3`). Peak RSS, and how
//!   many are still open after 10 s.
//! * `trickle`: 500 clients trickle a small frame a byte every 2 s (server
//!   `--idle-timeout 3`); how many are still open after 10 s.
//! * `churn`: 5,000 clients connect, echo a message, and leave. RSS before,
//!   at the peak, and after.
//! * `long_echoes`: one client, 40 echoes of 16 MiB − 64 KiB; the
//!   server's CPU time per echo (what allocator settings cost, tried with
//!   `GLIBC_TUNABLES=…`, which the server inherits).
//! * `share`: the echo server with `--max-connections 50 --idle-timeout 2`;
//!   one address opens 60 clients that stay idle and answer every ping,
//!   then another address connects. How many of the first address's are
//!   served and refused, whether the second is served, and how many of
//!   the idle ones are still open 10 s later.
//! * `http11`: chapters 10 and 11 sent each upgrade request HTTP/1.1
//!   forbids (no `Host`, `HTTP/1.0`, a repeated key, a body, `*`, an
//!   absolute target naming another host…) and three it allows
//!   (`HTTP/1.2`, taken as 1.1 as RFC 9110 §2.5 says, an absolute target
//!   naming us, an empty line before the request); the status each gets.
//! * `limits`: chapters 10 and 11 started with limits that make no sense
//!   (`--max-connections 0`, …); whether each starts, or exits and why.
//! * `chat500`: a chat member says 500 emoji written as JSON `\u`
//!   escapes, the longest message the rules allow; what the room answers.
//! * `pongs`: two peers flood the echo server (`LOAD_ECHO_SERVER`) with
//!   unasked pongs while another echoes a 13-byte message 50 times, one at
//!   a time; the median and the slowest echo.
//!
//! Clients come from 32 loopback addresses in turn (127.0.0.10 to
//! 127.0.0.41), since each address holds only its share of a server's
//! slots; `share` picks its addresses itself.

mod loopback;

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use websocket_from_scratch::protocol::frame::{self, Opcode};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// How many loopback addresses the clients come from (127.0.0.10, …).
const SOURCES: u64 = 32;
const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The folder holding the chapters' binaries: `LOAD_BIN_DIR`, or the one
/// `cargo bench` built them into.
fn bin_dir() -> String {
    env::var("LOAD_BIN_DIR").unwrap_or_else(|_| {
        let built = std::path::Path::new(env!("CARGO_BIN_EXE_10-echo-server"));
        built.parent().expect("a folder").display().to_string()
    })
}

/// The echo server the memory scenarios load: `LOAD_ECHO_SERVER`, or
/// chapter 10.
fn echo_server() -> String {
    env::var("LOAD_ECHO_SERVER").unwrap_or_else(|_| "10-echo-server".into())
}

struct Server {
    child: Child,
    port: u16,
    log_lines: Arc<AtomicU64>,
    log_bytes: Arc<AtomicU64>,
}

impl Server {
    fn start(binary: &str, args: &[&str], nofile: Option<u64>) -> Server {
        let path = format!("{}/{binary}", bin_dir());
        let mut command = match nofile {
            Some(limit) => {
                let mut command = Command::new("prlimit");
                command.arg(format!("--nofile={limit}")).arg(&path);
                command
            }
            None => Command::new(&path),
        };
        let mut child = command
            .args(["--port", "0", "--quiet"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{path}: {error}"));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let port = websocket_from_scratch::server::listener::port_in_listening_line(&first)
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        let log_lines = Arc::new(AtomicU64::new(0));
        let log_bytes = Arc::new(AtomicU64::new(0));
        let (lines, bytes) = (Arc::clone(&log_lines), Arc::clone(&log_bytes));
        thread::spawn(move || {
            let mut buffer = vec![0; 1 << 20];
            while let Ok(count @ 1..) = stderr.read(&mut buffer) {
                bytes.fetch_add(count as u64, Ordering::Relaxed);
                let newlines = buffer[..count].iter().filter(|&&b| b == b'\n').count();
                lines.fetch_add(newlines as u64, Ordering::Relaxed);
            }
        });
        Server {
            child,
            port,
            log_lines,
            log_bytes,
        }
    }

    /// The server's own pid (under `prlimit`, the child execs the server).
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|line| line.starts_with(field))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    }

    fn rss_mib(&self) -> f64 {
        self.status_kib("VmRSS:") as f64 / 1024.0
    }

    fn peak_rss_mib(&self) -> f64 {
        self.status_kib("VmHWM:") as f64 / 1024.0
    }

    fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let Some(end) = stat.rfind(')') else { return 0 };
        let fields: Vec<&str> = stat[end + 2..].split_whitespace().collect();
        let field = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
        field(11).unwrap_or(0) + field(12).unwrap_or(0)
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// A connection from the next of [`SOURCES`] loopback addresses in
    /// turn: the servers give each address only its share of their slots
    /// (`--max-connections-per-address`), and the scenarios that open
    /// thousands of connections are about other limits.
    fn connect(&self) -> std::io::Result<TcpStream> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let index = NEXT.fetch_add(1, Ordering::Relaxed) % SOURCES;
        self.connect_from(Ipv4Addr::new(127, 0, 0, 10 + index as u8))
    }

    fn connect_from(&self, source: Ipv4Addr) -> std::io::Result<TcpStream> {
        loopback::connect_from(source, self.port)
    }

    /// Connects and completes the handshake; the status code otherwise.
    fn upgraded(&self, wait: Duration) -> Result<TcpStream, String> {
        let stream = self.connect().map_err(|error| error.to_string())?;
        self.handshake(stream, UPGRADE, wait)
    }

    /// Sends `request` on `stream`, and keeps the stream if the answer is 101.
    fn handshake(
        &self,
        mut stream: TcpStream,
        request: &str,
        wait: Duration,
    ) -> Result<TcpStream, String> {
        stream.set_read_timeout(Some(wait)).unwrap();
        stream
            .write_all(request.as_bytes())
            .map_err(|error| error.to_string())?;
        let mut head = Vec::new();
        let mut byte = [0];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                Ok(_) => return Err(status(&head).unwrap_or("closed").to_string()),
                Err(_) => return Err(status(&head).unwrap_or("no answer").to_string()),
            }
        }
        match status(&head) {
            Some("101") => {
                stream.set_read_timeout(None).unwrap();
                Ok(stream)
            }
            other => Err(other.unwrap_or("?").to_string()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status(head: &[u8]) -> Option<&str> {
    std::str::from_utf8(head).ok()?.split(' ').nth(1)
}

/// Reads one frame: its opcode and payload.
fn read_frame(stream: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0; 2];
    stream.read_exact(&mut head)?;
    let length = match head[1] & 0x7F {
        126 => {
            let mut extended = [0; 2];
            stream.read_exact(&mut extended)?;
            u16::from_be_bytes(extended) as usize
        }
        127 => {
            let mut extended = [0; 8];
            stream.read_exact(&mut extended)?;
            u64::from_be_bytes(extended) as usize
        }
        short => short as usize,
    };
    let mut payload = vec![0; length];
    stream.read_exact(&mut payload)?;
    Ok((head[0] & 0x0F, payload))
}

fn close_code(payload: &[u8]) -> u16 {
    if payload.len() >= 2 {
        u16::from_be_bytes([payload[0], payload[1]])
    } else {
        0
    }
}

fn text(json: &str) -> Vec<u8> {
    frame::encode(true, Opcode::Text, Some(MASK), json.as_bytes())
}

// ---------------------------------------------------------------- burst

/// What one chat member saw: messages from the sender, and the close code
/// if it was closed.
fn chat_member(server: &Server, name: &str) -> BufReader<TcpStream> {
    let mut stream = server.upgraded(Duration::from_secs(5)).expect("joins");
    stream
        .write_all(&text(&format!(r#"{{"type":"join","name":"{name}"}}"#)))
        .unwrap();
    let mut reader = BufReader::with_capacity(1 << 20, stream);
    loop {
        let (_, payload) = read_frame(&mut reader).expect("a welcome");
        if payload.starts_with(br#"{"type":"welcome""#) {
            return reader;
        }
    }
}

fn count_until(reader: &mut BufReader<TcpStream>, want: usize) -> (usize, Option<u16>) {
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut seen = 0;
    while seen < want {
        match read_frame(reader) {
            Ok((0x8, payload)) => return (seen, Some(close_code(&payload))),
            Ok((_, payload)) => {
                if payload.starts_with(br#"{"type":"message","from":"sender""#) {
                    seen += 1;
                }
            }
            Err(_) => return (seen, Some(1006)),
        }
    }
    (seen, None)
}

fn burst() {
    println!("burst: chat, 6 members, one sends N messages in one write, 5 read");
    for size in [100, 300, 3000] {
        let server = Server::start("11-chat", &[], None);
        let barrier = Arc::new(Barrier::new(6));
        let readers: Vec<_> = (0..5)
            .map(|index| {
                let mut reader = chat_member(&server, &format!("reader{index}"));
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    count_until(&mut reader, size)
                })
            })
            .collect();
        let mut sender = chat_member(&server, "sender");
        let mut burst = Vec::new();
        for index in 0..size {
            burst.extend(text(&format!(r#"{{"type":"say","text":"burst {index}"}}"#)));
        }
        barrier.wait();
        let writer = {
            let mut stream = sender.get_ref().try_clone().unwrap();
            thread::spawn(move || stream.write_all(&burst))
        };
        let mut results = vec![count_until(&mut sender, size)];
        let _ = writer.join();
        results.extend(readers.into_iter().map(|reader| reader.join().unwrap()));
        let dropped = results.iter().filter(|(_, close)| close.is_some()).count();
        let received: Vec<String> = results.iter().map(|(seen, _)| seen.to_string()).collect();
        println!(
            "  burst {size:>5}: {dropped} of 6 members dropped; messages received (sender first): {}",
            received.join(", ")
        );
    }
}

// ---------------------------------------------------------------- descriptors

fn descriptors() {
    let limit: u64 = env::var("LOAD_NOFILE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    println!("descriptors: echo server under prlimit --nofile={limit}");
    let mut server = Server::start("10-echo-server", &[], Some(limit));
    let (mut held, mut refused, mut unanswered) = (Vec::new(), 0, 0);
    let mut pending = Vec::new();
    let mut misses_in_a_row = 0;
    for _ in 0..limit + 500 {
        match server.upgraded(Duration::from_millis(300)) {
            Ok(stream) => {
                held.push(stream);
                misses_in_a_row = 0;
            }
            Err(status) => {
                if status == "503" {
                    refused += 1;
                } else {
                    unanswered += 1;
                    // Kept open: it waits in the listen queue, as a real
                    // client would.
                    if let Ok(stream) = server.connect() {
                        pending.push(stream);
                    }
                }
                misses_in_a_row += 1;
                if misses_in_a_row >= 20 {
                    break;
                }
            }
        }
    }
    let (ticks, lines, bytes) = (
        server.cpu_ticks(),
        server.log_lines.load(Ordering::Relaxed),
        server.log_bytes.load(Ordering::Relaxed),
    );
    thread::sleep(Duration::from_secs(5));
    let cpu = (server.cpu_ticks() - ticks) as f64 / 5.0;
    let lines = server.log_lines.load(Ordering::Relaxed) - lines;
    let bytes = server.log_bytes.load(Ordering::Relaxed) - bytes;
    println!(
        "  {} connections held, {refused} refused with 503, {unanswered} unanswered",
        held.len()
    );
    println!(
        "  at the limit, over 5 s: server CPU {cpu:.0} % of a core, {lines} log lines ({:.1} MB)",
        bytes as f64 / 1e6
    );
    drop(held);
    drop(pending);
    thread::sleep(Duration::from_secs(2));
    let served = server.upgraded(Duration::from_secs(3)).is_ok();
    println!(
        "  after they leave: a new client is {}; server {}",
        if served { "served" } else { "NOT served" },
        if server.alive() { "running" } else { "DEAD" }
    );
}

// ---------------------------------------------------------------- memory

fn memory() {
    println!("memory: 100 clients each send one message of 16 MiB - 64 KiB");
    let server = Server::start(&echo_server(), &[], None);
    let start = server.rss_mib();
    let message = Arc::new(frame::encode(
        true,
        Opcode::Binary,
        Some(MASK),
        &vec![7; (16 << 20) - (64 << 10)],
    ));
    let barrier = Arc::new(Barrier::new(100));
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let stream = server.upgraded(Duration::from_secs(5)).expect("connects");
            let (message, barrier) = (Arc::clone(&message), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                barrier.wait();
                let sending = thread::spawn(move || {
                    let _ = writer.write_all(&message);
                });
                let mut reader = BufReader::with_capacity(1 << 20, stream);
                let answer = match read_frame(&mut reader) {
                    Ok((0x8, payload)) => close_code(&payload),
                    Ok((0x2, payload)) if payload.len() == (16 << 20) - (64 << 10) => 0,
                    _ => 1,
                };
                let _ = sending.join();
                (answer, reader)
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let echoed = results.iter().filter(|(code, _)| *code == 0).count();
    let refused = results.iter().filter(|(code, _)| *code == 1013).count();
    println!(
        "  RSS {start:.0} MiB at start, peak {:.0} MiB; {echoed} echoed, {refused} refused with 1013",
        server.peak_rss_mib()
    );
    drop(results);
    thread::sleep(Duration::from_secs(3));
    println!("  RSS 3 s after they left: {:.0} MiB", server.rss_mib());
}

// ---------------------------------------------------------------- tricklers

fn trickling(count: usize, payload_len: usize, sent_at_once: usize, what: &str) {
    println!("{what}");
    let server = Server::start(&echo_server(), &["--idle-timeout", "3"], None);
    let bytes = Arc::new(frame::encode(
        true,
        Opcode::Binary,
        Some(MASK),
        &vec![3; payload_len],
    ));
    let open = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..count)
        .map(|_| {
            let mut stream = server.upgraded(Duration::from_secs(5)).expect("connects");
            let (bytes, open) = (Arc::clone(&bytes), Arc::clone(&open));
            thread::spawn(move || {
                open.fetch_add(1, Ordering::Relaxed);
                let mut reader = stream.try_clone().unwrap();
                reader
                    .set_read_timeout(Some(Duration::from_millis(10)))
                    .unwrap();
                let mut sent = sent_at_once.min(bytes.len());
                let mut ok = stream.write_all(&bytes[..sent]).is_ok();
                let mut discard = [0; 4096];
                while ok && started.elapsed() < Duration::from_secs(10) {
                    thread::sleep(Duration::from_millis(2000));
                    ok = stream.write_all(&bytes[sent..sent + 1]).is_ok();
                    sent += 1;
                    // A close frame from the server, or its hang-up, ends it.
                    match reader.read(&mut discard) {
                        Ok(0) => ok = false,
                        Ok(_) if discard[0] & 0x0F == 0x8 => ok = false,
                        _ => {}
                    }
                }
                if ok {
                    return;
                }
                open.fetch_sub(1, Ordering::Relaxed);
            })
        })
        .collect();
    let mut peak = 0.0_f64;
    while started.elapsed() < Duration::from_secs(10) {
        peak = peak.max(server.peak_rss_mib());
        thread::sleep(Duration::from_millis(200));
    }
    let still_open = open.load(Ordering::Relaxed);
    for client in clients {
        let _ = client.join();
    }
    println!(
        "  peak RSS {peak:.0} MiB; {still_open} of {count} still open after 10 s (idle timeout 3 s)"
    );
}

// ---------------------------------------------------------------- churn

fn churn() {
    println!("churn: 5,000 clients connect, echo a message, and leave");
    let server = Server::start(&echo_server(), &[], None);
    thread::sleep(Duration::from_millis(200));
    let start = server.rss_mib();
    let mut clients = Vec::new();
    for index in 0..5000 {
        let mut stream = server.upgraded(Duration::from_secs(5)).expect("connects");
        stream.write_all(&text(&format!("hello {index}"))).unwrap();
        let _ = read_frame(&mut stream);
        clients.push(stream);
    }
    let peak = server.rss_mib();
    drop(clients);
    thread::sleep(Duration::from_secs(3));
    println!(
        "  RSS {start:.0} MiB at start, {peak:.0} MiB with 5,000 open, {:.0} MiB 3 s after they left",
        server.rss_mib()
    );
}

// ---------------------------------------------------------------- share

/// Answers every ping on `stream` with its pong, sends nothing else, for
/// `how_long`: an idle chat member's page. Returns how many pings came,
/// and whether the connection is still open.
fn idle_answering_pings(mut stream: TcpStream, how_long: Duration) -> (usize, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let until = Instant::now() + how_long;
    let mut pings = 0;
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    while Instant::now() < until {
        match read_frame(&mut reader) {
            Ok((0x9, payload)) => {
                pings += 1;
                let pong = frame::encode(true, Opcode::Pong, Some(MASK), &payload);
                if stream.write_all(&pong).is_err() {
                    return (pings, false);
                }
            }
            Ok(_) => return (pings, false),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (pings, false),
        }
    }
    (pings, true)
}

fn share() {
    println!(
        "share: echo server --max-connections 50 --idle-timeout 2; 127.0.0.2 opens 60 \
         idle clients that answer pings, then 127.0.0.3 connects"
    );
    let server = Server::start(
        "10-echo-server",
        &["--max-connections", "50", "--idle-timeout", "2"],
        None,
    );
    let crowded = Ipv4Addr::new(127, 0, 0, 2);
    let (mut held, mut refused) = (Vec::new(), 0);
    for _ in 0..60 {
        let stream = server.connect_from(crowded).expect("connects");
        match server.handshake(stream, UPGRADE, Duration::from_secs(2)) {
            Ok(stream) => held.push(stream),
            Err(_) => refused += 1,
        }
    }
    let other = server
        .connect_from(Ipv4Addr::new(127, 0, 0, 3))
        .map_err(|error| error.to_string())
        .and_then(|stream| server.handshake(stream, UPGRADE, Duration::from_secs(2)));
    let lines = server.log_lines.load(Ordering::Relaxed);
    let idlers: Vec<_> = held
        .into_iter()
        .map(|stream| thread::spawn(move || idle_answering_pings(stream, Duration::from_secs(10))))
        .collect();
    let results: Vec<_> = idlers
        .into_iter()
        .map(|idler| idler.join().unwrap())
        .collect();
    let pings: usize = results.iter().map(|(pings, _)| pings).sum();
    let still_open = results.iter().filter(|(_, open)| *open).count();
    println!(
        "  127.0.0.2: {} served, {refused} refused with 503; 127.0.0.3: {}",
        results.len(),
        match other {
            Ok(_) => "served".to_string(),
            Err(status) => format!("refused ({status})"),
        }
    );
    println!(
        "  over 10 s idle: {pings} pings answered, {still_open} of {} still open; \
         {} log lines for the refusals (--quiet keeps only problems)",
        results.len(),
        lines
    );
}

// ---------------------------------------------------------------- http11

fn http11() {
    println!(
        "http11: upgrade requests HTTP/1.1 forbids, three it allows, and what chapters 10 and 11 answer"
    );
    let key = "Sec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==\r\n";
    let version = "Sec-WebSocket-Version: 13\r\n";
    let upgrade = "Upgrade: websocket\r\n";
    let cases = [
        ("no Host", UPGRADE.replace("Host: localhost\r\n", "")),
        ("HTTP/1.0", UPGRADE.replace("HTTP/1.1", "HTTP/1.0")),
        ("HTTP/1.2", UPGRADE.replace("HTTP/1.1", "HTTP/1.2")),
        ("two keys", UPGRADE.replace(key, &format!("{key}{key}"))),
        (
            "two versions",
            UPGRADE.replace(version, &format!("{version}{version}")),
        ),
        (
            "two Upgrade",
            UPGRADE.replace(upgrade, &format!("{upgrade}{upgrade}")),
        ),
        (
            "Content-Length: 5",
            UPGRADE.replace("\r\n\r\n", "\r\nContent-Length: 5\r\n\r\nhello"),
        ),
        (
            "Transfer-Encoding",
            UPGRADE.replace(
                "\r\n\r\n",
                "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
        ),
        ("target *", UPGRADE.replace("GET / ", "GET * ")),
        (
            "ws://evil.example/",
            UPGRADE.replace("GET / ", "GET ws://evil.example/ "),
        ),
        (
            "ws://localhost/ (ours)",
            UPGRADE.replace("GET / ", "GET ws://localhost/ "),
        ),
        ("empty line first", format!("\r\n{UPGRADE}")),
    ];
    for binary in ["10-echo-server", "11-chat"] {
        let server = Server::start(binary, &[], None);
        let answers: Vec<String> = cases
            .iter()
            .map(|(name, request)| {
                let status = server
                    .connect()
                    .map_err(|error| error.to_string())
                    .and_then(|stream| server.handshake(stream, request, Duration::from_secs(2)))
                    .map_or_else(|status| status, |_| "101".to_string());
                format!("{name} {status}")
            })
            .collect();
        println!("  {binary}: {}", answers.join(", "));
    }
}

// ---------------------------------------------------------------- limits

fn limits() {
    println!("limits: limits that make no sense, and whether the server starts");
    let dir = bin_dir();
    let cases: [&[&str]; 4] = [
        &["--max-connections", "0"],
        &["--max-connections-per-address", "0"],
        &["--max-buffered", "0"],
        &["--max-message-size", "1000", "--max-buffered", "999"],
    ];
    for binary in ["10-echo-server", "11-chat"] {
        for args in cases {
            let mut child = Command::new(format!("{dir}/{binary}"))
                .args(["--port", "0"])
                .args(args)
                .env("NO_COLOR", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|error| panic!("{dir}/{binary}: {error}"));
            thread::sleep(Duration::from_millis(500));
            let outcome = match child.try_wait().unwrap() {
                Some(status) => {
                    let mut said = String::new();
                    let _ = child.stderr.take().unwrap().read_to_string(&mut said);
                    format!(
                        "exit {:?}: {}",
                        status.code(),
                        said.lines().next().unwrap_or("")
                    )
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    "started and listened".to_string()
                }
            };
            println!("  {binary} {}: {outcome}", args.join(" "));
        }
    }
}

// ---------------------------------------------------------------- chat500

fn chat500() {
    println!("chat500: a member says 500 emoji, sent as JSON \\u escapes");
    let server = Server::start("11-chat", &[], None);
    let mut member = chat_member(&server, "Ada");
    let escaped: String = "😀"
        .repeat(500)
        .encode_utf16()
        .map(|unit| format!("\\u{unit:04x}"))
        .collect();
    let said = format!(r#"{{"type":"say","text":"{escaped}"}}"#);
    member.get_mut().write_all(&text(&said)).unwrap();
    let outcome = match read_frame(&mut member) {
        Ok((0x1, payload)) => {
            let reply = String::from_utf8_lossy(&payload);
            let kind = reply.split('"').nth(3).unwrap_or("?").to_string();
            format!("answered with a {kind:?} ({} bytes)", payload.len())
        }
        Ok((0x8, payload)) => format!("closed with {}", close_code(&payload)),
        other => format!("{other:?}"),
    };
    println!("  a {}-byte frame: {outcome}", said.len());
}

// ---------------------------------------------------------------- long echoes

fn long_echoes() {
    println!("long_echoes: one client, 40 echoes of 16 MiB - 64 KiB; the server's CPU per echo");
    let server = Server::start(&echo_server(), &[], None);
    let size = (16 << 20) - (64 << 10);
    let message = frame::encode(true, Opcode::Binary, Some(MASK), &vec![7; size]);
    let stream = server.upgraded(Duration::from_secs(5)).expect("connects");
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::with_capacity(1 << 20, stream);
    let before = server.cpu_ticks();
    for _ in 0..40 {
        writer.write_all(&message).unwrap();
        let (opcode, payload) = read_frame(&mut reader).expect("an echo");
        assert_eq!((opcode, payload.len()), (0x2, size));
    }
    // Ticks are hundredths of a second: ×10 is milliseconds.
    let per_echo = (server.cpu_ticks() - before) as f64 * 10.0 / 40.0;
    println!("  server CPU {per_echo:.1} ms per echo (GLIBC_TUNABLES, if set, is the server's)");
}

/// Two peers flood unasked pongs while a third echoes a short message 50
/// times, one at a time: how long each echo takes (median and slowest).
/// What a longer read turn costs the others (chapter 15's "Longer turns").
fn pongs() {
    use std::sync::atomic::AtomicBool;
    let binary = echo_server();
    let server = Server::start(&binary, &[], None);
    let pong = frame::encode(true, Opcode::Pong, Some(MASK), b"");
    let flood = pong.repeat(10_000);
    let stop = Arc::new(AtomicBool::new(false));
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let mut stream = server.upgraded(Duration::from_secs(2)).expect("a flooder");
            let (stop, flood) = (Arc::clone(&stop), flood.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) && stream.write_all(&flood).is_ok() {}
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let mut other = server.upgraded(Duration::from_secs(2)).expect("a client");
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let message = frame::encode(true, Opcode::Binary, Some(MASK), b"still served?");
    let mut took: Vec<Duration> = (0..50)
        .map(|_| {
            let started = Instant::now();
            other.write_all(&message).unwrap();
            let (opcode, payload) = read_frame(&mut other).expect("an echo");
            assert_eq!((opcode, payload.as_slice()), (0x2, &b"still served?"[..]));
            started.elapsed()
        })
        .collect();
    stop.store(true, Ordering::Relaxed);
    drop(server);
    for flooder in flooders {
        let _ = flooder.join();
    }
    took.sort();
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!(
        "pongs: {binary}, two peers flooding pongs; another's 13-byte echo took {:.1} ms (median of 50), {:.1} at most",
        ms(took[took.len() / 2]),
        ms(took[took.len() - 1])
    );
}

fn main() {
    let wanted: Vec<String> = env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let scenarios: [(&str, fn()); 12] = [
        ("burst", burst),
        ("descriptors", descriptors),
        ("memory", memory),
        ("tricklers", || {
            trickling(
                100,
                16 << 20,
                (8 << 20) + (64 << 10),
                "tricklers: 100 clients send 8 MiB + 64 KiB of a 16 MiB frame, then a byte every 2 s",
            )
        }),
        ("trickle", || {
            trickling(
                500,
                100,
                3,
                "trickle: 500 clients send a small frame a byte every 2 s",
            )
        }),
        ("churn", churn),
        ("long_echoes", long_echoes),
        ("share", share),
        ("http11", http11),
        ("limits", limits),
        ("chat500", chat500),
        ("pongs", pongs),
    ];
    let names = || scenarios.iter().map(|(name, _)| *name);
    if let Some(unknown) = wanted.iter().find(|w| !names().any(|name| name == *w)) {
        let names: Vec<&str> = names().collect();
        eprintln!(
            "no scenario {unknown:?}; the scenarios: {}",
            names.join(", ")
        );
        std::process::exit(2);
    }
    for (name, scenario) in scenarios {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            scenario();
        }
    }
}
