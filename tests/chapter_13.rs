//! Chapter 13, the event loop (`13-event-loop`): every behaviour test of
//! chapter 10, run against this binary, its narration pinned in
//! `snapshots/13-event-loop.snap`; then what only one thread serving
//! everyone must show: thousands of connections at once, and a peer that
//! never reads costing the others nothing.

mod support;

#[macro_use]
mod echo_behaviour;

echo_server_behaviour!(env!("CARGO_BIN_EXE_13-event-loop"), "13-event-loop");

mod one_thread {
    use std::io::{Read, Write};
    use std::thread;
    use std::time::{Duration, Instant};

    use websocket_from_scratch::protocol::frame::{self, Opcode};

    use super::support::{
        Server, TEST_MASK, connect, expect_frame, threads_of, two_thousand_clients_echo_at_once,
        upgrade_request,
    };

    const SERVER: &str = env!("CARGO_BIN_EXE_13-event-loop");

    #[test]
    fn two_thousand_connections_echo_at_once_on_one_thread() {
        // Every client comes from 127.0.0.1, so its share is raised to all.
        let server = Server::start(
            SERVER,
            &["--quiet", "--max-connections-per-address", "2000"],
        );
        two_thousand_clients_echo_at_once(&server, || {
            // The loop and the log writer: no thread per connection.
            assert_eq!(threads_of(server.pid()), 2);
        });
    }

    #[test]
    fn a_peer_that_never_reads_does_not_stop_the_loop() {
        // Its idle timeout is long: the stuck peer is still there, backed
        // up, all the while the other client is served.
        let server = Server::start(SERVER, &["--idle-timeout", "30"]);
        let mut stuck = server.connect_raw();
        stuck
            .write_all(upgrade_request(server.port, ("", "")).as_slice())
            .unwrap();
        let mut head = [0; 12];
        stuck.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 101");
        let big = frame::encode(true, Opcode::Binary, Some(TEST_MASK), &vec![0; 1 << 20]);
        // Send until the server stops reading us: its echoes, which we
        // never read, back up, and it stops taking our messages.
        stuck
            .set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let give_up = Instant::now() + Duration::from_secs(20);
        while stuck.write_all(&big).is_ok() && Instant::now() < give_up {}
        // Meanwhile, another client is served in full.
        let mut client = connect(&server);
        for round in 0..200 {
            let text = format!("round {round}");
            client
                .send(true, Opcode::Text, text.as_bytes(), TEST_MASK)
                .unwrap();
            assert_eq!(expect_frame(&mut client, Opcode::Text), text.as_bytes());
        }
        let log = server.log();
        assert!(!log.contains("stopped reading"), "{log}");
        drop(stuck);
        thread::sleep(Duration::from_millis(100));
        client
            .send(true, Opcode::Text, b"after", TEST_MASK)
            .unwrap();
        assert_eq!(expect_frame(&mut client, Opcode::Text), b"after");
    }
}
