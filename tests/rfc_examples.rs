//! The library checked against numbers we did not compute ourselves:
//! RFC 6455's worked examples and the article's printed values.

use std::io::Cursor;

use websocket_from_scratch::protocol::frame::{self, FrameError, FrameHeader, LengthField, Opcode};
use websocket_from_scratch::protocol::handshake::accept_key;
use websocket_from_scratch::protocol::message::Assembler;

#[test]
fn rfc_6455_section_1_3_accept_key() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn the_articles_two_keys() {
    assert_eq!(
        accept_key("E4i4gDQc1XTIQcQxvf+ODA=="),
        "d9WHst60HtB4IvjOVevrexl0oLA="
    );
    assert_eq!(
        accept_key("Fh06+WnoTQQiVnX5saeYMg=="),
        "nJg1c2upAHixOmXz7kV2bJ2g/YQ="
    );
}

/// Reads `bytes` as one frame and checks that nothing is left over.
fn read_one(bytes: &[u8]) -> (FrameHeader, Vec<u8>) {
    let mut cursor = Cursor::new(bytes);
    let header = frame::read_header(&mut cursor).unwrap();
    let payload = frame::read_payload(&mut cursor, &header).unwrap();
    assert_eq!(cursor.position() as usize, bytes.len(), "bytes left over");
    (header, payload)
}

const UNMASKED_HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const MASKED_HELLO: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

#[test]
fn rfc_6455_section_5_7_unmasked_hello() {
    let (header, payload) = read_one(&UNMASKED_HELLO);
    assert!(header.fin);
    assert_eq!(header.opcode, Opcode::Text);
    assert_eq!(header.mask, None);
    assert_eq!(payload, b"Hello");
    assert_eq!(
        frame::encode(true, Opcode::Text, None, b"Hello"),
        UNMASKED_HELLO
    );
}

#[test]
fn rfc_6455_section_5_7_masked_hello() {
    let (header, payload) = read_one(&MASKED_HELLO);
    assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
    assert_eq!(payload, b"Hello");
    assert_eq!(
        frame::encode(true, Opcode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), b"Hello"),
        MASKED_HELLO
    );
}

#[test]
fn rfc_6455_section_5_7_256_byte_binary_header() {
    let payload = vec![0xAB; 256];
    let bytes = frame::encode(true, Opcode::Binary, None, &payload);
    assert_eq!(bytes[..4], [0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(bytes.len(), 4 + 256);
    let (header, read_back) = read_one(&bytes);
    assert_eq!(header.length_field(), LengthField::Extended16);
    assert_eq!(read_back, payload);
}

#[test]
fn rfc_6455_section_5_7_64_kib_binary_header() {
    let payload = vec![0xCD; 65536];
    let bytes = frame::encode(true, Opcode::Binary, None, &payload);
    assert_eq!(
        bytes[..10],
        [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
    );
    let (header, read_back) = read_one(&bytes);
    assert_eq!(header.length_field(), LengthField::Extended64);
    assert_eq!(read_back.len(), 65536);
}

#[test]
fn the_articles_frame_unmasks_to_its_string() {
    let mut bytes = vec![0x81, 0x90, 80, 191, 161, 254];
    bytes.extend_from_slice(&[
        19, 222, 207, 222, 41, 208, 212, 222, 56, 218, 192, 140, 112, 210, 196, 193,
    ]);
    let (_, payload) = read_one(&bytes);
    assert_eq!(payload, b"Can you hear me?");
}

#[test]
fn a_non_minimal_length_is_refused() {
    // 5 bytes announced with the 16-bit form.
    let bytes = [0x81, 0x7E, 0x00, 0x05, b'H', b'e', b'l', b'l', b'o'];
    assert!(matches!(
        frame::read_header(&mut Cursor::new(&bytes)),
        Err(FrameError::NonMinimalLength { length: 5, .. })
    ));
}

#[test]
fn a_truncated_frame_is_told_apart_from_a_clean_close() {
    assert!(matches!(
        frame::read_header(&mut Cursor::new(&[])),
        Err(FrameError::Closed)
    ));
    // Four of the header's six bytes came: counted in the header, not in
    // the piece after its first two bytes.
    assert!(matches!(
        frame::read_header(&mut Cursor::new(&MASKED_HELLO[..4])),
        Err(FrameError::Truncated {
            expected: 6,
            received: 4
        })
    ));
    let mut cursor = Cursor::new(&MASKED_HELLO[..8]);
    let header = frame::read_header(&mut cursor).unwrap();
    assert!(matches!(
        frame::read_payload(&mut cursor, &header),
        Err(FrameError::Truncated {
            expected: 5,
            received: 2
        })
    ));
}

#[test]
fn rfc_6455_section_5_7_fragmented_hello() {
    let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let second = [0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(frame::encode(false, Opcode::Text, None, b"Hel"), first);
    assert_eq!(
        frame::encode(true, Opcode::Continuation, None, b"lo"),
        second
    );

    let mut assembler = Assembler::new();
    let (header, payload) = read_one(&first);
    assert!(!header.fin);
    assert_eq!(assembler.push(&header, payload), Ok(None));
    let (header, payload) = read_one(&second);
    assert_eq!(header.opcode, Opcode::Continuation);
    let message = assembler.push(&header, payload).unwrap().unwrap();
    assert_eq!(message.opcode, Opcode::Text);
    assert_eq!(message.payload, b"Hello");
    assert_eq!(message.frames, 2);
}

#[test]
fn rfc_6455_section_5_7_ping_and_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (header, payload) = read_one(&ping);
    assert_eq!(header.opcode, Opcode::Ping);
    assert_eq!(payload, b"Hello");
    assert_eq!(frame::encode(true, Opcode::Ping, None, b"Hello"), ping);
    let (header, payload) = read_one(&pong);
    assert_eq!(header.opcode, Opcode::Pong);
    assert_eq!(payload, b"Hello");
    assert_eq!(
        frame::encode(true, Opcode::Pong, Some([0x37, 0xfa, 0x21, 0x3d]), b"Hello"),
        pong
    );
}

#[test]
fn length_encoding_at_the_edges() {
    let cases: [(usize, &[u8]); 4] = [
        (125, &[0x82, 125]),
        (126, &[0x82, 126, 0x00, 0x7E]),
        (65535, &[0x82, 126, 0xFF, 0xFF]),
        (65536, &[0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
    ];
    for (length, header) in cases {
        let bytes = frame::encode(true, Opcode::Binary, None, &vec![0; length]);
        assert_eq!(&bytes[..header.len()], header, "{length}");
        assert_eq!(bytes.len(), header.len() + length, "{length}");
        let (read_back, payload) = read_one(&bytes);
        assert_eq!(read_back.payload_len, length as u64);
        assert_eq!(payload.len(), length);
    }
}

#[test]
fn a_claimed_2_pow_63_byte_payload_allocates_only_what_arrives() {
    // Unmasked, 64-bit length 2^63 - 1, then nine bytes and the end of input.
    let mut bytes = vec![0x82, 0x7F];
    bytes.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    bytes.extend_from_slice(b"only this");
    let mut cursor = Cursor::new(&bytes);
    let header = frame::read_header(&mut cursor).unwrap();
    assert_eq!(header.payload_len, u64::MAX >> 1);
    let result = frame::read_payload(&mut cursor, &header);
    assert!(
        matches!(result, Err(FrameError::Truncated { received: 9, .. })),
        "{result:?}"
    );
}

/// A reader that hands out one byte per read, as a slow network might.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buffer.first_mut()) {
            (Some((&byte, rest)), Some(slot)) => {
                *slot = byte;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn a_payload_arriving_a_byte_at_a_time_unmasks_the_same() {
    let mut trickle = Trickle(&MASKED_HELLO);
    let header = frame::read_header(&mut trickle).unwrap();
    let mut message = b"earlier fragments: ".to_vec();
    frame::read_payload_into(&mut trickle, &header, &mut message).unwrap();
    assert_eq!(message, b"earlier fragments: Hello");
}
