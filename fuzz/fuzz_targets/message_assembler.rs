//! Messages made of frames, received as chapter 10 receives them.
//!
//! The input is a list of frame descriptions, each `flags, length, payload`:
//! bit 7 of `flags` is FIN, bits 4–6 choose how many bytes each read
//! returns (1 to 8), the low four bits are the opcode; `length` bytes of
//! payload follow (fewer if the input ends). Each payload is masked, then
//! read back as the server reads it: straight onto the message in progress
//! (`Assembler::push_with`), text through `read_checked_payload_into` and
//! one `Utf8Stream` per connection, other data through `read_payload_into`.
//!
//! A second `Assembler` gets the same frames through plain `push`, and both
//! are checked against a model of §5.4: what is refused, what comes out,
//! that a refused frame changes nothing. The UTF-8 check must fail exactly
//! when the text so far can no longer become valid, and accept exactly the
//! messages `std::str::from_utf8` accepts. Close payloads go through
//! `close::parse`, control frames through `control::check`.

#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use websocket_from_scratch::close::{self, CloseCode, CloseFrameError};
use websocket_from_scratch::frame::{self, FrameHeader, Opcode};
use websocket_from_scratch::message::{Assembler, Message};
use websocket_from_scratch::utf8::{self, Utf8Stream};
use websocket_from_scratch::violation::Violation;
use websocket_from_scratch::{Error, control, mask};

/// The RFC 6455 §5.7 example key.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Hands out its bytes `size` at a time.
struct Pieces<'a> {
    data: &'a [u8],
    size: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.data.len().min(buffer.len()).min(self.size);
        buffer[..count].copy_from_slice(&self.data[..count]);
        self.data = &self.data[count..];
        Ok(count)
    }
}

/// Valid UTF-8, or valid UTF-8 cut short in the middle of its last character.
fn is_valid_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none(),
    }
}

/// One connection's worth of state.
#[derive(Default)]
struct Connection {
    /// Fed the way the server feeds it.
    assembler: Assembler,
    /// Fed with plain `push`.
    plain: Assembler,
    /// What both should hold: the message so far.
    model: Option<Message>,
    text: Utf8Stream,
}

fuzz_target!(|data: &[u8]| {
    let mut connection = Connection::default();
    let mut input = data;
    while let [flags, length, rest @ ..] = input {
        let (payload, tail) = rest.split_at(usize::from(*length).min(rest.len()));
        input = tail;
        let piece = usize::from((flags >> 4) & 0b111) + 1;
        let header = FrameHeader {
            fin: flags & 0x80 != 0,
            rsv: 0,
            opcode: Opcode::from_bits(*flags),
            mask: Some(KEY),
            payload_len: payload.len() as u64,
        };
        let mut masked = payload.to_vec();
        mask::apply_bytewise(KEY, &mut masked);
        let reader = Pieces {
            data: &masked,
            size: piece,
        };
        if !connection.frame(&header, payload, reader) {
            // The server would fail this connection; the next frames start a new one.
            connection = Connection::default();
        }
    }
});

impl Connection {
    /// Returns whether the connection survives the frame.
    fn frame(&mut self, header: &FrameHeader, payload: &[u8], mut reader: Pieces) -> bool {
        let opcode = header.opcode;
        if opcode.is_control() {
            let allowed = control::check(header);
            assert_eq!(allowed.is_ok(), header.fin && payload.len() <= 125, "{allowed:?}");
            let read = frame::read_payload(&mut reader, header).unwrap();
            assert_eq!(read, payload);
            if opcode == Opcode::Close {
                check_close(payload);
            }
            // Control frames never touch the message in progress.
            assert_eq!(self.assembler.in_progress(), self.model.as_ref());
            return true;
        }
        if let Opcode::Reserved(_) = opcode {
            // The server refuses reserved opcodes before the assembler sees them.
            return true;
        }

        let refusal = match (opcode, &self.model) {
            (Opcode::Continuation, None) => Some(Violation::NothingToContinue),
            (Opcode::Text | Opcode::Binary, Some(_)) => Some(Violation::MessageInterrupted(opcode)),
            _ => None,
        };
        assert_eq!(self.assembler.check(header).err(), refusal);
        let is_text = match &self.model {
            Some(message) => message.opcode == Opcode::Text,
            None => opcode == Opcode::Text,
        };
        let text = &mut self.text;
        let result = self.assembler.push_with(header, |buffer| -> Result<(), Error> {
            if is_text {
                utf8::read_checked_payload_into(&mut reader, header, text, buffer)
            } else {
                Ok(frame::read_payload_into(&mut reader, header, buffer)?)
            }
        });
        let plain = self.plain.push(header, payload.to_vec());

        if let Some(violation) = refusal {
            assert!(matches!(&result, Err(Error::Protocol(v)) if *v == violation), "{result:?}");
            assert_eq!(plain, Err(violation));
            assert_eq!(self.assembler.in_progress(), self.model.as_ref());
            assert_eq!(self.plain.in_progress(), self.model.as_ref());
            return true;
        }

        let model = self.model.get_or_insert_with(|| Message {
            opcode,
            payload: Vec::new(),
            frames: 0,
        });
        model.payload.extend_from_slice(payload);
        model.frames += 1;
        let plain = plain.expect("plain push accepts what the model accepts");

        let result = match result {
            Ok(result) => result,
            Err(Error::Protocol(Violation::InvalidUtf8)) => {
                assert!(is_text);
                // Fail fast, but only on text that can no longer become valid.
                assert!(!is_valid_prefix(&model.payload), "{:?}", model.payload);
                return false;
            }
            Err(other) => panic!("reading a whole payload: {other:?}"),
        };
        if is_text {
            assert!(is_valid_prefix(&model.payload), "{:?}", model.payload);
        }

        if header.fin {
            let expected = self.model.take().unwrap();
            assert_eq!(result.as_ref(), Some(&expected));
            assert_eq!(plain.as_ref(), Some(&expected));
            assert_eq!(self.assembler.buffered_len(), 0);
            assert!(self.assembler.in_progress().is_none());
            assert!(self.plain.in_progress().is_none());
            if expected.opcode == Opcode::Text {
                let accepted = self.text.finish().is_ok();
                assert_eq!(
                    accepted,
                    std::str::from_utf8(&expected.payload).is_ok(),
                    "{:?}",
                    expected.payload
                );
                if !accepted {
                    return false;
                }
            }
        } else {
            assert_eq!(result, None);
            assert_eq!(plain, None);
            assert_eq!(self.assembler.in_progress(), self.model.as_ref());
            assert_eq!(self.plain.in_progress(), self.model.as_ref());
            assert_eq!(
                self.assembler.buffered_len(),
                self.model.as_ref().unwrap().payload.len() as u64
            );
        }
        true
    }
}

fn check_close(payload: &[u8]) {
    let parsed = close::parse(payload);
    match &parsed {
        Ok(frame) => match frame.code {
            None => {
                assert!(payload.is_empty());
                assert!(frame.reason.is_empty());
            }
            Some(code) => {
                assert!(code.may_be_sent());
                assert_eq!(code.0.to_be_bytes(), payload[..2]);
                assert_eq!(frame.reason.as_bytes(), &payload[2..]);
                if payload.len() <= 125 {
                    assert_eq!(close::payload(code, &frame.reason), payload);
                }
                let _ = code.to_string();
            }
        },
        Err(CloseFrameError::OneByte) => assert_eq!(payload.len(), 1),
        Err(CloseFrameError::CodeNotAllowed(code)) => {
            assert!(payload.len() >= 2);
            assert_eq!(code.0.to_be_bytes(), payload[..2]);
            assert!(!code.may_be_sent());
        }
        Err(CloseFrameError::ReasonNotUtf8) => {
            assert!(payload.len() >= 2);
            assert!(CloseCode(u16::from_be_bytes([payload[0], payload[1]])).may_be_sent());
            assert!(std::str::from_utf8(&payload[2..]).is_err());
        }
    }
    if let Err(error) = parsed {
        let is_utf8 = error == CloseFrameError::ReasonNotUtf8;
        let violation = Violation::BadClose(error);
        let _ = violation.to_string();
        assert_eq!(
            violation.close_code() == CloseCode::INVALID_PAYLOAD,
            is_utf8
        );
    }
}
