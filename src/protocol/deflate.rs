//! Compressing and inflating messages for permessage-deflate: RFC 7692
//! §7.2 (the data), §6 (the RSV1 bit) and §8 (window sizes, context
//! takeover).
//!
//! A compressed message is raw DEFLATE (RFC 1951: no zlib header, no
//! checksum) ended with a *sync flush*: the compressor emits everything it
//! holds and then an empty stored block, which is always the four bytes
//! `00 00 ff ff`. Since every message ends with them, the sender drops them
//! and the receiver puts them back before inflating (§7.2.1, §7.2.2).
//!
//! *Context takeover*: unless told otherwise, each side keeps its sliding
//! window (the last 2^bits bytes) from one message to the next, so a
//! message can point back into the ones before it — the second "Hello"
//! costs five bytes instead of seven. The price is memory held for as long
//! as the connection lives, idle or not: a 32 KiB window to inflate with,
//! and a compressor with its window and hash tables (a few hundred KiB with
//! zlib's defaults). With `no_context_takeover`, each message starts afresh,
//! so nothing needs keeping between messages: the (de)compressor is made
//! when a message needs it and dropped after, and an idle connection holds
//! none. (The allocator may keep the freed pages resident for the thread's
//! next message: `cargo bench --bench deflate` shows resident memory per
//! idle connection falling only from about 380 to 320 KiB.)

use flate2::{Compress, Compression, FlushCompress};
// Inflating goes to zlib-rs (flate2's backend here) directly: only its
// own interface offers zlib's `Z_BLOCK` flush, which stops at a block
// boundary, and that is how a message is seen to end on one (§7.2.2).
use zlib_rs::{Inflate, InflateFlush, Status};

use crate::protocol::extension::DeflateAgreement;

/// What a sync flush ends with, and what the wire leaves out.
pub const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflated output grows by at most this much at a time, so a tiny frame
/// that would inflate to gigabytes is stopped at the limit, not allocated.
const INFLATE_STEP: usize = 32 * 1024;

/// The most compressed bytes a message of at most `limit` bytes can take,
/// from any sane compressor at its worst: data that does not compress
/// costs 9 bits a byte as fixed Huffman literals (RFC 1951 §3.2.6), or 5
/// bytes of header per stored block of up to 64 KiB, plus a few bytes of
/// block headers and flushes. The size limit is the inflated message's;
/// this bounds what is held of it before it inflates.
pub fn compressed_bound(limit: u64) -> u64 {
    limit.saturating_add(limit / 8).saturating_add(256)
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// Not valid DEFLATE data (the connection fails with 1007).
    Invalid(String),
    /// It inflates past the limit (1009); `size` is as far as it got.
    TooBig { size: u64 },
    /// The memory its output needed was refused (by a shared budget: 1013).
    Refused,
}

/// One connection's compressor and decompressor, as agreed.
pub struct PerMessageDeflate {
    agreement: DeflateAgreement,
    /// Made on first use; kept between messages only with context takeover.
    compressor: Option<Compress>,
    decompressor: Option<Inflate>,
    /// The peer ended its stream with a final block (§7.2.3.4): whatever
    /// comes next, in this message or the next, starts a new stream, with
    /// a fresh decompressor.
    stream_ended: bool,
    /// Whether any compressed byte of the current message has come.
    message_started: bool,
}

impl std::fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("agreement", &self.agreement)
            .finish_non_exhaustive()
    }
}

impl PerMessageDeflate {
    pub fn new(agreement: DeflateAgreement) -> PerMessageDeflate {
        PerMessageDeflate {
            agreement,
            compressor: None,
            decompressor: None,
            stream_ended: false,
            message_started: false,
        }
    }

    pub fn agreement(&self) -> &DeflateAgreement {
        &self.agreement
    }

    /// Compresses one whole message: DEFLATE with a sync flush, its tail
    /// removed. `None` if the compressor failed; the message then goes out
    /// uncompressed, which §6 allows.
    pub fn compress(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        // zlib cannot make raw DEFLATE with a 256-byte window (8 bits): it
        // uses 512. Every implementation does the same; peers inflate with
        // the window they announced, which reads it in practice.
        let bits = self.agreement.server_max_window_bits.clamp(9, 15);
        let compressor = self.compressor.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::default(), false, bits)
        });
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let start_in = compressor.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let consumed = (compressor.total_in() - start_in) as usize;
            let result =
                compressor.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync);
            if result.is_err() {
                self.compressor = None;
                return None;
            }
            let consumed = (compressor.total_in() - start_in) as usize;
            // Done once all input is in and the flush had room to spare.
            if consumed == payload.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&SYNC_TAIL) {
            out.truncate(out.len() - SYNC_TAIL.len());
        }
        if out.is_empty() {
            // An empty message still needs a block: a single empty fixed
            // block is the byte 00 (§7.2.3.6).
            out.push(0x00);
        }
        if self.agreement.server_no_context_takeover {
            self.compressor = None;
        }
        Some(out)
    }

    /// Inflates the next piece of a compressed message onto `out`, which
    /// may grow to at most `limit` bytes. `last` says the message ends
    /// with this piece: its sync tail is put back, and without client
    /// context takeover the window is forgotten afterwards.
    ///
    /// Before `out`'s memory grows, `may_grow` is asked for the bytes it
    /// grows by; if it says no, the output stops there
    /// ([`InflateError::Refused`]). A few kilobytes of input can claim
    /// megabytes, so whoever keeps a budget must be asked as they come.
    pub fn inflate(
        &mut self,
        piece: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: u64,
        may_grow: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(), InflateError> {
        self.message_started |= !piece.is_empty();
        // A message with no compressed byte at all is empty: the tail
        // alone would be a stored block missing its first byte.
        let with_tail = last && self.message_started;
        let result =
            self.inflate_some(piece, out, limit, may_grow)
                .and_then(|()| match with_tail {
                    true => self.inflate_tail(),
                    false => Ok(()),
                });
        if last || result.is_err() {
            self.message_started = false;
            if self.stream_ended || self.agreement.client_no_context_takeover {
                self.decompressor = None;
            }
            self.stream_ended = false;
        }
        result
    }

    /// Puts the sync tail back. A message ends with a flushed block
    /// (§7.2.1): its last byte holds the header of the empty stored block
    /// the flush made, and the tail is that block's four length bytes, cut
    /// off by the sender. Put back, they complete it: nothing comes out,
    /// and the decompressor stands between two blocks, where the next
    /// message starts. A message that stops anywhere else (inside a block,
    /// or inside a block's header) has the tail read as something else:
    /// as data the peer never sent, or as header bits that make nothing
    /// and leave the decompressor inside a block, so that with context
    /// takeover the next message would be read from a broken state. Either
    /// way the message is not valid (§7.2.2: the connection fails, 1007).
    ///
    /// To tell, the tail goes in with zlib's `Z_BLOCK` flush, which stops
    /// at the first block boundary, and one more byte after it: a message
    /// that ended as it should reaches the boundary after exactly the four
    /// bytes of the tail, having made nothing, and never reads that byte.
    fn inflate_tail(&mut self) -> Result<(), InflateError> {
        if self.stream_ended {
            // The message ended exactly with a final block: nothing was
            // cut from it, so there is nothing to put back, and the tail
            // must not start a stream of its own.
            return Ok(());
        }
        let decompressor = self.decompressor.get_or_insert_with(new_decompressor);
        let [a, b, c, d] = SYNC_TAIL;
        let tail_and_one_more = [a, b, c, d, 0x00];
        // Room for one byte: enough to see that the tail made some.
        let mut made = [0u8; 1];
        let (in_before, out_before) = (decompressor.total_in(), decompressor.total_out());
        let status = decompressor.decompress(&tail_and_one_more, &mut made, InflateFlush::Block);
        let consumed = decompressor.total_in() - in_before;
        let produced = decompressor.total_out() - out_before;
        match status {
            Ok(Status::Ok) if consumed == SYNC_TAIL.len() as u64 && produced == 0 => Ok(()),
            Err(error) => Err(inflate_error(decompressor, error)),
            Ok(_) => Err(InflateError::Invalid(
                "the message does not end between two DEFLATE blocks".to_string(),
            )),
        }
    }

    fn inflate_some(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: u64,
        may_grow: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(), InflateError> {
        if self.stream_ended && !input.is_empty() {
            // Bytes after a final block start a new DEFLATE stream
            // (§7.2.3.4's example ends with the first byte of one). They
            // are the message's: inflated like the rest, never skipped,
            // and if they are not DEFLATE, the message is invalid.
            self.decompressor = None;
            self.stream_ended = false;
        }
        let decompressor = self.decompressor.get_or_insert_with(new_decompressor);
        while !self.stream_ended {
            let start = out.len();
            // One byte past the limit is enough to know it was passed.
            let room = limit
                .saturating_add(1)
                .saturating_sub(start as u64)
                .min(INFLATE_STEP as u64) as usize;
            let needed = start + room;
            if needed > out.capacity() {
                // Twice as much, as a vector grows by itself, but never
                // past what the limit allows, and asked for first.
                let most = limit.saturating_add(1).min(usize::MAX as u64) as usize;
                let target = needed.max(out.capacity().saturating_mul(2).min(most));
                if !may_grow(target - out.capacity()) {
                    return Err(InflateError::Refused);
                }
                out.reserve_exact(target - out.len());
            }
            out.resize(needed, 0);
            let (in_before, out_before) = (decompressor.total_in(), decompressor.total_out());
            let status = decompressor.decompress(input, &mut out[start..], InflateFlush::SyncFlush);
            let consumed = (decompressor.total_in() - in_before) as usize;
            let produced = (decompressor.total_out() - out_before) as usize;
            out.truncate(start + produced);
            input = &input[consumed..];
            if out.len() as u64 > limit {
                return Err(InflateError::TooBig {
                    size: out.len() as u64,
                });
            }
            match status {
                Ok(Status::StreamEnd) if input.is_empty() => self.stream_ended = true,
                Ok(Status::StreamEnd) => {
                    // More follows the final block in this piece: a new
                    // stream, as above, and on with it.
                    *decompressor = new_decompressor();
                    continue;
                }
                Ok(_) => {}
                Err(error) => return Err(inflate_error(decompressor, error)),
            }
            if produced < room && (input.is_empty() || consumed == 0) {
                // All in and all out; or stuck with room to spare, which
                // only a truncated stream does, and more may follow.
                break;
            }
        }
        Ok(())
    }
}

/// A decompressor for raw DEFLATE (no zlib header). A 15-bit window
/// reads data made with any smaller one.
fn new_decompressor() -> Inflate {
    Inflate::new(false, 15)
}

/// Why zlib refused the data, in its own words where it has them.
fn inflate_error(decompressor: &Inflate, error: zlib_rs::InflateError) -> InflateError {
    let why = decompressor.error_message().unwrap_or(error.as_str());
    InflateError::Invalid(format!("deflate decompression error: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement() -> DeflateAgreement {
        DeflateAgreement {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            server_window_requested: false,
            client_max_window_bits: None,
        }
    }

    fn inflate_all(codec: &mut PerMessageDeflate, pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            codec
                .inflate(piece, i + 1 == pieces.len(), &mut out, 1 << 20, &mut |_| {
                    true
                })
                .unwrap();
        }
        out
    }

    #[test]
    fn inflating_with_the_largest_limit_does_not_overflow() {
        // `--max-message-size 18446744073709551615` makes the limit
        // u64::MAX: one past it must not overflow.
        let mut codec = PerMessageDeflate::new(agreement());
        let mut out = Vec::new();
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        codec
            .inflate(&hello, true, &mut out, u64::MAX, &mut |_| true)
            .unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn hello_compresses_to_the_rfc_bytes() {
        // RFC 7692 §7.2.3.1 and §7.2.3.2: the second "Hello" reuses the
        // first from the window.
        let mut codec = PerMessageDeflate::new(agreement());
        assert_eq!(
            codec.compress(b"Hello").unwrap(),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
        assert_eq!(
            codec.compress(b"Hello").unwrap(),
            [0xf2, 0x00, 0x11, 0x00, 0x00]
        );
    }

    #[test]
    fn without_context_takeover_every_hello_is_the_same() {
        let mut codec = PerMessageDeflate::new(DeflateAgreement {
            server_no_context_takeover: true,
            ..agreement()
        });
        for _ in 0..3 {
            assert_eq!(
                codec.compress(b"Hello").unwrap(),
                [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
            );
        }
    }

    #[test]
    fn the_rfc_examples_inflate_to_hello() {
        let mut codec = PerMessageDeflate::new(agreement());
        let rows: [(&str, Vec<&[u8]>); 5] = [
            (
                "§7.2.3.1",
                vec![&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]],
            ),
            // §7.2.3.2: the window from the message before.
            ("§7.2.3.2", vec![&[0xf2, 0x00, 0x11, 0x00, 0x00]]),
            (
                "§7.2.3.1 in two frames",
                vec![&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]],
            ),
            // §7.2.3.3: a stored (uncompressed) block.
            (
                "§7.2.3.3",
                vec![&[
                    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                ]],
            ),
            // §7.2.3.5: two blocks, the first ended by a sync flush.
            (
                "§7.2.3.5",
                vec![&[
                    0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
                ]],
            ),
        ];
        for (section, pieces) in rows {
            assert_eq!(inflate_all(&mut codec, &pieces), b"Hello", "{section}");
        }
    }

    #[test]
    fn a_final_block_ends_the_stream_and_the_next_message_starts_afresh() {
        // §7.2.3.4: BFINAL set; what follows is a new stream.
        let mut codec = PerMessageDeflate::new(agreement());
        let bfinal: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(inflate_all(&mut codec, &[bfinal]), b"Hello");
        assert_eq!(inflate_all(&mut codec, &[bfinal]), b"Hello");
    }

    #[test]
    fn what_follows_a_final_block_is_inflated_not_ignored() {
        // §7.2.3.4: after a final block, the message goes on as a new
        // DEFLATE stream (there, the 00 that starts the empty stored block
        // the tail completes). What it holds belongs to the message: a
        // stored "!!" after "Hello" makes "Hello!!", whether it comes in
        // the same frame or the next.
        let hello_final: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        // A stored block of "!!", then the first byte of the empty stored
        // block the tail completes (as in §7.2.3.3).
        let bangs: &[u8] = &[0x00, 0x02, 0x00, 0xfd, 0xff, 0x21, 0x21, 0x00];
        let mut codec = PerMessageDeflate::new(agreement());
        assert_eq!(
            inflate_all(&mut codec, &[&[hello_final, bangs].concat()]),
            b"Hello!!"
        );
        assert_eq!(inflate_all(&mut codec, &[hello_final, bangs]), b"Hello!!");
        // A message that ends with its final block needs no tail.
        assert_eq!(inflate_all(&mut codec, &[hello_final]), b"Hello");
        // And the window is sound for the message after.
        assert_eq!(
            inflate_all(&mut codec, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]),
            b"Hello"
        );
    }

    #[test]
    fn garbage_after_a_final_block_is_invalid() {
        // Block type 3 is reserved: after a final block as anywhere else,
        // it is not DEFLATE data (RFC 7692 §7.2.2: the connection fails,
        // 1007).
        let mut codec = PerMessageDeflate::new(agreement());
        let mut out = Vec::new();
        let payload = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xff, 0xff];
        let result = codec.inflate(&payload, true, &mut out, 1000, &mut |_| true);
        assert!(
            matches!(result, Err(InflateError::Invalid(_))),
            "{result:?}: {out:x?}"
        );
    }

    #[test]
    fn empty_messages_both_ways() {
        // §7.2.3.6: an empty message is sent as the single byte 00; and
        // an empty payload inflates to nothing as well.
        let mut codec = PerMessageDeflate::new(agreement());
        assert_eq!(codec.compress(b"").unwrap(), [0x00]);
        assert_eq!(inflate_all(&mut codec, &[&[0x00]]), b"");
        assert_eq!(inflate_all(&mut codec, &[&[]]), b"");
        // The window is intact after them.
        assert_eq!(
            inflate_all(&mut codec, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]),
            b"Hello"
        );
    }

    #[test]
    fn what_we_compress_we_inflate_at_every_window_size() {
        let text: Vec<u8> = (0..5_000)
            .flat_map(|i: u32| format!("{{\"n\":{},\"who\":\"x{}\"}}", i, i % 7).into_bytes())
            .collect();
        for bits in 8..=15 {
            for no_takeover in [false, true] {
                let agreed = DeflateAgreement {
                    server_no_context_takeover: no_takeover,
                    client_no_context_takeover: no_takeover,
                    server_max_window_bits: bits,
                    ..agreement()
                };
                let mut sender = PerMessageDeflate::new(agreed);
                let mut receiver = PerMessageDeflate::new(agreed);
                for message in [&text[..1000], &text[..], b"", &text[..1000]] {
                    let compressed = sender.compress(message).unwrap();
                    assert!(compressed.len() < message.len().max(2));
                    assert_eq!(inflate_all(&mut receiver, &[&compressed]), message);
                }
            }
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit_without_inflating_the_rest() {
        let mut sender = PerMessageDeflate::new(agreement());
        let bomb = sender.compress(&vec![0; 10_000_000]).unwrap();
        assert!(bomb.len() < 20_000);
        let mut codec = PerMessageDeflate::new(agreement());
        let mut out = Vec::new();
        let result = codec.inflate(&bomb, true, &mut out, 100_000, &mut |_| true);
        assert_eq!(result, Err(InflateError::TooBig { size: 100_001 }));
        assert!(out.capacity() < 200_000, "{}", out.capacity());
    }

    #[test]
    fn the_output_grows_only_as_far_as_it_is_allowed_to() {
        let mut sender = PerMessageDeflate::new(agreement());
        let bomb = sender.compress(&vec![0; 10_000_000]).unwrap();
        let mut codec = PerMessageDeflate::new(agreement());
        let mut out = Vec::new();
        // Every byte the output grows by is asked for first; past 1 MB,
        // the answer is no.
        let mut granted = 0;
        let mut may_grow = |more: usize| {
            granted += more;
            granted <= 1_000_000
        };
        let result = codec.inflate(&bomb, true, &mut out, 100_000_000, &mut may_grow);
        assert_eq!(result, Err(InflateError::Refused));
        assert!(out.capacity() <= 1_000_000, "{}", out.capacity());
        // Without a no, the whole of it.
        let mut codec = PerMessageDeflate::new(agreement());
        let mut out = Vec::new();
        let mut asked = 0;
        let mut may_grow = |more: usize| {
            asked += more;
            true
        };
        let result = codec.inflate(&bomb, true, &mut out, 100_000_000, &mut may_grow);
        assert_eq!((result, out.len()), (Ok(()), 10_000_000));
        assert_eq!(asked, out.capacity());
    }

    #[test]
    fn a_message_cut_short_is_invalid_not_padded_with_the_tail() {
        // A stored block of 10 bytes with only "AB" of them: the tail put
        // back would be read as 4 more bytes of it, bytes the peer never
        // sent. A message ends with a flushed block (§7.2.1), so the tail
        // is an empty stored block and must add nothing.
        let mut codec = PerMessageDeflate::new(agreement());
        let mut out = Vec::new();
        let cut_short = [0x00, 0x0a, 0x00, 0xf5, 0xff, 0x41, 0x42];
        let result = codec.inflate(&cut_short, true, &mut out, 1000, &mut |_| true);
        assert!(
            matches!(result, Err(InflateError::Invalid(_))),
            "{result:?}: {out:x?}"
        );
    }

    #[test]
    fn a_message_cut_inside_a_block_header_is_invalid_and_spares_the_next() {
        // A message ends with the start of the empty stored block its sync
        // flush made (RFC 7692 §7.2.1), so the tail put back completes that
        // block and leaves the decompressor between blocks. Cut anywhere
        // else, the tail can be swallowed as header bits without a byte of
        // output, leaving the decompressor inside a block: the message is
        // invalid (§7.2.2: 1007), and must not pass as empty while the next
        // one is read from a broken state.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let cut: [&[u8]; 3] = [
            // A fixed-Huffman block header, and nothing after it.
            &[0x02],
            // "Hello" and its end-of-block, without the stored block after.
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07],
            // A whole message, then a second block header cut short.
            &[
                0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff, 0x02,
            ],
        ];
        for message in cut {
            let mut codec = PerMessageDeflate::new(agreement());
            let mut out = Vec::new();
            let result = codec.inflate(message, true, &mut out, 1000, &mut |_| true);
            assert!(
                matches!(result, Err(InflateError::Invalid(_))),
                "{message:02x?}: {result:?}, {out:02x?}"
            );
        }
        // The same message split over frames is judged the same way, and
        // a sound message after a sound one still inflates.
        let mut codec = PerMessageDeflate::new(agreement());
        let mut out = Vec::new();
        codec
            .inflate(&hello[..3], false, &mut out, 1000, &mut |_| true)
            .unwrap();
        let result = codec.inflate(&hello[3..6], true, &mut out, 1000, &mut |_| true);
        assert!(
            matches!(result, Err(InflateError::Invalid(_))),
            "{result:?}"
        );
        let mut codec = PerMessageDeflate::new(agreement());
        assert_eq!(inflate_all(&mut codec, &[&hello]), b"Hello");
        assert_eq!(
            inflate_all(&mut codec, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]]),
            b"Hello"
        );
    }

    #[test]
    fn garbage_is_invalid() {
        let mut codec = PerMessageDeflate::new(agreement());
        let mut out = Vec::new();
        // Block type 3 is reserved (RFC 1951 §3.2.3).
        let result = codec.inflate(&[0xff, 0xff, 0xff], true, &mut out, 1000, &mut |_| true);
        assert!(
            matches!(result, Err(InflateError::Invalid(_))),
            "{result:?}"
        );
    }
}
