//! The workshop kit is coherent: every starter in `workshop/` is exactly
//! what the generator makes from its reference in `steps/` (so the two
//! cannot drift, and Cargo compiles every starter), every chapter marks a
//! lesson with no narration in it, a starter differs from its reference
//! only inside the lesson markers, and an attendee's own answers carry over
//! into the next chapter's starter.

#[path = "../workshop/checker/starter.rs"]
#[allow(dead_code)]
mod starter;

use std::fs;
use std::path::Path;

use starter::{CHAPTERS, WITHOUT_STARTER, base, has_starter, lessons, starter, starter_from_own};

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_starter_is_generated_from_its_reference() {
    let mut stale = Vec::new();
    for (index, name) in CHAPTERS.iter().enumerate() {
        if !has_starter(index + 1) {
            assert!(
                !Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("workshop/{name}.rs"))
                    .exists(),
                "workshop/{name}.rs: chapter {} has no starter",
                index + 1
            );
            continue;
        }
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
fn an_attendees_own_answers_carry_over_where_the_reference_keeps_them() {
    // Chapter 4 keeps chapter 3's code: each of chapter 3's lessons, as the
    // attendee wrote it, replaces the reference's in chapter 4's starter.
    let third = read("steps/03-read-frame.rs");
    let fourth = read("steps/04-reply.rs");
    let own = third.replace("*byte ^= key[i % 4];", "*byte ^= key[i & 3];");
    let made = starter_from_own(4, &fourth, &third, &own).unwrap();
    assert_eq!(made.taken, lessons(&third).unwrap().len());
    assert_eq!(made.kept, made.taken);
    let made = made.text;
    assert!(made.contains("*byte ^= key[i & 3];"), "{made}");
    assert!(!made.contains("*byte ^= key[i % 4];"), "{made}");
    // Chapter 4's own lesson is cut as usual.
    assert_eq!(
        lessons(&made).unwrap().len(),
        lessons(&fourth).unwrap().len()
    );
    // Chapter 3 not answered yet (its starter as it is): chapter 4 keeps
    // the reference's code, not a todo! outside any lesson.
    let untouched = starter(3, &third).unwrap();
    let made = starter_from_own(4, &fourth, &third, &untouched).unwrap();
    assert_eq!((made.kept, made.taken), (lessons(&third).unwrap().len(), 0));
    assert_eq!(made.text, starter(4, &fourth).unwrap());
    // Chapter 6 keeps nothing of chapter 5's lessons (they graduated).
    let fifth = read("steps/05-long-payloads.rs");
    let sixth = read("steps/06-binary.rs");
    let made = starter_from_own(6, &sixth, &fifth, &fifth).unwrap();
    assert_eq!((made.kept, made.taken), (0, 0));
    assert_eq!(made.text, starter(6, &sixth).unwrap());
}

#[test]
fn a_starter_is_made_from_the_attendees_own_base_chapter() {
    // Each chapter builds on the one its first lines name, as the README's
    // table says: chapters 12 and 13 on 10, 14 on 11, 15 on 13.
    let bases: Vec<usize> = CHAPTERS
        .iter()
        .enumerate()
        .map(|(index, name)| base(index + 1, &read(&format!("steps/{name}.rs"))))
        .collect();
    assert_eq!(bases, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 11, 13]);
    // Chapter 15 keeps chapter 13's listener and write interest as they
    // were: the attendee's own answers to those lessons carry over.
    let thirteenth = read("steps/13-event-loop.rs");
    let fifteenth = read("steps/15-tuned.rs");
    let own = thirteenth.replace(
        "registered.map_err(cannot)?;",
        "registered.map_err(|error| cannot(error))?;",
    );
    assert_ne!(own, thirteenth);
    let made = starter_from_own(15, &fifteenth, &thirteenth, &own).unwrap();
    assert!(
        made.taken >= 2,
        "{} of chapter 13's answers taken",
        made.taken
    );
    let made = made.text;
    assert!(made.contains("registered.map_err(|error| cannot(error))?;"));
    // What chapter 15 teaches is still cut.
    assert_eq!(
        lessons(&made).unwrap().len(),
        lessons(&fifteenth).unwrap().len()
    );
}

#[test]
fn no_narration_is_inside_a_lesson() {
    for (index, name) in CHAPTERS.iter().enumerate() {
        if !has_starter(index + 1) {
            continue;
        }
        for lesson in lessons(&read(&format!("steps/{name}.rs"))).unwrap() {
            // `narrate::` itself, or a helper that narrates (`tell_echo`).
            assert!(
                !lesson.code.contains("narrate::") && !lesson.code.contains("tell_"),
                "steps/{name}.rs, lesson of line {}: a starter must keep every printed line",
                lesson.line
            );
        }
    }
}

/// The string literals in some Rust code, as written (escapes kept, a
/// line continuation gone with the spaces after it, as Rust reads it),
/// skipping comments, character literals and lifetimes.
fn string_literals(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let after_identifier = at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_');
        match chars[at] {
            '/' if chars.get(at + 1) == Some(&'/') => {
                while at < chars.len() && chars[at] != '\n' {
                    at += 1;
                }
            }
            '\'' => {
                // '"', '\'', '\n' are characters; 'a in <'a> is a lifetime.
                at += match (chars.get(at + 1), chars.get(at + 2)) {
                    (Some('\\'), _) => {
                        let close = chars[at + 2..].iter().position(|&c| c == '\'');
                        close.map_or(chars.len(), |close| close + 3)
                    }
                    (Some(_), Some('\'')) => 3,
                    _ => 1,
                };
            }
            'r' if !after_identifier
                && matches!(chars.get(at + 1), Some('"' | '#'))
                && chars[at + 1..].iter().find(|&&c| c != '#') == Some(&'"') =>
            {
                let hashes = chars[at + 1..].iter().take_while(|&&c| c == '#').count();
                let start = at + 2 + hashes;
                let end: String = std::iter::once('"')
                    .chain("#".repeat(hashes).chars())
                    .collect();
                let rest: String = chars[start..].iter().collect();
                let length = rest.find(&end).unwrap_or(rest.len());
                found.push(rest[..length].to_string());
                at = start + rest[..length].chars().count() + end.chars().count();
            }
            '"' => {
                let mut literal = String::new();
                at += 1;
                while at < chars.len() && chars[at] != '"' {
                    match (chars[at], chars.get(at + 1)) {
                        ('\\', Some('\n')) => {
                            at += 2;
                            while at < chars.len() && chars[at].is_whitespace() {
                                at += 1;
                            }
                        }
                        ('\\', Some(&escaped)) => {
                            literal.push('\\');
                            literal.push(escaped);
                            at += 2;
                        }
                        (c, _) => {
                            literal.push(c);
                            at += 1;
                        }
                    }
                }
                found.push(literal);
                at += 1;
            }
            _ => at += 1,
        }
    }
    found
}

#[test]
fn string_literals_are_found_as_rust_reads_them() {
    let code = r##"let q = '"'; // "a comment"
fn f<'a>(x: &'a str) -> &'a str { x.strip_prefix('\'').unwrap_or("one \"two\" three") }
let wire = "HTTP/1.1 200 OK\r\n"; let raw = r#"a "raw" one"#; let b = b"bytes";
let long = "over \
            two lines";
"##;
    assert_eq!(
        string_literals(code),
        [
            r#"one \"two\" three"#,
            r"HTTP/1.1 200 OK\r\n",
            r#"a "raw" one"#,
            "bytes",
            "over two lines"
        ]
    );
}

/// Words a person reads: three or more, not the bytes of an HTTP line.
fn is_wording(literal: &str) -> bool {
    literal.split_whitespace().count() >= 3 && !literal.contains("\\r\\n")
}

#[test]
fn no_printed_wording_is_inside_a_lesson() {
    // An attendee writes the protocol, never the words a log line or a
    // close reason says: those stand outside the lesson (a binding the
    // hint names), or the attendee would have to guess them to match the
    // snapshot. An HTTP line ending in \r\n is the protocol itself.
    let mut inside = Vec::new();
    for name in CHAPTERS {
        for lesson in lessons(&read(&format!("steps/{name}.rs"))).unwrap() {
            for literal in string_literals(&lesson.code) {
                if is_wording(&literal) {
                    inside.push(format!(
                        "steps/{name}.rs, lesson of line {}: {literal:?}",
                        lesson.line
                    ));
                }
            }
        }
    }
    assert!(
        inside.is_empty(),
        "wording inside a lesson (move it out, and have the hint name it):\n{}",
        inside.join("\n")
    );
}

/// Lines of code (not blank, not only a comment) in a chapter's lessons.
fn lesson_lines(name: &str) -> usize {
    lessons(&read(&format!("steps/{name}.rs")))
        .unwrap()
        .iter()
        .flat_map(|lesson| lesson.code.lines())
        .filter(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with("//")
        })
        .count()
}

#[test]
fn the_attendee_writes_the_protocol() {
    // What a starter cuts is the protocol each chapter teaches: at least
    // this many lines of code per chapter, 220 in all for chapters 1-11.
    let least = [8, 15, 15, 8, 15, 8, 15, 15, 15, 1, 1];
    let mut total = 0;
    for (name, least) in CHAPTERS[..11].iter().zip(least) {
        let lines = lesson_lines(name);
        assert!(
            lines >= least,
            "steps/{name}.rs: {lines} lines of lesson, fewer than {least}"
        );
        total += lines;
    }
    assert!(total >= 220, "{total} lines of lesson in all");
    // Beyond the article: the offer parsed and answered (12), the fan-out
    // (14), the tuning (15).
    for (name, least) in [
        ("12-compression", 40),
        ("14-chat-cluster", 40),
        ("15-tuned", 100),
    ] {
        let lines = lesson_lines(name);
        assert!(
            lines >= least,
            "steps/{name}.rs: {lines} lines of lesson, fewer than {least}"
        );
    }
}

#[test]
fn a_lesson_that_is_not_whole_blocks_is_refused() {
    // Cut, it would leave a brace behind.
    let reference = "//! doc

fn f() {
    loop {
        // lesson: half a loop
        g();
    }
    // end of lesson
}
";
    let refused = lessons(reference).unwrap_err();
    assert!(
        refused.contains("opens 0 block(s) and closes 1"),
        "{refused}"
    );
}

#[test]
fn a_chapter_goes_without_a_starter_only_while_its_lessons_cannot_be_cut() {
    for number in WITHOUT_STARTER {
        let name = CHAPTERS[number - 1];
        assert!(
            lessons(&read(&format!("steps/{name}.rs"))).is_err(),
            "steps/{name}.rs: its lessons can be cut now; take chapter {number} out of \
             WITHOUT_STARTER, add its `workshop-{number}` binary and regenerate"
        );
    }
}

#[test]
fn every_starter_holds_a_todo_per_lesson_and_nothing_of_the_lesson() {
    for (index, name) in CHAPTERS.iter().enumerate() {
        if !has_starter(index + 1) {
            continue;
        }
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
    assert!(
        made.contains("#![allow(unused, clippy::diverging_sub_expression)]"),
        "{made}"
    );
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
