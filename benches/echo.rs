//! Our chapters against other WebSocket servers, under the same load, on
//! the same CPU.
//!
//! `cargo bench --bench echo` starts the echo servers side by side: our
//! `15-tuned --quiet` (chapter 13's event loop, tuned), `13-event-loop
//! --quiet` (one event loop) and `10-echo-server --quiet` (a thread per
//! connection); fastwebsockets (Deno's, among the fastest
//! servers in published echo benchmarks: one tokio thread, built from
//! `benches/peers/` on first use, so that tokio and hyper stay out of the
//! crate's own dependencies); and a tungstenite echo server (one blocking
//! thread per connection, like chapter 10; it is this benchmark's own
//! binary, run again with `--serve-tungstenite`). One load generator, the
//! same code for all, then runs each scenario against the servers in turn,
//! changing who goes first every round, and prints each server's rate and,
//! for each pair, the median over the rounds of their ratio (above 1.0 when
//! the first of the pair is faster).
//!
//! Everything runs on CPU 0 (`taskset -c 0`): the benchmark re-executes
//! itself under `taskset` first, and starts every server under it too.
//! Client and server then take turns on one CPU, as they would on a busy
//! machine; on two CPUs the results depend mostly on where the scheduler
//! happens to put each thread, and change by several times from run to run.
//!
//! Each slot uses fresh connections, and a connection tends to settle into
//! a fast or a slow rhythm of taking turns with its client, which changes
//! its rate by up to half: many short slots average that out. The range of
//! the slots' rates is printed with each result, and how many were slow
//! (under three quarters of the fastest).
//!
//! * `BENCH_SLOT_MS`: how long each server gets per scenario and round
//!   (default 200 ms);
//! * `BENCH_ROUNDS`: how many rounds (default 10);
//! * `BENCH_ONLY=TEXT`: only the scenario named TEXT (`1 MiB echo`), or
//!   if none is, those whose name contains TEXT (`MiB`), and no memory
//!   measurement, for profiling one of them;
//! * `BENCH_SERVER=LIST` (or `BENCH_SERVERS`): which servers, in order,
//!   separated by commas: `15`, `13`, `10`, `fastwebsockets`, `tungstenite`,
//!   the path of another build of a chapter (to compare a change against
//!   the code before it), or `peer:PATH` for an echo server built outside
//!   this repository that takes no arguments, listens on loopback only and
//!   prints its port as the first line of its standard output. Default:
//!   `15,13,10,fastwebsockets,tungstenite`.
//!
//! For connect+echo+close, the client behaves as an independent one would:
//! a fresh random key per connection (and the answer checked), the closing
//! handshake, then waiting for the server to close TCP first (§7.1.1);
//! it connects from 64 loopback addresses in turn, so that the sockets the
//! servers leave in `TIME_WAIT` do not slow the servers measured later in
//! a run. Every echo is checked against what was sent: each 16-byte one,
//! and the first and last of each slot for the long ones, so that a
//! server answering the wrong bytes cannot look fast.
//! The server's CPU time per unit (message, MB, connection) is
//! printed too, overall (user space and kernel apart) and in the first and
//! last slot: unlike the rate, it does not depend on the load generator.
//!
//! Last (not with `BENCH_ONLY`), each server is started afresh and echoes
//! one 16 MiB message, and a table sums up every scenario's rates and
//! median ratios with each server's peak memory (`VmHWM`) after that
//! echo; the peak before it follows the table.

mod loopback;
mod peers_build;

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use websocket_from_scratch::client::{ARTICLE_MASK, handshake_request, random_key};
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::frame::{self, Opcode};
use websocket_from_scratch::protocol::handshake::accept_key;
use websocket_from_scratch::protocol::http;

/// The CPU everything runs on.
const CPU: &str = "0";
/// Set in the environment once the benchmark runs under `taskset`.
const PINNED: &str = "WS_BENCH_PINNED";
const SERVE_TUNGSTENITE: &str = "--serve-tungstenite";
/// `BENCH_SERVERS=peer:PATH` names a server built elsewhere.
const PEER: &str = "peer:";
const MIB: usize = 1024 * 1024;

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(SERVE_TUNGSTENITE) {
        serve_tungstenite();
        return;
    }
    if env::var_os(PINNED).is_none() {
        let status = Command::new("taskset")
            .args(["-c", CPU])
            .arg(env::current_exe().expect("the benchmark knows its own path"))
            .args(&args)
            .env(PINNED, "1")
            .status()
            .expect("taskset runs (util-linux)");
        std::process::exit(status.code().unwrap_or(1));
    }
    run();
}

// ---------------------------------------------------------------------------
// The tungstenite server

/// Listens on a free port, prints it on stdout, and echoes every text and
/// binary message on each connection's own thread. Pings and close frames
/// are answered by tungstenite itself.
fn serve_tungstenite() {
    use tungstenite::Message;
    use tungstenite::protocol::WebSocketConfig;

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local address").port();
    println!("{port}");
    std::io::stdout().flush().expect("stdout");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        thread::spawn(move || {
            // Same socket options as ours: small frames leave at once.
            let _ = stream.set_nodelay(true);
            let config = WebSocketConfig::default()
                .max_message_size(Some(64 * MIB))
                .max_frame_size(Some(64 * MIB));
            let Ok(mut socket) = tungstenite::accept_with_config(stream, Some(config)) else {
                return;
            };
            loop {
                match socket.read() {
                    Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                        if socket.send(message).is_err() {
                            return;
                        }
                    }
                    // The reply to a ping or a close goes out on the next read.
                    Ok(_) => {}
                    // `ConnectionClosed` after the closing handshake (dropping
                    // the stream then closes TCP), or a broken connection.
                    Err(_) => return,
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------
// The servers under test

struct Server {
    name: String,
    child: Child,
    port: u16,
}

impl Server {
    /// What a name on the command line is shown as.
    fn label(name: &str) -> String {
        match name {
            "10" => "10-echo-server".into(),
            "13" => "13-event-loop".into(),
            "15" => "15-tuned".into(),
            other => match other.strip_prefix(PEER) {
                Some(path) => path.rsplit('/').next().unwrap_or(path).into(),
                None => other.into(),
            },
        }
    }

    /// The server `name` names (see the top of this file), quiet, on a
    /// free port, pinned to the benchmark's CPU.
    fn start(name: &str) -> Server {
        match name {
            "tungstenite" => Server::tungstenite(),
            "fastwebsockets" => {
                Server::printing_its_port(name, Command::new(peers_build::fastwebsockets_binary()))
            }
            "10" => Server::chapter(
                "10-echo-server",
                env!("CARGO_BIN_EXE_10-echo-server").into(),
            ),
            "13" => Server::chapter("13-event-loop", env!("CARGO_BIN_EXE_13-event-loop").into()),
            "15" => Server::chapter("15-tuned", env!("CARGO_BIN_EXE_15-tuned").into()),
            other => match other.strip_prefix(PEER) {
                Some(path) => Server::printing_its_port(&Server::label(other), Command::new(path)),
                None => Server::chapter(other, other.into()),
            },
        }
    }

    /// One of our chapters, which says its port in its first line.
    fn chapter(name: &str, binary: PathBuf) -> Server {
        let mut child = Command::new("taskset")
            .args(["-c", CPU])
            .arg(&binary)
            .args(["--port", "0", "--quiet"])
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{} does not start: {error}", binary.display()));
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut first = String::new();
        stderr.read_line(&mut first).expect("the listening line");
        let port = websocket_from_scratch::server::listener::port_in_listening_line(&first)
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        // Quiet mode prints only problems: pass them on, they matter.
        let label = name.to_string();
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("{label}: {line}");
            }
        });
        Server {
            name: name.to_string(),
            child,
            port,
        }
    }

    /// A server that prints its port on stdout: a peer's.
    fn printing_its_port(name: &str, command: Command) -> Server {
        let mut child = Command::new("taskset")
            .args(["-c", CPU])
            .arg(command.get_program())
            .args(command.get_args())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{name} does not start: {error}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the port line");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} printed no port on its first line: {line:?}"));
        Server {
            name: name.to_string(),
            child,
            port,
        }
    }

    /// The tungstenite echo server above, in a process of its own.
    fn tungstenite() -> Server {
        let mut command = Command::new(env::current_exe().expect("own path"));
        command.arg(SERVE_TUNGSTENITE);
        Server::printing_its_port("tungstenite", command)
    }

    /// A line of the server's `/proc/PID/status`, such as `VmHWM`.
    fn status(&self, field: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .map(|value| value.trim().to_string())
            .unwrap_or_default()
    }

    /// CPU time the server has used so far, all threads (including those
    /// that have ended), in seconds: in user space, and in the kernel on
    /// its behalf. `/proc/PID/stat` counts it in ticks of 1/100 s
    /// (`USER_HZ`, 100 on Linux).
    fn cpu_seconds(&self) -> CpuTime {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/PID/stat");
        // The fields after the command name, which is in parentheses:
        // state is field 3, utime 14 and stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |index: usize| fields[index].parse::<f64>().expect("ticks");
        CpuTime {
            user: ticks(14 - 3) / 100.0,
            system: ticks(15 - 3) / 100.0,
        }
    }

    /// Peak resident memory so far, in bytes.
    fn peak_memory(&self) -> u64 {
        let kib: u64 = self
            .status("VmHWM")
            .trim_end_matches("kB")
            .trim()
            .parse()
            .expect("VmHWM in kB");
        kib * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The load generator: our own frames, the same for both servers

/// One client connection. Frames to send are encoded (and masked) once,
/// ahead of time, so the client spends as little of the shared CPU as it
/// can; echoes are read into a buffer that is reused.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    /// Connects as an independent client would: from the next of
    /// [`SOURCES`] loopback addresses, with a fresh random key, checking
    /// the server's `Sec-WebSocket-Accept`.
    fn open(port: u16) -> Conn {
        let stream = connect_from_next_source(port);
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let key = random_key();
        let request = handshake_request(&format!("localhost:{port}"), &key);
        writer.write_all(request.as_bytes()).expect("send request");
        let response = http::read_head(&mut reader).expect("a response");
        assert!(
            response.start_line.starts_with("HTTP/1.1 101"),
            "refused: {}",
            response.start_line
        );
        assert_eq!(
            response.header("Sec-WebSocket-Accept"),
            Some(accept_key(&key).as_str()),
            "the accept matches the key"
        );
        Conn { reader, writer }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// Reads one frame into `payload`, returning its opcode.
    fn receive(&mut self, payload: &mut Vec<u8>) -> Opcode {
        let header = frame::read_header(&mut self.reader).expect("a frame");
        assert!(header.fin, "echoes come back as one frame");
        payload.resize(header.payload_len as usize, 0);
        self.reader.read_exact(payload).expect("the payload");
        header.opcode
    }

    /// Sends a close frame, waits for the server's, then for the server to
    /// close TCP (it closes first, §7.1.1), then closes ours.
    fn close(mut self, scratch: &mut Vec<u8>) {
        self.send(&close_frame());
        assert_eq!(self.receive(scratch), Opcode::Close);
        let mut rest = Vec::new();
        if let Err(error) = self.reader.read_to_end(&mut rest)
            && http::is_timeout(&error)
        {
            panic!("the server did not close TCP within 30 s of the closing handshake");
        }
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}

/// How many loopback addresses the client connects from (127.0.0.20 and
/// up). The server closes TCP first (§7.1.1), so each connection leaves a
/// socket in `TIME_WAIT` on the server's side for a minute; a new
/// connection from the same address and port meets it and may be delayed.
/// From one address, the ephemeral ports (28,232 here) come round again
/// within seconds at thousands of connections a second, and the rate then
/// depends on how many connections the run made before; from 64 addresses
/// they do not come round within a minute.
const SOURCES: u8 = 64;

fn connect_from_next_source(port: u16) -> TcpStream {
    static NEXT: AtomicU8 = AtomicU8::new(0);
    let index = NEXT.fetch_add(1, Ordering::Relaxed) % SOURCES;
    let source = Ipv4Addr::new(127, 0, 0, 20 + index);
    loopback::connect_from(source, port).expect("connect from a loopback address")
}

fn close_frame() -> Vec<u8> {
    let payload = close::payload(CloseCode::NORMAL, "");
    frame::encode(true, Opcode::Close, Some(ARTICLE_MASK), &payload)
}

/// A test pattern that is not all one byte.
fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// `payload` as one binary message in `fragments` masked frames.
fn encode_message(payload: &[u8], fragments: usize) -> Vec<u8> {
    let piece = payload.len().div_ceil(fragments);
    let mut bytes = Vec::with_capacity(payload.len() + 14 * fragments);
    for (i, chunk) in payload.chunks(piece).enumerate() {
        let opcode = if i == 0 {
            Opcode::Binary
        } else {
            Opcode::Continuation
        };
        let fin = (i + 1) * piece >= payload.len();
        bytes.extend(frame::encode(fin, opcode, Some(ARTICLE_MASK), chunk));
    }
    bytes
}

// ---------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    /// Round trips of `size`-byte binary messages over `connections`
    /// connections: one message out on each, then every echo back.
    RoundTrips { size: usize, connections: usize },
    /// Echoes of one `size`-byte binary message sent in `fragments` frames.
    Echo { size: usize, fragments: usize },
    /// Connect, handshake, one 16-byte echo, closing handshake, TCP close.
    Connections,
}

impl Scenario {
    fn label(self) -> String {
        match self {
            Scenario::RoundTrips {
                size,
                connections: 1,
            } => format!("{size} B round trips, 1 connection"),
            Scenario::RoundTrips { size, connections } => {
                format!("{size} B round trips, {connections} connections")
            }
            Scenario::Echo { size, fragments: 1 } => format!("{} echo", human(size)),
            Scenario::Echo { size, fragments } => {
                format!("{} echo in {fragments} fragments", human(size))
            }
            Scenario::Connections => "connect+echo+close".to_string(),
        }
    }

    /// What the rate counts.
    fn unit(self) -> &'static str {
        match self {
            Scenario::RoundTrips { .. } => "msg/s",
            Scenario::Echo { .. } => "MB/s",
            Scenario::Connections => "conn/s",
        }
    }

    /// What one unit of the rate is, for the server's CPU time per unit.
    fn counted(self) -> &'static str {
        match self {
            Scenario::RoundTrips { .. } => "message",
            Scenario::Echo { .. } => "MB",
            Scenario::Connections => "connection",
        }
    }

    /// Runs against `port` for about `slot`; returns (units done, seconds).
    /// Connections for the round trips are opened before the clock starts
    /// and closed after it stops.
    fn run(self, port: u16, slot: Duration) -> (f64, f64) {
        let mut scratch = Vec::new();
        match self {
            Scenario::RoundTrips { size, connections } => {
                let payload = pattern(size);
                let message = encode_message(&payload, 1);
                let mut conns: Vec<Conn> = (0..connections).map(|_| Conn::open(port)).collect();
                let round = |conns: &mut [Conn], scratch: &mut Vec<u8>| {
                    for conn in conns.iter_mut() {
                        conn.send(&message);
                    }
                    for conn in conns.iter_mut() {
                        assert_eq!(conn.receive(scratch), Opcode::Binary);
                        assert_eq!(*scratch, payload, "the echo is what was sent");
                    }
                };
                round(&mut conns, &mut scratch);
                let start = Instant::now();
                let mut count = 0;
                while start.elapsed() < slot {
                    round(&mut conns, &mut scratch);
                    count += connections;
                }
                let seconds = start.elapsed().as_secs_f64();
                for conn in conns {
                    conn.close(&mut scratch);
                }
                (count as f64, seconds)
            }
            Scenario::Echo { size, fragments } => {
                let payload = pattern(size);
                let message = encode_message(&payload, fragments);
                let mut conn = Conn::open(port);
                let echo = |conn: &mut Conn, scratch: &mut Vec<u8>| {
                    conn.send(&message);
                    assert_eq!(conn.receive(scratch), Opcode::Binary);
                    assert_eq!(scratch.len(), size);
                };
                echo(&mut conn, &mut scratch);
                assert_eq!(scratch, payload, "the echo is what was sent");
                let start = Instant::now();
                let mut count = 0;
                while start.elapsed() < slot {
                    echo(&mut conn, &mut scratch);
                    count += 1;
                }
                let seconds = start.elapsed().as_secs_f64();
                // The slot's last echo too, outside the clock.
                assert_eq!(scratch, payload, "the echo is what was sent");
                conn.close(&mut scratch);
                ((count * size) as f64 / 1e6, seconds)
            }
            Scenario::Connections => {
                let payload = pattern(16);
                let message = encode_message(&payload, 1);
                let start = Instant::now();
                let mut count = 0;
                while start.elapsed() < slot {
                    let mut conn = Conn::open(port);
                    conn.send(&message);
                    assert_eq!(conn.receive(&mut scratch), Opcode::Binary);
                    assert_eq!(scratch, payload, "the echo is what was sent");
                    conn.close(&mut scratch);
                    count += 1;
                }
                (count as f64, start.elapsed().as_secs_f64())
            }
        }
    }
}

/// A server's CPU time, in seconds: user space and kernel. Where two
/// servers make the same system calls, a difference in CPU time that is
/// all user time is a difference in their own code.
#[derive(Clone, Copy, Default)]
struct CpuTime {
    user: f64,
    system: f64,
}

impl CpuTime {
    fn total(self) -> f64 {
        self.user + self.system
    }

    fn since(self, before: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user - before.user,
            system: self.system - before.system,
        }
    }
}

/// One server's results in one scenario, over all its slots.
#[derive(Default)]
struct Tally {
    units: f64,
    seconds: f64,
    /// CPU time the server used.
    cpu: CpuTime,
    /// Every slot's rate.
    slots: Vec<f64>,
    /// Every slot's server CPU time per unit, in microseconds.
    cpu_per_unit: Vec<f64>,
}

impl Tally {
    fn add(&mut self, units: f64, seconds: f64, cpu: CpuTime) {
        self.slots.push(units / seconds);
        self.cpu_per_unit.push(1e6 * cpu.total() / units);
        self.units += units;
        self.seconds += seconds;
        self.cpu.user += cpu.user;
        self.cpu.system += cpu.system;
    }

    fn rate(&self) -> f64 {
        self.units / self.seconds
    }

    /// The rate, the range of the slots' rates, how many slots fell into
    /// a slow rhythm (under three quarters of the fastest), and the
    /// server's share of the one CPU (the rest is the load generator and
    /// the kernel work it causes).
    fn describe(&self, unit: &str) -> String {
        let slowest = self.slots.iter().copied().fold(f64::INFINITY, f64::min);
        let fastest = self.slots.iter().copied().fold(0.0, f64::max);
        let slow = self
            .slots
            .iter()
            .filter(|&&rate| rate < 0.75 * fastest)
            .count();
        format!(
            "{:>7.0} {unit:<6} (slots {slowest:.0}-{fastest:.0}, {slow} of {} slow, server {:.0}% CPU)",
            self.rate(),
            self.slots.len(),
            100.0 * self.cpu.total() / self.seconds
        )
    }

    /// The server's CPU time per unit over all slots (and how much of it
    /// was user space, how much kernel), and in its first and last slots:
    /// a figure that does not depend on how busy the machine is, and that
    /// shows whether a server's cost grows with the work it has done
    /// before. `/proc` counts CPU time in 10 ms ticks, so a
    /// slot's figure is only as good as its slot is long.
    fn describe_cpu(&self, unit: &str) -> String {
        let first = self.cpu_per_unit.first().copied().unwrap_or(0.0);
        let last = self.cpu_per_unit.last().copied().unwrap_or(0.0);
        format!(
            "server CPU {:.1} µs per {unit} (user {:.1}, system {:.1}; first slot {first:.1}, last {last:.1})",
            1e6 * self.cpu.total() / self.units,
            1e6 * self.cpu.user / self.units,
            1e6 * self.cpu.system / self.units
        )
    }
}

fn human(bytes: usize) -> String {
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

// ---------------------------------------------------------------------------
// Peak memory

/// Peak resident memory of a fresh server process before and after echoing
/// one message of `size` bytes.
fn peak_memory(server: Server, size: usize) -> (u64, u64) {
    let mut conn = Conn::open(server.port);
    let mut scratch = Vec::new();
    let small = encode_message(&pattern(16), 1);
    conn.send(&small);
    conn.receive(&mut scratch);
    // Give the server's thread a moment to settle after the handshake.
    thread::sleep(Duration::from_millis(50));
    let before = server.peak_memory();
    conn.send(&encode_message(&pattern(size), 1));
    assert_eq!(conn.receive(&mut scratch), Opcode::Binary);
    assert_eq!(scratch.len(), size);
    let after = server.peak_memory();
    conn.close(&mut scratch);
    (before, after)
}

// ---------------------------------------------------------------------------

/// The median of some ratios.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn run() {
    let slot = Duration::from_millis(
        env::var("BENCH_SLOT_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(200),
    );
    let rounds: usize = env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let names: Vec<String> = env::var("BENCH_SERVERS")
        .or_else(|_| env::var("BENCH_SERVER"))
        .unwrap_or_else(|_| "15,13,10,fastwebsockets,tungstenite".into())
        .split(',')
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect();
    let servers: Vec<Server> = names.iter().map(|name| Server::start(name)).collect();
    let own = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let own_cpus = own
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("?")
        .trim();
    let pinned: Vec<String> = servers
        .iter()
        .map(|server| format!("{} {}", server.name, server.status("Cpus_allowed_list")))
        .collect();
    println!(
        "CPUs allowed: load generator {own_cpus}, {}",
        pinned.join(", ")
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());
    println!(
        "{} rounds of {} ms per server and scenario, changing which server goes first\n",
        rounds,
        slot.as_millis()
    );

    let scenarios = [
        Scenario::RoundTrips {
            size: 16,
            connections: 1,
        },
        Scenario::RoundTrips {
            size: 16,
            connections: 100,
        },
        Scenario::Echo {
            size: 64 * 1024,
            fragments: 1,
        },
        Scenario::Echo {
            size: MIB,
            fragments: 1,
        },
        Scenario::Echo {
            size: 16 * MIB,
            fragments: 1,
        },
        Scenario::Echo {
            size: MIB,
            fragments: 16,
        },
        Scenario::Connections,
    ];

    // Every pair of servers, the first of each pair the one listed first.
    let count = servers.len();
    let pairs: Vec<(usize, usize)> = (0..count)
        .flat_map(|a| (a + 1..count).map(move |b| (a, b)))
        .collect();
    let only = env::var("BENCH_ONLY").ok();
    let exactly = only
        .as_deref()
        .is_some_and(|text| scenarios.iter().any(|scenario| scenario.label() == text));
    let mut rows = Vec::new();
    for scenario in scenarios {
        if only.as_deref().is_some_and(|text| {
            let label = scenario.label();
            if exactly {
                label != text
            } else {
                !label.contains(text)
            }
        }) {
            continue;
        }
        let mut tallies: Vec<Tally> = servers.iter().map(|_| Tally::default()).collect();
        let mut ratios: Vec<Vec<f64>> = pairs.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            let mut rates = vec![0.0; count];
            for turn in 0..count {
                let which = (round + turn) % count;
                let server = &servers[which];
                let cpu_before = server.cpu_seconds();
                let (units, seconds) = scenario.run(server.port, slot);
                tallies[which].add(units, seconds, server.cpu_seconds().since(cpu_before));
                rates[which] = units / seconds;
            }
            for (ratio, &(a, b)) in ratios.iter_mut().zip(&pairs) {
                ratio.push(rates[a] / rates[b]);
            }
        }
        println!("{}", scenario.label());
        for (server, tally) in servers.iter().zip(&tallies) {
            println!("  {:<16} {}", server.name, tally.describe(scenario.unit()));
            println!("  {:<16} {}", "", tally.describe_cpu(scenario.counted()));
        }
        let medians: Vec<f64> = ratios.into_iter().map(median).collect();
        let said: Vec<String> = pairs
            .iter()
            .zip(&medians)
            .map(|(&(a, b), ratio)| format!("{} / {} {ratio:.2}", servers[a].name, servers[b].name))
            .collect();
        println!("  median ratios: {}", said.join(", "));
        rows.push((
            scenario,
            tallies.iter().map(Tally::rate).collect::<Vec<_>>(),
            medians,
        ));
    }
    drop(servers);
    if only.is_some() {
        return;
    }

    let size = 16 * MIB;
    let memory: Vec<(u64, u64)> = names
        .iter()
        .map(|name| peak_memory(Server::start(name), size))
        .collect();

    let short = |name: &str| -> String {
        match name {
            "10-echo-server" => "ch10".into(),
            "13-event-loop" => "ch13".into(),
            "15-tuned" => "ch15".into(),
            "fastwebsockets" => "fws".into(),
            "tungstenite" => "tung".into(),
            other => other.chars().take(8).collect(),
        }
    };
    let labels: Vec<String> = names
        .iter()
        .map(|name| short(&Server::label(name)))
        .collect();
    println!();
    print!("| {:<34} |", "scenario (medians of round ratios)");
    for label in &labels {
        print!(" {label:>14} |");
    }
    for &(a, b) in &pairs {
        print!(" {:>10} |", format!("{}/{}", labels[a], labels[b]));
    }
    println!();
    for (scenario, rates, medians) in rows {
        print!("| {:<34} |", scenario.label());
        for rate in rates {
            print!(" {:>14} |", format!("{rate:.0} {}", scenario.unit()));
        }
        for ratio in medians {
            print!(" {ratio:>10.2} |");
        }
        println!();
    }
    let mib = |bytes: u64| bytes as f64 / MIB as f64;
    print!("| {:<34} |", "peak memory, one 16 MiB echo");
    for (_, after) in &memory {
        print!(" {:>14} |", format!("{:.1} MiB", mib(*after)));
    }
    println!();
    println!(
        "\nPeak memory is VmHWM of a fresh server process after one 16 MiB echo \
         (lower is better); before the echo: {}.",
        labels
            .iter()
            .zip(&memory)
            .map(|(label, (before, _))| format!("{label} {:.1} MiB", mib(*before)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
}
