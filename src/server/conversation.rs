//! Driving a [`Session`] from a thread that blocks on one socket
//! (chapters 10 and 11): RFC 6455 §5–§7 happen in the session; here is only
//! reading, writing, timeouts and telling the story.
//!
//! The loop is the whole of it: read what the peer sent into the session's
//! buffer, hand each event to the narration (and each message to the
//! chapter), send whatever the session queued, and stop once the session
//! says the conversation is over. A read that times out is the session's
//! business too: it decides between an idle ping, giving up, and a stalled
//! frame.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::CommandFactory;

use crate::command_line::{self, CommandLineError, Seconds};
use crate::narrate::{self, Level, Verbosity};
use crate::protocol::close::CloseCode;
use crate::protocol::frame;
use crate::protocol::http::is_timeout;
use crate::protocol::message::Message;
use crate::protocol::session::{Budget, Event, OutgoingFrame, RSV1, Session, Timeout};
use crate::server::error::Error;
use crate::server::listener::{self, Connection, Socket};

/// 16 MiB: big enough for Autobahn's largest message, small enough that
/// a few hostile clients cannot exhaust memory.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;

/// 256 MiB: how many bytes of messages being received all connections may
/// hold together (`--max-buffered`).
pub const DEFAULT_MAX_BUFFERED: u64 = 256 * 1024 * 1024;

/// Why `--max-buffered` must hold at least one message of
/// `--max-message-size`, said when it does not.
pub const ONE_MESSAGE: &str =
    "the budget must hold one message of --max-message-size, or every long message is refused";

/// How long a connection may stay silent before the server pings it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The options of an echoing chapter (5 to 9), read once from the command
/// line: where to listen, and the largest message accepted.
#[derive(Debug, Clone)]
pub struct EchoOptions {
    pub listen: listener::Options,
    pub max_message_size: u64,
}

/// An echoing chapter's command line (5 to 9): [`listener::Listen`] and
/// `--max-message-size BYTES`.
#[derive(Debug, Clone, clap::Parser)]
pub struct EchoArgs {
    #[command(flatten)]
    pub listen: listener::Listen,
    /// The largest message accepted, in bytes (16 MiB); a longer one is
    /// refused with close code 1009
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_MESSAGE_SIZE,
        value_parser = command_line::message_size
    )]
    pub max_message_size: u64,
}

impl EchoOptions {
    /// Reads [`EchoArgs`] from the command line.
    pub fn from_env() -> Result<EchoOptions, CommandLineError> {
        let args: EchoArgs = command_line::parse_chapter()?;
        Ok(EchoOptions {
            listen: args.listen.options(),
            max_message_size: args.max_message_size,
        })
    }
}

/// What an echo server allows (chapters 10, 13 and 15), decided once at
/// start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_message_size: u64,
    pub idle_timeout: Duration,
    pub frame_timeout: Duration,
    /// Shared by every connection: the bytes of messages being received.
    pub budget: Arc<Budget>,
}

/// An echo server's whole command line (chapters 10, 13 and 15), read
/// once: where to listen and how many at once, what it allows, and how
/// much it tells.
#[derive(Debug)]
pub struct ServerOptions {
    pub listen: listener::Options,
    pub settings: Settings,
    pub level: Level,
}

/// An echo server's options (chapters 10, 12, 13 and 15): the listener's
/// with the connection cap, the timeouts, the limits on messages, and how
/// much to tell. A chapter with options of its own flattens it into its
/// own `clap::Parser` and calls [`ServerArgs::resolve`].
#[derive(Debug, Clone, clap::Parser)]
pub struct ServerArgs {
    #[command(flatten)]
    pub listen: listener::Capped,
    /// How long a client has to send its request head, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(listener::HANDSHAKE_TIMEOUT))]
    pub handshake_timeout: Seconds,
    /// The largest message accepted, in bytes (16 MiB); a longer one is
    /// refused with close code 1009
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_MESSAGE_SIZE,
        value_parser = command_line::message_size
    )]
    pub max_message_size: u64,
    /// How long a connection may stay silent before the server pings it,
    /// in seconds; silent as long again, it is closed with code 1001
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(DEFAULT_IDLE_TIMEOUT))]
    pub idle_timeout: Seconds,
    /// A frame in progress must arrive whole, or 64 KiB more of it, within
    /// each such period, in seconds, or it is refused with close code 1008;
    /// one that stops arriving altogether is dropped at the idle timeout
    /// [default: the idle timeout]
    #[arg(long, value_name = "SECONDS")]
    pub frame_timeout: Option<Seconds>,
    /// How many bytes of messages being received all connections may hold
    /// together (256 MiB), at least one message of --max-message-size; a
    /// message over what is left is refused with close code 1013
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BUFFERED)]
    pub max_buffered: u64,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// `--max-buffered` checked against `--max-message-size`: the budget must
/// hold one message. The problem, when there is one, names the option.
pub fn budget(max_buffered: u64, max_message_size: u64) -> Result<Arc<Budget>, String> {
    let minimum = max_message_size.max(1);
    if max_buffered < minimum {
        return Err(format!(
            "--max-buffered must be at least {minimum}, not {max_buffered}: {ONE_MESSAGE}"
        ));
    }
    Ok(Budget::new(max_buffered))
}

impl ServerArgs {
    /// The options these arguments give, once checked across each other;
    /// a mistake reads as `P`'s (the whole command line's) own.
    pub fn resolve<P: CommandFactory>(self) -> Result<ServerOptions, CommandLineError> {
        let mut listen = self.listen.options();
        listen.handshake_timeout = self.handshake_timeout.0;
        let idle_timeout = self.idle_timeout.0;
        let settings = Settings {
            max_message_size: self.max_message_size,
            idle_timeout,
            frame_timeout: self
                .frame_timeout
                .map_or(idle_timeout, |Seconds(timeout)| timeout),
            budget: budget(self.max_buffered, self.max_message_size)
                .map_err(command_line::invalid::<P>)?,
        };
        Ok(ServerOptions {
            listen,
            settings,
            level: self.verbosity.level(),
        })
    }
}

impl ServerOptions {
    /// [`ServerArgs`] from the command line, for a chapter with no options
    /// of its own.
    pub fn from_env() -> Result<ServerOptions, CommandLineError> {
        let args: ServerArgs = command_line::parse_chapter()?;
        args.resolve::<ServerArgs>()
    }
}

/// The story of a complete message and its echo: the whole story when
/// `--verbose`, one line by default.
pub fn tell_echo(message: &Message) {
    if narrate::tells(Level::Frames) {
        if message.frames > 1 {
            narrate::received(format_args!(
                "Assembled a {} message from {} frames: {} bytes",
                message.opcode,
                message.frames,
                message.payload.len()
            ));
        }
        narrate::plain(format_args!("  {}", narrate::preview(message)));
        let echo_header = frame::FrameHeader {
            fin: true,
            rsv: 0,
            opcode: message.opcode,
            mask: None,
            payload_len: message.payload.len() as u64,
        };
        narrate::sent(format_args!(
            "Echoing {} frame: {} bytes, header {:?}",
            message.opcode,
            message.payload.len(),
            frame::encode_header(&echo_header)
        ));
    } else if narrate::tells(Level::Messages) {
        let frames = if message.frames > 1 {
            format!(" in {} frames", message.frames)
        } else {
            String::new()
        };
        narrate::summary(format_args!(
            "← {} {} bytes{frames} {} → echoed",
            message.opcode,
            message.payload.len(),
            narrate::preview(message)
        ));
    }
}

/// Sets the timeouts for the conversation that follows a handshake, and,
/// with an idle timeout, the rule that our output must move on
/// ([`Stretch`]).
pub fn start(connection: &mut Connection, idle_timeout: Option<Duration>) -> Result<(), Error> {
    narrate::summary("connected: handshake completed");
    // The handshake had a deadline; a conversation may idle for as long as
    // the chapter allows (`None`: for ever).
    connection.set_read_timeout(idle_timeout)?;
    // A peer that stops reading blocks our writes: give up on it as soon as
    // on a silent one (or after the handshake's 10 s, without an idle timeout).
    let write_timeout = idle_timeout.unwrap_or(listener::HANDSHAKE_TIMEOUT);
    connection.writer.set_write_timeout(Some(write_timeout))?;
    // And on one that reads too slowly (`Stretch`), from chapter 10 on.
    if let Some(idle_timeout) = idle_timeout {
        connection.writer.demand_progress(idle_timeout);
    }
    Ok(())
}

/// Where a conversation's outgoing frames go: straight onto the socket for
/// the echo server, through a member's queue for the chat (chapter 11).
pub trait Outbox {
    /// Sends one complete, unfragmented frame.
    fn send(&mut self, frame: &OutgoingFrame) -> Result<(), Error>;

    /// A close decided away from this connection's thread (the chat room
    /// letting a member go), once: [`converse`] starts it through the
    /// session, as the application's own close.
    fn close_requested(&mut self) -> Option<(CloseCode, &'static str)> {
        None
    }

    /// The idle timeout, when reads time out sooner than it to look at
    /// [`Outbox::close_requested`]; `None`: a read that times out has been
    /// idle for the idle timeout.
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }
}

/// The first header bits of an outgoing frame: RSV1 if it is compressed.
pub fn rsv_of(frame: &OutgoingFrame) -> u8 {
    if frame.compressed { RSV1 } else { 0 }
}

impl Outbox for Socket {
    fn send(&mut self, outgoing: &OutgoingFrame) -> Result<(), Error> {
        frame::write_with_rsv(
            self,
            true,
            rsv_of(outgoing),
            outgoing.opcode,
            &outgoing.payload,
        )?;
        Ok(())
    }
}

/// An outgoing frame as an event loop's output queues it: a short frame
/// in one piece, a long payload after its header as it is, not copied.
pub fn wire_bytes(outgoing: OutgoingFrame) -> impl Iterator<Item = Vec<u8>> {
    let mut header = frame::encode_header(&frame::FrameHeader {
        fin: true,
        rsv: rsv_of(&outgoing),
        opcode: outgoing.opcode,
        mask: None,
        payload_len: outgoing.payload.len() as u64,
    });
    let long = if outgoing.payload.len() <= 1024 {
        header.extend_from_slice(&outgoing.payload);
        None
    } else {
        Some(outgoing.payload)
    };
    std::iter::once(header).chain(long)
}

/// How much of a frame in progress must arrive in each `frame_timeout`,
/// and how much of our output must go out in each idle timeout.
pub const FRAME_PROGRESS_BYTES: usize = 64 * 1024;

/// A stretch of output waiting for its peer to read it: when it began, and
/// how much went out since. After [`FRAME_PROGRESS_BYTES`] a new stretch
/// begins.
///
/// The rule it keeps is the reading side's turned round: a peer that stops
/// reading is given up on at the idle timeout, and so is one that reads
/// less than [`FRAME_PROGRESS_BYTES`] within each. Without it, a peer that
/// reads our echo a few bytes at a time, just often enough, holds the
/// message, and its share of `--max-buffered`, for as long as it likes.
/// The blocking chapters keep it in [`listener::Socket`]'s writes: a
/// stretch lasts from a write that leaves output waiting until a write
/// takes all it is given. (The event loops of chapters 13 and 15 need no
/// stretch of their own: they hear that a socket can take more only once
/// a good part of its send buffer has drained, so a peer this slow goes
/// quiet for them, and is let go as one that stopped reading.)
#[derive(Debug, Clone, Copy)]
pub struct Stretch {
    pub began: Instant,
    moved: usize,
}

impl Stretch {
    /// A stretch beginning now.
    pub fn begin() -> Stretch {
        Stretch {
            began: Instant::now(),
            moved: 0,
        }
    }

    /// `count` more bytes went out: enough of them begin a new stretch.
    pub fn moved(&mut self, count: usize) {
        self.moved += count;
        if self.moved >= FRAME_PROGRESS_BYTES {
            *self = Stretch::begin();
        }
    }
}

/// The error that ends a connection whose output has not moved on enough
/// within a stretch.
pub fn output_stalled() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the peer has stopped reading, or reads too slowly: less than 64 KiB of our output went out within the idle timeout",
    )
}

/// Feeds what `reader` delivers to `session` until the conversation ends,
/// handing each complete message to `on_message` and each frame the
/// session queues to `outbox`.
///
/// With a `frame_timeout`, a frame must progress: within every
/// `frame_timeout` it must arrive whole or by at least
/// [`FRAME_PROGRESS_BYTES`] more, or it fails with 1008. The idle timeout
/// alone cannot see a peer that trickles a byte at a time, since every byte
/// resets it.
pub fn converse(
    reader: &mut impl Read,
    outbox: &mut dyn Outbox,
    session: &mut Session,
    frame_timeout: Option<Duration>,
    on_message: &mut dyn FnMut(Message, &mut Session) -> Result<(), Error>,
) -> Result<(), Error> {
    // When the current stretch of a frame began, and how much came since.
    let mut stretch: Option<(Instant, usize)> = None;
    let idle_timeout = outbox.idle_timeout();
    let mut heard_at = Instant::now();
    loop {
        if let Some((code, reason)) = outbox.close_requested() {
            narrate::summary(format_args!("→ close {code} {reason:?}"));
            session.close(code, reason);
        }
        while let Some(event) = session.next_event() {
            // Given up without a close frame: an error, for the caller to
            // tell.
            if let Event::Dropped(why) = event {
                return Err(frame::FrameError::from(why).into());
            }
            narrate::session::tell(&event);
            if let Event::Message(message) = event {
                on_message(message, session)?;
            }
        }
        for frame in session.take_outgoing() {
            outbox.send(&frame)?;
        }
        if session.is_finished() {
            return Ok(());
        }
        match reader.read(session.buffer()) {
            Ok(0) => session.end_of_stream(),
            Ok(count) => {
                heard_at = Instant::now();
                session.filled(count);
                if let Some(limit) = frame_timeout {
                    check_progress(session, &mut stretch, count, limit);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            // A wake-up before the idle timeout only looks for a close.
            Err(error)
                if is_timeout(&error)
                    && idle_timeout.is_some_and(|idle| heard_at.elapsed() < idle) => {}
            Err(error) if is_timeout(&error) => {
                heard_at = Instant::now();
                session.timed_out(Timeout::Idle);
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Fails the session if its frame in progress has not moved on enough:
/// `stretch` remembers when the current stretch of the frame began and
/// how much of it came since, and `count` bytes just arrived. Checked at
/// every read, by the blocking loop above and by chapter 13's event loop.
pub fn check_progress(
    session: &mut Session,
    stretch: &mut Option<(Instant, usize)>,
    count: usize,
    limit: Duration,
) {
    if !session.is_mid_frame() {
        *stretch = None;
        return;
    }
    let now = Instant::now();
    let (started, arrived) = stretch.get_or_insert((now, 0));
    *arrived += count;
    if *arrived >= FRAME_PROGRESS_BYTES {
        *stretch = Some((now, 0));
    } else if now.duration_since(*started) > limit {
        session.timed_out(Timeout::FrameStalled {
            seconds: limit.as_secs_f64(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stretch_begins_again_once_64_kib_went_out_and_not_before() {
        let first = Stretch::begin();
        let mut stretch = first;
        std::thread::sleep(Duration::from_millis(2));
        stretch.moved(FRAME_PROGRESS_BYTES - 1);
        assert_eq!(stretch.began, first.began, "one byte short of 64 KiB");
        stretch.moved(1);
        assert!(
            stretch.began > first.began,
            "64 KiB in all begins a new one"
        );
        let renewed = stretch.began;
        std::thread::sleep(Duration::from_millis(2));
        stretch.moved(FRAME_PROGRESS_BYTES - 1);
        assert_eq!(stretch.began, renewed, "the count starts again from zero");
    }
}
