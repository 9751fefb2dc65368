//! Deadlines for thousands of connections on one thread (chapter 13).
//!
//! A thread per connection waits with a timeout on its own socket: the
//! kernel keeps its clock. An event loop has one wait for everything, so
//! it keeps the clocks itself: every connection's next deadline (its
//! handshake, its idle time, a write that makes no progress) goes into one
//! binary heap, earliest on top, and the loop's wait for readiness lasts
//! until the earliest of them at most ([`Deadlines::next`]).
//!
//! Deadlines move all the time: every message pushes a connection's idle
//! deadline back. Taking an entry out of the middle of a heap is slow, so
//! nothing is ever taken out early ("lazy deletion"): an entry names its
//! connection by token *and generation* (a token is reused once its
//! connection is gone), and when an entry comes due, the loop asks the
//! connection for its real deadline now. Gone, or not due yet: the entry
//! is dropped, and the loop schedules again if the connection still needs
//! a deadline. So a connection has one entry in the heap at a time, not
//! one per message, and a read costs no heap operation at all.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One entry: when, and for which connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    pub at: Instant,
    pub token: usize,
    pub generation: u64,
}

/// Deadlines, earliest first.
#[derive(Debug, Default)]
pub struct Deadlines {
    heap: BinaryHeap<Reverse<Deadline>>,
}

impl Deadlines {
    pub fn new() -> Deadlines {
        Deadlines::default()
    }

    /// Adds a deadline for connection `token` (of `generation`) at `at`.
    pub fn schedule(&mut self, at: Instant, token: usize, generation: u64) {
        self.heap.push(Reverse(Deadline {
            at,
            token,
            generation,
        }));
    }

    /// The earliest deadline, if there is any: how long the loop may wait.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(deadline)| deadline.at)
    }

    /// Takes out the earliest deadline if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Deadline> {
        match self.heap.peek() {
            Some(Reverse(deadline)) if deadline.at <= now => {
                self.heap.pop().map(|Reverse(deadline)| deadline)
            }
            _ => None,
        }
    }

    /// How many entries the heap holds, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn deadlines_come_due_in_order_and_not_before_their_time() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new();
        assert_eq!(deadlines.next(), None);
        for (millis, token) in [(30, 3), (10, 1), (20, 2), (10, 4)] {
            deadlines.schedule(at(start, millis), token, 0);
        }
        assert_eq!(deadlines.next(), Some(at(start, 10)));
        assert_eq!(deadlines.pop_due(at(start, 5)), None);
        let due: Vec<usize> = std::iter::from_fn(|| deadlines.pop_due(at(start, 20)))
            .map(|deadline| deadline.token)
            .collect();
        assert_eq!(due, [1, 4, 2]);
        assert_eq!(deadlines.next(), Some(at(start, 30)));
        assert_eq!(deadlines.len(), 1);
        assert_eq!(deadlines.pop_due(at(start, 30)).map(|d| d.token), Some(3));
        assert!(deadlines.is_empty());
    }

    #[test]
    fn an_entry_carries_its_generation_so_a_reused_token_can_tell_it_is_stale() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new();
        deadlines.schedule(at(start, 10), 7, 1);
        deadlines.schedule(at(start, 20), 7, 2);
        let first = deadlines.pop_due(at(start, 30)).unwrap();
        let second = deadlines.pop_due(at(start, 30)).unwrap();
        assert_eq!((first.token, first.generation), (7, 1));
        assert_eq!((second.token, second.generation), (7, 2));
    }

    #[test]
    fn many_deadlines_stay_ordered() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new();
        // A scrambled order: 0, 37, 74, ... modulo 1000 visits every value.
        for i in 0..1000_u64 {
            deadlines.schedule(at(start, i * 37 % 1000), i as usize, 0);
        }
        let mut last = start;
        let mut count = 0;
        while let Some(deadline) = deadlines.pop_due(at(start, 2000)) {
            assert!(deadline.at >= last);
            last = deadline.at;
            count += 1;
        }
        assert_eq!(count, 1000);
    }
}
