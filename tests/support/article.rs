//! The article's scenario: a browser asks for the page, then its script
//! opens the WebSocket with the article's key and sends "Can you hear me?"
//! with the article's mask.

use websocket_from_scratch::client::{ARTICLE_KEY, ARTICLE_MASK};
use websocket_from_scratch::protocol::frame::Opcode;

use super::{Server, article_client, run_to_end};

/// What a browser sends when its address bar asks for the page.
pub fn page_request(port: u16) -> String {
    format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\nAccept: text/html\r\n\r\n")
}

/// The upgrade request the article's browser sent (its key), with the first
/// `replace.0` in it replaced by `replace.1`.
pub fn upgrade_request(port: u16, replace: (&str, &str)) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {ARTICLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .replacen(replace.0, replace.1, 1)
    .into_bytes()
}

/// The first line of an HTTP answer.
pub fn status_line(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn article_client_args(port: u16) -> Vec<String> {
    let mask = ARTICLE_MASK.map(|byte| byte.to_string()).join(",");
    vec![
        "--port".into(),
        port.to_string(),
        "--key".into(),
        ARTICLE_KEY.into(),
        "--mask".into(),
        mask,
    ]
}

/// What the article's scenario left behind, for a test to check after it
/// has compared the chapter's narration with its snapshot.
pub struct ArticleRun {
    /// The chapter's narration.
    pub log: String,
    /// What our client printed.
    pub client_log: String,
    /// The chapter's answer to the page request.
    page: Vec<u8>,
}

impl ArticleRun {
    /// The page request got the page, its status line ending in CRLF.
    #[track_caller]
    pub fn assert_page_served(&self) {
        assert!(
            self.page.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "the page request got {:?}",
            String::from_utf8_lossy(&self.page)
        );
    }
}

/// Runs the article's scenario — the page, then the WebSocket — against a
/// chapter. Nothing here fails the test: the narration is compared first.
pub fn play_article(binary: &str) -> ArticleRun {
    let server = Server::start(binary, &["--connections", "2"]);
    let page = server.exchange_raw(page_request(server.port).as_bytes());
    let args = article_client_args(server.port);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, client_log) = run_to_end(env!("CARGO_BIN_EXE_client"), &args);
    let client_log = client_log.replace(&format!(":{}", server.port), ":PORT");
    ArticleRun {
        log: server.finish(),
        client_log,
        page,
    }
}

/// The article's whole exchange still works against chapter 4: one bad
/// peer has not taken the server down.
pub fn assert_still_serving(server: &Server) {
    let mut client = article_client(server);
    let (header, payload) = client.receive().expect("the reply arrives");
    assert_eq!(header.opcode, Opcode::Text);
    assert_eq!(payload, b"Loud and clear!");
}
