//! The client — our own, from scratch (not in the article).
//!
//! The client builds on no chapter's file: it is chapter 2's handshake and
//! chapter 4's frames from the other end, masked as a client must
//! (`src/client.rs`).
//!
//! The article's browser chose its own key and mask, so its numbers are
//! hard to reproduce. This client does the handshake from the client's
//! side (`client::Client::connect_to`: send the upgrade request, check the
//! `101` and its `Sec-WebSocket-Accept`) and sends one masked text frame,
//! with the key and mask you choose:
//!
//! ```text
//! cargo run --bin client -- --key E4i4gDQc1XTIQcQxvf+ODA== --mask 80,191,161,254
//! ```
//!
//! Those are the article's values, and against chapter 3 they produce its
//! bytes exactly. Without them the client picks fresh random ones, as a
//! browser must (RFC 6455 §4.1, §5.3).
//!
//! After sending, it prints whatever the server answers, decoded: close
//! frames as their code and reason, long payloads shortened. When a reply
//! arrives it starts the closing handshake (a close frame with code 1000,
//! RFC 6455 §5.5.1), answers pings with pongs, and stops when the server
//! closes the connection. What it receives goes through the same session
//! engine as a server's (`protocol::session`), in the client's role: it
//! checks the server's frames by the same rules, and refuses masked ones.
//!
//! It can also send what each chapter is about, to provoke it by hand: a
//! binary message (`--binary`, chapter 6), fragments (`--fragments N`,
//! chapter 7), a ping first (`--ping TEXT`, chapter 8), a close code and
//! reason of your choice (`--close CODE --reason TEXT`, chapter 9), text
//! that is not UTF-8 (`--invalid-utf8`, 1007), raw bytes (`--hex`), or an
//! offer of compression (`--deflate`, chapter 12). `cargo run --bin client
//! -- --help` lists every option with its meaning and default.
//!
//! With `--deflate` against chapter 12, the lesson shows from the client's
//! side too: the frame it sends, RSV1 set and its payload compressed, and
//! how many bytes the echo took on the wire.
//!
//! With `--echo` the client is the peer Autobahn's client suite tests
//! (`tests/autobahn/run-client`: `wstest -m fuzzingserver`, one connection
//! per case on `--path "/runCase?case=N&agent=NAME"`); with `--echo
//! --deflate` it passes the suite's compression cases too (12.*, 13.*).

use std::io;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use clap::Parser;
use websocket_from_scratch::client::{self, Client, MaskKey};
use websocket_from_scratch::command_line::{self, CommandLineError};
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::close::{CloseCode, CloseFrame};
use websocket_from_scratch::protocol::control;
use websocket_from_scratch::protocol::frame::{FrameError, Opcode};
use websocket_from_scratch::protocol::http::is_timeout;
use websocket_from_scratch::protocol::session::{Event, Session, Timeout};
use websocket_from_scratch::server::listener::DEFAULT_PORT;

/// Two bytes that are not UTF-8: 0xC3 starts a two-byte character, and
/// 0x28 ("(") cannot continue it.
const INVALID_UTF8: [u8; 2] = [0xC3, 0x28];

/// More fragments than this is a typo, not a lesson.
const MAX_FRAGMENTS: usize = 10_000;

/// The largest message the client accepts: Autobahn's largest is 16 MiB.
const MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;

/// How long the client waits for a reply, then for the answer to its
/// close, then for the server to close TCP. Each is a deadline, not a
/// read timeout: a server that keeps sending pings, pongs or empty
/// fragments cannot keep the client for ever.
const PATIENCE: Duration = Duration::from_secs(5);

/// What to send, and where: the whole command line, read once.
struct Options {
    port: u16,
    key: String,
    /// `--mask`: every frame's key; without it, a fresh key per frame.
    mask: Option<[u8; 4]>,
    message: String,
    binary: bool,
    fragments: usize,
    ping: Option<Vec<u8>>,
    close: Option<u16>,
    reason: String,
    invalid_utf8: bool,
    hex: Option<HexBytes>,
    path: String,
    echo: bool,
    deflate: bool,
}

/// Our own WebSocket client, from scratch: it connects to a chapter's
/// server, sends one message (or what the options ask), prints what the
/// server answers, and closes.
#[derive(Parser)]
struct Command {
    /// The server's port, on localhost
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// The handshake's Sec-WebSocket-Key, 16 bytes in base64, such as the
    /// article's E4i4gDQc1XTIQcQxvf+ODA== [default: random]
    #[arg(long, value_name = "BASE64")]
    key: Option<Key>,
    /// The masking key of every frame sent, four bytes, such as the
    /// article's 80,191,161,254 [default: a fresh random key per frame]
    #[arg(long, value_name = "A,B,C,D")]
    mask: Option<MaskKey>,
    /// The message to send
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "Can you hear me?",
        allow_hyphen_values = true
    )]
    message: String,
    /// Send the message as a binary message (chapter 6)
    #[arg(long)]
    binary: bool,
    /// Split the message over N frames (chapter 7), 1 to 10000
    #[arg(long, value_name = "N", default_value = "1")]
    fragments: Fragments,
    /// Send a ping with this payload first (chapter 8), at most 125 bytes
    /// [default: no ping]
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    ping: Option<PingPayload>,
    /// Close with this code (chapter 9) [default: 1000, normal closure]
    #[arg(long, value_name = "CODE")]
    close: Option<u16>,
    /// The reason sent with the close code, at most 123 bytes
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "",
        allow_hyphen_values = true
    )]
    reason: CloseReason,
    /// Send text that is not UTF-8 instead of the message (chapters 5 and
    /// 9: the server closes with 1007)
    #[arg(long)]
    invalid_utf8: bool,
    /// Send these bytes as they are instead of a message, in hex, such as
    /// "81 80 01 02 03 04" [default: none]
    #[arg(long, value_name = "BYTES")]
    hex: Option<HexBytes>,
    /// Open the WebSocket on this path, such as
    /// "/runCase?case=1&agent=ours"
    #[arg(long, value_name = "PATH", default_value = "/")]
    path: Path,
    /// Send nothing: echo every message back until the server closes
    /// (Autobahn's client suite)
    #[arg(long)]
    echo: bool,
    /// Offer permessage-deflate (chapter 12); if the server agrees,
    /// messages go compressed, one frame each
    #[arg(long)]
    deflate: bool,
}

impl Options {
    fn from_env() -> Result<Options, CommandLineError> {
        let command: Command = command_line::parse()?;
        let Fragments(fragments) = command.fragments;
        if command.deflate && fragments > 1 {
            return Err(command_line::invalid::<Command>(
                "--deflate sends each message in one frame: leave out --fragments",
            ));
        }
        let Path(path) = command.path;
        Ok(Options {
            port: command.port,
            key: command.key.map_or_else(client::random_key, |Key(key)| key),
            mask: command.mask.map(|MaskKey(mask)| mask),
            message: command.message,
            binary: command.binary,
            fragments,
            ping: command.ping.map(|PingPayload(payload)| payload),
            close: command.close,
            reason: command.reason.0,
            invalid_utf8: command.invalid_utf8,
            hex: command.hex,
            path,
            echo: command.echo,
            deflate: command.deflate,
        })
    }
}

/// A number of fragments, 1 to [`MAX_FRAGMENTS`].
#[derive(Clone)]
struct Fragments(usize);

impl FromStr for Fragments {
    type Err = String;

    fn from_str(text: &str) -> Result<Fragments, String> {
        match text.parse() {
            Ok(count @ 1..=MAX_FRAGMENTS) => Ok(Fragments(count)),
            _ => Err(format!("a number of fragments from 1 to {MAX_FRAGMENTS}")),
        }
    }
}

/// A ping's payload: at most 125 bytes, as every control frame's (RFC 6455
/// §5.5). Checked here, a longer one is a mistake in the command line, not
/// a frame the server must refuse.
#[derive(Clone)]
struct PingPayload(Vec<u8>);

impl FromStr for PingPayload {
    type Err = String;

    fn from_str(text: &str) -> Result<PingPayload, String> {
        match text.len() {
            0..=control::MAX_PAYLOAD => Ok(PingPayload(text.as_bytes().to_vec())),
            length => Err(format!(
                "{length} bytes; a ping is a control frame, which carries at most {} (RFC 6455 §5.5)",
                control::MAX_PAYLOAD
            )),
        }
    }
}

/// A close frame's reason: at most 123 bytes, the 125 of a control frame
/// less the code's two (RFC 6455 §5.5, §5.5.1). Checked here, a longer one
/// is a mistake in the command line, not a reason cut short unsaid.
#[derive(Clone)]
struct CloseReason(String);

impl FromStr for CloseReason {
    type Err = String;

    fn from_str(text: &str) -> Result<CloseReason, String> {
        let most = control::MAX_PAYLOAD - 2;
        if text.len() <= most {
            Ok(CloseReason(text.to_string()))
        } else {
            Err(format!(
                "{} bytes; a close frame carries at most {} (RFC 6455 §5.5), two of them the code",
                text.len(),
                control::MAX_PAYLOAD
            ))
        }
    }
}

/// A Sec-WebSocket-Key: 16 bytes in base64 (RFC 6455 §4.1), and so
/// nothing that could break the request it goes in.
#[derive(Clone)]
struct Key(String);

impl FromStr for Key {
    type Err = String;

    fn from_str(text: &str) -> Result<Key, String> {
        use base64::Engine;
        match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) if bytes.len() == 16 => Ok(Key(text.to_string())),
            _ => Err("16 bytes in base64, such as E4i4gDQc1XTIQcQxvf+ODA==".to_string()),
        }
    }
}

/// A request target: starts with `/`, and holds nothing that would break
/// the request line, nor a fragment (`#`: no request-target has one, RFC
/// 9112 §3.2, nor has a WebSocket URI, RFC 6455 §3).
#[derive(Clone)]
struct Path(String);

impl FromStr for Path {
    type Err = String;

    fn from_str(text: &str) -> Result<Path, String> {
        if text.starts_with('/') && text.chars().all(|c| c.is_ascii_graphic() && c != '#') {
            Ok(Path(text.to_string()))
        } else {
            Err(
                "a path such as /runCase?case=1&agent=ours: a '/' first, no spaces, no '#' (write %23)"
                    .to_string(),
            )
        }
    }
}

/// Bytes written in hex, `81 80 01 02` or `8180,0x01,0x02`.
#[derive(Clone)]
struct HexBytes(Vec<u8>);

impl FromStr for HexBytes {
    type Err = String;

    fn from_str(text: &str) -> Result<HexBytes, String> {
        let mut digits = String::new();
        for token in text.split(|c: char| c.is_whitespace() || c == ',' || c == ':') {
            digits.push_str(token.strip_prefix("0x").unwrap_or(token));
        }
        if digits.is_empty() || !digits.len().is_multiple_of(2) {
            return Err("an even number of hex digits, such as \"81 80 01 02 03 04\"".into());
        }
        let pairs = digits.as_bytes().chunks(2);
        pairs
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| format!("{:?} is not a hex byte", String::from_utf8_lossy(pair)))
            })
            .collect::<Result<Vec<u8>, String>>()
            .map(HexBytes)
    }
}

fn main() -> ExitCode {
    let options = match Options::from_env() {
        Ok(options) => options,
        Err(stop) => return stop.report(),
    };
    narrate::init();
    let outcome = if options.echo {
        echo(&options)
    } else {
        talk(&options)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            narrate::problem(problem);
            ExitCode::FAILURE
        }
    }
}

/// Frame bytes for the log: all of them when short, the start when long.
fn shown_bytes(bytes: &[u8]) -> String {
    const SHOWN: usize = 32;
    if bytes.len() <= 64 {
        return format!("{bytes:?}");
    }
    format!("{:?} … ({} bytes)", &bytes[..SHOWN], bytes.len())
}

/// A payload for the log: text quoted, anything else in hex, both cut short.
fn shown_payload(opcode: Opcode, payload: &[u8]) -> String {
    match (opcode, std::str::from_utf8(payload)) {
        (Opcode::Binary, _) | (_, Err(_)) => format!("hex: {}", narrate::hex_preview(payload)),
        (_, Ok(text)) => narrate::text_preview(text),
    }
}

/// The frames that carry `payload`: one, or `count` fragments, the first
/// with the message's opcode and the others continuations (§5.4).
fn fragments(opcode: Opcode, payload: &[u8], count: usize) -> Vec<(bool, Opcode, &[u8])> {
    (0..count)
        .map(|index| {
            let start = payload.len() * index / count;
            let end = payload.len() * (index + 1) / count;
            let kind = if index == 0 {
                opcode
            } else {
                Opcode::Continuation
            };
            (index + 1 == count, kind, &payload[start..end])
        })
        .collect()
}

fn talk(options: &Options) -> Result<(), String> {
    let (port, key) = (options.port, options.key.as_str());
    // §5.3: a fresh key for every frame, unless --mask chose one.
    let fresh_mask = || options.mask.unwrap_or_else(client::random_mask);
    let mask = fresh_mask();
    narrate::event(format!("Connecting to ws://localhost:{port}"));
    narrate::sent(format!("Sending handshake with key: {key}"));
    let offer = options.deflate.then_some(client::DEFLATE_OFFER);
    if let Some(offer) = offer {
        narrate::sent(format!("Offering Sec-WebSocket-Extensions: {offer}"));
    }
    let mut client =
        Client::connect_to(port, &options.path, key, offer).map_err(|error| error.to_string())?;
    narrate::received(format!("Server answered: {}", client.response.start_line));
    narrate::received(format!(
        "Sec-WebSocket-Accept: {} (the value our key calls for)",
        client
            .response
            .header("Sec-WebSocket-Accept")
            .unwrap_or_default()
    ));
    // What the server sends goes through a client's session: pings are
    // answered, closes echoed, and every frame checked by RFC 6455's rules.
    let (mut session, compressing) = session_for(&client, options)?;

    // Whether the server has hung up: what we send then has nowhere to go,
    // but what the server said before it went is still to be read, and the
    // end of its stream tells the rest.
    let mut gone = false;
    if let Some(payload) = &options.ping {
        narrate::sent(format!("Sending ping {}", control::describe(payload)));
        match client.send(true, Opcode::Ping, payload, fresh_mask()) {
            Ok(bytes) => narrate::sent(format!("Frame bytes: {}", shown_bytes(&bytes))),
            Err(error) => gone = server_gone(error)?,
        }
    }
    if gone {
        // Nothing more to send.
    } else if let Some(HexBytes(bytes)) = &options.hex {
        narrate::sent(format!("Sending raw bytes: {}", shown_bytes(bytes)));
        if let Err(error) = client.send_raw(bytes) {
            gone = server_gone(error)?;
        }
    } else {
        let (opcode, payload) = match (options.binary, options.invalid_utf8) {
            (_, true) => (Opcode::Text, INVALID_UTF8.to_vec()),
            (true, false) => (Opcode::Binary, options.message.as_bytes().to_vec()),
            (false, false) => (Opcode::Text, options.message.as_bytes().to_vec()),
        };
        match (opcode, options.invalid_utf8) {
            (_, true) => narrate::sent(format!(
                "Sending text that is not UTF-8, {INVALID_UTF8:?}, masked with {mask:?}"
            )),
            (Opcode::Text, _) => narrate::sent(format!(
                "Sending {} masked with {mask:?}",
                if payload.len() <= 64 {
                    format!("{:?}", options.message)
                } else {
                    narrate::text_preview(&options.message)
                }
            )),
            _ => narrate::sent(format!(
                "Sending a binary message of {} bytes masked with {mask:?}",
                payload.len()
            )),
        }
        if compressing {
            // The session compresses it, as chapter 12's server does.
            if let Some(frame) = session.send(opcode, payload) {
                narrate::sent(client::compression_outcome(frame));
                narrate::sent(format!("Frame bytes: {}", shown_bytes(&frame.to_bytes())));
            }
            if let Err(error) = client.send_queued(&mut session) {
                gone = server_gone(error)?;
            }
        } else {
            let frames = fragments(opcode, &payload, options.fragments);
            let count = frames.len();
            for (index, (fin, kind, piece)) in frames.into_iter().enumerate() {
                if count > 1 {
                    narrate::sent(format!(
                        "Fragment {} of {count}: {kind} frame, FIN {}, {} bytes",
                        index + 1,
                        u8::from(fin),
                        piece.len()
                    ));
                }
                let key = if index == 0 { mask } else { fresh_mask() };
                match client.send(fin, kind, piece, key) {
                    Ok(bytes) => narrate::sent(format!("Frame bytes: {}", shown_bytes(&bytes))),
                    Err(error) => {
                        gone = server_gone(error)?;
                        break;
                    }
                }
            }
        }
    }

    let mut closing = false;
    // Whether the server's close has come: after it, the server may hang
    // up before our answer goes out (§7.1.7).
    let mut server_closed = false;
    let mut deadline = Instant::now() + PATIENCE;
    // Failing the connection is a failure, whatever follows.
    let mut failure = None;
    loop {
        while let Some(event) = session.next_event() {
            let reply = match event {
                Event::Message(message) => {
                    tell_message(message.opcode, &message.payload, message.frames);
                    if let Some(compressed) = message.compressed_len {
                        narrate::aside(format!("(it came compressed: {compressed} bytes)"));
                    }
                    true
                }
                Event::Ping { payload, .. } => {
                    narrate::received(format!(
                        "Received ping {}; answering with a pong",
                        control::describe(&payload)
                    ));
                    false
                }
                Event::Pong { payload, .. } => {
                    narrate::received(format!(
                        "Received {} frame: {}",
                        Opcode::Pong,
                        shown_payload(Opcode::Pong, &payload)
                    ));
                    true
                }
                Event::CloseReceived(frame) | Event::CloseAnswered(frame) => {
                    narrate::received(describe_close(&frame));
                    closing = true;
                    server_closed = true;
                    false
                }
                Event::Failed { code, reason } => {
                    narrate::problem(format!("Failing the connection ({code}): {reason}"));
                    failure = Some(format!("we failed the connection ({code}): {reason}"));
                    closing = true;
                    false
                }
                Event::HungUp => {
                    narrate::event("The server closed the connection.");
                    return failure.map_or(Ok(()), Err);
                }
                Event::Dropped(why) => return Err(why.to_string()),
                Event::DataFrame(_) | Event::IdlePing => false,
            };
            if reply && !closing {
                start_close(&mut session, options);
                closing = true;
                deadline = Instant::now() + PATIENCE;
            }
        }
        if send_replies(&mut client, &mut session, &mut gone, server_closed)? {
            narrate::event("The server closed the connection.");
            return failure.map_or(Ok(()), Err);
        }
        if session.is_finished() {
            // The conversation is over: how the server then ends TCP (a
            // reset, say) changes nothing of it (§7.1.4).
            return match client.wait_for_close(PATIENCE) {
                Ok(()) => {
                    narrate::event("The server closed the connection.");
                    failure.map_or(Ok(()), Err)
                }
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                    narrate::event("The server reset the connection.");
                    failure.map_or(Ok(()), Err)
                }
                Err(error) if is_timeout(&error) => Err(failure.unwrap_or_else(|| {
                    format!(
                        "the server did not close the connection within {} s of the closing handshake (RFC 6455 §7.1.1)",
                        PATIENCE.as_secs()
                    )
                })),
                Err(error) => Err(error.to_string()),
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            if closing {
                return Err(FrameError::TimedOut.to_string());
            }
            start_close(&mut session, options);
            closing = true;
            deadline = Instant::now() + PATIENCE;
            continue;
        }
        client
            .set_read_timeout(Some(left))
            .map_err(|error| error.to_string())?;
        match client.read_into(&mut session) {
            // A timeout is the deadline's, decided above.
            Ok(()) => {}
            Err(error) if is_timeout(&error) => {}
            // What we sent after the server closed came back as a reset
            // (EPIPE or ECONNRESET on the read): its stream has ended.
            Err(error) if hung_up(&error) => session.end_of_stream(),
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// The client's session, and whether it compresses: it does if the server
/// agreed to our offer of permessage-deflate, masking then with `--mask`,
/// as the message it sends.
fn session_for(client: &Client, options: &Options) -> Result<(Session, bool), String> {
    // `--mask` is every frame's key: the session's (a close, a pong) too.
    if !options.deflate {
        return Ok((Session::client(MAX_MESSAGE_SIZE, options.mask), false));
    }
    match client::deflate_answer(&client.response) {
        Ok(Some(agreement)) => {
            narrate::received(format!(
                "Sec-WebSocket-Extensions: {} (the server agreed)",
                client
                    .response
                    .header("Sec-WebSocket-Extensions")
                    .unwrap_or_default()
            ));
            let session = Session::client(MAX_MESSAGE_SIZE, options.mask).with_deflate(agreement);
            Ok((session, true))
        }
        Ok(None) => {
            narrate::aside("The server declined permessage-deflate: messages go uncompressed.");
            Ok((Session::client(MAX_MESSAGE_SIZE, options.mask), false))
        }
        Err(error) => Err(error.to_string()),
    }
}

/// A message from the server, as one line.
fn tell_message(opcode: Opcode, payload: &[u8], frames: usize) {
    let in_frames = if frames > 1 {
        format!(" (in {frames} frames)")
    } else {
        String::new()
    };
    match opcode {
        Opcode::Text if payload.len() <= 64 && frames == 1 => narrate::received(format!(
            "Received text frame: {:?}",
            String::from_utf8_lossy(payload)
        )),
        _ => narrate::received(format!(
            "Received {opcode} frame of {} bytes{in_frames}: {}",
            payload.len(),
            shown_payload(opcode, payload)
        )),
    }
}

/// Starts the closing handshake with `--close` and `--reason`, or 1000.
fn start_close(session: &mut Session, options: &Options) {
    let code = CloseCode(options.close.unwrap_or(1000));
    match options.close {
        None => narrate::sent("Sending close frame with code 1000 (normal closure)"),
        Some(_) => narrate::sent(format!(
            "Sending close frame with code {code} and reason {:?}",
            options.reason
        )),
    }
    session.close(code, &options.reason);
}

/// Autobahn's peer: sends nothing of its own, echoes every message back
/// until the closing handshake, answers pings, and lets the session fail
/// whatever breaks the rules.
fn echo(options: &Options) -> Result<(), String> {
    let port = options.port;
    narrate::event(format!(
        "Connecting to ws://localhost:{port}{}",
        options.path
    ));
    let offer = options.deflate.then_some(client::DEFLATE_OFFER);
    let mut client = Client::connect_to(port, &options.path, &options.key, offer)
        .map_err(|error| error.to_string())?;
    let (mut session, _) = session_for(&client, options)?;
    let mut echoed = 0_u64;
    let mut server_closed = false;
    // As in `talk`: the server hung up, and what it sent is still to read.
    let mut gone = false;
    loop {
        while let Some(event) = session.next_event() {
            match event {
                Event::Message(message) => {
                    echoed += 1;
                    session.send(message.opcode, message.payload);
                }
                Event::CloseReceived(frame) | Event::CloseAnswered(frame) => {
                    narrate::received(describe_close(&frame));
                    server_closed = true;
                }
                Event::Failed { code, reason } => {
                    narrate::problem(format!("Failing the connection ({code}): {reason}"));
                }
                Event::HungUp => {
                    narrate::event(format!(
                        "The server closed the connection; {echoed} messages echoed."
                    ));
                    return Ok(());
                }
                Event::Dropped(why) => return Err(why.to_string()),
                _ => {}
            }
        }
        if send_replies(&mut client, &mut session, &mut gone, server_closed)? {
            narrate::event(format!(
                "The server closed the connection; {echoed} messages echoed."
            ));
            return Ok(());
        }
        if session.is_finished() {
            // The server closes TCP first (§7.1.1); a reset now is its
            // business, not a failure of ours.
            let _ = client.wait_for_close(PATIENCE);
            narrate::event(format!("Closed; {echoed} messages echoed."));
            return Ok(());
        }
        match client.read_into(&mut session) {
            Ok(()) => {}
            Err(error) if is_timeout(&error) => session.timed_out(Timeout::Idle),
            Err(error) if hung_up(&error) => session.end_of_stream(),
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// Sends the replies the session queued (a pong, our close), unless the
/// server has hung up (`gone`): then they have nowhere to go. True when
/// the server, after its close frame, has closed TCP: the run is over.
fn send_replies(
    client: &mut Client,
    session: &mut Session,
    gone: &mut bool,
    server_closed: bool,
) -> Result<bool, String> {
    if *gone {
        session.take_outgoing().for_each(drop);
        return Ok(false);
    }
    match client.send_queued(session) {
        Ok(()) => Ok(false),
        Err(error) if server_closed && hung_up(&error) => Ok(true),
        Err(error) => {
            *gone = server_gone(error)?;
            Ok(false)
        }
    }
}

/// A failed send: if the server has already closed TCP, that is for its
/// stream's end to tell (true: nothing more can be sent); anything else is
/// a failure of its own.
fn server_gone(error: io::Error) -> Result<bool, String> {
    if hung_up(&error) {
        Ok(true)
    } else {
        Err(format!("sending failed: {error}"))
    }
}

/// Whether a failed send means the server has already closed TCP.
fn hung_up(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

/// A close frame as its code and reason (§5.5.1).
fn describe_close(frame: &CloseFrame) -> String {
    match frame.code {
        Some(code) => format!(
            "Received close frame: code {code}, reason {:?}",
            frame.reason
        ),
        None => "Received close frame with no status code".to_string(),
    }
}
