//! The workshop's checker, for attendees: `cargo run --bin workshop`.
//!
//! Attendees write their chapters in a folder of their own, `my-workshop/`
//! (ignored by git; `start` makes it): a small Cargo package of its own,
//! one binary per chapter (`chapter-NN`), built against this repository's
//! library, so the tutorial's own files and `cargo test` are never touched.
//! The checker builds a chapter, plays the chapter's own scenario against
//! it (`scenario`), checks the bytes on the wire first, then compares the
//! narration with the same `snapshots/` file that pins the reference
//! chapter. When chapter N passes, chapter N+1's starter appears beside it,
//! made from the attendee's own chapter N where the reference carries that
//! code over (`starter::starter_from_own`).
//!
//! ```text
//! cargo run --bin workshop -- start [N]          my-workshop/ with chapter N's starter (1 unless told)
//! cargo run --bin workshop                       every chapter started, in order
//! cargo run --bin workshop -- check N            chapter N alone
//! cargo run --bin workshop -- check N --reference   the same checks on steps/
//! cargo run --bin workshop -- hint N             what chapter N asks for
//! cargo run --bin workshop -- reset N            the starter back
//! cargo run --bin workshop -- solution N         the reference's lesson code
//! cargo run --bin workshop -- watch              re-check on every save
//! cargo run --bin workshop -- generate           (instructors) workshop/*.rs from steps/
//! ```

// Printing that never panics: `say!`, `complain!` and `say_inline!`.
#[macro_use]
mod print;

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

use clap::{Parser, Subcommand};
use websocket_from_scratch::command_line;

use failure::Failure;
use starter::CHAPTERS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whose code a check runs.
#[derive(Clone)]
enum Whose {
    /// The attendee's own `NN-name.rs`, in their folder.
    Attendee,
    /// The starters as generated, `workshop/NN-name.rs` (binaries
    /// `workshop-NN`): for the checker's own tests.
    Starter,
    /// The reference `steps/NN-name.rs`.
    Reference,
    /// Any executable, checked as chapter N (for the checker's own tests).
    Binary(PathBuf),
}

struct Options {
    command: String,
    chapter: Option<usize>,
    whose: Whose,
    /// The attendee's folder.
    dir: PathBuf,
    /// Use the binaries already built next to the checker.
    no_build: bool,
    /// `solution`: no question asked.
    yes: bool,
}

/// The workshop's checker: rebuild each chapter of the tutorial in your own
/// folder and check it against the reference. With no command, every
/// chapter started is checked, in order, and the first that does not pass
/// is shown in detail.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    action: Option<Action>,
    /// Your folder [default: my-workshop/ in this repository]
    #[arg(long, global = true, value_name = "FOLDER")]
    dir: Option<PathBuf>,
    /// Check the reference chapters (steps/NN-name.rs) instead of yours
    #[arg(long, global = true, conflicts_with_all = ["starters", "binary"])]
    reference: bool,
    /// Check the starters as generated (workshop/NN-name.rs) instead of
    /// yours: the checker's own tests
    #[arg(long, global = true, conflicts_with = "binary")]
    starters: bool,
    /// Check this executable as the chapter instead of yours: the
    /// checker's own tests [default: none]
    #[arg(long, global = true, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Use the binaries already built instead of building them
    #[arg(long, global = true)]
    no_build: bool,
    /// For `solution`: show it without asking first
    #[arg(long, short = 'y', global = true)]
    yes: bool,
}

#[derive(Subcommand)]
enum Action {
    /// Make your folder, with chapter N's starter (late arrivals start at
    /// their chapter)
    Start {
        /// The chapter to start at [default: 1]
        #[arg(value_name = "N", value_parser = chapter_number)]
        chapter: Option<usize>,
    },
    /// Check chapter N alone (exit status 0 if and only if it passes)
    Check {
        /// The chapter
        #[arg(value_name = "N", value_parser = chapter_number)]
        chapter: usize,
    },
    /// The lesson's hints and the usual mistake
    Hint {
        /// The chapter
        #[arg(value_name = "N", value_parser = chapter_number)]
        chapter: usize,
    },
    /// Put chapter N's starter back (yours is kept in the folder's
    /// backup/)
    Reset {
        /// The chapter
        #[arg(value_name = "N", value_parser = chapter_number)]
        chapter: usize,
    },
    /// The reference's lesson code (asks first if your chapter N does not
    /// pass yet)
    Solution {
        /// The chapter
        #[arg(value_name = "N", value_parser = chapter_number)]
        chapter: usize,
    },
    /// Check again on every save (or on Enter)
    Watch,
    /// For instructors: write the starters workshop/NN-name.rs from steps/
    Generate,
}

/// A chapter's number, 1 to the last with a starter.
fn chapter_number(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(number) if (1..=CHAPTERS.len()).contains(&number) => Ok(number),
        _ => Err(format!("chapters are 1 to {}", CHAPTERS.len())),
    }
}

impl Cli {
    fn options(self) -> Options {
        let (command, chapter) = match self.action {
            None => ("all", None),
            Some(Action::Start { chapter }) => ("start", chapter),
            Some(Action::Check { chapter }) => ("check", Some(chapter)),
            Some(Action::Hint { chapter }) => ("hint", Some(chapter)),
            Some(Action::Reset { chapter }) => ("reset", Some(chapter)),
            Some(Action::Solution { chapter }) => ("solution", Some(chapter)),
            Some(Action::Watch) => ("watch", None),
            Some(Action::Generate) => ("generate", None),
        };
        let whose = match (self.binary, self.reference, self.starters) {
            (Some(path), _, _) => Whose::Binary(path),
            (None, true, _) => Whose::Reference,
            (None, false, true) => Whose::Starter,
            (None, false, false) => Whose::Attendee,
        };
        Options {
            command: command.into(),
            chapter,
            whose,
            dir: self.dir.unwrap_or_else(|| root().join(FOLDER)),
            no_build: self.no_build,
            yes: self.yes,
        }
    }
}

fn main() -> ExitCode {
    let options = match command_line::parse::<Cli>() {
        Ok(cli) => cli.options(),
        Err(stop) => return stop.report(),
    };
    let chapter = options.chapter.unwrap_or(1);
    let ok = match options.command.as_str() {
        "start" => start(chapter, &options),
        "check" => check_one(chapter, &options),
        "hint" => {
            say_inline!("{}", hint(chapter));
            true
        }
        "reset" => reset(chapter, &options),
        "solution" => solution(chapter, &options),
        "watch" => watch(&options),
        "generate" => generate(),
        _ => check_all(&options, None),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The attendee's folder, under the repository unless `--dir` says
/// otherwise; `.gitignore` names it.
const FOLDER: &str = "my-workshop";

fn name(number: usize) -> &'static str {
    CHAPTERS[number - 1]
}

/// The attendee's chapter `number`.
fn own_file(dir: &Path, number: usize) -> PathBuf {
    dir.join(format!("{}.rs", name(number)))
}

/// The binary of the attendee's chapter `number`: named after the folder,
/// so that two folders (an attendee's, a test's) never overwrite each
/// other's binaries in the shared target folder. A name is not enough:
/// `/a/ws` and `/b/ws` would share `ws-03`, and Cargo, which sees two
/// packages alike but for their place, would take either's build for the
/// other's. So any folder but the default one also carries a hash of where
/// it is; the default keeps the plain `my-workshop-03` the guide gives.
fn own_bin(dir: &Path, number: usize) -> String {
    let folder = dir
        .file_name()
        .map(|name| name.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut prefix: String = folder
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if prefix.is_empty() || !prefix.starts_with(|c: char| c.is_ascii_alphabetic()) {
        prefix.insert_str(0, "chapter-");
    }
    let place = full_path(dir);
    if place != full_path(&root().join(FOLDER)) {
        prefix.push_str(&format!("-{:08x}", place_hash(&place) as u32));
    }
    format!("{prefix}-{number:02}")
}

/// A folder's one full name, however it was typed (relative, through a
/// link): as the file system resolves it, else made absolute as it is.
fn full_path(dir: &Path) -> PathBuf {
    fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

/// FNV-1a of a path: the same on every run and every Rust release, so that
/// a folder keeps its binaries' names from one check to the next.
fn place_hash(place: &Path) -> u64 {
    place
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The tracked starter, as generated.
fn starter_file(number: usize) -> PathBuf {
    root().join(format!("workshop/{}.rs", name(number)))
}

fn reference_file(number: usize) -> PathBuf {
    root().join(format!("steps/{}.rs", name(number)))
}

/// A path as the attendee knows it: relative to the repository if inside.
fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The verdict on one chapter.
enum Verdict {
    Pass,
    /// Why, in one line, and the narration diff (empty if none).
    Fail {
        line: String,
        diff: String,
    },
    /// The attendee has no file for this chapter yet.
    NotStarted,
}

/// Where the checker itself was built: chapters are built beside it.
fn profile_dir() -> Result<PathBuf, String> {
    let me = std::env::current_exe()
        .map_err(|error| format!("the checker cannot find its own folder: {error}"))?;
    me.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "the checker cannot find its own folder".to_string())
}

fn executable(folder: &Path, bin: &str) -> PathBuf {
    folder.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX))
}

/// The executable to check for chapter `number`, built first unless told
/// not to.
fn binary(number: usize, options: &Options) -> Result<Option<PathBuf>, String> {
    let folder = profile_dir()?;
    let bin = match &options.whose {
        Whose::Binary(path) => return Ok(Some(path.clone())),
        Whose::Reference => name(number).to_string(),
        Whose::Starter if !starter::has_starter(number) => return Ok(None),
        Whose::Starter => format!("workshop-{number:02}"),
        Whose::Attendee => {
            let file = own_file(&options.dir, number);
            if !file.exists() {
                return Ok(None);
            }
            let bin = own_bin(&options.dir, number);
            if !options.no_build {
                build_own(&options.dir, &bin, &folder)
                    .map_err(|errors| format!("{} does not compile:\n{errors}", shown(&file)))?;
            }
            return Ok(Some(executable(&folder, &bin)));
        }
    };
    if !options.no_build {
        build(&bin, &folder).map_err(|errors| {
            let file = match options.whose {
                Whose::Reference => reference_file(number),
                _ => starter_file(number),
            };
            format!("{} does not compile:\n{errors}", shown(&file))
        })?;
    }
    Ok(Some(executable(&folder, &bin)))
}

/// Builds (unless told not to) and checks chapter `number`.
fn verdict(number: usize, options: &Options) -> Verdict {
    let binary = match binary(number, options) {
        Ok(Some(binary)) => binary,
        Ok(None) => return Verdict::NotStarted,
        Err(line) => {
            return Verdict::Fail {
                line,
                diff: String::new(),
            };
        }
    };
    // Chapter 14's other server is the reference's.
    if number == 14
        && !options.no_build
        && !matches!(options.whose, Whose::Reference)
        && let Err(errors) = profile_dir().and_then(|folder| build(name(14), &folder))
    {
        return Verdict::Fail {
            line: format!("the reference chapter 14 does not compile:\n{errors}"),
            diff: String::new(),
        };
    }
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
    // The narration matches: what the scenario cannot show, checked on a
    // server of its own (a stray continuation, say).
    if let Some(failure) = scenario::rules(number, &binary) {
        return Verdict::Fail {
            line: failure.to_string(),
            diff: String::new(),
        };
    }
    Verdict::Pass
}

/// Builds `bin`, a chapter of the tutorial or a starter, into `profile`.
fn build(bin: &str, profile: &Path) -> Result<(), String> {
    cargo_build(bin, &root().join("Cargo.toml"), profile)
}

/// Builds `bin` of the package at `manifest` into `profile`, the folder
/// the checker runs it from: the checker's own target folder and profile
/// (`cargo run --release --bin workshop` checks release builds).
fn cargo_build(bin: &str, manifest: &Path, profile: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = profile.parent().unwrap_or(profile);
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--bin", bin, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target);
    if profile.file_name().is_some_and(|name| name == "release") {
        command.arg("--release");
    }
    let output = command
        .output()
        .map_err(|error| format!("cargo does not run: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    let errors = String::from_utf8_lossy(&output.stderr);
    let shown: Vec<&str> = errors.lines().take(40).collect();
    Err(shown.join("\n"))
}

/// The attendee's folder as a Cargo package of its own: the library by
/// path, the crates the chapters use besides it (the versions this
/// repository uses), one binary per chapter file present. Rewritten only
/// when that changes, so that `watch` sees only the attendee's saves.
fn write_manifest(dir: &Path) -> Result<(), String> {
    let ours = fs::read_to_string(root().join("Cargo.toml")).map_err(|error| error.to_string())?;
    let mut text = format!(
        "# Made by `cargo run --bin workshop`, which rewrites it as chapters appear.\n\
         [package]\nname = \"my-workshop\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
         publish = false\nautobins = false\n\n\
         # A workspace of its own: the tutorial's is left alone.\n[workspace]\n\n\
         [dependencies]\nwebsocket-from-scratch = {{ path = {:?} }}\n",
        root().display().to_string()
    );
    for line in ours.lines() {
        // What chapters use besides the library: SHA-1 and base64 (2), clap
        // (chapters with options of their own: 4, 14), mio (13, 15), serde
        // and Redis (14).
        let used = [
            "base64 = ",
            "clap = ",
            "sha1 = ",
            "mio = ",
            "serde = ",
            "serde_json = ",
            "redis = ",
        ];
        if used.iter().any(|crate_line| line.starts_with(crate_line)) {
            text.push_str(line);
            text.push('\n');
        }
    }
    for number in 1..=CHAPTERS.len() {
        if own_file(dir, number).exists() {
            text.push_str(&format!(
                "\n[[bin]]\nname = \"{}\"\npath = \"{}.rs\"\n",
                own_bin(dir, number),
                name(number)
            ));
        }
    }
    let manifest = dir.join("Cargo.toml");
    if fs::read_to_string(&manifest).ok().as_deref() != Some(text.as_str()) {
        fs::write(&manifest, text).map_err(|error| format!("{}: {error}", manifest.display()))?;
    }
    // The same versions of every crate as the tutorial: nothing to download,
    // and the dependencies already built are reused.
    let lock = dir.join("Cargo.lock");
    if !lock.exists() {
        fs::copy(root().join("Cargo.lock"), &lock)
            .map_err(|error| format!("{}: {error}", lock.display()))?;
    }
    Ok(())
}

/// Builds the attendee's `bin` into the checker's own target folder, so the
/// dependencies are compiled once for both.
fn build_own(dir: &Path, bin: &str, profile: &Path) -> Result<(), String> {
    write_manifest(dir)?;
    cargo_build(bin, &dir.join("Cargo.toml"), profile)
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
            have => return (want.to_string(), have.map(shortened)),
        }
    }
    (
        "(the end of the narration)".into(),
        got_lines.next().map(shortened),
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
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || common[i][j + 1] >= common[i + 1][j]) {
            lines.push(('+', b[j]));
            j += 1;
        } else {
            lines.push(('-', a[i]));
            i += 1;
        }
    }
    // Past a few lines of yours in a row (a print in a loop), a count.
    let mut out = String::new();
    let mut yours = 0;
    for (index, (sign, line)) in lines.iter().enumerate() {
        if *sign != '+' {
            out.push_str(&format!("{sign} {line}\n"));
            continue;
        }
        yours += 1;
        if yours <= MOST_ADDED_SHOWN {
            out.push_str(&format!("+ {}\n", shortened(line)));
        }
        let run_ends = lines.get(index + 1).is_none_or(|(next, _)| *next != '+');
        if run_ends {
            if yours > MOST_ADDED_SHOWN {
                let more = yours - MOST_ADDED_SHOWN;
                out.push_str(&format!("+ … ({more} more line(s) of yours)\n"));
            }
            yours = 0;
        }
    }
    out
}

/// How many lines of yours in a row a diff shows.
const MOST_ADDED_SHOWN: usize = 10;

/// A line of yours as a diff shows it: a long one cut short.
fn shortened(line: &str) -> String {
    const SHOWN: usize = 200;
    match line.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}… ({} bytes)", &line[..at], line.len()),
        None => line.to_string(),
    }
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
            advance(number, options);
            true
        }
        Verdict::Fail { line, diff } => {
            print_failure(number, &line, &diff);
            false
        }
        Verdict::NotStarted => {
            say!("{}", not_started(number, options));
            false
        }
    }
}

fn not_started(number: usize, options: &Options) -> String {
    let file = shown(&own_file(&options.dir, number));
    if number == 1 {
        format!(
            "{file} is not there yet: {} makes it.",
            command(&options.dir, "start")
        )
    } else {
        format!(
            "{file} is not there yet: it appears when chapter {} passes. To start at \
             chapter {number} directly (its starter then holds the reference's code for \
             the chapters before): {}.",
            number - 1,
            command(&options.dir, &format!("start {number}"))
        )
    }
}

/// The command that does `what` for the attendee's folder `dir`, as they
/// would type it: with `--dir` unless it is the default folder.
fn command(dir: &Path, what: &str) -> String {
    if dir == root().join(FOLDER) {
        return format!("`cargo run --bin workshop -- {what}`");
    }
    let folder = shown(dir);
    let plain = folder
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+~".contains(c));
    let folder = if plain {
        folder
    } else {
        format!("'{}'", folder.replace('\'', "'\\''"))
    };
    format!("`cargo run --bin workshop -- {what} --dir {folder}`")
}

/// Every chapter: one line each, then the details of one that does not
/// pass: `focus` if it is one of them (the chapter last saved), else the
/// first.
fn check_all(options: &Options, focus: Option<usize>) -> bool {
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    let mut started = 0;
    for number in 1..=CHAPTERS.len() {
        match verdict(number, options) {
            Verdict::Pass => {
                started += 1;
                lines.push(format!("  done      {}", title(number)));
                advance(number, options);
            }
            Verdict::Fail { line, diff } => {
                started += 1;
                lines.push(format!("  not yet   {}", title(number)));
                failures.push((number, line, diff));
            }
            Verdict::NotStarted => lines.push(format!("  -         {}", title(number))),
        }
    }
    say!("Progress:\n{}", lines.join("\n"));
    if started == 0 {
        say!("\n{}", not_started(1, options));
        return false;
    }
    let shown_failure = failures
        .iter()
        .position(|(number, ..)| Some(*number) == focus)
        .unwrap_or(0);
    match failures.get(shown_failure) {
        None if started == CHAPTERS.len() => {
            say!("\nEvery chapter passes.");
            true
        }
        None => {
            say!("\nEvery chapter started passes.");
            true
        }
        Some((number, line, diff)) => {
            print_failure(*number, line, diff);
            false
        }
    }
}

/// Once the attendee's chapter `number` passes, chapter `number + 1`'s
/// starter appears beside it (never over a file already there).
fn advance(number: usize, options: &Options) {
    if !matches!(options.whose, Whose::Attendee) || number == CHAPTERS.len() {
        return;
    }
    let next = own_file(&options.dir, number + 1);
    if next.exists() {
        return;
    }
    match next_starter(number + 1, &options.dir) {
        Ok((made, base)) => match fs::write(&next, &made.text) {
            Ok(()) => {
                let own = match yours(&made, base) {
                    Some(kept) => format!("; {kept}"),
                    None => String::new(),
                };
                say!("  → chapter {} is ready: {}{own}", number + 1, shown(&next));
            }
            Err(error) => complain!("{}: {error}", next.display()),
        },
        Err(error) => complain!("chapter {}: {error}", number + 1),
    }
}

/// What a starter keeps of the attendee's own base chapter, if anything.
fn yours(made: &starter::Made, base: usize) -> Option<String> {
    match (made.taken, made.kept) {
        (0, _) => None,
        (taken, kept) if taken == kept => Some(format!(
            "the code it keeps from chapter {base} is yours ({taken} lesson(s))"
        )),
        (taken, kept) => Some(format!(
            "the code it keeps from chapter {base} is yours where you wrote it ({taken} of \
             {kept} lessons), the reference's where yours is still a todo!"
        )),
    }
}

/// Chapter `number`'s starter: from the attendee's own version of the
/// chapter it builds on where there is one, else from the reference alone;
/// and that chapter's number.
fn next_starter(number: usize, dir: &Path) -> Result<(starter::Made, usize), String> {
    if !starter::has_starter(number) {
        return Err(format!(
            "no starter yet (its lessons cannot be cut from steps/{}.rs); \
             {} goes on after it",
            name(number),
            command(dir, &format!("start {}", number + 1))
        ));
    }
    let reference = fs::read_to_string(reference_file(number)).map_err(|e| e.to_string())?;
    let base = starter::base(number, &reference);
    let own_base = (base > 0)
        .then(|| fs::read_to_string(own_file(dir, base)).ok())
        .flatten();
    let mut made = match own_base {
        Some(own) => {
            let base_reference =
                fs::read_to_string(reference_file(base)).map_err(|e| e.to_string())?;
            starter::starter_from_own(number, &reference, &base_reference, &own)?
        }
        None => starter::Made {
            text: starter::starter(number, &reference)?,
            kept: 0,
            taken: 0,
        },
    };
    // The header's command checks this folder, `--dir` and all.
    let check = command(dir, &format!("check {number}"));
    made.text = starter::checked_with(&made.text, number, &check);
    Ok((made, base))
}

/// Makes the attendee's folder with chapter `number`'s starter in it.
fn start(number: usize, options: &Options) -> bool {
    let dir = &options.dir;
    if let Err(error) = fs::create_dir_all(dir) {
        complain!("{}: {error}", dir.display());
        return false;
    }
    let file = own_file(dir, number);
    if file.exists() {
        say!(
            "{} is already there; nothing changed ({} gives the starter back).",
            shown(&file),
            command(dir, &format!("reset {number}"))
        );
        return true;
    }
    let made = next_starter(number, dir).and_then(|(made, base)| {
        fs::write(&file, &made.text).map_err(|e| e.to_string())?;
        write_manifest(dir)?;
        Ok(yours(&made, base))
    });
    let kept = match made {
        Ok(kept) => kept,
        Err(error) => {
            complain!("{}: {error}", file.display());
            return false;
        }
    };
    say!("Your chapter {number} is {}.", shown(&file));
    match kept {
        Some(kept) => say!("You start at chapter {number}: {kept}."),
        None if number > 1 => say!(
            "You start at chapter {number}: the code it keeps from earlier chapters is the reference's."
        ),
        None => {}
    }
    say!(
        "Write each `// lesson:`, then {} (or {} to check on every save).",
        command(dir, &format!("check {number}")),
        command(dir, "watch")
    );
    true
}

/// What to write in chapter `number`, and the mistakes people make there.
fn hint(number: usize) -> String {
    let mut out = format!("Hint for chapter {number} ({}.rs):\n", name(number));
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
const MISTAKES: [&str; 15] = [
    "a request head ends at the first empty line; stop there, do not wait for the connection to close",
    "the GUID is 258EAFA5-E914-47DA-95CA-C5AB0DC85B11, appended to the key as text, hashed, then base64",
    "byte i is XORed with key[i % 4], in that order; the masked bytes must unmask to \"Can you hear me?\"",
    "the length counts bytes, not characters, with the mask bit clear: a server never masks",
    "126 means a 16-bit length follows, 127 a 64-bit one; each length in its shortest form",
    "binary is echoed as binary (opcode 2), and only text is checked for UTF-8",
    "a continuation needs a message to continue; its opcode comes from the first frame",
    "a ping is answered with a pong (opcode 10), at once, with the same payload",
    "the answer echoes the close code; an empty close gets an empty answer (1005 is never sent)",
    "the session does the protocol; the loop only echoes each complete message",
    "every member's messages go through its seat; leaving must free the seat",
    "the answer repeats what was accepted (no_context_takeover, server_max_window_bits); an offer you cannot honour is declined whole, and the next one tried",
    "read until WouldBlock and write what fits: an edge comes once, and a full socket is no error",
    "drop your own echoes by node id: your members already heard what you published",
    "a short read ends the turn only if no end of stream came with it; what the socket does not take waits, the header before its payload",
];

fn reset(number: usize, options: &Options) -> bool {
    let (text, kept) = match next_starter(number, &options.dir) {
        Ok((made, base)) => {
            let kept = yours(&made, base);
            (made.text, kept)
        }
        Err(error) => {
            complain!("chapter {number}: {error}");
            return false;
        }
    };
    let path = own_file(&options.dir, number);
    // Keep the attendee's work: nothing is lost by a reset typed by mistake.
    // Beside it, in its own folder: two folders' chapter 3 are two backups.
    if let Ok(old) = fs::read_to_string(&path)
        && old != text
    {
        match keep(&options.dir.join("backup"), number, &old) {
            Ok(backup) => say!("Your version is kept in {}.", shown(&backup)),
            Err(error) => {
                complain!("could not keep your version: {error}; nothing reset");
                return false;
            }
        }
    }
    match fs::write(&path, text)
        .map_err(|e| e.to_string())
        .and_then(|()| write_manifest(&options.dir))
    {
        Ok(()) => {
            match kept {
                Some(kept) => say!("{} is the starter again; {kept}.", shown(&path)),
                None => say!("{} is the starter again.", shown(&path)),
            }
            true
        }
        Err(error) => {
            complain!("{}: {error}", path.display());
            false
        }
    }
}

/// Keeps `text`, the attendee's chapter `number`, in `folder`: as
/// `NN-name.rs` the first time, then `NN-name.2.rs`, `NN-name.3.rs`, … so
/// that a second reset never writes over the first one's backup. A version
/// kept already is not kept twice. Returns where it is.
fn keep(folder: &Path, number: usize, text: &str) -> Result<PathBuf, String> {
    fs::create_dir_all(folder).map_err(|error| format!("{}: {error}", folder.display()))?;
    for count in 1.. {
        let backup = match count {
            1 => folder.join(format!("{}.rs", name(number))),
            _ => folder.join(format!("{}.{count}.rs", name(number))),
        };
        // Only a file made here and now is ours to write: never one there.
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&backup)
        {
            Ok(mut file) => {
                return file
                    .write_all(text.as_bytes())
                    .map(|()| backup.clone())
                    .map_err(|error| format!("{}: {error}", backup.display()));
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                if fs::read_to_string(&backup).is_ok_and(|kept| kept == text) {
                    return Ok(backup);
                }
            }
            Err(error) => return Err(format!("{}: {error}", backup.display())),
        }
    }
    Err(format!("{}: no free name", folder.display()))
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
            // No input to read an answer from (no terminal, standard input
            // closed) is no "no": nothing was asked of anyone, so the exit
            // status says it was not shown, and how to skip the question.
            if !matches!(io::stdin().lock().read_line(&mut answer), Ok(1..)) {
                say!("");
                complain!(
                    "no answer: standard input is closed, so nothing is shown; \
                     `--yes` shows it without asking"
                );
                return false;
            }
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

/// (Instructors) rewrites `workshop/NN-name.rs`, the starters as made
/// from the reference alone; Cargo builds them, so a lesson cut that
/// leaves a starter that does not compile cannot land.
fn generate() -> bool {
    let mut ok = true;
    for number in (1..=CHAPTERS.len()).filter(|&number| starter::has_starter(number)) {
        let made = fs::read_to_string(reference_file(number))
            .map_err(|error| error.to_string())
            .and_then(|reference| starter::starter(number, &reference));
        match made.and_then(|text| fs::write(starter_file(number), text).map_err(|e| e.to_string()))
        {
            Ok(()) => say!("workshop/{}.rs", name(number)),
            Err(error) => {
                complain!("steps/{}.rs: {error}", name(number));
                ok = false;
            }
        }
    }
    ok
}

/// The chapter file saved last in the attendee's folder, and when.
fn newest_change(folder: &Path) -> io::Result<(SystemTime, Option<usize>)> {
    let mut newest = (SystemTime::UNIX_EPOCH, None);
    for number in 1..=CHAPTERS.len() {
        let modified = match fs::metadata(own_file(folder, number)) {
            Ok(metadata) => metadata.modified()?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        if modified > newest.0 {
            newest = (modified, Some(number));
        }
    }
    Ok(newest)
}

/// Re-checks whenever a chapter in the attendee's folder is saved (its
/// modification time polled twice a second), or when Enter is pressed: the
/// fallback for file systems that do not keep modification times. The
/// chapter saved last is the one detailed, if it does not pass.
fn watch(options: &Options) -> bool {
    let folder = options.dir.clone();
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
        let focus = seen.and_then(|(_, chapter)| chapter);
        let all_pass = check_all(options, focus);
        say!(
            "\nWatching {} — save a chapter or press Enter to re-check, Ctrl-C to stop.",
            shown(&folder)
        );
        if all_pass && own_file(&folder, CHAPTERS.len()).exists() {
            return true;
        }
        loop {
            match pressed.recv_timeout(Duration::from_millis(500)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Input has ended (no terminal, or Ctrl-D): saves still count,
                // looked at twice a second as before.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    thread::sleep(Duration::from_millis(500));
                }
            }
            let now = newest_change(&folder).ok();
            if now.is_some() && now != seen {
                seen = now;
                break;
            }
        }
    }
}
