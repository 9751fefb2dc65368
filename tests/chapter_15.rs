//! Chapter 15, the tuned event loop (`15-tuned`): every behaviour test of
//! chapter 10, run against this binary, its narration pinned in
//! `snapshots/15-tuned.snap`; then what only one thread serving
//! everyone must show: thousands of connections at once, and a peer that
//! never reads costing the others nothing.

mod support;

#[macro_use]
mod echo_behaviour;

echo_server_behaviour!(env!("CARGO_BIN_EXE_15-tuned"), "15-tuned");

mod one_thread {
    use super::support::{Server, threads_of, two_thousand_clients_echo_at_once};

    const SERVER: &str = env!("CARGO_BIN_EXE_15-tuned");

    #[test]
    fn two_thousand_connections_echo_at_once_on_one_thread() {
        // Every client comes from 127.0.0.1, so its share is raised to all.
        let server = Server::start(
            SERVER,
            &["--quiet", "--max-connections-per-address", "2000"],
        );
        two_thousand_clients_echo_at_once(&server, || {
            // One loop, its alarm, and the log writer: no thread per connection.
            assert_eq!(threads_of(server.pid()), 3);
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
