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
    Reply, Server, TEST_MASK, Transcript, assert_close_codes, connect, expect_close, masked,
};
use websocket_from_scratch::protocol::frame::{self, Opcode};

fn chapter_9(args: &[&str]) -> Server {
    Server::start(env!("CARGO_BIN_EXE_09-closing-handshake"), args)
}

#[test]
fn chapter_9_closes_politely_and_refuses_a_bad_code() {
    let server = chapter_9(&["--connections", "2"]);

    let mut client = Transcript::connect(&server);
    client.send(true, Opcode::Text, b"Can you hear me?");
    client.receive(); // the server's own ping, answered
    client.receive();
    let mut bye = 1000u16.to_be_bytes().to_vec();
    bye.extend_from_slice(b"bye");
    client.send(true, Opcode::Close, &bye);
    client.receive_to_the_end();
    let polite = client.hang_up();

    let mut client = Transcript::connect(&server);
    client.send(true, Opcode::Close, &999u16.to_be_bytes());
    client.receive_to_the_end();
    let refused = client.hang_up();

    let log = server.finish();
    assert_chapter_snapshot!("09-closing-handshake", &log);
    assert_eq!(
        polite,
        [
            Reply::Ping(b"Are you still there?".to_vec()),
            Reply::Text("Can you hear me?".into()),
            Reply::Close(1000, String::new()),
            Reply::HungUp,
        ]
    );
    assert!(
        matches!(
            refused.as_slice(),
            [Reply::Ping(_), Reply::Close(1002, _), Reply::HungUp]
        ),
        "{refused:?}"
    );
    // The close frame's meaning, checked again: a snapshot accepted by
    // mistake must not lose it.
    assert!(log.contains("Received close frame: code 1000 (normal closure), reason \"bye\""));
}

#[test]
fn each_protocol_error_gets_its_close_code() {
    let server = chapter_9(&["--max-message-size", "1000"]);
    let mut rsv1 = masked(true, Opcode::Text, b"hi");
    rsv1[0] |= 0b0100_0000;
    let close = |payload: &[u8]| masked(true, Opcode::Close, payload);
    // Each row: the rule its bytes break (RFC 6455), the bytes, the code
    // §7.4.1 assigns to breaking it.
    let rows: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "§5.2: reserved bits are 0 unless an extension was agreed",
            rsv1,
            1002,
        ),
        (
            "§5.2: opcode 3 is reserved",
            masked(true, Opcode::Reserved(3), b""),
            1002,
        ),
        (
            "§5.2: opcode 11 is reserved",
            masked(true, Opcode::Reserved(11), b""),
            1002,
        ),
        (
            "§5.1: every frame from a client is masked",
            frame::encode(true, Opcode::Text, None, b"hi"),
            1002,
        ),
        (
            "§5.5: a control frame carries at most 125 bytes",
            masked(true, Opcode::Ping, &[0; 126]),
            1002,
        ),
        (
            "§5.5: a control frame is never fragmented",
            masked(false, Opcode::Ping, b"x"),
            1002,
        ),
        (
            "§5.4: a continuation frame continues a message in progress",
            masked(true, Opcode::Continuation, b"x"),
            1002,
        ),
        (
            "§5.4: a new message waits until the last one has ended",
            [
                masked(false, Opcode::Text, b"a"),
                masked(true, Opcode::Text, b"b"),
            ]
            .concat(),
            1002,
        ),
        (
            "§5.2: a length uses the shortest form (5 in 16 bits)",
            vec![0x81, 0xFE, 0, 5, 1, 2, 3, 4, 0, 0, 0, 0, 0],
            1002,
        ),
        (
            "§5.2: a 64-bit length has its top bit clear",
            vec![0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
            1002,
        ),
        (
            "§8.1: text is valid UTF-8",
            masked(true, Opcode::Text, &[0xCE, 0xBA, 0xFF]),
            1007,
        ),
        (
            "§8.1: text is valid UTF-8 across fragments too",
            [
                masked(false, Opcode::Text, &[0xCE]),
                masked(true, Opcode::Continuation, &[0x41]),
            ]
            .concat(),
            1007,
        ),
        (
            "§10.4: a message is at most --max-message-size (1000 bytes here)",
            masked(true, Opcode::Binary, &[0; 1001]),
            1009,
        ),
        (
            "§10.4: the limit counts a fragmented message whole",
            [
                masked(false, Opcode::Binary, &[0; 600]),
                masked(true, Opcode::Continuation, &[0; 600]),
            ]
            .concat(),
            1009,
        ),
        (
            "§5.5.1: a close payload is empty or starts with a two-byte code",
            close(&[3]),
            1002,
        ),
        (
            "§7.4.2: codes 0–999 are not used (0)",
            close(&0u16.to_be_bytes()),
            1002,
        ),
        (
            "§7.4.2: codes 0–999 are not used (999)",
            close(&999u16.to_be_bytes()),
            1002,
        ),
        (
            "§7.4.1: 1005 (no code) is never sent in a close frame",
            close(&1005u16.to_be_bytes()),
            1002,
        ),
        (
            "§7.4.1: 1006 (closed abnormally) is never sent in a close frame",
            close(&1006u16.to_be_bytes()),
            1002,
        ),
        (
            "§7.4.1: 1015 (TLS failure) is never sent in a close frame",
            close(&1015u16.to_be_bytes()),
            1002,
        ),
        (
            "§7.4.2: 2000 is reserved for the protocol and not assigned",
            close(&2000u16.to_be_bytes()),
            1002,
        ),
        (
            "§5.5.1: a close reason is UTF-8",
            close(&[0x03, 0xE8, 0xFF]),
            1007,
        ),
    ];
    assert_close_codes(&server, &rows);
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
