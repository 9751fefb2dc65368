//! The workshop's checker (`cargo run --bin workshop`) against known
//! answers: the reference passes every chapter, the untouched starters
//! fail every chapter with their hints, and deliberate mistakes
//! (`workshop/mistakes/`) are named. What an attendee sees for a passing, a
//! failing, a panicking and a silent chapter is pinned in
//! `snapshots/workshop/`.
//!
//! These use the binaries `cargo test` has already built (`--no-build`);
//! `.ci/run` also copies every reference over its starter on a clean clone
//! and runs the checker the way an attendee does.

use std::process::Command;

const CHECKER: &str = env!("CARGO_BIN_EXE_workshop");

/// Runs the checker; returns whether it exited 0, and what it printed.
fn checker(args: &[&str]) -> (bool, String) {
    let output = Command::new(CHECKER)
        .args(args)
        .env("WORKSHOP_TIMEOUT_MS", "1000")
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
    for number in 1..=11 {
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
    let (passed, said) = checker(&["--no-build"]);
    assert!(!passed, "{said}");
    assert_eq!(said.matches("  not yet   chapter").count(), 11, "{said}");
    // The first unfinished chapter is shown: the todo! it reached, the
    // narration it never printed, its hint.
    assert_checker_snapshot!("panicking", said);
    for number in 1..=11 {
        let chapter = number.to_string();
        let (passed, said) = checker(&["check", &chapter, "--no-build"]);
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

#[test]
fn a_lowercase_guid_is_named() {
    let mistake = env!("CARGO_BIN_EXE_mistake-02-lowercase-guid");
    let (passed, said) = checker(&["check", "2", "--binary", mistake]);
    assert!(!passed, "{said}");
    assert!(said.contains("wrong Sec-WebSocket-Accept"), "{said}");
    assert!(said.contains("d9WHst60HtB4IvjOVevrexl0oLA="), "{said}");
    assert_checker_snapshot!("failing", said);
}

#[test]
fn a_wrong_mask_order_is_named() {
    let mistake = env!("CARGO_BIN_EXE_mistake-03-mask-order");
    let (passed, said) = checker(&["check", "3", "--binary", mistake]);
    assert!(!passed, "{said}");
    assert!(
        said.contains("expected \"Unmasked the data: [67, 97, 110, 32,"),
        "{said}"
    );
}

#[test]
fn a_refused_upgrade_is_no_101() {
    let mistake = env!("CARGO_BIN_EXE_mistake-02-no-101");
    let (passed, said) = checker(&["check", "2", "--binary", mistake]);
    assert!(!passed, "{said}");
    assert!(said.contains("no 101"), "{said}");
    assert!(said.contains("got \"HTTP/1.1 200 OK"), "{said}");
}

#[test]
fn a_silent_chapter_times_out_plainly() {
    let mistake = env!("CARGO_BIN_EXE_mistake-04-silent");
    let (passed, said) = checker(&["check", "4", "--binary", mistake]);
    assert!(!passed, "{said}");
    assert!(said.contains("no answer within 1 s"), "{said}");
    assert_checker_snapshot!("silent", said);
}

#[test]
fn a_server_that_exits_is_said_to_have_exited() {
    let mistake = env!("CARGO_BIN_EXE_mistake-05-exits");
    let (passed, said) = checker(&["check", "5", "--binary", mistake]);
    assert!(!passed, "{said}");
    assert!(
        said.contains("your server exited (exit status: 3)"),
        "{said}"
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
fn bad_arguments_are_refused_with_the_usage() {
    for args in [
        &["check"][..],
        &["check", "12"],
        &["hint", "0"],
        &["frobnicate"],
    ] {
        let output = Command::new(CHECKER).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("usage:"),
            "{args:?}"
        );
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
        .args(["solution", "3", "--no-build"])
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
