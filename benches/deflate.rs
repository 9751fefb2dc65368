//! Chapter 12 (permessage-deflate) against chapter 10 (no compression),
//! under the same load, on the same CPU: bytes on the wire, messages per
//! second, and memory per idle connection.
//!
//! `cargo bench --bench deflate` starts `10-echo-server --quiet` and
//! `12-compression --quiet` and sends each the same messages, one at a time,
//! waiting for each echo, on one connection per run:
//!
//! * chat: JSON chat-like lines (69–142 bytes, 103 on average), all
//!   different;
//! * random: 4 KiB of random bytes, which do not compress.
//!
//! Chapter 12 is measured twice: with context takeover (both sides keep
//! their window across messages, the default) and without
//! (`server_no_context_takeover; client_no_context_takeover`). The client
//! compresses with flate2, as a browser would with zlib; frames are built
//! ahead of time so the client spends little of the shared CPU. Bytes on
//! the wire count frame headers and payloads, both ways (not the handshake
//! or TCP). Memory: the server's resident size before and after opening
//! `BENCH_IDLE` connections (default 200) that each exchanged one message,
//! divided by their number.
//!
//! Before the runs of each load and server, one untimed run checks every
//! echo: the same opcode, and the same bytes once inflated, so that a
//! server answering the wrong bytes cannot look fast.
//!
//! Everything runs on CPU 0 (`taskset -c 0`), as `benches/echo.rs` explains.
//! `BENCH_ROUNDS` (default 5) runs per scenario, the three servers taking
//! turns run by run; the best and the median rate are printed.

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use websocket_from_scratch::client::{ARTICLE_KEY, ARTICLE_MASK, handshake_request};
use websocket_from_scratch::protocol::frame::{self, FrameHeader, Opcode};
use websocket_from_scratch::protocol::http;

const CPU: &str = "0";
const PINNED: &str = "WS_BENCH_PINNED";

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

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(binary: &str) -> Server {
        let mut child = Command::new("taskset")
            .args(["-c", CPU])
            .arg(binary)
            .args(["--port", "0", "--quiet"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut first = String::new();
        stderr.read_line(&mut first).expect("the listening line");
        let port = websocket_from_scratch::server::listener::port_in_listening_line(&first)
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("server: {line}");
            }
        });
        Server { child, port }
    }

    /// Resident memory now, in bytes.
    fn resident(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in kB");
        kib * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a run uses compression.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Chapter10,
    Takeover,
    NoTakeover,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Chapter10 => "10-echo-server",
            Mode::Takeover => "12, context takeover",
            Mode::NoTakeover => "12, no context takeover",
        }
    }

    fn offer(self) -> Option<&'static str> {
        match self {
            Mode::Chapter10 => None,
            Mode::Takeover => Some("permessage-deflate; client_max_window_bits"),
            Mode::NoTakeover => {
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
            }
        }
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(port: u16, offer: Option<&str>) -> Conn {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let mut request = handshake_request(&format!("localhost:{port}"), ARTICLE_KEY);
        if let Some(offer) = offer {
            let end = request.len() - 2;
            request.insert_str(end, &format!("Sec-WebSocket-Extensions: {offer}\r\n"));
        }
        writer.write_all(request.as_bytes()).expect("send request");
        let response = http::read_head(&mut reader).expect("a response");
        assert!(response.start_line.starts_with("HTTP/1.1 101"));
        assert_eq!(
            response.header("Sec-WebSocket-Extensions").is_some(),
            offer.is_some(),
            "the server agrees exactly when offered"
        );
        Conn { reader, writer }
    }

    /// Reads one frame, returning its size on the wire.
    fn receive(&mut self, payload: &mut Vec<u8>) -> usize {
        let header = self.receive_frame(payload);
        frame::encode_header(&header).len() + payload.len()
    }

    /// Reads one frame into `payload`, returning its header.
    fn receive_frame(&mut self, payload: &mut Vec<u8>) -> FrameHeader {
        let header = frame::read_header(&mut self.reader).expect("a frame");
        payload.resize(header.payload_len as usize, 0);
        self.reader.read_exact(payload).expect("the payload");
        header
    }
}

/// The frames a client sends for `messages`, compressed as `mode` says.
fn client_frames(messages: &[(Opcode, Vec<u8>)], mode: Mode) -> Vec<Vec<u8>> {
    let mut compressor = Compress::new_with_window_bits(Compression::default(), false, 15);
    messages
        .iter()
        .map(|(opcode, payload)| {
            let (rsv, body) = match mode {
                Mode::Chapter10 => (0, payload.clone()),
                _ => {
                    let mut out = Vec::with_capacity(payload.len() + 64);
                    compressor
                        .compress_vec(payload, &mut out, FlushCompress::Sync)
                        .expect("compresses");
                    out.truncate(out.len() - 4);
                    if mode == Mode::NoTakeover {
                        compressor.reset();
                    }
                    (0b100, out)
                }
            };
            let mut bytes = frame::encode_header(&FrameHeader {
                fin: true,
                rsv,
                opcode: *opcode,
                mask: Some(ARTICLE_MASK),
                payload_len: body.len() as u64,
            });
            let start = bytes.len();
            bytes.extend_from_slice(&body);
            websocket_from_scratch::protocol::mask::apply(ARTICLE_MASK, &mut bytes[start..]);
            bytes
        })
        .collect()
}

/// A small deterministic generator (xorshift), so every run sends the same.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn chat_messages(count: usize) -> Vec<(Opcode, Vec<u8>)> {
    let names = ["ada", "grace", "linus", "margaret", "ken", "barbara"];
    let words = [
        "hello", "anyone", "seen", "the", "build", "green", "again", "lunch", "at", "noon",
        "review", "my", "patch", "please", "thanks", "merged", "tests", "pass", "now", "ok",
    ];
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|i| {
            let from = names[random.next() as usize % names.len()];
            let length = 5 + random.next() as usize % 10;
            let text: Vec<&str> = (0..length)
                .map(|_| words[random.next() as usize % words.len()])
                .collect();
            let line = format!(
                r#"{{"type":"message","id":{i},"from":"{from}","text":"{}"}}"#,
                text.join(" ")
            );
            (Opcode::Text, line.into_bytes())
        })
        .collect()
}

fn random_messages(count: usize, size: usize) -> Vec<(Opcode, Vec<u8>)> {
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    (0..count)
        .map(|_| {
            let bytes = (0..size).map(|_| random.next() as u8).collect();
            (Opcode::Binary, bytes)
        })
        .collect()
}

/// An untimed run that checks every echo: one frame, the opcode sent, and
/// the payload sent once inflated (the server's window kept from message
/// to message, which reads a reset one too).
fn check_echoes(server: &Server, mode: Mode, messages: &[(Opcode, Vec<u8>)], frames: &[Vec<u8>]) {
    let mut conn = Conn::open(server.port, mode.offer());
    let mut inflater = Decompress::new_with_window_bits(false, 15);
    let mut echoed = Vec::new();
    for (frame, (opcode, payload)) in frames.iter().zip(messages) {
        conn.writer.write_all(frame).expect("send");
        let header = conn.receive_frame(&mut echoed);
        assert!(header.fin, "{}: an echo in one frame", mode.name());
        assert_eq!(header.opcode, *opcode, "{}: the echo's opcode", mode.name());
        if header.rsv & 0b100 != 0 {
            assert!(mode != Mode::Chapter10, "chapter 10 sent RSV1");
            echoed.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
            let mut inflated = Vec::with_capacity(payload.len() + 64);
            inflater
                .decompress_vec(&echoed, &mut inflated, FlushDecompress::Sync)
                .expect("the echo inflates");
            echoed = inflated;
        }
        assert!(
            echoed == *payload,
            "{}: the echo is what was sent",
            mode.name()
        );
    }
}

/// One run: every frame sent and its echo read, on a fresh connection.
/// Returns (seconds, bytes client → server, bytes server → client).
fn one_run(server: &Server, mode: Mode, frames: &[Vec<u8>]) -> (f64, usize, usize) {
    let mut conn = Conn::open(server.port, mode.offer());
    let mut scratch = Vec::new();
    let (mut up, mut down) = (0, 0);
    let started = Instant::now();
    for frame in frames {
        conn.writer.write_all(frame).expect("send");
        up += frame.len();
        down += conn.receive(&mut scratch);
    }
    (started.elapsed().as_secs_f64(), up, down)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn run() {
    let rounds: usize = env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5);
    let idle: usize = env::var("BENCH_IDLE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let chapter_10 = Server::start(env!("CARGO_BIN_EXE_10-echo-server"));
    let chapter_12 = Server::start(env!("CARGO_BIN_EXE_12-compression"));
    let loads = [
        ("chat JSON", chat_messages(2000)),
        ("random 4 KiB", random_messages(500, 4096)),
    ];
    let modes = [Mode::Chapter10, Mode::Takeover, Mode::NoTakeover];
    println!(
        "permessage-deflate: one connection, one message at a time, {rounds} runs each, CPU {CPU}"
    );
    println!();
    println!(
        "{:<14} {:<24} {:>9} {:>13} {:>13} {:>12} {:>12}",
        "load", "server", "messages", "bytes up", "bytes down", "best msg/s", "median msg/s"
    );
    for (load, messages) in &loads {
        let raw: usize = messages.iter().map(|(_, payload)| payload.len()).sum();
        let server_for = |mode: Mode| {
            if mode == Mode::Chapter10 {
                &chapter_10
            } else {
                &chapter_12
            }
        };
        let frames = modes.map(|mode| client_frames(messages, mode));
        for (mode, frames) in modes.iter().zip(&frames) {
            check_echoes(server_for(*mode), *mode, messages, frames);
        }
        // The servers take turns, round by round, so that a change in the
        // machine's load falls on all of them alike.
        let mut rates = modes.map(|_| Vec::new());
        let mut wire = modes.map(|_| (0, 0));
        for _ in 0..rounds {
            for (index, mode) in modes.iter().enumerate() {
                let (seconds, up, down) = one_run(server_for(*mode), *mode, &frames[index]);
                rates[index].push(messages.len() as f64 / seconds);
                wire[index] = (up, down);
            }
        }
        for (index, mode) in modes.iter().enumerate() {
            let best = rates[index].iter().copied().fold(0.0, f64::max);
            println!(
                "{:<14} {:<24} {:>9} {:>13} {:>13} {:>12.0} {:>12.0}",
                load,
                mode.name(),
                messages.len(),
                wire[index].0,
                wire[index].1,
                best,
                median(&mut rates[index])
            );
        }
        println!("{:<14} {:<24} {:>9} {:>13}", "", "(payload, raw)", "", raw);
    }
    drop((chapter_10, chapter_12));

    println!();
    println!("memory per idle connection ({idle} connections, each after one message):");
    for mode in modes {
        let binary = if mode == Mode::Chapter10 {
            env!("CARGO_BIN_EXE_10-echo-server")
        } else {
            env!("CARGO_BIN_EXE_12-compression")
        };
        let server = Server::start(binary);
        let frames = client_frames(&chat_messages(1), mode);
        // One connection first, so one-off start-up allocations are not
        // counted against the rest.
        let mut warm = Conn::open(server.port, mode.offer());
        warm.writer.write_all(&frames[0]).expect("send");
        warm.receive(&mut Vec::new());
        thread::sleep(Duration::from_millis(100));
        let before = server.resident();
        let conns: Vec<Conn> = (0..idle)
            .map(|_| {
                let mut conn = Conn::open(server.port, mode.offer());
                conn.writer.write_all(&frames[0]).expect("send");
                conn.receive(&mut Vec::new());
                conn
            })
            .collect();
        thread::sleep(Duration::from_millis(200));
        let after = server.resident();
        println!(
            "  {:<24} {:>8.1} KiB per connection (resident {:.1} → {:.1} MiB)",
            mode.name(),
            (after.saturating_sub(before)) as f64 / idle as f64 / 1024.0,
            before as f64 / 1048576.0,
            after as f64 / 1048576.0
        );
        drop(conns);
    }
}
