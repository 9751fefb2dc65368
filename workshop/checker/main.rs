//! The workshop's checker, for attendees: `cargo run --bin workshop`.
//!
//! Each chapter an attendee writes is its own binary (`workshop-NN`, built
//! from `workshop/NN-name.rs` against the reference library), so a gap in
//! one chapter never breaks another. The checker builds it, plays the
//! chapter's own scenario against it (`scenario`), checks the bytes on the
//! wire first, then compares the narration with the same `snapshots/` file
//! that pins the reference chapter.
//!
//! ```text
//! cargo run --bin workshop                       every chapter, in order
//! cargo run --bin workshop -- check N            chapter N alone
//! cargo run --bin workshop -- check N --reference   the same checks on steps/
//! cargo run --bin workshop -- hint N             what chapter N asks for
//! cargo run --bin workshop -- reset N            the starter back, as shipped
//! cargo run --bin workshop -- solution N         the reference's lesson code
//! cargo run --bin workshop -- watch              re-check on every save
//! cargo run --bin workshop -- generate           (instructors) starters from steps/
//! ```

/// Printing that never panics: a checker piped into `head` just stops.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

macro_rules! complain {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

macro_rules! say_inline {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod failure;
mod scenario;
mod starter;
mod wire;

use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime};

use failure::Failure;
use starter::CHAPTERS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whose code a check runs.
#[derive(Clone)]
enum Whose {
    /// The attendee's `workshop/NN-name.rs`.
    Attendee,
    /// The reference `steps/NN-name.rs`.
    Reference,
    /// Any executable, checked as chapter N (for the checker's own tests).
    Binary(PathBuf),
}

struct Options {
    command: String,
    chapter: Option<usize>,
    whose: Whose,
    /// Use the binaries already built next to the checker.
    no_build: bool,
    /// `solution`: no question asked.
    yes: bool,
}

const USAGE: &str = "usage: cargo run --bin workshop [-- check N [--reference] | hint N | reset N | solution N [--yes] | watch | generate]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        command: "all".into(),
        chapter: None,
        whose: Whose::Attendee,
        no_build: false,
        yes: false,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--reference" => options.whose = Whose::Reference,
            "--no-build" => options.no_build = true,
            "--yes" | "-y" => options.yes = true,
            "--binary" => match rest.next() {
                Some(path) => options.whose = Whose::Binary(PathBuf::from(path)),
                None => return Err("--binary needs a path".into()),
            },
            "check" | "hint" | "reset" | "solution" | "watch" | "generate" => {
                options.command = arg.clone()
            }
            number => match number.parse::<usize>() {
                Ok(n) if (1..=CHAPTERS.len()).contains(&n) => options.chapter = Some(n),
                _ => {
                    return Err(format!(
                        "unknown argument {number:?} (chapters are 1 to 11)"
                    ));
                }
            },
        }
    }
    let needs_chapter = ["check", "hint", "reset", "solution"];
    if needs_chapter.contains(&options.command.as_str()) && options.chapter.is_none() {
        return Err(format!(
            "`{}` needs a chapter number, 1 to 11",
            options.command
        ));
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(error) => {
            complain!("{error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let chapter = options.chapter.unwrap_or(1);
    let ok = match options.command.as_str() {
        "check" => check_one(chapter, &options),
        "hint" => {
            say_inline!("{}", hint(chapter));
            true
        }
        "reset" => reset(chapter),
        "solution" => solution(chapter, &options),
        "watch" => watch(&options),
        "generate" => generate(),
        _ => check_all(&options),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn name(number: usize) -> &'static str {
    CHAPTERS[number - 1]
}

fn attendee_file(number: usize) -> PathBuf {
    root().join(format!("workshop/{}.rs", name(number)))
}

fn reference_file(number: usize) -> PathBuf {
    root().join(format!("steps/{}.rs", name(number)))
}

/// The verdict on one chapter.
enum Verdict {
    Pass,
    /// Why, in one line, and the narration diff (empty if none).
    Fail {
        line: String,
        diff: String,
    },
}

/// Builds (unless told not to) and checks chapter `number`.
fn verdict(number: usize, options: &Options) -> Verdict {
    let binary = match &options.whose {
        Whose::Binary(path) => path.clone(),
        whose => {
            let bin = match whose {
                Whose::Reference => name(number).to_string(),
                _ => format!("workshop-{number:02}"),
            };
            if !options.no_build
                && let Err(errors) = build(&bin)
            {
                return Verdict::Fail {
                    line: format!("workshop/{}.rs does not compile:\n{errors}", name(number)),
                    diff: String::new(),
                };
            }
            match std::env::current_exe() {
                Ok(me) => me.with_file_name(format!("{bin}{}", std::env::consts::EXE_SUFFIX)),
                Err(error) => {
                    return Verdict::Fail {
                        line: format!("the checker cannot find its own folder: {error}"),
                        diff: String::new(),
                    };
                }
            }
        }
    };
    let run = scenario::play(number, &binary);
    let expected = match snapshot(number) {
        Ok(expected) => expected,
        Err(error) => {
            return Verdict::Fail {
                line: error,
                diff: String::new(),
            };
        }
    };
    let got = plain_panics(run.log.trim_end());
    let diff = if got == expected {
        String::new()
    } else {
        diff(&expected, &got)
    };
    // A panic says more than anything it caused on the wire.
    if let Some(panic) = panic_line(&got) {
        return Verdict::Fail { line: panic, diff };
    }
    if let Some(failure) = run.failure {
        return Verdict::Fail {
            line: failure.to_string(),
            diff,
        };
    }
    if !diff.is_empty() {
        let (want, have) = first_difference(&expected, &got);
        return Verdict::Fail {
            line: Failure::narration(&want, have.as_deref()).to_string(),
            diff,
        };
    }
    Verdict::Pass
}

fn build(bin: &str) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "--bin", bin])
        .current_dir(root())
        .output()
        .map_err(|error| format!("cargo does not run: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    let errors = String::from_utf8_lossy(&output.stderr);
    let shown: Vec<&str> = errors.lines().take(40).collect();
    Err(shown.join("\n"))
}

/// The narration pinned for chapter `number`, without insta's header.
fn snapshot(number: usize) -> Result<String, String> {
    let path = root().join(format!("snapshots/{}.snap", name(number)));
    let text = fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let body = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(_, body)| body)
        .unwrap_or(&text);
    Ok(body.trim_end().to_string())
}

/// A panic's lines without what changes from run to run (the thread's id)
/// or says nothing here (the backtrace note).
fn plain_panics(log: &str) -> String {
    let lines: Vec<String> = log
        .lines()
        .filter(|line| !line.starts_with("note: run with `RUST_BACKTRACE=1`"))
        .map(
            |line| match (line.strip_prefix("thread '"), line.find("' (")) {
                (Some(_), Some(at)) => match line[at..].find(") panicked at ") {
                    Some(end) => format!("{}'{}", &line[..at], &line[at + end + 1..]),
                    None => line.to_string(),
                },
                _ => line.to_string(),
            },
        )
        .collect();
    lines.join("\n")
}

/// "Your code panicked at …": the panic line, made plain.
fn panic_line(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.contains("panicked at "))?;
    let place = lines[at]
        .split("panicked at ")
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(':');
    let message = lines.get(at + 1).copied().unwrap_or_default();
    Some(match message.strip_prefix("not yet implemented: ") {
        Some(hint) => format!("your code reached a todo! at {place}: {hint}"),
        None => format!("your code panicked at {place}: {message}"),
    })
}

/// The first line where the narration parts from the snapshot.
fn first_difference(expected: &str, got: &str) -> (String, Option<String>) {
    let mut got_lines = got.lines();
    for want in expected.lines() {
        match got_lines.next() {
            Some(have) if have == want => continue,
            have => return (want.to_string(), have.map(str::to_string)),
        }
    }
    (
        "(the end of the narration)".into(),
        got_lines.next().map(str::to_string),
    )
}

/// A line diff (longest common subsequence): `-` pinned, `+` yours.
fn diff(expected: &str, got: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    // Narrations are short; a 1 MB log would be a bug worth seeing anyway.
    let (a, b) = (&a[..a.len().min(400)], &b[..b.len().min(400)]);
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || common[i][j + 1] >= common[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

fn title(number: usize) -> String {
    format!("chapter {number:>2} {}", name(number))
}

fn print_failure(number: usize, line: &str, diff: &str) {
    say!("\n✗ {}: {line}", title(number));
    if !diff.is_empty() {
        say!(
            "\nNarration against snapshots/{}.snap (- pinned, + yours):\n{diff}",
            name(number)
        );
    }
    say_inline!("\n{}", hint(number));
}

fn check_one(number: usize, options: &Options) -> bool {
    match verdict(number, options) {
        Verdict::Pass => {
            say!("✓ {}: passes", title(number));
            true
        }
        Verdict::Fail { line, diff } => {
            print_failure(number, &line, &diff);
            false
        }
    }
}

fn check_all(options: &Options) -> bool {
    let mut first_failure = None;
    let mut lines = Vec::new();
    for number in 1..=CHAPTERS.len() {
        match verdict(number, options) {
            Verdict::Pass => lines.push(format!("  done      {}", title(number))),
            Verdict::Fail { line, diff } => {
                lines.push(format!("  not yet   {}", title(number)));
                if first_failure.is_none() {
                    first_failure = Some((number, line, diff));
                }
            }
        }
    }
    say!("Progress:\n{}", lines.join("\n"));
    match first_failure {
        None => {
            say!("\nEvery chapter passes.");
            true
        }
        Some((number, line, diff)) => {
            print_failure(number, &line, &diff);
            false
        }
    }
}

/// What to write in chapter `number`, and the mistakes people make there.
fn hint(number: usize) -> String {
    let mut out = format!(
        "Hint for chapter {number} (workshop/{}.rs):\n",
        name(number)
    );
    if let Ok(reference) = fs::read_to_string(reference_file(number))
        && let Ok(lessons) = starter::lessons(&reference)
    {
        for lesson in lessons {
            out.push_str(&format!("  - {}\n", lesson.hint));
        }
    }
    out.push_str(&format!("  Watch for: {}\n", MISTAKES[number - 1]));
    out
}

/// The usual mistake per chapter, said as what to watch for.
const MISTAKES: [&str; 11] = [
    "a request head ends at the first empty line; stop there, do not wait for the connection to close",
    "the GUID is 258EAFA5-E914-47DA-95CA-C5AB0DC85B11, appended to the key as text, hashed, then base64",
    "byte i is XORed with key[i % 4], in that order; the masked bytes must unmask to \"Can you hear me?\"",
    "the second byte is the length with the mask bit clear: a server never masks",
    "126 means a 16-bit length follows, 127 a 64-bit one; the echo uses the shortest form",
    "binary is echoed as binary (opcode 2), and only text is checked for UTF-8",
    "a message ends with the frame whose FIN is set; its opcode comes from the first frame",
    "a ping between two fragments is answered at once, with the same payload",
    "the answer to a close frame echoes its code; 999 is refused with 1002",
    "the session does the protocol; the loop only echoes each complete message",
    "every member's messages go through its seat; leaving must free the seat",
];

fn reset(number: usize) -> bool {
    let reference = match fs::read_to_string(reference_file(number)) {
        Ok(text) => text,
        Err(error) => {
            complain!("steps/{}.rs: {error}", name(number));
            return false;
        }
    };
    let text = match starter::starter(number, &reference) {
        Ok(text) => text,
        Err(error) => {
            complain!("steps/{}.rs: {error}", name(number));
            return false;
        }
    };
    let path = attendee_file(number);
    // Keep the attendee's work: nothing is lost by a reset typed by mistake.
    let backup = root().join(format!("target/workshop-backup/{}.rs", name(number)));
    if let Ok(old) = fs::read_to_string(&path)
        && old != text
    {
        let saved = backup
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::write(&backup, old));
        if let Err(error) = saved {
            complain!(
                "could not keep your version in {}: {error}; nothing reset",
                backup.display()
            );
            return false;
        }
        say!("Your version is kept in {}.", backup.display());
    }
    match fs::write(&path, text) {
        Ok(()) => {
            say!("workshop/{}.rs is the starter again.", name(number));
            true
        }
        Err(error) => {
            complain!("{}: {error}", path.display());
            false
        }
    }
}

fn solution(number: usize, options: &Options) -> bool {
    if !options.yes {
        let passed = matches!(verdict(number, options), Verdict::Pass);
        if !passed {
            say_inline!(
                "Chapter {number} does not pass yet. Show the reference's code anyway? [y/N] "
            );
            let _ = io::stdout().flush();
            let mut answer = String::new();
            let _ = io::stdin().lock().read_line(&mut answer);
            if !answer.trim().eq_ignore_ascii_case("y") {
                say!("Not shown. `cargo run --bin workshop -- hint {number}` gives a hint.");
                return true;
            }
        }
    }
    let reference = match fs::read_to_string(reference_file(number)) {
        Ok(text) => text,
        Err(error) => {
            complain!("steps/{}.rs: {error}", name(number));
            return false;
        }
    };
    match starter::lessons(&reference) {
        Ok(lessons) => {
            for lesson in lessons {
                say!(
                    "steps/{}.rs, line {} — {}:\n{}",
                    name(number),
                    lesson.line,
                    lesson.hint,
                    lesson.code
                );
            }
            true
        }
        Err(error) => {
            complain!("steps/{}.rs: {error}", name(number));
            false
        }
    }
}

fn generate() -> bool {
    let mut ok = true;
    for number in 1..=CHAPTERS.len() {
        let made = fs::read_to_string(reference_file(number))
            .map_err(|error| error.to_string())
            .and_then(|reference| starter::starter(number, &reference));
        match made
            .and_then(|text| fs::write(attendee_file(number), text).map_err(|e| e.to_string()))
        {
            Ok(()) => say!("workshop/{}.rs", name(number)),
            Err(error) => {
                complain!("steps/{}.rs: {error}", name(number));
                ok = false;
            }
        }
    }
    for (index, (mistake, number, ..)) in starter::MISTAKES.iter().enumerate() {
        let path = root().join(format!("workshop/mistakes/{mistake}.rs"));
        let made = fs::read_to_string(reference_file(*number))
            .map_err(|error| error.to_string())
            .and_then(|reference| starter::mistake(index, &reference))
            .and_then(|text| fs::write(&path, text).map_err(|e| e.to_string()));
        match made {
            Ok(()) => say!("workshop/mistakes/{mistake}.rs"),
            Err(error) => {
                complain!("{}: {error}", path.display());
                ok = false;
            }
        }
    }
    ok
}

/// The newest modification time under `workshop/`, or an error if the
/// file system will not say.
fn newest_change(folder: &Path) -> io::Result<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in fs::read_dir(folder)? {
        let modified = entry?.metadata()?.modified()?;
        newest = newest.max(modified);
    }
    Ok(newest)
}

/// Re-checks whenever a file under `workshop/` is saved (its modification
/// time polled twice a second), or when Enter is pressed: the fallback for
/// file systems that do not keep modification times.
fn watch(options: &Options) -> bool {
    let folder = root().join("workshop");
    let (enter, pressed) = mpsc::channel();
    thread::spawn(move || {
        for _ in io::stdin().lock().lines().map_while(Result::ok) {
            if enter.send(()).is_err() {
                break;
            }
        }
    });
    let mut seen = newest_change(&folder).ok();
    if seen.is_none() {
        say!("Modification times cannot be read here: press Enter to re-check.");
    }
    loop {
        let all_pass = check_all(options);
        say!("\nWatching workshop/ — save a file or press Enter to re-check, Ctrl-C to stop.");
        if all_pass {
            return true;
        }
        loop {
            if pressed.recv_timeout(Duration::from_millis(500)).is_ok() {
                break;
            }
            let now = newest_change(&folder).ok();
            if now.is_some() && now != seen {
                seen = now;
                break;
            }
        }
    }
}
