//! Command-line options, read with `clap`'s derive API.
//!
//! Options several binaries share are `clap::Args` groups beside what they
//! configure: [`listener::Listen`](crate::server::listener::Listen) and
//! [`listener::Capped`](crate::server::listener::Capped),
//! [`conversation::EchoArgs`](crate::server::conversation::EchoArgs) and
//! [`conversation::ServerArgs`](crate::server::conversation::ServerArgs),
//! [`chat::ChatArgs`](crate::server::chat::ChatArgs) and
//! [`narrate::Verbosity`](crate::narrate::Verbosity). A binary with options
//! of its own declares a small `clap::Parser` that flattens them; the
//! others read a group alone with [`parse_chapter`].
//!
//! Either way `--help` lists every option with its meaning and default and
//! exits with status 0, and a mistake stops the program before it starts,
//! with status 2 and the option named. An option given twice takes its last
//! value. Checks across options, made once clap has parsed them (a budget
//! smaller than one message, say), report through [`invalid`], in clap's
//! own format.

use std::ffi::OsString;
use std::fmt;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

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

/// As `--help` shows a default: `30`, `0.5`.
impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// Why a program does not start: it was asked for `--help` (or
/// `--version`), or its command line is wrong.
#[derive(Debug)]
pub struct CommandLineError(clap::Error);

impl CommandLineError {
    /// Prints the message where it belongs (help to stdout, a mistake to
    /// stderr) and gives the exit status: 0 for help, 2 for a mistake, as
    /// command-line tools conventionally do.
    pub fn report(&self) -> ExitCode {
        // A closed stdout or stderr is no reason to panic.
        let _ = self.0.print();
        match self.0.exit_code() {
            0 => ExitCode::SUCCESS,
            _ => ExitCode::from(2),
        }
    }

    /// What went wrong, as clap says it.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind()
    }
}

impl From<clap::Error> for CommandLineError {
    fn from(error: clap::Error) -> CommandLineError {
        CommandLineError(error)
    }
}

impl fmt::Display for CommandLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for CommandLineError {}

/// `T`'s command as this process runs it: usage lines name the program
/// as it was started (`10-echo-server`), an option given twice takes its
/// last value, as the hand-written parser before clap did, and a negative
/// number is a value (`--port -1` is refused as `--port`'s, not as an
/// unknown argument `-1`).
fn command<T: CommandFactory>(program: &str) -> clap::Command {
    T::command()
        .bin_name(program)
        .args_override_self(true)
        .mut_args(|arg| {
            let takes_values = arg.get_action().takes_values();
            arg.allow_negative_numbers(takes_values)
        })
}

/// The program's name as it was started: `05-long-payloads`, `client`.
fn program(args: &[OsString]) -> String {
    args.first()
        .map(std::path::Path::new)
        .and_then(|path| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parses `args` (the program's name first) as `T`, with `T`'s own `about`
/// (its doc comment), or `about` when given.
fn parse_from<T: Parser>(
    args: Vec<OsString>,
    about: Option<String>,
) -> Result<T, CommandLineError> {
    let mut command = command::<T>(&program(&args));
    if let Some(about) = about {
        command = command.about(about);
    }
    if let Some(position) = args.iter().skip(1).position(|arg| arg.to_str().is_none()) {
        // Named by its place, not shown: it may be a password in a URL.
        let after = match args[position].to_str() {
            Some(option) if position > 0 && option.starts_with('-') => format!(" (after {option})"),
            _ => String::new(),
        };
        let problem = format!("argument {}{after} is not valid UTF-8", position + 1);
        return Err(clap::Error::raw(ErrorKind::InvalidUtf8, problem)
            .format(&mut command)
            .into());
    }
    let mut matches = command.try_get_matches_from_mut(args)?;
    T::from_arg_matches_mut(&mut matches).map_err(|error| error.format(&mut command).into())
}

/// The process's command line as `T`, a binary's own `clap::Parser`.
pub fn parse<T: Parser>() -> Result<T, CommandLineError> {
    parse_from(std::env::args_os().collect(), None)
}

/// The process's command line as `T`, a group of options shared by
/// several chapters, for a chapter with no options of its own: its
/// `--help` opens with the chapter its program's name gives
/// ([`about_chapter`]).
pub fn parse_chapter<T: Parser>() -> Result<T, CommandLineError> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let about = about_chapter(&program(&args));
    parse_from(args, Some(about))
}

/// What a chapter's `--help` opens with, from its program's name: the
/// chapters are `NN-name` (`05-long-payloads`), their workshop starters
/// `workshop-NN`, an attendee's own chapter ends in its number too.
pub fn about_chapter(program: &str) -> String {
    let number: String = program
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    match number.parse::<u32>() {
        Ok(number) => format!(
            "Chapter {number} of the tutorial: a WebSocket server built from scratch, narrating what it receives and sends."
        ),
        Err(_) => "A chapter of the tutorial: a WebSocket server built from scratch, narrating what it receives and sends.".to_string(),
    }
}

/// A mistake found after parsing, across options (`--max-buffered` under
/// `--max-message-size`, say): `problem` names the option and says what
/// is wrong, and the message reads as clap's own, with `T`'s usage.
pub fn invalid<T: CommandFactory>(problem: impl fmt::Display) -> CommandLineError {
    let program = program(&std::env::args_os().take(1).collect::<Vec<_>>());
    clap::Error::raw(ErrorKind::ValueValidation, problem)
        .format(&mut command::<T>(&program))
        .into()
}

/// A count that must be at least one (`--max-connections N`), as a value parser.
pub fn at_least_one(text: &str) -> Result<NonZeroUsize, String> {
    at_least_one_since(text, None)
}

/// [`at_least_one`], saying what 0 would do when 0 is given
/// (`--max-message-size 0` would refuse every message that is not empty).
pub fn at_least_one_since(text: &str, zero_would: Option<&str>) -> Result<NonZeroUsize, String> {
    let count: usize = text
        .parse()
        .map_err(|error| format!("{text:?} is not a count: {error}"))?;
    NonZeroUsize::new(count).ok_or_else(|| match zero_would {
        Some(why) => format!("must be at least 1, not 0: {why}"),
        None => "must be at least 1, not 0".to_string(),
    })
}

/// A message size limit in bytes (`--max-message-size BYTES`), as a value
/// parser: at least one.
pub fn message_size(text: &str) -> Result<u64, String> {
    let why = "every message that is not empty would be refused";
    at_least_one_since(text, Some(why)).map(|bytes| bytes.get() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    /// A test program.
    struct Test {
        /// A port.
        #[arg(long, value_name = "N", default_value_t = 2345)]
        port: u16,
        /// A wait.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<Seconds>,
        /// A flag.
        #[arg(long)]
        verbose: bool,
        /// A cap.
        #[arg(long, value_parser = at_least_one)]
        max: Option<NonZeroUsize>,
    }

    fn parse(list: &[&str]) -> Result<Test, CommandLineError> {
        let args = std::iter::once("x").chain(list.iter().copied());
        parse_from(args.map(OsString::from).collect(), None)
    }

    #[test]
    fn values_and_flags_are_taken_and_the_last_value_wins() {
        let parsed = parse(&["--port", "1", "--verbose", "--max=7", "--port=0"]).unwrap();
        assert_eq!(parsed.port, 0);
        assert_eq!(parsed.max.map(NonZeroUsize::get), Some(7));
        assert!(parsed.verbose);
        assert_eq!(parse(&[]).unwrap().port, 2345);
    }

    #[test]
    fn mistakes_and_help_are_errors_not_exits() {
        for (args, kind) in [
            (&["--port", "x"][..], ErrorKind::ValueValidation),
            (&["--bogus"], ErrorKind::UnknownArgument),
            (&["--port"], ErrorKind::InvalidValue),
            (&["--help"], ErrorKind::DisplayHelp),
        ] {
            assert_eq!(parse(args).unwrap_err().kind(), kind, "{args:?}");
        }
    }

    #[test]
    fn a_count_of_zero_is_refused_with_its_name_and_why() {
        let refusal = parse(&["--max", "0"]).unwrap_err().to_string();
        assert!(refusal.contains("--max"), "{refusal}");
        assert!(refusal.contains("must be at least 1, not 0"), "{refusal}");
        assert!(parse(&["--max", "x"]).is_err());
    }

    #[test]
    fn a_mistake_across_options_reads_as_clap_s_own() {
        let refusal = invalid::<Test>("--max must be at least 3, not 2").to_string();
        assert!(
            refusal.starts_with("error: --max must be at least 3, not 2"),
            "{refusal}"
        );
        assert!(refusal.contains("Usage:"), "{refusal}");
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!("0.5".parse(), Ok(Seconds(Duration::from_millis(500))));
        for bad in ["-1", "0", "NaN", "inf", "soon", "1e19", "86401"] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad}");
        }
        assert!("86400".parse::<Seconds>().is_ok());
        let refusal = parse(&["--wait", "1e19"]).unwrap_err().to_string();
        assert!(refusal.contains("--wait"), "{refusal}");
        assert!(refusal.contains("more than a day"), "{refusal}");
        assert_eq!(Seconds(Duration::from_secs(30)).to_string(), "30");
    }

    #[test]
    fn an_argument_that_is_not_utf8_is_a_mistake_not_a_crash() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![
            OsString::from("x"),
            OsString::from("--port"),
            OsString::from_vec(vec![0xff]),
        ];
        let refusal = parse_from::<Test>(args, None).unwrap_err();
        assert_eq!(refusal.kind(), ErrorKind::InvalidUtf8);
        let said = refusal.to_string();
        assert!(said.contains("argument 2 (after --port)"), "{said}");
        assert_eq!(refusal.report(), ExitCode::from(2));
    }

    #[test]
    fn a_chapter_is_named_by_its_program() {
        assert!(about_chapter("05-long-payloads").starts_with("Chapter 5 of"));
        assert!(about_chapter("workshop-13").starts_with("Chapter 13 of"));
    }
}
