//! The chat's wire format: one JSON object per text frame (RFC 8259 inside
//! RFC 6455 §5.6), told apart by its `"type"`.
//!
//! The two enums below are the whole protocol. [`FromMember`] is what a
//! member may send, [`FromRoom`] what the room sends back. serde derives
//! the reading and the writing from them, so the server's JSON is always
//! what these types say. Each variant becomes an object whose `"type"` is
//! the variant's name in lower case and whose other fields are the
//! variant's fields: `FromRoom::Message { from, text }` is
//! `{"type":"message","from":"Ada","text":"Hello!"}`.
//!
//! This module checks only the *shape* of a message. The room's rules —
//! how long a name or a message may be, who may say what when — are
//! `chat`'s business.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::ser::{Formatter, Serializer};

/// What a member sends.
///
/// Fields the room does not know are ignored, so a newer page can add some
/// without breaking an older server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FromMember {
    /// `{"type":"join","name":"Ada"}`: enter the room under this name.
    /// Only once per connection, and only under a name nobody else has
    /// (`chat::check_name` says which names are allowed).
    Join { name: String },
    /// `{"type":"say","text":"Hello!"}`: send this text to everyone in the
    /// room. Only after joining, and 1 to `chat::MAX_TEXT_CHARS`
    /// characters.
    Say { text: String },
}

/// What the room sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FromRoom {
    /// `{"type":"welcome","name":"Bob","members":["Ada","Bob"]}`, to the
    /// newcomer only: the name they joined under, and everyone in the
    /// room, the newcomer last. Nothing else from the room reaches a
    /// member before their welcome.
    Welcome { name: String, members: Vec<String> },
    /// `{"type":"joined","name":"Bob"}`, to everyone already in the room.
    Joined { name: String },
    /// `{"type":"left","name":"Bob"}`, to everyone still in the room: Bob
    /// closed the connection, lost it, or was dropped for reading too
    /// slowly.
    Left { name: String },
    /// `{"type":"message","from":"Ada","text":"Hello!"}`, to everyone in
    /// the room, the sender too, so the sender sees the conversation in
    /// the same order as everybody else.
    Message { from: String, text: String },
    /// `{"type":"error","error":"the name \"Ada\" is taken"}`, to one
    /// member only: why the room refused what they just sent. The
    /// connection stays open.
    Error { error: String },
    /// `{"type":"servers","reachable":false}`, to everyone (chapter 14
    /// only): whether this server can reach the other servers of the room
    /// right now. While it cannot, members elsewhere neither hear this
    /// server's members nor are heard.
    Servers { reachable: bool },
    /// `{"type":"span","node":"5f0c…","servers":2}` (chapter 14 only): the
    /// server this connection is on, and how many servers the room spans
    /// as that server knows them. Sent when the connection opens, and to
    /// every member whenever that number changes.
    Span { node: String, servers: usize },
}

/// Why a JSON value that is not an object is no chat message.
const NOT_AN_OBJECT: &str = "a chat message is a JSON object with a \"type\"";

impl FromMember {
    /// Reads one text frame from a member. The error is a sentence for
    /// that member, saying what was wrong.
    pub fn parse(text: &str) -> Result<FromMember, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|error| format!("that is not JSON: {error}"))?;
        // An object, and only then a message: serde would also read a list
        // such as `["join","Ada"]` as a join (the fields in order), and the
        // chat's format has objects only.
        let Value::Object(object) = value else {
            return Err(format!("that is not a chat message: {NOT_AN_OBJECT}"));
        };
        FromMember::deserialize(object)
            .map_err(|error| format!("that is not a chat message: {error}"))
    }

    /// The message as JSON text, ready for a text frame.
    pub fn to_json(&self) -> Vec<u8> {
        write(self)
    }
}

impl FromRoom {
    /// The message as JSON text, ready for a text frame.
    pub fn to_json(&self) -> Vec<u8> {
        write(self)
    }
}

/// Compact JSON, with `<`, `>` and `&` escaped (see [`HtmlSafe`]).
fn write<T: Serialize>(message: &T) -> Vec<u8> {
    let mut json = Vec::new();
    let mut serializer = Serializer::with_formatter(&mut json, HtmlSafe);
    // Cannot fail, whatever a member sent: our messages hold only strings
    // and lists of strings, and they are written into memory.
    message
        .serialize(&mut serializer)
        .expect("strings and lists of strings always serialize");
    json
}

/// serde_json's compact output, except that `<`, `>` and `&` in strings
/// are written as `\u003c`, `\u003e` and `\u0026`.
///
/// Both forms are the same JSON string. The page never treats what it
/// receives as HTML (it uses `textContent`), but JSON with no raw `<`
/// stays harmless even if someone, some day, pastes it into a page.
struct HtmlSafe;

impl Formatter for HtmlSafe {
    /// Called with each run of characters that JSON itself needs no
    /// escape for.
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(['<', '>', '&']) {
            writer.write_all(&rest.as_bytes()[..at])?;
            // The three are ASCII: one byte, and `at + 1` is where the next
            // character starts.
            write!(writer, "\\u{:04x}", rest.as_bytes()[at])?;
            rest = &rest[at + 1..];
        }
        writer.write_all(rest.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_member_sends_reads_as_the_table_shows() {
        assert_eq!(
            FromMember::parse(r#"{"type":"join","name":"Ada"}"#),
            Ok(FromMember::Join { name: "Ada".into() })
        );
        assert_eq!(
            FromMember::parse(r#" { "text" : "caf\u00e9 \ud83d\ude00" , "type" : "say" } "#),
            Ok(FromMember::Say {
                text: "café 😀".into()
            })
        );
    }

    #[test]
    fn what_the_room_sends_is_written_as_the_table_shows() {
        let welcome = FromRoom::Welcome {
            name: "Ada".into(),
            members: vec!["Bob".into(), "Ada".into()],
        };
        assert_eq!(
            welcome.to_json(),
            br#"{"type":"welcome","name":"Ada","members":["Bob","Ada"]}"#
        );
        let message = FromRoom::Message {
            from: "Ada".into(),
            text: "quote \" backslash \\ tab \t".into(),
        };
        assert_eq!(
            message.to_json(),
            br#"{"type":"message","from":"Ada","text":"quote \" backslash \\ tab \t"}"#
        );
    }

    #[test]
    fn markup_characters_are_escaped() {
        let message = FromRoom::Message {
            from: "Bob".into(),
            text: "<b>Hi</b> & bye, é😀".into(),
        };
        let json = message.to_json();
        assert_eq!(
            json,
            r#"{"type":"message","from":"Bob","text":"\u003cb\u003eHi\u003c/b\u003e \u0026 bye, é😀"}"#
                .as_bytes()
        );
        assert_eq!(
            serde_json::from_slice::<FromRoom>(&json).ok(),
            Some(message)
        );
    }

    #[test]
    fn refusals_say_what_was_wrong() {
        let refusal = |text: &str| FromMember::parse(text).err().unwrap_or_default();
        for not_json in ["", "not json", "{", r#"{"type":"say","text":"a"} x"#] {
            assert!(
                refusal(not_json).starts_with("that is not JSON: "),
                "{not_json:?}: {}",
                refusal(not_json)
            );
        }
        for (not_a_message, why) in [
            ("42", NOT_AN_OBJECT),
            (r#"["join","Ada"]"#, NOT_AN_OBJECT),
            (r#"{"text":"no type"}"#, "missing field `type`"),
            (r#"{"type":"dance"}"#, "unknown variant `dance`"),
            (r#"{"type":"join"}"#, "missing field `name`"),
            (r#"{"type":"say","text":7}"#, "invalid type: integer `7`"),
        ] {
            let refusal = refusal(not_a_message);
            assert!(
                refusal.starts_with("that is not a chat message: ") && refusal.contains(why),
                "{not_a_message:?}: {refusal}"
            );
        }
    }
}
