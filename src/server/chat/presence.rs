//! Who is on which server, for a room that spans several (chapter 14):
//! each server's members kept in Redis with an expiry, names held across
//! servers, and what a server concludes from what Redis returns.
//!
//! Two kinds of keys, each with an expiry, the *ttl* (`--presence-ttl`):
//!
//! * `chat:name:<name in lower case>` = the node holding that name. The
//!   chapter claims a name at join with `SET … NX PX ttl`; the heartbeat
//!   refreshes this server's claims with [`CLAIM`]; a leave deletes the
//!   claim with [`RELEASE`], only if this server still holds it.
//! * `chat:node:<node>` = `{"v":3,"names":["Ada","Bob"]}`: one server's
//!   [`Members`], rewritten at each join and leave and by the heartbeat.
//!   `v` counts that server's joins and leaves, so an old list never
//!   overrides a newer one.
//!
//! The heartbeat ([`Keeper`]) runs every third of the ttl, and at once
//! after Redis comes back: it rewrites this server's key and refreshes its
//! claims in one pipeline, then reads the `chat:node:*` keys: `SCAN`
//! finds them (only those named as a node id is, 16 hex digits after the
//! prefix, and no more than [`MAX_OTHER_SERVERS`] besides this server's;
//! SCAN walks every key of the database, and stops after
//! [`MAX_SCAN_CALLS`], where a scan stopped short counts no server as
//! gone, and the log says so once), and a script ([`READ_LISTS`]) reads at most [`MAX_LIST_BYTES`] of each,
//! where `MGET` would read each whole, at every heartbeat, whatever its
//! size. What the server does with the answers is decided by pure
//! functions, tested without Redis: [`Ours::lost`] (which of our members
//! lost their name to another server while this one was cut off: they are
//! let go with 1008) and [`Others::scanned`] (who joined and who left
//! elsewhere), with [`Others::heard_joined`] and [`Others::heard_left`]
//! for the joins and leaves heard through pub/sub in between. Heartbeats
//! that keep failing while the subscriber still reaches Redis (a script
//! refused, say) are a problem the log tells once, and again when one
//! works; an outage is told by the subscriber.
//!
//! Anyone who can reach Redis can write there, so what comes from it is
//! held to the room's rules, as a member's words are: a stored list's
//! names must pass `check_name`, and at most [`MAX_OTHER_SERVERS`] other
//! servers and [`MAX_NAMES_ELSEWHERE`] names are kept track of. A list cut
//! short keeps the names before the cut ([`Members::from_stored`]). Keys
//! written by the hundred under `chat:node:` cost each heartbeat a
//! bounded read, not the room: but a real server whose key the scan
//! leaves out behind them is not found, and counts as gone. Anyone can
//! also publish in a real server's name: a version it never reached
//! (`u64::MAX`) would make its own joins, leaves and lists look older
//! than what is held, for ever; a list of its found older than the one
//! held for a whole ttl replaces it ([`Others::scanned`]). A node id that
//! is none ([`is_node_id`]), of any length, is not kept track of.
//!
//! A name is announced as joined when the first server lists it, and as
//! left when the last one stops listing it: a server that restarts under
//! a new node id while its member reconnects to it shows no one leaving
//! and joining again.
//!
//! # When a server is gone
//!
//! A live server rewrites its key every third of the ttl, so the key never
//! expires while that server reaches Redis. A killed server's key expires
//! at most one ttl after its last write, so at most one ttl after the
//! kill; the next scan of each other server, at most one heartbeat later,
//! finds it missing, and that server's members are announced as left:
//! **within one ttl plus one heartbeat** of the kill (13⅓ s with the
//! default ttl of 10 s, 2⅔ s with `--presence-ttl 2`). A server heard
//! through pub/sub less than a ttl ago is not gone yet (its key may not be
//! written yet), which keeps within the bound: it said nothing after it
//! was killed.
//!
//! A missing key is evidence only while Redis has been answering. When
//! Redis restarts empty, or is paused long enough for every key to
//! expire, a live server needs a moment to write its key again (up to
//! `cluster::LAST_RETRY` to reconnect). So once Redis has failed this
//! server (a command or the subscription failed, or a heartbeat came more
//! than two heartbeats after the one before), a scan counts a missing key
//! only after this server has reached Redis without a break for
//! [`Others::settle`] (one ttl, and never less than a reconnection plus a
//! heartbeat); until then the members of other servers stay listed, and
//! an outage never makes them flap out and back in. Before that first
//! failure, missing keys count at once: all a server knows of the others
//! came from Redis since it started, so the bound holds from its start.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::check_name;
use super::cluster::{Broker, COMMAND_TIMEOUT, LAST_RETRY, SEND_QUEUE};
use super::wire::FromRoom;
use super::{MAX_NAME_CHARS, NAME_TAKEN_ELSEWHERE, Room};
use crate::narrate;
use crate::protocol::close::CloseCode;
use crate::protocol::frame::{self, Opcode};

/// The Redis key that claims a name across servers.
pub fn name_key(name: &str) -> String {
    format!("chat:name:{}", name.to_ascii_lowercase())
}

/// The Redis key that lists one server's members.
pub fn node_key(node: &str) -> String {
    format!("chat:node:{node}")
}

/// Every server's key, as SCAN matches them: `chat:node:` and an id as
/// long as [`new_node_id`] makes them (16 characters). Anyone who can
/// reach Redis can write under `chat:node:`; a key's name is sent whole
/// with each SCAN answer, so names of any length are not matched.
const NODE_KEYS: &str = "chat:node:????????????????";

/// How many keys each SCAN call looks at (its `COUNT`)…
pub const SCAN_COUNT: usize = 1000;
/// …and the most SCAN calls one heartbeat makes. SCAN walks every key of
/// the database, whatever it matches: a Redis shared with other uses, or
/// holding keys written by anyone under `chat:`, could make each heartbeat
/// take thousands of round trips. A scan stopped at this bound finds only
/// the servers whose key it reached, and a server whose key it did not
/// reach is not counted as gone (the log says so, once).
pub const MAX_SCAN_CALLS: usize = 100;

/// The most bytes of one server's list read at each heartbeat: enough for
/// [`MAX_NAMES_ELSEWHERE`] names of [`MAX_NAME_CHARS`] characters (each
/// quoted, and a comma), with the version and the braces around them
/// (at most 37 bytes). Anyone can store a list of any length: past this,
/// it is cut short ([`Members::from_stored`]).
pub const MAX_LIST_BYTES: usize = MAX_NAMES_ELSEWHERE * (MAX_NAME_CHARS + 3) + 64;

/// Reads the first `ARGV[1]` bytes of each key, `''` for a key that holds
/// no string (anyone can store a hash there) or none at all: GETRANGE
/// sends no more than that, where MGET would send every list whole.
pub const READ_LISTS: &str = "local lists = {} \
                          for i, key in ipairs(KEYS) do \
                          local list = redis.pcall('getrange', key, 0, ARGV[1] - 1) \
                          if type(list) ~= 'string' then list = '' end \
                          lists[i] = list end return lists";

/// Claims a name, or refreshes this server's claim: 1 if the name is ours.
///
/// Anyone who can reach Redis can write the key: one that holds no string
/// (a hash, say) makes `GET` fail with WRONGTYPE, and with `redis.call`
/// that error would fail the whole heartbeat, at every beat. Through
/// `redis.pcall` it is a value that is not our node: the claim is lost,
/// and that one member let go.
pub const CLAIM: &str = "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end \
                     if redis.pcall('get', KEYS[1]) == ARGV[1] then \
                     redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end return 0";

/// Deletes a name's claim only if this server holds it: Redis runs the
/// script as one step, so nobody can claim the name between the check and
/// the delete. A key that holds no string is not our claim, as in
/// [`CLAIM`].
pub const RELEASE: &str = "if redis.pcall('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";

/// Whether `node` is an id [`new_node_id`] could make: 16 hex digits.
/// Anyone who can reach Redis can publish under any id, of any length:
/// one no server has is kept track of by no other.
pub fn is_node_id(node: &str) -> bool {
    node.len() == 16 && node.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// A random id for this run of a server: 16 hex digits.
pub fn new_node_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    format!("{:016x}", hasher.finish())
}

/// One server's members, as stored in `chat:node:<node>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    /// That server's joins and leaves, counted.
    pub v: u64,
    pub names: Vec<String>,
}

impl Members {
    /// A list as read from Redis, at most [`MAX_LIST_BYTES`] of it; `None`
    /// if it is no list. One cut short (a server with more members than
    /// are kept track of, or anyone's junk) keeps the names read whole
    /// before the cut: no more could be listed anyway.
    pub fn from_stored(stored: &[u8]) -> Option<Members> {
        if let Ok(members) = serde_json::from_slice(stored) {
            return Some(members);
        }
        if stored.len() < MAX_LIST_BYTES {
            return None;
        }
        // Up to the last name read whole: `{"v":3,"names":["Ada","Bo`
        // is `{"v":3,"names":["Ada"]}`.
        let text = match std::str::from_utf8(stored) {
            Ok(text) => text,
            Err(error) => std::str::from_utf8(&stored[..error.valid_up_to()]).ok()?,
        };
        let end = text.rfind("\",\"")? + 1;
        serde_json::from_str(&format!("{}]}}", &text[..end])).ok()
    }
}

/// This server's own members.
#[derive(Debug, Default)]
pub struct Ours {
    members: Members,
    /// Names another server also holds: each said once.
    conflicts: HashSet<String>,
}

impl Ours {
    /// `name` joined here; returns the new version.
    pub fn joined(&mut self, name: &str) -> u64 {
        self.members.v += 1;
        self.members.names.push(name.to_string());
        self.members.v
    }

    /// `name` left here; returns the new version.
    pub fn left(&mut self, name: &str) -> u64 {
        self.members.v += 1;
        self.members.names.retain(|other| other != name);
        self.conflicts.remove(name);
        self.members.v
    }

    pub fn members(&self) -> &Members {
        &self.members
    }

    /// Given the heartbeat's claims, `claimed[i]` for `names[i]`: the
    /// members who lost their name to another server and are to be let go,
    /// each once.
    pub fn lost(&mut self, names: &[String], claimed: &[bool]) -> Vec<String> {
        names
            .iter()
            .zip(claimed)
            .filter(|(name, claimed)| !**claimed && self.conflicts.insert(name.to_string()))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// What changed in the list of members elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Listed by another server, and by none before.
    Joined(String),
    /// Listed by no other server any more; `server_gone` when that is
    /// because its server's presence expired.
    Left { name: String, server_gone: bool },
}

/// Another server, as this one knows it.
#[derive(Debug)]
struct Server {
    members: Members,
    /// The last publication heard from it, once one has been.
    seq: Option<u64>,
    /// When it was last heard through pub/sub.
    heard: Option<Instant>,
    /// Since when every scan has found its list older than the one held.
    behind_since: Option<Instant>,
}

/// The other servers of the room, as this one knows them.
#[derive(Debug)]
pub struct Others {
    servers: BTreeMap<String, Server>,
    ttl: Duration,
    /// Since when every scan has come within two heartbeats of the last.
    steady_since: Option<Instant>,
    last_scan: Option<Instant>,
    /// Whether a missing key counts: from the first scan on, until Redis
    /// fails this server, and again once it has answered for `settle`.
    settled: bool,
}

/// The most servers besides this one whose members are kept track of.
/// Anyone who can reach Redis can publish, as many node ids as it likes:
/// past this, new ones are not listed.
pub const MAX_OTHER_SERVERS: usize = 100;
/// The most names listed on other servers, all together: past this, more
/// joins elsewhere are not announced here.
pub const MAX_NAMES_ELSEWHERE: usize = 10_000;

impl Others {
    pub fn new(ttl: Duration) -> Others {
        Others {
            servers: BTreeMap::new(),
            ttl,
            steady_since: None,
            last_scan: None,
            settled: true,
        }
    }

    /// How often a server rewrites its presence: a third of the ttl.
    pub fn heartbeat(&self) -> Duration {
        self.ttl / 3
    }

    /// How long this server must reach Redis without a break before a
    /// missing key counts: one ttl, and at least long enough for any live
    /// server to reconnect and write its key.
    pub fn settle(&self) -> Duration {
        self.ttl
            .max(LAST_RETRY + COMMAND_TIMEOUT + self.heartbeat())
    }

    /// How many servers the room spans, this one included.
    pub fn servers(&self) -> usize {
        self.servers.len() + 1
    }

    /// The names of the members elsewhere, each once.
    pub fn names(&self) -> Vec<String> {
        self.each_name_once().cloned().collect()
    }

    /// How many members are elsewhere: counted without copying the names,
    /// as every line about the room says it.
    pub fn count(&self) -> usize {
        self.each_name_once().count()
    }

    fn each_name_once(&self) -> impl Iterator<Item = &String> {
        let mut seen = HashSet::new();
        self.servers
            .values()
            .flat_map(|server| &server.members.names)
            .filter(move |name| seen.insert(name.as_str()))
    }

    /// Whether another server lists `name` (exactly).
    pub fn listed(&self, name: &str) -> bool {
        self.servers
            .values()
            .any(|server| server.members.names.iter().any(|other| other == name))
    }

    /// A publication `seq` from `node`, heard at `now`: returns the one
    /// heard before from that node, if any.
    pub fn heard(&mut self, node: &str, seq: u64, now: Instant) -> Option<u64> {
        let server = self.server(node)?;
        server.heard = Some(now);
        server.seq.replace(seq)
    }

    /// `name` joined on `node`, whose version is then `v`: whether that is
    /// news (nobody else listed the name).
    pub fn heard_joined(&mut self, node: &str, v: u64, name: &str) -> bool {
        let news = !self.listed(name);
        let room = self.names_listed() < MAX_NAMES_ELSEWHERE;
        let Some(server) = self.server(node) else {
            return false;
        };
        if v <= server.members.v {
            return false;
        }
        server.members.v = v;
        if server.members.names.iter().any(|other| other == name) {
            return news;
        }
        if !room {
            return false;
        }
        server.members.names.push(name.to_string());
        news
    }

    /// `name` left `node`, whose version is then `v`: whether that is news
    /// (no other server lists the name).
    pub fn heard_left(&mut self, node: &str, v: u64, name: &str) -> bool {
        let Some(server) = self.server(node) else {
            return false;
        };
        if v <= server.members.v {
            return false;
        }
        server.members.v = v;
        let before = server.members.names.len();
        server.members.names.retain(|other| other != name);
        let removed = server.members.names.len() != before;
        removed && !self.listed(name)
    }

    /// Redis failed this server (a command, or the subscription): the next
    /// scan starts counting [`Others::settle`] again.
    pub fn interrupted(&mut self) {
        // Before the first scan, nothing was learned from Redis that could
        // go missing by mistake.
        if self.last_scan.is_some() {
            self.settled = false;
        }
        self.last_scan = None;
        self.steady_since = None;
    }

    /// Takes in a scan made at `now`: every server's key found, with what
    /// it holds (this server's own left out). Newer lists replace older
    /// ones; servers whose key is missing are gone once missing keys count
    /// (see the module's doc). Returns who joined and who left, in the
    /// order to announce them.
    pub fn scanned(&mut self, found: Vec<(String, Members)>, now: Instant) -> Vec<Change> {
        self.take_in_scan(found, now, true)
    }

    /// Takes in a scan made at `now` that stopped before it reached every
    /// key ([`MAX_SCAN_CALLS`]): as [`Others::scanned`], except that a
    /// server whose key it did not find is not gone.
    pub fn scanned_in_part(&mut self, found: Vec<(String, Members)>, now: Instant) -> Vec<Change> {
        self.take_in_scan(found, now, false)
    }

    fn take_in_scan(
        &mut self,
        found: Vec<(String, Members)>,
        now: Instant,
        whole: bool,
    ) -> Vec<Change> {
        let before = self.names();
        match self.last_scan {
            Some(last) if now.saturating_duration_since(last) <= 2 * self.heartbeat() => {}
            // Held up (Redis paused without failing us): as an interruption.
            Some(_) => {
                self.settled = false;
                self.steady_since = Some(now);
            }
            None => self.steady_since = Some(now),
        }
        self.last_scan = Some(now);
        if self
            .steady_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.settle())
        {
            self.settled = true;
        }
        let missing_counts = self.settled && whole;
        let found_nodes: HashSet<String> = found.iter().map(|(node, _)| node.clone()).collect();
        let ttl = self.ttl;
        for (node, mut members) in found {
            let listed = self.names_listed();
            let Some(server) = self.server(&node) else {
                continue;
            };
            // A list older than the one held: heard through pub/sub just
            // before that server stored it, or held since someone published
            // in its name a version it never reached (`u64::MAX`, say).
            // That server rewrites its list at every heartbeat: still older
            // a ttl later, what is held did not come from it.
            let forged = match server.behind_since {
                _ if members.v >= server.members.v => {
                    server.behind_since = None;
                    false
                }
                Some(since) => now.saturating_duration_since(since) >= ttl,
                None => {
                    server.behind_since = Some(now);
                    false
                }
            };
            if members.v > server.members.v || forged {
                server.behind_since = None;
                // Stored in Redis by anyone who can reach it: the names obey
                // the room's rules, and take no more than the room has left.
                members.names.retain(|name| check_name(name).is_ok());
                let elsewhere = listed - server.members.names.len();
                members
                    .names
                    .truncate(MAX_NAMES_ELSEWHERE.saturating_sub(elsewhere));
                server.members = members;
            }
        }
        let mut gone = HashSet::new();
        if missing_counts {
            self.servers.retain(|node, server| {
                let heard_lately = server
                    .heard
                    .is_some_and(|heard| now.saturating_duration_since(heard) < ttl);
                let stays = found_nodes.contains(node) || heard_lately;
                if !stays {
                    gone.extend(server.members.names.iter().cloned());
                }
                stays
            });
        }
        let after = self.names();
        let (had, has): (HashSet<&String>, HashSet<&String>) =
            (before.iter().collect(), after.iter().collect());
        let mut changes: Vec<Change> = after
            .iter()
            .filter(|name| !had.contains(name))
            .map(|name| Change::Joined(name.clone()))
            .collect();
        changes.extend(
            before
                .iter()
                .filter(|name| !has.contains(name))
                .cloned()
                .map(|name| Change::Left {
                    server_gone: gone.contains(&name),
                    name,
                }),
        );
        changes
    }

    /// The names listed on other servers, counted with repeats.
    fn names_listed(&self) -> usize {
        self.servers
            .values()
            .map(|server| server.members.names.len())
            .sum()
    }

    /// What is known of `node`, made if new; `None` for a new one once
    /// [`MAX_OTHER_SERVERS`] are known.
    fn server(&mut self, node: &str) -> Option<&mut Server> {
        if !self.servers.contains_key(node) && self.servers.len() >= MAX_OTHER_SERVERS {
            return None;
        }
        let server = self.servers.entry(node.to_string()).or_insert(Server {
            members: Members::default(),
            seq: None,
            heard: None,
            behind_since: None,
        });
        Some(server)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many heartbeats in a row must fail, while the subscriber still
/// reaches Redis, before the log says so (once, until one works again).
/// One alone is the start of an outage, which the subscriber reports.
const FAILED_BEATS_TOLD: u32 = 2;

/// Keeps this server's presence in Redis and reads the others': the
/// heartbeat's thread, and what the room asks about members elsewhere.
pub struct Keeper {
    node: String,
    ttl: Duration,
    room: Arc<Room>,
    broker: Arc<Broker>,
    ours: Mutex<Ours>,
    others: Mutex<Others>,
    /// Whether our members were last told the others are unreachable.
    cut_off: AtomicBool,
    /// Whether the first subscription was made (and said).
    subscribed: AtomicBool,
    /// Wakes the heartbeat early (on reconnecting).
    beat_now: (Mutex<bool>, Condvar),
}

impl Keeper {
    pub fn new(node: &str, ttl: Duration, room: Arc<Room>, broker: Arc<Broker>) -> Keeper {
        Keeper {
            node: node.to_string(),
            ttl,
            room,
            broker,
            ours: Mutex::new(Ours::default()),
            others: Mutex::new(Others::new(ttl)),
            cut_off: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            beat_now: (Mutex::new(false), Condvar::new()),
        }
    }

    /// Starts the heartbeat's thread.
    pub fn start(self: &Arc<Keeper>) -> Result<(), String> {
        let beater = Arc::clone(self);
        thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || beater.heartbeat())
            .map(|_| ())
            .map_err(|error| format!("no thread for the heartbeat: {error}"))
    }

    /// How long a claim or a presence lasts without a heartbeat.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    /// `name` joined here: `publish` is given our new version, then our
    /// new list is stored. Called under the room's lock: it only queues.
    pub fn joined(&self, name: &str, publish: impl FnOnce(u64)) {
        let mut ours = lock(&self.ours);
        publish(ours.joined(name));
        self.store(ours.members());
    }

    /// `name` left here: its name is given back, `publish` is given our
    /// new version, then our new list is stored. Called under the room's
    /// lock: it only queues.
    pub fn left(&self, name: &str, publish: impl FnOnce(u64)) {
        // The name first: whoever hears that Bob left may take "Bob".
        self.release(name);
        let mut ours = lock(&self.ours);
        publish(ours.left(name));
        self.store(ours.members());
    }

    /// The version of our list of members.
    pub fn version(&self) -> u64 {
        lock(&self.ours).members().v
    }

    /// Deletes `name`'s claim if this server holds it (queued).
    fn release(&self, name: &str) {
        let mut release = redis::cmd("EVAL");
        release
            .arg(RELEASE)
            .arg(1)
            .arg(name_key(name))
            .arg(&self.node);
        self.broker.queue(release);
    }

    fn store(&self, members: &Members) {
        if let Ok(json) = serde_json::to_string(members) {
            let mut set = redis::cmd("SET");
            set.arg(node_key(&self.node))
                .arg(json)
                .arg("PX")
                .arg(self.ttl_ms());
            self.broker.queue(set);
        }
    }

    /// The names of the members elsewhere.
    pub fn names(&self) -> Vec<String> {
        lock(&self.others).names()
    }

    /// Whether a member elsewhere has `name` (exactly).
    pub fn lists(&self, name: &str) -> bool {
        lock(&self.others).listed(name)
    }

    /// How many members the whole room has, this server's and the others'.
    pub fn count(&self) -> usize {
        self.room.count_here() + lock(&self.others).count()
    }

    /// What this server says of the room's span.
    pub fn span(&self) -> FromRoom {
        FromRoom::Span {
            node: self.node.clone(),
            servers: lock(&self.others).servers(),
        }
    }

    /// Tells a new connection which server it is on, and how many the room
    /// spans (before anything else reaches it).
    pub fn greet(&self, writer: &mut impl Write) -> io::Result<()> {
        let greeting = frame::encode(true, Opcode::Text, None, &self.span().to_json());
        writer.write_all(&greeting)
    }

    /// Tells the members when the number of servers changed.
    fn tell_span(&self, before: usize) {
        let span = self.span();
        if matches!(span, FromRoom::Span { servers, .. } if servers != before) {
            self.room.relay(&span);
        }
    }

    /// A publication `seq` from `node`: the one heard before from it. A
    /// node id no server has ([`is_node_id`]) is not kept track of.
    pub fn heard(&self, node: &str, seq: u64) -> Option<u64> {
        if !is_node_id(node) {
            return None;
        }
        let (before, last) = {
            let mut others = lock(&self.others);
            let before = others.servers();
            (before, others.heard(node, seq, Instant::now()))
        };
        self.tell_span(before);
        last
    }

    /// `name` joined on `node` (version `v`): whether to tell our members.
    pub fn heard_joined(&self, node: &str, v: u64, name: &str) -> bool {
        is_node_id(node) && lock(&self.others).heard_joined(node, v, name)
    }

    /// `name` left `node` (version `v`): whether to tell our members.
    pub fn heard_left(&self, node: &str, v: u64, name: &str) -> bool {
        is_node_id(node) && lock(&self.others).heard_left(node, v, name)
    }

    /// The subscriber is subscribed: the first time, or after an outage.
    pub fn reachable(&self) {
        if self.cut_off.swap(false, Ordering::SeqCst) {
            narrate::news(format!(
                "Redis at {} answers again: the other servers are reachable; \
                 what was said meanwhile on either side is lost",
                self.broker.url()
            ));
            self.room.relay(&FromRoom::Servers { reachable: true });
        } else if !self.subscribed.swap(true, Ordering::SeqCst) {
            narrate::news(format!(
                "Subscribed to {}: hearing the other servers",
                self.broker.channel()
            ));
        }
        // Re-claim our names, store our presence, read the others'.
        let (flag, wake) = &self.beat_now;
        *lock(flag) = true;
        wake.notify_all();
    }

    /// The subscriber lost Redis (`why`, password masked).
    pub fn unreachable(&self, why: &str) {
        lock(&self.others).interrupted();
        if !self.cut_off.swap(true, Ordering::SeqCst) {
            narrate::problem(format!(
                "Redis at {} is unreachable ({why}): other servers unreachable; \
                 chat goes on among the {} members here; trying again",
                self.broker.url(),
                self.room.count_here()
            ));
            self.room.relay(&FromRoom::Servers { reachable: false });
        }
    }

    /// Every third of the ttl (or at once after reconnecting): keep our
    /// names and presence alive, and read the others'.
    fn heartbeat(&self) {
        let (flag, wake) = &self.beat_now;
        // Heartbeats failed in a row while the subscriber reached Redis.
        let mut failed = 0_u32;
        // Whether the last scan stopped before it reached every key.
        let mut cut_short = false;
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
            let overflowed = self.broker.take_overflowed();
            if overflowed > 0 {
                narrate::problem(format!(
                    "{overflowed} commands for Redis (publications, presence) were dropped \
                     since the last heartbeat: more than {SEND_QUEUE} waited to be sent, \
                     and the other servers missed them"
                ));
            }
            if !self.broker.is_up() {
                // An outage: `unreachable` has said so, once.
                lock(&self.others).interrupted();
                failed = 0;
                continue;
            }
            match self.beat() {
                Ok(whole) => {
                    if !whole && !cut_short {
                        narrate::problem(format!(
                            "The heartbeat stopped its scan of Redis after {MAX_SCAN_CALLS} SCAN \
                             calls of {SCAN_COUNT} keys: Redis holds more keys than a heartbeat \
                             looks at, so servers whose key was not reached are not found, and \
                             a server gone is not noticed; said once, until a scan reaches \
                             every key"
                        ));
                    } else if whole && cut_short {
                        narrate::news("The heartbeat's scan of Redis reaches every key again");
                    }
                    cut_short = !whole;
                    if failed >= FAILED_BEATS_TOLD {
                        narrate::news(
                            "The heartbeat works again: this server's members and names \
                             are kept in Redis",
                        );
                    }
                    failed = 0;
                }
                Err(error) => {
                    lock(&self.others).interrupted();
                    narrate::aside(format!("Heartbeat failed: {error}"));
                    failed = failed.saturating_add(1);
                    if failed == FAILED_BEATS_TOLD {
                        narrate::problem(format!(
                            "The heartbeat fails while Redis at {} answers ({error}): this \
                             server's members and names are not kept there, and a server \
                             gone is not noticed; trying again at every heartbeat",
                            self.broker.url()
                        ));
                    }
                }
            }
        }
    }

    /// One heartbeat: whether its scan reached every key.
    fn beat(&self) -> Result<bool, String> {
        let members = lock(&self.ours).members().clone();
        let ttl = self.ttl_ms();
        let json = serde_json::to_string(&members).map_err(|error| error.to_string())?;
        let scanned_at = Instant::now();
        let (claims, found, whole) = self.broker.command(|redis| {
            let mut pipeline = redis::pipe();
            pipeline
                .cmd("SET")
                .arg(node_key(&self.node))
                .arg(&json)
                .arg("PX")
                .arg(ttl)
                .ignore();
            for name in &members.names {
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
            // holding Redis up as KEYS would, and at most MAX_SCAN_CALLS
            // times. More servers than are kept track of (ours besides)
            // need not be found: anyone can write keys by the thousand,
            // and each costs a read.
            let mut keys: Vec<String> = Vec::new();
            let mut cursor = 0_u64;
            let mut calls = 0;
            let whole = loop {
                // Key names are bytes, whatever anyone wrote: read as
                // text, one that is not would fail the whole scan.
                let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(NODE_KEYS)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query(redis)?;
                calls += 1;
                for key in batch {
                    let Ok(key) = String::from_utf8(key) else {
                        continue;
                    };
                    let a_node_s = key.strip_prefix("chat:node:").is_some_and(is_node_id);
                    // SCAN may return a key twice.
                    if a_node_s && !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                if next == 0 || keys.len() > MAX_OTHER_SERVERS {
                    break true;
                }
                if calls >= MAX_SCAN_CALLS {
                    break false;
                }
                cursor = next;
            };
            keys.truncate(MAX_OTHER_SERVERS + 1);
            let values: Vec<Vec<u8>> = if keys.is_empty() {
                Vec::new()
            } else {
                redis::cmd("EVAL")
                    .arg(READ_LISTS)
                    .arg(keys.len())
                    .arg(&keys)
                    .arg(MAX_LIST_BYTES)
                    .query(redis)?
            };
            let found = keys.into_iter().zip(values).collect::<Vec<_>>();
            Ok((claims, found, whole))
        })?;
        let claimed: Vec<bool> = claims.iter().map(|&ours| ours == 1).collect();
        let lost = lock(&self.ours).lost(&members.names, &claimed);
        for name in lost {
            // Names stay unique: the member who lost its claim while this
            // server was cut off is let go (1008), and its page joins again.
            narrate::problem(format!(
                "The name {name:?} was claimed on another server while this one could \
                 not reach Redis: letting our {name} go with {}",
                CloseCode::POLICY_VIOLATION
            ));
            self.room.let_go(&name, NAME_TAKEN_ELSEWHERE);
        }
        let found: Vec<(String, Members)> = found
            .into_iter()
            .filter_map(|(key, value)| {
                let node = key.strip_prefix("chat:node:")?.to_string();
                let members = Members::from_stored(&value)?;
                Some((node, members))
            })
            .filter(|(node, _)| *node != self.node)
            .collect();
        let (before, changes) = {
            let mut others = lock(&self.others);
            let before = others.servers();
            let changes = if whole {
                others.scanned(found, scanned_at)
            } else {
                others.scanned_in_part(found, scanned_at)
            };
            (before, changes)
        };
        self.announce(changes);
        self.tell_span(before);
        Ok(whole)
    }

    fn announce(&self, changes: Vec<Change>) {
        for change in changes {
            let (Change::Joined(name) | Change::Left { name, .. }) = &change;
            // A member here has that name (after a conflict between
            // servers): to our members, it stays as it was.
            if self.room.is_here(name) {
                continue;
            }
            let (news, line) = match change {
                Change::Joined(name) => {
                    let line = format!("{name} is on another server");
                    (FromRoom::Joined { name }, line)
                }
                Change::Left { name, server_gone } => {
                    let why = if server_gone {
                        "their server is gone"
                    } else {
                        "left on another server"
                    };
                    let line = format!("{name}: {why}");
                    (FromRoom::Left { name }, line)
                }
            };
            // Said once our members are told: whoever joins after the
            // line finds the news in its welcome.
            self.room.relay(&news);
            narrate::news(format!("{line} ({} in the room)", self.count()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(10);

    fn members(v: u64, names: &[&str]) -> Members {
        Members {
            v,
            names: names.iter().map(|name| name.to_string()).collect(),
        }
    }

    fn found(list: &[(&str, Members)]) -> Vec<(String, Members)> {
        list.iter()
            .map(|(node, members)| (node.to_string(), members.clone()))
            .collect()
    }

    fn left(name: &str, server_gone: bool) -> Change {
        Change::Left {
            name: name.into(),
            server_gone,
        }
    }

    fn joined(name: &str) -> Change {
        Change::Joined(name.into())
    }

    #[test]
    fn what_comes_from_redis_obeys_the_room_s_rules_and_bounds() {
        // Anyone who can reach Redis can write a server's list, and publish
        // as many servers and joins as it likes.
        let mut others = Others::new(TTL);
        let now = Instant::now();
        let long = "x".repeat(5000);
        let forged = ["\u{202e}Admin", "Ada\u{1b}[2J\nFAKE", &long, "Bob"];
        let changes = others.scanned(found(&[("evil", members(1, &forged))]), now);
        assert_eq!(changes, [joined("Bob")]);

        let crowd = Members {
            v: 2,
            names: (0..MAX_NAMES_ELSEWHERE + 50)
                .map(|i| format!("m{i}"))
                .collect(),
        };
        others.scanned(vec![("evil".to_string(), crowd)], now);
        assert_eq!(others.names().len(), MAX_NAMES_ELSEWHERE);
        for v in 3..103 {
            assert!(!others.heard_joined("evil", v, &format!("p{v}")));
        }
        assert_eq!(others.names().len(), MAX_NAMES_ELSEWHERE);

        for i in 0..MAX_OTHER_SERVERS + 10 {
            others.heard(&format!("node{i}"), 1, now);
            others.heard_joined(&format!("node{i}"), 1, "Carol");
        }
        assert_eq!(others.servers(), MAX_OTHER_SERVERS + 1);
        // Carol, listed by many servers, counts once.
        assert_eq!(others.count(), others.names().len());
    }

    /// A server that has scanned steadily for `settle` already, knowing
    /// B with `names`; returns it and the time of its last scan.
    fn steady_with_b(names: &[&str]) -> (Others, Instant) {
        let mut others = Others::new(TTL);
        let start = Instant::now();
        let beat = others.heartbeat();
        let mut now = start;
        while now.duration_since(start) <= others.settle() {
            others.scanned(found(&[("b", members(1, names))]), now);
            now += beat;
        }
        (others, now - beat)
    }

    /// A sees B, which writes its key every heartbeat from `b_starts` and
    /// spoke through pub/sub just before it was killed at `kill`; A scans
    /// every heartbeat from `a_starts`. Returns when A's scan announced
    /// Bob as left, and B's last write.
    fn detect(
        ttl: Duration,
        b_starts: Instant,
        a_starts: Instant,
        kill: Instant,
    ) -> (Instant, Instant) {
        let beat = ttl / 3;
        let writes: Vec<Instant> = (0..)
            .map(|k| b_starts + beat * k)
            .take_while(|write| *write <= kill)
            .collect();
        let mut a = Others::new(ttl);
        a.heard("b", 1, kill);
        a.heard_joined("b", 1, "Bob");
        let mut scan = a_starts;
        loop {
            let alive = writes
                .iter()
                .any(|write| *write <= scan && scan < *write + ttl);
            let listing = if alive {
                found(&[("b", members(1, &["Bob"]))])
            } else {
                Vec::new()
            };
            let changes = a.scanned(listing, scan);
            if changes.contains(&left("Bob", true)) {
                return (scan, *writes.last().unwrap_or(&b_starts));
            }
            assert!(changes.is_empty(), "{changes:?}");
            assert!(scan < kill + 2 * ttl, "never detected");
            scan += beat;
        }
    }

    #[test]
    fn a_killed_servers_members_leave_within_one_ttl_and_a_heartbeat() {
        let start = Instant::now();
        for ttl in [Duration::from_secs(2), TTL] {
            let beat = ttl / 3;
            let bound = ttl + beat;
            // B's heartbeat phase, A's, and the moment of the kill, each at
            // twelve points of a heartbeat; killed soon after A started,
            // and long after.
            let at = |step: u32| beat * step / 12;
            let ran_for = [beat, 3 * Others::new(ttl).settle()];
            for (b_phase, a_phase, kill_at) in
                (0..12).flat_map(|b| (0..12).flat_map(move |a| (0..12).map(move |k| (b, a, k))))
            {
                for running in ran_for {
                    let kill = start + running + at(kill_at);
                    let (detected, last_write) =
                        detect(ttl, start + at(b_phase), start + at(a_phase), kill);
                    assert!(
                        detected >= last_write + ttl,
                        "announced before B's key expired"
                    );
                    assert!(
                        detected - kill <= bound,
                        "detected {:?} after the kill, more than {bound:?}",
                        detected - kill
                    );
                }
            }
        }
    }

    #[test]
    fn a_server_just_started_counts_a_missing_key_at_once() {
        // Everything it knows came from Redis since it started: nothing can
        // be missing by mistake, even if Redis failed it before.
        let mut a = Others::new(TTL);
        a.interrupted();
        let now = Instant::now();
        assert_eq!(
            a.scanned(found(&[("b", members(1, &["Bob"]))]), now),
            [joined("Bob")]
        );
        assert_eq!(
            a.scanned(Vec::new(), now + a.heartbeat()),
            [left("Bob", true)]
        );
    }

    #[test]
    fn no_member_of_a_live_server_leaves_because_redis_paused() {
        let (mut a, last) = steady_with_b(&["Bob", "Dee"]);
        // Redis frozen for 10 s: A's heartbeats fail; every key expires.
        a.interrupted();
        let back = last + Duration::from_secs(10);
        // A reconnects first: B's key is not there yet, nor at the next
        // heartbeats, while B reconnects (up to LAST_RETRY).
        let mut now = back;
        while now < back + LAST_RETRY + COMMAND_TIMEOUT {
            assert_eq!(a.scanned(Vec::new(), now), []);
            now += a.heartbeat();
        }
        // B writes its key again: same version, nothing to announce.
        for _ in 0..10 {
            assert_eq!(
                a.scanned(found(&[("b", members(1, &["Bob", "Dee"]))]), now),
                []
            );
            now += a.heartbeat();
        }
        assert_eq!(a.names(), ["Bob", "Dee"]);
    }

    #[test]
    fn a_server_that_died_during_an_outage_is_gone_once_redis_answers_steadily() {
        let (mut a, last) = steady_with_b(&["Bob"]);
        a.interrupted();
        let back = last + Duration::from_secs(10);
        let mut now = back;
        let detected = loop {
            let changes = a.scanned(Vec::new(), now);
            if !changes.is_empty() {
                assert_eq!(changes, [left("Bob", true)]);
                break now;
            }
            now += a.heartbeat();
        };
        assert!(detected - back >= a.settle());
        assert!(detected - back <= a.settle() + a.heartbeat());
    }

    #[test]
    fn a_slow_scan_counts_as_an_interruption() {
        let (mut a, last) = steady_with_b(&["Bob"]);
        // Nothing failed, but the next scan comes 10 s late (Redis paused
        // without this server noticing): B's key may have expired.
        let late = last + Duration::from_secs(10);
        assert_eq!(a.scanned(Vec::new(), late), []);
    }

    #[test]
    fn a_server_first_heard_through_pub_sub_is_not_gone_before_it_writes_its_key() {
        let (mut a, last) = steady_with_b(&["Bob"]);
        let now = last + a.heartbeat();
        // C published a join before its first heartbeat reached Redis.
        assert_eq!(a.heard("c", 1, now), None);
        assert!(a.heard_joined("c", 1, "Cy"));
        let listing = found(&[("b", members(1, &["Bob"]))]);
        assert_eq!(a.scanned(listing.clone(), now), []);
        assert_eq!(a.names(), ["Bob", "Cy"]);
        // C never writes it (killed at once): gone a ttl after it spoke.
        let mut later = now;
        while later < now + TTL {
            assert_eq!(a.scanned(listing.clone(), later), []);
            later += a.heartbeat();
        }
        assert_eq!(a.scanned(listing, later), [left("Cy", true)]);
    }

    #[test]
    fn a_server_restarting_with_a_new_node_id_shows_nobody_leaving() {
        let (mut a, last) = steady_with_b(&["Bob", "Dee"]);
        let now = last + a.heartbeat();
        // B was killed; restarted as node "b2", Bob has reconnected to it
        // and joined (heard through pub/sub) before A's scan misses "b".
        a.heard("b2", 1, now);
        assert!(!a.heard_joined("b2", 1, "Bob"), "Bob was listed all along");
        // Scans every heartbeat: b2 is found, b is missing from the first.
        let mut changes = Vec::new();
        let mut later = now;
        while later <= now + TTL + a.heartbeat() {
            changes.extend(a.scanned(found(&[("b2", members(1, &["Bob"]))]), later));
            later += a.heartbeat();
        }
        assert_eq!(changes, [left("Dee", true)]);
        assert_eq!(a.names(), ["Bob"]);
        assert_eq!(a.servers(), 2);
        // And found only by a scan, the same way.
        let (mut a, last) = steady_with_b(&["Bob"]);
        let later = last + a.heartbeat();
        assert_eq!(a.scanned(found(&[("b2", members(1, &["Bob"]))]), later), []);
    }

    #[test]
    fn newer_lists_replace_older_ones_and_stale_ones_are_ignored() {
        let mut a = Others::new(TTL);
        let now = Instant::now();
        assert_eq!(
            a.scanned(found(&[("b", members(2, &["Bob", "Dee"]))]), now),
            [joined("Bob"), joined("Dee")]
        );
        // A join heard late, older than the list already read: ignored.
        assert!(!a.heard_joined("b", 1, "Bob"));
        assert!(!a.heard_left("b", 2, "Dee"));
        // A leave heard through pub/sub, then a scan older than it.
        assert!(a.heard_left("b", 3, "Dee"));
        assert_eq!(
            a.scanned(found(&[("b", members(2, &["Bob", "Dee"]))]), now),
            []
        );
        assert_eq!(a.names(), ["Bob"]);
        // A newer list: Eve joined, Bob left (missed through pub/sub).
        assert_eq!(
            a.scanned(found(&[("b", members(5, &["Eve"]))]), now),
            [joined("Eve"), left("Bob", false)]
        );
        assert!(!a.heard_joined("b", 5, "Eve"));
        assert!(a.heard_joined("b", 6, "Fay"));
        assert!(!a.heard_joined("b", 7, "Fay"), "listed already");
    }

    #[test]
    fn a_version_no_server_reached_is_forgotten_within_a_ttl() {
        // Anyone can publish in B's name, with the largest version: B's own
        // joins and lists would then all look older than what is held.
        let (mut a, last) = steady_with_b(&["Bob"]);
        assert!(!a.heard_left("b", u64::MAX, "Nobody"));
        assert!(!a.heard_joined("b", 2, "Dee"), "older than the forgery");
        // B's list, rewritten at every heartbeat, wins within a ttl.
        let mut now = last + a.heartbeat();
        let healed = loop {
            let changes = a.scanned(found(&[("b", members(2, &["Bob", "Dee"]))]), now);
            if !changes.is_empty() {
                assert_eq!(changes, [joined("Dee")]);
                break now;
            }
            assert!(now - last <= 2 * TTL, "never healed");
            now += a.heartbeat();
        };
        assert!(healed - last <= TTL + 2 * a.heartbeat());
        assert!(a.heard_joined("b", 3, "Eve"));
        // A list older only for a moment (a join heard just before its
        // server stored it) is not taken.
        assert!(a.heard_joined("b", 4, "Fay"));
        let older = found(&[("b", members(3, &["Bob", "Dee", "Eve"]))]);
        assert_eq!(a.scanned(older, now + a.heartbeat()), []);
        let newer = found(&[("b", members(4, &["Bob", "Dee", "Eve", "Fay"]))]);
        assert_eq!(a.scanned(newer.clone(), now + 2 * a.heartbeat()), []);
        assert_eq!(a.scanned(newer, now + TTL * 2), []);
    }

    #[test]
    fn a_scan_stopped_short_finds_nobody_gone() {
        let (mut a, last) = steady_with_b(&["Bob"]);
        let beat = a.heartbeat();
        assert_eq!(a.scanned_in_part(Vec::new(), last + beat), []);
        assert_eq!(a.names(), ["Bob"]);
        assert_eq!(a.scanned(Vec::new(), last + 2 * beat), [left("Bob", true)]);
    }

    #[test]
    fn a_node_id_no_server_has_is_not_kept_track_of() {
        use super::super::cluster::RedisUrl;
        let url = RedisUrl::parse("redis://127.0.0.1:1").unwrap();
        let broker = Broker::new(&url, "chat:room");
        let keeper = Keeper::new(&new_node_id(), TTL, Arc::new(Room::new()), broker);
        // Anyone can publish under an id of any length: a hundred of a
        // mebibyte each would be kept for a ttl.
        let long = "f".repeat(1 << 20);
        for bad in [long.as_str(), "intruder", "0123456789abcdeg"] {
            assert_eq!(keeper.heard(bad, 1), None);
            assert_eq!(keeper.heard(bad, 2), None);
            assert!(!keeper.heard_joined(bad, 1, "Eve"));
        }
        assert!(matches!(keeper.span(), FromRoom::Span { servers: 1, .. }));
        let node = new_node_id();
        assert!(is_node_id(&node));
        assert_eq!(keeper.heard(&node, 1), None);
        assert_eq!(keeper.heard(&node, 2), Some(1));
        assert!(keeper.heard_joined(&node, 1, "Eve"));
        assert!(matches!(keeper.span(), FromRoom::Span { servers: 2, .. }));
    }

    #[test]
    fn sequence_numbers_are_remembered_per_server() {
        let mut a = Others::new(TTL);
        let now = Instant::now();
        assert_eq!(a.heard("b", 1, now), None);
        assert_eq!(a.heard("b", 2, now), Some(1));
        assert_eq!(a.heard("c", 7, now), None);
        assert_eq!(a.heard("b", 5, now), Some(2));
        assert_eq!(a.servers(), 3);
    }

    #[test]
    fn a_name_claimed_elsewhere_during_an_outage_is_let_go_once() {
        let mut ours = Ours::default();
        ours.joined("Ada");
        ours.joined("Bob");
        let names = ours.members().names.clone();
        assert_eq!(names, ["Ada", "Bob"]);
        assert_eq!(ours.lost(&names, &[false, true]), ["Ada"]);
        // Said once, not at every heartbeat until Ada is gone.
        assert_eq!(ours.lost(&names, &[false, true]), Vec::<String>::new());
        assert_eq!(ours.left("Ada"), 3);
        // Another Ada later, whose claim is lost again: said again.
        ours.joined("Ada");
        let names = ours.members().names.clone();
        assert_eq!(ours.lost(&names, &[true, false]), ["Ada"]);
        assert_eq!(ours.members().v, 4);
    }

    #[test]
    fn keys_and_node_ids() {
        assert_eq!(name_key("Ada"), "chat:name:ada");
        assert_eq!(node_key("5f0c"), "chat:node:5f0c");
        let (one, other) = (new_node_id(), new_node_id());
        assert_eq!(one.len(), 16);
        assert_ne!(one, other);
        // The scan matches every key a server writes: one `?` per character.
        assert_eq!(NODE_KEYS.len(), node_key(&one).len());
        assert!(NODE_KEYS.starts_with(&node_key("")));
    }

    #[test]
    fn a_full_list_fits_what_is_read_and_one_cut_short_keeps_its_first_names() {
        // The longest a list may be and still be read whole: the most names
        // kept track of, each as long as a name may be, the largest version.
        let longest = |count: usize| Members {
            v: u64::MAX,
            names: (0..count)
                .map(|i| format!("{i:0>width$}", width = MAX_NAME_CHARS))
                .collect(),
        };
        let full = longest(MAX_NAMES_ELSEWHERE);
        let stored = serde_json::to_vec(&full).unwrap();
        assert!(stored.len() <= MAX_LIST_BYTES, "{} bytes", stored.len());
        assert_eq!(Members::from_stored(&stored), Some(full));
        // A server with more members than that: what GETRANGE returns.
        let crowd = serde_json::to_vec(&longest(MAX_NAMES_ELSEWHERE + 500)).unwrap();
        let cut = Members::from_stored(&crowd[..MAX_LIST_BYTES]).unwrap();
        assert_eq!(cut.v, u64::MAX);
        assert!(
            cut.names.len() >= MAX_NAMES_ELSEWHERE,
            "{}",
            cut.names.len()
        );
        assert_eq!(cut.names[..], longest(cut.names.len()).names[..]);
        // Not a list, whole or cut short; nothing stored, or no string.
        let junk = "x".repeat(MAX_LIST_BYTES);
        for stored in [
            &b"{\"v\":1,\"names\":[\"Ada\",\"Bo"[..],
            b"",
            junk.as_bytes(),
        ] {
            assert_eq!(Members::from_stored(stored), None);
        }
        // Junk cut short that reads as a list: its names are checked as any
        // stored list's are (`Others::scanned`).
        let junk = format!(
            "{{\"v\":1,\"names\":[\"{}",
            "\u{202e}\",\"".repeat(MAX_LIST_BYTES)
        );
        let read = Members::from_stored(&junk.as_bytes()[..MAX_LIST_BYTES]).unwrap();
        assert!(read.names.iter().all(|name| check_name(name).is_err()));
    }
}
