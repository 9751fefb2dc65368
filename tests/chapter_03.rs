//! Chapter 3, reading a frame (`03-read-frame`): the article's scenario and
//! the narration it prints, pinned in `snapshots/03-read-frame.snap`. With
//! the article's mask, the masked bytes are the article's, and unmask to
//! "Can you hear me?".
//!
//! Chapter 4 reads with this chapter's frame reader; the frames it refuses
//! are tested in `tests/chapter_04.rs`.

mod support;

use support::play_article;

#[test]
fn chapter_3_reproduces_the_articles_bytes() {
    let run = play_article(env!("CARGO_BIN_EXE_03-read-frame"));
    assert_chapter_snapshot!("03-read-frame", &run.log);
    run.assert_page_served();
    // The article's bytes, checked again: a snapshot accepted by mistake
    // must not lose them.
    assert!(run.log.contains(
        "Got masked data: [19, 222, 207, 222, 41, 208, 212, 222, 56, 218, 192, 140, 112, 210, 196, 193]"
    ));
    assert!(run.log.contains(
        "Unmasked the data: [67, 97, 110, 32, 121, 111, 117, 32, 104, 101, 97, 114, 32, 109, 101, 63]"
    ));
}
