//! Chapters 5–9 against an independent client (tungstenite, limits raised)
//! and against raw frames no well-behaved client would send.

mod support;

use support::{
    Server, TEST_MASK, close_code_for, connect, expect_close, expect_frame, masked, next_message,
    tungstenite_client, tungstenite_close, tungstenite_hang_up,
};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use websocket_from_scratch::frame::{FrameError, Opcode};

const SIZES: [usize; 5] = [125, 126, 65535, 65536, 1_000_000];

fn chapter_9(args: &[&str]) -> Server {
    Server::start(env!("CARGO_BIN_EXE_09-closing-handshake"), args)
}

#[test]
fn every_size_echoes_as_text_and_as_binary() {
    let server = chapter_9(&[]);
    let mut socket = tungstenite_client(&server);
    for size in SIZES {
        let text = "é".repeat(size / 2) + &"a".repeat(size % 2);
        socket.send(Message::text(text.clone())).unwrap();
        assert_eq!(
            next_message(&mut socket),
            Message::text(text),
            "text {size}"
        );
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        socket.send(Message::binary(bytes.clone())).unwrap();
        assert_eq!(
            next_message(&mut socket),
            Message::binary(bytes),
            "binary {size}"
        );
    }
}

#[test]
fn fragmented_messages_come_back_whole() {
    let server = chapter_9(&[]);
    let mut socket = tungstenite_client(&server);
    socket
        .send(Message::Frame(Frame::message(
            "Hel",
            OpCode::Data(Data::Text),
            false,
        )))
        .unwrap();
    socket.send(Message::Frame(Frame::ping("between"))).unwrap();
    socket
        .send(Message::Frame(Frame::message(
            "lo",
            OpCode::Data(Data::Continue),
            true,
        )))
        .unwrap();
    let pong = loop {
        match socket.read().unwrap() {
            Message::Ping(_) => continue,
            other => break other,
        }
    };
    assert_eq!(pong, Message::Pong("between".into()));
    assert_eq!(next_message(&mut socket), Message::text("Hello"));

    let big: Vec<u8> = vec![7; 300_000];
    for (index, part) in big.chunks(100_000).enumerate() {
        let opcode = if index == 0 {
            OpCode::Data(Data::Binary)
        } else {
            OpCode::Data(Data::Continue)
        };
        socket
            .send(Message::Frame(Frame::message(
                part.to_vec(),
                opcode,
                index == 2,
            )))
            .unwrap();
    }
    assert_eq!(next_message(&mut socket), Message::binary(big));
}

#[test]
fn a_ping_gets_a_pong_with_the_same_payload() {
    let server = chapter_9(&[]);
    let mut socket = tungstenite_client(&server);
    socket.send(Message::Ping("are you there?".into())).unwrap();
    loop {
        match socket.read().unwrap() {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"are you there?");
                break;
            }
            Message::Ping(_) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
}

#[test]
fn the_closing_handshake_echoes_the_code() {
    let server = chapter_9(&[]);
    let mut socket = tungstenite_client(&server);
    socket
        .close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "leaving".into(),
        }))
        .unwrap();
    assert_eq!(tungstenite_close(&mut socket).0, 1001);
    tungstenite_hang_up(&mut socket);
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

#[test]
fn chapters_before_9_hang_up_on_protocol_errors_but_close_1007_and_1009() {
    let binary = env!("CARGO_BIN_EXE_07-fragmented-messages");
    let server = Server::start(binary, &["--max-message-size", "10"]);

    let mut client = connect(&server);
    client
        .send_raw(&masked(true, Opcode::Continuation, b"x"))
        .unwrap();
    assert!(matches!(client.receive(), Err(FrameError::Closed)));

    assert_eq!(
        close_code_for(&server, &masked(true, Opcode::Text, &[0xFF])),
        1007
    );
    assert_eq!(
        close_code_for(&server, &masked(true, Opcode::Text, &[b'a'; 11])),
        1009
    );

    // The close frame a browser sends when a tab closes is not understood yet.
    let mut client = connect(&server);
    client
        .send_raw(&masked(true, Opcode::Close, &1001u16.to_be_bytes()))
        .unwrap();
    assert!(matches!(client.receive(), Err(FrameError::Closed)));
    server.wait_for_log("the closing handshake is chapter 9");
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
