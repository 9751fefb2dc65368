//! Just enough JSON for the chat's messages: flat objects of strings
//! (RFC 8259, the subset the chat needs).
//!
//! The chat (chapter 11) sends small JSON objects such as
//! `{"type":"say","text":"hello"}` in text frames. Reading them needs a
//! parser, and a parser is exactly the kind of code that must never panic
//! on what a peer sends; this one accepts an object whose values are
//! strings or arrays of strings, and refuses everything else with a
//! [`JsonError`].

use std::fmt;

/// A value in one of our objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

/// An object, its fields in the order they were written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Object {
    fields: Vec<(String, Value)>,
}

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    /// Adds a string field (builder style).
    pub fn text(mut self, key: &str, value: &str) -> Object {
        self.fields
            .push((key.to_string(), Value::Text(value.to_string())));
        self
    }

    /// Adds a list-of-strings field (builder style).
    pub fn list(mut self, key: &str, values: &[String]) -> Object {
        self.fields
            .push((key.to_string(), Value::List(values.to_vec())));
        self
    }

    /// The string field `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find_map(|(name, value)| match value {
            Value::Text(text) if name == key => Some(text.as_str()),
            _ => None,
        })
    }

    /// The object as compact JSON.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (index, (key, value)) in self.fields.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            write_string(&mut out, key);
            out.push(':');
            match value {
                Value::Text(text) => write_string(&mut out, text),
                Value::List(items) => {
                    out.push('[');
                    for (index, item) in items.iter().enumerate() {
                        if index > 0 {
                            out.push(',');
                        }
                        write_string(&mut out, item);
                    }
                    out.push(']');
                }
            }
        }
        out.push('}');
        out
    }
}

/// Writes `text` as a JSON string. Besides what JSON requires, `<`, `>`
/// and `&` are escaped, so the output is harmless even if someone pastes
/// it into HTML.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Why some text is not one of our objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub at: usize,
    pub expected: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a JSON object of strings: expected {} at byte {}",
            self.expected, self.at
        )
    }
}

impl std::error::Error for JsonError {}

/// Parses `{"key": "value", "list": ["a", "b"], …}`.
pub fn parse(text: &str) -> Result<Object, JsonError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    let object = parser.object()?;
    parser.skip_whitespace();
    if parser.at != parser.bytes.len() {
        return Err(parser.error("the end of the text"));
    }
    Ok(object)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &'static str) -> JsonError {
        JsonError {
            at: self.at,
            expected,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after whitespace) if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), JsonError> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn object(&mut self) -> Result<Object, JsonError> {
        self.expect(b'{', "'{'")?;
        let mut object = Object::new();
        if self.eat(b'}') {
            return Ok(object);
        }
        loop {
            let key = self.string()?;
            self.expect(b':', "':'")?;
            let value = if self.eat(b'[') {
                Value::List(self.rest_of_list()?)
            } else {
                Value::Text(self.string()?)
            };
            object.fields.push((key, value));
            if self.eat(b'}') {
                return Ok(object);
            }
            self.expect(b',', "',' or '}'")?;
        }
    }

    fn rest_of_list(&mut self) -> Result<Vec<String>, JsonError> {
        let mut items = Vec::new();
        if self.eat(b']') {
            return Ok(items);
        }
        loop {
            items.push(self.string()?);
            if self.eat(b']') {
                return Ok(items);
            }
            self.expect(b',', "',' or ']'")?;
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect(b'"', "a string")?;
        let mut out = String::new();
        loop {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.error("the end of the string"));
            };
            match byte {
                b'"' => {
                    self.at += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.at += 1;
                    let escape = self.bytes.get(self.at).copied();
                    self.at += 1;
                    match escape {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => out.push(self.unicode_escape()?),
                        _ => return Err(self.error("a valid escape")),
                    }
                }
                0..=0x1F => return Err(self.error("no control characters in a string")),
                _ => {
                    // Copy a run of ordinary characters at once; the input is
                    // a &str, so the run ends on a character boundary.
                    let start = self.at;
                    while let Some(&next) = self.bytes.get(self.at) {
                        if next == b'"' || next == b'\\' || next < 0x20 {
                            break;
                        }
                        self.at += 1;
                    }
                    out.push_str(&String::from_utf8_lossy(&self.bytes[start..self.at]));
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u32::from_str_radix(digits, 16).ok())
            .ok_or_else(|| self.error("four hex digits"))?;
        self.at += 4;
        Ok(digits)
    }

    /// `\uXXXX`, including a surrogate pair written as two escapes.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                return Err(self.error("the second half of a surrogate pair"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("the second half of a surrogate pair"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("a valid character"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_what_the_chat_sends() {
        let object = Object::new()
            .text("type", "message")
            .text("text", "quote \" backslash \\ <b>é</b> 😀\n")
            .list("members", &["Ada".into(), "Bob".into()]);
        let json = object.to_json();
        assert!(!json.contains('<'));
        assert_eq!(parse(&json), Ok(object));
    }

    #[test]
    fn reads_escapes_and_whitespace() {
        let object = parse(r#" { "a" : "\u00e9\ud83d\ude00\/" , "b":[ ] } "#).unwrap();
        assert_eq!(object.get("a"), Some("é😀/"));
    }

    #[test]
    fn refuses_what_is_not_an_object_of_strings() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\":1}",
            "{\"a\":\"b\"",
            "{\"a\":\"b\"} x",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":[\"b\",]}",
            "{\"a\":\"\u{1}\"}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
