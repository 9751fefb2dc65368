//! Chapter 6, binary messages (`06-binary`): binary echoed as binary and
//! logged as hex, pinned in `snapshots/06-binary.snap`.

mod support;

use support::{Server, TEST_MASK, connect, expect_frame};
use websocket_from_scratch::frame::Opcode;

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
