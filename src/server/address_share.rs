//! Each client address's share of the connection slots.
//!
//! The connection cap (`--max-connections`) bounds what the whole server
//! holds, but not who holds it: one address opening connections that stay
//! idle and answer every ping (RFC 6455 §5.5.2: a live peer does) would
//! take every slot, for ever, and every other client would get `503`.
//! Answering pings is what a legitimate chat member does too, so the
//! defence is not to drop idle connections but to give each address a
//! share of the slots (`--max-connections-per-address`), as nginx's
//! `limit_conn` does. RFC 6455 §4.1 asks the same restraint of clients
//! (one connection in CONNECTING state per server at a time); a server
//! cannot rely on it.
//!
//! An accept loop asks [`AddressShares::admit`] for each new connection
//! and keeps the [`AddressTicket`] it gets for as long as the connection
//! lives; dropping the ticket gives the slot back. Over its share, the
//! address is refused, and the refusals are told once per episode: one
//! line when an address reaches its share, one when it has fallen well
//! below it (or left), with how many of its connections were refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::narrate;

/// What a refused connection is told, in its `503`'s body.
pub const OVER_SHARE: &str = "too many connections from your address; try again shortly";

/// The default share: a quarter of the connection cap (at least one
/// connection), so it takes four addresses, not one, to fill the server.
pub fn default_share(max_connections: usize) -> usize {
    max_connections.div_ceil(4).max(1)
}

/// How many connections each address holds, shared by every thread (or
/// event loop) that accepts.
#[derive(Debug)]
pub struct AddressShares {
    /// `None`: no share, any address may hold every slot.
    share: Option<usize>,
    holders: Mutex<HashMap<IpAddr, Holding>>,
}

/// One address's connections, and the refusals of its current episode.
#[derive(Debug, Default)]
struct Holding {
    open: usize,
    refused: u64,
}

/// An address is at its share: the connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverShare;

/// One admitted connection's place in its address's share, given back
/// when dropped.
#[derive(Debug)]
pub struct AddressTicket {
    shares: Arc<AddressShares>,
    address: IpAddr,
}

impl AddressShares {
    /// At most `share` connections per address (`None`: no limit).
    pub fn new(share: Option<usize>) -> Arc<AddressShares> {
        Arc::new(AddressShares {
            share,
            holders: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a new connection from `address`, or refuses it when the
    /// address already holds its share. Holding the lock only to count,
    /// it never waits on the network.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<AddressTicket, OverShare> {
        let mut holders = self.holders.lock().unwrap_or_else(PoisonError::into_inner);
        let holding = holders.entry(address).or_default();
        if let Some(share) = self.share {
            if holding.open >= share {
                if holding.refused == 0 {
                    narrate::problem(format!(
                        "{address} holds {share} connections, its share \
                         (--max-connections-per-address): refusing its new ones \
                         with 503 until some close"
                    ));
                }
                holding.refused += 1;
                return Err(OverShare);
            }
            // The episode ends once the address is well below its share,
            // not at its first free slot: a client reconnecting in a loop
            // would otherwise start and end an episode every time.
            if holding.refused > 0 && holding.open <= share / 2 {
                end_episode(address, holding);
            }
        }
        holding.open += 1;
        Ok(AddressTicket {
            shares: Arc::clone(self),
            address,
        })
    }

    /// How many connections `address` holds now.
    pub fn held_by(&self, address: IpAddr) -> usize {
        let holders = self.holders.lock().unwrap_or_else(PoisonError::into_inner);
        holders.get(&address).map_or(0, |holding| holding.open)
    }
}

fn end_episode(address: IpAddr, holding: &mut Holding) {
    narrate::problem(format!(
        "{address} is below its share again; {} of its connections were refused",
        holding.refused
    ));
    holding.refused = 0;
}

impl Drop for AddressTicket {
    fn drop(&mut self) {
        let mut holders = self
            .shares
            .holders
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(holding) = holders.get_mut(&self.address) {
            holding.open = holding.open.saturating_sub(1);
            // An address with nothing open is forgotten, so the map holds
            // at most one entry per open connection.
            if holding.open == 0 {
                if holding.refused > 0 {
                    end_episode(self.address, holding);
                }
                holders.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const ONE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const TWO: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn an_address_holds_its_share_and_no_more_and_others_still_get_in() {
        let shares = AddressShares::new(Some(2));
        let first = shares.admit(ONE).unwrap();
        let _second = shares.admit(ONE).unwrap();
        assert_eq!(shares.admit(ONE).unwrap_err(), OverShare);
        let _other = shares.admit(TWO).unwrap();
        drop(first);
        assert_eq!(shares.held_by(ONE), 1);
        assert!(shares.admit(ONE).is_ok());
    }

    #[test]
    fn an_address_that_leaves_is_forgotten() {
        let shares = AddressShares::new(Some(1));
        let ticket = shares.admit(ONE).unwrap();
        drop(ticket);
        assert!(shares.holders.lock().unwrap().is_empty());
    }

    #[test]
    fn no_share_admits_everyone() {
        let shares = AddressShares::new(None);
        let tickets: Vec<_> = (0..1000).map(|_| shares.admit(ONE).unwrap()).collect();
        assert_eq!(shares.held_by(ONE), tickets.len());
    }

    #[test]
    fn the_default_share_is_a_quarter_of_the_cap() {
        assert_eq!(default_share(1), 1);
        assert_eq!(default_share(3), 1);
        assert_eq!(default_share(50), 13);
        assert_eq!(default_share(992), 248);
    }
}
