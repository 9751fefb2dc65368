//! Every binary's `--help` tells the truth: each one in Cargo.toml's
//! `[[bin]]` list (the chapters, the client, the book, the workshop and its
//! starters) answers `--help` on stdout with exit status 0, opens with what
//! it is (a chapter names its number), and lists each option with its
//! meaning; an option that takes a value shows its default.

use std::path::{Path, PathBuf};
use std::process::Command;

use websocket_from_scratch::server::chat;
use websocket_from_scratch::server::conversation;
use websocket_from_scratch::server::listener::DEFAULT_PORT;

/// The binaries Cargo.toml declares, by name.
fn binaries() -> Vec<String> {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(name) = line.strip_prefix("name = ") {
            names.push(name.trim_matches('"').to_string());
        }
    }
    names
}

/// Where Cargo put the binaries it built for these tests.
fn binary_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_client"))
        .parent()
        .expect("the binaries' folder")
        .to_path_buf()
}

/// The chapter a binary is, from its name: `05-long-payloads`, `workshop-05`.
fn chapter_of(name: &str) -> Option<u32> {
    let digits: String = name
        .trim_start_matches("workshop-")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// One entry of a help section: what it is (`--port <N>`, `check`) and what
/// it says about itself.
struct Entry {
    name: String,
    description: String,
}

/// The entries under `Options:`, `Arguments:` and `Commands:`. clap puts a
/// description after the name on the same line, or on the next lines when
/// the names are long.
fn entries(help: &str) -> Vec<Entry> {
    let mut found: Vec<Entry> = Vec::new();
    let mut in_list = false;
    for line in help.lines() {
        if !line.starts_with(' ') {
            in_list = matches!(line, "Options:" | "Arguments:" | "Commands:");
            continue;
        }
        if !in_list {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        // An entry's name starts within the first six columns; deeper lines
        // continue the description of the entry above.
        if indent <= 6 {
            let (name, description) = match text.split_once("  ") {
                Some((name, description)) => (name, description.trim()),
                None => (text, ""),
            };
            found.push(Entry {
                name: name.to_string(),
                description: description.to_string(),
            });
        } else if let Some(last) = found.last_mut() {
            if !last.description.is_empty() {
                last.description.push(' ');
            }
            last.description.push_str(text);
        }
    }
    found
}

#[test]
fn every_binary_answers_help_with_each_option_s_meaning_and_default() {
    let dir = binary_dir();
    let names = binaries();
    assert!(names.len() > 30, "{names:?}");
    for name in &names {
        let output = Command::new(dir.join(name))
            .arg("--help")
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let help = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{name}: {stderr}");
        assert!(stderr.is_empty(), "{name} wrote to stderr: {stderr}");
        let about = help.lines().next().unwrap_or_default();
        assert!(
            about.len() > 20,
            "{name}'s help opens with no about: {help}"
        );
        if let Some(number) = chapter_of(name) {
            assert!(
                about.starts_with(&format!("Chapter {number} of")),
                "{name}: {about}"
            );
        }
        assert!(help.contains("\nUsage: "), "{name}: {help}");
        let entries = entries(&help);
        assert!(
            entries.iter().any(|entry| entry.name.ends_with("--help")),
            "{name}: {help}"
        );
        for entry in &entries {
            assert!(
                entry.description.split_whitespace().count() >= 2,
                "{name}: {} has no description:\n{help}",
                entry.name
            );
            let takes_value = entry.name.starts_with('-') && entry.name.contains(" <");
            assert!(
                !takes_value || entry.description.contains("[default: "),
                "{name}: {} shows no default:\n{help}",
                entry.name
            );
        }
        let shown = |option: &str| {
            entries
                .iter()
                .find(|entry| entry.name.split(' ').any(|word| word == option))
                .map(|entry| entry.description.clone())
        };
        if let Some(port) = shown("--port") {
            assert!(
                port.ends_with(&format!("[default: {DEFAULT_PORT}]")),
                "{name}: --port {port}"
            );
        }
        if let Some(size) = shown("--max-message-size") {
            let default = if matches!(chapter_of(name), Some(11 | 14)) {
                chat::DEFAULT_MAX_MESSAGE_SIZE
            } else {
                conversation::DEFAULT_MAX_MESSAGE_SIZE
            };
            assert!(
                size.ends_with(&format!("[default: {default}]")),
                "{name}: --max-message-size {size}"
            );
        }
    }
}

#[test]
fn a_chapter_s_help_lists_the_options_it_reads() {
    let help = |name: &str| {
        let output = Command::new(binary_dir().join(name))
            .arg("--help")
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    for (name, options) in [
        ("01-print-request", &["--port", "--connections"][..]),
        ("04-reply", &["--reply"]),
        ("09-closing-handshake", &["--max-message-size"]),
        (
            "10-echo-server",
            &[
                "--max-connections",
                "--max-connections-per-address",
                "--handshake-timeout",
                "--idle-timeout",
                "--frame-timeout",
                "--max-buffered",
                "--verbose",
                "--quiet",
            ],
        ),
        ("11-chat", &["--allow-origin", "--queue-length"]),
        ("14-chat-cluster", &["--redis", "--presence-ttl"]),
        (
            "client",
            &["--key", "--mask", "--message", "--deflate", "--echo"],
        ),
    ] {
        let said = help(name);
        for option in options {
            let listed = said
                .lines()
                .any(|line| line.trim_start().split(' ').next() == Some(option));
            assert!(listed, "{name}: {option}\n{said}");
        }
    }
    let client = help("client");
    assert!(
        client.contains("[default: Can you hear me?]")
            || client.contains("[default: \"Can you hear me?\"]"),
        "{client}"
    );
}
