//! Chapter 14 — The chat room across several servers, through Redis pub/sub.
//!
//! Chapter 14 is chapter 11 plus Redis pub/sub between servers (`diff
//! steps/11-chat.rs steps/14-chat-cluster.rs`).
//!
//! Chapter 11's room lives in one process: every member must reach the
//! same server. A real chat outgrows that the day it needs a second
//! machine, a restart without emptying the room, or more connections than
//! one host holds. The usual answer is a broker between the servers, and
//! this chapter builds it with Redis pub/sub, as Rails' ActionCable and
//! Socket.IO's Redis adapter do. Every server runs chapter 11's room for
//! the members connected to it, and *also* publishes what happens there
//! on one Redis channel (`chat:room`); every server is subscribed to that
//! channel and puts what the others publish into its own members' queues.
//!
//! ```text
//!   tab ─ws─ server A ──PUBLISH──┐          ┌──message──▶ server B ─ws─ tab
//!   tab ─ws─┘   ▲                ▼          │               │
//!               └───message── Redis chat:room ◀──PUBLISH────┘
//! ```
//!
//! Why no sticky sessions: a WebSocket is one long TCP connection, so a
//! member stays with whichever server accepted it for as long as it
//! lasts; nothing about the member has to be found again on the next
//! request, as an HTTP session would. A load balancer may send each new
//! connection anywhere. What the servers must share is the *room*, and
//! that is what goes through Redis.
//!
//! What goes on the channel is one JSON envelope per room event, the
//! `FromRoom` object members see, wrapped with where it comes from:
//!
//! ```text
//! {"node":"5f0c…","seq":42,"v":3,"event":{"type":"message","from":"Ada","text":"Hi"}}
//! ```
//!
//! `node` is this server's random id, drawn at start: a server hears its
//! own publications too and drops them, since it already delivered them to
//! its members, in order (Socket.IO's adapter does the same). `seq` counts
//! one server's publications, so a gap shows that some were lost; `v`
//! counts its joins and leaves, so an old list of its members never
//! overrides a newer one.
//!
//! What the broker guarantees, and what not. Redis sends a channel's
//! messages to each subscriber in the order it received them, and one
//! server publishes over one connection from one sender thread, so each
//! member's messages arrive everywhere in the order they were sent
//! (ordering per publisher). Between two publishers there is no shared
//! order: a member on A and one on B who speak at the same moment may be
//! seen in one order on A and the other on B. And delivery is *at most
//! once*: Redis hands a message to whoever is subscribed at that instant
//! and keeps nothing. A server that is disconnected, even for a moment,
//! misses what was published meanwhile, and nobody sends it again. Pub/sub
//! is not a queue.
//!
//! Presence lives in Redis with an expiry (`--presence-ttl`, 10 s):
//!
//! * `chat:name:<name in lower case>` = node, set with `SET … NX PX ttl`:
//!   a name is claimed across every server at join (the room refuses it if
//!   another server holds it), deleted at leave (only by its owner: a
//!   small Lua script compares first), refreshed by a heartbeat.
//! * `chat:node:<node>` = `{"v":3,"names":["Ada","Bob"]}`, this server's
//!   members, rewritten at each join and leave and by the heartbeat.
//!
//! The heartbeat runs every third of the ttl. It also reads every
//! `chat:node:*` key (`SCAN`, then `MGET`): a newer list from a server
//! replaces the one this server had (that is how a server that just
//! started, or just came back, learns who is where), and a server whose
//! key has expired and who has said nothing for a whole ttl is gone: its
//! members are announced as left. So a crashed server's members vanish
//! from the other servers within one ttl plus one heartbeat (13 1/3 s by
//! default, under 3 s with `--presence-ttl 2`). The `welcome` list names
//! every member on every server that this server has heard of: one who
//! joined elsewhere a moment ago, whose `joined` is still on its way
//! through Redis, is missing from it, and that `joined` follows.
//!
//! When Redis goes away, each server says so once in its log and once to
//! its members (`{"type":"servers","reachable":false}`, which the page
//! shows as "other servers unreachable"); its own members stay connected
//! and keep chatting among themselves; the members of other servers stay
//! listed (they are most likely still there, and the presence read after
//! the outage says who is not). The subscriber tries again after
//! 100 ms, then twice as long each time up to 2 s; once subscribed again,
//! the server re-claims its members' names, rewrites its presence, reads
//! everyone else's, and tells its members the other servers are back. What
//! was said on either side during the outage is lost for the other side.
//! While Redis is away, joins are refused ("try again in a moment"): a
//! name could not be checked against the other servers', and names stay
//! unique. One gap remains: in the moment after Redis returns, before
//! this server has claimed its members' names again, another server may
//! let a newcomer take one of them. The heartbeat finds out, and the
//! member here is let go with 1008 ("your name was taken on another
//! server…"): of two members with one name, the one whose server kept
//! its claim stays. A server that restarts loses only its own members; the page
//! reconnects by itself, to it or to another one.
//!
//! The Redis side (three connections, the sender's bounded queue, the
//! back-off) is `chat::cluster::Broker`, in the library; the room gained a
//! hook, `chat::Elsewhere`, that it calls for each join, message and
//! leave, and with which it asks for the names of the members elsewhere.
//! This file holds the lesson: what a server publishes, and what it does
//! with what it hears. Chapter 11 is unchanged: its room has no hook.
//!
//! The next step, which this chapter does not take: a member who reconnects
//! cannot ask for what it missed, because nothing was kept. Redis Streams
//! (`XADD`/`XREAD` with an id per message) or a log such as Kafka keep a
//! history that a server, or a member, can replay from where it left off.
//! And one channel for the whole room means every server hears everything:
//! many rooms would each get their own channel, subscribed to only by the
//! servers that have members in that room (as ActionCable does per stream).
//!
//! Try it: start Redis, then two servers, and open one tab on each:
//!
//! ```text
//! redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no
//! cargo run --bin 14-chat-cluster -- --port 2345
//! cargo run --bin 14-chat-cluster -- --port 2346
//! ```
//!
//! Join as Ada on <http://localhost:2345> and as Bob on
//! <http://localhost:2346>, and talk. Then stop Redis (Ctrl-C) and start
//! it again; stop a server and start it again.
//!
//! You should see, on the server on 2345, among its narration (as pinned
//! in `snapshots/14-chat-cluster.snap`):
//!
//! ```text
//! Subscribed to chat:room: hearing the other servers
//! #1 Ada joined (1 in the room)
//! Bob joined on another server (2 in the room)
//! #1 Ada: "Hello, Bob!"
//! Bob, on another server: "Hi Ada <3"
//! Bob left on another server (1 in the room)
//! ```

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use websocket_from_scratch::Error;
use websocket_from_scratch::command_line::{Args, CommandLineError};
use websocket_from_scratch::narrate::{self, Level};
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::handshake;
use websocket_from_scratch::protocol::message::Message;
use websocket_from_scratch::protocol::session::{Budget, Session};
use websocket_from_scratch::server::chat::cluster::{Broker, Heard};
use websocket_from_scratch::server::chat::wire::FromRoom;
use websocket_from_scratch::server::chat::{self, Elsewhere, Room, Seat};
use websocket_from_scratch::server::conversation;
use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::server::memory;
use websocket_from_scratch::server::opening::{self, Opening};

/// What the chat allows, decided once at start-up.
struct Settings {
    max_message_size: u64,
    extra_origins: Vec<String>,
    queue_length: usize,
    /// Shared by every member: the bytes of messages being received.
    budget: Arc<Budget>,
    idle_timeout: Duration,
    frame_timeout: Duration,
}

/// The whole command line, read once.
struct Options {
    listen: listener::Options,
    settings: Settings,
    level: Level,
    /// Where the broker is: `--redis URL`.
    redis: String,
    /// How long a name or a server's presence lasts without a heartbeat.
    presence_ttl: Duration,
}

/// Redis on this machine, its usual port.
const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";
/// A crashed server's members vanish within this, plus a heartbeat.
const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(10);

impl Options {
    fn from_env() -> Result<Options, CommandLineError> {
        let mut args = Args::from_env()?;
        let listen = listener::Options::take_with_cap(&mut args)?;
        let idle_timeout = args
            .seconds("--idle-timeout")?
            .unwrap_or(conversation::DEFAULT_IDLE_TIMEOUT);
        let settings = Settings {
            max_message_size: args
                .value("--max-message-size", "BYTES")?
                .unwrap_or(chat::DEFAULT_MAX_MESSAGE_SIZE),
            extra_origins: args
                .value::<String>("--allow-origin", "URL[,URL…]")?
                .map(|list| list.split(',').map(|url| url.trim().to_string()).collect())
                .unwrap_or_default(),
            queue_length: args
                .value("--queue-length", "FRAMES")?
                .unwrap_or(chat::DEFAULT_QUEUE_LENGTH),
            budget: Budget::new(
                args.value("--max-buffered", "BYTES")?
                    .unwrap_or(conversation::DEFAULT_MAX_BUFFERED),
            ),
            idle_timeout,
            frame_timeout: args.seconds("--frame-timeout")?.unwrap_or(idle_timeout),
        };
        let redis = args
            .value("--redis", "URL")?
            .unwrap_or_else(|| DEFAULT_REDIS.to_string());
        let presence_ttl = args
            .seconds("--presence-ttl")?
            .unwrap_or(DEFAULT_PRESENCE_TTL)
            .max(Duration::from_millis(300));
        let level = narrate::take_level(&mut args);
        args.finish()?;
        Ok(Options {
            listen,
            settings,
            level,
            redis,
            presence_ttl,
        })
    }
}

fn main() -> ExitCode {
    let Options {
        listen,
        settings,
        level,
        redis,
        presence_ttl,
    } = match Options::from_env() {
        Ok(options) => options,
        Err(stop) => return stop.report(),
    };
    // Before any thread starts: glibc reads these settings only when the
    // program starts (see `server::memory`).
    if let Err(error) = memory::tune_allocator() {
        narrate::problem(format!(
            "Could not restart with the allocator's settings ({error}): memory freed after a load may stay with the server"
        ));
    }
    narrate::set_level(level);
    narrate::write_through_queue(narrate::QUEUE_LINES);
    let room = Arc::new(Room::new());
    // lesson: the room reaches the other servers through Redis
    let cluster = Cluster::new(Arc::clone(&room), &redis, presence_ttl);
    let served = listener::serve_after(
        "14-chat-cluster",
        &listen,
        |_| {
            if let Err(error) = Cluster::start(&cluster) {
                narrate::problem(format!("Cannot reach the other servers: {error}"));
            }
        },
        move |connection| take_a_seat(connection, &room, &settings),
    );
    // end of lesson
    listener::exit_code(served)
}

fn take_a_seat(connection: &mut Connection, room: &Room, settings: &Settings) -> Result<(), Error> {
    let mut allowed = handshake::own_origins(connection.local_port);
    allowed.extend(settings.extra_origins.iter().cloned());
    let opening = opening::perform_checking_origin(connection, Some(&allowed), Some(chat::PAGE))?;
    if opening == Opening::ServedPage {
        return Ok(());
    }
    conversation::start(connection, Some(settings.idle_timeout))?;

    // lesson: a Seat and its outbox, a Session, converse handing each message to seat.handle
    // A member needs a second thread, for writing. If the system refuses
    // one, this member is turned away (1013, try again later); the room
    // and the server go on.
    let mut seat = match Seat::new(connection.id, &connection.writer, settings.queue_length) {
        Ok(seat) => seat,
        Err(error) => {
            let _ = close::send(
                &mut connection.writer,
                CloseCode::TRY_AGAIN_LATER,
                "the server is busy",
            );
            return Err(error);
        }
    };
    let mut outbox = seat.outbox()?;
    let mut session =
        Session::new(settings.max_message_size).with_budget(Arc::clone(&settings.budget));
    let result = conversation::converse(
        &mut connection.reader,
        &mut outbox,
        &mut session,
        Some(settings.frame_timeout),
        &mut |message: Message, _: &mut Session| seat.handle(room, &message),
    );
    drop(outbox);
    seat.leave(room);
    result
    // end of lesson
}

// lesson: what a server publishes, and what it does with what it hears

/// The one channel every server of the room publishes on and listens to.
const CHANNEL: &str = "chat:room";

/// The Redis key that claims a name across servers.
fn name_key(name: &str) -> String {
    format!("chat:name:{}", name.to_ascii_lowercase())
}

/// The Redis key that lists one server's members.
fn node_key(node: &str) -> String {
    format!("chat:node:{node}")
}

/// Deletes a name's claim only if this server holds it: Redis runs the
/// script as one step, so nobody can claim the name between the check and
/// the delete.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";

/// Claims a name, or refreshes this server's claim: 1 if the name is ours.
const CLAIM: &str = "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end \
                     if redis.call('get', KEYS[1]) == ARGV[1] then \
                     redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end return 0";

/// What one server publishes for each event in its room.
#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The publishing server's id.
    node: String,
    /// Its publications, counted from 1: a gap means some were lost.
    seq: u64,
    /// Its joins and leaves, counted: its members' list at that moment.
    v: u64,
    event: FromRoom,
}

/// One server's members as stored in `chat:node:<node>`.
#[derive(Serialize, Deserialize, Default, Clone)]
struct Presence {
    v: u64,
    names: Vec<String>,
}

/// This server's side: its members, and what it has published.
#[derive(Default)]
struct Here {
    presence: Presence,
    seq: u64,
    /// Names another server also holds (claimed there during an outage):
    /// each said once.
    conflicts: HashSet<String>,
}

/// Another server, as this one knows it.
struct There {
    presence: Presence,
    /// The last publication heard from it, once one has been.
    seq: Option<u64>,
    heard: Instant,
}

/// The room's members on other servers, reached through Redis.
struct Cluster {
    node: String,
    url: String,
    ttl: Duration,
    room: Arc<Room>,
    broker: OnceLock<Arc<Broker>>,
    here: Mutex<Here>,
    /// Other servers by node id (ordered, so the welcome list is stable).
    there: Mutex<BTreeMap<String, There>>,
    /// Whether our members were last told the others are unreachable.
    cut_off: AtomicBool,
    /// Whether the first subscription was made (and said).
    subscribed: AtomicBool,
    /// Wakes the heartbeat early (on reconnecting).
    beat_now: (Mutex<bool>, Condvar),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A random id for this run of the server: 16 hex digits.
fn random_node_id() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    format!("{:016x}", hasher.finish())
}

impl Cluster {
    fn new(room: Arc<Room>, url: &str, ttl: Duration) -> Arc<Cluster> {
        Arc::new(Cluster {
            node: random_node_id(),
            url: url.to_string(),
            ttl,
            room,
            broker: OnceLock::new(),
            here: Mutex::new(Here::default()),
            there: Mutex::new(BTreeMap::new()),
            cut_off: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            beat_now: (Mutex::new(false), Condvar::new()),
        })
    }

    /// Connects to Redis (the subscriber and sender threads), starts the
    /// heartbeat, and hooks the room up.
    fn start(cluster: &Arc<Cluster>) -> Result<(), String> {
        narrate::headline(format!(
            "This server is node {}; its room spans every server subscribed to {CHANNEL} at {}",
            cluster.node, cluster.url
        ));
        let hearer = Arc::clone(cluster);
        let broker = Broker::start(&cluster.url, CHANNEL, move |heard| hearer.hear(heard))
            .map_err(|error| error.to_string())?;
        let _ = cluster.broker.set(broker);
        let beater = Arc::clone(cluster);
        thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || beater.heartbeat())
            .map_err(|error| format!("no thread for the heartbeat: {error}"))?;
        cluster
            .room
            .reach_elsewhere(Arc::clone(cluster) as Arc<dyn Elsewhere>);
        Ok(())
    }

    fn broker(&self) -> Option<&Arc<Broker>> {
        self.broker.get()
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    /// Publishes `event` (called under the room's lock: it only queues).
    fn publish(&self, here: &mut Here, event: FromRoom) {
        let Some(broker) = self.broker() else { return };
        here.seq += 1;
        let envelope = Envelope {
            node: self.node.clone(),
            seq: here.seq,
            v: here.presence.v,
            event,
        };
        if let Ok(json) = serde_json::to_string(&envelope) {
            broker.publish(json);
        }
    }

    /// Queues this server's list of members, with the ttl.
    fn store_presence(&self, here: &Here) {
        let Some(broker) = self.broker() else { return };
        if let Ok(json) = serde_json::to_string(&here.presence) {
            let mut set = redis::cmd("SET");
            set.arg(node_key(&self.node))
                .arg(json)
                .arg("PX")
                .arg(self.ttl_ms());
            broker.queue(set);
        }
    }

    /// How many members the whole room has, this server's and the others'.
    fn count(&self) -> usize {
        self.room.count_here() + self.names().len()
    }

    /// The subscriber's thread: one call per thing heard, in order.
    fn hear(&self, heard: Heard) {
        match heard {
            Heard::Reachable => {
                if self.cut_off.swap(false, Ordering::SeqCst) {
                    narrate::summary(format!(
                        "Redis at {} answers again: the other servers are reachable; \
                         what was said meanwhile on either side is lost",
                        self.url
                    ));
                    self.room.relay(&FromRoom::Servers { reachable: true });
                } else if !self.subscribed.swap(true, Ordering::SeqCst) {
                    narrate::summary(format!(
                        "Subscribed to {CHANNEL}: hearing the other servers"
                    ));
                }
                // Re-claim our names, store our presence, read the others'.
                let (flag, wake) = &self.beat_now;
                *lock(flag) = true;
                wake.notify_all();
            }
            Heard::Unreachable(why) => {
                if !self.cut_off.swap(true, Ordering::SeqCst) {
                    narrate::problem(format!(
                        "Redis at {} is unreachable ({why}): other servers unreachable; \
                         chat goes on among the {} members here; trying again",
                        self.url,
                        self.room.count_here()
                    ));
                    self.room.relay(&FromRoom::Servers { reachable: false });
                }
            }
            Heard::Message(json) => {
                let Ok(envelope) = serde_json::from_str::<Envelope>(&json) else {
                    return; // not one of ours
                };
                // Our own echo: already delivered here, in order.
                if envelope.node != self.node {
                    self.hear_event(envelope);
                }
            }
        }
    }

    /// An event from another server.
    fn hear_event(&self, envelope: Envelope) {
        let Envelope {
            node,
            seq,
            v,
            event,
        } = envelope;
        // Anyone who can reach Redis can publish: what comes from there
        // must obey the room's rules, as a member's message here does.
        let refused = check_heard(&event).err();
        let mut news = true;
        let missed = {
            let mut there = lock(&self.there);
            let server = there.entry(node).or_insert_with(|| There {
                presence: Presence::default(),
                seq: None,
                heard: Instant::now(),
            });
            server.heard = Instant::now();
            let missed = server.seq.map_or(0, |last| seq.saturating_sub(last + 1));
            server.seq = Some(seq);
            let names = &mut server.presence.names;
            match &event {
                _ if refused.is_some() => news = false,
                FromRoom::Joined { name } if v > server.presence.v => {
                    server.presence.v = v;
                    news = !names.contains(name);
                    if news {
                        names.push(name.clone());
                    }
                }
                FromRoom::Left { name } if v > server.presence.v => {
                    server.presence.v = v;
                    news = names.contains(name);
                    names.retain(|other| other != name);
                }
                FromRoom::Joined { .. } | FromRoom::Left { .. } => news = false,
                _ => {}
            }
            missed
        };
        if missed > 0 {
            narrate::problem(format!(
                "{missed} events from another server were lost (published while this server \
                 was not subscribed: pub/sub keeps nothing)"
            ));
        }
        if let Some(why) = refused {
            narrate::problem(format!("Ignored an event from another server: {why}"));
            return;
        }
        if !news {
            return;
        }
        match &event {
            FromRoom::Joined { name } => narrate::summary(format!(
                "{name} joined on another server ({} in the room)",
                self.count()
            )),
            FromRoom::Left { name } => narrate::summary(format!(
                "{name} left on another server ({} in the room)",
                self.count()
            )),
            FromRoom::Message { from, text } => narrate::summary(format!(
                "{from}, on another server: {}",
                narrate::text_preview(text)
            )),
            _ => return,
        }
        self.room.relay(&event);
        // Like a member here: the next event is heard once the room has
        // taken this one in.
        self.room.wait_while_backed_up();
    }

    /// Every third of the ttl (or at once after reconnecting): keep our
    /// names and presence alive, and read the others'.
    fn heartbeat(&self) {
        let (flag, wake) = &self.beat_now;
        loop {
            {
                let mut now = lock(flag);
                if !*now {
                    now = wake
                        .wait_timeout(now, self.ttl / 3)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0);
                }
                *now = false;
            }
            if self.broker().is_some_and(|broker| broker.is_up())
                && let Err(error) = self.beat()
            {
                narrate::aside(format!("Heartbeat failed: {error}"));
            }
        }
    }

    fn beat(&self) -> Result<(), String> {
        let Some(broker) = self.broker() else {
            return Ok(());
        };
        let presence = lock(&self.here).presence.clone();
        let ttl = self.ttl_ms();
        let json = serde_json::to_string(&presence).map_err(|error| error.to_string())?;
        let (claims, found) = broker.command(|redis| {
            let mut pipeline = redis::pipe();
            pipeline
                .cmd("SET")
                .arg(node_key(&self.node))
                .arg(&json)
                .arg("PX")
                .arg(ttl)
                .ignore();
            for name in &presence.names {
                pipeline
                    .cmd("EVAL")
                    .arg(CLAIM)
                    .arg(1)
                    .arg(name_key(name))
                    .arg(&self.node)
                    .arg(ttl);
            }
            let claims: Vec<i64> = pipeline.query(redis)?;
            // Who is where: SCAN walks the keys a few at a time, without
            // holding Redis up as KEYS would.
            let mut keys: Vec<String> = Vec::new();
            let mut cursor = 0_u64;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg("chat:node:*")
                    .arg("COUNT")
                    .arg(100)
                    .query(redis)?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            let values: Vec<Option<String>> = if keys.is_empty() {
                Vec::new()
            } else {
                redis::cmd("MGET").arg(&keys).query(redis)?
            };
            Ok((claims, keys.into_iter().zip(values).collect::<Vec<_>>()))
        })?;
        for (name, ours) in presence.names.iter().zip(claims) {
            // Names stay unique: the member who lost its claim while this
            // server was cut off is let go (1008), and its page joins again.
            if ours == 0 && lock(&self.here).conflicts.insert(name.clone()) {
                narrate::problem(format!(
                    "The name {name:?} was claimed on another server while this one could \
                     not reach Redis: letting our {name} go with {}",
                    CloseCode::POLICY_VIOLATION
                ));
                self.room.let_go(name, chat::NAME_TAKEN_ELSEWHERE);
            }
        }
        let found: Vec<(String, Presence)> = found
            .into_iter()
            .filter_map(|(key, value)| {
                let node = key.strip_prefix("chat:node:")?.to_string();
                let presence = serde_json::from_str(&value?).ok()?;
                Some((node, presence))
            })
            .filter(|(node, _)| *node != self.node)
            .collect();
        self.reconcile(found);
        Ok(())
    }

    /// Takes in what Redis says each server holds: newer lists replace
    /// older ones, and servers that expired are gone.
    fn reconcile(&self, found: Vec<(String, Presence)>) {
        let mut joined = Vec::new();
        let mut left = Vec::new();
        {
            let mut there = lock(&self.there);
            for (node, presence) in &found {
                let server = there.entry(node.clone()).or_insert_with(|| There {
                    presence: Presence::default(),
                    seq: None,
                    heard: Instant::now(),
                });
                server.heard = Instant::now();
                if presence.v > server.presence.v {
                    for name in &presence.names {
                        if !server.presence.names.contains(name) {
                            joined.push(name.clone());
                        }
                    }
                    for name in &server.presence.names {
                        if !presence.names.contains(name) {
                            left.push((name.clone(), false));
                        }
                    }
                    server.presence = presence.clone();
                }
            }
            let gone: Vec<String> = there
                .iter()
                .filter(|(node, server)| {
                    !found.iter().any(|(found, _)| found == *node)
                        && server.heard.elapsed() > self.ttl
                })
                .map(|(node, _)| node.clone())
                .collect();
            for node in gone {
                if let Some(server) = there.remove(&node) {
                    left.extend(server.presence.names.into_iter().map(|name| (name, true)));
                }
            }
        }
        for name in joined {
            narrate::summary(format!(
                "{name} is on another server ({} in the room)",
                self.count()
            ));
            self.room.relay(&FromRoom::Joined { name });
        }
        for (name, server_gone) in left {
            let why = if server_gone {
                "their server is gone"
            } else {
                "left on another server"
            };
            narrate::summary(format!("{name}: {why} ({} in the room)", self.count()));
            self.room.relay(&FromRoom::Left { name });
        }
    }
}

/// What the room asks of the other servers, and tells them.
impl Elsewhere for Cluster {
    fn claim(&self, name: &str) -> Result<(), String> {
        let Some(broker) = self.broker() else {
            return Ok(());
        };
        let ttl = self.ttl_ms();
        let claimed = broker.command(|redis| {
            redis::cmd("SET")
                .arg(name_key(name))
                .arg(&self.node)
                .arg("NX")
                .arg("PX")
                .arg(ttl)
                .query::<Option<String>>(redis)
        });
        match claimed {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!("the name {name:?} is taken")),
            Err(_) => Err(format!(
                "other servers unreachable: the name {name:?} cannot be checked against \
                 theirs; try again in a moment"
            )),
        }
    }

    fn release(&self, name: &str) {
        if let Some(broker) = self.broker() {
            let mut release = redis::cmd("EVAL");
            release
                .arg(RELEASE)
                .arg(1)
                .arg(name_key(name))
                .arg(&self.node);
            broker.queue(release);
        }
    }

    fn names(&self) -> Vec<String> {
        lock(&self.there)
            .values()
            .flat_map(|server| server.presence.names.iter().cloned())
            .collect()
    }

    fn joined(&self, name: &str) {
        let mut here = lock(&self.here);
        here.presence.v += 1;
        here.presence.names.push(name.to_string());
        self.publish(&mut here, FromRoom::Joined { name: name.into() });
        self.store_presence(&here);
    }

    fn said(&self, from: &str, text: &str) {
        let mut here = lock(&self.here);
        let message = FromRoom::Message {
            from: from.into(),
            text: text.into(),
        };
        self.publish(&mut here, message);
    }

    fn left(&self, name: &str) {
        // The name first: whoever hears that Bob left may take "Bob".
        self.release(name);
        let mut here = lock(&self.here);
        here.presence.v += 1;
        here.presence.names.retain(|other| other != name);
        here.conflicts.remove(name);
        self.publish(&mut here, FromRoom::Left { name: name.into() });
        self.store_presence(&here);
    }
}
// end of lesson

/// The room's rules for names and text, applied to an event heard from
/// another server.
fn check_heard(event: &FromRoom) -> Result<(), String> {
    match event {
        FromRoom::Joined { name } | FromRoom::Left { name } => chat::check_name(name),
        FromRoom::Message { from, text } => {
            chat::check_name(from)?;
            chat::check_text(text)
        }
        _ => Ok(()),
    }
}
