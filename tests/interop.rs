//! An independent client — tungstenite, which shares no code with us —
//! talks to our chapters. If our handshake or framing were wrong in a way
//! our own client shares, this is where it would show.

mod support;

use support::{Server, tungstenite_client};
use tungstenite::Message;

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
