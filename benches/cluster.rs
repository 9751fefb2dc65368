//! What crossing servers costs: chapter 14's room on two servers through
//! Redis, against the same room in one process. Not a timed test: run it by
//! hand, and compare.
//!
//! ```text
//! cargo bench --bench cluster
//! ```
//!
//! It starts its own `redis-server` (free port, no persistence) and the
//! servers from `CLUSTER_BIN_DIR` (default: where `cargo bench` built
//! them, `target/release` unless `CARGO_TARGET_DIR` says otherwise), all quiet,
//! and runs each layout with 200 members, every one a tungstenite client
//! with a reading thread:
//!
//! * `11-chat, 1 × 200`: chapter 11, one process, no Redis;
//! * `14-chat-cluster, 1 × 200`: chapter 14 alone, every message also
//!   published to Redis (and its echo dropped);
//! * `14-chat-cluster, 2 × 100`: two servers, 100 members each.
//!
//! Two measures per layout:
//!
//! * **latency**: one member on the first server says 300 messages, one
//!   every 3 ms, each carrying the moment it was sent; every member on the
//!   *other* server (on the only server, in one process) notes when it
//!   arrives. p50 and p99 over all those arrivals.
//! * **throughput**: 10 members (5 per server when there are two) each say
//!   500 messages as fast as the room takes them; messages per second is
//!   5,000 over the time until all 200 members have all 5,000, and
//!   deliveries per second is that times 200.
//!
//! And what Redis costs: its own CPU time (`INFO cpu`, `used_cpu_user` +
//! `used_cpu_sys`) during the throughput run, divided by the messages
//! published.
//!
//! `cargo bench --bench cluster -- detection` measures something else
//! instead: how long the room takes to notice a server that crashed. Two
//! servers on a fresh Redis, a member on each; the second server is killed
//! (SIGKILL, no goodbye) at a different moment of its heartbeat in each
//! run, and the time is taken from the kill to the `left` notice reaching
//! the member on the first server. Five runs with `--presence-ttl 2`,
//! five with the default (10 s), against the bound `chat::presence`
//! documents: one ttl plus one heartbeat (a third of the ttl).

use std::env;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

const MEMBERS: usize = 200;
const LATENCY_MESSAGES: usize = 300;
const SENDERS: usize = 10;
const PER_SENDER: usize = 500;

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("an address").port()
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Redis {
    _process: Process,
    port: u16,
    dir: std::path::PathBuf,
}

impl Redis {
    fn start() -> Redis {
        let port = free_port();
        let dir = env::temp_dir().join(format!("chat-bench-redis-{port}"));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let redis = Redis {
            _process: Process(child),
            port,
            dir,
        };
        let started = Instant::now();
        while redis.cpu_seconds().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "Redis never answered"
            );
            thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Redis's own CPU time so far, user plus system.
    fn cpu_seconds(&self) -> Option<f64> {
        let mut connection = redis::Client::open(self.url())
            .ok()?
            .get_connection()
            .ok()?;
        let info: String = redis::cmd("INFO").arg("cpu").query(&mut connection).ok()?;
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(&format!("{name}:")))
                .and_then(|value| value.trim().parse::<f64>().ok())
        };
        Some(field("used_cpu_user")? + field("used_cpu_sys")?)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_server(binary: &str, args: &[&str]) -> (Process, u16) {
    let dir = env::var("CLUSTER_BIN_DIR").unwrap_or_else(|_| {
        let built = std::path::Path::new(env!("CARGO_BIN_EXE_11-chat"));
        built.parent().expect("a folder").display().to_string()
    });
    let path = format!("{dir}/{binary}");
    let mut child = Command::new(&path)
        .args(["--port", "0", "--quiet", "--max-connections", "1000"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("a first line");
    let port = websocket_from_scratch::server::listener::port_in_listening_line(&first)
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    // Keep reading, so that the server never waits on a full pipe.
    thread::spawn(move || for _ in stderr.lines() {});
    (Process(child), port)
}

fn join(port: u16, name: &str) -> Socket {
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut socket, _) = tungstenite::connect(url).expect("a handshake");
    socket
        .send(Message::text(
            json!({"type": "join", "name": name}).to_string(),
        ))
        .expect("a join");
    loop {
        if let Message::Text(text) = socket.read().expect("a welcome") {
            let welcome: Value = serde_json::from_str(text.as_str()).expect("JSON");
            // Chapter 14 first says which server this is: not the answer.
            if welcome["type"] == "span" {
                continue;
            }
            assert_eq!(welcome["type"], "welcome", "{welcome}");
            return socket;
        }
    }
}

/// Reads `socket` until a chat object of type `kind` about `name` arrives;
/// false if the connection ends or its read times out first.
fn wait_for(socket: &mut Socket, kind: &str, name: &str) -> bool {
    while let Ok(message) = socket.read() {
        if let Message::Text(text) = message
            && let Ok(object) = serde_json::from_str::<Value>(text.as_str())
            && object["type"] == kind
            && object["name"] == name
        {
            return true;
        }
    }
    false
}

/// From a crash to the `left` notice elsewhere, for `runs` runs with
/// `ttl` (`None`: the default).
fn detection(ttl: Option<u64>, runs: u32) {
    let ttl_seconds = ttl.unwrap_or(10) as f64;
    let beat = ttl_seconds / 3.0;
    let bound = ttl_seconds + beat;
    let ttl_text = ttl.map(|seconds| seconds.to_string());
    let mut options = vec![];
    if let Some(seconds) = &ttl_text {
        options.extend(["--presence-ttl", seconds.as_str()]);
    }
    let mut times = Vec::new();
    for run in 0..runs {
        let redis = Redis::start();
        let url = redis.url();
        let mut args = vec!["--redis", url.as_str()];
        args.extend(&options);
        let (_a, a) = start_server("14-chat-cluster", &args);
        let (mut b, b_port) = start_server("14-chat-cluster", &args);
        let mut ada = join(a, "Ada");
        let stream_timeout = Duration::from_secs_f64(3.0 * ttl_seconds);
        if let MaybeTlsStream::Plain(stream) = ada.get_ref() {
            stream
                .set_read_timeout(Some(stream_timeout))
                .expect("a read timeout");
        }
        let _bob = join(b_port, "Bob");
        assert!(
            wait_for(&mut ada, "joined", "Bob"),
            "Ada never saw Bob join"
        );
        // A different moment of the heartbeat in each run.
        let phase = beat * f64::from(run) / f64::from(runs);
        thread::sleep(Duration::from_secs_f64(1.0 + phase));
        let _ = b.0.kill();
        let killed = Instant::now();
        let _ = b.0.wait();
        assert!(wait_for(&mut ada, "left", "Bob"), "Ada never saw Bob leave");
        let seconds = killed.elapsed().as_secs_f64();
        println!("  run {}: {seconds:.2} s", run + 1);
        times.push(seconds);
    }
    let (min, max) = times.iter().fold((f64::MAX, f64::MIN), |(min, max), &t| {
        (min.min(t), max.max(t))
    });
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "--presence-ttl {}: a killed server's members left after {min:.2} to {max:.2} s (mean {mean:.2} s, {runs} runs); bound {bound:.2} s",
        ttl_text.as_deref().unwrap_or("10 (default)"),
    );
}

/// What the readers share.
struct Tally {
    started: Instant,
    /// Latencies in microseconds, from members who note them.
    latencies: Mutex<Vec<u64>>,
    /// Throughput messages received, by all members together.
    received: AtomicU64,
}

/// Reads one member's messages until its connection ends.
fn read_all(mut socket: Socket, notes_latency: bool, tally: Arc<Tally>) {
    while let Ok(message) = socket.read() {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(object) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let said = object["text"].as_str().unwrap_or_default();
        if let Some(sent) = said.strip_prefix("L ") {
            if notes_latency && let Ok(sent) = sent.parse::<u64>() {
                let now = tally.started.elapsed().as_micros() as u64;
                tally
                    .latencies
                    .lock()
                    .expect("a lock")
                    .push(now.saturating_sub(sent));
            }
        } else if said.starts_with("T ") {
            tally.received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn say(socket: &mut Socket, text: &str) {
    socket
        .send(Message::text(
            json!({"type": "say", "text": text}).to_string(),
        ))
        .expect("a say");
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// One layout: `ports` are the servers, members spread evenly.
fn measure(label: &str, ports: &[u16], redis: Option<&Redis>) {
    let tally = Arc::new(Tally {
        started: Instant::now(),
        latencies: Mutex::new(Vec::new()),
        received: AtomicU64::new(0),
    });
    let per_server = MEMBERS / ports.len();
    let mut writers: Vec<Vec<Socket>> = Vec::new();
    let mut readers = Vec::new();
    for (index, &port) in ports.iter().enumerate() {
        let mut mine = Vec::new();
        for member in 0..per_server {
            let socket = join(port, &format!("m{index}-{member}"));
            let writer = socket.get_ref();
            let MaybeTlsStream::Plain(stream) = writer else {
                unreachable!("plain TCP")
            };
            let clone = stream.try_clone().expect("a second handle");
            // Readers own the sockets; writers are second WebSockets over
            // the same TCP connection, used only to send.
            let notes = ports.len() == 1 || index != 0;
            let tally = Arc::clone(&tally);
            readers.push(thread::spawn(move || read_all(socket, notes, tally)));
            mine.push(WebSocket::from_raw_socket(
                MaybeTlsStream::Plain(clone),
                tungstenite::protocol::Role::Client,
                None,
            ));
        }
        writers.push(mine);
    }
    // Let the joins settle everywhere.
    thread::sleep(Duration::from_millis(500));

    // Latency: one sender on the first server, one message every 3 ms.
    {
        let sender = &mut writers[0][0];
        for _ in 0..LATENCY_MESSAGES {
            let now = tally.started.elapsed().as_micros();
            say(sender, &format!("L {now}"));
            thread::sleep(Duration::from_millis(3));
        }
    }
    let expected_latencies = LATENCY_MESSAGES
        * if ports.len() == 1 {
            MEMBERS
        } else {
            per_server
        };
    let wait = Instant::now();
    while tally.latencies.lock().expect("a lock").len() < expected_latencies
        && wait.elapsed() < Duration::from_secs(20)
    {
        thread::sleep(Duration::from_millis(10));
    }
    let mut latencies = tally.latencies.lock().expect("a lock").clone();
    latencies.sort_unstable();

    // Throughput: SENDERS members, spread over the servers, as fast as the
    // room takes them.
    let cpu_before = redis.and_then(Redis::cpu_seconds);
    let started = Instant::now();
    let mut senders = Vec::new();
    let per_port = SENDERS / ports.len();
    for mine in writers.iter_mut() {
        for _ in 0..per_port {
            let mut socket = mine.pop().expect("a member");
            senders.push(thread::spawn(move || {
                for i in 0..PER_SENDER {
                    say(&mut socket, &format!("T {i}"));
                }
                socket
            }));
        }
    }
    let total = (SENDERS * PER_SENDER * MEMBERS) as u64;
    while tally.received.load(Ordering::Relaxed) < total
        && started.elapsed() < Duration::from_secs(120)
    {
        thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let received = tally.received.load(Ordering::Relaxed);
    let cpu_after = redis.and_then(Redis::cpu_seconds);
    let messages = (SENDERS * PER_SENDER) as f64;
    println!(
        "{label:<26} latency p50 {:>6.2} ms  p99 {:>6.2} ms ({} arrivals)   \
         {:>7.0} messages/s  {:>9.0} deliveries/s{}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.len(),
        messages / elapsed,
        received as f64 / elapsed,
        if received < total {
            format!("  (only {received} of {total} delivered)")
        } else {
            String::new()
        }
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        // Measured over the throughput run alone, whose messages were each
        // published once; the latency probes came before it.
        println!(
            "{:<26} Redis CPU {:.3} s for {messages:.0} messages published: {:.1} µs per message",
            "",
            after - before,
            (after - before) * 1e6 / messages
        );
    }
    for sender in senders {
        drop(sender.join());
    }
    drop(writers);
}

fn main() {
    // `cargo bench` passes `--bench`; `detection` picks the other measure.
    if env::args().any(|arg| arg == "detection") {
        println!("From a killed server to the left notice on another server:");
        detection(Some(2), 5);
        detection(None, 5);
        return;
    }
    println!(
        "{MEMBERS} members; latency over {LATENCY_MESSAGES} messages; throughput {SENDERS} senders × {PER_SENDER}"
    );
    {
        let (_server, port) = start_server("11-chat", &[]);
        measure("11-chat, 1 × 200", &[port], None);
    }
    {
        let redis = Redis::start();
        let url = redis.url();
        let (_server, port) = start_server("14-chat-cluster", &["--redis", &url]);
        thread::sleep(Duration::from_millis(300));
        measure("14-chat-cluster, 1 × 200", &[port], Some(&redis));
    }
    {
        let redis = Redis::start();
        let url = redis.url();
        let (_a, a) = start_server("14-chat-cluster", &["--redis", &url]);
        let (_b, b) = start_server("14-chat-cluster", &["--redis", &url]);
        thread::sleep(Duration::from_millis(300));
        measure("14-chat-cluster, 2 × 100", &[a, b], Some(&redis));
    }
}
