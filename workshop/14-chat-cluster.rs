//! Chapter 14 — The chat room across several servers, through Redis pub/sub
//! (beyond the article).
//!
//! Chapter 14 is chapter 11 plus a broker between servers (`diff
//! steps/11-chat.rs steps/14-chat-cluster.rs`). Chapter 11's room lives in
//! one process: every member must reach the same server. A real chat
//! outgrows that the day it needs a second machine, a restart
//! without emptying the room, or more connections than one host holds.
//! The usual answer is a broker between the servers, and this chapter
//! builds it with Redis pub/sub, as Rails' ActionCable and Socket.IO's
//! Redis adapter do. Every server runs chapter 11's room for the members
//! connected to it, and *also* publishes what happens there on one Redis
//! channel (`chat:room`); every server is subscribed to that channel and
//! puts what the others publish into its own members' queues.
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
//! # The lesson: fan-out
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
//! misses what was published meanwhile, and nobody sends it again; the
//! next `seq` it hears from each server shows how much. Pub/sub is not a
//! queue.
//!
//! Names stay unique across servers: before a member joins, its server
//! claims the name in Redis with `SET chat:name:<name> <node> NX PX <ttl>`,
//! which sets the key only if nobody holds it, with an expiry. Redis runs
//! commands one at a time, so of two servers claiming "Ada" at the same
//! moment exactly one gets it. While Redis is unreachable the claim
//! cannot be made, and joins are refused ("try again in a moment").
//!
//! # What the library does: presence
//!
//! Pub/sub alone cannot say who is in the room: a server that starts, or
//! comes back after an outage, heard none of the joins before, and a
//! server that crashes says no goodbye. That is presence, and it lives in
//! the library, `chat::presence`: every server keeps its list of members
//! in Redis with an expiry (`--presence-ttl`, 10 s), refreshes it and its
//! names' claims every third of the ttl, and reads everyone else's. A
//! crashed server's members are announced as left within one ttl plus one
//! heartbeat (13⅓ s by default, 2⅔ s with `--presence-ttl 2`; measured
//! from the kill to the `left` notice with `cargo bench --bench cluster --
//! detection`, two sets of five runs each: 8.3 to 12.3 s by default, 1.4
//! to 2.6 s with `--presence-ttl 2`). Members of servers that stay alive
//! are never announced as left because Redis went away or paused; a name claimed elsewhere in the moment after an outage,
//! before this server claimed it again, is let go here with 1008 ("your
//! name was taken on another server…"). The Redis side (three
//! connections, the sender's bounded queue, the back-off, the URL with its
//! password masked) is `chat::cluster`. The room gained a hook,
//! `chat::Elsewhere`, that it calls for each join, message and leave, and
//! with which it asks for the names of the members elsewhere; chapter 11
//! is unchanged: its room has no hook.
//!
//! When Redis goes away, each server says so once in its log and once to
//! its members (`{"type":"servers","reachable":false}`, which the page
//! shows as "other servers unreachable"); its own members stay connected
//! and keep chatting among themselves, and the members elsewhere stay
//! listed. Once Redis is back, each server claims its members' names
//! again, rewrites its presence, reads everyone else's, and tells its
//! members the other servers are back. What was said on either side
//! during the outage is lost for the other side. The page says which
//! server it is on and how many the room spans
//! (`{"type":"span","node":"5f0c…","servers":2}`).
//!
//! `--redis URL` says where Redis is (else `REDIS_URL`, else
//! `redis://127.0.0.1:6379`); a URL the server cannot use stops it at
//! start-up. A Redis that does not answer yet is no mistake: the server
//! starts, says so, and keeps trying.
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
//! it again; stop a server and start it again. In a browser Ada is #2,
//! after her page's own #1; the lines below are pinned with a member that
//! connects straight away.
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

// Your chapter 14. Each `// lesson:` below is a `todo!` with a hint:
// write the code it asks for, then check it with
// `cargo run --bin workshop -- check 14`. Made from the reference in
// `steps/` by the workshop's checker.
#![allow(unused, clippy::diverging_sub_expression)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};

use websocket_from_scratch::Error;
use websocket_from_scratch::command_line::{self, CommandLineError, Seconds};
use websocket_from_scratch::narrate::{self, Level};
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::handshake;
use websocket_from_scratch::protocol::message::Message;
use websocket_from_scratch::protocol::session::{Budget, Session};
use websocket_from_scratch::server::chat::cluster::{self, Broker, Heard, RedisUrl};
use websocket_from_scratch::server::chat::presence::{self, Keeper};
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
    /// The chat's page, saying the room spans several servers.
    page: Vec<u8>,
}

/// The whole command line, read once.
struct Options {
    listen: listener::Options,
    settings: Settings,
    level: Level,
    /// Where the broker is: `--redis URL`, else `REDIS_URL`.
    redis: RedisUrl,
    /// How long a name or a server's presence lasts without a heartbeat.
    presence_ttl: Duration,
}

/// A crashed server's members vanish within this, plus a heartbeat.
const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(10);

/// Chapter 14 of the tutorial: chapter 11's chat room across several
/// servers, through Redis pub/sub.
#[derive(Parser)]
struct Command {
    #[command(flatten)]
    chat: chat::ChatArgs,
    /// Where Redis is: a redis:// URL, such as redis://:PASSWORD@HOST:6379
    /// (no database number, no TLS; a password here shows in `ps`, one in
    /// REDIS_URL does not) [default: $REDIS_URL when set, else
    /// redis://127.0.0.1:6379]
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// How long a name or a server's presence lasts without a heartbeat,
    /// in seconds (less is taken as 0.3)
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(DEFAULT_PRESENCE_TTL))]
    presence_ttl: Seconds,
}

impl Options {
    fn from_env() -> Result<Options, CommandLineError> {
        let command: Command = command_line::parse()?;
        let chat::ChatOptions {
            listen,
            max_message_size,
            extra_origins,
            queue_length,
            budget,
            idle_timeout,
            frame_timeout,
            level,
        } = command.chat.resolve::<Command>()?;
        let settings = Settings {
            max_message_size,
            extra_origins,
            queue_length,
            budget,
            idle_timeout,
            frame_timeout,
            page: cluster::page(),
        };
        let redis = RedisUrl::from_option_or_environment(command.redis)
            .map_err(command_line::invalid::<Command>)?;
        let presence_ttl = command.presence_ttl.0.max(Duration::from_millis(300));
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
    let cluster = Cluster::new(Arc::new(Room::new()), &redis, presence_ttl);
    let members = Arc::clone(&cluster);
    let served = listener::serve_after(
        "14-chat-cluster",
        &listen,
        |_| {
            if let Err(error) = Cluster::start(&cluster) {
                narrate::problem(format!("Cannot reach the other servers: {error}"));
            }
        },
        move |connection| take_a_seat(connection, &members, &settings),
    );
    listener::exit_code(served)
}

fn take_a_seat(
    connection: &mut Connection,
    cluster: &Cluster,
    settings: &Settings,
) -> Result<(), Error> {
    let mut allowed = handshake::own_origins(connection.local_port);
    allowed.extend(settings.extra_origins.iter().cloned());
    let opening =
        opening::perform_checking_origin(connection, Some(&allowed), Some(&settings.page))?;
    if opening == Opening::ServedPage {
        return Ok(());
    }
    conversation::start(connection, Some(settings.idle_timeout))?;
    // Which server this is, and how many the room spans, before anything else.
    cluster.presence.greet(&mut connection.writer)?;

    // A member needs a second thread, for writing. If the system refuses
    // one, this member is turned away (CloseCode::TRY_AGAIN_LATER, 1013,
    // with the reason `busy`); the room and the server go on.
    let busy = "the server is busy";
    let mut seat = match Seat::new(connection.id, &connection.writer, settings.queue_length) {
        Ok(seat) => seat,
        Err(error) => {
            let _ = close::send(&mut connection.writer, CloseCode::TRY_AGAIN_LATER, busy);
            return Err(error);
        }
    };
    let mut outbox = seat.outbox()?;
    let mut session =
        Session::new(settings.max_message_size).with_budget(Arc::clone(&settings.budget));
    let room = &cluster.room;
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
}

/// The one channel every server of the room publishes on and listens to.
const CHANNEL: &str = "chat:room";

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

/// The room's members on other servers, reached through Redis.
struct Cluster {
    node: String,
    room: Arc<Room>,
    broker: Arc<Broker>,
    /// Who is where: this server's members in Redis, and the others'.
    presence: Arc<Keeper>,
    /// This server's publications so far.
    seq: AtomicU64,
}

impl Cluster {
    fn new(room: Arc<Room>, url: &RedisUrl, ttl: Duration) -> Arc<Cluster> {
        let node = presence::new_node_id();
        let broker = Broker::new(url, CHANNEL);
        let presence = Keeper::new(&node, ttl, Arc::clone(&room), Arc::clone(&broker));
        Arc::new(Cluster {
            node,
            room,
            broker,
            presence: Arc::new(presence),
            seq: AtomicU64::new(0),
        })
    }

    /// Connects to Redis (the subscriber and sender threads), starts the
    /// heartbeat, and hooks the room up.
    fn start(cluster: &Arc<Cluster>) -> Result<(), String> {
        narrate::headline(format!(
            "This server is node {}; its room spans every server subscribed to {CHANNEL} at {}",
            cluster.node,
            cluster.broker.url()
        ));
        let hearer = Arc::clone(cluster);
        cluster.broker.start(move |heard| hearer.hear(heard))?;
        cluster.presence.start()?;
        cluster
            .room
            .reach_elsewhere(Arc::clone(cluster) as Arc<dyn Elsewhere>);
        Ok(())
    }

    /// Publishes `event`, whose version of our members is `v`. Called
    /// under the room's lock, which keeps `seq` in the order of events:
    /// it only queues.
    fn publish(&self, v: u64, event: FromRoom) {
        // lesson: publish the event in an envelope: this server's node id, the next seq, v
        todo!("publish the event in an envelope: this server's node id, the next seq, v")
        // end of lesson
    }

    /// The subscriber's thread: one call per thing heard, in order.
    fn hear(&self, heard: Heard) {
        match heard {
            Heard::Reachable => self.presence.reachable(),
            Heard::Unreachable(why) => self.presence.unreachable(&why),
            Heard::Message(json) => {
                // lesson: read the envelope; drop our own echoes, hear the others' events
                todo!("read the envelope; drop our own echoes, hear the others' events")
                // end of lesson
            }
        }
    }

    /// What an event from server `node` tells: how many of its events were
    /// lost before it, why it is refused if it breaks the room's rules, and
    /// whether it is news to tell our members (a join or leave already
    /// known, or from an older list of its members, is not).
    fn take_in(
        &self,
        node: &str,
        seq: u64,
        v: u64,
        event: &FromRoom,
    ) -> (u64, Option<String>, bool) {
        // lesson: count what was lost since that server's last publication, and take in who is there
        todo!("count what was lost since that server's last publication, and take in who is there")
        // end of lesson
    }

    /// An event from another server.
    fn hear_event(&self, envelope: Envelope) {
        let Envelope {
            node,
            seq,
            v,
            event,
        } = envelope;
        let (missed, refused, mut news) = self.take_in(&node, seq, v, &event);
        // After a conflict between servers, a member here may have the name
        // another server's member joined or left with: to our members,
        // that name stays as it was.
        if let FromRoom::Joined { name } | FromRoom::Left { name } = &event
            && self.room.is_here(name)
        {
            news = false;
        }
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
        // lesson: relay to our members what another server's members did
        todo!("relay to our members what another server's members did");
        // end of lesson
        // Told once our members are: whoever joins after this line finds
        // the news in its welcome.
        match &event {
            FromRoom::Joined { name } => narrate::news(format!(
                "{name} joined on another server ({} in the room)",
                self.presence.count()
            )),
            FromRoom::Left { name } => narrate::news(format!(
                "{name} left on another server ({} in the room)",
                self.presence.count()
            )),
            FromRoom::Message { from, text } => narrate::news(format!(
                "{from}, on another server: {}",
                narrate::text_preview(text)
            )),
            _ => {}
        }
        // Like a member here: the next event is heard once the room has
        // taken this one in.
        self.room.wait_while_backed_up();
    }
}

/// What the room asks of the other servers, and tells them.
impl Elsewhere for Cluster {
    fn claim(&self, name: &str) -> Result<(), String> {
        let ttl = self.presence.ttl().as_millis() as u64;
        // What the member is told when the name cannot be theirs: Err(taken)
        // if another server's member has it, Err(unreachable) if Redis
        // cannot say.
        let taken = format!("the name {name:?} is taken");
        let unreachable = format!(
            "other servers unreachable: the name {name:?} cannot be checked against \
             theirs; try again in a moment"
        );
        // lesson: claim the name across servers: SET NX (only if free) PX (with an expiry)
        todo!("claim the name across servers: SET NX (only if free) PX (with an expiry)")
        // end of lesson
    }

    fn names(&self) -> Vec<String> {
        self.presence.names()
    }

    fn lists(&self, name: &str) -> bool {
        self.presence.lists(name)
    }

    fn after_welcome(&self) -> Option<FromRoom> {
        Some(self.presence.span())
    }

    fn joined(&self, name: &str) {
        // lesson: publish the join, with the version of our members it makes
        todo!("publish the join, with the version of our members it makes")
        // end of lesson
    }

    fn said(&self, from: &str, text: &str) {
        // lesson: publish the message, with the version of our members now
        todo!("publish the message, with the version of our members now")
        // end of lesson
    }

    fn left(&self, name: &str) {
        // lesson: publish the leave, with the version of our members it makes
        todo!("publish the leave, with the version of our members it makes")
        // end of lesson
    }
}

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
