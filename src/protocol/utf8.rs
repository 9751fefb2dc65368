//! Checking text as it arrives: RFC 6455 §8.1 ("fail fast" on invalid UTF-8).
//!
//! Chapters 5–9 check a text message once it is complete. That is correct,
//! but slow to notice: a client could send 15 MiB of text whose second byte
//! is already invalid, and the server would read all of it first. RFC 6455
//! §8.1 asks an endpoint to fail the connection as soon as it sees invalid
//! UTF-8. [`Utf8Stream`] checks each piece of a message as it arrives, across
//! frame boundaries and TCP segments, remembering a character cut in half.

use crate::protocol::violation::Violation;

/// The UTF-8 validity of a text message seen so far.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    /// The first bytes of a character whose remaining bytes have not arrived.
    partial: Vec<u8>,
}

impl Utf8Stream {
    pub fn new() -> Utf8Stream {
        Utf8Stream::default()
    }

    /// Checks the next piece of the message.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        // First finish the character the last piece ended in the middle of.
        while !self.partial.is_empty() {
            let Some((&next, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.partial.push(next);
            bytes = rest;
            match std::str::from_utf8(&self.partial) {
                Ok(_) => self.partial.clear(),
                Err(error) if error.error_len().is_some() => return Err(Violation::InvalidUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // `error_len() == None` means "valid so far, but cut short".
            Err(error) if error.error_len().is_none() => {
                self.partial
                    .extend_from_slice(&bytes[error.valid_up_to()..]);
                Ok(())
            }
            Err(_) => Err(Violation::InvalidUtf8),
        }
    }

    /// The message has ended: a character still cut in half is invalid.
    pub fn finish(&mut self) -> Result<(), Violation> {
        let complete = self.partial.is_empty();
        self.partial.clear();
        if complete {
            Ok(())
        } else {
            Err(Violation::InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_anywhere_are_still_valid() {
        let text = "κόσμε € 𝄞".as_bytes();
        for cut in 0..=text.len() {
            for second_cut in cut..=text.len() {
                let mut stream = Utf8Stream::new();
                stream.feed(&text[..cut]).unwrap();
                stream.feed(&text[cut..second_cut]).unwrap();
                stream.feed(&text[second_cut..]).unwrap();
                stream.finish().unwrap();
            }
        }
    }

    #[test]
    fn invalid_bytes_fail_at_once() {
        let mut stream = Utf8Stream::new();
        stream.feed("κόσ".as_bytes()).unwrap();
        assert_eq!(
            stream.feed(&[0xED, 0xA0, 0x80]),
            Err(Violation::InvalidUtf8)
        ); // a surrogate
        let mut stream = Utf8Stream::new();
        stream.feed(&[0xF0, 0x90]).unwrap();
        assert_eq!(stream.feed(&[0x41]), Err(Violation::InvalidUtf8));
    }

    #[test]
    fn a_message_ending_mid_character_is_invalid() {
        let mut stream = Utf8Stream::new();
        stream.feed(&[0xE2, 0x82]).unwrap();
        assert_eq!(stream.finish(), Err(Violation::InvalidUtf8));
    }
}
