//! Chapter 4, replying (`04-reply`): the article's scenario and the
//! narration it prints, pinned in `snapshots/04-reply.snap`, with "Loud and
//! clear!" reaching our client. Then the frames chapter 3's reader cannot
//! handle yet, each of which ends only its own connection, and a handshake
//! arriving together with its first frame.
//!
//! Our client's side of this exchange is pinned in `tests/client.rs`;
//! tungstenite's in `tests/interop.rs`.

mod support;

use support::{Server, assert_still_serving, play_article, status_line, upgrade_request};
use websocket_from_scratch::protocol::frame::{self, Opcode};

fn start() -> Server {
    Server::start(env!("CARGO_BIN_EXE_04-reply"), &[])
}

#[test]
fn chapter_4_replies_loud_and_clear() {
    let run = play_article(env!("CARGO_BIN_EXE_04-reply"));
    assert_chapter_snapshot!("04-reply", &run.log);
    run.assert_page_served();
    assert!(
        run.client_log
            .contains("Received text frame: \"Loud and clear!\""),
        "{}",
        run.client_log
    );
}

#[test]
fn frames_this_chapter_cannot_handle_close_the_connection() {
    let server = start();
    let frames: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "binary",
            frame::encode(true, Opcode::Binary, Some([1, 2, 3, 4]), b"hi"),
            "Not supported yet: a binary frame",
        ),
        (
            "fragment",
            frame::encode(false, Opcode::Text, Some([1, 2, 3, 4]), b"hi"),
            "Not supported yet: a message split",
        ),
        (
            "unmasked",
            frame::encode(true, Opcode::Text, None, b"hi"),
            "unmasked frame",
        ),
        // No extension is agreed: a reserved bit set fails the connection
        // (§5.2).
        (
            "RSV1",
            {
                let mut bytes = frame::encode(true, Opcode::Text, Some([1, 2, 3, 4]), b"hi");
                bytes[0] |= 0b0100_0000;
                bytes
            },
            "reserved bits 100 are set",
        ),
        // Chapter 4 reads only the 7-bit length: 126 and 127 announce a
        // longer length it does not read, whatever that length says.
        (
            "126 bytes",
            frame::encode(true, Opcode::Text, Some([1, 2, 3, 4]), &[b'a'; 126]),
            "a 16-bit length follows; lengths over 125 come in chapter 5",
        ),
        (
            "non-minimal length",
            vec![0x81, 0xFE, 0x00, 0x05, 1, 2, 3, 4, 0, 0, 0, 0, 0],
            "a 16-bit length follows; lengths over 125 come in chapter 5",
        ),
        (
            "2^63 bytes",
            vec![0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            "a 64-bit length follows; lengths over 125 come in chapter 5",
        ),
    ];
    for (name, bytes, logged) in frames {
        // Rows may share a log line: wait for one more of it, not any.
        let before = server.log().matches(logged).count();
        let mut request = upgrade_request(server.port, ("", ""));
        request.extend_from_slice(&bytes);
        let answer = server.exchange_raw(&request);
        assert!(status_line(&answer).starts_with("HTTP/1.1 101"), "{name}");
        assert!(
            !String::from_utf8_lossy(&answer).contains("Loud and clear!"),
            "{name}: no reply to a frame the chapter refuses"
        );
        server.wait_until(|log| log.matches(logged).count() > before, logged);
        assert_still_serving(&server);
    }
}

#[test]
fn a_reply_over_125_bytes_is_refused_at_start_up() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_04-reply"))
        .args(["--reply", &"é".repeat(63)])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("--reply") && said.contains("126 bytes"),
        "{said}"
    );
}

#[test]
fn handshake_and_frame_in_one_segment_lose_no_bytes() {
    let server = start();
    let mut bytes = upgrade_request(server.port, ("", ""));
    bytes.extend(frame::encode(
        true,
        Opcode::Text,
        Some([80, 191, 161, 254]),
        b"Can you hear me?",
    ));
    let answer = server.exchange_raw(&bytes);
    assert!(
        answer.ends_with(&frame::encode(true, Opcode::Text, None, b"Loud and clear!")),
        "got {:?}",
        String::from_utf8_lossy(&answer)
    );
}
