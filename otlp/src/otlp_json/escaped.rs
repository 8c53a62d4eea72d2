//! The bytes a JSON string holds only escaped (`"`, `\` and control
//! characters), found eight at a time: where the encoder must escape and
//! where the reader's plain run of a string ends.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that may be zero: the lowest set bit is
/// exactly the first zero byte (the borrow only ever marks bytes above it).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGH
}

/// A mask whose lowest set bit is the high bit of the first byte of `w`
/// (little-endian) that is `"`, `\` or below 0x20; zero if there is none.
#[inline(always)]
pub(super) fn escaped_bytes(w: u64) -> u64 {
    zero_bytes(w ^ (ONES * u64::from(b'"')))
        | zero_bytes(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first byte found a word at a time is the one a byte-by-byte look
    /// finds, for every byte at every place in a word.
    #[test]
    fn the_first_escaped_byte_in_a_word_is_found_exactly() {
        for at in 0..8 {
            for byte in 0..=255u8 {
                for filler in [b'a', 0x80, 0xff, b'"', 0x1f] {
                    let mut word = [filler; 8];
                    word[at] = byte;
                    let found = escaped_bytes(u64::from_le_bytes(word));
                    let want = word
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20);
                    let got = (found != 0).then(|| found.trailing_zeros() as usize / 8);
                    assert_eq!(got, want, "{word:x?}");
                }
            }
        }
    }
}
