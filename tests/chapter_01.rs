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
