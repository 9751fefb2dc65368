//! Chapter 13, the event loop (`13-event-loop`): every behaviour test of
//! chapter 10, run against this binary, its narration pinned in
//! `snapshots/13-event-loop.snap`; then what only one thread serving
//! everyone must show: thousands of connections at once, and a peer that
//! never reads costing the others nothing.

mod support;

#[macro_use]
mod echo_behaviour;

echo_server_behaviour!(env!("CARGO_BIN_EXE_13-event-loop"), "13-event-loop");

/// The chapter stays one a reader can take in: at most 450 lines of code
/// (not blank, not only a comment), and `diff` against chapter 10, its
/// base, at most 600 changed lines.
#[test]
fn the_lesson_stays_readable_at_one_sitting() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let chapter = std::fs::read_to_string(root.join("steps/13-event-loop.rs")).unwrap();
    let code = chapter
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .count();
    assert!(code <= 450, "{code} lines of code");
    let diff = std::process::Command::new("diff")
        .args(["steps/10-echo-server.rs", "steps/13-event-loop.rs"])
        .current_dir(root)
        .output()
        .expect("diff runs");
    let changed = String::from_utf8_lossy(&diff.stdout)
        .lines()
        .filter(|line| line.starts_with('<') || line.starts_with('>'))
        .count();
    assert!(changed <= 600, "{changed} changed lines against chapter 10");
}

mod one_thread {
    use super::support::{Server, threads_of, two_thousand_clients_echo_at_once};

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
        super::support::a_peer_that_never_reads_does_not_stop_the_loop(SERVER);
    }

    #[test]
    fn peers_that_never_read_their_pongs_cost_about_their_backlog() {
        super::support::peers_that_never_read_their_pongs_cost_about_their_backlog(SERVER);
    }

    #[test]
    fn a_burst_of_pings_leaves_no_memory_behind() {
        super::support::a_burst_of_pings_leaves_no_memory_behind(SERVER);
    }
}
