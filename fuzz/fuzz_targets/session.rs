//! Frames received as chapters 10 and 11 receive them: through a
//! `session::Session`, fed in pieces.
//!
//! The input is a list of frame descriptions, each `flags, length, payload`:
//! bit 7 of `flags` is FIN, bits 4–6 choose how many bytes each piece of
//! that frame holds when it is fed (1 to 8), the low four bits are the
//! opcode; `length` bytes of payload follow (fewer if the input ends). Each
//! frame is masked and encoded, then the whole stream goes to one session
//! in those pieces, and to a second session all at once.
//!
//! Both sessions must report the same events and queue the same frames:
//! how TCP cuts the stream up must not matter. And the events must follow
//! a plain model of RFC 6455: §5.4's ordering of fragments, §5.5's limits on
//! control frames, §5.5.1's close payloads, §8.1's UTF-8 checked as it
//! arrives, the size limit checked before a payload is accepted, nothing
//! read after a close or a failure, and a reply queued for each ping, close
//! and failure.

#![no_main]

use libfuzzer_sys::fuzz_target;
use websocket_from_scratch::protocol::close::{self, CloseCode};
use websocket_from_scratch::protocol::frame::{self, Opcode};
use websocket_from_scratch::protocol::message::Message;
use websocket_from_scratch::protocol::session::{Event, OutgoingFrame, Session};

/// The RFC 6455 §5.7 example key.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Small enough that the fuzzer reaches it with a few frames.
const MAX_MESSAGE_SIZE: u64 = 600;

/// Valid UTF-8, or valid UTF-8 cut short in the middle of its last character.
fn is_valid_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none(),
    }
}

/// Hands out every event, and collects every frame queued in answer.
fn drain(session: &mut Session, events: &mut Vec<Event>, sent: &mut Vec<OutgoingFrame>) {
    while let Some(event) = session.next_event() {
        events.push(event);
    }
    sent.extend(session.take_outgoing());
}

fuzz_target!(|data: &[u8]| {
    let mut stream = Vec::new();
    let mut piece_ends = Vec::new();
    let mut frames = Vec::new();
    let mut input = data;
    while let [flags, length, rest @ ..] = input {
        let (payload, tail) = rest.split_at(usize::from(*length).min(rest.len()));
        input = tail;
        let fin = flags & 0x80 != 0;
        let opcode = Opcode::from_bits(*flags);
        let bytes = frame::encode(fin, opcode, Some(KEY), payload);
        let piece = usize::from((flags >> 4) & 0b111) + 1;
        let mut end = stream.len();
        for chunk in bytes.chunks(piece) {
            end += chunk.len();
            piece_ends.push(end);
        }
        stream.extend_from_slice(&bytes);
        frames.push((fin, opcode, payload.to_vec()));
    }

    let mut in_pieces = Session::new(MAX_MESSAGE_SIZE);
    let (mut events, mut sent) = (Vec::new(), Vec::new());
    let mut start = 0;
    for end in piece_ends {
        in_pieces.receive(&stream[start..end]);
        start = end;
        drain(&mut in_pieces, &mut events, &mut sent);
    }

    let mut at_once = Session::new(MAX_MESSAGE_SIZE);
    let (mut events_at_once, mut sent_at_once) = (Vec::new(), Vec::new());
    at_once.receive(&stream);
    drain(&mut at_once, &mut events_at_once, &mut sent_at_once);
    assert_eq!(events, events_at_once);
    assert_eq!(sent, sent_at_once);

    let (expected, finished) = model(&frames);
    assert_eq!(without_reasons(&events), expected);
    assert_eq!(in_pieces.is_finished(), finished);
    check_replies(&events, &sent);
});

/// The events with each failure's reason left out: the words are the
/// session's own, only the code is the RFC's.
fn without_reasons(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .map(|event| match event {
            Event::Failed { code, .. } => Event::Failed {
                code: *code,
                reason: String::new(),
            },
            other => other.clone(),
        })
        .collect()
}

/// The events RFC 6455 calls for, frame by frame, and whether the
/// conversation is over.
fn model(frames: &[(bool, Opcode, Vec<u8>)]) -> (Vec<Event>, bool) {
    let mut events = Vec::new();
    let mut message: Option<Message> = None;
    let failed = |events: &mut Vec<Event>, code: CloseCode| {
        events.push(Event::Failed {
            code,
            reason: String::new(),
        });
        true
    };
    for (fin, opcode, payload) in frames {
        let (fin, opcode) = (*fin, *opcode);
        let over = match opcode {
            Opcode::Reserved(_) => failed(&mut events, CloseCode::PROTOCOL_ERROR),
            _ if opcode.is_control() && (!fin || payload.len() > 125) => {
                failed(&mut events, CloseCode::PROTOCOL_ERROR)
            }
            Opcode::Ping => {
                events.push(Event::Ping {
                    payload: payload.clone(),
                    between_fragments: message.as_ref().map(|m| (m.frames, m.opcode)),
                });
                false
            }
            Opcode::Pong => {
                events.push(Event::Pong {
                    payload: payload.clone(),
                    answers_ours: false,
                });
                false
            }
            Opcode::Close => match close::parse(payload) {
                Ok(frame) => {
                    events.push(Event::CloseReceived(frame));
                    true
                }
                Err(close::CloseFrameError::ReasonNotUtf8) => {
                    failed(&mut events, CloseCode::INVALID_PAYLOAD)
                }
                Err(_) => failed(&mut events, CloseCode::PROTOCOL_ERROR),
            },
            Opcode::Continuation if message.is_none() => {
                failed(&mut events, CloseCode::PROTOCOL_ERROR)
            }
            Opcode::Text | Opcode::Binary if message.is_some() => {
                failed(&mut events, CloseCode::PROTOCOL_ERROR)
            }
            _ => {
                let so_far = message.as_ref().map_or(0, |m| m.payload.len());
                if (so_far + payload.len()) as u64 > MAX_MESSAGE_SIZE {
                    failed(&mut events, CloseCode::MESSAGE_TOO_BIG)
                } else {
                    events.push(Event::DataFrame(frame::FrameHeader {
                        fin,
                        rsv: 0,
                        opcode,
                        mask: Some(KEY),
                        payload_len: payload.len() as u64,
                    }));
                    let current = message.get_or_insert_with(|| Message {
                        opcode,
                        payload: Vec::new(),
                        frames: 0,
                        compressed_len: None,
                    });
                    current.payload.extend_from_slice(payload);
                    current.frames += 1;
                    let is_text = current.opcode == Opcode::Text;
                    if is_text && !is_valid_prefix(&current.payload) {
                        failed(&mut events, CloseCode::INVALID_PAYLOAD)
                    } else if !fin {
                        false
                    } else if is_text && std::str::from_utf8(&current.payload).is_err() {
                        failed(&mut events, CloseCode::INVALID_PAYLOAD)
                    } else if let Some(done) = message.take() {
                        events.push(Event::Message(done));
                        false
                    } else {
                        false
                    }
                }
            }
        };
        if over {
            return (events, true);
        }
    }
    (events, false)
}

/// A pong for every ping, the close that answers or fails, in order, and
/// nothing after a close frame. (Nothing else is sent: no echo is queued.)
fn check_replies(events: &[Event], sent: &[OutgoingFrame]) {
    let mut expected = Vec::new();
    for event in events {
        match event {
            Event::Ping { payload, .. } => expected.push((Opcode::Pong, Some(payload.clone()))),
            Event::CloseReceived(frame) => expected.push((
                Opcode::Close,
                Some(
                    frame
                        .code
                        .map(|code| close::payload(code, ""))
                        .unwrap_or_default(),
                ),
            )),
            Event::Failed { code, .. } => {
                expected.push((Opcode::Close, Some(code.0.to_be_bytes().to_vec())));
            }
            _ => {}
        }
    }
    assert_eq!(sent.len(), expected.len());
    for (frame, (opcode, payload)) in sent.iter().zip(expected) {
        assert_eq!(frame.opcode, opcode);
        if let Some(payload) = payload {
            // A failure's close carries a reason after the code.
            assert!(frame.payload.starts_with(&payload));
        }
    }
}
