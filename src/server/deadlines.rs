//! Deadlines for thousands of connections on one thread: chapter 13's
//! set of deadlines, graduated into the library for chapter 15, with the
//! alarm that lets chapter 15's loop sleep without a timeout.
//!
//! A thread per connection waits with a timeout on its own socket: the
//! kernel keeps its clock. An event loop has one wait for everything, so
//! it keeps the clocks itself: every connection's next deadline (its
//! handshake, its idle time, a write that makes no progress) goes into one
//! ordered set, earliest first, and the loop's wait for readiness lasts
//! until the earliest of them at most ([`Deadlines::next`]).
//!
//! Deadlines move all the time: every message pushes a connection's idle
//! deadline back. So a deadline that moves *later* is not touched ("lazy
//! deletion"): an entry names its connection by token (chapter 15's is
//! the connection's number, never reused), and when an entry comes due,
//! the loop asks the connection for its real deadline now, and schedules
//! again if it is later. A read costs no operation here at all.
//! What must not stay is an entry whose connection is gone: kept until it
//! comes due (up to the idle timeout, 30 s: 30 entries for every
//! connection a second the loop serves), every operation pays for them,
//! and the work per connection grows with the connections served before.
//! So the entries are kept in order in a `BTreeSet`, from which a
//! connection's entry is taken out ([`Deadlines::cancel`]) when it closes
//! or its deadline moves earlier: the set holds one entry per open
//! connection, never more.
//!
//! How the loop waits until the earliest deadline matters too. Handing
//! `poll` a timeout arms a kernel timer on every sleep and cancels it on
//! every wake: on 16-byte round trips (some 15 µs each), that cost 1.7 %
//! of the throughput (chapter 15 gives the command). The earliest deadline
//! changes seldom, so an [`Alarm`] — one small thread per loop that
//! sleeps until it, then wakes the loop through a `mio::Waker` — lets the
//! loop sleep in `poll` with no timeout at all.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// One entry: when, and for which connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    pub at: Instant,
    pub token: usize,
}

/// Deadlines, earliest first.
#[derive(Debug, Default)]
pub struct Deadlines {
    set: BTreeSet<Deadline>,
}

impl Deadlines {
    pub fn new() -> Deadlines {
        Deadlines::default()
    }

    /// Adds a deadline for connection `token` at `at`.
    pub fn schedule(&mut self, at: Instant, token: usize) {
        self.set.insert(Deadline { at, token });
    }

    /// Takes out the entry scheduled for connection `token` at `at`, if
    /// there is one: its connection closed, or it needs an earlier one.
    pub fn cancel(&mut self, at: Instant, token: usize) {
        self.set.remove(&Deadline { at, token });
    }

    /// The earliest deadline, if there is any: how long the loop may wait.
    pub fn next(&self) -> Option<Instant> {
        self.set.first().map(|deadline| deadline.at)
    }

    /// Takes out the earliest deadline if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Deadline> {
        match self.set.first() {
            Some(deadline) if deadline.at <= now => self.set.pop_first(),
            _ => None,
        }
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// A thread that wakes an event loop no later than the instant it is set to.
///
/// Only an instant earlier than the one the thread waits for reaches the
/// thread (a lock and a wake-up, a switch to it and back). A later one, or
/// none, is left alone: the alarm rings at the earlier instant, the loop
/// finds nothing due and sets it again. A loop whose earliest deadline
/// comes and goes with its connections would otherwise wake the thread
/// twice for each one.
pub struct Alarm {
    clock: Arc<(Mutex<Setting>, Condvar)>,
    /// When the thread rings next, as far as the loop knows; `None`: never.
    armed: Option<Instant>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Setting {
    at: Option<Instant>,
    stop: bool,
}

impl Alarm {
    /// Starts the alarm's thread, which wakes the loop through `waker`.
    pub fn start(waker: mio::Waker) -> io::Result<Alarm> {
        let clock = Arc::new((Mutex::new(Setting::default()), Condvar::new()));
        let shared = Arc::clone(&clock);
        let thread = thread::Builder::new()
            .name("alarm".to_string())
            .stack_size(64 * 1024)
            .spawn(move || ring_when_due(&shared, &waker))
            // Reported as the server's failure to listen: say which part.
            .map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("could not start the alarm thread: {error}"),
                )
            })?;
        Ok(Alarm {
            clock,
            armed: None,
            thread: Some(thread),
        })
    }

    /// Rings at `at` at the latest (`None`: the loop needs no ring).
    pub fn set(&mut self, at: Option<Instant>) {
        let Some(at) = at else {
            return;
        };
        if self.armed.is_some_and(|armed| armed <= at) {
            return;
        }
        self.armed = Some(at);
        let (setting, changed) = &*self.clock;
        setting.lock().unwrap_or_else(PoisonError::into_inner).at = Some(at);
        changed.notify_one();
    }

    /// The loop heard the alarm ring: it is no longer set.
    pub fn rang(&mut self) {
        self.armed = None;
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        let (setting, changed) = &*self.clock;
        setting.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The alarm's thread: sleeps until the instant set, wakes the loop, and
/// waits to be set again.
fn ring_when_due(clock: &(Mutex<Setting>, Condvar), waker: &mio::Waker) {
    let (setting, changed) = clock;
    let mut setting = setting.lock().unwrap_or_else(PoisonError::into_inner);
    while !setting.stop {
        setting = match setting.at {
            None => changed
                .wait(setting)
                .unwrap_or_else(PoisonError::into_inner),
            Some(at) => {
                let now = Instant::now();
                if at <= now {
                    setting.at = None;
                    // If waking fails, the loop still wakes for its next
                    // event; there is nobody to tell.
                    let _ = waker.wake();
                    setting
                } else {
                    changed
                        .wait_timeout(setting, at - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            }
        };
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
            deadlines.schedule(at(start, millis), token);
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
    fn a_cancelled_entry_is_gone_at_once() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new();
        deadlines.schedule(at(start, 10), 7);
        deadlines.schedule(at(start, 20), 8);
        deadlines.cancel(at(start, 10), 7);
        // Not this one: another time for the same connection.
        deadlines.cancel(at(start, 30), 8);
        assert_eq!(deadlines.len(), 1);
        assert_eq!(deadlines.next(), Some(at(start, 20)));
    }

    #[test]
    fn many_deadlines_stay_ordered() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new();
        // A scrambled order: 0, 37, 74, ... modulo 1000 visits every value.
        for i in 0..1000_u64 {
            deadlines.schedule(at(start, i * 37 % 1000), i as usize);
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

    #[test]
    fn the_alarm_wakes_the_loop_when_due_and_not_before() {
        use mio::{Events, Poll, Token};
        use std::time::Duration;
        let mut poll = Poll::new().expect("an epoll instance");
        let waker = mio::Waker::new(poll.registry(), Token(7)).expect("a waker");
        let mut alarm = Alarm::start(waker).expect("the alarm's thread");
        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        alarm.set(Some(start + Duration::from_millis(300)));
        // Set to the same again: nothing changes.
        alarm.set(Some(start + Duration::from_millis(300)));
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .expect("poll");
        assert!(events.iter().any(|event| event.token() == Token(7)));
        assert!(start.elapsed() >= Duration::from_millis(300));
        alarm.rang();
        // Nothing set since it rang: it does not ring.
        poll.poll(&mut events, Some(Duration::from_millis(400)))
            .expect("poll");
        assert!(events.is_empty(), "rang with nothing set");
        // Set earlier than it waits for: it rings then.
        let start = Instant::now();
        alarm.set(Some(start + Duration::from_secs(3)));
        alarm.set(Some(start + Duration::from_millis(100)));
        poll.poll(&mut events, Some(Duration::from_secs(2)))
            .expect("poll");
        assert!(events.iter().any(|event| event.token() == Token(7)));
        assert!(start.elapsed() < Duration::from_secs(2));
        drop(alarm);
    }

    #[test]
    fn a_later_instant_or_none_does_not_reach_the_alarms_thread() {
        use mio::{Events, Poll, Token};
        use std::time::Duration;
        let mut poll = Poll::new().expect("an epoll instance");
        let waker = mio::Waker::new(poll.registry(), Token(7)).expect("a waker");
        let mut alarm = Alarm::start(waker).expect("the alarm's thread");
        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        alarm.set(Some(start + Duration::from_millis(200)));
        // The loop's earliest deadline went, or moved later: the thread is
        // not woken to hear it, and rings at the earlier instant.
        alarm.set(None);
        alarm.set(Some(start + Duration::from_secs(60)));
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .expect("poll");
        assert!(events.iter().any(|event| event.token() == Token(7)));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        drop(alarm);
    }
}
