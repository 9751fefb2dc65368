//! Starters: each chapter's reference file in `steps/` with its lesson cut
//! out. A lesson is marked in the reference by two comment lines,
//!
//! ```text
//! // lesson: what to write, in one line
//! ...the code the chapter teaches...
//! // end of lesson
//! ```
//!
//! and its starter keeps the two markers with a `todo!` carrying the hint
//! between them. Everything outside the markers is copied as it is, so an
//! attendee's right answer prints exactly what the reference prints.

/// Every chapter, in order: the name of its file in `steps/` and `workshop/`.
pub const CHAPTERS: [&str; 15] = [
    "01-print-request",
    "02-handshake",
    "03-read-frame",
    "04-reply",
    "05-long-payloads",
    "06-binary",
    "07-fragmented-messages",
    "08-ping-pong",
    "09-closing-handshake",
    "10-echo-server",
    "11-chat",
    "12-compression",
    "13-event-loop",
    "14-chat-cluster",
    "15-tuned",
];

const LESSON: &str = "// lesson: ";
const END: &str = "// end of lesson";

/// Chapters whose lessons cannot be cut yet, so they have no starter (a
/// lesson that declares names the code after it uses, is a type, ends
/// inside a block it opened, or holds narration). None today; the
/// checker still checks such a chapter itself.
pub const WITHOUT_STARTER: [usize; 0] = [];

/// Whether chapter `number` has a starter.
pub fn has_starter(number: usize) -> bool {
    !WITHOUT_STARTER.contains(&number)
}

/// One lesson of a reference file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    /// What to write, as the marker says it.
    pub hint: String,
    /// The reference's code between the markers, as it is in the file.
    pub code: String,
    /// The line of the `// lesson:` marker, counting from 1.
    pub line: usize,
}

/// The lessons of a reference file, in order; a marker without its partner
/// is an error naming its line.
pub fn lessons(reference: &str) -> Result<Vec<Lesson>, String> {
    let mut found = Vec::new();
    let mut open: Option<Lesson> = None;
    for (index, line) in reference.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(hint) = trimmed.strip_prefix(LESSON) {
            if let Some(lesson) = &open {
                return Err(format!(
                    "line {}: a lesson starts inside the lesson of line {}",
                    index + 1,
                    lesson.line
                ));
            }
            open = Some(Lesson {
                hint: hint.trim().to_string(),
                code: String::new(),
                line: index + 1,
            });
        } else if trimmed == END {
            match open.take() {
                Some(lesson) => {
                    // A lesson is whole blocks: cut, it leaves the code
                    // around it whole too.
                    let opened = lesson.code.matches('{').count();
                    let closed = lesson.code.matches('}').count();
                    if opened != closed {
                        return Err(format!(
                            "line {}: the lesson of line {} opens {opened} block(s) and closes \
                             {closed}: its markers must hold whole blocks",
                            index + 1,
                            lesson.line
                        ));
                    }
                    found.push(lesson)
                }
                None => {
                    return Err(format!(
                        "line {}: an end of lesson with no lesson",
                        index + 1
                    ));
                }
            }
        } else if let Some(lesson) = &mut open {
            lesson.code.push_str(line);
            lesson.code.push('\n');
        }
    }
    if let Some(lesson) = open {
        return Err(format!("line {}: a lesson that never ends", lesson.line));
    }
    Ok(found)
}

/// The chapter that chapter `number` builds on: the one its reference's
/// doc comment names, else the one before it.
pub fn base(number: usize, reference: &str) -> usize {
    named_base(number, reference)
        .filter(|named| (1..number).contains(named))
        .unwrap_or(number.saturating_sub(1))
}

/// The chapter a reference's doc comment names as its base: "Chapter 13
/// is chapter 10 plus …" (the book's diffs go by it too).
pub fn named_base(number: usize, reference: &str) -> Option<usize> {
    let doc: Vec<&str> = reference
        .lines()
        .map_while(|line| line.trim_start().strip_prefix("//!"))
        .collect();
    let doc = doc.join(" ").to_lowercase();
    let doc = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let needle = format!("chapter {number} is chapter ");
    let rest = &doc[doc.find(&needle)? + needle.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The starter of chapter `number`, made from its reference text.
pub fn starter(number: usize, reference: &str) -> Result<String, String> {
    if lessons(reference)?.is_empty() {
        return Err("no lesson is marked".into());
    }
    let lines: Vec<&str> = reference.lines().collect();
    let mut out = String::new();
    let mut header_written = false;
    let mut inside = false;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if !header_written && !trimmed.starts_with("//!") {
            out.push_str(&header(number));
            header_written = true;
        }
        if let Some(hint) = trimmed.strip_prefix(LESSON) {
            let indent = &line[..line.len() - trimmed.len()];
            // A lesson at the end of a block is its value; in the middle,
            // a statement.
            let ends_block = lines[index + 1..]
                .iter()
                .skip_while(|line| line.trim() != END)
                .nth(1)
                .is_some_and(|next| next.trim_start().starts_with('}'));
            let semicolon = if ends_block { "" } else { ";" };
            let todo = format!("{indent}todo!({:?}){semicolon}", hint.trim());
            // rustfmt would break a longer line over three.
            if todo.chars().count() > 100 {
                return Err(format!(
                    "line {}: the hint is too long for one line",
                    index + 1
                ));
            }
            out.push_str(line);
            out.push('\n');
            out.push_str(&todo);
            out.push('\n');
            inside = true;
            continue;
        }
        if trimmed == END {
            inside = false;
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// What a starter says above its code. The `allow` keeps the compiler quiet
/// about names only the missing code would use, and about a `todo!` that
/// stands for a block's value; a finished chapter may delete it.
fn header(number: usize) -> String {
    header_checked_with(
        number,
        &format!("`cargo run --bin workshop -- check {number}`"),
    )
}

/// The header, naming `check` as the command that checks the chapter.
fn header_checked_with(number: usize, check: &str) -> String {
    format!(
        "\n// Your chapter {number}. Each `// lesson:` below is a `todo!` with a hint:\n\
         // write the code it asks for, then check it with\n\
         // {check}. Made from the reference in\n\
         // `steps/` by the workshop's checker.\n\
         #![allow(unused, clippy::diverging_sub_expression)]\n"
    )
}

/// Chapter `number`'s starter `text` with `check` in its header instead of
/// the plain command: a folder other than the default one is checked with
/// `--dir`, and the file it gets should say so.
pub fn checked_with(text: &str, number: usize, check: &str) -> String {
    text.replacen(&header(number), &header_checked_with(number, check), 1)
}

/// A starter made from an attendee's own base chapter.
pub struct Made {
    pub text: String,
    /// How many lessons of the base it keeps, code the reference carries
    /// over unchanged.
    pub kept: usize,
    /// How many of those are the attendee's own answers: the others are
    /// still a `todo!` in the attendee's base, so the reference's code
    /// stands there.
    pub taken: usize,
}

/// The starter of chapter `number`, made from the attendee's own version
/// of the chapter it builds on ([`base`]): the reference's starter, in
/// which the code of every lesson of the base that the reference carries
/// over unchanged is replaced by the attendee's own answer to it, unless
/// they have not answered it yet (their lesson still holds a `todo!`,
/// which outside a lesson marker nobody would be asked to write).
pub fn starter_from_own(
    number: usize,
    reference: &str,
    base_reference: &str,
    own_base: &str,
) -> Result<Made, String> {
    let mut text = starter(number, reference)?;
    let own = lessons(own_base)?;
    let (mut kept, mut taken) = (0, 0);
    for lesson in lessons(base_reference)? {
        if lesson.code.is_empty() || text.matches(&lesson.code).count() != 1 {
            continue;
        }
        kept += 1;
        let Some(mine) = own.iter().find(|mine| mine.hint == lesson.hint) else {
            continue;
        };
        if mine.code.contains("todo!(") {
            continue;
        }
        text = text.replacen(&lesson.code, &mine.code, 1);
        taken += 1;
    }
    Ok(Made { text, kept, taken })
}
