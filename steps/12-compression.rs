//! Chapter 12 — Compression: permessage-deflate (beyond the article).
//!
//! Chapter 12 is chapter 10 plus permessage-deflate (`diff
//! steps/10-echo-server.rs steps/12-compression.rs`).
//!
//! Chapter 10's echo server, plus the one extension every browser asks for
//! on every connection: `permessage-deflate` (RFC 7692). A chat's JSON
//! goes out at about half its size: ten short messages between two
//! members, 756 bytes, as 406, since each finds the last ones' words in
//! the window; compressed each afresh, as 721 (`cargo test --test
//! chapter_12 a_chats_json_takes -- --nocapture`). (Chapter 11's chat does
//! not take it, and stays as it is.) Everything chapter 10 defends against
//! still holds here, with the same options: the connection cap, the shared
//! `--max-buffered` budget, `--frame-timeout`, logging that never blocks.
//!
//! **The offer and the answer.** A client lists what it would like in the
//! handshake: `Sec-WebSocket-Extensions: permessage-deflate;
//! client_max_window_bits` is what Chromium sends. Several offers may come,
//! comma-separated, most wanted first, each with `;`-separated parameters:
//!
//! * `server_no_context_takeover`: "start each of your messages afresh";
//!   we agree, and say so in the answer.
//! * `client_no_context_takeover`: "I will start each of mine afresh"; we
//!   repeat it, and forget our inflating window after each message.
//! * `server_max_window_bits=N`: "compress with at most 2^N bytes of
//!   history" (8–15); we honour it and repeat it. (zlib has no 256-byte
//!   window for raw DEFLATE, so 8 becomes 9, as everywhere else.)
//! * `client_max_window_bits`, with or without a value: the client's own
//!   window, or its willingness to shrink it. We inflate with a 32 KiB
//!   window, which reads any, so we ask for nothing.
//!
//! An offer with a parameter we do not know, a value out of range or a
//! parameter twice is *declined* (RFC 7692 §7), and the next offer tried;
//! if none is left, the connection goes on uncompressed. The server never
//! fails the handshake over an offer: only the client fails, when our
//! answer is not something it offered. This chapter parses the offers,
//! chooses one and writes the answer itself (`offers_in`, `agreement_for`,
//! `choose`, `answer_for`), with the library's types for what they
//! produce (`extension::Offer`, `DeflateAgreement`, `Decline`), and
//! answers in the `101` (`opening::perform_negotiating`).
//!
//! **On the wire.** A compressed message has RSV1 set on its first frame,
//! and only there: continuation frames and control frames never carry it.
//! Control frames are never compressed at all: they are at most 125 bytes,
//! must be readable in the middle of a fragmented message, and a ping must
//! not wait for (or disturb) the compressor's state. The payload is raw
//! DEFLATE (no zlib header, no checksum) finished with a *sync flush*,
//! which always ends in the four bytes `00 00 ff ff`; the sender drops them
//! and the receiver adds them back before inflating (`protocol::deflate`).
//!
//! **Context takeover.** By default each side keeps its sliding window
//! from one message to the next, so a message may point back into earlier
//! ones: "Hello" costs 7 bytes the first time and 5 the second (RFC 7692
//! §7.2.3.2; `cargo test --lib hello_compresses_to_the_rfc_bytes`). The cost
//! is memory held for the whole life of a connection, idle or not: a 32 KiB
//! window to inflate with, and a compressor whose window and hash tables
//! take a few hundred KiB (`benches/deflate.rs` measures it). Without
//! context takeover, every message starts from nothing: less compression
//! for short messages, but no history to keep.
//!
//! **Safety.** A few kilobytes can inflate to gigabytes. The session
//! inflates each frame as it ends, in steps, and counts the output against
//! `--max-message-size` as it grows: past the limit the connection fails
//! with 1009 before the rest is inflated. Data that is not DEFLATE gets
//! 1007, like text that is not UTF-8. RSV1 without an agreement is still a
//! protocol error (1002), as in chapter 10.
//!
//! **What graduates.** Nothing new in the engine's shape: the session
//! learns the agreement as state (`Session::with_deflate`), and chapter
//! 10, which never negotiates, runs the very same code with RSV1 forbidden.
//! The negotiation written here is also `protocol::extension`
//! (`parse_offers`, `negotiate`, `DeflateAgreement::response`), which the
//! library's other users call.
//!
//! Try it: `cargo run --bin 12-compression`, open <http://localhost:2345>:
//! the page shows the extension your browser agreed to, and the log shows
//! each message's size compressed and raw. Or with our own client, which
//! offers the extension too: `cargo run --bin client -- --deflate`.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/12-compression.snap`; with the client they are connection
//! #1, in a browser #2, after the page's own #1):
//!
//! ```text
//! #1 offered "permessage-deflate; client_max_window_bits" → agreed "permessage-deflate" (server keeps its 15-bit window between messages, client keeps its)
//! #1 ← text 16 bytes (compressed: 18) "Can you hear me?" → echoed
//! #1   echo compressed 16 → 18 bytes, RSV1 set: 72 4e cc 53 a8 cc 2f 55 c8 48 4d 2c 52 c8 4d b5 07 00
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use websocket_from_scratch::Error;
use websocket_from_scratch::narrate::{self, Level};
use websocket_from_scratch::protocol::extension::{Decline, DeflateAgreement, Offer};
use websocket_from_scratch::protocol::frame::{self, FrameHeader};
use websocket_from_scratch::protocol::handshake;
use websocket_from_scratch::protocol::http::Request;
use websocket_from_scratch::protocol::message::Message;
use websocket_from_scratch::protocol::session::{OutgoingFrame, RSV1, Session};
use websocket_from_scratch::server::conversation::{self, ServerOptions, Settings};
use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::server::memory;
use websocket_from_scratch::server::opening::{self, Opening};

fn main() -> ExitCode {
    let ServerOptions {
        listen,
        settings,
        level,
    } = match ServerOptions::from_env() {
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
    listener::exit_code(listener::serve(
        "12-compression",
        &listen,
        move |connection| echo(connection, &settings),
    ))
}

/// Performs the handshake, agreeing on compression if the client offers
/// it, then echoes messages until the client leaves.
fn echo(connection: &mut Connection, settings: &Settings) -> Result<(), Error> {
    let mut agreed = None;
    let opening = opening::perform_negotiating(connection, &mut |request| {
        agreed = negotiate(request);
        agreed.map(|agreement| answer_for(&agreement))
    })?;
    if opening == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Echoing every message until the client leaves.");
    conversation::start(connection, Some(settings.idle_timeout))?;
    let session = match agreed {
        Some(agreement) => Session::new(settings.max_message_size).with_deflate(agreement),
        None => Session::new(settings.max_message_size),
    };
    let mut session = session.with_budget(Arc::clone(&settings.budget));
    let Connection { reader, writer, .. } = connection;
    let frame_timeout = Some(settings.frame_timeout);
    conversation::converse(
        reader,
        writer,
        &mut session,
        frame_timeout,
        &mut |message, session| {
            let opcode = message.opcode;
            let raw_len = message.payload.len();
            tell_echo(&message, agreed.is_some());
            if let Some(sent) = session.send(opcode, message.payload) {
                tell_compressed_echo(sent, raw_len);
            }
            Ok(())
        },
    )
}

/// How many offers, and declined offers, a handshake's narration names.
const TOLD_OFFERS: usize = 4;

/// Reads the client's offers, takes the first permessage-deflate one we
/// can honour, and tells what became of each.
fn negotiate(request: &Request) -> Option<DeflateAgreement> {
    let offers = offers_in(handshake::extension_offers(request));
    if offers.is_empty() {
        narrate::summary("no extension offered: messages go uncompressed");
        return None;
    }
    // A few lines per handshake, however many offers its 8 KiB hold: a
    // client must not be able to fill the log's queue with one request.
    for offer in offers.iter().take(TOLD_OFFERS) {
        narrate::received(format!("Extension offered: {offer}"));
    }
    if offers.len() > TOLD_OFFERS {
        narrate::received(format!("… and {} more offers", offers.len() - TOLD_OFFERS));
    }
    let (agreed, declined) = choose(&offers);
    for (offer, why) in declined.iter().take(TOLD_OFFERS) {
        narrate::summary(format!("declined \"{offer}\": {why}"));
    }
    if declined.len() > TOLD_OFFERS {
        narrate::summary(format!(
            "declined {} more offers",
            declined.len() - TOLD_OFFERS
        ));
    }
    match agreed {
        Some(agreement) => {
            narrate::summary(format!(
                "offered {:?} → agreed {:?} ({})",
                offers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                answer_for(&agreement),
                describe(&agreement)
            ));
            Some(agreement)
        }
        None => {
            narrate::summary("no offer of permessage-deflate we can honour: uncompressed");
            None
        }
    }
}

/// The offers in the `Sec-WebSocket-Extensions` headers, in order: an
/// extension's name, then its parameters, each with or without a value.
fn offers_in<'a>(values: impl Iterator<Item = &'a str>) -> Vec<Offer> {
    let mut offers = Vec::new();
    // lesson: offers at commas, parameters at semicolons (not inside quotes)
    for value in values {
        for item in split_outside_quotes(value, ',') {
            let mut parts = split_outside_quotes(&item, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            let mut params = Vec::new();
            for param in parts {
                match param.split_once('=') {
                    Some((key, value)) => {
                        let value = value.trim();
                        let unquoted =
                            match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                                Some(inner) => unescape(inner).unwrap_or_else(|| value.to_string()),
                                None => value.to_string(),
                            };
                        params.push((key.trim().to_ascii_lowercase(), Some(unquoted)));
                    }
                    None => params.push((param.trim().to_ascii_lowercase(), None)),
                }
            }
            offers.push(Offer { name, params });
        }
    }
    // end of lesson
    offers
}

/// A quoted string's content, each backslash standing for the character
/// after it (RFC 9110 §5.6.4): `"1\2"` is `12`, `"\\12"` a backslash and
/// `12`. `None` if the last backslash escapes the closing quote.
fn unescape(quoted: &str) -> Option<String> {
    let mut unescaped = String::new();
    let mut escaped = false;
    for c in quoted.chars() {
        if c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        unescaped.push(c);
    }
    (!escaped).then_some(unescaped)
}

/// `text` cut at each `separator` that is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if c == separator && !quoted => {
                pieces.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(current) = pieces.last_mut() {
            current.push(c);
        }
    }
    pieces
}

/// The first permessage-deflate offer we can honour, and the ones passed
/// over before it, with why. Other extensions are declined by omission.
fn choose(offers: &[Offer]) -> (Option<DeflateAgreement>, Vec<(Offer, Decline)>) {
    let mut declined = Vec::new();
    // lesson: the first permessage-deflate offer we can honour; why each before it was not
    for offer in offers
        .iter()
        .filter(|offer| offer.name == "permessage-deflate")
    {
        match agreement_for(offer) {
            Ok(agreement) => return (Some(agreement), declined),
            Err(why) => declined.push((offer.clone(), why)),
        }
    }
    // end of lesson
    (None, declined)
}

/// What one offer of permessage-deflate asks of us (RFC 7692 §7.1), or
/// why we decline it: a parameter unknown, twice, or with a bad value.
fn agreement_for(offer: &Offer) -> Result<DeflateAgreement, Decline> {
    let mut agreement = DeflateAgreement {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        server_window_requested: false,
        client_max_window_bits: None,
    };
    // lesson: RFC 7692 §7.1's four parameters, each at most once
    let mut seen: Vec<&str> = Vec::new();
    for (param, value) in &offer.params {
        if seen.contains(&param.as_str()) {
            return Err(Decline::Repeated(param.clone()));
        }
        seen.push(param);
        let bad = || Decline::BadValue {
            param: param.clone(),
            value: value.clone(),
        };
        match param.as_str() {
            "server_no_context_takeover" if value.is_none() => {
                agreement.server_no_context_takeover = true
            }
            "client_no_context_takeover" if value.is_none() => {
                agreement.client_no_context_takeover = true
            }
            "server_no_context_takeover" | "client_no_context_takeover" => return Err(bad()),
            "server_max_window_bits" => {
                agreement.server_max_window_bits = window_bits(value).ok_or_else(bad)?;
                agreement.server_window_requested = true;
            }
            // Without a value it only says the client could honour a
            // limit; with one, it is the client's own window.
            "client_max_window_bits" if value.is_none() => {}
            "client_max_window_bits" => {
                agreement.client_max_window_bits = Some(window_bits(value).ok_or_else(bad)?)
            }
            _ => return Err(Decline::UnknownParameter(param.clone())),
        }
    }
    // end of lesson
    Ok(agreement)
}

/// A window size as RFC 7692 §7.1.2 writes it: a decimal 8 to 15, no
/// leading zero.
fn window_bits(value: &Option<String>) -> Option<u8> {
    // lesson: a decimal from 8 to 15, no leading zero
    let text = value.as_deref()?;
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>()
        .ok()
        .filter(|bits| (8..=15).contains(bits))
    // end of lesson
}

/// The value of our `Sec-WebSocket-Extensions` answer: the extension, and
/// every parameter the client must know we accepted.
fn answer_for(agreement: &DeflateAgreement) -> String {
    let mut answer = String::from("permessage-deflate");
    // lesson: repeat what the client must see accepted
    if agreement.server_no_context_takeover {
        answer.push_str("; server_no_context_takeover");
    }
    if agreement.client_no_context_takeover {
        answer.push_str("; client_no_context_takeover");
    }
    if agreement.server_window_requested {
        answer.push_str(&format!(
            "; server_max_window_bits={}",
            agreement.server_max_window_bits
        ));
    }
    // end of lesson
    answer
}

/// What an agreement means for this connection, in words.
fn describe(agreement: &DeflateAgreement) -> String {
    let keeps = |forgets: bool| if forgets { "forgets" } else { "keeps" };
    format!(
        "server {} its {}-bit window between messages, client {} its",
        keeps(agreement.server_no_context_takeover),
        agreement.server_max_window_bits.max(9),
        keeps(agreement.client_no_context_takeover)
    )
}

/// The compressed echo: its size and bytes (up to 32 of them).
fn tell_compressed_echo(sent: &OutgoingFrame, raw_len: usize) {
    if !sent.compressed {
        return;
    }
    let shown = &sent.payload[..sent.payload.len().min(32)];
    let more = if sent.payload.len() > shown.len() {
        " …"
    } else {
        ""
    };
    let bytes: Vec<String> = shown.iter().map(|byte| format!("{byte:02x}")).collect();
    if narrate::tells(Level::Frames) {
        let header = FrameHeader {
            fin: true,
            rsv: RSV1,
            opcode: sent.opcode,
            mask: None,
            payload_len: sent.payload.len() as u64,
        };
        narrate::sent(format!(
            "Echoing {} frame compressed, {raw_len} → {} bytes, header {:?}: {}{more}",
            sent.opcode,
            sent.payload.len(),
            frame::encode_header(&header),
            bytes.join(" ")
        ));
        return;
    }
    narrate::summary(format!(
        "  echo compressed {raw_len} → {} bytes, RSV1 set: {}{more}",
        sent.payload.len(),
        bytes.join(" ")
    ));
}

/// The story of a complete message and its echo: the whole story when
/// `--verbose`, one line by default.
fn tell_echo(message: &Message, compressing: bool) {
    if narrate::tells(Level::Frames) {
        if message.frames > 1 {
            narrate::received(format!(
                "Assembled a {} message from {} frames: {} bytes",
                message.opcode,
                message.frames,
                message.payload.len()
            ));
        }
        narrate::plain(format!("  {}", narrate::preview(message)));
        if compressing {
            // Its size is known once compressed: `tell_compressed_echo`.
            return;
        }
        let echo_header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: message.opcode,
            mask: None,
            payload_len: message.payload.len() as u64,
        };
        narrate::sent(format!(
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
        let compressed = match message.compressed_len {
            Some(wire) => format!(" (compressed: {wire})"),
            None => String::new(),
        };
        narrate::summary(format!(
            "← {} {} bytes{compressed}{frames} {} → echoed",
            message.opcode,
            message.payload.len(),
            narrate::preview(message)
        ));
    }
}
