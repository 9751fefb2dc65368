//! Chapter 8, ping and pong (`08-ping-pong`): the server's own ping
//! answered, and a ping between two fragments answered there and then,
//! pinned in `snapshots/08-ping-pong.snap`.

mod support;

use support::{Server, TEST_MASK, connect, expect_frame};
use websocket_from_scratch::frame::Opcode;

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
