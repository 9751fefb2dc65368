//! What a failed check says: what was sent, what was expected and what
//! arrived. Frames are taken apart field by field, and the fields that
//! differ are named; anything else is shown as text and as bytes.

use std::fmt;

use websocket_from_scratch::protocol::close::CloseCode;
use websocket_from_scratch::protocol::frame::Opcode;

pub struct Failure {
    line: String,
}

impl Failure {
    /// A failure that is a sentence: the server exited, nothing listens.
    pub fn plain(line: String) -> Failure {
        Failure { line }
    }

    /// Bytes that are not frames (an HTTP head), as text and as bytes.
    pub fn wire(why: &str, sent: &[u8], expected: &[u8], got: &[u8]) -> Failure {
        Failure {
            line: format!(
                "{why}: sent {}, expected {}, got {}",
                sent_shown(sent),
                show(expected),
                show(got)
            ),
        }
    }

    /// Frames: each one taken apart, then what differs, field by field.
    /// `sent` is the last thing the failing step sent (a frame, or the
    /// handshake's request).
    pub fn frames(why: &str, sent: &[u8], expected: &[u8], got: &[u8]) -> Failure {
        let sent = sent_shown(sent);
        let mut line = format!("{why}\n  sent      {sent}");
        let expected_frame = Decoded::from(expected);
        let got_frame = Decoded::from(got);
        match &expected_frame {
            Some(frame) => line.push_str(&format!("\n  expected  {frame}")),
            None if expected.is_empty() => line.push_str("\n  expected  nothing more"),
            None => line.push_str(&format!("\n  expected  {}", show(expected))),
        }
        match &got_frame {
            Some(frame) => line.push_str(&format!("\n  got       {frame}")),
            None if got.is_empty() => line.push_str("\n  got       nothing"),
            None => line.push_str(&format!("\n  got       {}", show(got))),
        }
        if let (Some(want), Some(have)) = (&expected_frame, &got_frame) {
            let differences = want.differences(have);
            if !differences.is_empty() {
                line.push_str(&format!("\n  differs:  {}", differences.join("; ")));
            }
        }
        line.push_str(&format!(
            "\n  bytes     expected {}, got {}",
            numbers(expected),
            numbers(got)
        ));
        Failure { line }
    }

    /// A step that could not send all of `sent`: what it was sending.
    pub fn sending(why: &str, sent: &[u8]) -> Failure {
        Failure {
            line: format!("{why}\n  sent      {}", sent_shown(sent)),
        }
    }

    pub fn narration(expected: &str, got: Option<&str>) -> Failure {
        let got = match got {
            Some(line) => format!("{line:?}"),
            None => "no such line".into(),
        };
        Failure {
            line: format!("your narration differs: expected {expected:?}, got {got}"),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

/// Bytes as text (escaped) and as numbers, both cut short.
/// What the checker sent: its masked frames taken apart and unmasked, or
/// the bytes (a request head) as text.
fn sent_shown(sent: &[u8]) -> String {
    let frames = Decoded::all(sent);
    match frames.as_slice() {
        [frame] if frame.masked.is_some() => frame.to_string(),
        [_, ..] if frames.iter().all(|frame| frame.masked.is_some()) => {
            let each: Vec<String> = frames.iter().map(Decoded::to_string).collect();
            format!("{} frames:\n    {}", frames.len(), each.join("\n    "))
        }
        _ => show(sent),
    }
}

pub fn show(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".into();
    }
    let text: String = String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
        .escape_debug()
        .collect();
    let more_text = if bytes.len() > 64 { "…" } else { "" };
    format!("\"{text}{more_text}\" {}", numbers(bytes))
}

/// The first bytes as numbers, and how many there are in all.
fn numbers(bytes: &[u8]) -> String {
    const SHOWN: usize = 16;
    let numbers: Vec<String> = bytes.iter().take(SHOWN).map(u8::to_string).collect();
    let more = if bytes.len() > SHOWN {
        format!(", … ({} bytes)", bytes.len())
    } else {
        String::new()
    };
    format!("[{}{more}]", numbers.join(", "))
}

/// A frame's fields, read from its bytes (RFC 6455 §5.2) as the checker
/// received or sent them, even when it is cut short.
struct Decoded {
    fin: bool,
    rsv: u8,
    opcode: Opcode,
    /// With MASK set, the key's bytes as many as were read: the checker
    /// stops at the header of a masked frame from a server, before its key.
    masked: Option<Vec<u8>>,
    /// The 7-bit field as it was: 126 and 127 announce longer lengths.
    seven_bits: u8,
    /// The extended length's bytes, as many as arrived.
    extension: Vec<u8>,
    /// The length the header announces, if all of it arrived.
    length: Option<u64>,
    /// The payload, unmasked: as much of it as arrived.
    payload: Vec<u8>,
    /// How many of the bytes it took.
    used: usize,
}

impl Decoded {
    /// Frames one after the other, as the checker sends a step's frames.
    fn all(mut bytes: &[u8]) -> Vec<Decoded> {
        let mut frames = Vec::new();
        while let Some(frame) = Decoded::from(bytes) {
            bytes = &bytes[frame.used..];
            frames.push(frame);
        }
        frames
    }

    fn from(bytes: &[u8]) -> Option<Decoded> {
        let [first, second, rest @ ..] = bytes else {
            return None;
        };
        let seven_bits = second & 0x7f;
        let extension_len = match seven_bits {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let extension: Vec<u8> = rest.iter().take(extension_len).copied().collect();
        let length = match (seven_bits, extension.as_slice()) {
            (126, [high, low]) => Some(u64::from(u16::from_be_bytes([*high, *low]))),
            (127, eight) if eight.len() == 8 => {
                let mut bytes = [0; 8];
                bytes.copy_from_slice(eight);
                Some(u64::from_be_bytes(bytes))
            }
            (126 | 127, _) => None,
            (short, _) => Some(u64::from(short)),
        };
        let rest = &rest[extension.len()..];
        let (masked, rest) = if second & 0x80 != 0 {
            let (key, rest) = rest.split_at(rest.len().min(4));
            (Some(key.to_vec()), rest)
        } else {
            (None, rest)
        };
        let header_len = bytes.len() - rest.len();
        let take = length.map_or(rest.len(), |length| rest.len().min(length as usize));
        let mut payload = rest[..take].to_vec();
        // Unmasked only with its whole key: no key is made up for it.
        if let Some(key) = masked.as_deref().filter(|key| key.len() == 4) {
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= key[i % 4];
            }
        }
        Some(Decoded {
            fin: first & 0x80 != 0,
            rsv: (first >> 4) & 0b111,
            opcode: Opcode::from_bits(first & 0x0f),
            masked,
            seven_bits,
            extension,
            length,
            payload,
            used: header_len + take,
        })
    }

    /// The MASK bit set, and the key as far as it was read.
    fn mask_text(&self) -> String {
        match self.masked.as_deref() {
            Some(key) if key.len() == 4 => format!("masked with key {key:?}"),
            Some([]) => "masked (MASK set; its key not read)".into(),
            Some(key) => format!("masked (MASK set; its key not read past {key:?})"),
            None => "unmasked".into(),
        }
    }

    fn opcode_name(&self) -> String {
        format!("opcode {} ({})", self.opcode.bits(), self.opcode)
    }

    fn length_form(&self) -> String {
        match (self.seven_bits, self.length) {
            (126, Some(_)) => format!("126, then 16-bit {:?}", self.extension),
            (127, Some(_)) => format!("127, then 64-bit {:?}", self.extension),
            (126 | 127, None) => format!(
                "{}, then {} of the {} extended length bytes",
                self.seven_bits,
                self.extension.len(),
                if self.seven_bits == 126 { 2 } else { 8 }
            ),
            _ => "7-bit".into(),
        }
    }

    /// The payload for a person: a close frame's code and reason, text
    /// quoted, anything else in hex.
    fn payload_text(&self) -> String {
        let complete = self.length == Some(self.payload.len() as u64);
        let cut = if complete { "" } else { " (cut short)" };
        if self.opcode == Opcode::Close {
            return match self.payload.as_slice() {
                [] => format!("no code{cut}"),
                [high, low, reason @ ..] => format!(
                    "code {}, reason {:?}{cut}",
                    CloseCode(u16::from_be_bytes([*high, *low])),
                    String::from_utf8_lossy(reason)
                ),
                [one] => format!("one byte [{one}]{cut}"),
            };
        }
        preview(&self.payload) + cut
    }

    fn differences(&self, other: &Decoded) -> Vec<String> {
        let mut out = Vec::new();
        if self.fin != other.fin {
            out.push(format!(
                "FIN {}, expected {}",
                u8::from(other.fin),
                u8::from(self.fin)
            ));
        }
        if self.rsv != other.rsv {
            out.push(format!("RSV {:03b}, expected {:03b}", other.rsv, self.rsv));
        }
        if self.opcode != other.opcode {
            out.push(format!(
                "{}, expected {}",
                other.opcode_name(),
                self.opcode_name()
            ));
        }
        if self.masked.is_some() != other.masked.is_some() {
            out.push(match other.masked {
                Some(_) => format!("{}: a server never masks (§5.1)", other.mask_text()),
                None => "unmasked, expected masked".into(),
            });
        }
        if self.length != other.length || self.seven_bits != other.seven_bits {
            let length = |frame: &Decoded| match frame.length {
                Some(length) => format!("length {length} ({})", frame.length_form()),
                None => format!("an unfinished length ({})", frame.length_form()),
            };
            out.push(format!("{}, expected {}", length(other), length(self)));
            if let (Some(said), Some(meant)) = (other.length, self.length)
                && said != meant
                && other.opcode == Opcode::Text
                && String::from_utf8_lossy(&self.payload).chars().count() as u64 == said
            {
                out.push("that length counts characters; a frame's length counts bytes".into());
            }
            if self.opcode == Opcode::Close && other.opcode == Opcode::Close {
                out.push(format!(
                    "{}, expected {}",
                    other.payload_text(),
                    self.payload_text()
                ));
            }
        } else if self.payload != other.payload {
            let at = self
                .payload
                .iter()
                .zip(&other.payload)
                .position(|(a, b)| a != b)
                .unwrap_or(self.payload.len().min(other.payload.len()));
            out.push(format!(
                "payload {}, expected {} (from byte {at} on)",
                other.payload_text(),
                self.payload_text()
            ));
        }
        out
    }
}

impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a frame: {}, FIN {}, RSV {:03b}, ",
            self.opcode_name(),
            u8::from(self.fin),
            self.rsv
        )?;
        match &self.masked {
            Some(key) if key.len() == 4 => write!(f, "{} (shown unmasked), ", self.mask_text())?,
            Some(_) => write!(f, "{}, ", self.mask_text())?,
            None => write!(f, "unmasked, ")?,
        }
        match self.length {
            Some(length) => write!(f, "length {length} ({})", self.length_form())?,
            None => write!(f, "length unfinished ({})", self.length_form())?,
        }
        write!(f, ": {}", self.payload_text())
    }
}

/// A payload for a person: quoted if it is text, else its first bytes in hex.
fn preview(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) if text.chars().count() <= 40 => format!("{text:?}"),
        Ok(text) => {
            let start: String = text.chars().take(40).collect();
            format!("{start:?}… ({} bytes)", payload.len())
        }
        Err(_) => {
            let hex: Vec<String> = payload
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect();
            let more = if payload.len() > 16 { " …" } else { "" };
            format!("hex {}{more} ({} bytes)", hex.join(" "), payload.len())
        }
    }
}
