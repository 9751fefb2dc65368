//! What a chat member sends: arbitrary text through the chat's message
//! reader (`chat::wire`) and its name check.
//!
//! Whatever `FromMember::parse` accepts must come back unchanged through
//! `to_json` and `parse` again. The room's answer — the member's name or
//! text inside a `FromRoom` message, or the refusal sentence inside an
//! `error` — must read back as the same value, and no JSON the chat writes
//! may contain a raw `<`, `>` or `&`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use websocket_from_scratch::server::chat::{self, wire::FromMember, wire::FromRoom};

/// The JSON the chat writes: UTF-8, with `<`, `>` and `&` escaped.
fn checked(written: &[u8]) -> &str {
    let Ok(json) = std::str::from_utf8(written) else {
        panic!("not UTF-8: {written:?}");
    };
    assert!(!json.contains(['<', '>', '&']), "{json}");
    json
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = chat::check_name(text);
    let answer = match FromMember::parse(text) {
        Ok(message) => {
            let written = message.to_json();
            assert_eq!(
                FromMember::parse(checked(&written)).as_ref(),
                Ok(&message),
                "{text}"
            );
            match message {
                FromMember::Join { name } => FromRoom::Welcome {
                    members: vec![text.to_string(), name.clone()],
                    name,
                },
                FromMember::Say { text: said } => FromRoom::Message {
                    from: text.to_string(),
                    text: said,
                },
            }
        }
        Err(why) => {
            assert!(why.starts_with("that is not "), "{why}");
            FromRoom::Error { error: why }
        }
    };
    let written = answer.to_json();
    let read: Result<FromRoom, _> = serde_json::from_str(checked(&written));
    assert_eq!(read.ok().as_ref(), Some(&answer), "{text}");
});
