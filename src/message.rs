//! Messages made of several frames: RFC 6455 §5.4 (fragmentation).
//!
//! A message is one or more frames: the first says text or binary and has
//! FIN clear, the rest are continuation frames (opcode 0), and the last has
//! FIN set. Control frames may come in between (§5.5), but another text or
//! binary frame may not. [`Assembler`] keeps the message in progress and
//! enforces that order.

use crate::frame::{FrameHeader, Opcode};
use crate::violation::Violation;

/// A complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `Text` or `Binary`: the opcode of the message's first frame.
    pub opcode: Opcode,
    pub payload: Vec<u8>,
    /// How many frames it arrived in.
    pub frames: usize,
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
        self.check(header)?;
        let mut message = match self.in_progress.take() {
            Some(mut message) => {
                message.frames += 1;
                message
            }
            None => Message {
                opcode: header.opcode,
                payload: Vec::new(),
                frames: 1,
            },
        };
        append(&mut message.payload)?;
        if header.fin {
            Ok(Some(message))
        } else {
            self.in_progress = Some(message);
            Ok(None)
        }
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
                frames: 1
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
