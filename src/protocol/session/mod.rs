//! A WebSocket conversation as a state machine, without any I/O: RFC 6455
//! §5 (framing, masking), §5.4 (fragments), §5.5 (control frames), §7
//! (closing) and §8.1 (UTF-8).
//!
//! The life cycle of a [`Session`], after the handshake, in a dozen lines:
//!
//! 1. **Made** for a role: [`Session::new`] for a server (unmasks, refuses
//!    unmasked frames), [`Session::client`] for a client (masks, refuses
//!    masked frames), §5.1.
//! 2. **Bytes in** through [`Session::receive`] (faster: [`Session::buffer`]
//!    then [`Session::filled`]); the driver adds [`Session::end_of_stream`]
//!    and [`Session::timed_out`].
//! 3. **Events out** of [`Session::next_event`], the one channel: messages,
//!    pings, pongs, failures ([`Event::Failed`]), hang-ups, timeouts.
//! 4. **Frames out** of [`Session::take_outgoing`]: what [`Session::send`]
//!    queued and the replies the protocol demands.
//! 5. **Closing**: [`Session::close`] (answered: [`Event::CloseAnswered`]),
//!    or the peer's; once [`Session::is_finished`] and every event is
//!    out, flush, then close TCP.
//!
//! Chapters 5–9 each read from the socket themselves, blocking where they
//! wait, because that is the clearest way to see the protocol. Chapter 10
//! moves the same rules here. Whoever drives a session decides how bytes
//! arrive and leave — a thread blocking on one socket (chapters 10, 11,
//! 12 and 14), an event loop juggling thousands, our client, or a test
//! feeding byte vectors. This is the style Python's `wsproto` and `h11` call
//! "sans-IO".
//!
//! [`Session::buffer`] is the faster way in: while a long payload is
//! arriving, that buffer is the message itself, so megabytes go from the
//! socket to their final place with no copy in between. What only a tuned
//! event loop needs (chapter 15: one vectored read into two places,
//! payloads recycled, idle memory given back) is in [`tuning`], out of the
//! way of chapters 10–14.
//!
//! With permessage-deflate agreed in the handshake (chapter 12,
//! [`Session::with_deflate`]), RSV1 on a message's first frame means its
//! payload is compressed (RFC 7692 §6): the session inflates each frame as
//! it completes, counting what it inflates against the size limit as it
//! grows, and compresses what it is asked to send. Without the agreement,
//! RSV1 stays what it always was: a protocol error.
//!
//! A reply the protocol demands (a pong, the answer to a close, the close
//! that fails a connection) is queued when its event is handed out by
//! [`Session::next_event`], not when its frame arrived, so it leaves in
//! order with whatever the application sent in answer to earlier events.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::close::{self, CloseCode, CloseFrame};
use crate::protocol::control;
use crate::protocol::deflate::{self, InflateError, PerMessageDeflate};
use crate::protocol::extension::DeflateAgreement;
use crate::protocol::frame::{self, FrameError, FrameHeader, Opcode};
use crate::protocol::mask;
use crate::protocol::message::{Assembler, Message};
use crate::protocol::utf8::Utf8Stream;
use crate::protocol::violation::Violation;

pub mod tuning;

/// Room for frame headers and short payloads between reads. Long payloads
/// bypass it and are read straight into their message.
const INBOX_SIZE: usize = 8 * 1024;
/// A payload with at least this much still to come is read straight into
/// its message rather than through the inbox.
const DIRECT_READ_MIN: u64 = INBOX_SIZE as u64 / 2;
/// The first room a payload gets, and the smallest step its message grows
/// by. Not smaller: a connection's first long message, read in many small
/// steps, set a slow pace for the rest of it, two wake-ups per message
/// instead of one (`BENCH_ONLY='1 MiB echo' BENCH_ROUNDS=30 cargo bench
/// --bench echo`: 6 of 30 fresh connections slow with 64 KiB, 1 with
/// 256 KiB, 2 for fastwebsockets). What a header alone can claim is still
/// bounded, by the budget and the frame timeout.
const FIRST_ROOM: u64 = 256 * 1024;
/// The largest step a message grows by: it is never more than this ahead
/// of the bytes that arrived. Not smaller: each step may move the message
/// (the allocator copies it elsewhere when it cannot grow in place), and
/// the room a move leaves behind stays with the allocator while the load
/// lasts. With 1 MiB steps, a 16 MiB message grew 19 times; with 4 MiB
/// steps, 9. Chapter 10 under 100 clients trickling 8 MiB + 64 KiB of a
/// 16 MiB frame then peaked at 290–325 MiB for its 256 MiB budget, now
/// 271–303 MiB, and 100 clients each sending 16 MiB − 64 KiB left 35–48
/// MiB behind, now 15–23 (`cargo bench --bench load -- tricklers memory`,
/// three runs each).
const LARGEST_STEP: usize = 4 * 1024 * 1024;

/// How many events, or frames to send, a session keeps room for once
/// they are handed out. A read of many tiny frames (a burst of pings)
/// queues thousands; kept, that room would stay with the connection for
/// as long as it lives, idle or not.
const KEPT_QUEUE: usize = 64;

/// How far ahead of its `length` bytes a message may be given room: as
/// much as it holds, from 256 KiB to 4 MiB. Doubling keeps copies few;
/// the 4 MiB bound keeps memory following what arrived, not what a
/// header claims.
fn step(length: usize) -> usize {
    length.clamp(FIRST_ROOM as usize, LARGEST_STEP)
}

/// A budget of message bytes shared by many sessions: the memory all the
/// messages being received may hold at once, across connections.
///
/// One connection's `--max-message-size` bounds one message; a hundred
/// connections each sending one just under it would still add up. Each
/// session takes from the budget as its message grows and gives back
/// once the message handed out has been dealt with, at the session's next
/// read (or when the session ends); a message that
/// would go over it fails its connection with 1013, "try again later",
/// while the others go on.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// Takes `bytes`, unless that would go over the limit.
    fn take(&self, bytes: u64) -> bool {
        self.take_up_to(bytes, self.limit)
    }

    /// Takes `bytes` for a spare buffer: only while the budget stays at
    /// most half used, so that spares never crowd out messages.
    fn take_for_spare(&self, bytes: u64) -> bool {
        self.take_up_to(bytes, self.limit / 2)
    }

    /// Takes `bytes`, unless that would bring the bytes taken over `ceiling`.
    fn take_up_to(&self, bytes: u64, ceiling: u64) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= ceiling)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes taken now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// What the peer did, in the order it did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A data frame's header (text, binary or continuation) arrived; its
    /// payload follows.
    DataFrame(FrameHeader),
    /// A complete message, its text already checked for UTF-8.
    Message(Message),
    /// A ping, answered with a pong as this event is handed out.
    /// `between_fragments` tells how many frames of which message had
    /// arrived when it came.
    Ping {
        payload: Vec<u8>,
        between_fragments: Option<(usize, Opcode)>,
    },
    /// A pong: the answer to our ping, or one nobody asked for.
    Pong {
        payload: Vec<u8>,
        answers_ours: bool,
    },
    /// The peer started the closing handshake; our answering close frame is
    /// queued as this event is handed out, and the conversation is over.
    CloseReceived(CloseFrame),
    /// The peer answered the close we started ([`Session::close`]): the
    /// closing handshake is complete, and the conversation is over.
    CloseAnswered(CloseFrame),
    /// Nothing arrived for a while: a ping is queued to ask whether the
    /// peer is still there.
    IdlePing,
    /// We fail the connection (§7.1.7): a close frame with `code` is
    /// queued as this event is handed out (unless ours went already), and
    /// nothing more is read.
    Failed { code: CloseCode, reason: String },
    /// The peer ended its stream between frames, without a closing
    /// handshake (1006): impolite, and a message whose last fragment had
    /// not come yet is lost with it.
    HungUp,
    /// The conversation is given up with no close frame: a frame was cut
    /// short or stalled, or our close was never answered.
    Dropped(Dropped),
}

/// Why a conversation was given up without a close frame: any close frame
/// would wait behind bytes that will never come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The peer ended its stream partway through a frame.
    Truncated { expected: u64, received: u64 },
    /// Nothing arrived for the idle timeout partway through a frame.
    Stalled { received: u64 },
    /// Nothing arrived for the idle timeout after our close frame.
    CloseUnanswered,
}

impl From<Dropped> for FrameError {
    fn from(dropped: Dropped) -> FrameError {
        match dropped {
            Dropped::Truncated { expected, received } => {
                FrameError::Truncated { expected, received }
            }
            Dropped::Stalled { received } => FrameError::Stalled { received },
            Dropped::CloseUnanswered => FrameError::TimedOut,
        }
    }
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dropped::CloseUnanswered => write!(f, "the peer never answered our close frame"),
            other => FrameError::from(*other).fmt(f),
        }
    }
}

/// What ran out of time, for [`Session::timed_out`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timeout {
    /// Nothing arrived for the idle timeout.
    Idle,
    /// The frame in progress moved too little in `seconds`.
    FrameStalled { seconds: f64 },
}

/// Which end of the connection a session speaks for: it decides which
/// frames are masked (RFC 6455 §5.1, §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Unmasks what arrives, refuses unmasked frames, sends unmasked.
    Server,
    /// Refuses masked frames and masks what it sends: with `mask` when
    /// given (to reproduce recorded bytes), else a fresh key per frame.
    Client { mask: Option<[u8; 4]> },
}

/// A frame the session wants sent, one whole frame (FIN set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFrame {
    pub opcode: Opcode,
    /// The payload as it should read once unmasked.
    pub payload: Vec<u8>,
    /// The payload is compressed: the frame goes out with RSV1 set.
    pub compressed: bool,
    /// The key a client masks it with; `None` from a server.
    pub mask: Option<[u8; 4]>,
}

impl OutgoingFrame {
    /// The frame as it goes on the wire: header, then the payload,
    /// masked if a key is set.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = frame::encode_header(&FrameHeader {
            fin: true,
            rsv: if self.compressed { RSV1 } else { 0 },
            opcode: self.opcode,
            mask: self.mask,
            payload_len: self.payload.len() as u64,
        });
        let start = bytes.len();
        bytes.extend_from_slice(&self.payload);
        if let Some(key) = self.mask {
            mask::apply(key, &mut bytes[start..]);
        }
        bytes
    }
}

/// Whether payload bytes in place still carry the client's mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Masked {
    Yes,
    /// Unmasked already, as they were copied out of the inbox.
    No,
}

/// RSV1, the bit permessage-deflate gives a meaning (RFC 7692 §6), as
/// [`FrameHeader::rsv`] holds it.
pub const RSV1: u8 = 0b100;

/// A compressed message being inflated, frame by frame.
#[derive(Debug, Default)]
struct Inflating {
    inflated: Vec<u8>,
    /// Compressed bytes so far, as they came on the wire.
    compressed_len: u64,
}

/// The frame whose header has arrived and whose payload has not, all of it.
#[derive(Debug)]
struct FrameInProgress {
    header: FrameHeader,
    received: u64,
    /// A control frame's payload (at most 125 bytes) gathers here; a data
    /// frame's goes straight onto its message.
    control_payload: Vec<u8>,
    /// How long the message was when this frame began: the frame's payload
    /// starts there.
    message_start: usize,
}

impl FrameInProgress {
    fn remaining(&self) -> u64 {
        self.header.payload_len - self.received
    }
}

/// One end of a conversation, after the handshake.
#[derive(Debug)]
pub struct Session {
    role: Role,
    max_message_size: u64,
    /// Bytes read but not yet taken apart: `inbox[..inbox_len]`. Empty
    /// until the first read asks for it, and again after
    /// [`tuning::Tuning::release_idle_memory`].
    inbox: Box<[u8]>,
    inbox_len: usize,
    /// Bytes of room at the end of the message's own vector, past what has
    /// arrived: the vector holds the message and then `room` bytes that
    /// the next payload bytes overwrite. Long payloads are read straight
    /// into it.
    room: usize,
    /// How much of the room the last [`Session::buffer`] or
    /// [`tuning::Tuning::buffers`] offered: the first bytes read go there.
    room_offered: usize,
    /// A payload the application has sent and handed back
    /// ([`tuning::Tuning::recycle`]): the next long message is received into it.
    spare: Option<Vec<u8>>,
    /// What the spare takes from the budget.
    spare_charged: u64,
    frame: Option<FrameInProgress>,
    assembler: Assembler,
    text: Utf8Stream,
    /// The payload of the ping we sent and whose pong we await.
    ping_sent: Option<Vec<u8>>,
    events: VecDeque<Event>,
    outgoing: Vec<OutgoingFrame>,
    /// A close frame has been received or a failure decided: read no more.
    finished: bool,
    /// Our close frame is queued: send nothing after it (§5.5.1).
    close_queued: bool,
    /// permessage-deflate, when the handshake agreed on it.
    deflate: Option<PerMessageDeflate>,
    /// Set while the message in progress is a compressed one.
    inflating: Option<Inflating>,
    /// The budget the message's memory is taken from, if any, and how much
    /// this session has taken.
    budget: Option<Arc<Budget>>,
    charged: u64,
    /// What the messages made since the last read took: given back at the
    /// next read, once whoever took them (an echo, say) is done with them.
    handed_out: u64,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.release_budget();
    }
}

impl Session {
    /// A server's session, accepting messages of up to `max_message_size`
    /// bytes.
    pub fn new(max_message_size: u64) -> Session {
        Session::with_role(Role::Server, max_message_size)
    }

    /// A client's session: it masks every frame it sends, with `mask` if
    /// given (to reproduce the article's bytes), else with a fresh random
    /// key per frame, and refuses masked frames.
    pub fn client(max_message_size: u64, mask: Option<[u8; 4]>) -> Session {
        Session::with_role(Role::Client { mask }, max_message_size)
    }

    fn with_role(role: Role, max_message_size: u64) -> Session {
        Session {
            role,
            max_message_size,
            inbox: Box::default(),
            inbox_len: 0,
            room: 0,
            room_offered: 0,
            spare: None,
            spare_charged: 0,
            frame: None,
            assembler: Assembler::new(),
            text: Utf8Stream::new(),
            ping_sent: None,
            events: VecDeque::new(),
            outgoing: Vec::new(),
            finished: false,
            close_queued: false,
            deflate: None,
            inflating: None,
            budget: None,
            charged: 0,
            handed_out: 0,
        }
    }

    /// The same session, taking its message's memory from `budget`.
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Session {
        self.budget = Some(budget);
        self
    }

    /// Gives back to the budget what the message took, and what the last
    /// one handed out took.
    fn release_budget(&mut self) {
        self.release_spare();
        if let Some(budget) = &self.budget {
            budget.give_back(self.charged + self.handed_out);
        }
        self.charged = 0;
        self.handed_out = 0;
    }

    /// Lets the spare go, and what it took from the budget.
    fn release_spare(&mut self) {
        self.spare = None;
        if let Some(budget) = &self.budget {
            budget.give_back(self.spare_charged);
        }
        self.spare_charged = 0;
    }

    /// Gives the budget back what the last message handed out took: whoever
    /// took it is done with it.
    fn release_handed_out(&mut self) {
        if self.handed_out > 0 {
            if let Some(budget) = &self.budget {
                budget.give_back(self.handed_out);
            }
            self.handed_out = 0;
        }
    }

    /// The message's vector without its room: just the bytes that arrived.
    fn trim_room(&mut self) {
        if self.room > 0
            && let Some(message) = self.assembler.payload_mut()
        {
            message.truncate(message.len() - self.room);
        }
        self.room = 0;
    }

    /// Makes room in the message for `additional` more bytes, and up to
    /// `ahead` bytes beyond them (no more than a [`step`], nor past the
    /// largest message the session accepts), taking the
    /// memory from the budget. False if the budget refused: the session
    /// has failed with 1013.
    fn grow_message(&mut self, additional: usize, ahead: usize) -> bool {
        let Some(message) = self.assembler.payload_mut() else {
            return true;
        };
        let length = message.len() - self.room;
        let needed = length + additional;
        let capacity = message.capacity();
        if needed <= capacity {
            return true;
        }
        // Never room past the largest message the session accepts: the
        // header checks have made sure `needed` is within it.
        let most = self.max_message_size.saturating_sub(needed as u64);
        let ahead = ahead.min(most.min(usize::MAX as u64) as usize);
        let target = needed + ahead.min(step(length).saturating_sub(additional));
        let more = (target - capacity) as u64;
        if let Some(budget) = &self.budget
            && !budget.take(more)
        {
            return self.budget_refused();
        }
        message.reserve_exact(target - message.len());
        let grown = (message.capacity() - capacity) as u64;
        // The allocator may round up: account for what it really gave.
        if let Some(budget) = &self.budget {
            if grown > more {
                budget.used.fetch_add(grown - more, Ordering::Relaxed);
            } else {
                budget.give_back(more - grown);
            }
        }
        self.charged += grown;
        true
    }

    /// Whether the peer is partway through a frame.
    pub fn is_mid_frame(&self) -> bool {
        self.bytes_into_frame().is_some()
    }

    /// The same session, speaking permessage-deflate as `agreement` says
    /// (RFC 7692). The agreement is written from the server's side; a
    /// client compresses with what it says of the client, and inflates
    /// with what it says of the server.
    pub fn with_deflate(mut self, agreement: DeflateAgreement) -> Session {
        let ours = match self.role {
            Role::Server => agreement,
            Role::Client { .. } => DeflateAgreement {
                server_no_context_takeover: agreement.client_no_context_takeover,
                client_no_context_takeover: agreement.server_no_context_takeover,
                server_max_window_bits: agreement.client_max_window_bits.unwrap_or(15),
                client_max_window_bits: Some(agreement.server_max_window_bits),
                ..agreement
            },
        };
        self.deflate = Some(PerMessageDeflate::new(ours));
        self
    }

    /// Whether the conversation is over: nothing more is read. Once every
    /// event has been handed out (which queues the last replies, the
    /// answering close among them) and the outgoing frames are sent, the
    /// connection can be closed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Takes in bytes from the peer, as many as there are.
    ///
    /// Whoever calls this holds the bytes in a buffer of its own, so the
    /// session takes them apart where they are, and keeps none between
    /// calls unless a header stops short: a connection with nothing
    /// arriving then costs no read buffer (chapter 13 holds thousands of
    /// them), and a read costs none either.
    pub fn receive(&mut self, mut bytes: &[u8]) {
        // A new read: whoever took the last messages is done with them.
        self.release_handed_out();
        while !bytes.is_empty() && !self.finished {
            // Nothing left over from before: the bytes are taken apart
            // where they are, and only a piece of a header that stops
            // short is kept, below.
            if self.inbox_len == 0 {
                let taken = self.take_apart(bytes);
                bytes = &bytes[taken..];
                if bytes.is_empty() || self.finished {
                    break;
                }
            }
            // The messages this read made are not handed out yet: they keep
            // their share through `buffer`, which gives back a read's before.
            let made_now = std::mem::take(&mut self.handed_out);
            let room = self.buffer();
            let count = room.len().min(bytes.len());
            room[..count].copy_from_slice(&bytes[..count]);
            self.filled(count);
            self.handed_out += made_now;
            bytes = &bytes[count..];
        }
        if self.inbox_len == 0 {
            self.inbox = Box::default();
        }
    }

    /// Where the next bytes from the peer should be read into.
    ///
    /// Usually the free end of a small inbox. While the rest of a long data
    /// payload is due, it is the free room at the end of the message
    /// itself, never more than the payload still needs, so the read cannot
    /// take in the next frame's bytes.
    pub fn buffer(&mut self) -> &mut [u8] {
        let [room, inbox] = self.places();
        if room.is_empty() { inbox } else { room }
    }

    /// The places [`Session::buffer`] chooses from: the room for the rest
    /// of a long payload (empty if none is due), then the inbox for what
    /// follows it (empty while the room stops short of the payload's end).
    fn places(&mut self) -> [&mut [u8]; 2] {
        let (offered, to_the_end) = self.offer_room();
        // Past a room that stops short of the payload's end comes more
        // payload, for the next room: the inbox is only for what follows
        // the payload.
        let inbox: &mut [u8] = if offered == 0 || to_the_end {
            if self.inbox.is_empty() {
                self.inbox = vec![0; INBOX_SIZE].into_boxed_slice();
            }
            &mut self.inbox[self.inbox_len..]
        } else {
            &mut []
        };
        let room = match self.assembler.payload_mut() {
            Some(message) => {
                let start = message.len() - self.room;
                &mut message[start..start + offered]
            }
            None => &mut [],
        };
        [room, inbox]
    }

    /// Makes room in the message for the payload that is due, if a long one
    /// is, and says how much of it the next read may fill, and whether that
    /// reaches the payload's end.
    fn offer_room(&mut self) -> (usize, bool) {
        // Whoever took the last message has had it: its memory is theirs
        // to free, and leaves the budget.
        self.release_handed_out();
        self.room_offered = 0;
        let payload_due = match &self.frame {
            // Once the session is finished, the frame it was reading is
            // let go of (`end`): no room is made for the rest of it, and
            // nothing more is taken from the budget.
            Some(_) if self.finished => 0,
            Some(frame) if self.inbox_len == 0 && !frame.header.opcode.is_control() => {
                frame.remaining()
            }
            _ => 0,
        };
        if self.room == 0
            && payload_due >= DIRECT_READ_MIN
            && let Some(message) = self.assembler.payload_mut()
        {
            // Room for the next step, never past the payload's end: memory
            // follows what arrives, not what a header claims.
            let more = (step(message.len()) as u64).min(payload_due) as usize;
            if self.grow_message(more, 0)
                && let Some(message) = self.assembler.payload_mut()
            {
                message.resize(message.len() + more, 0);
                self.room = more;
            }
        }
        // Never past the payload's end, so the bytes after it go to the
        // inbox.
        self.room_offered = (self.room as u64).min(payload_due) as usize;
        (self.room_offered, self.room_offered as u64 == payload_due)
    }

    /// `count` bytes were read into [`Session::buffer`] (or, in order,
    /// into both of [`tuning::Tuning::buffers`]): takes them apart.
    pub fn filled(&mut self, count: usize) {
        let offered = std::mem::take(&mut self.room_offered);
        if self.finished || count == 0 {
            return;
        }
        // The first bytes landed in the message's room; what did not
        // arrive stays room for the next read.
        let into_room = count.min(offered);
        if into_room > 0 {
            self.room -= into_room;
            self.payload_arrived(into_room, Masked::Yes);
        }
        let into_inbox = (count - into_room).min(self.inbox.len() - self.inbox_len);
        if into_inbox > 0 && !self.finished {
            self.inbox_len += into_inbox;
            self.take_apart_inbox();
        }
    }

    /// Takes headers and payload bytes out of the inbox, as far as they go.
    fn take_apart_inbox(&mut self) {
        let inbox = std::mem::take(&mut self.inbox);
        let taken = self.take_apart(&inbox[..self.inbox_len]);
        self.inbox = inbox;
        self.inbox.copy_within(taken..self.inbox_len, 0);
        self.inbox_len -= taken;
    }

    /// Takes headers and payload bytes out of `bytes`, as far as they go,
    /// and says how many it took: what is left is the start of a header.
    fn take_apart(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        while !self.finished && taken < bytes.len() {
            let available = &bytes[taken..];
            match &self.frame {
                None => {
                    let Some(&[first, second]) = available.first_chunk::<2>() else {
                        break;
                    };
                    let length = frame::header_len([first, second]);
                    if available.len() < length {
                        break;
                    }
                    let header = frame::parse_header(&available[..length]);
                    taken += length;
                    match header {
                        Ok(header) => self.frame_begins(header),
                        // Given a whole header, only its length can be
                        // wrong (§5.2): a protocol error.
                        Err(error) => self.fail(CloseCode::PROTOCOL_ERROR, error.to_string()),
                    }
                }
                Some(frame) => {
                    let count = frame.remaining().min(available.len() as u64) as usize;
                    self.payload_from(&available[..count]);
                    taken += count;
                }
            }
        }
        taken
    }

    /// A header has arrived: checks it against every rule a header alone
    /// can break, before a byte of its payload is accepted.
    fn frame_begins(&mut self, header: FrameHeader) {
        if let Err(violation) = self.check(&header) {
            self.fail(violation.close_code(), violation.to_string());
            return;
        }
        let mut message_start = 0;
        if !header.opcode.is_control() {
            if header.rsv == RSV1 {
                self.inflating = Some(Inflating::default());
            }
            self.events.push_back(Event::DataFrame(header.clone()));
            // `check` has already made sure the frame may come next.
            if let Ok(message) = self.assembler.begin_frame(&header) {
                message_start = message.len() - self.room;
                // A long message begins: received into the spare, if any.
                if message_start == 0
                    && header.rsv == 0
                    && header.payload_len >= DIRECT_READ_MIN
                    && let Some(spare) = self.spare.take()
                {
                    *message = spare;
                    self.room = message.len();
                    self.charged += self.spare_charged;
                    self.spare_charged = 0;
                }
                // Room for a short payload at once, so it is not copied
                // again as it grows; a long one earns its room as it comes.
                let room = header.payload_len.min(FIRST_ROOM) as usize;
                // A later fragment may get a step ahead, so that many small
                // fragments do not each grow the message.
                let ahead = if message_start > 0 { usize::MAX } else { 0 };
                if !self.grow_message(room, ahead) {
                    return;
                }
            }
        }
        let empty = header.payload_len == 0;
        self.frame = Some(FrameInProgress {
            header,
            received: 0,
            control_payload: Vec::new(),
            message_start,
        });
        // An empty payload is complete as soon as its header is.
        if empty {
            self.payload_arrived(0, Masked::Yes);
        }
    }

    fn check(&self, header: &FrameHeader) -> Result<(), Violation> {
        if header.rsv != 0 {
            // With permessage-deflate, RSV1 marks a message's first frame
            // as compressed, and may appear nowhere else: not on a
            // continuation, not on a control frame (RFC 7692 §6.1).
            let opens_message = matches!(header.opcode, Opcode::Text | Opcode::Binary);
            return match (header.rsv, &self.deflate) {
                (RSV1, Some(_)) if opens_message => Ok(()),
                (RSV1, Some(_)) => Err(Violation::CompressionBitMisplaced(header.opcode)),
                (_, Some(_)) => Err(Violation::ReservedBitsBesideDeflate(header.rsv)),
                (_, None) => Err(Violation::ReservedBits(header.rsv)),
            }
            .and_then(|()| self.check_unreserved(header));
        }
        self.check_unreserved(header)
    }

    fn check_unreserved(&self, header: &FrameHeader) -> Result<(), Violation> {
        if let Opcode::Reserved(bits) = header.opcode {
            return Err(Violation::ReservedOpcode(bits));
        }
        match (self.role, header.mask) {
            (Role::Server, None) => return Err(Violation::Unmasked),
            (Role::Client { .. }, Some(_)) => return Err(Violation::Masked),
            _ => {}
        }
        if header.opcode.is_control() {
            return control::check(header);
        }
        self.assembler.check(header)?;
        let size = self.assembler.buffered_len() - self.room as u64 + header.payload_len;
        // A compressed message's limit is on what it inflates to, checked
        // as it inflates. Its compressed bytes, in all its frames, have a
        // bound of their own, a little over the limit: incompressible data
        // grows a little when deflated, and must not be refused for it.
        let compressed_so_far = match (&self.inflating, header.opcode) {
            (Some(inflating), Opcode::Continuation) => Some(inflating.compressed_len),
            _ if header.rsv == RSV1 => Some(0),
            _ => None,
        };
        if let Some(before) = compressed_so_far {
            let size = before.saturating_add(size);
            let limit = self.max_message_size;
            let bound = deflate::compressed_bound(limit);
            if size > bound {
                return Err(Violation::CompressedTooBig { size, limit, bound });
            }
            return Ok(());
        }
        let limit = self.max_message_size;
        if size > limit {
            return Err(Violation::MessageTooBig { size, limit });
        }
        Ok(())
    }

    /// Copies a piece of the current payload to where it belongs. A data
    /// payload's bytes are unmasked as they are copied.
    fn payload_from(&mut self, piece: &[u8]) {
        let count = piece.len();
        let masked = match &mut self.frame {
            Some(frame) if frame.header.opcode.is_control() => {
                frame.control_payload.extend_from_slice(piece);
                Masked::Yes
            }
            Some(frame) => {
                let ahead = (frame.remaining() - count as u64).min(usize::MAX as u64) as usize;
                let key = frame.header.mask.unwrap_or_default();
                let offset = frame.received;
                // Into the room first, then onto the end of the vector.
                let into_room = count.min(self.room);
                if into_room > 0
                    && let Some(message) = self.assembler.payload_mut()
                {
                    let at = message.len() - self.room;
                    mask::copy_applying_from(
                        key,
                        &piece[..into_room],
                        &mut message[at..at + into_room],
                        offset,
                    );
                }
                self.room -= into_room;
                if !self.grow_message(count - into_room, ahead) {
                    return;
                }
                if let Some(message) = self.assembler.payload_mut() {
                    let at = message.len();
                    message.extend_from_slice(&piece[into_room..]);
                    mask::apply_from(key, &mut message[at..], offset + into_room as u64);
                }
                Masked::No
            }
            None => Masked::Yes,
        };
        self.payload_arrived(count, masked);
    }

    /// `count` more bytes of the current payload are in place, at its end:
    /// unmasks them, checks text as it arrives, and finishes the frame if
    /// it is complete.
    fn payload_arrived(&mut self, count: usize, masked: Masked) {
        let Some(frame) = &mut self.frame else {
            return;
        };
        let offset = frame.received;
        frame.received += count as u64;
        let key = frame.header.mask.unwrap_or_default();
        let complete = frame.remaining() == 0;
        if frame.header.opcode.is_control() {
            let payload = &mut frame.control_payload;
            let start = payload.len() - count;
            mask::apply_from(key, &mut payload[start..], offset);
        } else {
            let start = frame.message_start + offset as usize;
            // Compressed text is checked once inflated, in `frame_ends`.
            let is_text = self.assembler.in_progress().map(|message| message.opcode)
                == Some(Opcode::Text)
                && self.inflating.is_none();
            if let Some(message) = self.assembler.payload_mut() {
                let piece = &mut message[start..start + count];
                if masked == Masked::Yes {
                    mask::apply_from(key, piece, offset);
                }
                if is_text && let Err(violation) = self.text.feed(piece) {
                    self.fail(violation.close_code(), violation.to_string());
                    return;
                }
            }
        }
        if complete {
            self.frame_ends();
        }
    }

    fn frame_ends(&mut self) {
        let Some(frame) = self.frame.take() else {
            return;
        };
        let header = frame.header;
        if header.opcode.is_control() {
            self.control_frame(header.opcode, frame.control_payload);
            return;
        }
        if self.inflating.is_some() || header.fin {
            // The room is not the message's: it goes before the message is
            // inflated or handed out.
            self.trim_room();
        }
        if self.inflating.is_some() && !self.inflate_frame(header.fin) {
            return;
        }
        let Some(mut message) = self.assembler.end_frame(header.fin) else {
            return;
        };
        if let Some(inflating) = self.inflating.take() {
            message.payload = inflating.inflated;
            message.compressed_len = Some(inflating.compressed_len);
        }
        // The message leaves the session; its share of the budget leaves
        // at the next read, once the message has been dealt with (echoed).
        self.handed_out += self.charged;
        self.charged = 0;
        if message.opcode == Opcode::Text
            && let Err(violation) = self.text.finish()
        {
            self.fail(violation.close_code(), violation.to_string());
            return;
        }
        self.events.push_back(Event::Message(message));
    }

    /// Inflates the compressed frame that just ended (its bytes are the
    /// message in progress so far, which then holds nothing again), checks
    /// the text it yields, and says whether all went well.
    ///
    /// What the message holds from then on is its inflated bytes, so they
    /// are what it takes from the budget, as they grow: the compressed
    /// frame's share goes back once it is inflated.
    fn inflate_frame(&mut self, last: bool) -> bool {
        let (Some(deflate), Some(inflating), Some(message)) = (
            &mut self.deflate,
            &mut self.inflating,
            self.assembler.in_progress_mut(),
        ) else {
            return false;
        };
        let is_text = message.opcode == Opcode::Text;
        let compressed = std::mem::take(&mut message.payload);
        inflating.compressed_len += compressed.len() as u64;
        let start = inflating.inflated.len();
        // The inflated bytes take from the budget as they grow, while the
        // compressed ones still hold their share: both are in memory.
        let mut taken = 0;
        let budget = self.budget.as_deref();
        let mut may_grow = |more: usize| {
            let granted = budget.is_none_or(|budget| budget.take(more as u64));
            taken += if granted { more as u64 } else { 0 };
            granted
        };
        let limit = self.max_message_size;
        let outcome = deflate.inflate(
            &compressed,
            last,
            &mut inflating.inflated,
            limit,
            &mut may_grow,
        );
        self.charged += taken;
        let violation = match outcome {
            Err(InflateError::Refused) => return self.budget_refused(),
            Err(InflateError::TooBig { .. }) => Some(Violation::InflatesTooBig { limit }),
            Err(InflateError::Invalid(why)) => Some(Violation::BadCompressedData(why)),
            Ok(()) if is_text => self.text.feed(&inflating.inflated[start..]).err(),
            Ok(()) => None,
        };
        if let Some(violation) = violation {
            self.inflating = None;
            self.fail(violation.close_code(), violation.to_string());
            return false;
        }
        // The compressed bytes are gone: what the message holds now is
        // its inflated bytes.
        let holding = inflating.inflated.capacity() as u64;
        if let Some(budget) = &self.budget {
            if holding > self.charged && !budget.take(holding - self.charged) {
                return self.budget_refused();
            }
            budget.give_back(self.charged.saturating_sub(holding));
        }
        self.charged = holding;
        true
    }

    /// The shared budget has no room for what this message needs: the
    /// session fails with 1013, and says false.
    fn budget_refused(&mut self) -> bool {
        self.inflating = None;
        let limit = self.budget.as_ref().map_or(0, |budget| budget.limit);
        self.fail(
            CloseCode::TRY_AGAIN_LATER,
            format!(
                "the server is holding its limit of {limit} bytes of messages; try again later"
            ),
        );
        false
    }

    fn control_frame(&mut self, opcode: Opcode, payload: Vec<u8>) {
        match opcode {
            Opcode::Ping => {
                let between_fragments = self
                    .assembler
                    .in_progress()
                    .map(|message| (message.frames, message.opcode));
                self.events.push_back(Event::Ping {
                    payload,
                    between_fragments,
                });
            }
            Opcode::Pong => {
                let answers_ours = self.ping_sent.as_deref() == Some(payload.as_slice());
                if answers_ours {
                    self.ping_sent = None;
                }
                self.events.push_back(Event::Pong {
                    payload,
                    answers_ours,
                });
            }
            // A close ends the conversation (§1.4) like a failure does,
            // so through `end`: a message it cut in half (control frames
            // may come between fragments, §5.4) is never handed out, and
            // its memory and budget go now.
            Opcode::Close => match close::parse(&payload) {
                // Our close went first: this is its answer.
                Ok(frame) if self.close_queued => self.end(Event::CloseAnswered(frame)),
                Ok(frame) => self.end(Event::CloseReceived(frame)),
                Err(error) => {
                    let violation = Violation::BadClose(error);
                    self.fail(violation.close_code(), violation.to_string());
                }
            },
            _ => {}
        }
    }

    /// Gives up on the peer: the close frame goes out once the events
    /// before this one have been handled.
    fn fail(&mut self, code: CloseCode, reason: String) {
        self.end(Event::Failed { code, reason });
    }

    /// The conversation is over with `event`, the last one: nothing more
    /// is read.
    fn end(&mut self, event: Event) {
        self.events.push_back(event);
        self.finished = true;
        // The unfinished message will never be handed out: its memory and
        // its share of the budget go now, not when the session is dropped.
        if let Some(message) = self.assembler.payload_mut() {
            *message = Vec::new();
        }
        self.room = 0;
        self.release_budget();
    }

    /// The next thing the peer did, if any. Handing out a ping, a close or
    /// a failure queues the frame that answers it.
    pub fn next_event(&mut self) -> Option<Event> {
        let Some(event) = self.events.pop_front() else {
            if self.events.capacity() > KEPT_QUEUE {
                self.events = VecDeque::new();
            }
            return None;
        };
        match &event {
            Event::Ping { payload, .. } => self.queue(Opcode::Pong, payload.clone()),
            Event::CloseReceived(received) => {
                // Echo the code without the reason (§5.5.1); an empty close
                // is answered with an empty close.
                let reply = received
                    .code
                    .map(|code| close::payload(code, ""))
                    .unwrap_or_default();
                self.queue(Opcode::Close, reply);
            }
            Event::IdlePing => {
                self.ping_sent = Some(control::IDLE_PING.to_vec());
                self.queue(Opcode::Ping, control::IDLE_PING.to_vec());
            }
            Event::Failed { code, reason } => {
                let payload = close::payload(*code, reason);
                self.queue(Opcode::Close, payload);
            }
            Event::DataFrame(_)
            | Event::Message(_)
            | Event::Pong { .. }
            | Event::CloseAnswered(_)
            | Event::HungUp
            | Event::Dropped(_) => {}
        }
        Some(event)
    }

    /// Sends a message of our own (an echo, a chat line), unless our close
    /// frame has already gone: nothing may follow it. With
    /// permessage-deflate, the message goes out compressed. Returns the
    /// frame as queued, for a chapter to tell what it is about to send.
    pub fn send(&mut self, opcode: Opcode, payload: Vec<u8>) -> Option<&OutgoingFrame> {
        if self.close_queued {
            return None;
        }
        if let Some(deflate) = &mut self.deflate
            && !opcode.is_control()
            && let Some(compressed) = deflate.compress(&payload)
        {
            self.push_outgoing(opcode, compressed, true);
        } else {
            self.queue(opcode, payload);
        }
        self.outgoing.last()
    }

    /// Starts the closing handshake (§7.1.2): our close frame with `code`
    /// and `reason` is queued, nothing is sent after it, and messages that
    /// arrive meanwhile are still handed out until the peer's answer comes
    /// as [`Event::CloseAnswered`].
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        if !self.finished {
            self.queue(Opcode::Close, close::payload(code, reason));
        }
    }

    fn queue(&mut self, opcode: Opcode, payload: Vec<u8>) {
        if self.close_queued {
            return;
        }
        self.close_queued = opcode == Opcode::Close;
        self.push_outgoing(opcode, payload, false);
    }

    fn push_outgoing(&mut self, opcode: Opcode, payload: Vec<u8>, compressed: bool) {
        let mask = match self.role {
            Role::Server => None,
            Role::Client { mask } => Some(mask.unwrap_or_else(mask::random_key)),
        };
        self.outgoing.push(OutgoingFrame {
            opcode,
            payload,
            compressed,
            mask,
        });
    }

    /// The frames to send now, in order.
    pub fn take_outgoing(&mut self) -> impl Iterator<Item = OutgoingFrame> + '_ {
        // A burst's frames leave with their room (`KEPT_QUEUE`).
        let burst =
            (self.outgoing.capacity() > KEPT_QUEUE).then(|| std::mem::take(&mut self.outgoing));
        burst.into_iter().flatten().chain(self.outgoing.drain(..))
    }

    /// Time ran out, as [`Timeout`] says; what follows comes as events.
    ///
    /// Idle between frames: ping once ([`Event::IdlePing`]), and if our
    /// ping is still unanswered, fail with 1001. Idle partway through a
    /// frame, or after our close: [`Event::Dropped`], with no close frame
    /// (it would wait behind bytes that are not coming). A frame that
    /// moves too slowly, whatever still trickles in, fails with 1008.
    pub fn timed_out(&mut self, timeout: Timeout) {
        if self.finished {
            return;
        }
        match timeout {
            Timeout::FrameStalled { seconds } => self.fail(
                CloseCode::POLICY_VIOLATION,
                format!("a frame stalled: too little of it arrived in {seconds} s"),
            ),
            Timeout::Idle => {
                if let Some(received) = self.bytes_into_frame() {
                    self.end(Event::Dropped(Dropped::Stalled { received }));
                } else if self.close_queued {
                    self.end(Event::Dropped(Dropped::CloseUnanswered));
                } else if self.ping_sent.as_deref() == Some(control::IDLE_PING) {
                    self.fail(
                        CloseCode::GOING_AWAY,
                        "no answer to our ping; dropping an idle connection".to_string(),
                    );
                } else {
                    self.events.push_back(Event::IdlePing);
                }
            }
        }
    }

    /// The peer ended its stream (TCP's FIN): [`Event::HungUp`] between
    /// frames (1006, no closing handshake), [`Event::Dropped`] partway
    /// through one.
    pub fn end_of_stream(&mut self) {
        if self.finished {
            return;
        }
        let expected = match &self.frame {
            Some(frame) => frame.header.payload_len,
            None if self.inbox_len < 2 => 2,
            None => frame::header_len([self.inbox[0], self.inbox[1]]) as u64,
        };
        match self.bytes_into_frame() {
            Some(received) => self.end(Event::Dropped(Dropped::Truncated { expected, received })),
            None => self.end(Event::HungUp),
        }
    }

    /// How far into a frame the peer has got, if it is partway through one.
    fn bytes_into_frame(&self) -> Option<u64> {
        match &self.frame {
            Some(frame) => Some(frame.received),
            None if self.inbox_len > 0 => Some(self.inbox_len as u64),
            None => None,
        }
    }

    /// The unfinished message.
    #[cfg(test)]
    fn message_in_progress(&self) -> Option<&Message> {
        self.assembler.in_progress()
    }
}

#[cfg(test)]
mod tests {
    use super::tuning::Tuning;
    use super::*;
    use crate::protocol::deflate::compressed_bound;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn masked(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        frame::encode(fin, opcode, Some(MASK), payload)
    }

    #[test]
    fn a_message_not_yet_handed_out_stays_in_the_budget() {
        // Given back "at the next read", once whoever took the message is
        // done with it: not within the read that made it.
        let budget = Budget::new(1 << 20);
        let mut session = Session::new(1 << 20).with_budget(Arc::clone(&budget));
        let mut bytes = masked(true, Opcode::Binary, &[7; 1000]);
        // The next frame's first byte, a header cut short.
        bytes.push(masked(true, Opcode::Binary, b"x")[0]);
        session.receive(&bytes);
        assert!(
            budget.used() >= 1000,
            "{} bytes counted for a message of 1000 not yet handed out",
            budget.used()
        );
        assert!(matches!(session.next_event(), Some(Event::DataFrame(_))));
        assert!(matches!(session.next_event(), Some(Event::Message(_))));
        session.receive(&masked(true, Opcode::Binary, b"x")[1..]);
        assert!(
            budget.used() < 1000,
            "{} bytes still counted",
            budget.used()
        );
    }

    #[test]
    fn an_inbox_that_held_half_a_header_goes_once_the_header_is_whole() {
        // `receive` keeps no inbox unless a header stops short: once the
        // rest of it has come, an idle session holds none again.
        let mut session = Session::new(1 << 20);
        let bytes = masked(true, Opcode::Text, b"Hello");
        session.receive(&bytes[..1]);
        assert!(!session.inbox.is_empty());
        session.receive(&bytes[1..]);
        assert!(matches!(session.next_event(), Some(Event::DataFrame(_))));
        assert!(matches!(session.next_event(), Some(Event::Message(_))));
        assert!(
            session.inbox.is_empty(),
            "{} bytes kept",
            session.inbox.len()
        );
    }

    #[test]
    fn a_burst_of_pings_leaves_no_room_behind_once_handed_out() {
        let mut session = Session::new(1 << 20);
        let burst = masked(true, Opcode::Ping, b"").repeat(10_000);
        session.receive(&burst);
        let pings = std::iter::from_fn(|| session.next_event()).count();
        assert_eq!(pings, 10_000);
        assert_eq!(session.take_outgoing().count(), 10_000);
        assert!(session.events.capacity() <= KEPT_QUEUE);
        assert!(session.outgoing.capacity() <= KEPT_QUEUE);
        // A few at a time keep their room, and lose nothing.
        session.receive(&burst[..6 * 3]);
        assert_eq!(std::iter::from_fn(|| session.next_event()).count(), 3);
        assert_eq!(session.take_outgoing().count(), 3);
        assert!(session.outgoing.capacity() > 0);
    }

    #[test]
    fn receive_keeps_no_inbox_once_everything_is_taken_apart() {
        let mut session = Session::new(1 << 20);
        let bytes = masked(true, Opcode::Text, b"Hello");
        let message = |session: &mut Session| {
            std::iter::from_fn(|| session.next_event())
                .any(|event| matches!(event, Event::Message(_)))
        };
        session.receive(&bytes);
        assert!(message(&mut session));
        assert!(session.inbox.is_empty(), "an idle session held its inbox");
        // Half a header is kept, and the rest completes it.
        session.receive(&bytes[..1]);
        assert_eq!(session.inbox_len, 1);
        session.receive(&bytes[1..]);
        assert!(message(&mut session));
    }

    fn close_bytes(code: u16, reason: &str) -> Vec<u8> {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        masked(true, Opcode::Close, &payload)
    }

    /// Feeds `chunks` one after another and collects every event, echoing
    /// each message as the echo server does.
    fn run(chunks: &[&[u8]]) -> (Vec<Event>, Vec<OutgoingFrame>) {
        run_session(Session::new(1 << 20), chunks)
    }

    /// [`run`] with a session of the caller's making.
    fn run_session(mut session: Session, chunks: &[&[u8]]) -> (Vec<Event>, Vec<OutgoingFrame>) {
        let mut events = Vec::new();
        let mut sent = Vec::new();
        for chunk in chunks {
            session.receive(chunk);
            while let Some(event) = session.next_event() {
                if let Event::Message(message) = &event {
                    session.send(message.opcode, message.payload.clone());
                }
                events.push(event);
            }
            sent.extend(session.take_outgoing());
        }
        (events, sent)
    }

    #[test]
    fn releasing_idle_memory_between_reads_changes_nothing() {
        let mut bytes = masked(true, Opcode::Text, b"Hello");
        bytes.extend(masked(false, Opcode::Binary, &[7; 10_000]));
        bytes.extend(masked(true, Opcode::Ping, b"mid"));
        bytes.extend(masked(true, Opcode::Continuation, b"end"));
        let (expected_events, expected_sent) = run(&[&bytes]);
        for size in [1, 7, 4096, 20_000] {
            let mut session = Session::new(1 << 20);
            let (mut events, mut sent) = (Vec::new(), Vec::new());
            for chunk in bytes.chunks(size) {
                session.receive(chunk);
                session.release_idle_memory();
                while let Some(event) = session.next_event() {
                    if let Event::Message(message) = &event {
                        session.send(message.opcode, message.payload.clone());
                    }
                    events.push(event);
                }
                sent.extend(session.take_outgoing());
                session.release_idle_memory();
            }
            assert_eq!(events, expected_events, "chunks of {size}");
            assert_eq!(sent, expected_sent, "chunks of {size}");
        }
    }

    fn messages(events: &[Event]) -> Vec<(Opcode, Vec<u8>)> {
        events
            .iter()
            .filter_map(|event| match event {
                Event::Message(message) => Some((message.opcode, message.payload.clone())),
                _ => None,
            })
            .collect()
    }

    fn failure(events: &[Event]) -> Option<u16> {
        events.iter().find_map(|event| match event {
            Event::Failed { code, .. } => Some(code.0),
            _ => None,
        })
    }

    #[test]
    fn the_rfc_masked_hello_is_one_message() {
        // RFC 6455 §5.7: a single-frame masked text message, "Hello".
        let bytes = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (events, sent) = run(&[&bytes]);
        assert_eq!(messages(&events), [(Opcode::Text, b"Hello".to_vec())]);
        assert_eq!(sent[0].payload, b"Hello");
    }

    #[test]
    fn the_articles_frame_unmasks_to_its_question() {
        let mut bytes = vec![0x81, 0x90, 80, 191, 161, 254];
        bytes.extend_from_slice(&[
            19, 222, 207, 222, 41, 208, 212, 222, 56, 218, 192, 140, 112, 210, 196, 193,
        ]);
        let (events, _) = run(&[&bytes]);
        assert_eq!(
            messages(&events),
            [(Opcode::Text, b"Can you hear me?".to_vec())]
        );
    }

    /// A conversation with fragments, a ping between them, a binary message
    /// long enough to be read straight into place
    /// and a close: the same events however TCP cuts it up.
    fn conversation() -> Vec<u8> {
        let long: Vec<u8> = (0..5_000).map(|i| (i % 251) as u8).collect();
        [
            masked(false, Opcode::Text, "Hé".as_bytes()),
            masked(true, Opcode::Ping, b"still there?"),
            masked(false, Opcode::Continuation, &"llo €".as_bytes()[..5]),
            masked(true, Opcode::Continuation, &"llo €".as_bytes()[5..]),
            masked(true, Opcode::Binary, &long),
            masked(true, Opcode::Text, b""),
            close_bytes(1000, "bye"),
        ]
        .concat()
    }

    #[test]
    fn fragments_split_at_every_byte_boundary_give_the_same_events() {
        let bytes = conversation();
        let (whole, whole_sent) = run(&[&bytes]);
        assert_eq!(
            messages(&whole)
                .iter()
                .map(|(op, p)| (*op, p.len()))
                .collect::<Vec<_>>(),
            [
                (Opcode::Text, "Héllo €".len()),
                (Opcode::Binary, 5_000),
                (Opcode::Text, 0)
            ]
        );
        assert!(whole.contains(&Event::Ping {
            payload: b"still there?".to_vec(),
            between_fragments: Some((1, Opcode::Text)),
        }));
        assert_eq!(
            whole.last(),
            Some(&Event::CloseReceived(CloseFrame {
                code: Some(CloseCode::NORMAL),
                reason: "bye".into()
            }))
        );
        for cut in 0..=bytes.len() {
            let (events, sent) = run(&[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(events, whole, "cut at {cut}");
            assert_eq!(sent, whole_sent, "cut at {cut}");
        }
    }

    #[test]
    fn a_byte_at_a_time_gives_the_same_events() {
        let bytes = conversation();
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&chunks), run(&[&bytes]));
    }

    #[test]
    fn long_payloads_are_read_straight_into_their_message() {
        let payload: Vec<u8> = (0..300_000).map(|i| (i * 7 % 256) as u8).collect();
        let bytes = masked(true, Opcode::Binary, &payload);
        let mut session = Session::new(1 << 20);
        let mut rest = &bytes[..];
        let mut direct_reads = 0;
        while !rest.is_empty() {
            let buffer = session.buffer();
            if buffer.len() > INBOX_SIZE {
                direct_reads += 1;
            }
            // A socket hands over less than asked for, as it pleases.
            let count = buffer.len().min(rest.len()).min(50_000);
            buffer[..count].copy_from_slice(&rest[..count]);
            session.filled(count);
            rest = &rest[count..];
        }
        assert!(direct_reads > 0);
        assert_eq!(
            session.next_event(),
            Some(Event::DataFrame(FrameHeader {
                fin: true,
                rsv: 0,
                opcode: Opcode::Binary,
                mask: Some(MASK),
                payload_len: 300_000,
            }))
        );
        match session.next_event() {
            Some(Event::Message(message)) => assert!(message.payload == payload),
            other => panic!("expected the message, got {other:?}"),
        }
    }

    /// Feeds `bytes` as a socket hands them over: into the session's
    /// buffer, at most `most` bytes per read, whatever it asks for.
    fn feed_in_reads(session: &mut Session, bytes: &[u8], most: usize) {
        let mut rest = bytes;
        while !rest.is_empty() && !session.is_finished() {
            let buffer = session.buffer();
            let count = buffer.len().min(rest.len()).min(most);
            buffer[..count].copy_from_slice(&rest[..count]);
            session.filled(count);
            rest = &rest[count..];
        }
    }

    fn next_message(session: &mut Session) -> Message {
        loop {
            match session.next_event() {
                Some(Event::Message(message)) => return message,
                Some(_) => {}
                None => panic!("no message"),
            }
        }
    }

    #[test]
    fn a_recycled_payload_receives_the_next_long_message_in_place() {
        let first: Vec<u8> = (0..300_000).map(|i| (i * 7 % 256) as u8).collect();
        let second: Vec<u8> = (0..200_000).map(|i| (i * 13 % 256) as u8).collect();
        let mut session = Session::new(1 << 20);
        feed_in_reads(&mut session, &masked(true, Opcode::Binary, &first), 50_000);
        let message = next_message(&mut session);
        assert!(message.payload == first);
        let place = message.payload.as_ptr();
        session.recycle(message.payload);
        feed_in_reads(&mut session, &masked(true, Opcode::Binary, &second), 50_000);
        let message = next_message(&mut session);
        // Exactly the second message: none of the first one's tail.
        assert!(message.payload == second);
        assert_eq!(message.payload.as_ptr(), place, "received into the spare");
    }

    /// Long fragments with a ping between them, text with characters split
    /// across reads, then a message longer than any spare.
    fn long_conversation() -> Vec<u8> {
        let text = "Grüße, €uro! ".repeat(700);
        let (head, tail) = text.as_bytes().split_at(5_001);
        let binary: Vec<u8> = (0..20_000).map(|i| (i % 253) as u8).collect();
        [
            masked(false, Opcode::Text, head),
            masked(true, Opcode::Ping, b"between"),
            masked(true, Opcode::Continuation, tail),
            masked(true, Opcode::Binary, &binary),
            masked(false, Opcode::Binary, &binary[..6_000]),
            masked(true, Opcode::Continuation, &binary[6_000..]),
            close_bytes(1000, "bye"),
        ]
        .concat()
    }

    /// What `readv` does: fills the first buffer, then the second, with at
    /// most `most` bytes of `bytes`.
    fn read_vectored(buffers: [&mut [u8]; 2], bytes: &[u8], most: usize) -> usize {
        let mut count = 0;
        for buffer in buffers {
            let take = buffer.len().min(bytes.len() - count).min(most - count);
            buffer[..take].copy_from_slice(&bytes[count..count + take]);
            count += take;
        }
        count
    }

    #[test]
    fn with_a_spare_of_any_size_every_split_gives_the_same_events() {
        let bytes = long_conversation();
        let expected = run(&[&bytes]);
        assert_eq!(messages(&expected.0).len(), 3);
        for (spare, vectored) in [0, 4_096, 7_000, 12_000, 100_000]
            .into_iter()
            .flat_map(|spare| [(spare, false), (spare, true)])
        {
            for most in [1, 97, 1_000, 4_099, 65_536] {
                let mut session = Session::new(1 << 20);
                session.recycle(vec![0xEE; spare]);
                let mut events = Vec::new();
                let mut rest = &bytes[..];
                while !rest.is_empty() && !session.is_finished() {
                    let count = if vectored {
                        read_vectored(session.buffers(), rest, most)
                    } else {
                        let buffer = session.buffer();
                        let count = buffer.len().min(rest.len()).min(most);
                        buffer[..count].copy_from_slice(&rest[..count]);
                        count
                    };
                    session.filled(count);
                    rest = &rest[count..];
                    while let Some(event) = session.next_event() {
                        if let Event::Message(message) = &event {
                            session.send(message.opcode, message.payload.clone());
                            // Each echo comes back as the next spare.
                            session.recycle(message.payload.clone());
                        }
                        events.push(event);
                    }
                }
                let sent: Vec<OutgoingFrame> = session.take_outgoing().collect();
                let case = format!("spare {spare}, reads of {most}, vectored: {vectored}");
                assert_eq!(events, expected.0, "{case}");
                assert_eq!(sent, expected.1, "{case}");
            }
        }
    }

    #[test]
    fn the_inbox_is_offered_behind_a_room_only_where_the_payload_ends() {
        let payload = vec![5u8; 300_000];
        let bytes = masked(true, Opcode::Binary, &payload);
        let mut session = Session::new(1 << 20);
        session.receive(&bytes[..8_000]);
        // The room stops a step short of the payload's end: only the room.
        let [room, inbox] = session.buffers();
        assert!(!room.is_empty() && room.len() < 300_000 - 7_986);
        assert!(inbox.is_empty());
        session.filled(0);
        // With a spare as long as the payload, the room reaches its end.
        let mut session = Session::new(1 << 20);
        session.recycle(vec![0; 400_000]);
        session.receive(&bytes[..8_000]);
        let [room, inbox] = session.buffers();
        assert_eq!(room.len(), 300_000 - (8_000 - 14));
        assert!(!inbox.is_empty());
    }

    #[test]
    fn the_size_limit_counts_the_message_not_the_spare_room() {
        let payload = vec![b'a'; 10_000];
        let exactly = [
            masked(false, Opcode::Text, &payload[..6_000]),
            masked(true, Opcode::Continuation, &payload[6_000..]),
        ]
        .concat();
        let mut session = Session::new(10_000);
        session.recycle(vec![0; 500_000]);
        feed_in_reads(&mut session, &exactly, 4_500);
        assert!(next_message(&mut session).payload == payload);
        let over = masked(true, Opcode::Text, &[b'a'; 10_001]);
        feed_in_reads(&mut session, &over, 4_500);
        let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
        assert_eq!(failure(&events), Some(1009), "{events:?}");
    }

    #[test]
    fn a_spare_is_counted_in_the_budget_and_let_go_when_idle() {
        let budget = Budget::new(4 << 20);
        let mut session = Session::new(1 << 20).with_budget(Arc::clone(&budget));
        session.recycle(vec![0; 100_000]);
        assert_eq!(budget.used(), 100_000);
        // Kept: the larger of two; not kept: too small, or larger than the
        // largest message the session accepts (1 MiB here).
        session.recycle(vec![0; 200_000]);
        session.recycle(vec![0; 100]);
        session.recycle(vec![0; (1 << 20) + 1]);
        assert_eq!(budget.used(), 200_000);
        session.release_idle_memory();
        assert_eq!(budget.used(), 0);
        // A long message received into a spare takes its place in the budget.
        session.recycle(vec![0; 200_000]);
        let payload = vec![9; 150_000];
        feed_in_reads(
            &mut session,
            &masked(true, Opcode::Binary, &payload),
            65_536,
        );
        assert_eq!(budget.used(), 200_000);
        let echoed = next_message(&mut session).payload;
        session.recycle(echoed);
        assert_eq!(budget.used(), 200_000);
        drop(session);
        assert_eq!(budget.used(), 0);
        // A budget that a spare would take past half keeps none.
        let tight = Budget::new(190_000);
        let mut session = Session::new(1 << 20).with_budget(Arc::clone(&tight));
        session.recycle(vec![0; 100_000]);
        assert_eq!(tight.used(), 0);
        session.recycle(vec![0; 90_000]);
        assert_eq!(tight.used(), 90_000);
    }

    #[test]
    fn a_message_grows_with_what_arrived_not_with_what_its_header_claims() {
        let payload = vec![7u8; 16 << 20];
        let bytes = masked(true, Opcode::Binary, &payload);
        let mut session = Session::new(32 << 20);
        // 8 MiB + 64 KiB of a 16 MiB frame, as a socket would hand them over.
        let mut fed = 0;
        while fed < (8 << 20) + (64 << 10) {
            let buffer = session.buffer();
            let count = buffer.len().min(65_536).min((8 << 20) + (64 << 10) - fed);
            buffer[..count].copy_from_slice(&bytes[fed..fed + count]);
            session.filled(count);
            fed += count;
        }
        let held = session.message_in_progress().unwrap().payload.capacity();
        assert!(held <= fed + LARGEST_STEP, "{held} bytes held for {fed}");
    }

    #[test]
    fn a_long_message_grows_in_few_steps() {
        // Each step may move the message, and leave the room it moved out
        // of with the allocator: a 16 MiB message takes 9 steps, not 19.
        let size = (16 << 20) - (64 << 10);
        let bytes = masked(true, Opcode::Binary, &vec![7u8; size]);
        let mut session = Session::new(32 << 20);
        let (mut fed, mut capacity, mut steps) = (0, 0, 0);
        while fed < bytes.len() {
            let buffer = session.buffer();
            let count = buffer.len().min(65_536).min(bytes.len() - fed);
            buffer[..count].copy_from_slice(&bytes[fed..fed + count]);
            session.filled(count);
            fed += count;
            if let Some(message) = session.message_in_progress() {
                if message.payload.capacity() != capacity {
                    steps += 1;
                    capacity = message.payload.capacity();
                }
                // Never more than a step ahead of what came.
                assert!(capacity <= fed + step(fed), "{capacity} held for {fed}");
            }
        }
        assert!(steps <= 9, "{steps} steps for {size} bytes");
        assert!(matches!(session.next_event(), Some(Event::DataFrame(_))));
        match session.next_event() {
            Some(Event::Message(message)) => assert_eq!(message.payload.len(), size),
            other => panic!("expected the message, got {other:?}"),
        }
    }

    #[test]
    fn a_message_over_the_shared_budget_fails_with_1013_and_gives_it_back() {
        let budget = Budget::new(1 << 20);
        let mut first = Session::new(4 << 20).with_budget(Arc::clone(&budget));
        let mut second = Session::new(4 << 20).with_budget(Arc::clone(&budget));
        let big = masked(true, Opcode::Binary, &vec![1; 900_000]);
        first.receive(&big[..500_000]);
        // At least the payload bytes that arrived (after a 14-byte header).
        assert!(budget.used() >= 500_000 - 14);
        second.receive(&big[..600_000]);
        let events: Vec<Event> = std::iter::from_fn(|| second.next_event()).collect();
        assert_eq!(failure(&events), Some(1013), "{events:?}");
        drop(second);
        first.receive(&big[500_000..]);
        assert!(matches!(
            [first.next_event(), first.next_event()],
            [Some(Event::DataFrame(_)), Some(Event::Message(_))]
        ));
        // Held while the message is dealt with, given back at the next read.
        assert_eq!(budget.used(), 900_000);
        first.buffer();
        assert_eq!(budget.used(), 0);
        drop(first);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_later_fragment_is_given_no_room_past_the_size_limit() {
        // Two fragments of a 5-byte message, in a session whose messages
        // may not pass 1000 bytes: nothing may be held for more than that.
        let bytes = [
            masked(false, Opcode::Text, b"Hel"),
            masked(false, Opcode::Continuation, b"l"),
        ]
        .concat();
        let mut session = Session::new(1000);
        session.receive(&bytes);
        let held = session.message_in_progress().unwrap().payload.capacity();
        assert!(
            held <= 1000,
            "{held} bytes held for a message of at most 1000"
        );
        // With a shared budget of 64 KiB, the same tiny message is refused
        // with 1013 for room it could never use.
        let budget = Budget::new(64 << 10);
        let mut session = Session::new(1000).with_budget(Arc::clone(&budget));
        let bytes = [bytes, masked(true, Opcode::Continuation, b"o")].concat();
        session.receive(&bytes);
        let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
        assert_eq!(failure(&events), None, "{events:?}");
        assert_eq!(messages(&events), [(Opcode::Text, b"Hello".to_vec())]);
    }

    #[test]
    fn is_finished_comes_before_the_answering_close_is_queued() {
        // The close that answers the peer's is queued as its event is
        // handed out: is_finished alone does not mean "flush, then close".
        let mut session = Session::new(1024);
        session.receive(&close_bytes(1000, ""));
        assert!(session.is_finished());
        assert_eq!(session.take_outgoing().count(), 0);
        assert!(matches!(
            session.next_event(),
            Some(Event::CloseReceived(_))
        ));
        assert_eq!(session.take_outgoing().count(), 1);
    }

    #[test]
    fn a_hang_up_between_fragments_loses_the_message_in_progress() {
        // A hang-up between two fragments of a message is `HungUp`, and the
        // first fragment's bytes are lost with it: not "nothing was lost".
        let mut session = Session::new(1024);
        session.receive(&masked(false, Opcode::Text, b"half of a messa"));
        session.end_of_stream();
        let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
        assert!(messages(&events).is_empty());
        assert_eq!(events.last(), Some(&Event::HungUp), "{events:?}");
    }

    #[test]
    fn replies_leave_in_the_order_of_what_they_answer() {
        let bytes = [
            masked(true, Opcode::Text, b"first"),
            masked(true, Opcode::Ping, b"p"),
            masked(true, Opcode::Text, b"second"),
            close_bytes(1001, ""),
        ]
        .concat();
        let (_, sent) = run(&[&bytes]);
        let order: Vec<(Opcode, &[u8])> = sent
            .iter()
            .map(|frame| (frame.opcode, frame.payload.as_slice()))
            .collect();
        assert_eq!(
            order,
            [
                (Opcode::Text, &b"first"[..]),
                (Opcode::Pong, b"p"),
                (Opcode::Text, b"second"),
                (Opcode::Close, &[0x03, 0xE9]),
            ]
        );
    }

    #[test]
    fn every_broken_rule_fails_with_its_close_code() {
        let mut too_long_ping = masked(true, Opcode::Ping, &[0; 126]);
        too_long_ping.truncate(8);
        let cases: [(&str, Vec<u8>, u16); 16] = [
            (
                "unmasked",
                frame::encode(true, Opcode::Text, None, b"hi"),
                1002,
            ),
            ("reserved bits", vec![0xC1, 0x80, 1, 2, 3, 4], 1002),
            ("reserved opcode", vec![0x83, 0x80, 1, 2, 3, 4], 1002),
            ("ping over 125 bytes", too_long_ping, 1002),
            ("fragmented ping", masked(false, Opcode::Ping, b""), 1002),
            (
                "nothing to continue",
                masked(true, Opcode::Continuation, b"x"),
                1002,
            ),
            (
                "new message mid-message",
                [
                    masked(false, Opcode::Text, b"a"),
                    masked(true, Opcode::Text, b"b"),
                ]
                .concat(),
                1002,
            ),
            (
                "non-minimal length",
                vec![0x81, 0xFE, 0, 5, 1, 2, 3, 4],
                1002,
            ),
            (
                "top bit set",
                vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
                1002,
            ),
            (
                "invalid UTF-8",
                masked(true, Opcode::Text, &[0xC0, 0x80]),
                1007,
            ),
            (
                "UTF-8 cut short at the end",
                [
                    masked(false, Opcode::Text, &[0xE2]),
                    masked(true, Opcode::Continuation, b""),
                ]
                .concat(),
                1007,
            ),
            (
                "over the size limit",
                vec![0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4],
                1009,
            ),
            ("one-byte close", masked(true, Opcode::Close, &[3]), 1002),
            ("close code 999", close_bytes(999, ""), 1002),
            ("close code 1005", close_bytes(1005, ""), 1002),
            (
                "close reason not UTF-8",
                masked(true, Opcode::Close, &[0x03, 0xE8, 0xFF]),
                1007,
            ),
        ];
        for (rule, bytes, code) in cases {
            let (events, sent) = run(&[&bytes]);
            assert_eq!(failure(&events), Some(code), "{rule}: {events:?}");
            let last = sent
                .last()
                .unwrap_or_else(|| panic!("{rule}: nothing sent"));
            assert_eq!(last.opcode, Opcode::Close, "{rule}");
            assert_eq!(last.payload[..2], code.to_be_bytes(), "{rule}");
        }
    }

    #[test]
    fn invalid_text_fails_before_the_rest_of_its_frame_arrives() {
        let bytes = masked(true, Opcode::Text, &[b'a', 0xFF, b'b', b'c', b'd']);
        let (events, _) = run(&[&bytes[..8]]);
        assert_eq!(failure(&events), Some(1007));
    }

    #[test]
    fn nothing_is_read_after_a_failure_or_a_close() {
        let bytes = [close_bytes(1000, ""), masked(true, Opcode::Text, b"late")].concat();
        let (events, _) = run(&[&bytes]);
        assert!(messages(&events).is_empty());
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn an_empty_close_is_answered_with_an_empty_close() {
        let (events, sent) = run(&[&masked(true, Opcode::Close, b"")]);
        assert_eq!(
            events,
            [Event::CloseReceived(CloseFrame {
                code: None,
                reason: String::new()
            })]
        );
        assert_eq!(
            sent,
            [OutgoingFrame {
                opcode: Opcode::Close,
                payload: vec![],
                compressed: false,
                mask: None,
            }]
        );
    }

    #[test]
    fn an_idle_peer_is_pinged_then_dropped_unless_it_answers() {
        let mut session = Session::new(1024);
        session.timed_out(Timeout::Idle);
        assert_eq!(session.next_event(), Some(Event::IdlePing));
        let pings: Vec<_> = session.take_outgoing().collect();
        assert_eq!(pings[0].opcode, Opcode::Ping);
        session.receive(&masked(true, Opcode::Pong, &pings[0].payload));
        assert_eq!(
            session.next_event(),
            Some(Event::Pong {
                payload: control::IDLE_PING.to_vec(),
                answers_ours: true
            })
        );
        // Answered: the next silence earns another ping, not a close.
        session.timed_out(Timeout::Idle);
        assert_eq!(session.next_event(), Some(Event::IdlePing));
        session.timed_out(Timeout::Idle);
        assert!(matches!(
            session.next_event(),
            Some(Event::Failed {
                code: CloseCode::GOING_AWAY,
                ..
            })
        ));
        assert!(session.is_finished());
    }

    #[test]
    fn an_unsolicited_pong_is_only_reported() {
        let (events, sent) = run(&[&masked(true, Opcode::Pong, b"hi")]);
        assert_eq!(
            events,
            [Event::Pong {
                payload: b"hi".to_vec(),
                answers_ours: false
            }]
        );
        assert!(sent.is_empty());
    }

    #[test]
    fn silence_or_a_hang_up_partway_through_a_frame_drops_the_conversation() {
        let bytes = masked(true, Opcode::Text, b"never finished");
        for cut in [1, 3, 9] {
            let mut session = Session::new(1024);
            session.receive(&bytes[..cut]);
            session.timed_out(Timeout::Idle);
            let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
            assert!(
                matches!(events.last(), Some(Event::Dropped(Dropped::Stalled { .. }))),
                "{cut}: {events:?}"
            );
            assert!(session.is_finished());
            assert_eq!(session.take_outgoing().count(), 0, "no close frame");
            let mut session = Session::new(1024);
            session.receive(&bytes[..cut]);
            session.end_of_stream();
            let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
            assert!(
                matches!(
                    events.last(),
                    Some(Event::Dropped(Dropped::Truncated { .. }))
                ),
                "{cut}: {events:?}"
            );
        }
        let mut between_frames = Session::new(1024);
        between_frames.receive(&masked(true, Opcode::Text, b"done"));
        between_frames.end_of_stream();
        let events: Vec<Event> = std::iter::from_fn(|| between_frames.next_event()).collect();
        assert_eq!(events.last(), Some(&Event::HungUp));
        assert!(between_frames.is_finished());
    }

    #[test]
    fn a_frame_that_moves_too_slowly_fails_with_1008() {
        let mut session = Session::new(1024);
        session.receive(&masked(true, Opcode::Text, b"slow")[..3]);
        session.timed_out(Timeout::FrameStalled { seconds: 2.0 });
        let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
        assert_eq!(failure(&events), Some(1008));
    }

    #[test]
    fn a_close_we_start_ends_when_the_peer_answers_it() {
        let mut session = Session::new(1024);
        session.close(CloseCode::POLICY_VIOLATION, "too fast");
        let sent: Vec<OutgoingFrame> = session.take_outgoing().collect();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].opcode, Opcode::Close);
        assert_eq!(
            sent[0].payload,
            close::payload(CloseCode::POLICY_VIOLATION, "too fast")
        );
        // Nothing is sent after our close, not even an echo or a pong; a
        // message on its way still arrives.
        let bytes = [
            masked(true, Opcode::Text, b"in flight"),
            masked(true, Opcode::Ping, b"p"),
            close_bytes(1008, ""),
        ]
        .concat();
        let (events, sent) = run_session(session, &[&bytes]);
        assert_eq!(messages(&events), [(Opcode::Text, b"in flight".to_vec())]);
        assert!(sent.is_empty(), "{sent:?}");
        assert!(matches!(
            events.last(),
            Some(Event::CloseAnswered(CloseFrame {
                code: Some(CloseCode::POLICY_VIOLATION),
                ..
            }))
        ));
        // A close never answered is given up at the idle timeout.
        let mut session = Session::new(1024);
        session.close(CloseCode::NORMAL, "");
        session.timed_out(Timeout::Idle);
        assert_eq!(
            session.next_event(),
            Some(Event::Dropped(Dropped::CloseUnanswered))
        );
    }

    /// What a server sends, unmasked.
    fn unmasked(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        frame::encode(fin, opcode, None, payload)
    }

    #[test]
    fn a_client_refuses_masked_frames_and_masks_what_it_sends() {
        let mut client = Session::client(1 << 20, Some(MASK));
        let bytes = [
            unmasked(false, Opcode::Text, b"Hel"),
            unmasked(true, Opcode::Ping, b"p"),
            unmasked(true, Opcode::Continuation, b"lo"),
        ]
        .concat();
        let (events, sent) = run_session(client, &[&bytes]);
        assert_eq!(messages(&events), [(Opcode::Text, b"Hello".to_vec())]);
        let wire: Vec<Vec<u8>> = sent.iter().map(OutgoingFrame::to_bytes).collect();
        // The pong and the echo, masked with the chosen key (RFC 6455 §5.7).
        assert_eq!(wire[0], masked(true, Opcode::Pong, b"p"));
        assert_eq!(
            wire[1],
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        client = Session::client(1 << 20, Some(MASK));
        let (events, sent) = run_session(client, &[&masked(true, Opcode::Text, b"hi")]);
        assert_eq!(failure(&events), Some(1002), "{events:?}");
        assert_eq!(sent.last().map(|frame| frame.mask.is_some()), Some(true));
        // Without a chosen key, each frame gets a fresh one.
        let mut client = Session::client(1 << 20, None);
        for _ in 0..4 {
            client.send(Opcode::Binary, vec![0; 4]);
        }
        let keys: std::collections::HashSet<_> = client
            .take_outgoing()
            .filter_map(|frame| frame.mask)
            .collect();
        assert!(keys.len() > 1, "{keys:?}");
    }

    #[test]
    fn a_server_sends_unmasked_frames() {
        let (_, sent) = run(&[&masked(true, Opcode::Text, b"Hello")]);
        assert_eq!(sent[0].to_bytes(), unmasked(true, Opcode::Text, b"Hello"));
    }

    // permessage-deflate (RFC 7692), from here on.

    fn takeover() -> DeflateAgreement {
        DeflateAgreement {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            server_window_requested: false,
            client_max_window_bits: None,
        }
    }

    /// A masked frame with RSV1 set.
    fn compressed(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mut bytes = masked(fin, opcode, payload);
        bytes[0] |= RSV1 << 4;
        bytes
    }

    /// [`run`] in a session that agreed on `agreement`, with a limit.
    fn run_deflate(
        agreement: DeflateAgreement,
        limit: u64,
        chunks: &[&[u8]],
    ) -> (Vec<Event>, Vec<OutgoingFrame>) {
        run_session(Session::new(limit).with_deflate(agreement), chunks)
    }

    const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

    #[test]
    fn rfc_7692_hello_is_inflated_and_the_echo_compressed() {
        // §7.2.3.1 and §7.2.3.2: "Hello", then "Hello" again from the
        // shared window; our echoes are the same bytes.
        let bytes = [
            compressed(true, Opcode::Text, &HELLO),
            compressed(true, Opcode::Text, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
        ]
        .concat();
        let (events, sent) = run_deflate(takeover(), 1 << 20, &[&bytes]);
        assert_eq!(
            messages(&events),
            [
                (Opcode::Text, b"Hello".to_vec()),
                (Opcode::Text, b"Hello".to_vec())
            ]
        );
        let Some(Event::Message(first)) = events.get(1) else {
            panic!("{events:?}");
        };
        assert_eq!(first.compressed_len, Some(7));
        assert_eq!(
            sent,
            [
                OutgoingFrame {
                    opcode: Opcode::Text,
                    payload: HELLO.to_vec(),
                    compressed: true,
                    mask: None,
                },
                OutgoingFrame {
                    opcode: Opcode::Text,
                    payload: vec![0xf2, 0x00, 0x11, 0x00, 0x00],
                    compressed: true,
                    mask: None,
                },
            ]
        );
    }

    #[test]
    fn a_compressed_message_in_fragments_has_rsv1_on_the_first_only() {
        // §7.2.3.1's fragmented form, with a ping in between.
        let bytes = [
            compressed(false, Opcode::Text, &HELLO[..3]),
            masked(true, Opcode::Ping, b"p"),
            masked(true, Opcode::Continuation, &HELLO[3..]),
        ]
        .concat();
        for cut in 0..=bytes.len() {
            let (events, _) = run_deflate(takeover(), 1 << 20, &[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(
                messages(&events),
                [(Opcode::Text, b"Hello".to_vec())],
                "cut at {cut}"
            );
        }
        let rsv1_again = [
            compressed(false, Opcode::Text, &HELLO[..3]),
            compressed(true, Opcode::Continuation, &HELLO[3..]),
        ]
        .concat();
        let (events, _) = run_deflate(takeover(), 1 << 20, &[&rsv1_again]);
        assert_eq!(failure(&events), Some(1002));
    }

    #[test]
    fn an_uncompressed_message_inside_a_compressed_session() {
        // §6: RSV1 clear means this message was sent as it is.
        let bytes = [
            masked(true, Opcode::Text, b"plain"),
            compressed(true, Opcode::Text, &HELLO),
        ]
        .concat();
        let (events, _) = run_deflate(takeover(), 1 << 20, &[&bytes]);
        assert_eq!(
            messages(&events),
            [
                (Opcode::Text, b"plain".to_vec()),
                (Opcode::Text, b"Hello".to_vec())
            ]
        );
    }

    #[test]
    fn compressed_frames_that_inflate_to_nothing_give_their_share_back() {
        // Empty stored blocks inflate to nothing; a peer that sends frame
        // after frame of them, never the last, must not hold the budget
        // that their compressed bytes took while they were read.
        let budget = Budget::new(1 << 20);
        let mut session = Session::new(16 << 20)
            .with_deflate(takeover())
            .with_budget(Arc::clone(&budget));
        let empty_blocks = [0x00, 0x00, 0x00, 0xff, 0xff].repeat(13_000);
        session.receive(&compressed(false, Opcode::Binary, &empty_blocks));
        for _ in 0..100 {
            session.receive(&masked(false, Opcode::Continuation, &empty_blocks));
        }
        assert!(budget.used() < 100_000, "{} bytes held", budget.used());
        session.receive(&masked(true, Opcode::Continuation, &HELLO));
        let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
        assert_eq!(failure(&events), None, "{events:?}");
        assert_eq!(messages(&events), [(Opcode::Binary, b"Hello".to_vec())]);
        drop(session);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn inflated_bytes_are_counted_in_the_budget() {
        // Four mebibytes of zeros take a few kilobytes compressed: what
        // the budget must bound is what they inflate to.
        let mut compressor = flate2::Compress::new(flate2::Compression::fast(), false);
        let mut deflated = Vec::with_capacity(1 << 16);
        let zeros = vec![0; 4 << 20];
        let flush = flate2::FlushCompress::Sync;
        let status = compressor.compress_vec(&zeros, &mut deflated, flush);
        assert!(status.is_ok() && compressor.total_in() == zeros.len() as u64);
        let first_frame = compressed(false, Opcode::Binary, &deflated);

        // A budget with room: the inflated bytes are held against it while
        // the rest of the message is awaited, and given back with it. (The
        // memory they hold doubles as it grows, as a vector's does, so 4
        // MiB may hold 8 at the moment the last bytes come out.)
        let roomy = Budget::new(16 << 20);
        let mut session = Session::new(16 << 20)
            .with_deflate(takeover())
            .with_budget(Arc::clone(&roomy));
        session.receive(&first_frame);
        assert!(roomy.used() >= 4 << 20, "{} bytes held", roomy.used());
        drop(session);
        assert_eq!(roomy.used(), 0);

        // A budget without: 1013, as for a message sent as it is.
        let tight = Budget::new(1 << 20);
        let mut session = Session::new(16 << 20)
            .with_deflate(takeover())
            .with_budget(Arc::clone(&tight));
        session.receive(&first_frame);
        let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
        assert_eq!(failure(&events), Some(1013), "{events:?}");
        assert_eq!(tight.used(), 0);
    }

    #[test]
    fn empty_blocks_and_empty_messages() {
        // §7.2.3.3 (a stored block), §7.2.3.5 (two blocks, an empty
        // stored one between), §7.2.3.6 (an empty fragment), and an empty
        // message sent as the single byte 00.
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        let two_blocks = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        let bytes = [
            compressed(true, Opcode::Text, &stored),
            compressed(true, Opcode::Text, &two_blocks),
            compressed(false, Opcode::Text, &HELLO),
            masked(true, Opcode::Continuation, b""),
            compressed(true, Opcode::Binary, &[0x00]),
        ]
        .concat();
        let (events, sent) = run_deflate(takeover(), 1 << 20, &[&bytes]);
        assert_eq!(
            messages(&events),
            [
                (Opcode::Text, b"Hello".to_vec()),
                (Opcode::Text, b"Hello".to_vec()),
                (Opcode::Text, b"Hello".to_vec()),
                (Opcode::Binary, vec![]),
            ]
        );
        assert_eq!(
            sent.last().map(|frame| &frame.payload[..]),
            Some(&[0x00][..])
        );
    }

    #[test]
    fn rsv1_without_the_extension_or_on_control_frames_is_a_protocol_error() {
        let (events, _) = run(&[&compressed(true, Opcode::Text, &HELLO)]);
        assert_eq!(failure(&events), Some(1002));
        let (events, _) = run_deflate(takeover(), 1 << 20, &[&compressed(true, Opcode::Ping, b"")]);
        assert_eq!(failure(&events), Some(1002));
        let rsv2 = {
            let mut bytes = masked(true, Opcode::Text, b"x");
            bytes[0] |= 0b0010_0000;
            bytes
        };
        let (events, _) = run_deflate(takeover(), 1 << 20, &[&rsv2]);
        assert_eq!(failure(&events), Some(1002));
        // The reason names the bit deflate does not explain, not a missing
        // agreement.
        let reason = events.iter().find_map(|event| match event {
            Event::Failed { reason, .. } => Some(reason.as_str()),
            _ => None,
        });
        assert_eq!(
            reason,
            Some("reserved bits 010 are set; permessage-deflate gives a meaning to RSV1 alone")
        );
    }

    /// Bytes that do not compress: every one from a simple generator, so
    /// the compressor stores them and adds its headers.
    fn incompressible(count: usize) -> Vec<u8> {
        let mut state: u32 = 0x2545_f491;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect()
    }

    #[test]
    fn the_limit_is_the_inflated_size_not_the_compressed_one() {
        // 995 incompressible bytes take a few more compressed: within a
        // limit of 1000, the message is accepted, as it would be sent
        // uncompressed.
        let message = incompressible(995);
        let mut sender = PerMessageDeflate::new(takeover());
        let Some(payload) = sender.compress(&message) else {
            panic!("compressing failed");
        };
        assert!(payload.len() > 1000, "{}", payload.len());
        for (what, frames) in [
            (
                "one frame",
                vec![compressed(true, Opcode::Binary, &payload)],
            ),
            (
                "two frames",
                vec![
                    compressed(false, Opcode::Binary, &payload[..600]),
                    masked(true, Opcode::Continuation, &payload[600..]),
                ],
            ),
        ] {
            let chunks: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let (events, _) = run_deflate(takeover(), 1000, &chunks);
            assert_eq!(failure(&events), None, "{what}: {events:?}");
            let got = events.iter().find_map(|event| match event {
                Event::Message(message) => Some(message.payload.clone()),
                _ => None,
            });
            assert_eq!(got, Some(message.clone()), "{what}");
        }
    }

    #[test]
    fn compressed_bytes_past_any_message_within_the_limit_are_refused() {
        // The compressed input has a bound too: past what a compressor
        // can make of a message within the limit, at its worst, a message
        // is refused before its bytes are held (1009), whether in one
        // frame or in many that inflate to nothing.
        let limit = 1000;
        let bound = compressed_bound(limit);
        assert!(bound > limit);
        let one = compressed(true, Opcode::Binary, &vec![0; bound as usize + 1]);
        let (events, _) = run_deflate(takeover(), limit, &[&one]);
        assert_eq!(failure(&events), Some(1009), "{events:?}");
        // Empty stored blocks, five bytes each, none of them any output.
        let empty_blocks: Vec<u8> = [0x00, 0x00, 0x00, 0xff, 0xff].repeat(40);
        let mut bytes = compressed(false, Opcode::Binary, &empty_blocks);
        for _ in 0..=(bound as usize / empty_blocks.len()) {
            bytes.extend(masked(false, Opcode::Continuation, &empty_blocks));
        }
        let (events, _) = run_deflate(takeover(), limit, &[&bytes]);
        assert_eq!(failure(&events), Some(1009), "{events:?}");
    }

    #[test]
    fn a_bomb_gets_1009_and_bad_data_1007() {
        let mut sender = PerMessageDeflate::new(takeover());
        let Some(bomb) = sender.compress(&vec![b'a'; 5_000_000]) else {
            panic!("compressing failed");
        };
        assert!(bomb.len() < 10_000);
        let (events, sent) = run_deflate(
            takeover(),
            100_000,
            &[&compressed(true, Opcode::Binary, &bomb)],
        );
        assert_eq!(failure(&events), Some(1009));
        assert_eq!(sent.last().map(|frame| frame.opcode), Some(Opcode::Close));
        let rows: [(&str, Vec<u8>); 3] = [
            (
                "reserved block type",
                compressed(true, Opcode::Binary, &[0xff, 0xff]),
            ),
            // A stored block of 10 bytes cut off after 2: the tail put
            // back must not pass for the rest of it.
            (
                "a block cut short",
                compressed(
                    true,
                    Opcode::Binary,
                    &[0x00, 0x0a, 0x00, 0xf5, 0xff, 0x41, 0x42],
                ),
            ),
            // "\xff" deflated: inflates fine, but is not UTF-8.
            (
                "text not UTF-8",
                compressed(true, Opcode::Text, &[0xfa, 0x0f, 0x00]),
            ),
        ];
        for (what, bytes) in rows {
            let (events, _) = run_deflate(takeover(), 1 << 20, &[&bytes]);
            assert_eq!(failure(&events), Some(1007), "{what}: {events:?}");
        }
    }

    #[test]
    fn a_close_in_the_middle_of_a_message_gives_its_memory_back_at_once() {
        // A close frame may come between the fragments of a message
        // (§5.4: control frames may be injected): the conversation is then
        // over (§1.4), the half message is never handed out, and what it
        // took from the shared budget must go back now, not whenever the
        // driver drops the session (an event loop lingers with it, §7.1.1).
        for ours_first in [false, true] {
            let budget = Budget::new(1 << 20);
            let mut session = Session::new(1 << 20).with_budget(Arc::clone(&budget));
            if ours_first {
                session.close(CloseCode::NORMAL, "bye");
            }
            session.receive(&masked(false, Opcode::Binary, &[7; 1000]));
            assert!(budget.used() >= 1000, "{}", budget.used());
            let close = close::payload(CloseCode::NORMAL, "");
            session.receive(&masked(true, Opcode::Close, &close));
            let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
            assert!(session.is_finished(), "{events:?}");
            assert_eq!(budget.used(), 0, "ours first: {ours_first}, {events:?}");
            let held = session
                .message_in_progress()
                .map_or(0, |m| m.payload.capacity());
            assert_eq!(held, 0, "ours first: {ours_first}");
        }
    }

    #[test]
    fn a_finished_session_offers_no_room_and_takes_no_budget() {
        // A session that failed partway through a long payload reads no
        // more; asked for a buffer anyway, it must not grow the message it
        // has let go of, nor take from the budget for it.
        let budget = Budget::new(1 << 20);
        let mut session = Session::new(1 << 20).with_budget(Arc::clone(&budget));
        let mut bytes = masked(true, Opcode::Text, &[b'a'; 100_000]);
        // An invalid byte early in the payload (after the 8-byte header,
        // unmasked 0xff): the session fails fast (§8.1).
        bytes[8 + 10] = 0xff ^ MASK[10 % 4];
        session.receive(&bytes[..8 + 100]);
        let events: Vec<Event> = std::iter::from_fn(|| session.next_event()).collect();
        assert!(session.is_finished(), "{events:?}");
        assert!(matches!(events.last(), Some(Event::Failed { code, .. }) if code.0 == 1007));
        assert_eq!(budget.used(), 0);
        assert!(session.buffer().len() <= INBOX_SIZE);
        session.filled(0);
        assert_eq!(budget.used(), 0);
        let [room, _] = session.buffers();
        assert!(room.is_empty(), "{} bytes of room", room.len());
        assert_eq!(budget.used(), 0);
    }
}
