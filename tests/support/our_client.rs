//! Our own client (`websocket_from_scratch::client`), driven frame by frame:
//! it can send what no well-behaved client would.

use websocket_from_scratch::client::{ARTICLE_KEY, ARTICLE_MASK, Client};
use websocket_from_scratch::frame::{self, FrameError, Opcode};

use super::Server;

/// A fixed mask per test frame, so snapshots are the same on every run.
pub const TEST_MASK: [u8; 4] = [1, 2, 3, 4];

/// Connects our client with the article's key.
pub fn connect(server: &Server) -> Client {
    Client::connect(server.port, ARTICLE_KEY).expect("the handshake succeeds")
}

/// The article's scenario, played by our client: handshake with the
/// article's key, "Can you hear me?" with its mask. Returns the client.
pub fn article_client(server: &Server) -> Client {
    let mut client = connect(server);
    client
        .send(true, Opcode::Text, b"Can you hear me?", ARTICLE_MASK)
        .unwrap();
    client
}

/// One frame as a client sends it, masked with [`TEST_MASK`].
pub fn masked(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    frame::encode(fin, opcode, Some(TEST_MASK), payload)
}

/// Reads frames until one with `opcode` arrives, answering pings on the way;
/// returns its payload.
pub fn expect_frame(client: &mut Client, opcode: Opcode) -> Vec<u8> {
    loop {
        let (header, payload) = client.receive().expect("a frame arrives");
        if header.opcode == opcode {
            return payload;
        }
        if header.opcode == Opcode::Ping && opcode != Opcode::Ping {
            client
                .send(true, Opcode::Pong, &payload, TEST_MASK)
                .unwrap();
            continue;
        }
        panic!("expected a {opcode} frame, got {header:?}");
    }
}

/// The close frame the server sent: its code and reason.
pub fn expect_close(client: &mut Client) -> (u16, String) {
    let payload = expect_frame(client, Opcode::Close);
    assert!(
        payload.len() >= 2,
        "close frame without a code: {payload:?}"
    );
    (
        u16::from_be_bytes([payload[0], payload[1]]),
        String::from_utf8_lossy(&payload[2..]).into_owned(),
    )
}

/// After the close frame, the server hangs up.
pub fn expect_hang_up(client: &mut Client) {
    match client.receive() {
        Err(FrameError::Closed) => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
}

/// Sends `bytes` after the handshake and returns the close code that comes
/// back; the server must hang up after it.
pub fn close_code_for(server: &Server, bytes: &[u8]) -> u16 {
    let mut client = connect(server);
    client.send_raw(bytes).unwrap();
    let (code, _) = expect_close(&mut client);
    expect_hang_up(&mut client);
    code
}
