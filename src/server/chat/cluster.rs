//! The chat room across several servers (chapter 14): the connections to a
//! Redis broker, and what keeps them alive.
//!
//! A [`Broker`] holds three connections to one Redis server, each with its
//! own job:
//!
//! * a **subscriber**, on a thread of its own: `SUBSCRIBE channel`, then
//!   every message published on the channel, by any server, is handed to
//!   the chapter's `hear` function. A connection in subscribe mode can do
//!   nothing else, hence the other two.
//! * a **sender**, on a thread of its own, emptying a bounded queue of
//!   commands (`PUBLISH`, and the small writes that go with it) in one
//!   pipelined round trip per batch. Whoever queues a command never waits
//!   for the network: a member's thread, or the room under its lock, can
//!   queue one. When [`SEND_QUEUE`] wait already (Redis answers slower
//!   than they come), new ones are dropped, and the heartbeat says how
//!   many ([`Broker::take_overflowed`]).
//! * a **command** connection, for the few calls whose answer someone waits
//!   for (claiming a name, reading who is where), with timeouts.
//!
//! Where Redis is comes from `--redis`, or `REDIS_URL`: a [`RedisUrl`],
//! checked at start-up (a URL the server cannot use stops it there) and
//! never shown with its password.
//!
//! When Redis goes away, the subscriber notices (its connection fails),
//! says so once through `hear` ([`Heard::Unreachable`]), and tries again
//! after 100 ms, 200 ms, … up to [`LAST_RETRY`]; once subscribed again it
//! says [`Heard::Reachable`]. While Redis is unreachable, queued commands
//! are dropped, not kept: Redis pub/sub delivers each message at most
//! once, to whoever is subscribed at that moment, and keeps nothing for
//! later.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use redis::{Client, Cmd, Connection, RedisResult};

/// The first wait before connecting again; it doubles after each failure…
pub const FIRST_RETRY: Duration = Duration::from_millis(100);
/// …up to this.
pub const LAST_RETRY: Duration = Duration::from_secs(2);
/// How long a command may take before Redis counts as unreachable.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the subscriber wakes up when nothing is published, to check
/// that Redis still answers.
const LISTEN_TICK: Duration = Duration::from_millis(500);
/// How many commands may wait for the sender before new ones are dropped.
pub const SEND_QUEUE: usize = 16_384;

/// What the subscriber hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Subscribed: the first time, or again after an outage.
    Reachable,
    /// The connection to Redis failed; said once per outage.
    Unreachable(String),
    /// A message published on the channel, by any server (this one too).
    Message(String),
}

/// Where Redis is: a `redis://` URL, checked once at start-up, that shows
/// itself with its password masked.
///
/// A password in the URL (`redis://:PASSWORD@HOST:PORT`) is needed to
/// connect, and must never reach a log: [`fmt::Display`] writes
/// `redis://:***@HOST:PORT`, and [`RedisUrl::scrub`] masks it in any text,
/// such as an error from the Redis client. (On the command line it is
/// still visible to anyone who can list the machine's processes: the
/// `REDIS_URL` environment variable is not.)
#[derive(Clone)]
pub struct RedisUrl {
    client: Client,
    /// The URL as given, password masked.
    shown: String,
    /// What to mask in any text: the URL's user information, when it has any.
    secrets: Vec<String>,
}

/// The URL when neither `--redis` nor `REDIS_URL` says: Redis on this
/// machine, its usual port.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// What a usable URL looks like, for error messages.
const URL_FORM: &str = "redis://[:PASSWORD@]HOST[:PORT]";

impl RedisUrl {
    /// Checks `text` is a URL this server can use: `redis://`, a host, a
    /// port from 1 to 65535 if any, and no database number but 0. Pub/sub
    /// channels belong to a whole Redis server, not to one of its
    /// databases: servers on different databases would hear each other's
    /// room while checking names in different places. The error says what
    /// is wrong, without the password.
    pub fn parse(text: &str) -> Result<RedisUrl, String> {
        let Some(rest) = text.strip_prefix("redis://") else {
            return Err(match text.split_once("://") {
                Some(("rediss", _)) => format!(
                    "rediss:// (Redis over TLS) is not built into this server: use {URL_FORM}"
                ),
                Some((scheme, _))
                    if !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
                {
                    format!("{scheme}:// is not a scheme this server takes: use {URL_FORM}")
                }
                _ => format!("not a URL: expected {URL_FORM}"),
            });
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (user_info, host_port) = match authority.rsplit_once('@') {
            Some((user_info, host_port)) => (Some(user_info), host_port),
            None => (None, authority),
        };
        let shown_user = match user_info {
            None => String::new(),
            Some(info) => match info.split_once(':') {
                Some((user, _)) => format!("{user}:***@"),
                None => "***@".to_string(),
            },
        };
        // The password, or the whole user information when it has no `:`.
        let secrets: Vec<String> = user_info
            .map(|info| info.split_once(':').map_or(info, |(_, password)| password))
            .filter(|secret| !secret.is_empty())
            .map(str::to_string)
            .into_iter()
            .collect();
        let shown = format!("redis://{shown_user}{host_port}{tail}");
        let (host, port) = match host_port.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((address, after)) => (address, after.strip_prefix(':')),
                None => return Err(format!("the host in {shown} lacks its closing ]")),
            },
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        if host.is_empty() {
            return Err(format!("{shown} names no host: expected {URL_FORM}"));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c))
        {
            return Err(format!("{host:?} in {shown} is not a host name or address"));
        }
        if let Some(port) = port
            && !port.parse::<u16>().is_ok_and(|port| port > 0)
        {
            return Err(format!(
                "the port {port:?} in {shown} is not a number from 1 to 65535"
            ));
        }
        match tail {
            "" | "/" | "/0" => {}
            path if path.starts_with(['?', '#']) || path.contains(['?', '#']) => {
                return Err(format!(
                    "{shown} has options (?… or #…), which this server does not take: use {URL_FORM}"
                ));
            }
            path => {
                return Err(format!(
                    "{shown} names a database ({path}): every database of a Redis server \
                     shares its pub/sub channels, so rooms on different databases would hear \
                     each other; give no database (or /0), and use another Redis server \
                     for another room"
                ));
            }
        }
        let client = Client::open(text).map_err(|error| {
            let error = mask(&secrets, &error.to_string());
            format!("{shown} is refused by the Redis client: {error}")
        })?;
        Ok(RedisUrl {
            client,
            shown,
            secrets,
        })
    }

    /// The URL to use: `--redis`'s value when given, else the `REDIS_URL`
    /// environment variable when set, else [`DEFAULT_REDIS_URL`]. The error
    /// names where the bad URL came from.
    pub fn choose(
        option: Option<String>,
        environment: Option<OsString>,
    ) -> Result<RedisUrl, String> {
        if let Some(text) = option {
            return RedisUrl::parse(&text).map_err(|why| format!("--redis: {why}"));
        }
        match environment {
            Some(value) if !value.is_empty() => match value.into_string() {
                Ok(text) => RedisUrl::parse(&text).map_err(|why| format!("REDIS_URL: {why}")),
                Err(_) => Err("REDIS_URL: not valid UTF-8".to_string()),
            },
            _ => RedisUrl::parse(DEFAULT_REDIS_URL),
        }
    }

    /// [`RedisUrl::choose`] with this process's `REDIS_URL`.
    pub fn from_option_or_environment(option: Option<String>) -> Result<RedisUrl, String> {
        RedisUrl::choose(option, std::env::var_os("REDIS_URL"))
    }

    /// `text` with the URL's password (its user information) masked.
    pub fn scrub(&self, text: &str) -> String {
        mask(&self.secrets, text)
    }
}

fn mask(secrets: &[String], text: &str) -> String {
    let mut text = text.to_string();
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

/// The subtitle chapter 11's page starts with…
const ONE_SERVER: &str = "Chapter 11 of WebSocket from scratch: one server, every tab";
/// …and the one it starts with when its room spans several servers, until
/// the server says which one the tab is on, and how many there are
/// (`FromRoom::Span`).
const SEVERAL_SERVERS: &str =
    "Chapter 14 of WebSocket from scratch: one room across several servers";

/// The chat's page, for a room that spans several servers.
pub fn page() -> Vec<u8> {
    String::from_utf8_lossy(super::PAGE)
        .replace(ONE_SERVER, SEVERAL_SERVERS)
        .into_bytes()
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.shown)
    }
}

/// One server's connections to Redis.
pub struct Broker {
    url: RedisUrl,
    channel: String,
    up: AtomicBool,
    /// Counts subscriptions: the sender reconnects when it changes, since
    /// its own connection went down with the subscriber's.
    generation: AtomicU64,
    outgoing: Mutex<VecDeque<Cmd>>,
    queued: Condvar,
    /// Commands dropped because Redis was unreachable or the queue full.
    dropped: AtomicU64,
    /// Commands dropped because the queue was full, since last told.
    overflowed: AtomicU64,
    commands: Mutex<Option<Connection>>,
}

impl Broker {
    /// A broker for `channel` on the Redis at `url`, not connected yet.
    pub fn new(url: &RedisUrl, channel: &str) -> Arc<Broker> {
        Arc::new(Broker {
            url: url.clone(),
            channel: channel.to_string(),
            up: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            outgoing: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
            dropped: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
            commands: Mutex::new(None),
        })
    }

    /// Starts the subscriber and the sender threads. `hear` runs on the
    /// subscriber's thread, for every message in the order Redis sent it.
    pub fn start(
        self: &Arc<Broker>,
        hear: impl FnMut(Heard) + Send + 'static,
    ) -> Result<(), String> {
        let listener = Arc::clone(self);
        thread::Builder::new()
            .name("redis-subscriber".into())
            .spawn(move || listener.listen(hear))
            .map_err(|error| format!("no thread for the subscriber: {error}"))?;
        let sender = Arc::clone(self);
        thread::Builder::new()
            .name("redis-sender".into())
            .spawn(move || sender.send_queued())
            .map_err(|error| format!("no thread for the sender: {error}"))?;
        Ok(())
    }

    /// Where Redis is (its password masked when shown).
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Whether the subscriber is subscribed right now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// The channel every server publishes on and listens to.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// How many queued commands were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many commands were dropped because the queue was full (Redis
    /// answering, but slower than they came) since the last call: an
    /// outage's are not counted, the outage is told.
    pub fn take_overflowed(&self) -> u64 {
        self.overflowed.swap(0, Ordering::Relaxed)
    }

    /// `PUBLISH channel payload`, queued.
    pub fn publish(&self, payload: String) {
        let mut command = redis::cmd("PUBLISH");
        command.arg(&self.channel).arg(payload);
        self.queue(command);
    }

    /// Queues `command` for the sender, never waiting. While Redis is
    /// unreachable, or when the queue is full, the command is dropped.
    pub fn queue(&self, command: Cmd) {
        let mut outgoing = lock(&self.outgoing);
        if !self.is_up() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if outgoing.len() >= SEND_QUEUE {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        outgoing.push_back(command);
        self.queued.notify_one();
    }

    /// Runs `call` on the command connection and waits for its answer;
    /// fails at once while Redis is unreachable.
    pub fn command<T>(
        &self,
        call: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, String> {
        if !self.is_up() {
            return Err("Redis is unreachable".to_string());
        }
        let mut slot = lock(&self.commands);
        if slot.is_none() {
            *slot = Some(
                self.connect()
                    .map_err(|error| self.url.scrub(&error.to_string()))?,
            );
        }
        let Some(connection) = slot.as_mut() else {
            return Err("no connection".to_string());
        };
        call(connection).map_err(|error| {
            *slot = None;
            self.url.scrub(&error.to_string())
        })
    }

    fn connect(&self) -> RedisResult<Connection> {
        let connection = self
            .url
            .client
            .get_connection_with_timeout(COMMAND_TIMEOUT)?;
        connection.set_read_timeout(Some(COMMAND_TIMEOUT))?;
        connection.set_write_timeout(Some(COMMAND_TIMEOUT))?;
        Ok(connection)
    }

    /// The subscriber's thread: subscribe, hear, and on failure say so
    /// once and try again with back-off, forever.
    fn listen(&self, mut hear: impl FnMut(Heard)) {
        let mut delay = FIRST_RETRY;
        let mut reported = false;
        loop {
            let error = self.subscribe_and_hear(&mut hear, &mut delay, &mut reported);
            let was_up = self.up.swap(false, Ordering::SeqCst);
            if was_up || !reported {
                reported = true;
                hear(Heard::Unreachable(self.url.scrub(&error.to_string())));
            }
            // Whatever was queued would go to a Redis that is not there.
            let stale = {
                let mut outgoing = lock(&self.outgoing);
                let stale = outgoing.len();
                outgoing.clear();
                stale
            };
            self.dropped.fetch_add(stale as u64, Ordering::Relaxed);
            *lock(&self.commands) = None;
            thread::sleep(delay);
            delay = (delay * 2).min(LAST_RETRY);
        }
    }

    /// One subscribed connection, until it fails.
    fn subscribe_and_hear(
        &self,
        hear: &mut impl FnMut(Heard),
        delay: &mut Duration,
        reported: &mut bool,
    ) -> redis::RedisError {
        let mut connection = match self.connect() {
            Ok(connection) => connection,
            Err(error) => return error,
        };
        let mut pubsub = connection.as_pubsub();
        if let Err(error) = pubsub
            .set_read_timeout(Some(LISTEN_TICK))
            .and_then(|()| pubsub.subscribe(&self.channel))
        {
            return error;
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
        *delay = FIRST_RETRY;
        *reported = false;
        hear(Heard::Reachable);
        loop {
            match pubsub.get_message() {
                Ok(message) => match message.get_payload::<String>() {
                    Ok(payload) => hear(Heard::Message(payload)),
                    Err(_) => continue, // not text: not from one of us
                },
                // Quiet for a while: is Redis still there?
                Err(error) if error.is_timeout() => {
                    if let Err(error) = pubsub.ping::<redis::Value>() {
                        return error;
                    }
                }
                Err(error) => return error,
            }
        }
    }

    /// The sender's thread: everything queued, in one pipeline per batch.
    fn send_queued(&self) {
        let mut connection: Option<Connection> = None;
        let mut connected_in = 0;
        loop {
            let batch: Vec<Cmd> = {
                let mut outgoing = lock(&self.outgoing);
                while outgoing.is_empty() {
                    outgoing = self
                        .queued
                        .wait(outgoing)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                outgoing.drain(..).collect()
            };
            let generation = self.generation.load(Ordering::SeqCst);
            if connection.is_none() || connected_in != generation {
                connection = self.connect().ok();
                connected_in = generation;
            }
            let Some(open) = connection.as_mut() else {
                self.dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                continue;
            };
            let count = batch.len() as u64;
            let mut pipeline = redis::pipe();
            for command in batch {
                pipeline.add_command(command).ignore();
            }
            if pipeline.query::<()>(open).is_err() {
                // Lost: at most once. The subscriber will notice the outage.
                self.dropped.fetch_add(count, Ordering::Relaxed);
                connection = None;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> String {
        RedisUrl::parse(text).err().unwrap_or_default()
    }

    #[test]
    fn a_password_is_masked_when_the_url_is_shown() {
        let url = RedisUrl::parse("redis://:secretpw@127.0.0.1:6380").unwrap();
        assert_eq!(url.to_string(), "redis://:***@127.0.0.1:6380");
        assert_eq!(format!("{url:?}"), "RedisUrl(redis://:***@127.0.0.1:6380)");
        assert_eq!(
            url.scrub("AUTH secretpw refused by redis://:secretpw@127.0.0.1:6380"),
            "AUTH *** refused by redis://:***@127.0.0.1:6380"
        );
        let url = RedisUrl::parse("redis://chat:pw@redis.internal/").unwrap();
        assert_eq!(url.to_string(), "redis://chat:***@redis.internal/");
        let url = RedisUrl::parse("redis://token@[::1]:6379/0").unwrap();
        assert_eq!(url.to_string(), "redis://***@[::1]:6379/0");
        // Without a password, the URL is shown exactly as given.
        let url = RedisUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(url.to_string(), "redis://127.0.0.1:6379");
        assert_eq!(url.scrub("Connection refused"), "Connection refused");
    }

    #[test]
    fn a_url_the_server_cannot_use_is_refused_saying_why() {
        for (text, why) in [
            ("redis://127.0.0.1:notaport", "the port \"notaport\""),
            ("redis://127.0.0.1:0", "the port \"0\""),
            ("redis://127.0.0.1:65536", "the port \"65536\""),
            ("redis://127.0.0.1:6379/2", "names a database (/2)"),
            ("redis://127.0.0.1:6379/chat", "names a database (/chat)"),
            ("redis://127.0.0.1:6379?protocol=resp3", "has options"),
            (
                "rediss://127.0.0.1:6379",
                "rediss:// (Redis over TLS) is not built in",
            ),
            ("http://127.0.0.1:6379", "http:// is not a scheme"),
            ("127.0.0.1:6379", "not a URL"),
            ("", "not a URL"),
            ("redis://", "names no host"),
            ("redis://:pw@:6379", "names no host"),
            ("redis://exa mple:6379", "is not a host name or address"),
            ("redis://[::1:6379", "lacks its closing ]"),
        ] {
            let refusal = refusal(text);
            assert!(refusal.contains(why), "{text:?}: {refusal}");
        }
        // The password never appears in a refusal.
        for text in [
            "redis://:secretpw@127.0.0.1:notaport",
            "redis://:secretpw@127.0.0.1:6379/3",
            "redis://:secretpw@",
            "redis://:secretpw@127.0.0.1:6379?x=1",
            "rediss://:secretpw@127.0.0.1",
            "secretpw",
        ] {
            let refusal = refusal(text);
            assert!(!refusal.is_empty(), "{text:?} accepted");
            assert!(!refusal.contains("secretpw"), "{text:?}: {refusal}");
        }
    }

    #[test]
    fn the_option_comes_first_then_the_environment_then_the_default() {
        let from = |option: Option<&str>, environment: Option<&str>| {
            RedisUrl::choose(option.map(String::from), environment.map(OsString::from))
                .map(|url| url.to_string())
        };
        assert_eq!(
            from(Some("redis://a:1"), Some("redis://b:2")),
            Ok("redis://a:1".into())
        );
        assert_eq!(
            from(None, Some("redis://:pw@b:2")),
            Ok("redis://:***@b:2".into())
        );
        assert_eq!(from(None, Some("")), Ok(DEFAULT_REDIS_URL.into()));
        assert_eq!(from(None, None), Ok(DEFAULT_REDIS_URL.into()));
        let bad_option = from(Some("redis://a:x"), None).unwrap_err();
        assert!(bad_option.starts_with("--redis: "), "{bad_option}");
        let bad_environment = from(None, Some("rediss://b")).unwrap_err();
        assert!(
            bad_environment.starts_with("REDIS_URL: "),
            "{bad_environment}"
        );
    }

    #[test]
    fn commands_dropped_for_a_full_queue_are_counted_apart_from_an_outage_s() {
        let url = RedisUrl::parse("redis://127.0.0.1:1").unwrap();
        let broker = Broker::new(&url, "chat:room");
        // Unreachable: dropped, and the outage says so.
        broker.publish("lost".into());
        assert_eq!((broker.dropped(), broker.take_overflowed()), (1, 0));
        // Up, with no sender emptying the queue: past SEND_QUEUE, dropped.
        broker.up.store(true, Ordering::SeqCst);
        for _ in 0..SEND_QUEUE + 5 {
            broker.publish("x".into());
        }
        assert_eq!((broker.dropped(), broker.take_overflowed()), (6, 5));
        assert_eq!(broker.take_overflowed(), 0, "told once");
    }

    #[test]
    fn the_page_for_several_servers_says_so_and_not_one_server() {
        let page = String::from_utf8(page()).unwrap();
        assert!(page.contains(SEVERAL_SERVERS));
        assert!(!page.contains("one server"), "{page}");
        assert!(String::from_utf8_lossy(super::super::PAGE).contains(ONE_SERVER));
    }
}
