//! The RFC 6455 §5.2 frame diagram, filled in with a real frame's bits.
//!
//! The RFC draws the header as rows of 32 bits with a box per field. This
//! module draws the same boxes for one actual header — only the fields that
//! frame has, with their real bits under their names — so a reader can put
//! the RFC's picture and the bytes on the wire side by side.

use colored::{Color, Colorize};

use crate::protocol::frame::{FrameHeader, LengthField, encode_header};

const ROW_BITS: usize = 32;

/// One field of the header: a name, its width in bits, its colour.
struct Field {
    name: &'static str,
    bits: usize,
    color: Color,
}

/// A field, or the part of it that fits in one row.
struct Segment {
    label: String,
    bits: String,
    width: usize,
    color: Color,
}

fn fields(header: &FrameHeader) -> Vec<Field> {
    let field = |name, bits, color| Field { name, bits, color };
    let mut fields = vec![
        field("FIN", 1, Color::Magenta),
        field("RSV1", 1, Color::BrightBlack),
        field("RSV2", 1, Color::BrightBlack),
        field("RSV3", 1, Color::BrightBlack),
        field("opcode", 4, Color::Yellow),
        field("MASK", 1, Color::Magenta),
        field("Payload len", 7, Color::Cyan),
    ];
    match header.length_field() {
        LengthField::Short => {}
        LengthField::Extended16 => fields.push(field("Extended payload length", 16, Color::Blue)),
        LengthField::Extended64 => fields.push(field("Extended payload length", 64, Color::Blue)),
    }
    if header.mask.is_some() {
        fields.push(field("Masking-key", 32, Color::Green));
    }
    fields
}

/// Cuts the fields into rows of at most 32 bits, a field that crosses a row
/// boundary continuing on the next row.
fn rows(header: &FrameHeader) -> Vec<Vec<Segment>> {
    let bytes = encode_header(header);
    let all_bits: Vec<char> = bytes
        .iter()
        .flat_map(|byte| {
            (0..8)
                .rev()
                .map(move |i| if byte >> i & 1 == 1 { '1' } else { '0' })
        })
        .collect();
    let mut rows = Vec::new();
    let mut current: Vec<Segment> = Vec::new();
    let mut used_in_row = 0;
    let mut position = 0;
    for field in fields(header) {
        let mut remaining = field.bits;
        let mut continued = false;
        while remaining > 0 {
            if used_in_row == ROW_BITS {
                rows.push(std::mem::take(&mut current));
                used_in_row = 0;
            }
            let width = remaining.min(ROW_BITS - used_in_row);
            let bits: Vec<String> = all_bits[position..position + width]
                .iter()
                .map(char::to_string)
                .collect();
            let label = if continued {
                format!("{} (cont.)", field.name)
            } else {
                field.name.to_string()
            };
            current.push(Segment {
                label,
                bits: bits.join(" "),
                width,
                color: field.color,
            });
            position += width;
            used_in_row += width;
            remaining -= width;
            continued = true;
        }
    }
    rows.push(current);
    rows
}

/// A border line under `upper` and over `lower`: `+` wherever either row
/// has a field boundary, `-` wherever either row has a field.
fn border(upper: Option<&[Segment]>, lower: Option<&[Segment]>) -> String {
    let mut line: Vec<char> = vec![' '; ROW_BITS * 2 + 1];
    let mut length = 0;
    for row in [upper, lower].into_iter().flatten() {
        let mut column = 0;
        line[0] = '+';
        for segment in row {
            for cell in line.iter_mut().skip(column + 1).take(segment.width * 2 - 1) {
                if *cell == ' ' {
                    *cell = '-';
                }
            }
            column += segment.width * 2;
            line[column] = '+';
        }
        length = length.max(column + 1);
    }
    line.truncate(length);
    line.into_iter().collect()
}

fn centered(text: &str, width: usize) -> String {
    let text: String = text.chars().take(width).collect();
    let spare = width - text.chars().count();
    let left = spare / 2;
    format!("{}{}{}", " ".repeat(left), text, " ".repeat(spare - left))
}

/// The lines of one row: labels (one-bit fields spelled downwards, as in
/// the RFC), then the bits.
fn row_lines(row: &[Segment]) -> Vec<String> {
    let label_lines = if row.iter().any(|segment| segment.width == 1) {
        4
    } else {
        1
    };
    let mut lines = Vec::new();
    for line_index in 0..label_lines {
        let mut line = String::from("|");
        for segment in row {
            let text = if segment.width == 1 {
                segment
                    .label
                    .chars()
                    .nth(line_index)
                    .map_or(String::from(" "), String::from)
            } else if line_index == 0 {
                centered(&segment.label, segment.width * 2 - 1)
            } else {
                " ".repeat(segment.width * 2 - 1)
            };
            line.push_str(&format!("{}|", text.color(segment.color)));
        }
        lines.push(line);
    }
    let mut bits = String::from("|");
    for segment in row {
        bits.push_str(&format!("{}|", segment.bits.color(segment.color).bold()));
    }
    lines.push(bits);
    lines
}

/// The diagram for `header`, one string per line.
pub fn render(header: &FrameHeader) -> Vec<String> {
    let rows = rows(header);
    let mut lines = vec![
        " 0                   1                   2                   3".to_string(),
        " 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1".to_string(),
    ];
    let mut previous: Option<&[Segment]> = None;
    for row in &rows {
        lines.push(border(previous, Some(row)));
        lines.extend(row_lines(row));
        previous = Some(row);
    }
    lines.push(border(previous, None));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::Opcode;

    #[test]
    fn draws_the_articles_frame_with_its_bits() {
        // Plain, for good: once `init` has decided, no line of another
        // test (which decides first, if it has not) turns colours back on.
        crate::narrate::init();
        colored::control::set_override(false);
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: Opcode::Text,
            mask: Some([80, 191, 161, 254]),
            payload_len: 16,
        };
        let expected = [
            " 0                   1                   2                   3",
            " 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1",
            "+-+-+-+-+-------+-+-------------+-------------------------------+",
            "|F|R|R|R|opcode |M| Payload len |          Masking-key          |",
            "|I|S|S|S|       |A|             |                               |",
            "|N|V|V|V|       |S|             |                               |",
            "| |1|2|3|       |K|             |                               |",
            "|1|0|0|0|0 0 0 1|1|0 0 1 0 0 0 0|0 1 0 1 0 0 0 0 1 0 1 1 1 1 1 1|",
            "+-+-+-+-+-------+-+-------------+-------------------------------+",
            "|      Masking-key (cont.)      |",
            "|1 0 1 0 0 0 0 1 1 1 1 1 1 1 1 0|",
            "+-------------------------------+",
        ];
        assert_eq!(render(&header), expected);
    }
}
