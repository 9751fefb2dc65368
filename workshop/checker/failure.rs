//! What a failed check says: one line, with what was sent, what was
//! expected and what arrived, as bytes and as text.

use std::fmt;

pub struct Failure {
    line: String,
}

impl Failure {
    /// A failure that is a sentence: the server exited, nothing listens.
    pub fn plain(line: String) -> Failure {
        Failure { line }
    }

    pub fn wire(why: &str, sent: &[u8], expected: &[u8], got: &[u8]) -> Failure {
        Failure {
            line: format!(
                "{why}: sent {}, expected {}, got {}",
                show(sent),
                show(expected),
                show(got)
            ),
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
pub fn show(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".into();
    }
    const SHOWN: usize = 24;
    let text: String = String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
        .escape_debug()
        .collect();
    let more_text = if bytes.len() > 64 { "…" } else { "" };
    let numbers: Vec<String> = bytes.iter().take(SHOWN).map(u8::to_string).collect();
    let more = if bytes.len() > SHOWN {
        format!(", … ({} bytes)", bytes.len())
    } else {
        String::new()
    };
    format!("\"{text}{more_text}\" [{}{more}]", numbers.join(", "))
}
