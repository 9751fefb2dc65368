//! Chapter 6, binary messages (`06-binary`): binary echoed as binary and
//! logged as hex, pinned in `snapshots/06-binary.snap`.

mod support;

use support::{Reply, Server, Transcript};
use websocket_from_scratch::protocol::frame::Opcode;

#[test]
fn chapter_6_echoes_binary_as_binary() {
    let server = Server::start(env!("CARGO_BIN_EXE_06-binary"), &["--connections", "1"]);
    let bytes: Vec<u8> = (0..=255).collect();
    let mut client = Transcript::connect(&server);
    client.send(true, Opcode::Binary, &bytes);
    client.receive();
    let replies = client.hang_up();
    let log = server.finish();
    assert_chapter_snapshot!("06-binary", &log);
    assert_eq!(replies, [Reply::Binary(bytes)]);
    // The hex preview, checked again: a snapshot accepted by mistake must
    // not lose it.
    assert!(log.contains("hex: 00 01 02 03"));
}
