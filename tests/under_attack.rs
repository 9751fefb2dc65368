//! Chapters 10 and 11 under attack (issue 10): each defence, tried with
//! small configured limits so that every test runs in seconds. The load
//! figures themselves come from `tests/load/run`, run by hand.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::Socket;
use tungstenite::Message;
use tungstenite::protocol::WebSocketConfig;

const ECHO: &str = env!("CARGO_BIN_EXE_10-echo-server");
const CHAT: &str = env!("CARGO_BIN_EXE_11-chat");

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
        let port = first
            .split("ws://localhost:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok())
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
    let mut server = Raw::of(ECHO, &[]);
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

#[test]
fn a_closed_stderr_does_not_kill_connections() {
    let mut server = Raw::of(ECHO, &[]);
    drop(server.stderr.take());
    for round in 0..3 {
        let mut socket = server.client();
        socket.send(Message::text(format!("hello {round}"))).unwrap();
        assert_eq!(
            socket.read().unwrap(),
            Message::text(format!("hello {round}"))
        );
        socket.close(None).unwrap();
        while socket.read().is_ok() {}
    }
    assert!(server.still_running());
}
