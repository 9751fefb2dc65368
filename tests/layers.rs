//! The library's layers, checked: imports point one way only (see the map
//! at the top of `src/lib.rs`). The protocol knows nothing of sockets'
//! owners, logging or command lines; the narration knows nothing of the
//! server. A module that reaches the wrong way fails here, by name.

use std::fs;
use std::path::Path;

/// Every `.rs` file under `src/<folder>`, with its text.
fn sources(folder: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(folder),
    ];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("the folder exists") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = fs::read_to_string(&path).expect("a readable source file");
                found.push((path.display().to_string(), text));
            }
        }
    }
    assert!(!found.is_empty(), "no sources under src/{folder}");
    found
}

fn assert_never_mentions(folder: &str, forbidden: &[&str]) {
    let mut wrong = Vec::new();
    for (path, text) in sources(folder) {
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if forbidden.iter().any(|word| code.contains(word)) {
                wrong.push(format!("{path}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "src/{folder} reaches outside its layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_protocol_is_pure() {
    assert_never_mentions(
        "protocol",
        &[
            "crate::server",
            "crate::narrate",
            "crate::client",
            "crate::command_line",
            "eprintln!",
            "println!",
            "TcpStream",
            "TcpListener",
            "thread::",
        ],
    );
}

#[test]
fn the_narration_does_not_know_the_server() {
    assert_never_mentions("narrate", &["crate::server", "crate::client"]);
}
