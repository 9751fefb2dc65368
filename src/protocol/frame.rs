//! Frames: RFC 6455 §5.2 (base framing protocol).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! [`read_header`] turns those bytes into a [`FrameHeader`], blocking until
//! they have arrived (chapters 5–9); [`parse_header`] does the same with
//! bytes already at hand, for the session engine that never blocks
//! (chapter 10). [`read_payload`] fetches and unmasks what follows;
//! [`encode_header`] and [`write()`] go the other way. The reader checks only what is wrong in any
//! frame (a length that is not written the shortest way, a 64-bit length
//! with its top bit set); which opcodes and sizes a server accepts is each
//! chapter's decision.

use std::fmt;
use std::io::{self, Read, Write};

use crate::protocol::mask;

/// What a frame carries (§5.2, §11.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// More of a message started by an earlier frame.
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    /// 3–7 and 11–15, kept for future extensions: a peer must not send them.
    Reserved(u8),
}

impl Opcode {
    pub fn from_bits(bits: u8) -> Opcode {
        match bits & 0x0F {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => Opcode::Reserved(other),
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
            Opcode::Reserved(bits) => bits & 0x0F,
        }
    }

    /// Control frames (close, ping, pong and reserved 11–15) have the top opcode bit set.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opcode::Continuation => write!(f, "continuation"),
            Opcode::Text => write!(f, "text"),
            Opcode::Binary => write!(f, "binary"),
            Opcode::Close => write!(f, "close"),
            Opcode::Ping => write!(f, "ping"),
            Opcode::Pong => write!(f, "pong"),
            Opcode::Reserved(bits) => write!(f, "reserved opcode {bits}"),
        }
    }
}

/// How the payload length was written: in the 7-bit field itself, or in
/// the 16- or 64-bit extension announced by 126 or 127.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthField {
    Short,
    Extended16,
    Extended64,
}

impl LengthField {
    /// The shortest encoding for a length, the only one §5.2 allows.
    pub fn for_length(length: u64) -> LengthField {
        match length {
            0..=125 => LengthField::Short,
            126..=0xFFFF => LengthField::Extended16,
            _ => LengthField::Extended64,
        }
    }
}

impl fmt::Display for LengthField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LengthField::Short => write!(f, "7-bit length"),
            LengthField::Extended16 => write!(f, "126 + 16-bit length"),
            LengthField::Extended64 => write!(f, "127 + 64-bit length"),
        }
    }
}

/// Everything before the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// Set on the last frame of a message.
    pub fin: bool,
    /// The three reserved bits, for extensions; zero unless one was negotiated.
    pub rsv: u8,
    pub opcode: Opcode,
    /// Present on every frame from a client, absent on every frame from a server.
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

impl FrameHeader {
    pub fn length_field(&self) -> LengthField {
        LengthField::for_length(self.payload_len)
    }
}

/// A frame that cannot be read, or cannot be a frame at all.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed TCP cleanly between frames.
    Closed,
    /// The peer closed TCP partway through a frame.
    Truncated {
        expected: u64,
        received: u64,
    },
    /// Nothing arrived before the read timeout, between frames.
    TimedOut,
    /// The read timeout expired partway through a frame.
    Stalled {
        received: u64,
    },
    /// A length that fits a shorter field (§5.2: "the minimal number of bytes MUST be used").
    NonMinimalLength {
        length: u64,
        field: LengthField,
    },
    /// A 64-bit length with its most significant bit set (§5.2).
    LengthTopBitSet,
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => write!(f, "the peer closed the connection"),
            FrameError::Truncated { expected, received } => write!(
                f,
                "the peer closed the connection halfway through a frame ({received} of {expected} bytes)"
            ),
            FrameError::TimedOut => write!(f, "timed out waiting for a frame"),
            FrameError::Stalled { received } => write!(
                f,
                "timed out halfway through a frame ({received} bytes of it arrived)"
            ),
            FrameError::NonMinimalLength { length, field } => write!(
                f,
                "a length of {length} written with a {field}: lengths must use the shortest form"
            ),
            FrameError::LengthTopBitSet => {
                write!(f, "a 64-bit payload length with its top bit set")
            }
            FrameError::Io(error) => write!(f, "could not read a frame: {error}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl FrameError {
    /// The same error, for a read that came `earlier` bytes into the frame
    /// (a header's rest, after its first two): its counts then tell of the
    /// frame's header, not only of the piece that was being read.
    pub fn after(self, earlier: u64) -> FrameError {
        match self {
            FrameError::Truncated { expected, received } => FrameError::Truncated {
                expected: earlier + expected,
                received: earlier + received,
            },
            FrameError::Stalled { received } => FrameError::Stalled {
                received: earlier + received,
            },
            other => other,
        }
    }
}

/// Fills `buffer` completely with the next bytes of a frame, telling a
/// clean close before a frame's first byte (`Closed`) from a close partway
/// through one (`Truncated`), and a quiet peer between frames (`TimedOut`)
/// from one that stalled partway (`Stalled`).
pub fn read_frame_bytes(
    reader: &mut impl Read,
    buffer: &mut [u8],
    at_frame_start: bool,
) -> Result<(), FrameError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) if filled == 0 && at_frame_start => return Err(FrameError::Closed),
            Ok(0) => {
                return Err(FrameError::Truncated {
                    expected: buffer.len() as u64,
                    received: filled as u64,
                });
            }
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if crate::protocol::http::is_timeout(&error) => {
                return Err(if filled == 0 && at_frame_start {
                    FrameError::TimedOut
                } else {
                    FrameError::Stalled {
                        received: filled as u64,
                    }
                });
            }
            Err(error) => return Err(FrameError::Io(error)),
        }
    }
    Ok(())
}

/// How many header bytes a frame has in all, known from its first two:
/// the 7-bit length says whether 0, 2 or 8 length bytes follow, and the
/// mask bit whether 4 key bytes do.
pub fn header_len(first_two: [u8; 2]) -> usize {
    let length_bytes = match first_two[1] & 0b0111_1111 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask_bytes = if first_two[1] & 0b1000_0000 != 0 {
        4
    } else {
        0
    };
    2 + length_bytes + mask_bytes
}

/// Decodes a complete header (exactly [`header_len`] bytes), checking the
/// two rules every length obeys.
pub fn parse_header(bytes: &[u8]) -> Result<FrameHeader, FrameError> {
    let [first, second, rest @ ..] = bytes else {
        return Err(FrameError::Truncated {
            expected: 2,
            received: bytes.len() as u64,
        });
    };
    let (payload_len, rest) = match second & 0b0111_1111 {
        126 => {
            let (extension, rest) = split_extension::<2>(rest)?;
            let length = u64::from(u16::from_be_bytes(extension));
            if length < 126 {
                return Err(FrameError::NonMinimalLength {
                    length,
                    field: LengthField::Extended16,
                });
            }
            (length, rest)
        }
        127 => {
            let (extension, rest) = split_extension::<8>(rest)?;
            let length = u64::from_be_bytes(extension);
            if length >> 63 != 0 {
                return Err(FrameError::LengthTopBitSet);
            }
            if length <= 0xFFFF {
                return Err(FrameError::NonMinimalLength {
                    length,
                    field: LengthField::Extended64,
                });
            }
            (length, rest)
        }
        short => (u64::from(short), rest),
    };
    let mask = if second & 0b1000_0000 != 0 {
        Some(split_extension::<4>(rest)?.0)
    } else {
        None
    };
    Ok(FrameHeader {
        fin: first & 0b1000_0000 != 0,
        rsv: (first & 0b0111_0000) >> 4,
        opcode: Opcode::from_bits(*first),
        mask,
        payload_len,
    })
}

/// The next `N` header bytes as an array, and what follows them.
fn split_extension<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), FrameError> {
    match bytes.split_first_chunk::<N>() {
        Some((extension, rest)) => Ok((*extension, rest)),
        None => Err(FrameError::Truncated {
            expected: N as u64,
            received: bytes.len() as u64,
        }),
    }
}

/// Reads the 2 to 14 header bytes of the next frame from a blocking reader.
pub fn read_header(reader: &mut impl Read) -> Result<FrameHeader, FrameError> {
    let mut bytes = [0; MAX_HEADER_LEN];
    read_frame_bytes(reader, &mut bytes[..2], true)?;
    let total = header_len([bytes[0], bytes[1]]);
    read_frame_bytes(reader, &mut bytes[2..total], false).map_err(|error| error.after(2))?;
    parse_header(&bytes[..total])
}

/// The longest header: 2 bytes, a 64-bit length and a masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// A payload on its way in: appends the bytes a header announced to a
/// buffer, one read at a time.
///
/// The buffer grows as bytes arrive instead of being allocated at the
/// announced size: a header can claim 2^63 bytes for the price of ten, and
/// believing it would let any peer exhaust our memory. Callers that care
/// about size check `header.payload_len` against their limit first.
///
/// The room doubles each time it fills, but never past the announced
/// length, and each read asks for all the room there is: a large payload
/// comes in a few big reads, as much as the socket holds each time, and
/// ends in a buffer of exactly its size. (`take(n).read_to_end` starts with
/// 8 KiB reads, and on finding its buffer full doubles it once more before
/// it learns that nothing is left: 32 MiB for a 16 MiB payload, more than
/// the allocator keeps for reuse, so each such message cost fresh memory
/// from the kernel, page by page.)
pub struct IncomingPayload<'a> {
    buffer: &'a mut Vec<u8>,
    /// Where this payload starts in `buffer` (after a message's earlier frames).
    start: usize,
    /// How far `buffer` holds received bytes; the rest is room.
    filled: usize,
    expected: u64,
}

impl<'a> IncomingPayload<'a> {
    pub fn new(buffer: &'a mut Vec<u8>, header: &FrameHeader) -> IncomingPayload<'a> {
        let start = buffer.len();
        IncomingPayload {
            buffer,
            start,
            filled: start,
            expected: header.payload_len,
        }
    }

    /// Bytes of this payload received so far.
    pub fn received(&self) -> u64 {
        (self.filled - self.start) as u64
    }

    pub fn is_complete(&self) -> bool {
        self.received() == self.expected
    }

    /// Reads whatever the socket has next (at least one byte) and returns
    /// the new bytes, still masked, with their offset in the payload.
    pub fn next_piece(&mut self, reader: &mut impl Read) -> Result<(&mut [u8], u64), FrameError> {
        const FIRST_ROOM: u64 = 64 * 1024;
        let received = self.received();
        if self.filled == self.buffer.len() {
            let more = received.max(FIRST_ROOM).min(self.expected - received);
            self.buffer.resize(self.filled + more as usize, 0);
        }
        let room = (self.expected - received).min((self.buffer.len() - self.filled) as u64);
        let end = self.filled + room as usize;
        loop {
            match reader.read(&mut self.buffer[self.filled..end]) {
                Ok(0) => {
                    return Err(FrameError::Truncated {
                        expected: self.expected,
                        received,
                    });
                }
                Ok(count) => {
                    let piece_start = self.filled;
                    self.filled += count;
                    return Ok((&mut self.buffer[piece_start..self.filled], received));
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if crate::protocol::http::is_timeout(&error) => {
                    return Err(FrameError::Stalled { received });
                }
                Err(error) => return Err(FrameError::Io(error)),
            }
        }
    }
}

impl Drop for IncomingPayload<'_> {
    /// Whatever happened, the buffer ends with what was received, not room.
    fn drop(&mut self) {
        self.buffer.truncate(self.filled);
    }
}

/// Reads the payload, unmasking it piece by piece, onto the end of `buffer`
/// (a message's earlier fragments, say).
pub fn read_payload_into(
    reader: &mut impl Read,
    header: &FrameHeader,
    buffer: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let mut incoming = IncomingPayload::new(buffer, header);
    while !incoming.is_complete() {
        let (piece, offset) = incoming.next_piece(reader)?;
        if let Some(key) = header.mask {
            mask::apply_from(key, piece, offset);
        }
    }
    Ok(())
}

/// Reads the payload and removes its mask, if it has one.
pub fn read_payload(reader: &mut impl Read, header: &FrameHeader) -> Result<Vec<u8>, FrameError> {
    let mut payload = Vec::new();
    read_payload_into(reader, header, &mut payload)?;
    Ok(payload)
}

/// The header bytes for a frame, with the length in its shortest form.
pub fn encode_header(header: &FrameHeader) -> Vec<u8> {
    let (bytes, length) = encode_header_array(header);
    bytes[..length].to_vec()
}

/// [`encode_header`] without an allocation: the bytes, in an array of
/// the longest header's size, and how many of them the header takes.
pub fn encode_header_array(header: &FrameHeader) -> ([u8; MAX_HEADER_LEN], usize) {
    let mut bytes = [0; MAX_HEADER_LEN];
    let fin = if header.fin { 0b1000_0000 } else { 0 };
    bytes[0] = fin | (header.rsv & 0b111) << 4 | header.opcode.bits();
    let mask_bit = if header.mask.is_some() {
        0b1000_0000
    } else {
        0
    };
    let length = header.payload_len;
    let mut end = match header.length_field() {
        LengthField::Short => {
            bytes[1] = mask_bit | length as u8;
            2
        }
        LengthField::Extended16 => {
            bytes[1] = mask_bit | 126;
            bytes[2..4].copy_from_slice(&(length as u16).to_be_bytes());
            4
        }
        LengthField::Extended64 => {
            bytes[1] = mask_bit | 127;
            bytes[2..10].copy_from_slice(&length.to_be_bytes());
            10
        }
    };
    if let Some(key) = header.mask {
        bytes[end..end + 4].copy_from_slice(&key);
        end += 4;
    }
    (bytes, end)
}

/// A whole frame as bytes: header, then payload (masked when `mask` is given).
pub fn encode(fin: bool, opcode: Opcode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut bytes = encode_header(&header);
    let start = bytes.len();
    bytes.extend_from_slice(payload);
    if let Some(key) = mask {
        mask::apply(key, &mut bytes[start..]);
    }
    bytes
}

/// Sends one unmasked frame, as a server does (§5.1: servers never mask).
pub fn write(writer: &mut impl Write, fin: bool, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
    write_with_rsv(writer, fin, 0, opcode, payload)
}

/// [`write()`], with reserved bits an extension gave a meaning (RSV1 for a
/// compressed message, RFC 7692 §6).
pub fn write_with_rsv(
    writer: &mut impl Write,
    fin: bool,
    rsv: u8,
    opcode: Opcode,
    payload: &[u8],
) -> io::Result<()> {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let header = encode_header(&header);
    // Header and payload leave in one system call (`write_vectored`, like
    // `writev(2)`), without copying the payload next to the header. Written
    // separately, the few header bytes would go out as a TCP segment of
    // their own (Nagle is off), and the peer would wake up for them alone.
    let mut pieces = [io::IoSlice::new(&header), io::IoSlice::new(payload)];
    let mut pieces = &mut pieces[..];
    while !pieces.is_empty() {
        match writer.write_vectored(pieces) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => io::IoSlice::advance_slices(&mut pieces, count),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io::Cursor;

    // RFC 6455 §5.7: "A single-frame unmasked text message" and "A
    // single-frame masked text message", both carrying "Hello".
    const UNMASKED_HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_HELLO: [u8; 11] = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];

    /// A reader that plays back a script: pieces of bytes (each handed out
    /// across as many reads as the caller's buffer needs) and errors, then
    /// the end of input. It lets a test say exactly where a socket stalls.
    struct Scripted(VecDeque<Result<Vec<u8>, io::ErrorKind>>);

    fn scripted(events: &[Result<&[u8], io::ErrorKind>]) -> Scripted {
        Scripted(
            events
                .iter()
                .map(|event| event.map(<[u8]>::to_vec))
                .collect(),
        )
    }

    impl Read for Scripted {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front() {
                None => Ok(0),
                Some(Err(kind)) => Err(kind.into()),
                Some(Ok(mut bytes)) => {
                    let count = bytes.len().min(buffer.len());
                    buffer[..count].copy_from_slice(&bytes[..count]);
                    let rest = bytes.split_off(count);
                    if !rest.is_empty() {
                        self.0.push_front(Ok(rest));
                    }
                    Ok(count)
                }
            }
        }
    }

    #[test]
    fn reads_the_rfc_examples() {
        let mut reader = Cursor::new(UNMASKED_HELLO);
        let header = read_header(&mut reader).unwrap();
        assert!(header.fin);
        assert_eq!(header.opcode, Opcode::Text);
        assert_eq!((header.mask, header.payload_len), (None, 5));
        assert_eq!(read_payload(&mut reader, &header).unwrap(), b"Hello");

        // The same frame masked, arriving a byte at a time.
        let pieces: Vec<_> = MASKED_HELLO.iter().map(std::slice::from_ref).collect();
        let events: Vec<_> = pieces.iter().map(|piece| Ok(*piece)).collect();
        let mut reader = scripted(&events);
        let header = read_header(&mut reader).unwrap();
        assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(read_payload(&mut reader, &header).unwrap(), b"Hello");
    }

    #[test]
    fn a_close_between_frames_is_not_a_truncated_frame() {
        assert!(matches!(
            read_header(&mut Cursor::new([])),
            Err(FrameError::Closed)
        ));
        // The masked "Hello" has a 6-byte header (§5.2: 2 bytes, then a
        // 4-byte key); cut after 2 or 4, it is truncated, counted in the
        // whole header.
        for cut in [2, 4] {
            let result = read_header(&mut Cursor::new(&MASKED_HELLO[..cut]));
            assert!(
                matches!(
                    result,
                    Err(FrameError::Truncated { expected: 6, received }) if received == cut as u64
                ),
                "cut {cut}: {result:?}"
            );
        }
    }

    #[test]
    fn a_quiet_peer_is_told_from_a_stalled_frame() {
        use io::ErrorKind::{ConnectionReset, Interrupted, TimedOut, WouldBlock};
        // EINTR means "try again" (signal(7)): the frame still arrives.
        let mut reader = scripted(&[Err(Interrupted), Ok(&UNMASKED_HELLO)]);
        assert_eq!(read_header(&mut reader).unwrap().payload_len, 5);
        // A timeout before a frame's first byte: nothing is wrong yet.
        for kind in [TimedOut, WouldBlock] {
            let result = read_header(&mut scripted(&[Err(kind)]));
            assert!(matches!(result, Err(FrameError::TimedOut)), "{result:?}");
        }
        // A timeout partway through the 6-byte header, after 2 and 3 bytes.
        for cut in [2, 3] {
            let mut reader = scripted(&[Ok(&MASKED_HELLO[..cut]), Err(WouldBlock)]);
            let result = read_header(&mut reader);
            assert!(
                matches!(result, Err(FrameError::Stalled { received }) if received == cut as u64),
                "cut {cut}: {result:?}"
            );
        }
        // Any other error is just that.
        let result = read_header(&mut scripted(&[Err(ConnectionReset)]));
        assert!(
            matches!(&result, Err(FrameError::Io(error)) if error.kind() == ConnectionReset),
            "{result:?}"
        );
    }

    #[test]
    fn opcodes_are_the_rfcs_numbers() {
        // §5.2: 0 continuation, 1 text, 2 binary, 3–7 reserved non-control,
        // 8 close, 9 ping, A pong, B–F reserved control frames.
        let named = [
            (0x0, Opcode::Continuation),
            (0x1, Opcode::Text),
            (0x2, Opcode::Binary),
            (0x8, Opcode::Close),
            (0x9, Opcode::Ping),
            (0xA, Opcode::Pong),
        ];
        for bits in 0..16u8 {
            let opcode = Opcode::from_bits(bits);
            assert_eq!(opcode.bits(), bits, "{opcode:?}");
            assert_eq!(opcode.is_control(), bits >= 8, "{opcode:?}");
            match named.iter().find(|(number, _)| *number == bits) {
                Some((_, name)) => assert_eq!(opcode, *name),
                None => assert_eq!(opcode, Opcode::Reserved(bits)),
            }
        }
    }

    #[test]
    fn displays_say_what_the_rfc_calls_things() {
        // §5.2's names for opcodes, and its 126/127 length markers.
        assert_eq!(Opcode::Text.to_string(), "text");
        assert!(Opcode::Reserved(3).to_string().contains('3'));
        assert!(LengthField::Extended16.to_string().contains("126"));
        assert!(LengthField::Extended64.to_string().contains("127"));
        let error = FrameError::NonMinimalLength {
            length: 5,
            field: LengthField::Extended16,
        };
        assert!(error.to_string().contains(" 5 "), "{error}");
    }
    #[test]
    fn payloads_land_after_earlier_fragments() {
        // §5.4: a message's fragments join in order, so a payload read
        // after earlier ones goes on the end; §5.3 unmasking restarts at
        // the key's first byte for each frame.
        for step in [1, 3, 11] {
            let events: Vec<_> = MASKED_HELLO.chunks(step).map(Ok).collect();
            let mut reader = scripted(&events);
            let header = read_header(&mut reader).unwrap();
            let mut message = b"Hel".to_vec();
            read_payload_into(&mut reader, &header, &mut message).unwrap();
            assert_eq!(message, b"HelHello", "step {step}");
        }
        // Cut two bytes into its five: truncated, counted in the payload.
        let mut reader = Cursor::new(&MASKED_HELLO[..8]);
        let header = read_header(&mut reader).unwrap();
        let mut message = b"Hel".to_vec();
        let result = read_payload_into(&mut reader, &header, &mut message);
        assert!(
            matches!(
                result,
                Err(FrameError::Truncated {
                    expected: 5,
                    received: 2
                })
            ),
            "{result:?}"
        );
        // What did arrive stays, unmasked, and nothing more.
        assert_eq!(message, b"HelHe");
    }

    #[test]
    fn a_payload_survives_interruptions_and_reports_stalls() {
        use io::ErrorKind::{ConnectionReset, Interrupted, WouldBlock};
        let (header_bytes, payload) = MASKED_HELLO.split_at(6);
        let (early, late) = payload.split_at(2);
        let header = parse_header(header_bytes).unwrap();
        // EINTR means "try again": all of "Hello" still arrives.
        let mut reader = scripted(&[Ok(early), Err(Interrupted), Ok(late)]);
        assert_eq!(read_payload(&mut reader, &header).unwrap(), b"Hello");
        // A timeout two bytes into the payload is a stall at two bytes.
        let mut reader = scripted(&[Ok(early), Err(WouldBlock)]);
        let result = read_payload(&mut reader, &header);
        assert!(
            matches!(result, Err(FrameError::Stalled { received: 2 })),
            "{result:?}"
        );
        let mut reader = scripted(&[Ok(early), Err(ConnectionReset)]);
        let result = read_payload(&mut reader, &header);
        assert!(
            matches!(&result, Err(FrameError::Io(error)) if error.kind() == ConnectionReset),
            "{result:?}"
        );
    }

    #[test]
    fn the_shortest_lengths_of_each_form_are_accepted() {
        // §5.2: 0–125 fit the 7-bit field, so 126 is the least length the
        // 16-bit form carries and 65536 the least the 64-bit form carries.
        let header = parse_header(&[0x82, 126, 0x00, 126]).unwrap();
        assert_eq!(header.payload_len, 126);
        let header = parse_header(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!(header.payload_len, 65536);
        assert!(matches!(
            parse_header(&[0x82, 126, 0x00, 125]),
            Err(FrameError::NonMinimalLength { length: 125, .. })
        ));
        assert!(matches!(
            parse_header(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
            Err(FrameError::NonMinimalLength { length: 65535, .. })
        ));
    }
    #[test]
    fn a_payload_larger_than_the_first_rooms_arrives_whole() {
        // §5.2: a 127 marker and a 64-bit length announce a payload beyond
        // 65535 bytes; all of it, and nothing after it, is the payload.
        let length: usize = 200_000;
        let mut bytes = vec![0x82, 127];
        bytes.extend_from_slice(&(length as u64).to_be_bytes());
        let payload: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&UNMASKED_HELLO);
        let mut reader = Cursor::new(bytes);
        let header = read_header(&mut reader).unwrap();
        assert_eq!(read_payload(&mut reader, &header).unwrap(), payload);
        let next = read_header(&mut reader).unwrap();
        assert_eq!(read_payload(&mut reader, &next).unwrap(), b"Hello");
    }
}
