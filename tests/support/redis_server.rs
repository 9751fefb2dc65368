//! A Redis server of a test's own (chapter 14): `redis-server` on a free
//! loopback port, its files in a temporary directory, no persistence,
//! stopped by its process id when the test ends.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Fails, saying how to install it, unless `redis-server` is on the PATH.
pub fn assert_redis_ready() {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "redis-server is not installed; run: apt-get install redis-server"
    );
}

/// A port nobody listens on right now (the kernel's pick, released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("its address").port()
}

pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    password: Option<String>,
}

impl Redis {
    /// Starts `redis-server` on a free port and waits until it answers.
    pub fn start() -> Redis {
        Redis::start_with(None)
    }

    /// Starts one that asks for `password` (`--requirepass`).
    pub fn start_with_password(password: &str) -> Redis {
        Redis::start_with(Some(password.to_string()))
    }

    fn start_with(password: Option<String>) -> Redis {
        assert_redis_ready();
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("chat-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut redis = Redis {
            child: None,
            port,
            dir,
            password,
        };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT` (with `:PASSWORD@` when it asks for one),
    /// for `--redis`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Freezes it (SIGSTOP): connections stay open, nothing is answered,
    /// and its clock goes on, so keys expire meanwhile.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets it go on after [`Redis::pause`] (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        let sent = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .is_ok_and(|status| status.success());
        assert!(sent, "kill {signal} {pid} failed");
    }

    /// Starts it again on the same port (after [`Redis::kill`]), empty.
    pub fn restart(&mut self) {
        let mut command = Command::new("redis-server");
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ping().is_err() {
            assert!(Instant::now() < deadline, "redis-server never answered");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// PING over a fresh connection.
    pub fn ping(&self) -> redis::RedisResult<String> {
        redis::cmd("PING").query(&mut self.connection()?)
    }

    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// Kills it (SIGKILL, by its process id) and waits until the port is
    /// closed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
            assert!(Instant::now() < deadline, "redis-server never went away");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
