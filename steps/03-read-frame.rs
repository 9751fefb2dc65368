//! Chapter 3 — Reading a frame (the article's "The websocket frame
//! protocol" and "Receiving data").
//!
//! Chapter 3 is chapter 2 plus reading one frame (`diff
//! steps/02-handshake.rs steps/03-read-frame.rs`).
//!
//! After the handshake the browser sends "Can you hear me?" as one frame.
//! `read_text_frame` below takes it apart the way the article does, one
//! field at a time, with bit masks:
//!
//! ```text
//! first byte   1 000 0001     FIN (0b1000_0000), RSV1-3 (0b0111_0000), opcode (0b0000_1111)
//! second byte  1 0010000      MASK (0b1000_0000), payload length (0b0111_1111)
//! then         4 bytes        the masking key
//! then         16 bytes       the payload, masked
//! ```
//!
//! and draws the RFC 6455 §5.2 diagram filled in with the bits that
//! actually arrived (`narrate::diagram`). Each payload byte is XORed with
//! the key byte at its position modulo 4 (§5.3), and the bytes come out as
//! UTF-8 text.
//!
//! Watch for the article's numbers: sent with its mask
//! (`cargo run --bin client -- --mask 80,191,161,254`) the masked bytes are
//! `[19, 222, 207, 222, …]` and unmask to "Can you hear me?".
//!
//! This is the simple version on purpose: one unfragmented, masked text
//! frame of at most 125 bytes. A 7-bit length of 126 or 127 means a longer
//! length follows in the next bytes; reading those is chapter 5. Anything
//! else is refused with a red line.
//!
//! **What graduates.** Reading the request head (chapter 1) and the
//! handshake (chapter 2) now live in the library, as `opening::perform`:
//! the same steps, the test page for a plain `GET` included.
//!
//! What differs from the article: its FIN and mask checks can never fail
//! (in Ruby, 0 is true), it describes lengths 126 and 127 as "greater than
//! 126" (and elsewhere says the extended length comes with payloads under
//! 127 bytes: it is the other way round), its headings put the masking key
//! in bytes 3–7 and the payload from byte 8 (bytes 3–6, then from byte 7),
//! and it `raise`s inside the accept loop, so one unexpected frame
//! takes down the whole server. Here a frame we cannot handle ends only its
//! own connection, and the next connection is served.
//!
//! Try it: `cargo run --bin 03-read-frame`, then
//! `cargo run --bin client -- --key E4i4gDQc1XTIQcQxvf+ODA== --mask 80,191,161,254`.
//!
//! You should see, among its narration (as pinned in
//! `snapshots/03-read-frame.snap`):
//!
//! ```text
//! First byte: 0b10000001 → FIN: 1, RSV: 000, opcode: 1 (text)
//! Got mask: [80, 191, 161, 254]
//! Got masked data: [19, 222, 207, 222, 41, 208, 212, 222, 56, 218, 192, 140, 112, 210, 196, 193]
//! Converted to a string: "Can you hear me?"
//! ```

use std::io::Read;
use std::process::ExitCode;

use websocket_from_scratch::Error;
use websocket_from_scratch::narrate::{self, diagram};
use websocket_from_scratch::protocol::frame::{self, FrameHeader, Opcode};
use websocket_from_scratch::protocol::violation::Violation;
use websocket_from_scratch::server::listener::{self, Connection};
use websocket_from_scratch::server::opening::{self, Opening};

fn main() -> ExitCode {
    listener::run("03-read-frame", read_one_frame)
}

fn read_one_frame(connection: &mut Connection) -> Result<(), Error> {
    if opening::perform(connection)? == Opening::ServedPage {
        return Ok(());
    }
    narrate::event("Handshake completed. Starting to parse the websocket frame.");
    read_text_frame(&mut connection.reader)?;
    Ok(())
}

/// Reads one text frame and tells its story: each header field, the RFC
/// diagram with this frame's bits, the mask, the masked and unmasked bytes,
/// and the string they spell.
fn read_text_frame(reader: &mut impl Read) -> Result<String, Error> {
    let mut first_two = [0; 2];
    frame::read_frame_bytes(reader, &mut first_two, true)?;
    let [first_byte, second_byte] = first_two;

    let (fin, rsv, opcode) = split_first_byte(first_byte);
    narrate::received(format!(
        "First byte: {first_byte:#010b} → FIN: {}, RSV: {rsv:03b}, opcode: {} ({opcode})",
        u8::from(fin),
        opcode.bits(),
    ));
    let (masked, payload_len) = split_second_byte(second_byte);
    narrate::received(format!(
        "Second byte: {second_byte:#010b} → MASK: {}, payload length: {payload_len}",
        u8::from(masked),
    ));
    refuse_longer_lengths(payload_len)?;
    let mask = read_masking_key(reader, masked)?;
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: u64::from(payload_len),
    };
    for line in diagram::render(&header) {
        narrate::plain(line);
    }
    let key = check(&header)?;

    narrate::received(format!("Payload size: {payload_len} bytes"));
    narrate::received(format!("Got mask: {key:?}"));
    // At most 125 bytes: small enough to take the header at its word.
    let mut data = vec![0; usize::from(payload_len)];
    frame::read_frame_bytes(reader, &mut data, false)?;
    narrate::received(format!("Got masked data: {data:?}"));
    unmask(&mut data, key);
    narrate::plain(format!("Unmasked the data: {data:?}"));
    let text = String::from_utf8_lossy(&data).into_owned();
    narrate::plain(format!("Converted to a string: {text:?}"));
    Ok(text)
}

/// The first byte of a frame: FIN (the last frame of a message), three
/// reserved bits, and a 4-bit opcode (§5.2).
fn split_first_byte(byte: u8) -> (bool, u8, Opcode) {
    // lesson: FIN is 0b1000_0000, RSV 0b0111_0000 (shifted down), the opcode 0b0000_1111
    let fin = byte & 0b1000_0000 != 0;
    let rsv = (byte & 0b0111_0000) >> 4;
    let opcode = Opcode::from_bits(byte & 0b0000_1111);
    (fin, rsv, opcode)
    // end of lesson
}

/// The second byte: the MASK bit, and the 7-bit payload length.
fn split_second_byte(byte: u8) -> (bool, u8) {
    // lesson: MASK is 0b1000_0000, the 7-bit length 0b0111_1111
    let masked = byte & 0b1000_0000 != 0;
    let payload_len = byte & 0b0111_1111;
    (masked, payload_len)
    // end of lesson
}

/// A 7-bit length of 126 or 127 is not a length: it says that a 16- or a
/// 64-bit one follows. This chapter reads short payloads only.
fn refuse_longer_lengths(payload_len: u8) -> Result<(), Error> {
    // What the log says of a longer length ("Not supported yet: …"), given
    // how many bits follow.
    let not_yet = |longer: u8| {
        Error::NotYetSupported(format!(
            "a payload length of {payload_len}, which means a {longer}-bit length follows; \
             lengths over 125 come in chapter 5"
        ))
    };
    // lesson: 126 announces a 16-bit length, 127 a 64-bit one: Err(not_yet(16)), Err(not_yet(64))
    if payload_len > 125 {
        let longer = if payload_len == 126 { 16 } else { 64 };
        return Err(not_yet(longer));
    }
    Ok(())
    // end of lesson
}

/// The 4-byte masking key, which follows the length when MASK is set.
fn read_masking_key(reader: &mut impl Read, masked: bool) -> Result<Option<[u8; 4]>, Error> {
    // lesson: with MASK set, the next 4 bytes (frame::read_frame_bytes, not at a frame's start)
    if !masked {
        return Ok(None);
    }
    let mut key = [0; 4];
    frame::read_frame_bytes(reader, &mut key, false)?;
    Ok(Some(key))
    // end of lesson
}

/// What this chapter can read: one whole, masked text frame. Returns its
/// masking key.
fn check(header: &FrameHeader) -> Result<[u8; 4], Error> {
    // What the log says of a frame this chapter cannot read yet ("Not
    // supported yet: …"): Error::NotYetSupported(split.into()), or
    // Error::NotYetSupported(not_text).
    let split = "a message split over several frames (chapter 7)";
    let not_text = format!(
        "a {} frame; this chapter reads text frames only",
        header.opcode
    );
    // lesson: refuse RSV bits (ReservedBits), no FIN (split), not text (not_text), no mask (Unmasked)
    // No extension is agreed, so the reserved bits must be 0 (§5.2).
    if header.rsv != 0 {
        return Err(Violation::ReservedBits(header.rsv).into());
    }
    if !header.fin {
        return Err(Error::NotYetSupported(split.into()));
    }
    if header.opcode != Opcode::Text {
        return Err(Error::NotYetSupported(not_text));
    }
    // A client masks every frame (§5.1).
    let Some(key) = header.mask else {
        return Err(Violation::Unmasked.into());
    };
    Ok(key)
    // end of lesson
}

/// Removes the mask: byte i is XORed with key byte i modulo 4 (§5.3).
fn unmask(data: &mut [u8], key: [u8; 4]) {
    // lesson: XOR each byte of data with the key byte at its position modulo 4
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
    // end of lesson
}
