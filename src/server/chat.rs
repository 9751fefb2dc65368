//! A chat room shared by many connections (chapter 11).
//!
//! Each member's connection has its own thread, reading that member's
//! messages. Sending is the hard part: a message from one member goes to
//! every member, and a member whose browser has stopped reading (a laptop
//! lid closed, a stalled network) must not make everyone else wait. So
//! nobody writes to another member's socket. Every member has a bounded
//! queue of outgoing frames and a writer thread that empties it; a
//! broadcast only *puts* the frame in each queue, never waiting. A member
//! whose queue is full cannot keep up: it is removed from the room, what
//! waits in its queue is dropped, and its own thread closes its session
//! with 1008 (`Session::close`), so that the closing handshake happens as
//! any other: our close frame, then the member's answer.
//!
//! The wire format is small JSON objects in text frames, one Rust enum
//! for each direction: [`wire::FromMember`] and [`wire::FromRoom`].

use std::collections::VecDeque;
use std::io::Write;
use std::num::NonZeroUsize;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::CommandFactory;

use crate::command_line::{self, CommandLineError, Seconds};
use crate::narrate::{self, Level, Verbosity};
use crate::protocol::close::CloseCode;
use crate::protocol::frame::{self, FrameHeader, Opcode};
use crate::protocol::http::is_timeout;
use crate::protocol::message::Message;
use crate::protocol::session::{Budget, OutgoingFrame};
use crate::server::conversation::{self, Outbox};
use crate::server::error::Error;
use crate::server::listener::{self, Socket};

pub mod cluster;
pub mod presence;
pub mod wire;

use wire::{FromMember, FromRoom};

/// The chat's page, served to a plain `GET /`.
pub const PAGE: &[u8] = include_bytes!("page/chat.html");

/// Chat lines are short, but their JSON need not be: a character outside
/// the Basic Multilingual Plane sent as a `\u` escape is a surrogate pair,
/// `\ud83d\ude00`, 12 bytes. So [`MAX_TEXT_CHARS`] characters may take
/// 6,000 bytes, plus the object around them; 8 KiB holds the longest
/// message the rules allow however it is escaped, and a frame over it is
/// no chat line (close 1009).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 8192;
/// How many frames may wait for a member before it counts as too slow.
pub const DEFAULT_QUEUE_LENGTH: usize = 256;
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 20;
/// Longest message, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// A chat server's command line (chapters 11 and 14): the listener's
/// options with the connection cap, the limits on messages and members,
/// the timeouts, and how much to tell. Chapter 14 flattens it into its
/// own `clap::Parser` and calls [`ChatArgs::resolve`].
#[derive(Debug, Clone, clap::Parser)]
pub struct ChatArgs {
    #[command(flatten)]
    pub listen: listener::Capped,
    /// How long a member may stay silent before the server pings it, in
    /// seconds; silent as long again, it is closed with code 1001
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(conversation::DEFAULT_IDLE_TIMEOUT))]
    pub idle_timeout: Seconds,
    /// The largest message accepted, in bytes: enough for the longest chat
    /// line however it is escaped; a longer one is refused with close code
    /// 1009
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_MESSAGE_SIZE,
        value_parser = command_line::message_size
    )]
    pub max_message_size: u64,
    /// Other origins whose pages may join (scheme, host and port,
    /// comma-separated), beside this server's own page on localhost,
    /// 127.0.0.1 and ::1 [default: none]
    #[arg(long, value_name = "URL[,URL…]", value_delimiter = ',', value_parser = origin)]
    pub allow_origin: Vec<String>,
    /// How many frames may wait for a member before it counts as too slow
    /// and is removed from the room (close code 1008)
    #[arg(long, value_name = "FRAMES", default_value_t = DEFAULT_QUEUE_LENGTH, value_parser = queue_length)]
    pub queue_length: usize,
    /// How many bytes of messages being received all members may hold
    /// together (256 MiB), at least one message of --max-message-size; a
    /// message over what is left is refused with close code 1013
    #[arg(long, value_name = "BYTES", default_value_t = conversation::DEFAULT_MAX_BUFFERED)]
    pub max_buffered: u64,
    /// A frame in progress must arrive whole, or 64 KiB more of it, within
    /// each such period, in seconds, or it is refused with close code 1008;
    /// one that stops arriving altogether is dropped at the idle timeout
    /// [default: the idle timeout]
    #[arg(long, value_name = "SECONDS")]
    pub frame_timeout: Option<Seconds>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// A member's queue length: zero is refused, since a queue that holds no
/// frame would drop every member at the room's first message.
fn queue_length(text: &str) -> Result<usize, String> {
    command_line::at_least_one(text).map(NonZeroUsize::get)
}

/// An origin as a browser sends it in `Origin` (RFC 6454 §6.2):
/// `scheme://host`, or `scheme://host:port`, and nothing after. Anything
/// more, even a final `/`, would never match what a browser sends, and
/// that site's pages could never join: a mistake to stop at, not serve.
fn origin(text: &str) -> Result<String, String> {
    let origin = text.trim();
    let not = |why: String| Err(format!("not an origin (scheme://host[:port]): {why}"));
    let Some((scheme, rest)) = origin.split_once("://") else {
        return not("no \"://\"".to_string());
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return not(format!("{scheme:?} is no scheme"));
    }
    let stray = |c: char| matches!(c, '/' | '?' | '#' | '@' | '\\') || c.is_whitespace();
    if let Some(bad) = rest.chars().find(|&c| stray(c) || c.is_control()) {
        return not(format!("a browser sends no {bad:?} after the host"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        // After the last colon of `[::1]` comes no port, but `1]`.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    if host.is_empty() {
        return not("no host".to_string());
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return not(format!("{port:?} is no port"));
    }
    Ok(origin.to_string())
}

/// What a chat server's command line decides, read once.
#[derive(Debug)]
pub struct ChatOptions {
    pub listen: listener::Options,
    pub max_message_size: u64,
    /// Origins allowed besides the server's own.
    pub extra_origins: Vec<String>,
    pub queue_length: usize,
    /// Shared by every member: the bytes of messages being received.
    pub budget: Arc<Budget>,
    pub idle_timeout: Duration,
    pub frame_timeout: Duration,
    pub level: Level,
}

impl ChatArgs {
    /// The options these arguments give, once checked across each other;
    /// a mistake reads as `P`'s (the whole command line's) own.
    pub fn resolve<P: CommandFactory>(self) -> Result<ChatOptions, CommandLineError> {
        let idle_timeout = self.idle_timeout.0;
        Ok(ChatOptions {
            listen: self.listen.options(),
            max_message_size: self.max_message_size,
            extra_origins: self.allow_origin,
            queue_length: self.queue_length,
            budget: conversation::budget(self.max_buffered, self.max_message_size)
                .map_err(command_line::invalid::<P>)?,
            idle_timeout,
            frame_timeout: self
                .frame_timeout
                .map_or(idle_timeout, |Seconds(timeout)| timeout),
            level: self.verbosity.level(),
        })
    }
}

impl ChatOptions {
    /// [`ChatArgs`] from the command line, for a chapter with no options
    /// of its own (chapter 11).
    pub fn from_env() -> Result<ChatOptions, CommandLineError> {
        let args: ChatArgs = command_line::parse_chapter()?;
        args.resolve::<ChatArgs>()
    }
}

/// One frame, encoded once and shared by every queue it is put in.
type Encoded = Arc<[u8]>;

/// How long a member's writer may sit in one write before the room stops
/// waiting for that member: it has stopped reading, not just fallen behind.
pub const PATIENCE: Duration = Duration::from_secs(2);

/// A member's queue of outgoing frames, emptied by its writer thread.
struct Mailbox {
    state: Mutex<Mail>,
    /// Signalled when frames arrive, when the writer has sent some, and
    /// when the mailbox closes.
    changed: Condvar,
    capacity: usize,
}

struct Mail {
    frames: VecDeque<Encoded>,
    closed: bool,
    /// Our close frame is queued: nothing may follow it (RFC 6455 §5.5.1).
    sealed: bool,
    /// When the write in progress began, if one is.
    writing_since: Option<Instant>,
}

/// The queue is full: the member cannot keep up.
struct Full;

impl Mailbox {
    fn new(capacity: usize) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            state: Mutex::new(Mail {
                frames: VecDeque::new(),
                closed: false,
                sealed: false,
                writing_since: None,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
        })
    }

    fn mail(&self) -> MutexGuard<'_, Mail> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts a frame in without waiting; a closed or sealed mailbox takes
    /// nothing.
    fn offer(&self, frame: Encoded) -> Result<(), Full> {
        let mut mail = self.mail();
        if mail.closed || mail.sealed {
            return Ok(());
        }
        if mail.frames.len() >= self.capacity {
            return Err(Full);
        }
        mail.frames.push_back(frame);
        self.changed.notify_all();
        Ok(())
    }

    /// Puts a frame in, waiting for room; fails once the mailbox is closed.
    /// After our close frame (`last`), nothing more goes in.
    fn send(&self, frame: Encoded, last: bool) -> Result<(), Error> {
        let mut mail = self.mail();
        if mail.sealed {
            return Ok(());
        }
        while !mail.closed && mail.frames.len() >= self.capacity {
            mail = self
                .changed
                .wait(mail)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if mail.closed {
            return Err(member_gone());
        }
        mail.frames.push_back(frame);
        mail.sealed = last;
        self.changed.notify_all();
        Ok(())
    }

    /// Drops what waits to be sent: the member is let go, and gets only
    /// its close frame now. A close frame already queued (the last frame
    /// of a sealed mailbox) stays: it is the member's answer to its own
    /// close, and nothing else could take its place.
    fn discard_pending(&self) {
        let mut mail = self.mail();
        let close = if mail.sealed {
            mail.frames.pop_back()
        } else {
            None
        };
        mail.frames.clear();
        mail.frames.extend(close);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.mail().closed = true;
        self.changed.notify_all();
    }

    /// Whether a sender should wait for this member: its queue is half
    /// full and its writer is still making progress.
    fn backed_up(&self) -> bool {
        let mail = self.mail();
        mail.frames.len() * 2 >= self.capacity
            && mail
                .writing_since
                .is_none_or(|since| since.elapsed() <= PATIENCE)
    }

    /// Waits a moment for the writer to send something.
    fn wait_a_moment(&self) {
        let mail = self.mail();
        let _ = self.changed.wait_timeout(mail, Duration::from_millis(50));
    }

    /// The writer's side: everything queued, once there is something;
    /// `None` once the mailbox is closed and empty.
    fn take_all(&self) -> Option<Vec<Encoded>> {
        let mut mail = self.mail();
        mail.writing_since = None;
        self.changed.notify_all();
        while mail.frames.is_empty() {
            if mail.closed {
                return None;
            }
            mail = self
                .changed
                .wait(mail)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        mail.writing_since = Some(Instant::now());
        Some(mail.frames.drain(..).collect())
    }
}

fn encode(message: &FromRoom) -> Encoded {
    frame::encode(true, Opcode::Text, None, &message.to_json()).into()
}

/// A member as the room sees it.
struct Member {
    id: u64,
    name: String,
    queue: Arc<Mailbox>,
    /// Set, with the reason its close frame gives, when the room gives up
    /// on this member.
    let_go: Farewell,
}

/// Why the room let a member go, once it has: the reason its close frame
/// (1008) gives.
type Farewell = Arc<OnceLock<&'static str>>;

impl Member {
    /// Gives up on this member: what waits in its queue is dropped, and its
    /// own thread, at its next wake-up ([`WAKE_UP`]), closes its session
    /// with 1008 and `reason`.
    fn let_go_with(&self, reason: &'static str) {
        if self.let_go.set(reason).is_ok() {
            self.queue.discard_pending();
        }
    }
}

/// How often a member's reading thread wakes up, when nothing arrives, to
/// see whether the room has let it go: the longest a let-go member waits
/// for its close frame.
pub const WAKE_UP: Duration = Duration::from_millis(250);

const TOO_SLOW: &str = "too slow: you stopped reading the room's messages";

/// Given to a member whose name another server holds (chapter 14).
pub const NAME_TAKEN_ELSEWHERE: &str =
    "your name was taken on another server while this one could not reach it: join again";

/// The part of the room that is not in this process (chapter 14: other
/// servers, reached through a broker). Chapter 11's room has none.
///
/// The room calls these while it holds its lock, in the order members see
/// things, so none of them may wait: no network round trip, no log line.
/// The one that may wait, [`Elsewhere::claim`], is called before the lock
/// is taken.
pub trait Elsewhere: Send + Sync {
    /// Claims `name` for a member about to join here, or says why not.
    /// Called without the room's lock; it may wait on the network.
    fn claim(&self, name: &str) -> Result<(), String>;
    /// The names of members elsewhere, as the other servers list them
    /// now: counted in the log's lines. (A newcomer's welcome lists those
    /// the members here were told of, see [`Room::relay`].)
    fn names(&self) -> Vec<String>;
    /// Whether a member elsewhere has `name` (exactly): after a conflict
    /// between servers (chapter 14), the member here who leaves may not
    /// have been the only one of that name.
    fn lists(&self, _name: &str) -> bool {
        false
    }
    /// What a newcomer is told right after its welcome, if anything.
    /// Chapter 14 says again how many servers the room spans: that may
    /// have changed between the greeting and the join, and changes are
    /// told to members only.
    fn after_welcome(&self) -> Option<FromRoom> {
        None
    }
    /// `name` joined here.
    fn joined(&self, name: &str);
    /// `from`, a member here, said `text`.
    fn said(&self, from: &str, text: &str);
    /// `name`, a member here, left (or was dropped).
    fn left(&self, name: &str);
}

/// Everyone in the chat.
pub struct Room {
    present: Mutex<Present>,
    elsewhere: OnceLock<Arc<dyn Elsewhere>>,
}

/// Who is in the room, as the members here know it.
struct Present {
    members: Vec<Member>,
    /// The members elsewhere that the members here were told of: a
    /// relayed join adds a name, a relayed leave takes it away. A
    /// newcomer's welcome lists these, not what the other servers list
    /// at that moment: a change heard from them is told a moment after
    /// it is known (chapter 14 logs it in between), and a newcomer who
    /// joined in that moment would hear of it twice, in its welcome and
    /// again as news. At most [`presence::MAX_NAMES_ELSEWHERE`].
    told_elsewhere: Vec<String>,
}

impl Present {
    /// Notes what the members here are told of a member elsewhere.
    fn tell_elsewhere(&mut self, message: &FromRoom) {
        match message {
            FromRoom::Joined { name }
                if !self.told_elsewhere.contains(name)
                    && self.told_elsewhere.len() < presence::MAX_NAMES_ELSEWHERE =>
            {
                self.told_elsewhere.push(name.clone());
            }
            FromRoom::Left { name } => self.told_elsewhere.retain(|other| other != name),
            _ => {}
        }
    }
}

impl Default for Room {
    fn default() -> Room {
        Room::new()
    }
}

impl Room {
    pub fn new() -> Room {
        Room {
            present: Mutex::new(Present {
                members: Vec::new(),
                told_elsewhere: Vec::new(),
            }),
            elsewhere: OnceLock::new(),
        }
    }

    /// Connects the room to its members elsewhere (once; later calls are
    /// ignored).
    pub fn reach_elsewhere(&self, elsewhere: Arc<dyn Elsewhere>) {
        let _ = self.elsewhere.set(elsewhere);
    }

    /// Tells the part of the room elsewhere, if any, that these members
    /// were dropped here.
    fn dropped_elsewhere(&self, dropped: &[String]) {
        if let Some(elsewhere) = self.elsewhere.get() {
            for name in dropped {
                elsewhere.left(name);
            }
        }
    }

    /// How many members are elsewhere.
    fn count_elsewhere(&self) -> usize {
        self.elsewhere
            .get()
            .map_or(0, |elsewhere| elsewhere.names().len())
    }

    /// Puts `message`, which came from elsewhere, in every member's queue,
    /// never waiting; members whose queue is full are dropped as usual. A
    /// join or a leave elsewhere is, from now on, in a newcomer's welcome.
    pub fn relay(&self, message: &FromRoom) {
        let mut present = self.present();
        present.tell_elsewhere(message);
        let dropped = Room::broadcast(&mut present, self.elsewhere(), encode(message));
        self.dropped_elsewhere(&dropped);
        drop(present);
        Room::tell_dropped(dropped);
    }

    /// How many members are here, in this process.
    pub fn count_here(&self) -> usize {
        self.present().members.len()
    }

    /// Whether a member here has `name` (exactly).
    pub fn is_here(&self, name: &str) -> bool {
        self.present()
            .members
            .iter()
            .any(|member| member.name == name)
    }

    /// Names of the members here, in this process.
    pub fn names_here(&self) -> Vec<String> {
        self.present()
            .members
            .iter()
            .map(|member| member.name.clone())
            .collect()
    }

    fn present(&self) -> MutexGuard<'_, Present> {
        // A thread that panicked while holding the lock leaves the list as
        // it was; carrying on is safe.
        self.present
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn elsewhere(&self) -> Option<&dyn Elsewhere> {
        self.elsewhere.get().map(|elsewhere| elsewhere.as_ref())
    }

    /// Puts `frame` in every member's queue; members whose queue is full
    /// are dropped, and everyone else is told they left ([`Room::gone`]).
    /// Returns the names of the dropped, for the caller to log once the
    /// lock is released.
    fn broadcast(
        present: &mut Present,
        elsewhere: Option<&dyn Elsewhere>,
        frame: Encoded,
    ) -> Vec<String> {
        let mut dropped = Vec::new();
        present
            .members
            .retain(|member| match member.queue.offer(Arc::clone(&frame)) {
                Ok(()) => true,
                Err(Full) => {
                    member.let_go_with(TOO_SLOW);
                    dropped.push(member.name.clone());
                    false
                }
            });
        let mut all_dropped = dropped.clone();
        for name in dropped {
            all_dropped.extend(Room::gone(present, elsewhere, name));
        }
        all_dropped
    }

    /// `name`, a member here, is no longer here (it left, or was dropped):
    /// the others here are told it left. Unless another server's member
    /// has the same name (after a conflict between servers): that one is
    /// still in the room, and for the members here nobody left. Returns
    /// the names of those dropped while being told.
    fn gone(present: &mut Present, elsewhere: Option<&dyn Elsewhere>, name: String) -> Vec<String> {
        if elsewhere.is_some_and(|elsewhere| elsewhere.lists(&name)) {
            // The name stays, as one elsewhere's.
            present.tell_elsewhere(&FromRoom::Joined { name });
            return Vec::new();
        }
        let notice = FromRoom::Left { name };
        present.tell_elsewhere(&notice);
        Room::broadcast(present, elsewhere, encode(&notice))
    }

    /// Logs who was dropped, outside the room's lock.
    fn tell_dropped(dropped: Vec<String>) {
        for name in dropped {
            narrate::problem(format!(
                "{name} is not reading fast enough: dropping them with {}",
                CloseCode::POLICY_VIOLATION
            ));
        }
    }

    /// Adds a member and welcomes them with the list of who is here.
    ///
    /// The notice to the others and the welcome happen under the room's
    /// lock, so that no message can reach the newcomer before their
    /// welcome. The log line does not: nothing is logged under the lock,
    /// so a slow log can never hold up the room.
    fn join(&self, member: Member) -> Result<(), String> {
        let elsewhere = self.elsewhere();
        if let Some(elsewhere) = elsewhere {
            elsewhere.claim(&member.name)?;
        }
        let mut present = self.present();
        if present
            .members
            .iter()
            .any(|other| other.name.eq_ignore_ascii_case(&member.name))
        {
            // The claim just made, if any, is not given back: a claim
            // names this server, not a member, so it is the claim of the
            // member here who has the name (it could be made only because
            // Redis had lost theirs). Giving it back would let another
            // server take the name, and this member be let go for it.
            return Err(format!("the name {:?} is taken", member.name));
        }
        let notice = FromRoom::Joined {
            name: member.name.clone(),
        };
        let dropped = Room::broadcast(&mut present, elsewhere, encode(&notice));
        self.dropped_elsewhere(&dropped);
        // Who the others here know of, elsewhere and here.
        let mut names = present.told_elsewhere.clone();
        names.extend(present.members.iter().map(|other| other.name.clone()));
        names.push(member.name.clone());
        let count = names.len();
        let welcome = FromRoom::Welcome {
            name: member.name.clone(),
            members: names,
        };
        // First in the newcomer's queue, unless what it was sent before
        // joining (a refused name, a pong) still waits there: a queue of
        // one frame then drops the welcome, as it would any other frame.
        let _ = member.queue.offer(encode(&welcome));
        if let Some(news) = elsewhere.and_then(|elsewhere| elsewhere.after_welcome()) {
            // A queue of one frame drops this; the page then shows the
            // span it was greeted with, until the next change.
            let _ = member.queue.offer(encode(&news));
        }
        if let Some(elsewhere) = elsewhere {
            elsewhere.joined(&member.name);
        }
        let line = format!("{} joined ({count} in the room)", member.name);
        present.members.push(member);
        drop(present);
        Room::tell_dropped(dropped);
        narrate::news(line);
        Ok(())
    }

    /// Sends a member's message to everyone, the sender included. The log
    /// line is written after the lock is released (one member's line may
    /// then follow another's that members saw later).
    fn say(&self, from: &str, text: &str) {
        let message = FromRoom::Message {
            from: from.to_string(),
            text: text.to_string(),
        };
        let frame = encode(&message);
        let mut present = self.present();
        let dropped = Room::broadcast(&mut present, self.elsewhere(), frame);
        if let Some(elsewhere) = self.elsewhere() {
            elsewhere.said(from, text);
        }
        self.dropped_elsewhere(&dropped);
        drop(present);
        narrate::news(format!("{from}: {}", narrate::text_preview(text)));
        Room::tell_dropped(dropped);
    }

    /// Waits while the room is backed up: while some member's queue is
    /// half full and its writer is still sending. A member's burst is
    /// read no faster than the slowest member who is still reading takes
    /// it in, so it never overflows their queues; a member whose writer is
    /// stuck (it stopped reading) is not waited for, and is dropped once
    /// its queue is full.
    pub fn wait_while_backed_up(&self) {
        let queues: Vec<Arc<Mailbox>> = self
            .present()
            .members
            .iter()
            .map(|member| Arc::clone(&member.queue))
            .collect();
        for queue in queues {
            while queue.backed_up() {
                queue.wait_a_moment();
            }
        }
    }

    /// Lets the member called `name` (in any case) go with close 1008 and
    /// `reason`, as a member who stops reading is let go: its connection
    /// ends, and it leaves the room the usual way. False if nobody here
    /// has that name.
    pub fn let_go(&self, name: &str, reason: &'static str) -> bool {
        let present = self.present();
        let Some(member) = present
            .members
            .iter()
            .find(|member| member.name.eq_ignore_ascii_case(name))
        else {
            return false;
        };
        member.let_go_with(reason);
        true
    }

    /// Removes member `id`, if still there, and tells the others.
    fn leave(&self, id: u64) {
        let mut present = self.present();
        let Some(index) = present.members.iter().position(|member| member.id == id) else {
            return;
        };
        let member = present.members.remove(index);
        let elsewhere = self.elsewhere();
        let dropped = Room::gone(&mut present, elsewhere, member.name.clone());
        if let Some(elsewhere) = elsewhere {
            elsewhere.left(&member.name);
        }
        self.dropped_elsewhere(&dropped);
        let count = present.members.len() + self.count_elsewhere();
        let line = format!("{} left ({count} in the room)", member.name);
        drop(present);
        narrate::news(line);
        Room::tell_dropped(dropped);
    }
}

/// One connection's place in the chat: its queue, its writer thread, and
/// its name once it has joined.
pub struct Seat {
    id: u64,
    name: Option<String>,
    queue: Arc<Mailbox>,
    let_go: Farewell,
    writer: Option<JoinHandle<()>>,
    socket: Socket,
}

impl Seat {
    /// Starts the writer thread for a connection's socket.
    pub fn new(id: u64, socket: &Socket, queue_length: usize) -> Result<Seat, Error> {
        let queue = Mailbox::new(queue_length);
        let frames = Arc::clone(&queue);
        let let_go = Farewell::default();
        let writer = {
            let socket = socket.clone();
            // The system may refuse a thread: that ends this connection
            // (close 1013, try again later), not the server.
            thread::Builder::new()
                .spawn(move || write_frames(id, socket, frames))
                .map_err(|error| {
                    narrate::problem(format!("Could not start a writer thread: {error}"));
                    Error::Io(error)
                })?
        };
        Ok(Seat {
            id,
            name: None,
            queue,
            let_go,
            writer: Some(writer),
            socket: socket.clone(),
        })
    }

    fn send(&mut self, message: &FromRoom) -> Result<(), Error> {
        self.queue.send(encode(message), false)
    }

    /// An outbox for the conversation's own frames, which also tells the
    /// conversation when the room has let this member go. From here on,
    /// reads wake up every [`WAKE_UP`] to look; the idle timeout set
    /// before still counts, in wake-ups.
    pub fn outbox(&self) -> Result<QueueOutbox, Error> {
        let idle_timeout = self.socket.read_timeout()?;
        let wake_up = idle_timeout.map_or(WAKE_UP, |idle| idle.min(WAKE_UP));
        self.socket.set_read_timeout(Some(wake_up))?;
        Ok(QueueOutbox {
            queue: Arc::clone(&self.queue),
            let_go: Arc::clone(&self.let_go),
            idle_timeout: idle_timeout.unwrap_or(Duration::MAX),
            closing: false,
        })
    }

    /// Tells this member (and only this member) what was wrong.
    fn refuse(&mut self, why: &str) -> Result<(), Error> {
        narrate::problem(format!("Refused: {}", escaped_for_log(why)));
        self.send(&FromRoom::Error {
            error: why.to_string(),
        })
    }

    /// Handles one complete message from this member.
    pub fn handle(&mut self, room: &Room, message: &Message) -> Result<(), Error> {
        // Let go: what it still sends before its close arrives is ignored.
        if self.let_go.get().is_some() {
            return Ok(());
        }
        if message.opcode != Opcode::Text {
            return self.refuse("the chat speaks JSON in text frames, not binary");
        }
        let text = String::from_utf8_lossy(&message.payload);
        let request = match FromMember::parse(&text) {
            Ok(request) => request,
            Err(why) => return self.refuse(&why),
        };
        match (request, &self.name) {
            (FromMember::Join { name }, None) => {
                let name = name.trim().to_string();
                if let Err(why) = check_name(&name) {
                    return self.refuse(&why);
                }
                let member = Member {
                    id: self.id,
                    name: name.clone(),
                    queue: Arc::clone(&self.queue),
                    let_go: Arc::clone(&self.let_go),
                };
                match room.join(member) {
                    Ok(()) => {
                        self.name = Some(name);
                        Ok(())
                    }
                    Err(why) => self.refuse(&why),
                }
            }
            (FromMember::Join { .. }, Some(_)) => self.refuse("you have already joined"),
            (FromMember::Say { text }, Some(name)) => {
                let length = text.chars().count();
                if length == 0 || length > MAX_TEXT_CHARS {
                    return self.refuse(&format!(
                        "a message has 1 to {MAX_TEXT_CHARS} characters, not {length}"
                    ));
                }
                if let Err(why) = check_text(&text) {
                    return self.refuse(&why);
                }
                room.say(name, &text);
                // Read this member's next message only once the room has
                // taken this one in.
                room.wait_while_backed_up();
                Ok(())
            }
            (FromMember::Say { .. }, None) => {
                self.refuse("join with a name before saying anything")
            }
        }
    }

    /// Leaves the room and waits for the writer to finish.
    pub fn leave(mut self, room: &Room) {
        room.leave(self.id);
        self.queue.close();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Where the conversation's own frames (pongs, close replies) go: the same
/// queue as chat messages, so frames never interleave on the socket.
pub struct QueueOutbox {
    queue: Arc<Mailbox>,
    let_go: Farewell,
    /// The idle timeout, counted in wake-ups (`Duration::MAX`: none).
    idle_timeout: Duration,
    /// The close the room asked for has been handed to the conversation.
    closing: bool,
}

impl Outbox for QueueOutbox {
    fn close_requested(&mut self) -> Option<(CloseCode, &'static str)> {
        let reason = *self.let_go.get()?;
        if std::mem::replace(&mut self.closing, true) {
            return None;
        }
        Some((CloseCode::POLICY_VIOLATION, reason))
    }

    fn idle_timeout(&self) -> Option<Duration> {
        Some(self.idle_timeout)
    }

    fn send(&mut self, outgoing: &OutgoingFrame) -> Result<(), Error> {
        let mut bytes = frame::encode_header(&FrameHeader {
            fin: true,
            rsv: conversation::rsv_of(outgoing),
            opcode: outgoing.opcode,
            mask: None,
            payload_len: outgoing.payload.len() as u64,
        });
        bytes.extend_from_slice(&outgoing.payload);
        let encoded: Encoded = bytes.into();
        self.queue.send(encoded, outgoing.opcode == Opcode::Close)
    }
}

/// The error for sending to a member whose queue is already closed.
fn member_gone() -> Error {
    Error::Io(std::io::ErrorKind::BrokenPipe.into())
}

/// The writer thread: empties the queue onto the socket until the queue is
/// closed or the socket fails. Whatever has queued up goes out in one
/// write, not one write per frame: a writer that falls behind catches up
/// in fewer, larger writes.
///
/// A write that fails (the write timeout, for a member who stopped
/// reading or reads too slowly; a reset) ends the connection: nothing can
/// reach the member any more, so its socket is shut down, its own thread's
/// next read ends, and it leaves the room the usual way. Otherwise a member
/// who keeps talking would stay in the room for ever, hearing nothing. A
/// timeout is told in the log, under connection `id`; a connection that
/// is gone already is no news.
fn write_frames(id: u64, mut socket: Socket, frames: Arc<Mailbox>) {
    let mut batch = Vec::new();
    while let Some(queued) = frames.take_all() {
        batch.clear();
        for frame in &queued {
            batch.extend_from_slice(frame);
        }
        if let Err(error) = socket.write_all(&batch) {
            if is_timeout(&error) {
                narrate::set_connection(id);
                narrate::problem(Error::from(error));
            }
            let _ = socket.shutdown(std::net::Shutdown::Both);
            break;
        }
    }
    // Nothing more will be sent: senders must not wait for room.
    frames.close();
}

/// Names: 1 to 20 ASCII letters, digits, spaces, '-' or '_', no two
/// spaces in a row.
///
/// A name is how members know who said what, so it must not be able to
/// pass for another. Unicode has many letters that look like ASCII ones
/// (Cyrillic `О` and Latin `O`, fullwidth `ｏ`, mathematical `𝐨`), and
/// invisible characters that change how text around them is shown; a
/// small alphabet rules them all out, and names that differ only in case
/// count as the same name (`Room::join`).
pub fn check_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME_CHARS {
        return Err(format!(
            "a name has 1 to {MAX_NAME_CHARS} characters, not {length}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_')))
    {
        return Err(format!(
            "a name has ASCII letters, digits, spaces, '-' and '_' only, not {bad:?} \
             (U+{:04X}): other letters can look like these and pass for someone else",
            bad as u32
        ));
    }
    if name.contains("  ") {
        return Err("a name has no two spaces in a row".to_string());
    }
    Ok(())
}

/// `text` with what could fake the log's layout (control and invisible
/// formatting characters, as [`check_text`] refuses) written as escapes:
/// a reason may quote what a member sent, as JSON errors do.
fn escaped_for_log(text: &str) -> String {
    narrate::escaped_where(text, is_deceptive)
}

/// Messages: no control characters and no invisible formatting ones.
///
/// A right-to-left override (U+202E) makes `abc\u{202E}gnp.exe` show as
/// "abcexe.png"; other format characters are invisible, and control
/// characters (a newline, say) can fake the layout of the chat. The
/// joiners U+200C and U+200D stay allowed: scripts and emoji need them.
pub fn check_text(text: &str) -> Result<(), String> {
    match text.chars().find(|&c| is_deceptive(c)) {
        Some(bad) => Err(format!(
            "a message may not hold U+{:04X}, a control or invisible formatting character",
            bad as u32
        )),
        None => Ok(()),
    }
}

/// Control characters (Unicode's Cc), line and paragraph separators, and
/// format characters (Cf) other than the two joiners.
fn is_deceptive(c: char) -> bool {
    c.is_control() || narrate::is_invisible_format(c)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::wire::FromRoom;
    use super::{
        Elsewhere, Encoded, Farewell, Mailbox, Member, Room, check_name, check_text, origin,
    };

    /// The part of the room elsewhere, as a test sets it: who is listed
    /// there right now.
    #[derive(Default)]
    struct Listed(Mutex<Vec<String>>);

    impl Listed {
        fn set(&self, names: &[&str]) {
            *self.0.lock().unwrap() = names.iter().map(|name| name.to_string()).collect();
        }
    }

    impl Elsewhere for Listed {
        fn claim(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn names(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
        fn lists(&self, name: &str) -> bool {
            self.0.lock().unwrap().iter().any(|other| other == name)
        }
        fn joined(&self, _: &str) {}
        fn said(&self, _: &str, _: &str) {}
        fn left(&self, _: &str) {}
    }

    fn room_with_elsewhere() -> (Room, Arc<Listed>) {
        let room = Room::new();
        let listed = Arc::new(Listed::default());
        room.reach_elsewhere(Arc::clone(&listed) as Arc<dyn Elsewhere>);
        (room, listed)
    }

    /// Joins `name` with a queue of `capacity` frames; returns the queue.
    fn join(room: &Room, id: u64, name: &str, capacity: usize) -> Arc<Mailbox> {
        let queue = Mailbox::new(capacity);
        let member = Member {
            id,
            name: name.to_string(),
            queue: Arc::clone(&queue),
            let_go: Farewell::default(),
        };
        assert_eq!(room.join(member), Ok(()));
        queue
    }

    /// What waits in `queue`, read back.
    fn told(queue: &Mailbox) -> Vec<FromRoom> {
        let frames = std::mem::take(&mut queue.mail().frames);
        frames
            .iter()
            .map(|frame| {
                // Short text frames, unmasked: two bytes of header.
                assert!(frame[1] < 126);
                serde_json::from_slice(&frame[2..]).unwrap()
            })
            .collect()
    }

    /// Who is in the room as a member sees it, from its welcome and the
    /// joins and leaves after it; fails on a join of someone already
    /// there, or a leave of someone not there.
    fn view(told: &[FromRoom]) -> Vec<String> {
        let mut view = Vec::new();
        for event in told {
            match event {
                FromRoom::Welcome { members, .. } => view = members.clone(),
                FromRoom::Joined { name } => {
                    assert!(!view.contains(name), "{name} joined twice: {told:?}");
                    view.push(name.clone());
                }
                FromRoom::Left { name } => {
                    assert!(view.contains(name), "{name} left, never there: {told:?}");
                    view.retain(|other| other != name);
                }
                _ => {}
            }
        }
        view
    }

    #[test]
    fn a_newcomer_hears_of_a_change_elsewhere_once_whenever_it_joins() {
        let (room, listed) = room_with_elsewhere();
        let ada = join(&room, 1, "Ada", 16);
        // Carol joins elsewhere: the presence lists her at once, and the
        // room is told a moment later (the subscriber's thread logs in
        // between). Bob joins in that moment.
        listed.set(&["Carol"]);
        let bob = join(&room, 2, "Bob", 16);
        room.relay(&FromRoom::Joined {
            name: "Carol".into(),
        });
        // And Carol leaves, while Cy joins.
        listed.set(&[]);
        let cy = join(&room, 3, "Cy", 16);
        room.relay(&FromRoom::Left {
            name: "Carol".into(),
        });
        assert_eq!(view(&told(&ada)), ["Ada", "Bob", "Cy"]);
        assert_eq!(view(&told(&bob)), ["Ada", "Bob", "Cy"]);
        assert_eq!(view(&told(&cy)), ["Ada", "Bob", "Cy"]);
    }

    #[test]
    fn a_member_dropped_for_being_slow_is_not_said_to_leave_while_its_name_is_elsewhere() {
        let (room, listed) = room_with_elsewhere();
        let bob = join(&room, 1, "Bob", 16);
        // A queue of one frame: full with its welcome.
        let _ada = join(&room, 2, "Ada", 1);
        // After a conflict between servers, another server lists an Ada too.
        listed.set(&["Ada"]);
        room.say("Bob", "hello");
        assert_eq!(room.names_here(), ["Bob"], "Ada dropped");
        let bob_told = told(&bob);
        assert!(
            !bob_told.contains(&FromRoom::Left { name: "Ada".into() }),
            "{bob_told:?}"
        );
        // Leaving the usual way says the same.
        let _dee = join(&room, 3, "Dee", 16);
        listed.set(&["Ada", "Dee"]);
        room.leave(3);
        let bob_told = told(&bob);
        assert!(
            !bob_told.contains(&FromRoom::Left { name: "Dee".into() }),
            "{bob_told:?}"
        );
    }

    #[test]
    fn letting_a_member_go_keeps_the_close_frame_it_has_queued() {
        let mailbox = Mailbox::new(8);
        let frame = |byte: u8| -> Encoded { vec![byte].into() };
        mailbox.offer(frame(1)).ok();
        mailbox.offer(frame(2)).ok();
        mailbox.send(frame(0x88), true).ok();
        mailbox.discard_pending();
        mailbox.close();
        assert_eq!(mailbox.take_all(), Some(vec![frame(0x88)]));
        // Not sealed: everything goes, the close frame comes later.
        let mailbox = Mailbox::new(8);
        mailbox.offer(frame(1)).ok();
        mailbox.discard_pending();
        mailbox.close();
        assert_eq!(mailbox.take_all(), None);
    }

    #[test]
    fn origins_are_what_a_browser_sends() {
        for right in [
            "https://chat.example.com",
            "http://localhost:3000",
            "http://[::1]:8080",
            "http://[::1]",
            " https://friend.example ",
        ] {
            assert_eq!(origin(right).as_deref(), Ok(right.trim()), "{right}");
        }
        for wrong in [
            "https://a.example/",
            "a.example",
            "://a.example",
            "https://a.example:99999",
        ] {
            assert!(origin(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("Ada Lovelace"), Ok(()));
        assert_eq!(check_name("Zoe_2-b"), Ok(()));
        for bad in [
            "",
            "<script>",
            "a".repeat(21).as_str(),
            "semi;colon",
            "Zoë",
            "\u{41E}bserver",
            "ｏｂｓｅｒｖｅｒ",
            "𝐨𝐛𝐬𝐞𝐫𝐯𝐞𝐫",
            "Ada  Lovelace",
            "Ada\u{202E}",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    /// Every character of `text` as JSON `\u` escapes, surrogate pairs
    /// for those outside the Basic Multilingual Plane: the longest way to
    /// write it.
    fn escaped(text: &str) -> String {
        text.encode_utf16()
            .map(|unit| format!("\\u{unit:04x}"))
            .collect()
    }

    #[test]
    fn the_longest_message_the_rules_allow_fits_the_frame_limit_however_escaped() {
        use super::wire::FromMember;
        use super::{DEFAULT_MAX_MESSAGE_SIZE, MAX_TEXT_CHARS};
        let text = "😀".repeat(MAX_TEXT_CHARS);
        // Even the keys and the type escaped, as JSON allows.
        let frame = format!(
            "{{ \"{}\" : \"{}\" , \"{}\" : \"{}\" }}",
            escaped("type"),
            escaped("say"),
            escaped("text"),
            escaped(&text)
        );
        assert!(
            frame.len() as u64 <= DEFAULT_MAX_MESSAGE_SIZE,
            "{} bytes",
            frame.len()
        );
        assert_eq!(
            FromMember::parse(&frame),
            Ok(FromMember::Say { text: text.clone() })
        );
        assert_eq!(check_text(&text), Ok(()));
    }

    #[test]
    fn texts_that_deceive_are_refused() {
        assert_eq!(check_text("café 😀 👨\u{200D}👩\u{200D}👧 שלום"), Ok(()));
        for bad in [
            "abc\u{202E}gnp.exe",
            "a\u{2066}b",
            "line\nbreak",
            "zero\u{200B}width",
            "\u{E0041}hidden",
        ] {
            assert!(check_text(bad).is_err(), "{bad:?}");
        }
    }
}
