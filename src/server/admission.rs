//! Admitting a connection: the connection cap, then the address's share.
//!
//! Every server from chapter 10 on holds at most `--max-connections`
//! connections at once, and each client address at most its share of them
//! (`--max-connections-per-address`, [`crate::server::address_share`]).
//! Over either, a new connection is answered `503 Service Unavailable`
//! with `Retry-After` (RFC 9110 §15.6.4, §10.2.3) and closed, instead of
//! holding a descriptor and a thread or a slot of an event loop.
//!
//! A server asks [`Admission::admit`] for each connection it accepts and
//! keeps the [`Ticket`] it gets for as long as the connection lives;
//! dropping the ticket gives both places back. The thread-per-connection
//! listener ([`crate::server::listener`]) and the event loops of chapters
//! 13 and 15 share this one copy, so they refuse alike and say so alike:
//! once when the cap is reached, once when the server is well below it
//! again (at half the cap or less), with how many were refused in
//! between, never once per connection.

use std::io;
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use mio::{Interest, Registry, Token};

use crate::narrate;
use crate::server::address_share::{self, AddressShares, AddressTicket};
use crate::server::listener::{self, Failing};

/// What a connection refused at the cap is told, in its `503`'s body.
pub const OVER_CAP: &str = "too many connections; try again shortly";

/// How many connections are open, against the cap and each address's
/// share; shared by every thread (or event loop) that accepts.
#[derive(Debug)]
pub struct Admission {
    /// `None`: no cap.
    cap: Option<usize>,
    open: AtomicUsize,
    /// Connections refused at the cap since it was last reached.
    over_cap: AtomicU64,
    /// Connections admitted so far: they are numbered from 1.
    admitted: AtomicU64,
    /// `--connections N`: admit N, then no more.
    limit: Option<u64>,
    shares: Arc<AddressShares>,
}

/// One admitted connection's place, under the cap and in its address's
/// share, given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    admission: Arc<Admission>,
    _share: AddressTicket,
}

/// A connection that is not admitted, and why, as its `503` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

impl Admission {
    /// The cap and the share that `options` name (`None` of either: no limit).
    pub fn new(options: &listener::Options) -> Arc<Admission> {
        Arc::new(Admission {
            cap: options.max_connections,
            open: AtomicUsize::new(0),
            over_cap: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            limit: options.connections.map(|limit| limit as u64),
            shares: AddressShares::new(options.max_connections_per_address),
        })
    }

    /// Counts a new connection from `address`, or refuses it: at the cap,
    /// then at its address's share.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refused> {
        if let Some(cap) = self.cap {
            let open = self.open.load(Ordering::Relaxed);
            if open >= cap {
                if self.over_cap.fetch_add(1, Ordering::Relaxed) == 0 {
                    narrate::problem(format!(
                        "{cap} connections open, the most allowed (--max-connections): \
                         refusing new ones with 503 until some close"
                    ));
                }
                return Err(Refused(OVER_CAP));
            }
            // The episode ends once the server is well below its cap, not
            // at its first free place: at capacity, a place that frees is
            // taken at once, and each would start and end an episode.
            if open <= cap / 2 {
                let refused = self.over_cap.swap(0, Ordering::Relaxed);
                if refused > 0 {
                    narrate::problem(format!(
                        "Below the connection cap again; {refused} connections were refused"
                    ));
                }
            }
        }
        // Within the cap, one address still cannot hold every slot.
        let share = self
            .shares
            .admit(address)
            .map_err(|_| Refused(address_share::OVER_SHARE))?;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Ticket {
            id: self.admitted.fetch_add(1, Ordering::Relaxed) + 1,
            admission: Arc::clone(self),
            _share: share,
        })
    }

    /// Whether `--connections N` have been admitted: listening can stop.
    pub fn all_admitted(&self) -> bool {
        self.limit
            .is_some_and(|limit| self.admitted.load(Ordering::Relaxed) >= limit)
    }

    /// How many admitted connections are open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

impl Refused {
    /// Answers `503` with `Retry-After` and closes ([`listener::refuse`]).
    pub fn answer(self, stream: TcpStream) {
        listener::refuse(stream, self.0);
    }
}

impl Ticket {
    /// The connection's number: connections are numbered from 1 in the
    /// order they are admitted.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An event loop's listening socket, non-blocking and registered with its
/// `poll`, behind the [`Admission`] that every server shares.
///
/// [`Gate::accept`] hands out admitted connections until `accept` would
/// block, or until [`ACCEPTS_PER_TURN`] have been let in or refused;
/// whoever is refused is answered `503` on the way. Should `accept`
/// fail ("Too many open files", say), retrying at once would spin and
/// sleeping would stop every connection, so the listener is taken out of
/// the `poll` and left alone until [`Gate::retry_at`], longer each time
/// ([`Failing`]); the loop calls [`Gate::reopen_if_due`] when that comes.
/// After `--connections N`, the listener closes.
#[derive(Debug)]
pub struct Gate {
    /// `None` once `--connections` have been accepted.
    listener: Option<mio::net::TcpListener>,
    token: Token,
    admission: Arc<Admission>,
    failing: Failing,
    retry_at: Option<Instant>,
    /// Connections accepted since `accept` last returned `None`.
    this_turn: usize,
}

/// The most connections [`Gate::accept`] takes from the listener (let in
/// or refused) before it returns `None`, so that the loop's other
/// connections get their turn: clients that connect faster than the loop
/// can answer them would otherwise keep it accepting for ever.
pub const ACCEPTS_PER_TURN: usize = 64;

/// A connection let in: its socket, its number (from 1) and its place.
#[derive(Debug)]
pub struct Admitted {
    pub stream: mio::net::TcpStream,
    pub id: u64,
    pub ticket: Ticket,
}

impl Gate {
    /// `listener` is non-blocking and registered with `token` already.
    /// Several gates (one per event loop, each with its own copy of the
    /// listening socket) may share one admission.
    pub fn new(listener: mio::net::TcpListener, token: Token, admission: Arc<Admission>) -> Gate {
        Gate {
            listener: Some(listener),
            token,
            admission,
            failing: Failing::default(),
            retry_at: None,
            this_turn: 0,
        }
    }

    /// The next admitted connection, or `None` once `accept` would block
    /// (or fails, or the listener has closed), or once this turn has taken
    /// [`ACCEPTS_PER_TURN`]: `poll` then reports the listener again.
    pub fn accept(&mut self, registry: &Registry) -> Option<Admitted> {
        // What the listener says is no connection's: not the one read just
        // before, in the same turn of the loop.
        narrate::forget_connection();
        loop {
            let listener = self.listener.as_mut()?;
            if self.this_turn == ACCEPTS_PER_TURN {
                self.this_turn = 0;
                // More may wait, and no new edge would tell of them: asked
                // again (`EPOLL_CTL_MOD`), epoll looks again, and reports
                // the listener at the next `poll`, beside the others.
                if let Err(error) = registry.reregister(listener, self.token, Interest::READABLE) {
                    self.stop_for_a_while(registry, &error);
                }
                return None;
            }
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.this_turn = 0;
                    if error.kind() != io::ErrorKind::WouldBlock {
                        self.stop_for_a_while(registry, &error);
                    }
                    return None;
                }
            };
            self.this_turn += 1;
            self.failing.recovered();
            let ticket = match self.admission.admit(peer.ip()) {
                Ok(ticket) => ticket,
                Err(refused) => {
                    refused.answer(stream.into());
                    continue;
                }
            };
            self.close_if_all_admitted(registry);
            return Some(Admitted {
                stream,
                id: ticket.id(),
                ticket,
            });
        }
    }

    /// After a failure: the listener out of the `poll` until
    /// [`Gate::retry_at`].
    fn stop_for_a_while(&mut self, registry: &Registry, error: &io::Error) {
        let wait = self.failing.failed_wait(error);
        if let Some(listener) = &mut self.listener {
            let _ = registry.deregister(listener);
        }
        self.retry_at = Some(Instant::now() + wait);
    }

    /// Closes the listener once `--connections N` have been admitted,
    /// taken out of the `poll` first.
    fn close_if_all_admitted(&mut self, registry: &Registry) {
        if self.admission.all_admitted()
            && let Some(mut listener) = self.listener.take()
            && self.retry_at.is_none()
        {
            let _ = registry.deregister(&mut listener);
        }
    }

    /// While `accept` is failing: when to try again.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Puts the listener back into the `poll` once [`Gate::retry_at`] has
    /// come; then the loop accepts what waits. If `poll` will not take it
    /// back, it is tried again later, as a failed `accept` is.
    pub fn reopen_if_due(&mut self, now: Instant, registry: &Registry) -> bool {
        if self.retry_at.is_none_or(|at| at > now) {
            return false;
        }
        self.retry_at = None;
        let Some(listener) = &mut self.listener else {
            return false;
        };
        match registry.register(listener, self.token, Interest::READABLE) {
            Ok(()) => true,
            // Still registered: taking it out failed when `accept` did.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => true,
            // Not watched, the listener would never be accepted from
            // again: tried again later, as a failed `accept` is.
            Err(error) => {
                self.retry_at = Some(now + self.failing.failed_wait(&error));
                false
            }
        }
    }

    /// Whether the listener is still open: `--connections N` are not all in.
    pub fn is_open(&self) -> bool {
        self.listener.is_some()
    }

    /// Whether new connections may still come, or some are still open.
    pub fn serving(&self) -> bool {
        self.listener.is_some() || self.admission.open() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const ONE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const TWO: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    fn admission(cap: usize, share: usize) -> Arc<Admission> {
        Admission::new(&listener::Options {
            port: 0,
            connections: None,
            handshake_timeout: listener::HANDSHAKE_TIMEOUT,
            max_connections: Some(cap),
            max_connections_per_address: Some(share),
        })
    }

    #[test]
    fn a_turn_takes_at_most_its_share_of_waiting_clients_and_poll_reports_the_rest()
    -> io::Result<()> {
        use std::time::Duration;

        let mut poll = mio::Poll::new()?;
        let mut events = mio::Events::with_capacity(16);
        let mut listener = mio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0).into())?;
        let address = listener.local_addr()?;
        let token = Token(7);
        poll.registry()
            .register(&mut listener, token, Interest::READABLE)?;
        let mut gate = Gate::new(listener, token, admission(1000, 1000));
        let waiting = ACCEPTS_PER_TURN + 20;
        let clients: Vec<TcpStream> = (0..waiting)
            .map(|_| TcpStream::connect(address))
            .collect::<io::Result<_>>()?;
        let mut admitted = Vec::new();
        for expected in [ACCEPTS_PER_TURN, 20] {
            poll.poll(&mut events, Some(Duration::from_secs(5)))?;
            assert!(
                events.iter().any(|event| event.token() == token),
                "the listener is reported"
            );
            let before = admitted.len();
            while let Some(connection) = gate.accept(poll.registry()) {
                admitted.push(connection);
            }
            assert_eq!(admitted.len() - before, expected);
        }
        drop(clients);
        Ok(())
    }

    #[test]
    fn the_cap_refuses_once_full_and_a_dropped_ticket_frees_a_place() {
        let admission = admission(2, 2);
        let first = admission.admit(ONE).unwrap();
        let _second = admission.admit(TWO).unwrap();
        assert_eq!(admission.admit(TWO).unwrap_err(), Refused(OVER_CAP));
        assert_eq!(admission.open(), 2);
        drop(first);
        assert_eq!(admission.open(), 1);
        assert!(admission.admit(ONE).is_ok());
    }

    #[test]
    fn an_episode_at_the_cap_ends_well_below_it_not_at_the_first_free_place() {
        let admission = admission(4, 4);
        let mut held: Vec<Ticket> = (0..4).map(|_| admission.admit(ONE).unwrap()).collect();
        assert!(admission.admit(ONE).is_err());
        held.pop();
        held.push(admission.admit(ONE).unwrap());
        assert_eq!(
            admission.over_cap.load(Ordering::Relaxed),
            1,
            "still at the cap"
        );
        held.truncate(2);
        let _again = admission.admit(ONE).unwrap();
        assert_eq!(
            admission.over_cap.load(Ordering::Relaxed),
            0,
            "the episode ended"
        );
    }

    #[test]
    fn within_the_cap_an_address_gets_its_share_and_no_more() {
        let admission = admission(10, 1);
        let _first = admission.admit(ONE).unwrap();
        assert_eq!(
            admission.admit(ONE).unwrap_err(),
            Refused(address_share::OVER_SHARE)
        );
        assert_eq!(admission.open(), 1);
        assert!(admission.admit(TWO).is_ok());
    }
}
