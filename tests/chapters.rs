//! Each chapter's narration, pinned: the article's scenario played against
//! the chapter binary, and what it printed compared with `snapshots/`.
//!
//! A changed snapshot is a changed chapter. Read the diff with
//! `cargo insta review` before accepting it.

mod support;

use support::{Server, run_to_end};
use websocket_from_scratch::client::{ARTICLE_KEY, ARTICLE_MASK};

/// What a browser sends when its address bar asks for the page.
fn page_request(port: u16) -> String {
    format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\nAccept: text/html\r\n\r\n")
}

fn article_client_args(port: u16) -> Vec<String> {
    let mask = ARTICLE_MASK.map(|byte| byte.to_string()).join(",");
    vec![
        "--port".into(),
        port.to_string(),
        "--key".into(),
        ARTICLE_KEY.into(),
        "--mask".into(),
        mask,
    ]
}

/// Runs the article's scenario — the page, then the WebSocket — against a
/// chapter, and returns the chapter's narration and our client's.
fn play_article(binary: &str) -> (String, String) {
    let server = Server::start(binary, &["--connections", "2"]);
    let page = server.exchange_raw(page_request(server.port).as_bytes());
    assert!(page.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let args = article_client_args(server.port);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, client_log) = run_to_end(env!("CARGO_BIN_EXE_client"), &args);
    let client_log = client_log.replace(&format!(":{}", server.port), ":PORT");
    (server.finish(), client_log)
}

#[test]
fn chapter_1_prints_both_requests() {
    let (log, client_log) = play_article(env!("CARGO_BIN_EXE_01-print-request"));
    assert!(log.contains("Sec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA=="));
    assert!(client_log.contains("closed the connection without answering"));
    assert_chapter_snapshot!("01-print-request", log);
}

#[test]
fn chapter_2_answers_with_the_articles_accept_key() {
    let (log, _) = play_article(env!("CARGO_BIN_EXE_02-handshake"));
    assert!(log.contains("Responding to handshake with key: d9WHst60HtB4IvjOVevrexl0oLA="));
    assert_chapter_snapshot!("02-handshake", log);
}

#[test]
fn chapter_3_reproduces_the_articles_bytes() {
    let (log, _) = play_article(env!("CARGO_BIN_EXE_03-read-frame"));
    assert!(log.contains(
        "Got masked data: [19, 222, 207, 222, 41, 208, 212, 222, 56, 218, 192, 140, 112, 210, 196, 193]"
    ));
    assert!(log.contains(
        "Unmasked the data: [67, 97, 110, 32, 121, 111, 117, 32, 104, 101, 97, 114, 32, 109, 101, 63]"
    ));
    assert_chapter_snapshot!("03-read-frame", log);
}

#[test]
fn chapter_4_replies_loud_and_clear() {
    let (log, client_log) = play_article(env!("CARGO_BIN_EXE_04-reply"));
    assert!(client_log.contains("Received text frame: \"Loud and clear!\""));
    assert_chapter_snapshot!("04-reply", log);
    assert_chapter_snapshot!("client", client_log);
}
