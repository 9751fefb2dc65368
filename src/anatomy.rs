//! One frame taken apart field by field, out loud: RFC 6455 §5.2 and §5.3.
//!
//! This is chapter 3's reading of a frame, kept in the library so chapter 4
//! can call it. It deliberately handles only what the article handles — one
//! unfragmented, masked text frame of at most 125 bytes — and unmasks it
//! with [`mask::apply_bytewise`], the RFC's rule written out byte by byte.
//! Later chapters lift each restriction.
//!
//! Two slips in the article are mended here. It tests `fin` and `is_masked`
//! with `unless`, but they hold `first_byte & 0b10000000`, a number, and in
//! Ruby every number (0 included) is true, so neither check can ever fire.
//! And it says the length "is greater than 126" when more bytes follow; the
//! two special values are 126 (a 16-bit length follows) and 127 (a 64-bit
//! length follows).

use std::io::Read;

use crate::narrate::{self, diagram};
use crate::protocol::frame::{self, Opcode};
use crate::protocol::mask;
use crate::protocol::violation::Violation;
use crate::server::error::Error;

/// Reads one text frame and tells its story: each header field, the RFC
/// diagram with this frame's bits, the mask, the masked and unmasked bytes,
/// and the string they spell.
pub fn read_text_frame(reader: &mut impl Read) -> Result<String, Error> {
    let header = frame::read_header(reader)?;
    let bytes = frame::encode_header(&header);
    narrate::received(format!(
        "First byte: {:#010b} → FIN: {}, RSV: {:03b}, opcode: {} ({})",
        bytes[0],
        u8::from(header.fin),
        header.rsv,
        header.opcode.bits(),
        header.opcode
    ));
    narrate::received(format!(
        "Second byte: {:#010b} → MASK: {}, payload length: {}",
        bytes[1],
        u8::from(header.mask.is_some()),
        bytes[1] & 0b0111_1111
    ));
    for line in diagram::render(&header) {
        narrate::plain(line);
    }

    if !header.fin {
        return Err(Error::NotYetSupported(
            "a message split over several frames (chapter 7)".into(),
        ));
    }
    if header.opcode != Opcode::Text {
        return Err(Error::NotYetSupported(format!(
            "a {} frame; this chapter reads text frames only",
            header.opcode
        )));
    }
    let Some(key) = header.mask else {
        return Err(Violation::Unmasked.into());
    };
    if header.payload_len > 125 {
        return Err(Error::NotYetSupported(format!(
            "a {}-byte payload; lengths over 125 come in chapter 5",
            header.payload_len
        )));
    }

    narrate::received(format!("Payload size: {} bytes", header.payload_len));
    narrate::received(format!("Got mask: {key:?}"));
    let mut data = frame::read_masked_payload(reader, &header)?;
    narrate::received(format!("Got masked data: {data:?}"));
    mask::apply_bytewise(key, &mut data);
    narrate::plain(format!("Unmasked the data: {data:?}"));
    let text = String::from_utf8_lossy(&data).into_owned();
    narrate::plain(format!("Converted to a string: {text:?}"));
    Ok(text)
}
