//! The book's generator (`cargo run --bin book`) as a command: what it says
//! never costs it its work. Its pages themselves are checked by
//! `cargo run --bin book -- check`, which CI runs.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const BOOK: &str = env!("CARGO_BIN_EXE_book");

/// A folder of its own for one test, under the target folder, emptied first.
fn folder(label: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/book-tests/{label}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cargo run --bin book -- check | head -0`: the reader of its output is
/// gone before it says anything. Its verdict is the check's, not a panic.
#[cfg(unix)]
#[test]
fn a_reader_that_is_gone_does_not_panic_the_book() {
    let built = folder("closed-pipe");
    fs::write(built.join("index.html"), "<a href=\"index.html\">here</a>").unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(BOOK)
        .arg("check-links")
        .arg(&built)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{}: {stderr}", output.status);
}

/// The same with the reader of its complaints gone: a link that leads
/// nowhere still fails the check, with status 1, not a panic's 101.
#[cfg(unix)]
#[test]
fn a_failed_check_says_so_by_its_status_when_nobody_reads_it() {
    let built = folder("closed-pipe-failing");
    fs::write(
        built.join("index.html"),
        "<a href=\"nowhere.html\">lost</a>",
    )
    .unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(BOOK)
        .arg("check-links")
        .arg(&built)
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "{status}");
}
