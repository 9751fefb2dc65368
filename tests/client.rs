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

use support::{Server, run_to_end};

const CLIENT: &str = env!("CARGO_BIN_EXE_client");

/// Runs our client against chapter 10 with `args`; returns its narration.
fn client_against_chapter_10(args: &[&str]) -> String {
    let server = Server::start(
        env!("CARGO_BIN_EXE_10-echo-server"),
        &["--connections", "1"],
    );
    let port = server.port.to_string();
    let mut all = vec!["--port", port.as_str()];
    all.extend_from_slice(args);
    let (ok, log) = run_to_end(CLIENT, &all);
    assert!(ok, "{log}");
    assert!(!log.contains("panicked"), "{log}");
    server.finish();
    log
}

#[test]
fn our_client_sends_binary_in_fragments() {
    let log =
        client_against_chapter_10(&["--binary", "--fragments", "3", "--message", "hello there"]);
    assert!(
        log.contains("Fragment 1 of 3: binary frame, FIN 0, 3 bytes"),
        "{log}"
    );
    assert!(
        log.contains("Fragment 3 of 3: continuation frame, FIN 1, 4 bytes"),
        "{log}"
    );
    // The echo, one binary frame of "hello there", shown in hex.
    assert!(
        log.contains("Received binary frame of 11 bytes: hex: 68 65 6c 6c 6f 20"),
        "{log}"
    );
}

#[test]
fn our_client_pings_and_closes_with_a_code_and_reason() {
    let log = client_against_chapter_10(&["--ping", "hi", "--close", "4000", "--reason", "bye"]);
    assert!(log.contains("Received pong frame: \"hi\""), "{log}");
    assert!(log.contains("Sending close frame with code 4000"), "{log}");
    assert!(log.contains("Received close frame: code 4000"), "{log}");
}

#[test]
fn our_client_sends_invalid_utf8_and_decodes_the_1007() {
    let log = client_against_chapter_10(&["--invalid-utf8"]);
    assert!(
        log.contains("Sending text that is not UTF-8, [195, 40]"),
        "{log}"
    );
    assert!(
        log.contains("Received close frame: code 1007 (invalid payload data)"),
        "{log}"
    );
}

#[test]
fn our_client_sends_raw_hex_bytes() {
    // An unmasked text frame: a client must mask, so the server fails it
    // with 1002 (RFC 6455 §5.1).
    let log = client_against_chapter_10(&["--hex", "81 02 68 69"]);
    assert!(
        log.contains("Sending raw bytes: [129, 2, 104, 105]"),
        "{log}"
    );
    assert!(
        log.contains("Received close frame: code 1002 (protocol error)"),
        "{log}"
    );
}

#[test]
fn our_client_shortens_long_payloads() {
    let long = "a".repeat(300);
    let log = client_against_chapter_10(&["--message", &long]);
    assert!(log.contains("Received text frame of 300 bytes: "), "{log}");
    assert!(!log.contains(&long), "{log}");
}

#[test]
fn our_client_never_panics_on_its_arguments() {
    let cases: [&[&str]; 10] = [
        &["--fragments", "0"],
        &["--fragments", "-1"],
        &["--fragments", "99999999999999999999"],
        &["--hex", "zz"],
        &["--hex", "8"],
        &["--hex", ""],
        &["--close", "70000"],
        &["--close"],
        &["--mask", "1,2,3"],
        &["--port", "0", "--binary", "--binary", "--what"],
    ];
    for args in cases {
        let (ok, log) = run_to_end(CLIENT, args);
        assert!(!ok, "{args:?} was accepted:\n{log}");
        assert!(!log.contains("panicked"), "{args:?}:\n{log}");
    }
}
