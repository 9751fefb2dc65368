//! Running a chapter binary as a learner would, and reading what it says.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A chapter binary running on a free loopback port, its narration captured.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `binary` (a `CARGO_BIN_EXE_*` path) with `--port 0` and `args`,
    /// plain output, and waits for its "Listening on" line.
    pub fn start(binary: &str, args: &[&str]) -> Server {
        Server::start_with_env(binary, args, &[])
    }

    /// [`Server::start`] with these environment variables set too.
    pub fn start_with_env(binary: &str, args: &[&str], environment: &[(&str, &str)]) -> Server {
        let mut child = Command::new(binary)
            .args(["--port", "0"])
            .args(args)
            .envs(environment.iter().copied())
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the chapter binary starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let mut first = String::new();
        stderr
            .read_line(&mut first)
            .expect("the first line arrives");
        let port = websocket_from_scratch::server::listener::port_in_listening_line(&first)
            .unwrap_or_else(|| panic!("no port in the first line: {first:?}"));
        let log = Arc::new(Mutex::new(first));
        let sink = Arc::clone(&log);
        let reader = thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Server {
            child,
            port,
            log,
            reader: Some(reader),
        }
    }

    /// Everything printed so far, with this run's port replaced by `PORT`.
    pub fn log(&self) -> String {
        let log = self.log.lock().unwrap().clone();
        log.replace(&format!(":{}", self.port), ":PORT")
    }

    /// Waits until the log contains `text` (the server logs from its own threads).
    pub fn wait_for_log(&self, text: &str) -> String {
        self.wait_until(|log| log.contains(text), text)
    }

    /// Waits until the log satisfies `done`; `what` names it if it never does.
    pub fn wait_until(&self, done: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{what:?} never logged; log:\n{log}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a server started with `--connections N` to exit by itself,
    /// and returns its whole narration.
    pub fn finish(mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "the server failed: {status}\n{}",
                    self.log()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server never exited:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let log = self.log();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
        log
    }

    /// The server's process id (to read its figures in `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server (SIGKILL): a crash, with no goodbye to anyone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn connect_raw(&self) -> TcpStream {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Sends `bytes` on a fresh connection and returns everything the
    /// server sends back before it closes.
    pub fn exchange_raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut stream = self.connect_raw();
        stream.write_all(bytes).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits at most ten seconds for `child` (stderr piped) to exit, killing
/// it then: its exit code (`None` if killed) and its stderr. For a program
/// that should stop at start-up, so that one that serves instead fails
/// the test rather than hanging it.
pub fn exit_within_seconds(child: Child) -> (Option<i32>, String) {
    exit_within(child, Duration::from_secs(10))
}

/// Waits at most `limit` for `child` (stderr piped) to exit, killing it
/// then: its exit code (`None` if killed) and its stderr.
pub fn exit_within(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status, stderr)
}

/// Runs a binary (our client, say) to completion and returns its plain stderr.
pub fn run_to_end(binary: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(binary)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A connection to `port` on 127.0.0.1 from `source`, another loopback
/// address (127.0.0.2, …): what tests need to be several clients, since a
/// server gives each address only its share of the connection slots.
pub fn connect_from(source: Ipv4Addr, port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((source, 0)).into())
        .unwrap();
    socket
        .connect(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}
