//! The scan's fast paths for what nearly every request is made of: ASCII
//! strings, and attributes that are a key and one scalar value (every Claude
//! Code attribute). Each either proves its bytes valid exactly as the
//! general walk would, or says "not plain" and leaves them to the walk, which
//! then finds and names whatever is wrong; so no request is refused or
//! accepted differently, only sooner.

use super::{delimited, take, varint};

/// Whether `s` is valid UTF-8: eight bytes at a time while they are ASCII,
/// the standard check from the first word holding a byte ≥ 0x80.
#[inline]
pub(crate) fn utf8(s: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = s.chunks_exact(8);
    for (i, word) in words.by_ref().enumerate() {
        let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        if w & HIGH != 0 {
            return std::str::from_utf8(&s[i * 8..]).is_ok();
        }
    }
    let tail = words.remainder();
    tail.iter().all(u8::is_ascii) || std::str::from_utf8(tail).is_ok()
}

/// Field keys of the plain shape: KeyValue `key` (1) and `value` (2), both
/// length-delimited; AnyValue `string_value` (1, LEN), `bool_value` (2,
/// varint), `int_value` (3, varint), `double_value` (4, fixed64).
const KV_KEY: u8 = 0x0a;
const KV_VALUE: u8 = 0x12;
const STRING_VALUE: u8 = 0x0a;
const BOOL_VALUE: u8 = 0x10;
const INT_VALUE: u8 = 0x18;
const DOUBLE_VALUE: u8 = 0x21;

/// Whether a KeyValue's bytes are exactly `key` then a `value` holding one
/// string, bool, int or double (or nothing), each valid. The caller has
/// checked that the value may be entered (depth and attribute-depth limit):
/// such a KeyValue then adds one attribute and no items, as the walk counts.
/// `false` means only "not this shape".
#[inline]
pub(crate) fn key_value(mut b: &[u8]) -> bool {
    let Some((&KV_KEY, rest)) = b.split_first() else {
        return false;
    };
    b = rest;
    let Ok(key) = delimited(&mut b) else {
        return false;
    };
    if !utf8(key) {
        return false;
    }
    let Some((&KV_VALUE, rest)) = b.split_first() else {
        return false;
    };
    b = rest;
    let Ok(value) = delimited(&mut b) else {
        return false;
    };
    b.is_empty() && scalar(value)
}

/// An AnyValue that is empty or exactly one valid scalar field.
#[inline]
fn scalar(mut b: &[u8]) -> bool {
    let Some((&key, rest)) = b.split_first() else {
        return true;
    };
    b = rest;
    let valid = match key {
        STRING_VALUE => delimited(&mut b).is_ok_and(utf8),
        BOOL_VALUE | INT_VALUE => varint(&mut b).is_ok(),
        DOUBLE_VALUE => take(&mut b, 8).is_ok(),
        _ => false,
    };
    valid && b.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Xorshift;

    #[test]
    fn utf8_agrees_with_std_for_every_byte_at_every_place() {
        for len in 0..40 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[at] = byte;
                    assert_eq!(
                        utf8(&s),
                        std::str::from_utf8(&s).is_ok(),
                        "{byte:#x} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn utf8_agrees_with_std_on_random_text() {
        let pieces: [&[u8]; 8] = [
            b"a",
            b"plain ascii ",
            "é".as_bytes(),
            "日本".as_bytes(),
            "🦀".as_bytes(),
            &[0xff],
            &[0xe6, 0x97],       // a character cut short
            &[0xed, 0xa0, 0x80], // a surrogate
        ];
        let mut rng = Xorshift(0x0075_7466_3800_0001);
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..20_000 {
            let mut s = Vec::new();
            for _ in 0..rng.below(12) {
                // Mostly valid pieces, so both outcomes come up.
                let i = if rng.below(8) == 0 {
                    5 + rng.below(3)
                } else {
                    rng.below(5)
                };
                s.extend_from_slice(pieces[i]);
            }
            let want = std::str::from_utf8(&s).is_ok();
            assert_eq!(utf8(&s), want, "{s:?}");
            if want {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        assert!(valid > 1000 && invalid > 1000, "{valid} / {invalid}");
    }
}
