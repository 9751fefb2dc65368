//! permessage-deflate through two `session::Session`s, a client's and a
//! server's, agreed as the input says (chapter 12, and our client's
//! `--deflate`).
//!
//! The input: one byte for the agreement (bit 0 `server_no_context_takeover`,
//! bit 1 `client_no_context_takeover`, bits 2–4 and 5–7 the server's and
//! the client's window, 9 plus the value modulo 7), one for how many bytes
//! each piece of the stream holds when fed in pieces (1 to 64), then steps:
//!
//! * `0b00xx_xxxx`, then a length byte: the client sends a message of
//!   `length × 16` bytes (text with a two-byte `é` every 100 bytes if bit 0
//!   is set, binary otherwise), compressed by its session, in `1 + bits
//!   1–3` fragments cut from the compressed frame's payload;
//! * `0b01xx_xxxx`: the client pings;
//! * `0b10xx_xxxx`, then flags, a length byte and that many bytes: a frame
//!   as written there (flags: bit 7 FIN, bits 4–6 RSV, bits 0–3 the
//!   opcode), masked: anything a peer could send;
//! * `0b11xx_xxxx`: the client starts its close.
//!
//! What must hold: the server's session reports the same events and
//! queues the same frames whether the stream comes at once or in pieces;
//! and when every frame came from the client's session, the server hands
//! out exactly the messages the client sent, in order, without failing,
//! and its echoes, compressed by the server, give the client the same
//! messages back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use websocket_from_scratch::protocol::close::CloseCode;
use websocket_from_scratch::protocol::extension::DeflateAgreement;
use websocket_from_scratch::protocol::frame::{self, FrameHeader, Opcode};
use websocket_from_scratch::protocol::mask;
use websocket_from_scratch::protocol::session::{Event, OutgoingFrame, RSV1, Session};

/// The RFC 6455 §5.7 example key: the client's frames are then the same
/// in every run.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const MAX_MESSAGE_SIZE: u64 = 100_000;

fn agreement(byte: u8) -> DeflateAgreement {
    DeflateAgreement {
        server_no_context_takeover: byte & 1 != 0,
        client_no_context_takeover: byte & 2 != 0,
        server_max_window_bits: 9 + (byte >> 2 & 7) % 7,
        server_window_requested: true,
        client_max_window_bits: Some(9 + (byte >> 5) % 7),
    }
}

fn payload(text: bool, length: usize) -> Vec<u8> {
    if text {
        let mut bytes = Vec::with_capacity(length);
        while bytes.len() < length {
            if bytes.len() % 100 == 99 && bytes.len() + 2 <= length {
                bytes.extend_from_slice("é".as_bytes());
            } else {
                bytes.push(b"the quick brown fox "[bytes.len() % 20]);
            }
        }
        bytes
    } else {
        (0..length).map(|i| (i * i / 7) as u8).collect()
    }
}

/// A frame as it goes on the wire, with the RSV bits given.
fn encode(fin: bool, rsv: u8, opcode: Opcode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut bytes = frame::encode_header(&FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    });
    let start = bytes.len();
    bytes.extend_from_slice(payload);
    if let Some(key) = mask {
        mask::apply(key, &mut bytes[start..]);
    }
    bytes
}

/// One compressed frame as `pieces` fragments: RSV1 on the first only
/// (RFC 7692 §6.1), the rest continuations.
fn fragmented(frame: &OutgoingFrame, pieces: usize) -> Vec<u8> {
    let size = frame.payload.len().div_ceil(pieces).max(1);
    let chunks: Vec<&[u8]> = frame.payload.chunks(size).collect();
    if chunks.len() < 2 {
        return frame.to_bytes();
    }
    let mut bytes = Vec::new();
    for (index, chunk) in chunks.iter().enumerate() {
        let first = index == 0;
        let (rsv, opcode) = if first {
            (if frame.compressed { RSV1 } else { 0 }, frame.opcode)
        } else {
            (0, Opcode::Continuation)
        };
        bytes.extend(encode(
            index + 1 == chunks.len(),
            rsv,
            opcode,
            frame.mask,
            chunk,
        ));
    }
    bytes
}

/// Hands out every event, echoing each message as chapter 12 does.
fn drain(session: &mut Session, events: &mut Vec<Event>, sent: &mut Vec<OutgoingFrame>) {
    while let Some(event) = session.next_event() {
        if let Event::Message(message) = &event {
            session.send(message.opcode, message.payload.clone());
        }
        events.push(event);
    }
    sent.extend(session.take_outgoing());
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

fuzz_target!(|data: &[u8]| {
    let [agreed, piece, steps @ ..] = data else {
        return;
    };
    let mut steps = steps;
    let agreement = agreement(*agreed);
    let piece = usize::from(piece % 64) + 1;
    let mut client = Session::client(MAX_MESSAGE_SIZE, Some(KEY)).with_deflate(agreement);
    let mut stream = Vec::new();
    let mut sent_by_client = Vec::new();
    let mut only_the_client = true;
    while let [step, rest @ ..] = steps {
        steps = rest;
        match step >> 6 {
            0 => {
                let [length, rest @ ..] = steps else { break };
                steps = rest;
                let text = step & 1 != 0;
                let opcode = if text { Opcode::Text } else { Opcode::Binary };
                let message = payload(text, usize::from(*length) * 16);
                // After its own close the client sends nothing more, and
                // then the server has nothing to hand out either.
                if client.send(opcode, message.clone()).is_some() {
                    sent_by_client.push((opcode, message));
                }
                let pieces = usize::from(step >> 1 & 7) + 1;
                for frame in client.take_outgoing() {
                    stream.extend(fragmented(&frame, pieces));
                }
            }
            1 => {
                client.send(Opcode::Ping, b"still there?".to_vec());
                stream.extend(client.take_outgoing().flat_map(|frame| frame.to_bytes()));
            }
            2 => {
                let [flags, length, rest @ ..] = steps else {
                    break;
                };
                let length = usize::from(*length).min(rest.len());
                let (bytes, rest) = rest.split_at(length);
                steps = rest;
                let opcode = Opcode::from_bits(flags & 0x0f);
                let rsv = flags >> 4 & 7;
                stream.extend(encode(flags & 0x80 != 0, rsv, opcode, Some(KEY), bytes));
                only_the_client = false;
            }
            _ => {
                client.close(CloseCode::NORMAL, "bye");
                stream.extend(client.take_outgoing().flat_map(|frame| frame.to_bytes()));
            }
        }
    }

    let mut at_once = Session::new(MAX_MESSAGE_SIZE).with_deflate(agreement);
    let (mut events, mut echoes) = (Vec::new(), Vec::new());
    at_once.receive(&stream);
    drain(&mut at_once, &mut events, &mut echoes);

    let mut in_pieces = Session::new(MAX_MESSAGE_SIZE).with_deflate(agreement);
    let (mut events_in_pieces, mut echoes_in_pieces) = (Vec::new(), Vec::new());
    for chunk in stream.chunks(piece) {
        in_pieces.receive(chunk);
        drain(&mut in_pieces, &mut events_in_pieces, &mut echoes_in_pieces);
    }
    assert_eq!(events, events_in_pieces);
    assert_eq!(echoes, echoes_in_pieces);

    if !only_the_client {
        return;
    }
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, Event::Failed { .. })),
        "the server failed what our client sent: {events:?}"
    );
    // Every message the client sent came before its close, so the server
    // hands out all of them: none lost, none made up.
    let handed_out = messages(&events);
    assert_eq!(handed_out, sent_by_client);

    // The echoes, back through the client: the same messages again.
    let mut back = Vec::new();
    for frame in &echoes {
        back.extend(frame.to_bytes());
    }
    let mut returned = Session::client(MAX_MESSAGE_SIZE, Some(KEY)).with_deflate(agreement);
    let (mut client_events, mut unused) = (Vec::new(), Vec::new());
    returned.receive(&back);
    while let Some(event) = returned.next_event() {
        client_events.push(event);
    }
    unused.extend(returned.take_outgoing());
    assert!(
        !client_events
            .iter()
            .any(|event| matches!(event, Event::Failed { .. })),
        "the client failed what the server echoed: {client_events:?}"
    );
    assert_eq!(messages(&client_events), handed_out);
});
