//! The workshop kit is coherent: every starter in `workshop/` is exactly
//! what the generator makes from its reference in `steps/` (so the two
//! cannot drift), every chapter marks a lesson, and a starter differs from
//! its reference only inside the lesson markers.

#[path = "../workshop/checker/starter.rs"]
#[allow(dead_code)]
mod starter;

use std::fs;
use std::path::Path;

use starter::{CHAPTERS, MISTAKES, lessons, mistake, starter};

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_starter_is_generated_from_its_reference() {
    let mut stale = Vec::new();
    for (index, name) in CHAPTERS.iter().enumerate() {
        let reference = read(&format!("steps/{name}.rs"));
        let expected = starter(index + 1, &reference)
            .unwrap_or_else(|error| panic!("steps/{name}.rs: {error}"));
        if read(&format!("workshop/{name}.rs")) != expected {
            stale.push(format!("workshop/{name}.rs"));
        }
    }
    assert!(
        stale.is_empty(),
        "stale starters (regenerate with `cargo run --bin workshop -- generate`): {stale:?}"
    );
}

#[test]
fn every_mistake_is_generated_from_its_reference() {
    for (index, (name, number, ..)) in MISTAKES.iter().enumerate() {
        let reference = read(&format!("steps/{}.rs", CHAPTERS[number - 1]));
        let expected = mistake(index, &reference).unwrap_or_else(|error| panic!("{error}"));
        assert!(
            read(&format!("workshop/mistakes/{name}.rs")) == expected,
            "workshop/mistakes/{name}.rs is stale: regenerate with `cargo run --bin workshop -- generate`"
        );
    }
}

#[test]
fn every_starter_holds_a_todo_per_lesson_and_nothing_of_the_lesson() {
    for (index, name) in CHAPTERS.iter().enumerate() {
        let reference = read(&format!("steps/{name}.rs"));
        let taught = lessons(&reference).unwrap();
        assert!(!taught.is_empty(), "steps/{name}.rs marks no lesson");
        let starter = read(&format!("workshop/{name}.rs"));
        let gaps = lessons(&starter).unwrap();
        assert_eq!(gaps.len(), taught.len(), "workshop/{name}.rs");
        for (gap, lesson) in gaps.iter().zip(&taught) {
            assert_eq!(gap.hint, lesson.hint);
            assert_eq!(
                gap.code.trim().trim_end_matches(';'),
                format!("todo!({:?})", lesson.hint).as_str(),
                "workshop/{name}.rs, chapter {}",
                index + 1
            );
        }
    }
}

#[test]
fn markers_that_do_not_pair_are_refused() {
    assert!(lessons("// lesson: a\n").is_err());
    assert!(lessons("// end of lesson\n").is_err());
    assert!(lessons("// lesson: a\n// lesson: b\n// end of lesson\n").is_err());
    assert!(starter(1, "//! doc\nfn main() {}\n").is_err());
}

#[test]
fn a_lesson_at_the_end_of_a_block_becomes_its_value() {
    let reference =
        "//! doc\n\nfn f() -> u8 {\n    // lesson: one\n    1\n    // end of lesson\n}\n";
    let made = starter(1, reference).unwrap();
    assert!(
        made.contains("    todo!(\"one\")\n    // end of lesson\n}"),
        "{made}"
    );
    assert!(made.contains("#![allow(unused)]"), "{made}");
    assert!(!made.contains("    1\n"), "{made}");
}

/// A chapter's doc comment, without the `//! ` prefixes.
fn doc_comment(source: &str) -> Vec<String> {
    source
        .lines()
        .map_while(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line).to_string())
        .collect()
}

/// The narration pinned in a snapshot, without insta's header.
fn pinned_lines(name: &str) -> Vec<String> {
    let snapshot = read(&format!("snapshots/{name}.snap"));
    let body = snapshot
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(_, body)| body)
        .unwrap_or_else(|| panic!("snapshots/{name}.snap has no header"));
    body.lines().map(str::to_string).collect()
}

#[test]
fn every_chapter_ends_with_try_it_and_what_you_should_see_pinned() {
    for name in CHAPTERS {
        let doc = doc_comment(&read(&format!("steps/{name}.rs")));
        let try_it = doc
            .iter()
            .rposition(|line| line.starts_with("Try it"))
            .unwrap_or_else(|| panic!("steps/{name}.rs has no \"Try it\""));
        let see = doc
            .iter()
            .position(|line| line.starts_with("You should see"))
            .unwrap_or_else(|| panic!("steps/{name}.rs has no \"You should see\""));
        assert!(
            try_it < see,
            "steps/{name}.rs: \"Try it\" comes before \"You should see\""
        );
        let open = doc[see..]
            .iter()
            .position(|line| line == "```text")
            .map(|at| see + at)
            .unwrap_or_else(|| panic!("steps/{name}.rs: no ```text block"));
        let close = doc[open + 1..]
            .iter()
            .position(|line| line == "```")
            .map(|at| open + 1 + at)
            .unwrap_or_else(|| panic!("steps/{name}.rs: the block never ends"));
        assert_eq!(
            close + 1,
            doc.len(),
            "steps/{name}.rs: the block ends the doc comment"
        );
        let shown = &doc[open + 1..close];
        assert!(!shown.is_empty(), "steps/{name}.rs: an empty block");
        // Every line shown is a line of the snapshot, in the snapshot's order.
        let pinned = pinned_lines(name);
        let mut from = 0;
        for line in shown {
            match pinned[from..].iter().position(|pin| pin == line) {
                Some(at) => from += at + 1,
                None => panic!(
                    "steps/{name}.rs shows {line:?}, which snapshots/{name}.snap does not pin (after line {from})"
                ),
            }
        }
    }
}
