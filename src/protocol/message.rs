//! Messages made of several frames: RFC 6455 §5.4 (fragmentation).
//!
//! A message is one or more frames: the first says text or binary and has
//! FIN clear, the rest are continuation frames (opcode 0), and the last has
//! FIN set. Control frames may come in between (§5.5), but another text or
//! binary frame may not. [`Assembler`] keeps the message in progress and
//! enforces that order.

use crate::protocol::frame::{FrameHeader, Opcode};
use crate::protocol::violation::Violation;

/// A complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `Text` or `Binary`: the opcode of the message's first frame.
    pub opcode: Opcode,
    pub payload: Vec<u8>,
    /// How many frames it arrived in.
    pub frames: usize,
    /// Its size on the wire, when it came compressed (RFC 7692); the
    /// payload is then what it inflated to.
    pub compressed_len: Option<u64>,
}

/// Puts fragmented messages back together.
#[derive(Debug, Default)]
pub struct Assembler {
    in_progress: Option<Message>,
}

impl Assembler {
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// Bytes of the unfinished message so far: the size limit applies to
    /// the whole message, not to each frame.
    pub fn buffered_len(&self) -> u64 {
        self.in_progress
            .as_ref()
            .map_or(0, |message| message.payload.len() as u64)
    }

    /// The unfinished message, if there is one.
    pub fn in_progress(&self) -> Option<&Message> {
        self.in_progress.as_ref()
    }

    /// Checks that a data frame may come next, before its payload is read.
    pub fn check(&self, header: &FrameHeader) -> Result<(), Violation> {
        match (header.opcode, &self.in_progress) {
            (Opcode::Continuation, None) => Err(Violation::NothingToContinue),
            (opcode @ (Opcode::Text | Opcode::Binary), Some(_)) => {
                Err(Violation::MessageInterrupted(opcode))
            }
            _ => Ok(()),
        }
    }

    /// Adds a data frame's payload; returns the message once its last frame is in.
    pub fn push(
        &mut self,
        header: &FrameHeader,
        payload: Vec<u8>,
    ) -> Result<Option<Message>, Violation> {
        self.push_with(header, |buffer| {
            buffer.extend_from_slice(&payload);
            Ok(())
        })
    }

    /// Like [`Assembler::push`], but `append` writes the frame's payload
    /// straight onto the end of the message in progress: a fragment is read
    /// where it belongs instead of being copied there afterwards.
    pub fn push_with<E: From<Violation>>(
        &mut self,
        header: &FrameHeader,
        append: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Option<Message>, E> {
        append(self.begin_frame(header)?)?;
        Ok(self.end_frame(header.fin))
    }

    /// Starts a data frame whose payload will arrive in pieces: checks that
    /// it may come next, and returns the message it adds to, for the
    /// payload to be appended as it arrives.
    pub fn begin_frame(&mut self, header: &FrameHeader) -> Result<&mut Vec<u8>, Violation> {
        self.check(header)?;
        let message = self.in_progress.get_or_insert_with(|| Message {
            opcode: header.opcode,
            payload: Vec::new(),
            frames: 0,
            compressed_len: None,
        });
        message.frames += 1;
        Ok(&mut message.payload)
    }

    /// The current frame's payload is all in: with FIN set, hands back the
    /// finished message.
    pub fn end_frame(&mut self, fin: bool) -> Option<Message> {
        if fin { self.in_progress.take() } else { None }
    }

    /// The message in progress, to be changed in place.
    pub fn in_progress_mut(&mut self) -> Option<&mut Message> {
        self.in_progress.as_mut()
    }

    /// The payload of the message in progress, for a frame's bytes to be
    /// added in place as they arrive.
    pub fn payload_mut(&mut self) -> Option<&mut Vec<u8>> {
        self.in_progress
            .as_mut()
            .map(|message| &mut message.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(fin: bool, opcode: Opcode) -> FrameHeader {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: 0,
        }
    }

    #[test]
    fn a_single_frame_is_a_message() {
        let mut assembler = Assembler::new();
        let message = assembler.push(&header(true, Opcode::Binary), vec![1, 2]);
        assert_eq!(
            message,
            Ok(Some(Message {
                opcode: Opcode::Binary,
                payload: vec![1, 2],
                frames: 1,
                compressed_len: None,
            }))
        );
    }

    #[test]
    fn out_of_order_frames_are_violations() {
        let mut assembler = Assembler::new();
        assert_eq!(
            assembler.push(&header(true, Opcode::Continuation), vec![]),
            Err(Violation::NothingToContinue)
        );
        assert_eq!(
            assembler.push(&header(false, Opcode::Text), vec![]),
            Ok(None)
        );
        assert_eq!(
            assembler.push(&header(true, Opcode::Text), vec![]),
            Err(Violation::MessageInterrupted(Opcode::Text))
        );
    }
}
