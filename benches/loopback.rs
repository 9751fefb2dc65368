//! Connecting from a chosen loopback address (127.0.0.x), which needs
//! binding before connecting: shared by the benchmarks whose clients
//! spread over several source addresses.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};

/// A TCP connection to `127.0.0.1:port` from `source`, any free port.
pub fn connect_from(source: Ipv4Addr, port: u16) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    Ok(socket.into())
}
