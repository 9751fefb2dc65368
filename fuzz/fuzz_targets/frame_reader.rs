//! Frames as they come off the wire: arbitrary bytes read as frame after
//! frame until the reader gives up.
//!
//! Every header read must encode back to exactly the bytes it came from
//! (lengths are accepted only in their shortest form), and every payload
//! must be the unmasked bytes that followed it. Each payload is read two
//! ways that must agree: whole from a `Cursor` (`read_payload`), and in
//! pieces of 1 to 9 bytes onto the end of the payloads before it
//! (`read_payload_into`, as chapters 7–9 read the fragments of one
//! message). A header may announce up to 2^63 - 1 bytes; run with
//! `-rss_limit_mb` to show no reader believes it. (Chapters 10 and 11 read
//! through the session engine instead: the `session` target.)

#![no_main]

use std::io::{self, Cursor, Read};

use libfuzzer_sys::fuzz_target;
use websocket_from_scratch::narrate::diagram;
use websocket_from_scratch::protocol::frame::{self, FrameError, FrameHeader, LengthField, Opcode};
use websocket_from_scratch::protocol::{control, mask};

/// Hands out its bytes in pieces of 1, 2, … 9, then 1000, then 1, 2, …
/// bytes, as TCP might.
struct Pieces<'a> {
    data: &'a [u8],
    next: usize,
}

impl Pieces<'_> {
    fn new(data: &[u8]) -> Pieces<'_> {
        Pieces { data, next: 1 }
    }
}

impl Read for Pieces<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.data.len().min(buffer.len()).min(self.next);
        buffer[..count].copy_from_slice(&self.data[..count]);
        self.data = &self.data[count..];
        self.next = match self.next {
            9 => 1000,
            1000 => 1,
            small => small + 1,
        };
        Ok(count)
    }
}

fn unmasked(header: &FrameHeader, bytes: &[u8]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    if let Some(key) = header.mask {
        mask::apply_bytewise(key, &mut bytes);
    }
    bytes
}

fn is_truncated(error: &FrameError, expected: u64, received: u64) -> bool {
    matches!(error, FrameError::Truncated { expected: e, received: r } if (*e, *r) == (expected, received))
}

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    // Every payload so far, unmasked, as if the frames were one message.
    let mut message = Vec::new();
    // The same, as `read_payload_into` builds it.
    let mut into = Vec::new();
    loop {
        let start = cursor.position() as usize;
        let header = match frame::read_header(&mut cursor) {
            Ok(header) => header,
            Err(error) => {
                check_header_error(error, &data[start..]);
                break;
            }
        };
        let payload_start = cursor.position() as usize;
        check_header(&header, &data[start..payload_start]);
        if start == 0 {
            // Chapter 3 draws the first frame; six shapes, so once per input is plenty.
            let _ = diagram::render(&header);
        }

        let available = &data[payload_start..];
        let into_result = frame::read_payload_into(&mut Pieces::new(available), &header, &mut into);

        let complete = match frame::read_payload(&mut cursor, &header) {
            Ok(payload) => {
                let length = payload.len();
                assert_eq!(length as u64, header.payload_len);
                assert_eq!(payload, unmasked(&header, &available[..length]));
                if header.rsv == 0 {
                    let whole = &data[start..payload_start + length];
                    assert_eq!(
                        frame::encode(header.fin, header.opcode, header.mask, &payload),
                        whole
                    );
                }
                let _ = control::describe(&payload);
                into_result.unwrap();
                message.extend_from_slice(&payload);
                true
            }
            Err(FrameError::Truncated { expected, received }) => {
                assert_eq!(expected, header.payload_len);
                assert_eq!(received, available.len() as u64);
                assert!(received < expected);
                assert_eq!(cursor.position() as usize, data.len());
                assert!(is_truncated(&into_result.unwrap_err(), expected, received));
                // What did arrive stays in the buffer.
                message.extend_from_slice(&unmasked(&header, available));
                false
            }
            Err(other) => panic!("reading a payload from a slice: {other:?}"),
        };
        assert_eq!(into, message);

        if !complete {
            break;
        }
    }
});

fn check_header(header: &FrameHeader, raw: &[u8]) {
    assert_eq!(frame::encode_header(header), raw);
    assert_eq!(&frame::read_header(&mut &raw[..]).unwrap(), header);
    assert!(header.rsv <= 0b111);
    assert_eq!(Opcode::from_bits(header.opcode.bits()), header.opcode);
    assert_eq!(header.opcode.bits(), raw[0] & 0x0F);
    assert_eq!(header.payload_len >> 63, 0);
    let length_bytes = match header.length_field() {
        LengthField::Short => 0,
        LengthField::Extended16 => 2,
        LengthField::Extended64 => 8,
    };
    let mask_bytes = if header.mask.is_some() { 4 } else { 0 };
    assert_eq!(raw.len(), 2 + length_bytes + mask_bytes);
    let _ = control::check(header);
    let _ = header.opcode.to_string();
}

fn check_header_error(error: FrameError, rest: &[u8]) {
    let _ = error.to_string();
    match error {
        FrameError::Closed => assert!(rest.is_empty()),
        FrameError::Truncated { expected, received } => {
            assert!(!rest.is_empty());
            assert!(received < expected);
            assert!(rest.len() < 14);
        }
        FrameError::NonMinimalLength { length, field } => match field {
            LengthField::Extended16 => {
                assert_eq!(rest[1] & 0x7F, 126);
                assert!(length < 126);
            }
            LengthField::Extended64 => {
                assert_eq!(rest[1] & 0x7F, 127);
                assert!(length <= 0xFFFF);
            }
            LengthField::Short => panic!("a 7-bit length is always minimal"),
        },
        FrameError::LengthTopBitSet => {
            assert_eq!(rest[1] & 0x7F, 127);
            assert_ne!(rest[2] & 0x80, 0);
        }
        FrameError::TimedOut | FrameError::Stalled { .. } | FrameError::Io(_) => {
            panic!("a byte slice cannot time out or fail: {error:?}")
        }
    }
}
