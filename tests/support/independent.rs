//! tungstenite, a client that shares no code with ours: if our handshake or
//! framing were wrong in a way our own client shares, this is where it
//! would show.

use std::net::TcpStream;

use tungstenite::protocol::WebSocketConfig;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Error, Message, WebSocket};

use super::Server;

/// A tungstenite client's connection.
pub type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to `server` with tungstenite. Its message and frame
/// limits are raised to 64 MiB, above every limit our chapters have, so
/// that a size test finds our limit and not tungstenite's.
pub fn tungstenite_client(server: &Server) -> Socket {
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let (socket, _) = tungstenite::client::connect_with_config(url, Some(config), 3)
        .expect("tungstenite completes the handshake");
    socket
}

/// Reads until a data message arrives (tungstenite answers pings itself).
pub fn next_message(socket: &mut Socket) -> Message {
    loop {
        match socket.read().expect("a message") {
            Message::Ping(_) | Message::Pong(_) => continue,
            message => return message,
        }
    }
}

/// Reads past everything else to the close frame, and returns its code
/// and reason.
pub fn tungstenite_close(socket: &mut Socket) -> (u16, String) {
    loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Ok(Message::Close(None)) => panic!("a close frame without a code"),
            Ok(_) => continue,
            Err(error) => panic!("no close frame: {error}"),
        }
    }
}

/// After the closing handshake, the server has closed the connection.
pub fn tungstenite_hang_up(socket: &mut Socket) {
    match socket.read() {
        Err(Error::ConnectionClosed) => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
}

/// 2,000 tungstenite clients, all open before any of them talks, each
/// echoed three rounds; `while_open` runs with every one still open, then
/// they all close. What an event loop (chapters 13 and 15) must hold on
/// its one thread. Every client comes from 127.0.0.1, so the server must
/// be started with its per-address share raised to 2,000.
pub fn two_thousand_clients_echo_at_once(server: &Server, while_open: impl FnOnce()) {
    let mut sockets: Vec<_> = (0..2000).map(|_| tungstenite_client(server)).collect();
    for round in 0..3 {
        for (id, socket) in sockets.iter_mut().enumerate() {
            socket
                .send(Message::text(format!("client {id}, round {round}")))
                .unwrap();
        }
        for (id, socket) in sockets.iter_mut().enumerate() {
            assert_eq!(
                socket.read().unwrap(),
                Message::text(format!("client {id}, round {round}"))
            );
        }
    }
    while_open();
    for socket in &mut sockets {
        socket.close(None).unwrap();
    }
    for mut socket in sockets {
        while socket.read().is_ok() {}
    }
    assert!(!server.log().contains("panicked"));
}

/// The threads of a process, as Linux counts them.
pub fn threads_of(pid: u32) -> usize {
    status_number(pid, "Threads:") as usize
}

/// A number from `/proc/PID/status`, such as `Threads:` or `VmRSS:` (KiB).
pub fn status_number(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
