//! Chapter 8, ping and pong (`08-ping-pong`): the server's own ping
//! answered, and a ping between two fragments answered there and then,
//! pinned in `snapshots/08-ping-pong.snap`.

mod support;

use support::{Reply, Server, Transcript};
use websocket_from_scratch::protocol::frame::Opcode;

#[test]
fn chapter_8_answers_a_ping_between_fragments() {
    let server = Server::start(env!("CARGO_BIN_EXE_08-ping-pong"), &["--connections", "1"]);
    let mut client = Transcript::connect(&server);
    client.receive(); // the server's own ping, answered
    client.send(false, Opcode::Text, b"Hel");
    client.send(true, Opcode::Ping, b"still here?");
    client.send(true, Opcode::Continuation, b"lo");
    client.receive();
    client.receive();
    let replies = client.hang_up();
    let log = server.finish();
    assert_chapter_snapshot!("08-ping-pong", &log);
    assert_eq!(
        replies,
        [
            Reply::Ping(b"Are you still there?".to_vec()),
            Reply::Pong(b"still here?".to_vec()),
            Reply::Text("Hello".into()),
        ]
    );
    // The pong to the server's own ping, checked again: a snapshot accepted
    // by mistake must not lose it.
    assert!(log.contains("the client answered our ping"));
}
