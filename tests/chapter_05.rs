//! Chapter 5, long payloads (`05-long-payloads`): every length form read
//! and written, and the narration that shows them, pinned in
//! `snapshots/05-long-payloads.snap`. What later chapters add (binary,
//! fragments, ping) is refused, and the next connection is still echoed.

mod support;

use support::{Reply, Server, TEST_MASK, Transcript, connect, expect_frame, masked};
use websocket_from_scratch::protocol::frame::{FrameError, Opcode};

#[test]
fn chapter_5_reads_and_writes_every_length_form() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_05-long-payloads"),
        &["--connections", "1"],
    );
    let sizes = [125, 126, 65535, 65536, 1_000_000];
    let mut client = Transcript::connect(&server);
    for size in sizes {
        client.send(true, Opcode::Text, "a".repeat(size).as_bytes());
        client.receive();
    }
    let replies = client.hang_up();
    let log = server.finish();
    assert_chapter_snapshot!("05-long-payloads", &log);
    let echoes: Vec<Reply> = sizes.map(|size| Reply::Text("a".repeat(size))).into();
    assert_eq!(replies, echoes);
    // The 64-bit and 16-bit forms, checked again: a snapshot accepted by
    // mistake must not lose them.
    assert!(log.contains("65536 bytes (length 127, then 64-bit [0, 0, 0, 0, 0, 1, 0, 0])"));
    assert!(log.contains("header [129, 126, 0, 126]"));
}

#[test]
fn chapter_5_refuses_what_later_chapters_add() {
    let server = Server::start(env!("CARGO_BIN_EXE_05-long-payloads"), &[]);
    for (bytes, logged) in [
        (
            masked(true, Opcode::Binary, b"x"),
            "a binary frame (chapter 6)",
        ),
        (
            masked(false, Opcode::Text, b"x"),
            "several frames (chapter 7)",
        ),
        (
            masked(true, Opcode::Ping, b"x"),
            "ping and pong frames (chapter 8)",
        ),
    ] {
        let mut client = connect(&server);
        client.send_raw(&bytes).unwrap();
        assert!(matches!(client.receive(), Err(FrameError::Closed)));
        server.wait_for_log(logged);
    }
    let mut client = connect(&server);
    client
        .send(true, Opcode::Text, b"still here", TEST_MASK)
        .unwrap();
    assert_eq!(expect_frame(&mut client, Opcode::Text), b"still here");
}

#[test]
fn a_header_cut_short_is_told_in_the_headers_bytes() {
    // `81 fe`: a masked text frame with a 16-bit length, so 8 header
    // bytes in all, of which 2 came. Chapter 5 reads its own headers;
    // from chapter 6 on the library's `frame::read_header` does.
    for binary in [
        env!("CARGO_BIN_EXE_05-long-payloads"),
        env!("CARGO_BIN_EXE_06-binary"),
    ] {
        let server = Server::start(binary, &[]);
        let mut client = connect(&server);
        client.send_raw(&[0x81, 0xfe]).unwrap();
        drop(client);
        server.wait_for_log("halfway through a frame (2 of 8 bytes)");
    }
}
