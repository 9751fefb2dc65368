//! What only chapter 15's tuned event loop asks of a [`Session`], kept
//! out of the session's plain face (RFC 6455 §5.2: the same framing, fed
//! faster).
//!
//! Chapters 10–14 feed a session through [`Session::receive`], or
//! [`Session::buffer`] and [`Session::filled`]. A loop tuned for speed and
//! for thousands of idle connections wants three things more, each
//! measured in chapter 15's doc comment: one vectored read into two places
//! ([`Tuning::buffers`]), a sent payload's memory back for the next long
//! message ([`Tuning::recycle`]), and an idle connection's memory given
//! back ([`Tuning::release_idle_memory`]). They are a trait, imported only
//! where they are used, so that a reader of the session meets them only
//! here.

use super::{DIRECT_READ_MIN, Session};

/// The tuned loop's extra ways into a [`Session`].
pub trait Tuning {
    /// Hands back a payload the application is done with, typically one it
    /// has just sent: the next long message is then received into it.
    ///
    /// A fresh vector costs an allocation, and safe Rust must zero its
    /// bytes before a socket may write into them: for a 1 MiB echo, that
    /// is a megabyte written for nothing on every message. A vector that
    /// held a payload has its bytes in place already, so the socket just
    /// writes over them. The session keeps one such spare, no larger than
    /// the largest message it accepts, counted in the budget while the
    /// budget is at most half used (never in the way of a message), and
    /// lets it go with the inbox when the connection is idle
    /// ([`Tuning::release_idle_memory`]).
    fn recycle(&mut self, payload: Vec<u8>);

    /// The same places as [`Session::buffer`], both at once for one
    /// vectored read (`readv`): the room for the rest of a long payload
    /// (empty if none is due), then the inbox for whatever follows it. A
    /// message sent in many long fragments then takes one system call per
    /// fragment: the end of one fragment lands in the message, the next
    /// header in the inbox. [`Session::filled`] takes the count of both.
    fn buffers(&mut self) -> [&mut [u8]; 2];

    /// Frees what a quiet connection does not need: the inbox, when it
    /// holds nothing, the spare ([`Tuning::recycle`]), and the budget the
    /// last message handed out took.
    /// An event loop holding thousands of idle connections calls this
    /// once it has read everything there was; the next read allocates the
    /// inbox again.
    fn release_idle_memory(&mut self);
}

impl Tuning for Session {
    fn recycle(&mut self, payload: Vec<u8>) {
        // The application is done with what it was handed.
        self.release_handed_out();
        let capacity = payload.capacity();
        let worth_keeping = payload.len() >= DIRECT_READ_MIN as usize
            && capacity as u64 <= self.max_message_size
            && payload.len() > self.spare.as_ref().map_or(0, Vec::len);
        if !worth_keeping || self.finished {
            return;
        }
        if let Some(budget) = &self.budget
            && !budget.take_for_spare(capacity as u64)
        {
            return;
        }
        self.release_spare();
        self.spare = Some(payload);
        self.spare_charged = capacity as u64;
    }

    fn buffers(&mut self) -> [&mut [u8]; 2] {
        self.places()
    }

    fn release_idle_memory(&mut self) {
        self.release_handed_out();
        if self.inbox_len == 0 && !self.inbox.is_empty() {
            self.inbox = Box::default();
        }
        self.release_spare();
    }
}
