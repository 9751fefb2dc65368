//! What a chat member sends: arbitrary text through the chat's JSON reader
//! and its name check.
//!
//! Whatever `json::parse` accepts must come back unchanged through
//! `Object::to_json` and `parse` again, and the JSON we write must never
//! contain a raw `<`, `>` or `&`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use websocket_from_scratch::{chat, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = chat::check_name(text);
    if let Ok(object) = json::parse(text) {
        let written = object.to_json();
        assert!(!written.contains(['<', '>', '&']), "{written}");
        assert_eq!(json::parse(&written).as_ref(), Ok(&object), "{written}");
    }
});
