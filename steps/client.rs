//! The client — our own, from scratch (not in the article).
//!
//! The article's browser chose its own key and mask, so its numbers are
//! hard to reproduce. This client does the handshake from the client's
//! side (`client::Client::connect`: send the upgrade request, check the
//! `101` and its `Sec-WebSocket-Accept`) and sends one masked text frame,
//! with the key and mask you choose:
//!
//! ```text
//! cargo run --bin client -- --key E4i4gDQc1XTIQcQxvf+ODA== --mask 80,191,161,254
//! ```
//!
//! Those are the article's values, and against chapter 3 they produce its
//! bytes exactly. Without them the client picks fresh random ones, as a
//! browser must (RFC 6455 §4.1, §5.3).
//!
//! After sending, it prints whatever the server answers. When a reply
//! arrives it starts the closing handshake (a close frame with code 1000,
//! RFC 6455 §5.5.1), answers pings with pongs, and stops when the server
//! closes the connection.

use std::process::ExitCode;
use std::time::Duration;

use websocket_from_scratch::client::{self, Client, MaskKey};
use websocket_from_scratch::command_line::{Args, CommandLineError};
use websocket_from_scratch::narrate;
use websocket_from_scratch::protocol::control;
use websocket_from_scratch::protocol::frame::{FrameError, Opcode};
use websocket_from_scratch::server::listener::DEFAULT_PORT;

/// What to send, and where: the whole command line, read once.
struct Options {
    port: u16,
    key: String,
    mask: [u8; 4],
    message: String,
}

impl Options {
    fn from_env() -> Result<Options, CommandLineError> {
        let mut args = Args::from_env()?;
        let port = args.value("--port", "N")?.unwrap_or(DEFAULT_PORT);
        let key = args
            .value::<String>("--key", "BASE64")?
            .unwrap_or_else(client::random_key);
        let MaskKey(mask) = args
            .value("--mask", "A,B,C,D")?
            .unwrap_or(MaskKey(client::random_mask()));
        let message = args
            .value::<String>("--message", "TEXT")?
            .unwrap_or_else(|| "Can you hear me?".to_string());
        args.finish()?;
        Ok(Options {
            port,
            key,
            mask,
            message,
        })
    }
}

fn main() -> ExitCode {
    let options = match Options::from_env() {
        Ok(options) => options,
        Err(stop) => return stop.report(),
    };
    narrate::init();
    match talk(options.port, &options.key, options.mask, &options.message) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            narrate::problem(problem);
            ExitCode::FAILURE
        }
    }
}

fn talk(port: u16, key: &str, mask: [u8; 4], message: &str) -> Result<(), String> {
    narrate::event(format!("Connecting to ws://localhost:{port}"));
    narrate::sent(format!("Sending handshake with key: {key}"));
    let mut client = Client::connect(port, key).map_err(|error| error.to_string())?;
    narrate::received(format!("Server answered: {}", client.response.start_line));
    narrate::received(format!(
        "Sec-WebSocket-Accept: {} (the value our key calls for)",
        client
            .response
            .header("Sec-WebSocket-Accept")
            .unwrap_or_default()
    ));

    narrate::sent(format!("Sending {message:?} masked with {mask:?}"));
    let bytes = client
        .send(true, Opcode::Text, message.as_bytes(), mask)
        .map_err(|error| error.to_string())?;
    narrate::sent(format!("Frame bytes: {bytes:?}"));

    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|error| error.to_string())?;
    let mut closing = false;
    loop {
        match client.receive() {
            Ok((header, payload)) => match header.opcode {
                Opcode::Text => narrate::received(format!(
                    "Received text frame: {:?}",
                    String::from_utf8_lossy(&payload)
                )),
                Opcode::Binary => {
                    narrate::received(format!("Received binary frame of {} bytes", payload.len()))
                }
                Opcode::Ping => {
                    narrate::received(format!(
                        "Received ping {}; answering with a pong",
                        control::describe(&payload)
                    ));
                    let _ = client.send(true, Opcode::Pong, &payload, client::random_mask());
                    continue;
                }
                Opcode::Close => {
                    narrate::received(format!("Received close frame {payload:?}"));
                    if !closing {
                        let _ = client.send(true, Opcode::Close, &payload, client::random_mask());
                    }
                    closing = true;
                    continue;
                }
                other => narrate::received(format!("Received {other} frame {payload:?}")),
            },
            Err(FrameError::Closed) => {
                narrate::event("The server closed the connection.");
                return Ok(());
            }
            Err(FrameError::TimedOut) if !closing => {}
            Err(error) => return Err(error.to_string()),
        }
        if !closing {
            narrate::sent("Sending close frame with code 1000 (normal closure)");
            let _ = client.send(
                true,
                Opcode::Close,
                &1000u16.to_be_bytes(),
                client::random_mask(),
            );
            closing = true;
        }
    }
}
