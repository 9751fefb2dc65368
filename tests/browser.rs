//! A real browser opens chapter 4's page and sees the server's reply on it:
//! the page, its script, the handshake and both frames, all as a learner
//! following along in Chromium would meet them. Then two tabs talk to each
//! other through chapter 11's chat room, Chromium agrees on
//! permessage-deflate with chapter 12, and two tabs on two chapter 14
//! servers talk through Redis (which needs `redis-server` too). Last, a
//! reader walks the book chapter by chapter and searches it (which needs
//! mdBook 0.5: `cargo install mdbook --locked --version ^0.5`).
//!
//! Needs Debian's Chromium and playwright-core, which `tests/browser/setup`
//! installs. So that a plain `cargo test` never counts them as passed where
//! they cannot run, these tests are ignored unless asked for:
//!
//! ```text
//! bash tests/browser/setup
//! cargo test --test browser -- --ignored
//! ```
//!
//! Asked for without Chromium, they fail. CI (`.ci/run`) asks for them.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{Redis, Server};

/// Where drive.mjs, its package.json and node_modules live.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Fails, saying how to install them, unless Chromium and playwright-core
/// are installed.
fn assert_browser_ready() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is not installed; run: bash tests/browser/setup"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is not installed; run: bash tests/browser/setup"
    );
}

/// Runs one `drive.mjs` scenario against `server`, saving a screenshot
/// under target/, and fails with everything worth seeing if it fails.
fn drive(server: &Server, scenario: &[&str], screenshot_name: &str) -> PathBuf {
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(screenshot_name);
    let output = Command::new("node")
        .arg(browser_dir().join("drive.mjs"))
        .args(scenario)
        .arg("--screenshot")
        .arg(&screenshot)
        .env("FORCE_COLOR", "0") // playwright's messages, plain in the assertion
        .output()
        .expect("node runs (Node.js 20 or newer)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{scenario:?} failed ({}):\n{stdout}{stderr}\nscreenshot: {}\nserver log:\n{}",
        output.status,
        screenshot.display(),
        server.log()
    );
    eprint!("{stdout}");
    screenshot
}

/// With `UPDATE_SCREENSHOTS=1`, keeps `screenshot` as the picture of the
/// chapter `stem` that the book shows (`book/src/screenshots/STEM.png`).
/// Only on request, so running the tests never changes the tree.
fn keep_for_the_book(screenshot: &Path, stem: &str) {
    if std::env::var("UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let kept = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("book/src/screenshots")
            .join(format!("{stem}.png"));
        std::fs::copy(screenshot, &kept).expect("the screenshot is copied");
        eprintln!("updated {}", kept.display());
    }
}

#[test]
#[ignore = "a browser test, run on request (CI runs it): cargo test --test browser -- --ignored; needs Chromium and playwright-core (bash tests/browser/setup)"]
fn chromium_shows_loud_and_clear_from_chapter_4() {
    assert_browser_ready();
    let server = Server::start(env!("CARGO_BIN_EXE_04-reply"), &[]);
    // "localhost", as the README tells learners to type. The server listens
    // on 127.0.0.1 only; Chromium answers localhost with the loopback
    // addresses itself (no DNS) and moves on to the next one when one
    // refuses, so the address learners are given works and is checked here.
    let url = format!("http://localhost:{}/", server.port);
    let screenshot = drive(
        &server,
        &["page-shows", &url, "Loud and clear!"],
        "browser-04-reply.png",
    );
    keep_for_the_book(&screenshot, "04-reply");
    server.wait_for_log("Sending response: \"Loud and clear!\"");
}

#[test]
#[ignore = "a browser test, run on request (CI runs it): cargo test --test browser -- --ignored; needs Chromium and playwright-core (bash tests/browser/setup)"]
fn chromium_chat_between_two_tabs() {
    assert_browser_ready();
    let server = Server::start(env!("CARGO_BIN_EXE_11-chat"), &[]);
    let url = format!("http://localhost:{}/", server.port);
    // Saved on every run, under target/. The book and the README show a
    // copy committed as book/src/screenshots/11-chat.png, refreshed only on
    // request: UPDATE_SCREENSHOTS=1 cargo test --test browser chat -- --ignored
    let screenshot = drive(&server, &["chat", &url], "browser-11-chat.png");
    server.wait_for_log("Ada: \"Hello from Ada\"");
    keep_for_the_book(&screenshot, "11-chat");
}

#[test]
#[ignore = "a browser test, run on request (CI runs it): cargo test --test browser -- --ignored; needs Chromium and playwright-core (bash tests/browser/setup)"]
fn chromium_agrees_on_permessage_deflate_with_chapter_12() {
    assert_browser_ready();
    let server = Server::start(env!("CARGO_BIN_EXE_12-compression"), &[]);
    let url = format!("http://localhost:{}/", server.port);
    drive(
        &server,
        &["page-shows", &url, "Extension agreed: permessage-deflate"],
        "browser-12-extension.png",
    );
    let screenshot = drive(
        &server,
        &["page-shows", &url, "Received: Can you hear me?"],
        "browser-12-compression.png",
    );
    keep_for_the_book(&screenshot, "12-compression");
    // Chromium's own offer, our answer, and its message arriving
    // compressed (RSV1) and echoed compressed.
    server.wait_for_log(
        "offered \"permessage-deflate; client_max_window_bits\" → agreed \"permessage-deflate\"",
    );
    let log = server.wait_for_log("← text 16 bytes (compressed: ");
    assert!(log.contains("echo compressed 16 → "), "{log}");
}

#[test]
#[ignore = "a browser test, run on request (CI runs it): cargo test --test browser -- --ignored; needs Chromium and playwright-core (bash tests/browser/setup), and redis-server"]
fn chromium_chat_across_two_servers_through_redis() {
    assert_browser_ready();
    let mut redis = Redis::start();
    let url = redis.url();
    let chat = env!("CARGO_BIN_EXE_14-chat-cluster");
    let a = Server::start(chat, &["--redis", &url]);
    let b = Server::start(chat, &["--redis", &url]);
    for server in [&a, &b] {
        server.wait_for_log("Subscribed to chat:room");
    }
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-14-chat-cluster.png");
    let mut node = Command::new("node")
        .arg(browser_dir().join("drive.mjs"))
        .arg("cluster-chat")
        .arg(format!("http://localhost:{}/", a.port))
        .arg(format!("http://localhost:{}/", b.port))
        .arg("--screenshot")
        .arg(&screenshot)
        .env("FORCE_COLOR", "0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (Node.js 20 or newer)");
    let stdout = BufReader::new(node.stdout.take().expect("stdout is piped"));
    let mut said = String::new();
    for line in stdout.lines().map_while(Result::ok) {
        if line == "talked" {
            // The tabs have talked through Redis: now it goes away.
            redis.kill();
        }
        said.push_str(&line);
        said.push('\n');
    }
    let status = node.wait().expect("node ends");
    assert!(
        status.success(),
        "{said}\nscreenshot: {}\nserver A:\n{}\nserver B:\n{}",
        screenshot.display(),
        a.log(),
        b.log()
    );
    eprint!("{said}");
    keep_for_the_book(&screenshot, "14-chat-cluster");
    a.wait_for_log("Bob, on another server: \"Hi Ada, Bob here, on server B\"");
    b.wait_for_log("Ada, on another server: \"Through Redis, both ways\"");
}

/// The chapters the book must walk through, in order, as `drive.mjs book`
/// takes them: each `steps/` file by name, numbered ones first, and
/// `+diff` on every numbered chapter after the first (those have a base).
fn book_chapters() -> String {
    let steps = Path::new(env!("CARGO_MANIFEST_DIR")).join("steps");
    let mut names: Vec<String> = std::fs::read_dir(&steps)
        .expect("steps/ is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    let numbered = |name: &str| name.as_bytes().first().is_some_and(u8::is_ascii_digit);
    names.sort_by_key(|name| (!numbered(name), name.clone()));
    let first = names.first().cloned();
    names
        .iter()
        .map(|name| {
            if numbered(name) && Some(name) != first.as_ref() {
                format!("{name}+diff")
            } else {
                name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
#[ignore = "a browser test, run on request (CI runs it): cargo test --test browser -- --ignored; needs Chromium and playwright-core (bash tests/browser/setup) and mdBook 0.5 (cargo install mdbook --locked --version ^0.5)"]
fn chromium_reads_the_book() {
    assert_browser_ready();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Path::new(env!("CARGO_TARGET_TMPDIR")).join("book");
    let build = Command::new("mdbook")
        .arg("build")
        .arg(root.join("book"))
        .arg("--dest-dir")
        .arg(&built)
        .output()
        .expect("mdbook runs: cargo install mdbook --locked --version ^0.5");
    assert!(
        build.status.success(),
        "mdbook build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    // Opened from disk, as a reader without a server would.
    let url = format!("file://{}", built.join("index.html").display());
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-book.png");
    let output = Command::new("node")
        .arg(browser_dir().join("drive.mjs"))
        .args(["book", &url, &book_chapters()])
        .arg("--screenshot")
        .arg(&screenshot)
        .env("FORCE_COLOR", "0")
        .output()
        .expect("node runs (Node.js 20 or newer)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}\nscreenshot: {}",
        String::from_utf8_lossy(&output.stderr),
        screenshot.display()
    );
    eprint!("{stdout}");
    // The README shows a copy, refreshed only on request:
    //     UPDATE_SCREENSHOTS=1 cargo test --test browser book -- --ignored
    if std::env::var("UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let committed = browser_dir().join("book.png");
        std::fs::copy(&screenshot, &committed).expect("the screenshot is copied");
        eprintln!("updated {}", committed.display());
    }
}
