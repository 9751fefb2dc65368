//! Chapter 1, printing the request (`01-print-request`): the article's
//! scenario — the page, then our client with the article's key — and the
//! narration it prints, pinned in `snapshots/01-print-request.snap`. Both
//! requests are printed, and the WebSocket is left unanswered.
//!
//! A changed snapshot is a changed chapter. Read the diff with
//! `cargo insta review` before accepting it.

mod support;

use support::play_article;

#[test]
fn chapter_1_prints_both_requests() {
    let run = play_article(env!("CARGO_BIN_EXE_01-print-request"));
    assert_chapter_snapshot!("01-print-request", &run.log);
    run.assert_page_served();
    // The article's key, checked again: a snapshot accepted by mistake must
    // not lose it.
    assert!(
        run.log
            .contains("Sec-WebSocket-Key: E4i4gDQc1XTIQcQxvf+ODA==")
    );
    assert!(
        run.client_log
            .contains("closed the connection without answering")
    );
}

#[test]
fn a_right_to_left_override_in_a_header_is_printed_as_an_escape() {
    use std::io::Write;

    // U+202E would show the rest of the line reversed on a terminal:
    // `abc\u{202E}gnp.exe` reads as "abcexe.png". The request is printed
    // with it written as an escape, the line as the peer sent it otherwise.
    let server = support::Server::start(env!("CARGO_BIN_EXE_01-print-request"), &[]);
    let mut stream = server.connect_raw();
    let request = "GET / HTTP/1.1\r\nHost: localhost\r\nX-File: abc\u{202E}gnp.exe\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let log = server.wait_for_log("X-File: abc");
    assert!(log.contains("X-File: abc\\u{202e}gnp.exe"), "{log}");
    assert!(!log.contains('\u{202E}'), "{log}");
}
