//! An independent client — tungstenite, which shares no code with us —
//! talks to our chapters. If our handshake or framing were wrong in a way
//! our own client shares, this is where it would show.
//!
//! Chapter 4 for the article's exchange; chapter 9 for everything the
//! article's extra credit adds, chapters 5–8 included: every length form,
//! text and binary, fragments with a ping between them, the closing
//! handshake.

mod support;

use support::{Server, next_message, tungstenite_client, tungstenite_close, tungstenite_hang_up};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};

const SIZES: [usize; 5] = [125, 126, 65535, 65536, 1_000_000];

fn chapter_9(args: &[&str]) -> Server {
    Server::start(env!("CARGO_BIN_EXE_09-closing-handshake"), args)
}

#[test]
fn tungstenite_hears_loud_and_clear_from_chapter_4() {
    let server = Server::start(env!("CARGO_BIN_EXE_04-reply"), &["--connections", "1"]);
    // tungstenite refuses any answer but a 101 carrying the accept key its
    // own key calls for: connecting at all is the handshake's check.
    let mut socket = tungstenite_client(&server);
    socket.send(Message::text("Can you hear me?")).unwrap();
    let reply = socket.read().expect("a reply");
    assert_eq!(reply, Message::text("Loud and clear!"));
    drop(socket);
    let log = server.finish();
    assert!(log.contains("Converted to a string: \"Can you hear me?\""));
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
