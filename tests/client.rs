//! Our client (`client`, from `steps/client.rs`) with the article's key and
//! mask, talking to chapter 4: what it prints, pinned in
//! `snapshots/client.snap`. Its handshake from the client's side, the
//! article's masked bytes, the reply, and the closing handshake it starts.

mod support;

use support::play_article;

#[test]
fn our_client_plays_the_article_against_chapter_4() {
    let run = play_article(env!("CARGO_BIN_EXE_04-reply"));
    assert_chapter_snapshot!("client", &run.client_log);
}
