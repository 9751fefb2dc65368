//! The checker's side of the wire: a chapter binary started as an attendee
//! would start it, and raw bytes exchanged with it, each wait bounded.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use websocket_from_scratch::protocol::frame::{self, Opcode};

use crate::failure::Failure;

/// A fixed mask per frame, as the chapter tests use, so that the narration
/// is the same on every run.
pub const TEST_MASK: [u8; 4] = [1, 2, 3, 4];

/// How long any one answer may take before the chapter counts as silent.
pub fn answer_timeout() -> Duration {
    let millis = std::env::var("WORKSHOP_TIMEOUT_MS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5000);
    Duration::from_millis(millis)
}

/// The most of a server's output the checker keeps: far more than any
/// chapter's narration, so that a print in a loop costs a MiB, not all
/// the memory it could fill before its check times out.
const MOST_LOGGED: usize = 1 << 20;

/// The line that stands for the output past [`MOST_LOGGED`].
const CUT_OFF: &str = "(the checker kept your server's first MiB of output, and no more)";

/// A chapter binary running on a free loopback port, its narration captured.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
    done: Receiver<()>,
}

impl Server {
    /// Starts `binary` with `--port 0 --connections N` and `args`, options
    /// of the chapter's own, plain output, and waits for its "Listening
    /// on" line.
    pub fn start_with(binary: &Path, connections: usize, args: &[&str]) -> Result<Server, Failure> {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--connections", &connections.to_string()])
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| {
                Failure::plain(format!("{} does not start: {error}", binary.display()))
            })?;
        // Standard output is no part of the narration, but its first line
        // says where a server printed what belongs on standard error.
        let on_stdout = Arc::new(Mutex::new(None));
        if let Some(stdout) = child.stdout.take() {
            let first = Arc::clone(&on_stdout);
            thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut bytes = Vec::new();
                while (&mut reader)
                    .take(MOST_LOGGED as u64)
                    .read_until(b'\n', &mut bytes)
                    .is_ok_and(|read| read > 0)
                {
                    if let Ok(mut first) = first.lock()
                        && first.is_none()
                    {
                        let line = String::from_utf8_lossy(&bytes);
                        *first = Some(line.trim_end_matches(['\n', '\r']).to_string());
                    }
                    bytes.clear();
                }
            });
        }
        let log = Arc::new(Mutex::new(String::new()));
        let (lines, first) = mpsc::channel();
        let (finished, done) = mpsc::channel();
        let sink = Arc::clone(&log);
        let Some(stderr) = child.stderr.take() else {
            return Err(Failure::plain("the server's output cannot be read".into()));
        };
        thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut bytes = Vec::new();
            let mut kept = 0;
            loop {
                // A line without end is read in pieces, and bytes that are
                // not UTF-8 are shown, not taken for the end of the output.
                bytes.clear();
                let limit = MOST_LOGGED as u64;
                match (&mut reader).take(limit).read_until(b'\n', &mut bytes) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&bytes);
                let line = text.trim_end_matches(['\n', '\r']).to_string();
                // What comes after the first MiB is drained, not kept.
                if kept <= MOST_LOGGED
                    && let Ok(mut log) = sink.lock()
                {
                    kept += line.len() + 1;
                    if kept <= MOST_LOGGED {
                        log.push_str(&line);
                        log.push('\n');
                    } else {
                        log.push_str(CUT_OFF);
                        log.push('\n');
                    }
                }
                let _ = lines.send(line);
            }
            let _ = finished.send(());
        });
        let mut server = Server {
            child,
            port: 0,
            log,
            done,
        };
        let first: String = match first.recv_timeout(answer_timeout()) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => {
                let status = server.wait_for_exit(answer_timeout());
                return Err(Failure::plain(format!(
                    "your server exited before listening ({status}); it printed:\n{}",
                    server.raw_log()
                )));
            }
            Err(RecvTimeoutError::Timeout) => {
                let seconds = answer_timeout().as_secs_f32();
                let first = on_stdout.lock().ok().and_then(|first| first.clone());
                return Err(Failure::plain(match first {
                    Some(line) => format!(
                        "your server printed on standard output, not standard error: {line:?} \
                         (and nothing on standard error for {seconds} s): chapters print \
                         with eprintln! or narrate, which write on standard error"
                    ),
                    None => {
                        format!("your server printed nothing for {seconds} s: nothing listens yet")
                    }
                }));
            }
        };
        let Some(port) = websocket_from_scratch::server::listener::port_in_listening_line(&first)
        else {
            // A panic before the loop starts (chapter 13's first lesson
            // runs on the main thread) prints a blank line, then where.
            server.wait_for_exit(Duration::from_secs(2));
            return Err(Failure::plain(
                crate::panic_line(&server.raw_log()).unwrap_or_else(|| {
                    format!("no \"Listening on ws://localhost:PORT\" line, but: {first:?}")
                }),
            ));
        };
        server.port = port;
        Ok(server)
    }

    fn raw_log(&self) -> String {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// Everything printed so far, with this run's port replaced by `PORT`.
    pub fn log(&self) -> String {
        self.raw_log().replace(&format!(":{}", self.port), ":PORT")
    }

    /// Waits for the server to exit by itself (it serves N connections);
    /// says how it ended, or kills it after `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Its last lines are still on their way through the pipe.
                    let _ = self.done.recv_timeout(Duration::from_secs(2));
                    return status.to_string();
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let _ = self.done.recv_timeout(Duration::from_secs(2));
                    return "still running, stopped by the checker".into();
                }
            }
        }
    }

    /// Waits until the server has printed `line` (a step of a scenario
    /// that only the log shows, such as a subscription).
    pub fn wait_for_log(&mut self, line: &str, what: &str) -> Result<(), Failure> {
        self.wait_for_any_log(&[line], what)
    }

    /// Waits until the log holds one of `lines` (named by the first).
    pub fn wait_for_any_log(&mut self, lines: &[&str], what: &str) -> Result<(), Failure> {
        let line = lines.first().copied().unwrap_or_default();
        let deadline = Instant::now() + answer_timeout();
        while !{
            let log = self.raw_log();
            lines.iter().any(|line| log.contains(line))
        } {
            if let Some(status) = self.exited() {
                return Err(Failure::plain(format!(
                    "your server exited ({status}) before it printed {line:?} ({what})"
                )));
            }
            if Instant::now() > deadline {
                return Err(Failure::plain(format!(
                    "your server did not print {line:?} within {} s ({what})",
                    answer_timeout().as_secs_f32()
                )));
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Whether the process has ended, and how.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Opens a connection; "nothing listens" if refused.
    pub fn connect(&mut self) -> Result<Wire, Failure> {
        if let Some(status) = self.exited() {
            return Err(Failure::plain(format!(
                "your server exited ({status}) before the checker could connect"
            )));
        }
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).map_err(|error| {
            Failure::plain(format!(
                "nothing listens on port {} ({error}): did your server stop listening?",
                self.port
            ))
        })?;
        let timeout = Some(answer_timeout());
        let _ = stream.set_read_timeout(timeout);
        let _ = stream.set_write_timeout(timeout);
        let _ = stream.set_nodelay(true);
        Ok(Wire {
            stream,
            sent: Vec::new(),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One connection, remembering what was last sent so that a failure can
/// show it.
pub struct Wire {
    stream: TcpStream,
    pub sent: Vec<u8>,
}

/// The most the checker reads while waiting for a server to hang up: far
/// more than any page or last frame a chapter sends.
const MOST_BEFORE_HANGING_UP: usize = 1 << 20;

/// A frame as it arrived: its bytes, and the parts that matter.
pub struct Frame {
    pub bytes: Vec<u8>,
    pub opcode: Opcode,
    pub payload: Vec<u8>,
}

/// Why a read ended early; "no answer" only when nothing at all arrived.
fn read_failure(error: &io::Error, what: &str, arrived: usize) -> String {
    let seconds = answer_timeout().as_secs_f32();
    match (error.kind(), arrived) {
        (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, 0) => {
            format!("no answer within {seconds} s: {what}")
        }
        (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, _) => format!(
            "an answer cut short: {arrived} byte(s) arrived, then nothing for {seconds} s \
             (does the header announce more than was sent?): {what}"
        ),
        (io::ErrorKind::UnexpectedEof, 0) => format!("the connection closed: {what}"),
        (io::ErrorKind::UnexpectedEof, _) => {
            format!("the connection closed after {arrived} byte(s) of an answer: {what}")
        }
        _ => format!("reading failed ({error}): {what}"),
    }
}

impl Wire {
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.sent = bytes.to_vec();
        let mut taken = 0;
        while taken < bytes.len() {
            let error = match self.stream.write(&bytes[taken..]) {
                Ok(0) => io::Error::from(io::ErrorKind::WriteZero),
                Ok(written) => {
                    taken += written;
                    continue;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => error,
            };
            // A full socket for the whole wait: the server stopped reading.
            let why = match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                    "the server stopped reading: it took {taken} bytes of the {} sent, then \
                     nothing for {} s",
                    bytes.len(),
                    answer_timeout().as_secs_f32()
                ),
                _ => format!(
                    "sending failed ({error}) after {taken} of {} bytes",
                    bytes.len()
                ),
            };
            return Err(Failure::sending(&why, bytes));
        }
        Ok(())
    }

    /// Sends a frame that answers the server (a pong for its ping), not a
    /// step of the scenario: a failure still shows what the step sent.
    pub fn answer_frame(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        mask: [u8; 4],
    ) -> Result<(), Failure> {
        self.stream
            .write_all(&frame::encode(true, opcode, Some(mask), payload))
            .map_err(|error| Failure::plain(format!("sending failed: {error}")))
    }

    /// Sends one masked client frame.
    pub fn send_frame(
        &mut self,
        fin: bool,
        opcode: Opcode,
        payload: &[u8],
        mask: [u8; 4],
    ) -> Result<(), Failure> {
        self.send(&frame::encode(fin, opcode, Some(mask), payload))
    }

    /// Sends several masked client frames as one step.
    pub fn send_frames(&mut self, frames: &[(bool, Opcode, &[u8])]) -> Result<(), Failure> {
        let mut bytes = Vec::new();
        for (fin, opcode, payload) in frames {
            bytes.extend_from_slice(&frame::encode(*fin, *opcode, Some(TEST_MASK), payload));
        }
        self.send(&bytes)
    }

    /// Sends `bytes` and ends our side of the stream with them, in one TCP
    /// segment: the server is told of both in one readiness event, and
    /// must read on past its last bytes to see the end. Corked, our kernel
    /// holds the bytes back until the FIN joins them. (Where `TCP_CORK` is
    /// not had, the two may come one after the other.)
    pub fn send_then_end_stream(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        #[cfg(target_os = "linux")]
        socket2::SockRef::from(&self.stream)
            .set_tcp_cork(true)
            .map_err(|error| Failure::plain(format!("holding bytes back failed: {error}")))?;
        self.send(bytes)?;
        self.end_stream()
    }

    /// Ends our side of the stream (TCP's FIN), as a peer done sending.
    pub fn end_stream(&mut self) -> Result<(), Failure> {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|error| Failure::plain(format!("ending the stream failed: {error}")))
    }

    /// Everything until the server hangs up, within the answer timeout
    /// and [`MOST_BEFORE_HANGING_UP`]: a server that keeps sending is cut
    /// off, not read for ever.
    pub fn read_to_end(&mut self) -> Result<Vec<u8>, (Vec<u8>, String)> {
        let deadline = Instant::now() + answer_timeout();
        let mut answer = Vec::new();
        let mut chunk = [0; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(answer),
                Ok(read) => answer.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                // A reset after the server's last bytes is still a hang-up.
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => return Ok(answer),
                Err(error) => {
                    let why = read_failure(&error, "the server did not hang up", answer.len());
                    return Err((answer, why));
                }
            }
            if answer.len() > MOST_BEFORE_HANGING_UP || Instant::now() > deadline {
                let why = format!(
                    "the server did not hang up: it kept sending ({} bytes so far)",
                    answer.len()
                );
                return Err((answer, why));
            }
        }
    }

    /// An HTTP response head, up to its blank line.
    pub fn read_head(&mut self, expected: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match self.stream.read(&mut byte) {
                Ok(0) => {
                    return Err(self.mismatch(
                        "the connection closed before a whole response head",
                        expected,
                        &head,
                    ));
                }
                Ok(_) => head.push(byte[0]),
                Err(error) => {
                    let why = read_failure(&error, "expected a response head", head.len());
                    return Err(self.mismatch(&why, expected, &head));
                }
            }
            if head.len() > 16 * 1024 {
                return Err(self.mismatch("a response head over 16 KiB", expected, &head));
            }
        }
        Ok(head)
    }

    /// The next frame from the server; `expected` is what the check wants,
    /// shown if something else arrives.
    pub fn read_frame(&mut self, expected: &[u8]) -> Result<Frame, Failure> {
        let mut bytes = Vec::new();
        let read = |wire: &mut Wire, bytes: &mut Vec<u8>, count: usize| -> Result<(), Failure> {
            let start = bytes.len();
            bytes.resize(start + count, 0);
            let mut filled = start;
            while filled < bytes.len() {
                let error = match wire.stream.read(&mut bytes[filled..]) {
                    Ok(0) => io::Error::from(io::ErrorKind::UnexpectedEof),
                    Ok(read) => {
                        filled += read;
                        continue;
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => error,
                };
                // What did arrive before the wait ended is shown too.
                bytes.truncate(filled);
                let why = read_failure(&error, "expected a frame", bytes.len());
                return Err(wire.frame_mismatch(&why, expected, bytes));
            }
            Ok(())
        };
        read(self, &mut bytes, 2)?;
        let opcode = Opcode::from_bits(bytes[0] & 0x0f);
        let masked = bytes[1] & 0x80 != 0;
        let length = match bytes[1] & 0x7f {
            126 => {
                read(self, &mut bytes, 2)?;
                u64::from(u16::from_be_bytes([bytes[2], bytes[3]]))
            }
            127 => {
                read(self, &mut bytes, 8)?;
                let mut eight = [0; 8];
                eight.copy_from_slice(&bytes[2..10]);
                u64::from_be_bytes(eight)
            }
            short => u64::from(short),
        };
        if masked {
            return Err(self.frame_mismatch(
                "a server must never mask its frames (RFC 6455 §5.1)",
                expected,
                &bytes,
            ));
        }
        if length > 64 * 1024 * 1024 {
            return Err(self.frame_mismatch(
                "a frame header announcing over 64 MiB",
                expected,
                &bytes,
            ));
        }
        let start = bytes.len();
        read(self, &mut bytes, length as usize)?;
        let payload = bytes[start..].to_vec();
        Ok(Frame {
            bytes,
            opcode,
            payload,
        })
    }

    /// Expects exactly `expected` as the next frame, answering pings first
    /// if `answer_pings`.
    pub fn expect_frame(&mut self, expected: &[u8], what: &str) -> Result<Frame, Failure> {
        let frame = self.read_frame(expected)?;
        if frame.bytes != expected {
            let why = format!("wrong frame for {what}");
            return Err(self.frame_mismatch(&why, expected, &frame.bytes));
        }
        Ok(frame)
    }

    /// A failure about bytes that are not frames (an HTTP head).
    pub fn mismatch(&self, why: &str, expected: &[u8], got: &[u8]) -> Failure {
        Failure::wire(why, &self.sent, expected, got)
    }

    /// A failure about frames, taken apart field by field.
    pub fn frame_mismatch(&self, why: &str, expected: &[u8], got: &[u8]) -> Failure {
        Failure::frames(why, &self.sent, expected, got)
    }
}

/// A `redis-server` of the checker's own for chapter 14: a free loopback
/// port, nothing saved, stopped when the check ends. It makes no folder of
/// its own, which Ctrl-C (stopping the checker before any destructor runs)
/// would leave behind.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    /// Starts `redis-server` and waits until it answers; if it is not
    /// installed, says so plainly.
    pub fn start() -> Result<Redis, Failure> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            return Err(Failure::plain(
                "chapter 14 needs redis-server, which is not installed here (its room spans \
                 servers through Redis): install it (apt-get install redis-server, or brew \
                 install redis), then check again"
                    .into(),
            ));
        }
        // A port is free when picked, but another program may take it
        // before redis-server binds it: then ours exits, and whoever
        // answers there is not ours (its process id tells). Three tries.
        let mut why = String::new();
        for _ in 0..3 {
            match Redis::start_on_a_free_port() {
                Ok(redis) => return Ok(redis),
                Err(error) => why = error,
            }
        }
        Err(Failure::plain(format!(
            "the checker's redis-server did not start: {why}"
        )))
    }

    fn start_on_a_free_port() -> Result<Redis, String> {
        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .map_err(|error| format!("no free port: {error}"))?;
        // Nothing saved, so nothing written in its working folder.
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("it does not run: {error}"))?;
        let mut redis = Redis { child, port };
        let ours = format!("process_id:{}\r\n", redis.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = redis.child.try_wait() {
                return Err(format!("it exited ({status}) on port {port}"));
            }
            if let Some(answer) = redis.ask(b"INFO server\r\n") {
                if answer.contains(&ours) {
                    return Ok(redis);
                }
                return Err(format!("port {port} was taken by another Redis"));
            }
            if Instant::now() > deadline {
                return Err(format!("it did not answer on port {port} within 10 s"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// One inline command's answer, if anything answers: its first line,
    /// and all of it if that line announces a bulk string (`$LENGTH`).
    fn ask(&self, command: &[u8]) -> Option<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).ok()?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        stream.write_all(command).ok()?;
        let mut answer = Vec::new();
        let mut chunk = [0; 4096];
        while !whole_reply(&answer) && answer.len() < 64 * 1024 {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(read) => answer.extend_from_slice(&chunk[..read]),
            }
        }
        (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned())
    }

    /// `redis://127.0.0.1:PORT`, for `--redis`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// Whether `reply` holds a whole Redis reply: a line, or a bulk string's
/// announced length of bytes after its first line.
fn whole_reply(reply: &[u8]) -> bool {
    let Some(end) = reply.windows(2).position(|pair| pair == b"\r\n") else {
        return false;
    };
    let length = reply
        .strip_prefix(b"$")
        .and_then(|rest| std::str::from_utf8(&rest[..end - 1]).ok())
        .and_then(|length| length.parse::<usize>().ok());
    match length {
        Some(length) => reply.len() >= end + 2 + length + 2,
        None => true,
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
