//! Chapter 2, the handshake (`02-handshake`): the article's scenario and
//! the narration it prints, pinned in `snapshots/02-handshake.snap`. The
//! article's key gets the article's accept key.
//!
//! The requests every chapter refuses (400, 405, 426, 431) are tested in
//! `tests/bad_input.rs`.

mod support;

use support::play_article;

#[test]
fn chapter_2_answers_with_the_articles_accept_key() {
    let run = play_article(env!("CARGO_BIN_EXE_02-handshake"));
    assert_chapter_snapshot!("02-handshake", &run.log);
    run.assert_page_served();
    // The article's accept key, checked again: a snapshot accepted by
    // mistake must not lose it.
    assert!(
        run.log
            .contains("Responding to handshake with key: d9WHst60HtB4IvjOVevrexl0oLA=")
    );
}
