//! Command-line options, read by hand.
//!
//! Each chapter takes the options it understands (`--port` for all of them,
//! more in later chapters) and then calls [`Args::finish`], which refuses
//! anything left over, so a mistyped option is an error instead of being
//! silently ignored.

use std::str::FromStr;
use std::time::Duration;

/// A duration written in seconds, such as `10` or `0.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Seconds, String> {
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("{text:?} is not a number"))?;
        Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|duration| !duration.is_zero())
            .map(Seconds)
            .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
    }
}

pub struct Args {
    program: String,
    rest: Vec<String>,
    known: Vec<String>,
}

impl Args {
    pub fn from_env() -> Args {
        let mut all = std::env::args();
        let program = all.next().unwrap_or_default();
        Args::new(program, all.collect())
    }

    pub fn new(program: String, rest: Vec<String>) -> Args {
        Args {
            program,
            rest,
            known: Vec::new(),
        }
    }

    /// Takes `--name VALUE` (or `--name=VALUE`) if present; the last one wins.
    pub fn value<T: FromStr>(&mut self, name: &str, what: &str) -> Option<T> {
        self.known.push(format!("{name} {what}"));
        let mut found = None;
        let mut index = 0;
        while index < self.rest.len() {
            let arg = &self.rest[index];
            let inline = arg
                .strip_prefix(name)
                .and_then(|tail| tail.strip_prefix('='));
            let (text, width) = if let Some(text) = inline {
                (Some(text.to_string()), 1)
            } else if arg == name {
                (self.rest.get(index + 1).cloned(), 2)
            } else {
                index += 1;
                continue;
            };
            let Some(text) = text else {
                self.fail(&format!("{name} needs a value ({what})"));
            };
            match text.parse() {
                Ok(value) => found = Some(value),
                Err(_) => self.fail(&format!("{name} expects {what}, not {text:?}")),
            }
            self.rest.drain(index..index + width);
        }
        found
    }

    /// Takes a bare `--name` flag.
    pub fn flag(&mut self, name: &str) -> bool {
        self.known.push(name.to_string());
        let before = self.rest.len();
        self.rest.retain(|arg| arg != name);
        self.rest.len() != before
    }

    /// Refuses leftovers, and answers `--help`.
    pub fn finish(self) {
        if self.rest.iter().any(|arg| arg == "--help" || arg == "-h") {
            println!("{}", self.usage());
            std::process::exit(0);
        }
        if let Some(unknown) = self.rest.first() {
            self.fail(&format!("unknown option {unknown:?}"));
        }
    }

    fn usage(&self) -> String {
        let mut text = format!("usage: {}", self.program);
        for option in &self.known {
            text.push_str(&format!(" [{option}]"));
        }
        text
    }

    fn fail(&self, message: &str) -> ! {
        eprintln!("{message}\n{}", self.usage());
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn args(list: &[&str]) -> Args {
        Args::new("x".into(), list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn values_and_flags_are_taken() {
        let mut parsed = args(&["--port", "0", "--verbose", "--max=7"]);
        assert_eq!(parsed.value::<u16>("--port", "N"), Some(0));
        assert_eq!(parsed.value::<u64>("--max", "BYTES"), Some(7));
        assert!(parsed.flag("--verbose"));
        assert!(!parsed.flag("--quiet"));
        assert!(parsed.rest.is_empty());
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        use super::Seconds;
        use std::time::Duration;
        assert_eq!("0.5".parse(), Ok(Seconds(Duration::from_millis(500))));
        for bad in ["-1", "0", "NaN", "inf", "soon"] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad}");
        }
    }
}
