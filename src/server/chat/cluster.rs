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
//!   queue one.
//! * a **command** connection, for the few calls whose answer someone waits
//!   for (claiming a name, reading who is where), with timeouts.
//!
//! When Redis goes away, the subscriber notices (its connection fails),
//! says so once through `hear` ([`Heard::Unreachable`]), and tries again
//! after 100 ms, 200 ms, … up to [`LAST_RETRY`]; once subscribed again it
//! says [`Heard::Reachable`]. While Redis is unreachable, queued commands
//! are dropped, not kept: Redis pub/sub delivers each message at most
//! once, to whoever is subscribed at that moment, and keeps nothing for
//! later.

use std::collections::VecDeque;
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

/// Why the broker could not even start: a URL Redis's client refuses.
#[derive(Debug)]
pub struct BadUrl(pub String);

impl std::fmt::Display for BadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a Redis URL: {}", self.0)
    }
}

/// One server's connections to Redis.
pub struct Broker {
    client: Client,
    channel: String,
    up: AtomicBool,
    /// Counts subscriptions: the sender reconnects when it changes, since
    /// its own connection went down with the subscriber's.
    generation: AtomicU64,
    outgoing: Mutex<VecDeque<Cmd>>,
    queued: Condvar,
    /// Commands dropped because Redis was unreachable or the queue full.
    dropped: AtomicU64,
    commands: Mutex<Option<Connection>>,
}

impl Broker {
    /// Starts the subscriber and the sender threads. `hear` runs on the
    /// subscriber's thread, for every message in the order Redis sent it.
    pub fn start(
        url: &str,
        channel: &str,
        hear: impl FnMut(Heard) + Send + 'static,
    ) -> Result<Arc<Broker>, BadUrl> {
        let client = Client::open(url).map_err(|error| BadUrl(format!("{url} ({error})")))?;
        let broker = Arc::new(Broker {
            client,
            channel: channel.to_string(),
            up: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            outgoing: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
            dropped: AtomicU64::new(0),
            commands: Mutex::new(None),
        });
        let listener = Arc::clone(&broker);
        thread::Builder::new()
            .name("redis-subscriber".into())
            .spawn(move || listener.listen(hear))
            .map_err(|error| BadUrl(format!("no thread for the subscriber: {error}")))?;
        let sender = Arc::clone(&broker);
        thread::Builder::new()
            .name("redis-sender".into())
            .spawn(move || sender.send_queued())
            .map_err(|error| BadUrl(format!("no thread for the sender: {error}")))?;
        Ok(broker)
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
        if !self.is_up() || outgoing.len() >= SEND_QUEUE {
            self.dropped.fetch_add(1, Ordering::Relaxed);
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
            *slot = Some(self.connect().map_err(|error| error.to_string())?);
        }
        let Some(connection) = slot.as_mut() else {
            return Err("no connection".to_string());
        };
        call(connection).map_err(|error| {
            *slot = None;
            error.to_string()
        })
    }

    fn connect(&self) -> RedisResult<Connection> {
        let connection = self.client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
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
                hear(Heard::Unreachable(error.to_string()));
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
