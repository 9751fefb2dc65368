//! Chapter 11 — A chat room (the article's opening example, built at last).
//!
//! Chapter 11 is chapter 10 plus a room that every member's messages go to
//! (`diff steps/10-echo-server.rs steps/11-chat.rs`).
//!
//! The article begins with why WebSockets exist: a chat page must show a
//! message the moment it is sent, without asking the server again and
//! again. Here is that chat. Open `http://localhost:2345` in two tabs, pick
//! a name in each, and talk.
//!
//! Every connection is a member of one shared `chat::Room`. The connection's
//! own thread reads its frames with the complete server's conversation
//! (`conversation::converse` driving chapter 10's `Session`: pings,
//! fragments, UTF-8, closing) and
//! hands each message to `chat::Seat::handle`. Sending is where a chat
//! differs from an echo: one member's message goes to everyone, and a member
//! who stops reading must not hold the others up. So a broadcast never
//! writes to a socket; it puts the frame in each member's bounded queue,
//! and each member's writer thread empties its own queue. A member whose
//! queue is full is dropped with close 1008 and a log line. But a queue
//! must not fill just because one member sends faster than the others'
//! writers can send: after each message, the sender's thread waits while
//! some member's queue is half full and that member's writer is still
//! making progress (`Room::wait_while_backed_up`), so a burst from one
//! member is read at the pace of the room, and only a member whose writer
//! has been stuck for `chat::PATIENCE` (2 s) is left to overflow and be
//! dropped. Each writer sends everything queued in one write. Nothing is
//! logged while the room is locked: a log line may have to wait, and the
//! room must not wait with it.
//!
//! The messages are small JSON objects in text frames, told apart by their
//! `"type"`. The table shows one of each; `chat::wire` defines them, as one
//! Rust enum per direction (`FromMember`, `FromRoom`) with a variant per
//! type, and serde turns those into JSON and back:
//!
//! ```text
//! client → server   {"type":"join","name":"Ada"}
//!                   {"type":"say","text":"Hello!"}
//! server → client   {"type":"welcome","name":"Bob","members":["Ada","Bob"]}   to the newcomer
//!                   {"type":"joined","name":"Bob"}                              to the others
//!                   {"type":"left","name":"Bob"}
//!                   {"type":"message","from":"Ada","text":"Hello!"}            to everyone, sender too
//!                   {"type":"error","error":"the name \"Ada\" is taken"}       to one member only
//! ```
//!
//! Names are 1–20 ASCII letters, digits, spaces, `-` or `_`: a Cyrillic
//! `О` or a fullwidth `ｏ` would otherwise let `Оbserver` pass for
//! `observer`. And names that differ only in case are the same name.
//! Messages are 1–500 characters, without control characters or invisible
//! formatting ones (a right-to-left override shows `abc\u{202E}gnp.exe`
//! as "abcexe.png"); frames over `--max-message-size` (8 KiB, room for
//! 500 characters however their JSON escapes them) close with 1009.
//! The page shows names and text with `textContent`, never as HTML, so no
//! member can inject markup into another's tab.
//!
//! Chapter 10's defences hold here too, with the same options: one
//! descriptor per connection and `--max-connections` (503 over it), a
//! shared `--max-buffered` budget (1013 over it), `--idle-timeout` and
//! `--frame-timeout`, a log that never blocks, and two `Host` headers
//! refused with 400.
//!
//! Security the article never mentions: the handshake checks `Origin`
//! (`handshake::check_origin`, RFC 6455 §10.2). A browser lets any page
//! open a WebSocket to any server, and sends the user's cookies with it; a
//! server that trusted every page would let any site the user visits act
//! in the user's name (cross-site WebSocket hijacking). Pages from this
//! server (`http://localhost:PORT`, `http://127.0.0.1:PORT`,
//! `http://[::1]:PORT`) are accepted,
//! and so are clients that send no `Origin` (tools that are not browsers);
//! others get `403`. `--allow-origin URL[,URL…]` adds more.
//!
//! Try it: `cargo run --bin 11-chat`, open <http://localhost:2345> in two
//! tabs, join with two names and talk. Each tab loads its page on a
//! connection of its own first, so in a browser Ada is #2 and Bob #4; the
//! lines below are pinned with members that connect straight away.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/11-chat.snap`):
//!
//! ```text
//! #1 Ada joined (1 in the room)
//! #2 Bob joined (2 in the room)
//! #1 Ada: "Hello, Bob!"
//! #2 Bob left (1 in the room)
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use websocket_from_scratch::Error;
use websocket_from_scratch::command_line::CommandLineError;
use websocket_from_scratch::narrate::{self, Level};
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::handshake;
use websocket_from_scratch::protocol::message::Message;
use websocket_from_scratch::protocol::session::{Budget, Session};
use websocket_from_scratch::server::chat::{self, Room, Seat};
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
}

impl Options {
    fn from_env() -> Result<Options, CommandLineError> {
        let chat::ChatOptions {
            listen,
            max_message_size,
            extra_origins,
            queue_length,
            budget,
            idle_timeout,
            frame_timeout,
            level,
        } = chat::ChatOptions::from_env()?;
        let settings = Settings {
            max_message_size,
            extra_origins,
            queue_length,
            budget,
            idle_timeout,
            frame_timeout,
        };
        Ok(Options {
            listen,
            settings,
            level,
        })
    }
}

fn main() -> ExitCode {
    let Options {
        listen,
        settings,
        level,
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
    listener::exit_code(listener::serve("11-chat", &listen, move |connection| {
        take_a_seat(connection, &room, &settings)
    }))
}

fn take_a_seat(connection: &mut Connection, room: &Room, settings: &Settings) -> Result<(), Error> {
    let mut allowed = handshake::own_origins(connection.local_port);
    allowed.extend(settings.extra_origins.iter().cloned());
    let opening = opening::perform_checking_origin(connection, Some(&allowed), Some(chat::PAGE))?;
    if opening == Opening::ServedPage {
        return Ok(());
    }
    conversation::start(connection, Some(settings.idle_timeout))?;

    // A member needs a second thread, for writing. If the system refuses
    // one, this member is turned away (CloseCode::TRY_AGAIN_LATER, 1013,
    // with the reason `busy`); the room and the server go on.
    let busy = "the server is busy";
    // lesson: a Seat and its outbox, a Session, converse handing each message to seat.handle
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
