//! Masking: RFC 6455 §5.3.
//!
//! Every frame a client sends is XORed with a four-byte key chosen at random
//! for that frame, so that a script in a browser cannot choose the bytes
//! that appear on the wire (which could fool a proxy that does not speak
//! WebSocket into caching forged responses). Byte `i` of the payload is
//! XORed with byte `i % 4` of the key; doing it twice gives the original
//! back, so the same function masks and unmasks.

/// A fresh key for one frame, as §5.3 asks of a client.
///
/// Randomness from the standard library alone: each `RandomState` is
/// seeded from the operating system. Fine for a tutorial; a browser uses a
/// cryptographic generator, as §10.3 recommends.
pub fn random_key() -> [u8; 4] {
    use std::hash::{BuildHasher, RandomState};
    let [a, b, c, d, ..] = RandomState::new()
        .hash_one(std::time::SystemTime::now())
        .to_ne_bytes();
    [a, b, c, d]
}

/// The definition, one byte at a time, exactly as the RFC states it.
///
/// Chapter 3 writes this loop itself (`unmask`) because it *is* the rule.
/// It is also slow: the `i % 4` and the one-byte loads keep the processor
/// from doing more than a byte per step. [`apply`] gives the same result much faster.
pub fn apply_bytewise(mask: [u8; 4], data: &mut [u8]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// The same XOR, eight bytes at a time.
///
/// Repeat the key twice to fill a `u64`; because 8 is a multiple of 4, the
/// key lines up again at the start of every 8-byte word, so each word is
/// one load, one XOR, one store. Taking the words in blocks of eight gives
/// the compiler a fixed-size loop body it turns into vector instructions
/// (four 16-byte XORs per block). In a payload of a block or more, the
/// bytes before the first 64-byte boundary go one at a time first: a
/// payload read into the middle of its message rarely starts on one, and
/// a block that straddles two cache lines costs a fifth more (measured on
/// a 1 MiB payload). A shorter payload goes straight to words. The words
/// left after the last block, then the last few bytes, go the same way
/// one at a time, still in phase with the key.
pub fn apply(mask: [u8; 4], data: &mut [u8]) {
    let lead = if data.len() < 64 {
        0
    } else {
        data.as_ptr().align_offset(64).min(data.len())
    };
    let (head, body) = data.split_at_mut(lead);
    apply_bytewise(mask, head);
    let key = key_at(mask, lead as u64);
    let wide_mask = widened(key);
    let mut blocks = body.chunks_exact_mut(64);
    for block in &mut blocks {
        xor_words(block, wide_mask);
    }
    let rest = blocks.into_remainder();
    let (words, tail) = rest.split_at_mut(rest.len() / 8 * 8);
    xor_words(words, wide_mask);
    apply_bytewise(key, tail);
}

/// The key as it lines up with a payload's byte `offset`: rotated left by
/// `offset % 4` bytes, which is a right rotation of the little-endian
/// number the four bytes make.
fn key_at(mask: [u8; 4], offset: u64) -> [u8; 4] {
    let shift = (offset % 4) as u32 * 8;
    u32::from_le_bytes(mask).rotate_right(shift).to_le_bytes()
}

/// The key repeated to fill an 8-byte word.
fn widened([a, b, c, d]: [u8; 4]) -> u64 {
    u64::from_ne_bytes([a, b, c, d, a, b, c, d])
}

/// XORs each whole 8-byte word of `bytes` with `wide_mask`.
#[inline(always)]
fn xor_words(bytes: &mut [u8], wide_mask: u64) {
    for word in bytes.chunks_exact_mut(8) {
        let mut value = [0; 8];
        value.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(value) ^ wide_mask).to_ne_bytes());
    }
}

/// Applies the mask to a piece of a payload that starts `offset` bytes in,
/// for payloads handled piece by piece as they arrive.
pub fn apply_from(mask: [u8; 4], data: &mut [u8], offset: u64) {
    apply(key_at(mask, offset), data);
}

/// Copies `source` into `destination`, of the same length, applying the
/// mask on the way as [`apply_from`] would after the copy: one pass over
/// the bytes instead of two, for payload bytes that must move anyway (out
/// of a read buffer into their message).
pub fn copy_applying_from(mask: [u8; 4], source: &[u8], destination: &mut [u8], offset: u64) {
    let key = key_at(mask, offset);
    let wide_mask = widened(key);
    let length = source.len().min(destination.len());
    let words = length / 8 * 8;
    let (source_words, source_tail) = source[..length].split_at(words);
    let (destination_words, destination_tail) = destination[..length].split_at_mut(words);
    let mut source_blocks = source_words.chunks_exact(32);
    let mut destination_blocks = destination_words.chunks_exact_mut(32);
    for (from, to) in (&mut source_blocks).zip(&mut destination_blocks) {
        copy_xor_words(from, to, wide_mask);
    }
    copy_xor_words(
        source_blocks.remainder(),
        destination_blocks.into_remainder(),
        wide_mask,
    );
    destination_tail.copy_from_slice(source_tail);
    apply_bytewise(key, destination_tail);
}

/// Writes each whole 8-byte word of `from`, XORed with `wide_mask`, to `to`.
#[inline(always)]
fn copy_xor_words(from: &[u8], to: &mut [u8], wide_mask: u64) {
    for (word, target) in from.chunks_exact(8).zip(to.chunks_exact_mut(8)) {
        let mut value = [0; 8];
        value.copy_from_slice(word);
        target.copy_from_slice(&(u64::from_ne_bytes(value) ^ wide_mask).to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The article's frame: mask [80, 191, 161, 254] over "Can you hear me?".
    const ARTICLE_MASK: [u8; 4] = [80, 191, 161, 254];
    const ARTICLE_MASKED: [u8; 16] = [
        19, 222, 207, 222, 41, 208, 212, 222, 56, 218, 192, 140, 112, 210, 196, 193,
    ];

    #[test]
    fn unmasks_the_articles_bytes() {
        let mut data = ARTICLE_MASKED;
        apply_bytewise(ARTICLE_MASK, &mut data);
        assert_eq!(&data, b"Can you hear me?");
        let mut data = ARTICLE_MASKED;
        apply(ARTICLE_MASK, &mut data);
        assert_eq!(&data, b"Can you hear me?");
    }

    #[test]
    fn piece_by_piece_is_the_same_as_all_at_once() {
        let mut whole = ARTICLE_MASKED;
        apply(ARTICLE_MASK, &mut whole);
        let mut pieces = ARTICLE_MASKED;
        let (first, rest) = pieces.split_at_mut(3);
        apply_from(ARTICLE_MASK, first, 0);
        let (second, third) = rest.split_at_mut(6);
        apply_from(ARTICLE_MASK, second, 3);
        apply_from(ARTICLE_MASK, third, 9);
        assert_eq!(pieces, whole);
    }

    #[test]
    fn fast_and_bytewise_agree_at_every_length_and_alignment() {
        let original: Vec<u8> = (0..400).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..70 {
            for length in (0..100).chain([255, 256, 257, 320]) {
                let mut slow = original.clone();
                let mut fast = original.clone();
                apply_bytewise([1, 2, 3, 4], &mut slow[start..start + length]);
                apply([1, 2, 3, 4], &mut fast[start..start + length]);
                assert_eq!(slow, fast, "start {start}, length {length}");
                assert!(length == 0 || slow != original);
            }
        }
    }

    #[test]
    fn copying_with_the_mask_is_copying_then_masking() {
        let source: Vec<u8> = (0..300).map(|i| (i * 7 + 3) as u8).collect();
        for length in 0..140 {
            for offset in 0..4 {
                let mut expected = source[..length].to_vec();
                apply_from(ARTICLE_MASK, &mut expected, offset);
                let mut copied = vec![0xAA; length];
                copy_applying_from(ARTICLE_MASK, &source[..length], &mut copied, offset);
                assert_eq!(copied, expected, "length {length}, offset {offset}");
            }
        }
    }

    #[test]
    fn pieces_far_into_a_payload_stay_in_phase() {
        // §5.3: octet i is XORed with masking-key octet (i MOD 4), and §5.2
        // lets a payload run to 2^63 - 1 bytes, so a piece may start past
        // 4 GiB. Expected bytes come straight from the RFC's formula.
        let original = b"Can you hear me?";
        for offset in [(1u64 << 31) + 1, (1 << 32) + 2, (1 << 62) + 3] {
            let mut piece = *original;
            apply_from(ARTICLE_MASK, &mut piece, offset);
            let expected: Vec<u8> = (0..original.len())
                .map(|k| original[k] ^ ARTICLE_MASK[((offset + k as u64) % 4) as usize])
                .collect();
            assert_eq!(piece.to_vec(), expected, "offset {offset}");
        }
    }
}
