//! The workshop's checker (`cargo run --bin workshop`) against known
//! answers: the reference passes every chapter, the untouched starters
//! fail every chapter with their hints, and the mistakes the workshop's
//! guide lists, each made here from the reference by a one-line edit, are
//! named. What an attendee sees for a passing, a failing, a panicking and a
//! silent chapter is pinned in `snapshots/workshop/`.
//!
//! The reference and the starters use the binaries `cargo test` has
//! already built (`--no-build`); a mistake is written into an attendee
//! folder of its own under `target/workshop-tests/`, which the checker
//! builds as it builds an attendee's. `.ci/run` also runs the checker on a
//! fresh folder holding every reference chapter, as an attendee would.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

#[path = "../workshop/checker/starter.rs"]
#[allow(dead_code)]
mod starter;

use starter::CHAPTERS;

const CHECKER: &str = env!("CARGO_BIN_EXE_workshop");

/// Runs the checker; returns whether it exited 0, and what it printed.
fn checker(args: &[&str]) -> (bool, String) {
    // Chapter 14 goes through Redis and a second server: under a loaded
    // machine (a whole `cargo test`), a step may take over a second. So
    // may any step of the reference, which must pass whatever the load;
    // the short timeout is for the mistakes, which time out on purpose.
    let timeout = if args.contains(&"14") || args.contains(&"--reference") {
        "5000"
    } else {
        "1000"
    };
    let output = Command::new(CHECKER)
        .args(args)
        .env("WORKSHOP_TIMEOUT_MS", timeout)
        .output()
        .expect("the checker runs");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

macro_rules! assert_checker_snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            snapshot_path => "../snapshots/workshop",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

#[test]
fn the_reference_passes_every_chapter() {
    // Chapter 14 needs Redis: `the_reference_passes_chapter_14`.
    for number in (1..=CHAPTERS.len()).filter(|&number| number != 14) {
        let chapter = number.to_string();
        let (passed, said) = checker(&["check", &chapter, "--reference", "--no-build"]);
        assert!(passed, "chapter {number}:\n{said}");
        assert!(said.contains("passes"), "{said}");
    }
}

#[test]
fn a_passing_chapter() {
    let (passed, said) = checker(&["check", "3", "--reference", "--no-build"]);
    assert!(passed, "{said}");
    assert_checker_snapshot!("passing", said);
}

#[test]
fn untouched_starters_are_all_unfinished_with_their_hints() {
    let (passed, said) = checker(&["--starters", "--no-build"]);
    assert!(!passed, "{said}");
    // Every chapter has a starter; chapter 14 fails with or without Redis.
    assert_eq!(said.matches("  not yet   chapter").count(), 15, "{said}");
    // The first unfinished chapter is shown: the todo! it reached, the
    // narration it never printed, its hint.
    assert_checker_snapshot!("panicking", said);
    // Chapter 14 needs Redis: `chapter_14s_starter_is_unfinished`.
    for number in
        (1..=CHAPTERS.len()).filter(|&number| number != 14 && starter::has_starter(number))
    {
        let chapter = number.to_string();
        let (passed, said) = checker(&["check", &chapter, "--starters", "--no-build"]);
        assert!(!passed, "chapter {number} passes untouched:\n{said}");
        assert!(
            said.contains("your code reached a todo!"),
            "chapter {number}:\n{said}"
        );
        assert!(
            said.contains(&format!("Hint for chapter {number} ")),
            "{said}"
        );
    }
}

/// A folder of its own for one test, under the target folder (so two
/// worktrees or two runs never share one), emptied first.
fn folder(label: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/workshop-tests/{label}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The reference chapter `number` with `wrong` (there exactly once)
/// replaced by `instead`, written as an attendee's chapter and checked.
fn mistake(label: &str, number: usize, wrong: &str, instead: &str) -> (bool, String) {
    let name = CHAPTERS[number - 1];
    let reference = read(&format!("steps/{name}.rs"));
    assert_eq!(
        reference.matches(wrong).count(),
        1,
        "{wrong:?} is not in steps/{name}.rs exactly once"
    );
    let dir = folder(label);
    fs::write(
        dir.join(format!("{name}.rs")),
        reference.replacen(wrong, instead, 1),
    )
    .unwrap();
    let chapter = number.to_string();
    let result = checker(&["check", &chapter, "--dir", dir.to_str().unwrap()]);
    // The checker's one line, for the record (`--nocapture` shows them).
    let line = result
        .1
        .lines()
        .find(|line| line.starts_with('✗'))
        .unwrap_or_default();
    println!("{label}: {line}");
    for detail in result
        .1
        .lines()
        .filter(|line| line.starts_with("  differs:"))
    {
        println!("{label}: {detail}");
    }
    result
}

fn read(path: &str) -> String {
    fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn a_lowercase_guid_is_named() {
    let (passed, said) = mistake(
        "lowercase-guid",
        2,
        "sha1.update(WEBSOCKET_GUID.as_bytes());",
        "sha1.update(WEBSOCKET_GUID.to_lowercase().as_bytes());",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("wrong Sec-WebSocket-Accept"), "{said}");
    assert!(said.contains("d9WHst60HtB4IvjOVevrexl0oLA="), "{said}");
    assert_checker_snapshot!(
        "failing",
        said.replace(&*folder_text("lowercase-guid"), "FOLDER")
    );
}

/// Chapter `number`'s starter as generated, as the checker writes it into
/// the test folder `label`: its header's command checks that folder.
fn starter_in(label: &str, number: usize) -> String {
    let plain = format!("`cargo run --bin workshop -- check {number}`");
    let here =
        format!("`cargo run --bin workshop -- check {number} --dir target/workshop-tests/{label}`");
    let starter = read(&format!("workshop/{}.rs", CHAPTERS[number - 1]));
    assert_eq!(starter.matches(&plain).count(), 1, "{starter}");
    starter.replacen(&plain, &here, 1)
}

/// How a test's folder appears in the checker's output.
fn folder_text(label: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/workshop-tests/{label}"))
        .display()
        .to_string()
}

#[test]
fn a_200_for_a_101_is_no_101() {
    let (passed, said) = mistake(
        "no-101",
        2,
        r#"response.push_str("HTTP/1.1 101 Switching Protocols\r\n");"#,
        r#"response.push_str("HTTP/1.1 200 OK\r\n");"#,
    );
    assert!(!passed, "{said}");
    assert!(said.contains("no 101"), "{said}");
    assert!(said.contains("got \"HTTP/1.1 200 OK"), "{said}");
}

#[test]
fn a_wrong_mask_order_is_named() {
    let (passed, said) = mistake(
        "mask-order",
        3,
        "*byte ^= key[i % 4];",
        "*byte ^= key[3 - i % 4];",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("expected \"Unmasked the data: [67, 97, 110, 32,"),
        "{said}"
    );
}

#[test]
fn a_length_in_characters_is_named() {
    let (passed, said) = mistake(
        "length-in-characters",
        4,
        "bytes.push(payload.len() as u8);",
        "bytes.push(text.chars().count() as u8);",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("Très bien"), "{said}");
    assert!(
        said.contains("that length counts characters; a frame's length counts bytes"),
        "{said}"
    );
}

#[test]
fn binary_for_text_is_named_by_opcode() {
    let (passed, said) = mistake(
        "binary-for-text",
        4,
        "let opcode = Opcode::Text.bits();",
        "let opcode = Opcode::Binary.bits();",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("differs:  opcode 2 (binary), expected opcode 1 (text)"),
        "{said}"
    );
}

#[test]
fn a_7_bit_length_for_126_bytes_is_an_answer_cut_short() {
    let (passed, said) = mistake(
        "seven-bits-for-126",
        5,
        "if length <= 125 {",
        "if length <= 126 {",
    );
    assert!(!passed, "{said}");
    assert!(!said.contains("no answer"), "{said}");
    assert!(said.contains("an answer cut short"), "{said}");
    assert!(
        said.contains("length 24929 (126, then 16-bit [97, 97]), expected length 126 (126, then 16-bit [0, 126])"),
        "{said}"
    );
}

#[test]
fn a_stray_continuation_accepted_is_named() {
    let (passed, said) = mistake(
        "stray-continuation",
        7,
        "(Opcode::Continuation, None) => return Err(Violation::NothingToContinue),",
        "",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("a continuation frame with no message to continue must be refused"),
        "{said}"
    );
}

#[test]
fn a_ping_answered_with_a_ping_is_named() {
    let (passed, said) = mistake(
        "ping-for-ping",
        8,
        "answer: Opcode::Pong,",
        "answer: Opcode::Ping,",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("wrong frame for the pong for a ping between two fragments"),
        "{said}"
    );
    assert!(
        said.contains("differs:  opcode 9 (ping), expected opcode 10 (pong)"),
        "{said}"
    );
    // What was sent is the step's ping, not the checker's pong to the
    // server's own ping.
    assert!(
        said.contains("opcode 9 (ping), FIN 1, RSV 000, masked with key [1, 2, 3, 4] (shown unmasked), length 11 (7-bit): \"still here?\""),
        "{said}"
    );
    assert!(
        !said.contains("opcode 10 (pong), FIN 1, RSV 000, masked"),
        "{said}"
    );
}

#[test]
fn a_close_code_1005_on_the_wire_is_named() {
    let (passed, said) = mistake(
        "close-1005",
        9,
        "None => Vec::new(),",
        "None => 1005u16.to_be_bytes().to_vec(),",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("1005 is never sent"), "{said}");
    assert!(said.contains("code 1005 (no status code"), "{said}");
}

#[test]
fn a_close_answer_may_echo_the_reason() {
    let (passed, said) = mistake(
        "close-echoes-reason",
        9,
        "Some(code) => code.0.to_be_bytes().to_vec(),",
        "Some(code) => [&code.0.to_be_bytes()[..], received.reason.as_bytes()].concat(),",
    );
    assert!(passed, "{said}");
}

#[test]
fn a_silent_chapter_times_out_plainly() {
    let (passed, said) = mistake(
        "silent",
        4,
        "connection.writer.write_all(&bytes)?;",
        "std::thread::sleep(std::time::Duration::from_secs(60));",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("no answer within 1 s"), "{said}");
    assert_checker_snapshot!("silent", said.replace(&*folder_text("silent"), "FOLDER"));
}

#[test]
fn a_server_that_exits_is_said_to_have_exited() {
    let (passed, said) = mistake(
        "exits",
        5,
        "conversation::start(connection, None)?;",
        "std::process::exit(3);",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("your server exited (exit status: 3)"),
        "{said}"
    );
}

/// An attendee's way through: `start` makes chapter 1; once it passes,
/// chapter 2 appears; a chapter 3 written in the attendee's own words
/// carries over into chapter 4's starter, lesson by lesson.
#[test]
fn each_starter_comes_from_the_chapter_before() {
    let dir = folder("attendee");
    let dir_text = dir.to_str().unwrap();
    let (passed, said) = checker(&["start", "--dir", dir_text]);
    assert!(passed, "{said}");
    assert!(dir.join("01-print-request.rs").exists());
    assert!(!dir.join("02-handshake.rs").exists());
    // The commands it suggests name the folder.
    assert!(
        said.contains("`cargo run --bin workshop -- check 1 --dir target/workshop-tests/attendee`"),
        "{said}"
    );
    let (passed, said) = checker(&["check", "2", "--dir", dir_text]);
    assert!(!passed);
    assert!(said.contains("it appears when chapter 1 passes"), "{said}");
    assert!(
        said.contains("`cargo run --bin workshop -- start 2 --dir target/workshop-tests/attendee`"),
        "{said}"
    );

    // Chapter 3 answered in the attendee's own way.
    let reference = read("steps/03-read-frame.rs");
    let own = reference.replace(
        "    for (i, byte) in data.iter_mut().enumerate() {\n        *byte ^= key[i % 4];\n    }\n",
        "    let mut position = 0;\n    while position < data.len() {\n        data[position] ^= key[position % 4];\n        position += 1;\n    }\n",
    );
    assert_ne!(own, reference);
    fs::write(dir.join("03-read-frame.rs"), own).unwrap();
    let (passed, said) = checker(&["check", "3", "--dir", dir_text]);
    assert!(passed, "{said}");
    assert!(said.contains("chapter 4 is ready"), "{said}");
    let next = fs::read_to_string(dir.join("04-reply.rs")).unwrap();
    assert!(
        next.contains("data[position] ^= key[position % 4];"),
        "{next}"
    );
    assert!(!next.contains("*byte ^= key[i % 4];"), "{next}");
    // Chapter 4's own lesson is still to write.
    assert!(next.contains("todo!(\"0b1000_0001 (FIN, text)"), "{next}");
}

/// A chapter that builds on an earlier one than the chapter before it
/// starts from the attendee's own version of that one: chapter 15 from
/// chapter 13, not 14.
#[test]
fn a_starter_comes_from_the_attendees_own_base_chapter() {
    let dir = folder("attendee-base");
    let dir_text = dir.to_str().unwrap();
    let reference = read("steps/13-event-loop.rs");
    let own = reference.replace(
        "registered.map_err(cannot)?;",
        "registered.map_err(|error| cannot(error))?;",
    );
    assert_ne!(own, reference);
    fs::write(dir.join("13-event-loop.rs"), own).unwrap();
    let (passed, said) = checker(&["start", "15", "--dir", dir_text]);
    assert!(passed, "{said}");
    let fifteenth = fs::read_to_string(dir.join("15-tuned.rs")).unwrap();
    assert!(
        fifteenth.contains("registered.map_err(|error| cannot(error))?;"),
        "{fifteenth}"
    );
    // Chapter 15's own lessons are still to write.
    assert!(
        fifteenth.contains("todo!(\"a short read ends the turn"),
        "{fifteenth}"
    );
}

#[test]
fn a_missing_binary_is_said_plainly() {
    let (passed, said) = checker(&["check", "1", "--binary", "/nonexistent/chapter"]);
    assert!(!passed);
    assert!(
        said.contains("/nonexistent/chapter does not start"),
        "{said}"
    );
}

#[test]
fn bad_arguments_are_refused_saying_what_is_wrong() {
    for (args, said) in [
        (&["check"][..], "<N>"),
        (&["check", "16"], "chapters are 1 to 15"),
        (&["hint", "0"], "chapters are 1 to 15"),
        (&["frobnicate"], "'frobnicate'"),
        (&["check", "3", "--reference", "--starters"], "--starters"),
    ] {
        let output = Command::new(CHECKER).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(stderr.contains("--help"), "{args:?}: {stderr}");
    }
}

#[test]
fn hint_and_solution_show_the_lesson() {
    let (passed, said) = checker(&["hint", "3"]);
    assert!(passed);
    assert!(said.contains("key byte at its position modulo 4"), "{said}");
    let (passed, said) = checker(&["solution", "3", "--yes"]);
    assert!(passed);
    assert!(said.contains("*byte ^= key[i % 4];"), "{said}");
}

#[test]
fn solution_asks_first_while_the_chapter_does_not_pass() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(CHECKER)
        .args(["solution", "3", "--starters", "--no-build"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("Chapter 3 does not pass yet."), "{said}");
    assert!(said.contains("Not shown."), "{said}");
    assert!(!said.contains("key[i % 4]"), "{said}");
}

/// A stand-in for an attendee's server, as a shell script: it lets the
/// checker meet a server that claims a port nobody listens on, or says
/// nothing at all.
#[cfg(unix)]
fn script(name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!("workshop-{}-{name}", std::process::id()));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn a_server_that_does_not_listen_is_said_plainly() {
    // Port 9 (discard) on loopback: nothing of ours listens there.
    let claims = script(
        "claims",
        "echo 'Listening on ws://localhost:9 (open http://localhost:9 in a browser)' >&2\nexec sleep 5",
    );
    let (passed, said) = checker(&["check", "2", "--binary", claims.to_str().unwrap()]);
    assert!(!passed, "{said}");
    assert!(said.contains("nothing listens on port 9"), "{said}");

    let mute = script("mute", "exec sleep 5");
    let (passed, said) = checker(&["check", "2", "--binary", mute.to_str().unwrap()]);
    assert!(!passed, "{said}");
    assert!(
        said.contains("your server printed nothing for 1 s"),
        "{said}"
    );
    let _ = std::fs::remove_file(claims);
    let _ = std::fs::remove_file(mute);
}

/// A server that prints on standard output what chapters print on
/// standard error is not said to print nothing: the checker shows what
/// it printed, and where.
#[cfg(unix)]
#[test]
fn a_server_that_prints_on_standard_output_is_said_so() {
    let stdout = script(
        "stdout",
        "echo 'Listening on ws://localhost:9 (open http://localhost:9 in a browser)'\nexec sleep 5",
    );
    let (passed, said) = checker(&["check", "2", "--binary", stdout.to_str().unwrap()]);
    let _ = std::fs::remove_file(stdout);
    assert!(!passed, "{said}");
    assert!(
        said.contains(
            "on standard output, not standard error: \"Listening on ws://localhost:9 (open"
        ),
        "{said}"
    );
}

/// `watch` runs until every chapter passes: stopped however the test ends.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `watch` details the chapter saved last, not the first unfinished one: a
/// late arrival working on chapter 2 with chapter 1 unfinished sees
/// chapter 2's failure on every save.
#[cfg(unix)]
#[test]
fn watch_follows_the_chapter_saved_last() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Duration;

    let dir = folder("watch");
    let dir_text = dir.to_str().unwrap();
    assert!(checker(&["start", "--dir", dir_text]).0);
    assert!(checker(&["start", "2", "--dir", dir_text]).0);
    let mut child = Stopped(
        Command::new(CHECKER)
            .args(["watch", "--dir", dir_text])
            .env("WORKSHOP_TIMEOUT_MS", "1000")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    // The details printed before the next "Watching" line.
    let mut round = || -> Vec<String> {
        let mut said = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.starts_with("Watching ") {
                break;
            }
            said.push(line);
        }
        said
    };
    let first = round();
    assert!(
        first.iter().any(|line| line.starts_with("✗ chapter  2")),
        "{first:?}"
    );
    // Chapter 1 saved: its failure is the one shown.
    std::thread::sleep(Duration::from_millis(1100));
    let chapter_1 = dir.join("01-print-request.rs");
    let text = fs::read_to_string(&chapter_1).unwrap();
    fs::write(&chapter_1, text + "\n").unwrap();
    let second = round();
    drop(child);
    assert!(
        second.iter().any(|line| line.starts_with("✗ chapter  1")),
        "{second:?}"
    );
    assert!(
        !second.iter().any(|line| line.starts_with("✗ chapter  2")),
        "{second:?}"
    );
}

#[test]
fn an_answer_that_drops_an_accepted_parameter_is_named() {
    let (passed, said) = mistake(
        "deflate-answer",
        12,
        "answer.push_str(\"; server_no_context_takeover\");",
        "",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("wrong Sec-WebSocket-Extensions for the offer"),
        "{said}"
    );
    assert!(
        said.contains(
            "expected \"permessage-deflate; server_no_context_takeover\" [112, 101, 114, 109, 101"
        ),
        "{said}"
    );
}

#[test]
fn a_window_of_16_bits_accepted_is_named() {
    let (passed, said) = mistake(
        "deflate-window",
        12,
        "(8..=15).contains(bits)",
        "(8..=16).contains(bits)",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("wrong Sec-WebSocket-Extensions for the offer"),
        "{said}"
    );
    assert!(
        said.contains("got \"permessage-deflate; server_max_window_bits=16\""),
        "{said}"
    );
}

#[test]
fn a_drained_socket_taken_for_an_error_is_named() {
    // Chapter 13's read path: WouldBlock means "nothing more for now".
    let (passed, said) = mistake(
        "loop-would-block",
        13,
        "Err(error) if error.kind() == io::ErrorKind::WouldBlock => return false,\n                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,",
        "Err(error) if error.kind() == io::ErrorKind::WouldBlock => (0, Some(error)),\n                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("the connection closed before a whole response head"),
        "{said}"
    );
}

/// Chapter 13's read path: one read per edge. The rest of a long message
/// stays in the socket, no edge comes for it, and the server stops taking
/// what the checker sends: the checker says so, and what it was sending.
#[test]
fn one_read_per_edge_is_said_to_stop_reading() {
    let (passed, said) = mistake(
        "loop-read-once",
        13,
        "            }\n        }\n        // Not stopped by `WouldBlock`: its turn is over, with more to read.\n        self.reads() && !self.done",
        "            }\n            break;\n        }\n        false",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("the server stopped reading: it took ")
            && said.contains(" bytes of the 8388622 sent, then nothing for 1 s"),
        "{said}"
    );
    assert!(
        said.contains("sent      a frame: opcode 1 (text), FIN 1, RSV 000, masked"),
        "{said}"
    );
    assert!(!said.contains("os error"), "{said}");
}

#[test]
fn a_partial_write_taken_for_whole_is_named() {
    // Chapter 13's write path: what did not fit must wait for the next edge.
    let (passed, said) = mistake(
        "loop-partial-write",
        13,
        "if self.written == bytes.len() {",
        "if self.written > 0 {",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("an answer cut short"), "{said}");
    assert!(
        said.contains(
            "got       a frame: opcode 1 (text), FIN 1, RSV 000, unmasked, length 8388608"
        ),
        "{said}"
    );
}

#[test]
fn a_short_read_that_hides_the_peers_end_is_named() {
    // Chapter 15's read path: a short read ends the turn only when no end
    // of stream came with the edge, for no later edge will tell of it.
    let (passed, said) = mistake(
        "tuned-short-read",
        15,
        "if count < asked && !ended {",
        "if count < asked {",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("then ended its stream (shutdown): the server must hang up at once"),
        "{said}"
    );
}

/// Whether `redis-server` runs here: chapter 14's checks need it.
fn redis_installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test workshop_checker -- --ignored"]
fn the_reference_passes_chapter_14() {
    assert!(redis_installed(), "redis-server is not installed");
    let (passed, said) = checker(&["check", "14", "--reference", "--no-build"]);
    assert!(passed, "{said}");
    assert!(said.contains("passes"), "{said}");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test workshop_checker -- --ignored"]
fn chapter_14s_starter_is_unfinished() {
    assert!(redis_installed(), "redis-server is not installed");
    let (passed, said) = checker(&["check", "14", "--starters", "--no-build"]);
    assert!(!passed, "{said}");
    assert!(said.contains("your code reached a todo!"), "{said}");
    assert!(said.contains("Hint for chapter 14 "), "{said}");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test workshop_checker -- --ignored"]
fn our_own_echoes_heard_back_are_named() {
    assert!(redis_installed(), "redis-server is not installed");
    let (passed, said) = mistake(
        "cluster-own-echoes",
        14,
        "if envelope.node == self.node {",
        "if envelope.node.is_empty() {",
    );
    assert!(!passed, "{said}");
    // Ada's own message, heard back through Redis as if from another
    // server, arrives where Bob's was expected. (Her own join heard back
    // is no news: a member here has that name.)
    assert!(said.contains("a different chat message"), "{said}");
    assert!(said.contains(r#"expected "Bob: Hi Ada <3""#), "{said}");
    assert!(
        said.contains(r#"got "{\"from\":\"Ada\",\"text\":\"Hello, Bob!\",\"type\":\"message\"}""#),
        "{said}"
    );
}

#[test]
fn without_redis_chapter_14_says_so_plainly() {
    // A PATH with no redis-server on it.
    let output = Command::new(CHECKER)
        .args(["check", "14", "--reference", "--no-build"])
        .env("PATH", "/nonexistent")
        .env("WORKSHOP_TIMEOUT_MS", "1000")
        .output()
        .expect("the checker runs");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("chapter 14 needs redis-server, which is not installed here"),
        "{said}"
    );
}

/// A late arrival who starts at chapter 3, then at chapter 4 before
/// writing chapter 3: where chapter 3 is still a `todo!`, chapter 4's
/// starter holds the reference's code (a `todo!` there would stand outside
/// any lesson), and the checker says whose code it keeps.
#[test]
fn starting_ahead_of_an_unfinished_chapter_keeps_no_todo_of_it() {
    let dir = folder("ahead");
    let dir_text = dir.to_str().unwrap();
    assert!(checker(&["start", "3", "--dir", dir_text]).0);
    let (passed, said) = checker(&["start", "4", "--dir", dir_text]);
    assert!(passed, "{said}");
    assert!(
        said.contains("the code it keeps from earlier chapters is the reference's"),
        "{said}"
    );
    let fourth = fs::read_to_string(dir.join("04-reply.rs")).unwrap();
    assert_eq!(fourth, starter_in("ahead", 4));
    assert_eq!(fourth.matches("todo!(").count(), 1, "{fourth}");
    assert!(fourth.contains("*byte ^= key[i % 4];"), "{fourth}");

    // One of chapter 3's lessons answered: that one is the attendee's.
    let third = dir.join("03-read-frame.rs");
    let todo = "    todo!(\"XOR each byte of data with the key byte at its position modulo 4\")\n";
    let own = "    let mut position = 0;\n    while position < data.len() {\n        data[position] ^= key[position % 4];\n        position += 1;\n    }\n";
    let text = fs::read_to_string(&third).unwrap();
    assert_eq!(text.matches(todo).count(), 1, "{text}");
    fs::write(&third, text.replace(todo, own)).unwrap();
    fs::remove_file(dir.join("04-reply.rs")).unwrap();
    let (passed, said) = checker(&["start", "4", "--dir", dir_text]);
    assert!(passed, "{said}");
    assert!(
        said.contains(
            "the code it keeps from chapter 3 is yours where you wrote it (1 of 6 lessons)"
        ),
        "{said}"
    );
    let fourth = fs::read_to_string(dir.join("04-reply.rs")).unwrap();
    assert_eq!(fourth.matches("todo!(").count(), 1, "{fourth}");
    assert!(
        fourth.contains("data[position] ^= key[position % 4];"),
        "{fourth}"
    );
    assert!(!fourth.contains("*byte ^= key[i % 4];"), "{fourth}");
}

/// `reset` keeps the attendee's version in their own folder, so that two
/// folders (two attendees on one machine) never overwrite each other's.
#[test]
fn reset_keeps_each_folders_version_in_that_folder() {
    let mut kept = Vec::new();
    for who in ["reset-ada", "reset-grace"] {
        let dir = folder(who);
        let dir_text = dir.to_str().unwrap();
        assert!(checker(&["start", "1", "--dir", dir_text]).0);
        let own = dir.join("01-print-request.rs");
        let text = format!("{}// {who} was here\n", fs::read_to_string(&own).unwrap());
        fs::write(&own, &text).unwrap();
        let (passed, said) = checker(&["reset", "1", "--dir", dir_text]);
        assert!(passed, "{said}");
        let backup = dir.join("backup/01-print-request.rs");
        assert_eq!(fs::read_to_string(&backup).unwrap(), text, "{said}");
        assert_eq!(fs::read_to_string(&own).unwrap(), starter_in(who, 1));
        kept.push(backup);
    }
    assert_ne!(kept[0], kept[1]);
}

/// A stand-in for a server that answers the upgrade with its `101`, then
/// sends frames without end (64 MiB at most, so that a checker that reads
/// it all still ends): the checker cuts it off and says so, its memory
/// and its time bounded.
#[cfg(unix)]
#[test]
fn a_server_that_keeps_sending_is_cut_off() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{Ipv4Addr, TcpListener};

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // The page, then the upgrade: chapter 2's two connections.
        for stream in listener.incoming().take(2) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                head.push_str(&line);
                line.clear();
            }
            if !head.contains("Upgrade: websocket") {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
                continue;
            }
            let _ = stream.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Accept: d9WHst60HtB4IvjOVevrexl0oLA=\r\n\r\n",
            );
            let frame = [&[0x82, 126, 0x40, 0x00][..], &[0; 0x4000]].concat();
            for _ in 0..4096 {
                if stream.write_all(&frame).is_err() {
                    break;
                }
            }
        }
    });
    let floods = script(
        "floods",
        &format!(
            "echo 'Listening on ws://localhost:{port} (open http://localhost:{port} in a browser)' >&2\nexec sleep 10"
        ),
    );
    let (passed, said) = checker(&["check", "2", "--binary", floods.to_str().unwrap()]);
    let _ = std::fs::remove_file(floods);
    assert!(!passed, "{said}");
    assert!(
        said.contains("the server did not hang up: it kept sending ("),
        "{said}"
    );
}

/// A chat message that never comes is shown as the text frame it stands
/// for, not its summary read as a frame's bytes; and what was sent is what
/// the failing step sent, even from another member.
#[test]
fn a_chat_message_that_never_comes_is_shown_as_text() {
    let (passed, said) = mistake("chat-unheard", 11, "seat.handle(room, &message)", "Ok(())");
    assert!(!passed, "{said}");
    assert!(
        said.contains("no answer within 1 s: expected a frame"),
        "{said}"
    );
    assert!(
        said.contains("expected  a frame: opcode 1 (text), FIN 1, RSV 000, unmasked, length 11 (7-bit): \"welcome Ada\""),
        "{said}"
    );
    assert!(!said.contains("reserved opcode"), "{said}");

    // What Bob says never reaches Ada: "sent" is Bob's message, the step
    // that failed, not the last thing Ada sent.
    let (passed, said) = mistake(
        "chat-bob-unheard",
        11,
        "seat.handle(room, &message)",
        "if message.payload.ends_with(b\"<3\\\",\\\"type\\\":\\\"say\\\"}\") { Ok(()) } else { seat.handle(room, &message) }",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("\"Bob: Hi Ada <3\""), "{said}");
    let sent = said
        .lines()
        .find(|line| line.starts_with("  sent"))
        .unwrap_or_default();
    assert!(sent.contains("Hi Ada <3"), "{said}");
    assert!(!sent.contains("Hello, Bob!"), "{said}");
}

/// Each rule a lesson teaches that the narrated scenario does not reach,
/// broken by a one-line edit of the reference: the checker names it.
#[test]
fn rules_the_lessons_teach_are_checked() {
    for (label, number, wrong, instead, named) in [
        (
            "unmasked-accepted",
            4,
            "    let Some(key) = header.mask else {\n        return Err(Violation::Unmasked.into());\n    };",
            "    let key = header.mask.unwrap_or([0; 4]);",
            "an unmasked frame must be refused",
        ),
        (
            "reserved-bit-accepted",
            4,
            "    if header.rsv != 0 {\n        return Err(Violation::ReservedBits(header.rsv).into());\n    }\n",
            "",
            "a frame with a reserved bit set must be refused",
        ),
        (
            "top-bit-accepted",
            5,
            "if length >> 63 != 0 {",
            "if false {",
            "a 64-bit length with its top bit set must be refused",
        ),
        (
            "64-bit-for-16",
            5,
            "if length <= 0xFFFF {\n                let field = LengthField::Extended64;",
            "if length < 0xFFFF {\n                let field = LengthField::Extended64;",
            "a length of 65535 written in the 64-bit form must be refused",
        ),
        (
            "invalid-utf8-echoed",
            6,
            "Opcode::Text if std::str::from_utf8(payload).is_err() => Err(Violation::InvalidUtf8.into()),",
            "",
            "a text message that is not UTF-8 must be refused with 1007",
        ),
        (
            "interrupted-message",
            7,
            "(opcode @ (Opcode::Text | Opcode::Binary), Some(_)) => {\n            return Err(Violation::MessageInterrupted(opcode));\n        }",
            "",
            "a text frame inside an unfinished message must be refused",
        ),
        (
            "limit-per-frame",
            7,
            "let size = buffered + header.payload_len;",
            "let size = header.payload_len;",
            "the limit is on the whole message",
        ),
        (
            "fragmented-ping",
            8,
            "    if !header.fin {\n        return Err(Violation::FragmentedControl(header.opcode));\n    }",
            "",
            "a fragmented ping must be refused",
        ),
        (
            "close-1005-accepted",
            9,
            "matches!(code.0, 1000..=1003 | 1007..=1014 | 3000..=4999)",
            "matches!(code.0, 1000..=4999)",
            "close code 1005 must be refused with 1002",
        ),
        (
            "close-1015-accepted",
            9,
            "matches!(code.0, 1000..=1003 | 1007..=1014 | 3000..=4999)",
            "matches!(code.0, 1000..=1003 | 1007..=1015 | 3000..=4999)",
            "close code 1015 must be refused with 1002",
        ),
        (
            "close-1014-refused",
            9,
            "matches!(code.0, 1000..=1003 | 1007..=1014 | 3000..=4999)",
            "matches!(code.0, 1000..=1003 | 1007..=1011 | 3000..=4999)",
            "wrong frame for the answer to close 1014",
        ),
        (
            "close-always-1000",
            9,
            "Some(code) => code.0.to_be_bytes().to_vec(),",
            "Some(_) => 1000u16.to_be_bytes().to_vec(),",
            "wrong frame for the answer to close 1001",
        ),
        (
            "one-byte-close",
            9,
            "[_] => refuse(CloseFrameError::OneByte),",
            "[_] => Ok(CloseFrame { code: None, reason: String::new() }),",
            "a close frame whose payload is one byte must be refused with 1002",
        ),
        (
            "close-reason-not-utf8",
            9,
            "let Ok(reason) = std::str::from_utf8(reason) else {\n                return refuse(CloseFrameError::ReasonNotUtf8);\n            };\n            let reason = reason.to_string();",
            "let reason = String::from_utf8_lossy(reason).into_owned();",
            "a close reason that is not UTF-8 must be refused with 1007",
        ),
    ] {
        let (passed, said) = mistake(label, number, wrong, instead);
        assert!(!passed, "{label}: chapter {number} passes:\n{said}");
        assert!(said.contains(named), "{label}:\n{said}");
    }
}

/// A panic hangs up, which is no refusal: the verdict is the panic.
#[test]
fn a_panic_on_a_frame_to_refuse_is_named() {
    let (passed, said) = mistake(
        "panic-for-refusal",
        7,
        "(Opcode::Continuation, None) => return Err(Violation::NothingToContinue),",
        "(Opcode::Continuation, None) => panic!(\"nothing to continue\"),",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("your code panicked at "), "{said}");
    assert!(said.contains("07-fragmented-messages.rs:"), "{said}");
    assert!(said.contains(": nothing to continue"), "{said}");
    assert!(
        said.contains("checking: a continuation frame with no message to continue"),
        "{said}"
    );
}

/// `watch` with its input ended (no terminal, or Ctrl-D typed) waits for
/// saves as it does with one, twice a second, instead of spinning: its
/// CPU time over two seconds of waiting stays far below one second.
#[cfg(target_os = "linux")]
#[test]
fn watch_without_input_does_not_spin() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Duration;

    let dir = folder("watch-no-input");
    let dir_text = dir.to_str().unwrap();
    assert!(checker(&["start", "--dir", dir_text]).0);
    let mut child = Stopped(
        Command::new(CHECKER)
            .args(["watch", "--dir", dir_text])
            .env("WORKSHOP_TIMEOUT_MS", "1000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    for line in lines {
        if line.unwrap().starts_with("Watching ") {
            break;
        }
    }
    // Clock ticks (a hundredth of a second) the process spent running, in
    // user space and in the kernel: /proc/PID/stat's 14th and 15th fields.
    let pid = child.0.id();
    let cpu = || -> u64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu() - before;
    drop(child);
    assert!(spent < 50, "watch ran {spent} ticks in 2 s of waiting");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test workshop_checker -- --ignored"]
fn chapter_14s_redis_leaves_no_folder_behind() {
    assert!(redis_installed(), "redis-server is not installed");
    let child = Command::new(CHECKER)
        .args(["check", "14", "--reference", "--no-build"])
        .env("WORKSHOP_TIMEOUT_MS", "5000")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The checker names its Redis's folder after its own process id.
    let prefix = format!("workshop-redis-{}-", child.id());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let left: Vec<String> = fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A stand-in for a chapter whose debugging output never stops (a print
/// in a loop), on standard error beside its narration, while the checker
/// waits for an answer that does not come: the checker keeps only the
/// start of that output, its memory bounded, and its verdict shows a few
/// of those lines, not hundreds, with how many more there were.
#[cfg(target_os = "linux")]
#[test]
fn a_server_that_floods_its_output_is_cut_short() {
    use std::net::{Ipv4Addr, TcpListener};
    use std::time::{Duration, Instant};

    // Connections are taken but never answered.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let floods = script(
        "floods-output",
        &format!(
            "echo 'Listening on ws://localhost:{port} (open http://localhost:{port} in a browser)' >&2\n\
             exec yes 'debug: still hashing the key' >&2"
        ),
    );
    let mut child = Stopped(
        Command::new(CHECKER)
            .args(["check", "2", "--binary", floods.to_str().unwrap()])
            .env("WORKSHOP_TIMEOUT_MS", "1000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The checker's peak memory, read while it runs: VmHWM in
    // /proc/PID/status.
    let status = format!("/proc/{}/status", child.0.id());
    let mut peak_kib = 0u64;
    let started = Instant::now();
    while child.0.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(30) {
        let text = fs::read_to_string(&status).unwrap_or_default();
        if let Some(kib) = text
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches(" kB").parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut said).unwrap();
    drop(child);
    drop(listener);
    let _ = fs::remove_file(floods);
    assert!(peak_kib < 64 * 1024, "the checker grew to {peak_kib} KiB");
    assert!(said.contains("the page request got no page"), "{said}");
    let flooded = said.matches("debug: still hashing the key").count();
    assert!(
        (1..=30).contains(&flooded),
        "{flooded} lines of the flood shown:\n{said}"
    );
    assert!(said.contains("more line(s) of yours"), "{said}");
}

/// Ctrl-C in the terminal stops the checker and every program it started
/// (one process group), so nothing of its Redis may be left for a
/// destructor that never runs: no folder in the temporary folder.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs redis-server: apt-get install redis-server, then cargo test --test workshop_checker -- --ignored"]
fn chapter_14_interrupted_leaves_no_redis_folder_behind() {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    assert!(redis_installed(), "redis-server is not installed");
    // A chapter 14 that never listens: the checker waits, its Redis up.
    let mute = script("mute-14", "exec sleep 30");
    let mut child = Stopped(
        Command::new(CHECKER)
            .args(["check", "14", "--binary", mute.to_str().unwrap()])
            .env("WORKSHOP_TIMEOUT_MS", "10000")
            .stdout(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let redis_started = || {
        fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| entry.ok())
            .any(|entry| {
                let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                let after_name = stat.rfind(')').map_or("", |at| &stat[at + 2..]);
                stat.contains("(redis-server)")
                    && after_name.split_whitespace().nth(1) == Some(&pid.to_string())
            })
    };
    let started = Instant::now();
    while !redis_started() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no redis-server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Ctrl-C: SIGINT to the whole group.
    let interrupted = Command::new("kill")
        .args(["-INT", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let _ = child.0.wait();
    let _ = fs::remove_file(mute);
    let prefix = format!("workshop-redis-{pid}-");
    let left: Vec<String> = fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Chapter 8's pong: once it has answered our ping, that ping is answered.
/// A server that never forgets it takes every later pong with the same
/// payload for the answer again; the narrated scenario sends one pong
/// only, so a rule of its own sends a second.
#[test]
fn a_ping_never_forgotten_once_answered_is_named() {
    let (passed, said) = mistake("ping-kept", 8, "*ping_sent = None;", "");
    assert!(!passed, "{said}");
    assert!(
        said.contains("a second pong with our ping's payload must be taken as unsolicited"),
        "{said}"
    );
    // Chapter 9 keeps chapter 8's `hear`, and the same rule.
    let (passed, said) = mistake("ping-kept-9", 9, "*ping_sent = None;", "");
    assert!(!passed, "{said}");
    assert!(
        said.contains("a second pong with our ping's payload must be taken as unsolicited"),
        "{said}"
    );
}

/// Chapter 3 hangs up after its one frame whatever it made of it, so the
/// wire cannot tell a refusal: a `check` that makes up a key of zeros for
/// an unmasked frame, or lets a reserved bit through, would pass chapter 3
/// and fail only in chapter 4. Its log tells.
#[test]
fn chapter_3_accepting_an_unmasked_frame_with_a_made_up_key_is_named() {
    let (passed, said) = mistake(
        "unmasked-accepted-3",
        3,
        "    let Some(key) = header.mask else {\n        return Err(Violation::Unmasked.into());\n    };",
        "    let key = header.mask.unwrap_or([0; 4]);",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("an unmasked frame must be refused"), "{said}");
    let (passed, said) = mistake(
        "reserved-bit-accepted-3",
        3,
        "    if header.rsv != 0 {\n        return Err(Violation::ReservedBits(header.rsv).into());\n    }\n",
        "",
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("a frame with a reserved bit set must be refused"),
        "{said}"
    );
}

/// Two attendees' folders with the same name (`…/a/ws`, `…/b/ws`) build
/// into one target folder: each must keep its own binary, or checking one
/// runs the other's code.
#[test]
fn two_folders_with_one_name_keep_their_own_binaries() {
    let top = folder("same-name");
    let name = CHAPTERS[2];
    let reference = read(&format!("steps/{name}.rs"));
    let right = top.join("a/ws");
    let wrong = top.join("b/ws");
    for (dir, text) in [
        (&right, reference.clone()),
        (
            &wrong,
            reference.replacen("key[i % 4]", "key[3 - i % 4]", 1),
        ),
    ] {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(format!("{name}.rs")), text).unwrap();
    }
    let (right_text, wrong_text) = (right.to_str().unwrap(), wrong.to_str().unwrap());
    let (passed, said) = checker(&["check", "3", "--dir", right_text]);
    assert!(passed, "{said}");
    let (passed, said) = checker(&["check", "3", "--dir", wrong_text]);
    assert!(!passed, "{said}");
    // Built already: the right answer's binary is still the right answer.
    let (passed, said) = checker(&["check", "3", "--dir", right_text, "--no-build"]);
    assert!(passed, "the other folder's build was checked:\n{said}");
}

/// A starter in a folder of its own says how to check it there: the
/// command its header gives names the folder.
#[test]
fn a_starter_elsewhere_says_how_to_check_it_there() {
    let dir = folder("header-dir");
    let dir_text = dir.to_str().unwrap();
    assert!(checker(&["start", "2", "--dir", dir_text]).0);
    let text = fs::read_to_string(dir.join("02-handshake.rs")).unwrap();
    let command = "`cargo run --bin workshop -- check 2 --dir target/workshop-tests/header-dir`";
    assert!(text.contains(command), "{text}");
}

/// Every reset keeps what it replaces: a second reset does not overwrite
/// the first one's backup.
#[test]
fn a_second_reset_keeps_the_first_backup() {
    let dir = folder("reset-twice");
    let dir_text = dir.to_str().unwrap();
    assert!(checker(&["start", "1", "--dir", dir_text]).0);
    let own = dir.join("01-print-request.rs");
    let starter = fs::read_to_string(&own).unwrap();
    let mut versions = Vec::new();
    for attempt in ["first", "second"] {
        let text = format!("{starter}// my {attempt} attempt\n");
        fs::write(&own, &text).unwrap();
        let (passed, said) = checker(&["reset", "1", "--dir", dir_text]);
        assert!(passed, "{said}");
        versions.push(text);
    }
    let kept: Vec<String> = fs::read_dir(dir.join("backup"))
        .unwrap()
        .map(|entry| fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    for version in &versions {
        assert!(kept.contains(version), "lost {version:?}; kept {kept:?}");
    }
}

/// `solution` asks first when the chapter does not pass; with no input to
/// read the answer from (no terminal, standard input closed), nothing is
/// shown and the exit status says so, with the way to skip the question.
#[test]
fn a_solution_asked_with_no_input_fails() {
    // `checker` gives the checker no standard input.
    let (passed, said) = checker(&["solution", "3", "--starters", "--no-build"]);
    assert!(!passed, "{said}");
    assert!(said.contains("--yes"), "{said}");
    assert!(!said.contains("*byte ^= key[i % 4];"), "{said}");
}

/// A reply with its MASK bit set is stopped at its header, before any key
/// arrives: what the checker shows of it is the bit, never a key of zeros
/// it made up to fill the place.
#[test]
fn a_masked_reply_shows_no_made_up_key() {
    let (passed, said) = mistake(
        "mask-bit-set",
        4,
        "bytes.push(payload.len() as u8);",
        "bytes.push(0x80 | payload.len() as u8);",
    );
    assert!(!passed, "{said}");
    assert!(said.contains("a server never masks"), "{said}");
    assert!(!said.contains("[0, 0, 0, 0]"), "{said}");
}
