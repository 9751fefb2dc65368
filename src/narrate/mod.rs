//! Narration: what a chapter says about the bytes it receives and sends.
//!
//! Every chapter tells its story on standard error, one line at a time, in
//! the voice of the article it follows ("Incoming Request", "Got mask: …").
//! Colours help on a terminal and get in the way everywhere else, so
//! [`init`] decides once, at start-up, from *stderr* — the stream we
//! actually write to — and honours the `NO_COLOR` and `CLICOLOR_FORCE`
//! conventions.
//!
//! Not part of RFC 6455; it is how this tutorial shows RFC 6455 at work.

pub mod diagram;
pub mod session;

use std::cell::Cell;
use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use colored::{ColoredString, Colorize};

use crate::protocol::frame::{FrameHeader, LengthField, Opcode};
use crate::protocol::message::Message;

/// How much a server tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only problems (for benchmarks).
    Quiet = 0,
    /// One line per message (chapter 10's default).
    Messages = 1,
    /// The whole story, frame by frame (chapters 1–9, and chapter 10's `--verbose`).
    Frames = 2,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Frames as u8);

thread_local! {
    /// The connection this thread serves, shown on one-line summaries.
    static CONNECTION: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Whether [`init`] has decided.
static COLOR_DECIDED: Once = Once::new();

/// Decides whether narration is coloured, once per process: the listener
/// calls it before the listening line, and the first styled line calls it
/// too, so that a line said before that (a chapter's start-up problem)
/// follows the same rule.
///
/// The `colored` crate looks at *stdout* by default, but our narration goes
/// to stderr: `cargo run 2>log.txt` must give a plain log, and piping stdout
/// must not strip colours from the terminal.
pub fn init() {
    COLOR_DECIDED.call_once(|| {
        colored::control::set_override(should_color(
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("CLICOLOR_FORCE").as_deref(),
            std::io::stderr().is_terminal(),
        ));
    });
}

/// `NO_COLOR` (any non-empty value) wins, then `CLICOLOR_FORCE` (non-zero),
/// then whether stderr is a terminal.
fn should_color(
    no_color: Option<&std::ffi::OsStr>,
    force: Option<&std::ffi::OsStr>,
    stderr_is_terminal: bool,
) -> bool {
    if no_color.is_some_and(|value| !value.is_empty()) {
        return false;
    }
    if force.is_some_and(|value| !value.is_empty() && value != "0") {
        return true;
    }
    stderr_is_terminal
}

/// `--verbose` (the frame-by-frame story) or `--quiet` (problems only);
/// without either, one line per message.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Verbosity {
    /// Tell the whole story, frame by frame [default: one line per message]
    #[arg(long)]
    pub verbose: bool,
    /// Tell only problems (--verbose wins if both are given)
    #[arg(long)]
    pub quiet: bool,
}

impl Verbosity {
    pub fn level(&self) -> Level {
        match (self.verbose, self.quiet) {
            (true, _) => Level::Frames,
            (false, true) => Level::Quiet,
            (false, false) => Level::Messages,
        }
    }
}

/// Chooses how much to tell, for the whole process.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether lines of `level` are printed. Check it before building a line
/// that costs something to format: on a busy server, the formatting of
/// lines nobody sees would be the slowest part.
pub fn tells(level: Level) -> bool {
    LEVEL.load(Ordering::Relaxed) >= level as u8
}

/// Marks the current thread as serving connection number `id`.
pub fn set_connection(id: u64) {
    CONNECTION.with(|cell| cell.set(Some(id)));
}

/// The current thread serves no connection in particular (an event
/// loop between connections, chapter 13): lines go out without a number.
pub fn forget_connection() {
    CONNECTION.with(|cell| cell.set(None));
}

/// How many lines may wait for a slow stderr before new ones are dropped.
pub const QUEUE_LINES: usize = 4096;

/// Where lines go once [`write_through_queue`] has started the writer.
static QUEUE: OnceLock<SyncSender<String>> = OnceLock::new();
/// Lines left out because the queue was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Lines queued and not yet written.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// From now on, lines go through a queue of at most `capacity` lines to
/// one writer thread, instead of being written by whoever logs them
/// (chapters 10 to 15).
///
/// A write to stderr can block (a pipe nobody reads) or fail (a pipe
/// whose reader is gone). Written from a connection's thread, the first
/// freezes that connection and the second would kill it. Through the
/// queue, a connection only ever *offers* a line: when the queue is full
/// the line is dropped and counted, and the writer says how many were
/// lost ("… 1,234 lines dropped") once it can write again; a failed write
/// is ignored.
pub fn write_through_queue(capacity: usize) {
    let (sender, lines) = mpsc::sync_channel(capacity.max(1));
    let started = std::thread::Builder::new()
        .name("log writer".into())
        .spawn(move || write_lines(lines));
    // Without a writer thread, lines are written directly, as before.
    if started.is_ok() {
        let _ = QUEUE.set(sender);
    }
}

fn write_lines(lines: Receiver<String>) {
    let mut stderr = std::io::stderr();
    loop {
        // Waiting a second at most: lines dropped just before the server
        // went quiet are still reported, not only when the next line comes.
        let line = match lines.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(stderr, "… {} lines dropped", with_commas(dropped));
        }
        if let Some(line) = line {
            let _ = writeln!(stderr, "{line}");
            PENDING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// `1234567` as `1,234,567`.
fn with_commas(number: u64) -> String {
    let digits = number.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// The longest line kept, in bytes: a line a peer can lengthen (a request
/// line quoted with its escapes, a list of extension offers) is cut there,
/// so that the queue holds at most [`QUEUE_LINES`] × this, not × 8 KiB of
/// head times the 6 bytes of an escaped control character.
pub const MAX_LINE_BYTES: usize = 1024;

/// `line` cut to [`MAX_LINE_BYTES`], at a character boundary, saying how
/// much was left out (and ending any colour the cut left open).
fn bounded(line: String) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line;
    }
    let mut cut = MAX_LINE_BYTES;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    // A new string: `truncate` would keep the long one's memory.
    let mut kept = format!("{}… ({} bytes more)", &line[..cut], line.len() - cut);
    if line.contains('\x1b') {
        kept.push_str("\x1b[0m");
    }
    kept
}

/// Line and paragraph separators and format characters (Unicode's Cf)
/// other than the two joiners (U+200C and U+200D, which scripts and emoji
/// need): invisible, and some reorder what follows them on a terminal (a
/// right-to-left override, U+202E, shows `abc\u{202E}gnp.exe` as
/// "abcexe.png"). Every line is written with these escaped, so that a
/// peer's bytes quoted in a line cannot rearrange it.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{180E}'
        | '\u{200B}'
        | '\u{200E}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}')
}

/// `line` with its invisible formatting characters written as escapes
/// (`\u{202e}`); the same `String` when it has none.
fn with_formatting_shown(line: String) -> String {
    if !line.chars().any(is_invisible_format) {
        return line;
    }
    escaped_where(&line, is_invisible_format)
}

/// `text` with every character `hidden` picks out written as an escape
/// (`\u{202e}`), the others as they are.
pub fn escaped_where(text: &str, hidden: impl Fn(char) -> bool) -> String {
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hidden(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// Writes one line: offered to the writer's queue if there is one, else
/// straight to stderr. Never waits for a slow stderr once the queue runs,
/// and never panics on a failed write.
fn emit(line: String) {
    let line = bounded(with_formatting_shown(line));
    match QUEUE.get() {
        Some(queue) => {
            PENDING.fetch_add(1, Ordering::Relaxed);
            match queue.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    PENDING.fetch_sub(1, Ordering::Relaxed);
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        None => {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

/// Waits (a second at most) for queued lines to be written: before the
/// process exits, so that its last words are not lost. How many lines were
/// dropped is said through the queue too, never written here: the writer
/// may be stuck in a write to a stderr nobody reads, holding its lock.
pub fn flush() {
    let deadline = Instant::now() + Duration::from_secs(1);
    let written = || {
        while PENDING.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    written();
    // Lines are dropped only where a queue runs.
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        emit(format!("… {} lines dropped", with_commas(dropped)));
        written();
    }
}

/// A line of the frame-by-frame story, styled: shown at [`Level::Frames`]
/// only, and neither formatted nor styled at other levels (a peer may send
/// frames by the million).
fn say(text: impl Display, style: fn(&str) -> ColoredString) {
    if tells(Level::Frames) {
        init();
        emit(style(&text.to_string()).to_string());
    }
}

/// A one-line summary of a message or an event on a connection, shown at
/// [`Level::Messages`] only (at [`Level::Frames`] the story already says it).
pub fn summary(text: impl Display) {
    if LEVEL.load(Ordering::Relaxed) == Level::Messages as u8 {
        init();
        match CONNECTION.with(Cell::get) {
            Some(id) => emit(format!("{} {text}", format!("#{id}").dimmed())),
            None => emit(text.to_string()),
        }
    }
}

/// What happened in a place many connections share (a chat room: who
/// joined, said or left; whether the other servers are reachable): shown
/// at [`Level::Messages`] as a [`summary`] is, and at [`Level::Frames`]
/// too, where the frames alone do not say it. Like a [`problem`], it
/// carries the connection's number only where the frame-by-frame story
/// does not run.
pub fn news(text: impl Display) {
    if tells(Level::Frames) {
        emit(text.to_string());
    } else {
        summary(text);
    }
}

/// A plain line, such as a request header printed as it arrived.
pub fn plain(text: impl Display) {
    say(text, |text| text.normal());
}

/// A line printed at every level, such as where the server listens.
pub fn headline(text: impl Display) {
    init();
    emit(text.to_string().bold().to_string());
}

/// A milestone: a new connection, a completed handshake.
pub fn event(text: impl Display) {
    say(text, |text| text.bold());
}

/// Something the peer sent us.
pub fn received(text: impl Display) {
    say(text, |text| text.cyan());
}

/// Something we send to the peer.
pub fn sent(text: impl Display) {
    say(text, |text| text.green());
}

/// An explanation on the side, dimmed so the protocol stands out.
pub fn aside(text: impl Display) {
    say(text, |text| text.dimmed());
}

/// Something went wrong with one connection; the server carries on.
/// Printed even when quiet.
pub fn problem(text: impl Display) {
    init();
    let text = text.to_string().red();
    match CONNECTION.with(Cell::get) {
        Some(id) if !tells(Level::Frames) => emit(format!("{} {text}", format!("#{id}").dimmed())),
        _ => emit(text.to_string()),
    }
}

/// A text payload as a quoted string, cut after `PREVIEW_CHARS` characters.
pub fn text_preview(text: &str) -> String {
    const PREVIEW_CHARS: usize = 40;
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The first bytes of a binary payload in hex, as `xxd` would show them.
pub fn hex_preview(bytes: &[u8]) -> String {
    const PREVIEW_BYTES: usize = 16;
    let shown: Vec<String> = bytes
        .iter()
        .take(PREVIEW_BYTES)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let more = if bytes.len() > PREVIEW_BYTES {
        " …"
    } else {
        ""
    };
    format!("{}{more}", shown.join(" "))
}

/// How the header wrote the payload length, with the extension's bytes.
pub fn describe_length(header: &FrameHeader) -> String {
    let length = header.payload_len;
    match header.length_field() {
        LengthField::Short => "7-bit length".to_string(),
        LengthField::Extended16 => format!(
            "length 126, then 16-bit {:?}",
            (length as u16).to_be_bytes()
        ),
        LengthField::Extended64 => {
            format!("length 127, then 64-bit {:?}", length.to_be_bytes())
        }
    }
}

/// A message's payload for the log: quoted text, or the first bytes in hex.
pub fn preview(message: &Message) -> String {
    match message.opcode {
        Opcode::Text => text_preview(&String::from_utf8_lossy(&message.payload)),
        _ => format!("hex: {}", hex_preview(&message.payload)),
    }
}

#[cfg(test)]
mod tests {
    use super::{hex_preview, should_color, text_preview, with_commas};

    #[test]
    fn dropped_lines_are_counted_with_commas() {
        assert_eq!(with_commas(7), "7");
        assert_eq!(with_commas(1234), "1,234");
        assert_eq!(with_commas(1234567), "1,234,567");
    }

    #[test]
    fn previews_are_short() {
        assert_eq!(text_preview("hi"), "\"hi\"");
        assert_eq!(
            text_preview(&"é".repeat(50)),
            format!("{:?}…", "é".repeat(40))
        );
        assert_eq!(hex_preview(&[0, 255]), "00 ff");
        assert_eq!(hex_preview(&[1; 20]).matches("01").count(), 16);
    }
    use std::ffi::OsStr;

    #[test]
    fn no_color_beats_everything() {
        assert!(!should_color(
            Some(OsStr::new("1")),
            Some(OsStr::new("1")),
            true
        ));
    }

    #[test]
    fn empty_no_color_is_ignored() {
        assert!(should_color(Some(OsStr::new("")), None, true));
    }

    #[test]
    fn clicolor_force_colors_a_pipe() {
        assert!(should_color(None, Some(OsStr::new("1")), false));
        assert!(!should_color(None, Some(OsStr::new("0")), false));
    }

    #[test]
    fn otherwise_the_terminal_decides() {
        assert!(should_color(None, None, true));
        assert!(!should_color(None, None, false));
    }
}
