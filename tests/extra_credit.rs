//! Chapters 5–9, the article's extra credit: each chapter's narration for a
//! scenario that exercises what it adds, pinned in `snapshots/`.

mod support;

use support::{Server, TEST_MASK, connect, expect_close, expect_frame, expect_hang_up};
use websocket_from_scratch::frame::Opcode;

#[test]
fn chapter_5_reads_and_writes_every_length_form() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_05-long-payloads"),
        &["--connections", "1"],
    );
    let mut client = connect(&server);
    for size in [125, 126, 65535, 65536, 1_000_000] {
        let text = "a".repeat(size);
        client
            .send(true, Opcode::Text, text.as_bytes(), TEST_MASK)
            .unwrap();
        assert_eq!(
            expect_frame(&mut client, Opcode::Text),
            text.as_bytes(),
            "{size}"
        );
    }
    drop(client);
    let log = server.finish();
    assert!(log.contains("65536 bytes (length 127, then 64-bit [0, 0, 0, 0, 0, 1, 0, 0])"));
    assert!(log.contains("header [129, 126, 0, 126]"));
    assert_chapter_snapshot!("05-long-payloads", log);
}

#[test]
fn chapter_6_echoes_binary_as_binary() {
    let server = Server::start(env!("CARGO_BIN_EXE_06-binary"), &["--connections", "1"]);
    let mut client = connect(&server);
    let bytes: Vec<u8> = (0..=255).collect();
    client
        .send(true, Opcode::Binary, &bytes, TEST_MASK)
        .unwrap();
    assert_eq!(expect_frame(&mut client, Opcode::Binary), bytes);
    drop(client);
    let log = server.finish();
    assert!(log.contains("hex: 00 01 02 03"));
    assert_chapter_snapshot!("06-binary", log);
}

#[test]
fn chapter_7_assembles_three_fragments() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_07-fragmented-messages"),
        &["--connections", "1"],
    );
    let mut client = connect(&server);
    client
        .send(false, Opcode::Text, b"Can you", TEST_MASK)
        .unwrap();
    client
        .send(false, Opcode::Continuation, b" hear", TEST_MASK)
        .unwrap();
    client
        .send(true, Opcode::Continuation, b" me?", TEST_MASK)
        .unwrap();
    assert_eq!(expect_frame(&mut client, Opcode::Text), b"Can you hear me?");
    drop(client);
    let log = server.finish();
    assert!(log.contains("Assembled a text message from 3 frames: 16 bytes"));
    assert_chapter_snapshot!("07-fragmented-messages", log);
}

#[test]
fn chapter_8_answers_a_ping_between_fragments() {
    let server = Server::start(env!("CARGO_BIN_EXE_08-ping-pong"), &["--connections", "1"]);
    let mut client = connect(&server);
    let ours = expect_frame(&mut client, Opcode::Ping);
    client.send(true, Opcode::Pong, &ours, TEST_MASK).unwrap();
    client.send(false, Opcode::Text, b"Hel", TEST_MASK).unwrap();
    client
        .send(true, Opcode::Ping, b"still here?", TEST_MASK)
        .unwrap();
    client
        .send(true, Opcode::Continuation, b"lo", TEST_MASK)
        .unwrap();
    assert_eq!(expect_frame(&mut client, Opcode::Pong), b"still here?");
    assert_eq!(expect_frame(&mut client, Opcode::Text), b"Hello");
    drop(client);
    let log = server.finish();
    assert!(log.contains("the client answered our ping"));
    assert_chapter_snapshot!("08-ping-pong", log);
}

#[test]
fn chapter_9_closes_politely_and_refuses_a_bad_code() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_09-closing-handshake"),
        &["--connections", "2"],
    );

    let mut client = connect(&server);
    client
        .send(true, Opcode::Text, b"Can you hear me?", TEST_MASK)
        .unwrap();
    assert_eq!(expect_frame(&mut client, Opcode::Text), b"Can you hear me?");
    let mut bye = 1000u16.to_be_bytes().to_vec();
    bye.extend_from_slice(b"bye");
    client.send(true, Opcode::Close, &bye, TEST_MASK).unwrap();
    assert_eq!(expect_close(&mut client), (1000, String::new()));
    expect_hang_up(&mut client);

    let mut client = connect(&server);
    client
        .send(true, Opcode::Close, &999u16.to_be_bytes(), TEST_MASK)
        .unwrap();
    assert_eq!(expect_close(&mut client).0, 1002);
    expect_hang_up(&mut client);

    let log = server.finish();
    assert!(log.contains("Received close frame: code 1000 (normal closure), reason \"bye\""));
    assert_chapter_snapshot!("09-closing-handshake", log);
}
