//! Chapter 10 against tungstenite, under the same load, on the same CPU.
//!
//! `cargo bench --bench echo` starts two echo servers side by side: our
//! `10-echo-server --quiet`, and a tungstenite echo server built the same
//! way (one blocking thread per connection; it is this benchmark's own
//! binary, run again with `--serve-tungstenite`). One load generator, the
//! same code for both, then runs each scenario against the two servers in
//! turn, alternating who goes first, and prints the rates and their ratio:
//! ours / tungstenite, above 1.0 when we are faster.
//!
//! Everything runs on CPU 0 (`taskset -c 0`): the benchmark re-executes
//! itself under `taskset` first, and starts both servers under it too.
//! Client and server then take turns on one CPU, as they would on a busy
//! machine; on two CPUs the results depend mostly on where the scheduler
//! happens to put each thread, and change by several times from run to run.
//!
//! Each slot uses fresh connections, and a connection tends to settle into
//! a fast or a slow rhythm of taking turns with its client, which changes
//! its rate by up to half: many short slots average that out. The range of
//! the slots' rates is printed with each result.
//!
//! * `BENCH_SLOT_MS`: how long each server gets per scenario and round
//!   (default 200 ms);
//! * `BENCH_ROUNDS`: how many rounds (default 10);
//! * `BENCH_ONLY=TEXT`: only the scenarios whose name contains TEXT, and no
//!   memory measurement, for profiling one of them;
//! * `BENCH_SERVER=PATH`: another build of `10-echo-server` as ours, to
//!   compare a change against the code before it.

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use websocket_from_scratch::client::{ARTICLE_KEY, ARTICLE_MASK, handshake_request};
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::frame::{self, Opcode};
use websocket_from_scratch::protocol::http;

/// The CPU everything runs on.
const CPU: &str = "0";
/// Set in the environment once the benchmark runs under `taskset`.
const PINNED: &str = "WS_BENCH_PINNED";
const SERVE_TUNGSTENITE: &str = "--serve-tungstenite";
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
    child: Child,
    port: u16,
}

impl Server {
    /// Our chapter 10, quiet, on a free port.
    fn ours() -> Server {
        let mut child = Command::new("taskset")
            .args(["-c", CPU])
            .arg(
                env::var_os("BENCH_SERVER")
                    .unwrap_or_else(|| env!("CARGO_BIN_EXE_10-echo-server").into()),
            )
            .args(["--port", "0", "--quiet"])
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("10-echo-server starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut first = String::new();
        stderr.read_line(&mut first).expect("the listening line");
        let port = websocket_from_scratch::server::listener::port_in_listening_line(&first)
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        // Quiet mode prints only problems: pass them on, they matter.
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("10-echo-server: {line}");
            }
        });
        Server { child, port }
    }

    /// The tungstenite echo server above, in a process of its own.
    fn tungstenite() -> Server {
        let mut child = Command::new("taskset")
            .args(["-c", CPU])
            .arg(env::current_exe().expect("own path"))
            .arg(SERVE_TUNGSTENITE)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the tungstenite server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the port line");
        let port = line.trim().parse().expect("a port number");
        Server { child, port }
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
    /// that have ended), in seconds. `/proc/PID/stat` counts it in ticks of
    /// 1/100 s (`USER_HZ`, 100 on Linux).
    fn cpu_seconds(&self) -> f64 {
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
        (ticks(14 - 3) + ticks(15 - 3)) / 100.0
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
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let request = handshake_request(&format!("localhost:{port}"), ARTICLE_KEY);
        writer.write_all(request.as_bytes()).expect("send request");
        let response = http::read_head(&mut reader).expect("a response");
        assert!(
            response.start_line.starts_with("HTTP/1.1 101"),
            "refused: {}",
            response.start_line
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
        let _ = self.reader.read_to_end(&mut rest);
        let _ = self.writer.shutdown(Shutdown::Both);
    }
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

#[derive(Clone, Copy)]
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
                        assert_eq!(scratch.len(), size);
                    }
                };
                round(&mut conns, &mut scratch);
                assert_eq!(scratch, payload, "the echo is what was sent");
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
                conn.close(&mut scratch);
                ((count * size) as f64 / 1e6, seconds)
            }
            Scenario::Connections => {
                let message = encode_message(&pattern(16), 1);
                let start = Instant::now();
                let mut count = 0;
                while start.elapsed() < slot {
                    let mut conn = Conn::open(port);
                    conn.send(&message);
                    assert_eq!(conn.receive(&mut scratch), Opcode::Binary);
                    conn.close(&mut scratch);
                    count += 1;
                }
                (count as f64, start.elapsed().as_secs_f64())
            }
        }
    }
}

/// One server's results in one scenario, over all its slots.
#[derive(Default)]
struct Tally {
    units: f64,
    seconds: f64,
    /// CPU time the server used.
    cpu_seconds: f64,
    /// The slowest and fastest slot, as rates.
    slowest: f64,
    fastest: f64,
}

impl Tally {
    fn add(&mut self, units: f64, seconds: f64, cpu_seconds: f64) {
        let rate = units / seconds;
        if self.seconds == 0.0 || rate < self.slowest {
            self.slowest = rate;
        }
        self.fastest = self.fastest.max(rate);
        self.units += units;
        self.seconds += seconds;
        self.cpu_seconds += cpu_seconds;
    }

    fn rate(&self) -> f64 {
        self.units / self.seconds
    }

    /// The rate, the range of the slots' rates, and the server's share of
    /// the one CPU (the rest is the load generator and the kernel work it
    /// causes).
    fn describe(&self, unit: &str) -> String {
        format!(
            "{:>7.0} {unit:<6} (slots {:.0}-{:.0}, server {:.0}% CPU)",
            self.rate(),
            self.slowest,
            self.fastest,
            100.0 * self.cpu_seconds / self.seconds
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
    let ours = Server::ours();
    let theirs = Server::tungstenite();
    let own = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let own_cpus = own
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("?")
        .trim();
    println!(
        "CPUs allowed: load generator {own_cpus}, 10-echo-server {}, tungstenite {}",
        ours.status("Cpus_allowed_list"),
        theirs.status("Cpus_allowed_list")
    );
    println!(
        "{} rounds of {} ms per server and scenario, alternating which server goes first\n",
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

    let only = env::var("BENCH_ONLY").ok();
    let mut rows = Vec::new();
    for scenario in scenarios {
        if only
            .as_deref()
            .is_some_and(|text| !scenario.label().contains(text))
        {
            continue;
        }
        let mut tallies = [Tally::default(), Tally::default()];
        for round in 0..rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let server = [&ours, &theirs][which];
                let cpu_before = server.cpu_seconds();
                let (units, seconds) = scenario.run(server.port, slot);
                tallies[which].add(units, seconds, server.cpu_seconds() - cpu_before);
            }
        }
        let [ours_rate, theirs_rate] = tallies.each_ref().map(Tally::rate);
        println!(
            "{:<34} ours {}  tungstenite {}  {:.2}x",
            scenario.label(),
            tallies[0].describe(scenario.unit()),
            tallies[1].describe(scenario.unit()),
            ours_rate / theirs_rate
        );
        rows.push((scenario, ours_rate, theirs_rate));
    }
    drop(ours);
    drop(theirs);
    if only.is_some() {
        return;
    }

    let size = 16 * MIB;
    let (ours_before, ours_after) = peak_memory(Server::ours(), size);
    let (theirs_before, theirs_after) = peak_memory(Server::tungstenite(), size);

    println!();
    println!(
        "{:<34} {:>17} {:>17} {:>18}",
        "scenario", "ours", "tungstenite", "ours / tungstenite"
    );
    println!("{}", "-".repeat(34 + 3 * 18 + 1));
    for (scenario, ours_rate, theirs_rate) in rows {
        println!(
            "{:<34} {:>17} {:>17} {:>17.2}x",
            scenario.label(),
            format!("{ours_rate:.0} {}", scenario.unit()),
            format!("{theirs_rate:.0} {}", scenario.unit()),
            ours_rate / theirs_rate
        );
    }
    let mib = |bytes: u64| bytes as f64 / MIB as f64;
    println!(
        "{:<34} {:>17} {:>17} {:>17.2}x",
        "peak memory, one 16 MiB echo",
        format!("{:.1} MiB", mib(ours_after)),
        format!("{:.1} MiB", mib(theirs_after)),
        mib(ours_after) / mib(theirs_after)
    );
    println!(
        "\nPeak memory is VmHWM of a fresh server process after one 16 MiB echo \
         (lower is better; before the echo: ours {:.1} MiB, tungstenite {:.1} MiB).",
        mib(ours_before),
        mib(theirs_before)
    );
    println!(
        "Ours peaked at {:.2}x the message size; the budget is 3x ({} MiB).",
        ours_after as f64 / size as f64,
        3 * size / MIB
    );
}
