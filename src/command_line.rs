//! Command-line options, read by hand.
//!
//! Each chapter takes the options it understands (`--port` for all of them,
//! more in later chapters) and then calls [`Args::finish`], which refuses
//! anything left over, so a mistyped option is an error instead of being
//! silently ignored.

use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// A duration written in seconds, such as `10` or `0.5`: more than zero,
/// and at most a day ([`MAX_SECONDS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub Duration);

/// The longest duration an option accepts: a day. A timeout is added to the
/// current time, and a sum past what the clock can count would panic in
/// every connection; refused here, a typo such as `1e19` is one clear
/// message at start-up instead.
pub const MAX_SECONDS: f64 = 86_400.0;

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Seconds, String> {
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("{text:?} is not a number"))?;
        if seconds > MAX_SECONDS {
            return Err(format!(
                "{text} seconds is more than a day ({MAX_SECONDS} seconds)"
            ));
        }
        Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|duration| !duration.is_zero())
            .map(Seconds)
            .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
    }
}

/// The command line, as options not yet taken by the program.
pub struct Args {
    program: String,
    rest: Vec<String>,
    known: Vec<String>,
}

/// Why a program does not start: it was asked for help, or its command
/// line is wrong. Either way the usage is part of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLineError {
    /// `--help` or `-h`: the usage, and nothing wrong.
    Help { usage: String },
    /// A mistake, with what was expected.
    Invalid { problem: String, usage: String },
}

impl CommandLineError {
    /// Prints the message where it belongs (help to stdout, a mistake to
    /// stderr) and gives the exit status: 0 for help, 2 for a mistake, as
    /// command-line tools conventionally do.
    pub fn report(&self) -> ExitCode {
        match self {
            CommandLineError::Help { usage } => {
                println!("{usage}");
                ExitCode::SUCCESS
            }
            CommandLineError::Invalid { .. } => {
                eprintln!("{self}");
                ExitCode::from(2)
            }
        }
    }
}

impl fmt::Display for CommandLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandLineError::Help { usage } => write!(f, "{usage}"),
            CommandLineError::Invalid { problem, usage } => write!(f, "{problem}\n{usage}"),
        }
    }
}

impl std::error::Error for CommandLineError {}

impl Args {
    /// The process's own command line. An argument that is not UTF-8 is a
    /// mistake like any other, not a crash.
    pub fn from_env() -> Result<Args, CommandLineError> {
        let mut all = std::env::args_os();
        let program = all
            .next()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut rest = Vec::new();
        for arg in all {
            match arg.into_string() {
                Ok(text) => rest.push(text),
                Err(raw) => {
                    return Err(CommandLineError::Invalid {
                        problem: format!("the argument {raw:?} is not valid UTF-8"),
                        usage: format!("usage: {program} [--help]"),
                    });
                }
            }
        }
        Ok(Args::new(program, rest))
    }

    pub fn new(program: String, rest: Vec<String>) -> Args {
        Args {
            program,
            rest,
            known: Vec::new(),
        }
    }

    /// Takes `--name VALUE` (or `--name=VALUE`) if present; the last one wins.
    pub fn value<T: FromStr>(
        &mut self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, CommandLineError> {
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
                return Err(self.invalid(format!("{name} needs a value ({what})")));
            };
            match text.parse() {
                Ok(value) => found = Some(value),
                Err(_) => return Err(self.invalid(format!("{name} expects {what}, not {text:?}"))),
            }
            self.rest.drain(index..index + width);
        }
        Ok(found)
    }

    /// Takes `--name N` if present, refusing a value below `minimum` and
    /// saying `why` that value makes no sense: a limit of zero connections
    /// would start a server that refuses everyone, and a budget smaller
    /// than one message would refuse every long message.
    pub fn at_least<T>(
        &mut self,
        name: &str,
        what: &str,
        minimum: T,
        why: &str,
    ) -> Result<Option<T>, CommandLineError>
    where
        T: FromStr + PartialOrd + fmt::Display,
    {
        match self.value::<T>(name, what)? {
            Some(value) if value < minimum => Err(self.invalid(format!(
                "{name} must be at least {minimum}, not {value}: {why}"
            ))),
            found => Ok(found),
        }
    }

    /// Takes `--name SECONDS` if present, saying what is wrong with a bad
    /// value (not a number, not positive, more than a day).
    pub fn seconds(&mut self, name: &str) -> Result<Option<Duration>, CommandLineError> {
        match self.value::<String>(name, "SECONDS")? {
            None => Ok(None),
            Some(text) => match text.parse::<Seconds>() {
                Ok(Seconds(duration)) => Ok(Some(duration)),
                Err(why) => Err(self.invalid(format!("{name} expects SECONDS: {why}"))),
            },
        }
    }

    /// Takes a bare `--name` flag.
    pub fn flag(&mut self, name: &str) -> bool {
        self.known.push(name.to_string());
        let before = self.rest.len();
        self.rest.retain(|arg| arg != name);
        self.rest.len() != before
    }

    /// Refuses leftovers, and answers `--help`.
    pub fn finish(self) -> Result<(), CommandLineError> {
        if self.rest.iter().any(|arg| arg == "--help" || arg == "-h") {
            return Err(CommandLineError::Help {
                usage: self.usage(),
            });
        }
        match self.rest.first() {
            Some(unknown) => Err(self.invalid(format!("unknown option {unknown:?}"))),
            None => Ok(()),
        }
    }

    fn usage(&self) -> String {
        let mut text = format!("usage: {}", self.program);
        for option in &self.known {
            text.push_str(&format!(" [{option}]"));
        }
        text
    }

    /// A mistake found in an option's value after taking it, with the usage.
    pub fn invalid(&self, problem: String) -> CommandLineError {
        CommandLineError::Invalid {
            problem,
            usage: self.usage(),
        }
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
        assert_eq!(parsed.value::<u16>("--port", "N"), Ok(Some(0)));
        assert_eq!(parsed.value::<u64>("--max", "BYTES"), Ok(Some(7)));
        assert!(parsed.flag("--verbose"));
        assert!(!parsed.flag("--quiet"));
        assert!(parsed.rest.is_empty());
    }

    #[test]
    fn mistakes_and_help_are_errors_not_exits() {
        let mut parsed = args(&["--port", "x"]);
        assert!(matches!(
            parsed.value::<u16>("--port", "N"),
            Err(super::CommandLineError::Invalid { .. })
        ));
        assert!(matches!(
            args(&["--bogus"]).finish(),
            Err(super::CommandLineError::Invalid { .. })
        ));
        assert!(matches!(
            args(&["--help"]).finish(),
            Err(super::CommandLineError::Help { .. })
        ));
        let mut missing = args(&["--port"]);
        assert!(missing.value::<u16>("--port", "N").is_err());
    }

    #[test]
    fn a_value_below_its_minimum_is_refused_with_its_name() {
        let mut parsed = args(&["--max", "0", "--other", "5"]);
        let refusal = parsed
            .at_least::<u64>("--max", "N", 1, "nothing would fit")
            .unwrap_err()
            .to_string();
        assert!(
            refusal.starts_with("--max must be at least 1, not 0"),
            "{refusal}"
        );
        assert_eq!(parsed.at_least::<u64>("--other", "N", 5, "x"), Ok(Some(5)));
        assert_eq!(parsed.at_least::<u64>("--absent", "N", 5, "x"), Ok(None));
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        use super::Seconds;
        use std::time::Duration;
        assert_eq!("0.5".parse(), Ok(Seconds(Duration::from_millis(500))));
        for bad in ["-1", "0", "NaN", "inf", "soon", "1e19", "86401"] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad}");
        }
        assert!("86400".parse::<Seconds>().is_ok());
        let mut parsed = super::Args::new("x".into(), vec!["--wait".into(), "1e19".into()]);
        let refusal = parsed.seconds("--wait").unwrap_err().to_string();
        assert!(refusal.contains("more than a day"), "{refusal}");
    }
}
