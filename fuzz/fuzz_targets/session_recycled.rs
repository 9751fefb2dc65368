//! Long messages through a `session::Session` the way chapter 13 feeds
//! it: vectored reads into `Session::buffers` (the rest of a payload into
//! its message, what follows into the inbox), every message echoed and
//! its payload handed back with `Session::recycle`, starting from a spare
//! of any size. A second session gets the same stream all at once, with
//! no spare and no recycling.
//!
//! The input: one byte for the first spare's size (times 256 bytes), one
//! for the most bytes a read hands over (times 61, plus 1), then frame
//! descriptions of three bytes each: flags (bit 7 FIN, bits 0–3 the
//! opcode), and the payload's length, big-endian. Payloads are made from
//! their length, so a few bytes describe tens of kilobytes: text is ASCII
//! with a two-byte `é` every 1,000 bytes, so that characters straddle
//! reads and rooms.
//!
//! Both sessions must report the same events and queue the same frames:
//! where a message is received, and how, must not change what it is.

#![no_main]

use libfuzzer_sys::fuzz_target;
use websocket_from_scratch::protocol::frame::{self, Opcode};
use websocket_from_scratch::protocol::session::tuning::Tuning;
use websocket_from_scratch::protocol::session::{Event, OutgoingFrame, Session};

/// The RFC 6455 §5.7 example key.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Reached by a few long frames, so that 1009 is reachable too.
const MAX_MESSAGE_SIZE: u64 = 100_000;

fn payload(opcode: Opcode, length: usize) -> Vec<u8> {
    if opcode == Opcode::Text || opcode == Opcode::Continuation {
        let mut text = Vec::with_capacity(length);
        while text.len() < length {
            if text.len() % 1_000 == 999 && text.len() + 2 <= length {
                text.extend_from_slice("é".as_bytes());
            } else {
                text.push(b'a' + (text.len() % 26) as u8);
            }
        }
        text
    } else {
        (0..length).map(|i| (i * 7 + length) as u8).collect()
    }
}

/// Hands out every event, echoing each message as chapter 13 does.
fn drain(
    session: &mut Session,
    events: &mut Vec<Event>,
    sent: &mut Vec<OutgoingFrame>,
    recycling: bool,
) {
    while let Some(event) = session.next_event() {
        if let Event::Message(message) = &event {
            session.send(message.opcode, message.payload.clone());
            sent.extend(session.take_outgoing());
            if recycling {
                session.recycle(message.payload.clone());
            }
        }
        events.push(event);
    }
    sent.extend(session.take_outgoing());
}

fuzz_target!(|data: &[u8]| {
    let [spare, most, frames @ ..] = data else {
        return;
    };
    let spare = usize::from(*spare) * 256;
    let most = usize::from(*most) * 61 + 1;
    let mut stream = Vec::new();
    for description in frames.chunks_exact(3) {
        let &[flags, high, low] = description else {
            continue;
        };
        let fin = flags & 0x80 != 0;
        let opcode = Opcode::from_bits(flags);
        let length = usize::from(u16::from_be_bytes([high, low]));
        stream.extend(frame::encode(
            fin,
            opcode,
            Some(KEY),
            &payload(opcode, length),
        ));
    }

    let mut vectored = Session::new(MAX_MESSAGE_SIZE);
    vectored.recycle(vec![0xEE; spare]);
    let (mut events, mut sent) = (Vec::new(), Vec::new());
    let mut rest = &stream[..];
    while !rest.is_empty() && !vectored.is_finished() {
        let mut count = 0;
        for buffer in vectored.buffers() {
            let take = buffer.len().min(rest.len() - count).min(most - count);
            buffer[..take].copy_from_slice(&rest[count..count + take]);
            count += take;
        }
        assert!(count > 0, "the session offered nowhere to read into");
        vectored.filled(count);
        rest = &rest[count..];
        drain(&mut vectored, &mut events, &mut sent, true);
    }

    let mut at_once = Session::new(MAX_MESSAGE_SIZE);
    let (mut events_at_once, mut sent_at_once) = (Vec::new(), Vec::new());
    at_once.receive(&stream);
    drain(&mut at_once, &mut events_at_once, &mut sent_at_once, false);
    assert_eq!(events, events_at_once);
    assert_eq!(sent, sent_at_once);
    assert_eq!(vectored.is_finished(), at_once.is_finished());
});
