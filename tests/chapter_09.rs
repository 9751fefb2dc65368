//! Chapter 9, the closing handshake (`09-closing-handshake`): a polite close
//! and a close with a code that may not be sent, pinned in
//! `snapshots/09-closing-handshake.snap`. Then every protocol error, each
//! closed with the code RFC 6455 assigns it, and a huge announced length
//! refused before any payload arrives.
//!
//! Chapter 9 is where everything the article's extra credit adds comes
//! together; tungstenite checks all of it in `tests/interop.rs`.

mod support;

use support::{
    Server, TEST_MASK, close_code_for, connect, expect_close, expect_frame, expect_hang_up, masked,
};
use websocket_from_scratch::frame::Opcode;

fn chapter_9(args: &[&str]) -> Server {
    Server::start(env!("CARGO_BIN_EXE_09-closing-handshake"), args)
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

#[test]
fn each_protocol_error_gets_its_close_code() {
    let server = chapter_9(&["--max-message-size", "1000"]);
    let mut rsv1 = masked(true, Opcode::Text, b"hi");
    rsv1[0] |= 0b0100_0000;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("reserved bits", rsv1, 1002),
        (
            "reserved opcode 3",
            masked(true, Opcode::Reserved(3), b""),
            1002,
        ),
        (
            "reserved control opcode 11",
            masked(true, Opcode::Reserved(11), b""),
            1002,
        ),
        (
            "unmasked",
            websocket_from_scratch::frame::encode(true, Opcode::Text, None, b"hi"),
            1002,
        ),
        (
            "ping of 126 bytes",
            masked(true, Opcode::Ping, &[0; 126]),
            1002,
        ),
        ("fragmented ping", masked(false, Opcode::Ping, b"x"), 1002),
        (
            "continuation with nothing to continue",
            masked(true, Opcode::Continuation, b"x"),
            1002,
        ),
        (
            "new message mid-message",
            [
                masked(false, Opcode::Text, b"a"),
                masked(true, Opcode::Text, b"b"),
            ]
            .concat(),
            1002,
        ),
        (
            "non-minimal length",
            vec![0x81, 0xFE, 0, 5, 1, 2, 3, 4, 0, 0, 0, 0, 0],
            1002,
        ),
        (
            "64-bit length with the top bit set",
            vec![0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
            1002,
        ),
        (
            "invalid UTF-8",
            masked(true, Opcode::Text, &[0xCE, 0xBA, 0xFF]),
            1007,
        ),
        (
            "invalid UTF-8 across fragments",
            [
                masked(false, Opcode::Text, &[0xCE]),
                masked(true, Opcode::Continuation, &[0x41]),
            ]
            .concat(),
            1007,
        ),
        (
            "message over the limit",
            masked(true, Opcode::Binary, &[0; 1001]),
            1009,
        ),
        (
            "fragments over the limit together",
            [
                masked(false, Opcode::Binary, &[0; 600]),
                masked(true, Opcode::Continuation, &[0; 600]),
            ]
            .concat(),
            1009,
        ),
        (
            "close with one byte",
            masked(true, Opcode::Close, &[3]),
            1002,
        ),
        (
            "close code 0",
            masked(true, Opcode::Close, &0u16.to_be_bytes()),
            1002,
        ),
        (
            "close code 999",
            masked(true, Opcode::Close, &999u16.to_be_bytes()),
            1002,
        ),
        (
            "close code 1005",
            masked(true, Opcode::Close, &1005u16.to_be_bytes()),
            1002,
        ),
        (
            "close code 1006",
            masked(true, Opcode::Close, &1006u16.to_be_bytes()),
            1002,
        ),
        (
            "close code 1015",
            masked(true, Opcode::Close, &1015u16.to_be_bytes()),
            1002,
        ),
        (
            "close code 2000",
            masked(true, Opcode::Close, &2000u16.to_be_bytes()),
            1002,
        ),
        (
            "close reason not UTF-8",
            masked(true, Opcode::Close, &[0x03, 0xE8, 0xFF]),
            1007,
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(close_code_for(&server, &bytes), expected, "{name}");
    }
    assert!(!server.log().contains("panicked"));
}

#[test]
fn a_huge_announced_length_is_refused_before_any_payload_arrives() {
    let server = chapter_9(&[]);
    let mut client = connect(&server);
    // 2^63 - 1 bytes announced; nothing follows. The refusal must come at once.
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    header.extend_from_slice(&TEST_MASK);
    client.send_raw(&header).unwrap();
    let (code, reason) = expect_close(&mut client);
    assert_eq!(code, 1009, "{reason}");
}
