//! The behaviour every echo server of this crate must have, whoever
//! drives its session: chapter 10 (a thread per connection) and chapter
//! 13 (an event loop) run the same tests, each against its own binary and
//! its own snapshot of the same scripted conversation.

/// Defines the shared tests, for the binary `$server`, pinning the default
/// narration in `snapshots/$snapshot.snap`.
macro_rules! echo_server_behaviour {
    ($server:expr, $snapshot:literal) => {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Barrier};
        use std::thread;
        use std::time::{Duration, Instant};

        use support::{
            Reply, Server, TEST_MASK, Transcript, assert_close_codes, connect, expect_close, expect_frame,
            expect_hang_up, masked, tungstenite_client, tungstenite_close, tungstenite_hang_up,
        };
        use tungstenite::Message;
        use tungstenite::protocol::frame::CloseFrame;
        use tungstenite::protocol::frame::coding::CloseCode;
        use websocket_from_scratch::protocol::frame::{self, FrameError, Opcode};

        const SERVER: &str = $server;

        #[test]
        fn default_narration_is_one_line_per_message() {
            let server = Server::start(SERVER, &["--connections", "1"]);
            let bytes: Vec<u8> = (0..=255).collect();
            let mut client = Transcript::connect(&server);
            client.send(true, Opcode::Text, b"Can you hear me?");
            client.receive();
            client.send(true, Opcode::Binary, &bytes);
            client.receive();
            client.send(false, Opcode::Text, b"Hel");
            client.send(true, Opcode::Ping, b"still there?");
            client.send(true, Opcode::Continuation, b"lo");
            client.receive();
            client.receive();
            let mut bye = 1000u16.to_be_bytes().to_vec();
            bye.extend_from_slice(b"bye");
            client.send(true, Opcode::Close, &bye);
            client.receive_to_the_end();
            let replies = client.hang_up();
            let log = server.finish();
            assert_chapter_snapshot!($snapshot, &log);
            assert_eq!(
                replies,
                [
                    Reply::Text("Can you hear me?".into()),
                    Reply::Binary(bytes),
                    Reply::Pong(b"still there?".to_vec()),
                    Reply::Text("Hello".into()),
                    Reply::Close(1000, String::new()),
                    Reply::HungUp,
                ]
            );
        }

        #[test]
        fn verbose_tells_the_frame_by_frame_story_and_quiet_tells_nothing() {
            for (flag, expected, absent) in [
                (
                    "--verbose",
                    "Received text frame: FIN 1, 2 bytes (7-bit length)",
                    "→ echoed",
                ),
                ("--quiet", "Listening on", "→ echoed"),
            ] {
                let server = Server::start(SERVER, &["--connections", "1", flag]);
                let mut client = connect(&server);
                client.send(true, Opcode::Text, b"hi", TEST_MASK).unwrap();
                assert_eq!(expect_frame(&mut client, Opcode::Text), b"hi");
                drop(client);
                let log = server.finish();
                assert!(log.contains(expected), "{flag}:\n{log}");
                assert!(!log.contains(absent), "{flag}:\n{log}");
                if flag == "--quiet" {
                    assert_eq!(log.lines().count(), 1, "{log}");
                }
            }
        }

        #[test]
        fn a_client_close_is_echoed_and_the_server_closes_first() {
            let server = Server::start(SERVER, &[]);
            let mut socket = tungstenite_client(&server);
            socket.send(Message::text("hello")).unwrap();
            assert_eq!(socket.read().unwrap(), Message::text("hello"));
            socket
                .close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "done".into(),
                }))
                .unwrap();
            assert_eq!(tungstenite_close(&mut socket).0, 1000);
            tungstenite_hang_up(&mut socket);
            server.wait_for_log("← close 1000 (normal closure) \"done\" → close, hang up");
        }

        #[test]
        fn protocol_errors_close_with_1002_1007_and_1009() {
            let server = Server::start(SERVER, &["--max-message-size", "1000"]);
            // Each row: the rule its bytes break (RFC 6455), the bytes, the code
            // §7.4.1 assigns to breaking it.
            let rows: Vec<(&str, Vec<u8>, u16)> = vec![
                (
                    "§5.4: a continuation frame continues a message in progress",
                    masked(true, Opcode::Continuation, b"x"),
                    1002,
                ),
                (
                    "§5.1: every frame from a client is masked",
                    frame::encode(true, Opcode::Text, None, b"unmasked"),
                    1002,
                ),
                (
                    "§8.1: text is valid UTF-8 (C0 80 is an overlong NUL)",
                    masked(true, Opcode::Text, &[0xC0, 0x80]),
                    1007,
                ),
                (
                    "§10.4: a message is at most --max-message-size (1000 bytes here)",
                    masked(true, Opcode::Binary, &[0; 1001]),
                    1009,
                ),
            ];
            assert_close_codes(&server, &rows);
            // A message exactly at the limit is fine.
            let mut socket = tungstenite_client(&server);
            socket.send(Message::binary(vec![9; 1000])).unwrap();
            assert_eq!(socket.read().unwrap(), Message::binary(vec![9; 1000]));
        }

        #[test]
        fn invalid_utf8_fails_before_the_rest_of_the_frame_arrives() {
            let server = Server::start(SERVER, &[]);
            let mut client = connect(&server);
            // A 1000-byte text frame whose third byte is invalid; only 10 bytes sent.
            let mut payload = b"ok".to_vec();
            payload.push(0xFF);
            payload.resize(1000, b'a');
            let bytes = frame::encode(true, Opcode::Text, Some(TEST_MASK), &payload);
            client.send_raw(&bytes[..8 + 10]).unwrap();
            let (code, reason) = expect_close(&mut client);
            assert_eq!(code, 1007, "{reason}");
        }

        #[test]
        fn a_slow_handshake_is_cut_off_at_its_deadline() {
            let server = Server::start(SERVER, &["--handshake-timeout", "0.5"]);
            let mut stream = server.connect_raw();
            let mut trickle = stream.try_clone().unwrap();
            // A head that never ends, one byte every 0.2 s for about 20 s: that
            // would satisfy any per-read timeout for as long as it lasts. Only a
            // deadline for the whole request head cuts it off while it still arrives.
            let still_sending = Arc::new(AtomicBool::new(true));
            let sending = Arc::clone(&still_sending);
            thread::spawn(move || {
                let head = "GET / HTTP/1.1\r\n".to_string() + &"X-Slow: 1\r\n".repeat(8);
                for byte in head.bytes() {
                    if trickle.write_all(&[byte]).is_err() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(200));
                }
                sending.store(false, Ordering::SeqCst);
            });
            let mut answer = [0; 30];
            stream
                .read_exact(&mut answer)
                .expect("an answer while the head is still arriving");
            assert!(
                answer.starts_with(b"HTTP/1.1 408 Request Timeout"),
                "{answer:?}"
            );
            assert!(
                still_sending.load(Ordering::SeqCst),
                "the 408 came only after the client stopped sending: a per-read timeout, not a deadline"
            );
        }

        #[test]
        fn an_idle_connection_is_pinged_then_dropped_with_1001() {
            let server = Server::start(SERVER, &["--idle-timeout", "0.3"]);

            // Answering the ping keeps the connection: the next idle period brings
            // another ping, not a close.
            let mut client = connect(&server);
            for _ in 0..2 {
                let (header, payload) = client.receive().unwrap();
                assert_eq!(header.opcode, Opcode::Ping);
                client
                    .send(true, Opcode::Pong, &payload, TEST_MASK)
                    .unwrap();
            }
            client
                .send(true, Opcode::Text, b"still here", TEST_MASK)
                .unwrap();
            assert_eq!(expect_frame(&mut client, Opcode::Text), b"still here");

            // Saying nothing at all ends it.
            let mut client = connect(&server);
            let (header, payload) = client.receive().unwrap();
            assert_eq!(
                (header.opcode, payload.as_slice()),
                (Opcode::Ping, &b"idle check"[..])
            );
            assert_eq!(expect_close(&mut client).0, 1001);
            expect_hang_up(&mut client);
            server.wait_for_log("no answer to our ping");
        }

        #[test]
        fn half_a_frame_then_silence_is_reaped() {
            let server = Server::start(SERVER, &["--idle-timeout", "0.3"]);
            let mut client = connect(&server);
            let bytes = frame::encode(true, Opcode::Text, Some(TEST_MASK), b"never finished");
            client.send_raw(&bytes[..9]).unwrap();
            assert!(matches!(
                client.receive(),
                Err(FrameError::Closed) | Err(FrameError::Io(_))
            ));
            server.wait_for_log("timed out halfway through a frame");
        }

        #[test]
        fn a_peer_that_never_reads_is_reaped() {
            let server = Server::start(SERVER, &["--idle-timeout", "0.3"]);
            let mut client = connect(&server);
            let big = frame::encode(true, Opcode::Binary, Some(TEST_MASK), &vec![0; 4 << 20]);
            // Send until the server's echoes, which nobody reads, block it. The
            // deadline only ends the loop if sending never fails; the log says
            // whether the server gave up on us.
            let give_up = Instant::now() + Duration::from_secs(10);
            while client.send_raw(&big).is_ok() && Instant::now() < give_up {}
            server.wait_for_log("timed out sending: the peer has stopped reading");
        }

        /// A client that sends the handshake and the first 300 bytes of a
        /// 1,000-byte frame, then resets the connection: it closes with
        /// the rest of the `101` unread, which makes the kernel answer
        /// with a reset instead of a FIN (RFC 2525 §2.17).
        fn partial_frame_then_reset(server: &Server) {
            let mut socket = server.connect_raw();
            socket
                .write_all(&support::upgrade_request(server.port, ("", "")))
                .unwrap();
            let mut status = [0; 12];
            socket.read_exact(&mut status).unwrap();
            assert_eq!(&status, b"HTTP/1.1 101");
            let frame = frame::encode(true, Opcode::Binary, Some(TEST_MASK), &[7; 1000]);
            socket.write_all(&frame[..300]).unwrap();
        }

        #[test]
        fn a_reset_after_a_partial_frame_lets_the_connection_go_at_once() {
            // Every slot is taken by a client that resets mid-frame; soon
            // after, they must all be free again, long before the idle
            // timeout (30 s) would free them.
            let server = Server::start(
                SERVER,
                &[
                    "--quiet",
                    "--max-connections",
                    "200",
                    // Every client comes from 127.0.0.1: its share is the whole cap.
                    "--max-connections-per-address",
                    "200",
                    "--idle-timeout",
                    "30",
                ],
            );
            thread::scope(|scope| {
                for _ in 0..4 {
                    scope.spawn(|| {
                        for _ in 0..50 {
                            partial_frame_then_reset(&server);
                        }
                    });
                }
            });
            // All 200 at once: one slot still held means a 503 here. The
            // server takes a moment to see 200 resets (on a loaded machine,
            // longer): a client refused is tried again, for up to 10 s,
            // every client let in staying open meanwhile.
            let deadline = Instant::now() + Duration::from_secs(10);
            let url = format!("ws://127.0.0.1:{}/", server.port);
            let mut sockets = Vec::new();
            while sockets.len() < 200 {
                match tungstenite::client::connect(url.as_str()) {
                    Ok((socket, _)) => sockets.push(socket),
                    Err(tungstenite::Error::Http(response)) if response.status() == 503 => {
                        assert!(
                            Instant::now() < deadline,
                            "{} slots still held 10 s after their clients reset",
                            200 - sockets.len()
                        );
                        thread::sleep(Duration::from_millis(20));
                    }
                    Err(error) => panic!("the handshake failed: {error}"),
                }
            }
            for (id, socket) in sockets.iter_mut().enumerate() {
                let text = format!("client {id}");
                socket.send(Message::text(text.clone())).unwrap();
                assert_eq!(socket.read().unwrap(), Message::text(text));
            }
            for socket in &mut sockets {
                socket.close(None).unwrap();
            }
            for mut socket in sockets {
                while socket.read().is_ok() {}
            }
        }

        #[test]
        fn a_half_close_after_a_partial_frame_is_noticed_at_once() {
            let server = Server::start(SERVER, &["--idle-timeout", "30"]);
            let frame = frame::encode(true, Opcode::Binary, Some(TEST_MASK), &[7; 1000]);
            thread::scope(|scope| {
                for _ in 0..20 {
                    scope.spawn(|| {
                        let mut socket = server.connect_raw();
                        // Request, partial frame and end of stream arrive
                        // together, before the server has read any of it.
                        let mut bytes = support::upgrade_request(server.port, ("", ""));
                        bytes.extend_from_slice(&frame[..300]);
                        socket.write_all(&bytes).unwrap();
                        socket.shutdown(std::net::Shutdown::Write).unwrap();
                        // Far less than the idle timeout: the server lets
                        // go as soon as it reads the end of the stream.
                        socket
                            .set_read_timeout(Some(Duration::from_secs(5)))
                            .unwrap();
                        let mut answer = Vec::new();
                        let ended = socket.read_to_end(&mut answer);
                        assert!(
                            ended.is_ok(),
                            "the server still held the connection: {ended:?}"
                        );
                    });
                }
            });
        }

        #[test]
        fn two_hundred_clients_at_once() {
            let server = Server::start(SERVER, &["--quiet"]);
            let start = Barrier::new(200);
            thread::scope(|scope| {
                let clients: Vec<_> = (0..200)
                    .map(|id| {
                        let (server, start) = (&server, &start);
                        scope.spawn(move || {
                            let mut socket = tungstenite_client(server);
                            start.wait();
                            for round in 0..20 {
                                let text = format!("client {id}, round {round}");
                                socket.send(Message::text(text.clone())).unwrap();
                                assert_eq!(socket.read().unwrap(), Message::text(text));
                            }
                            socket.close(None).unwrap();
                            while socket.read().is_ok() {}
                        })
                    })
                    .collect();
                for client in clients {
                    client.join().expect("every client got every echo");
                }
            });
            assert!(!server.log().contains("panicked"));
        }
    };
}
