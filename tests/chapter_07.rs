//! Chapter 7, messages in several frames (`07-fragmented-messages`): three
//! fragments assembled into one message, pinned in
//! `snapshots/07-fragmented-messages.snap`. And what a protocol error gets
//! before chapter 9: a hang-up, except invalid UTF-8 (1007) and a message
//! over the limit (1009), which already get a close frame.

mod support;

use support::{Reply, Server, Transcript, close_code_for, connect, masked};
use websocket_from_scratch::protocol::frame::{FrameError, Opcode};

#[test]
fn chapter_7_assembles_three_fragments() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_07-fragmented-messages"),
        &["--connections", "1"],
    );
    let mut client = Transcript::connect(&server);
    client.send(false, Opcode::Text, b"Can you");
    client.send(false, Opcode::Continuation, b" hear");
    client.send(true, Opcode::Continuation, b" me?");
    client.receive();
    let replies = client.hang_up();
    let log = server.finish();
    assert_chapter_snapshot!("07-fragmented-messages", &log);
    assert_eq!(replies, [Reply::Text("Can you hear me?".into())]);
    // The assembly, checked again: a snapshot accepted by mistake must not
    // lose it.
    assert!(log.contains("Assembled a text message from 3 frames: 16 bytes"));
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
        Ok(1007)
    );
    assert_eq!(
        close_code_for(&server, &masked(true, Opcode::Text, &[b'a'; 11])),
        Ok(1009)
    );

    // The close frame a browser sends when a tab closes is not understood yet.
    let mut client = connect(&server);
    client
        .send_raw(&masked(true, Opcode::Close, &1001u16.to_be_bytes()))
        .unwrap();
    assert!(matches!(client.receive(), Err(FrameError::Closed)));
    server.wait_for_log("the closing handshake is chapter 9");
}
