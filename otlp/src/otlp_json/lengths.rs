//! The lengths of nested protobuf messages written in one pass, before
//! their size is known: each gets one byte when opened; a message of 128
//! bytes or more needs a longer varint, which is noted and made room for in
//! one move of the buffer at the end. (Moving each such message's contents
//! up as it closed moved a record once and every enclosing list again: 6 %
//! of the HTTP/JSON path.)

use prost::encoding::{encode_key, encoded_len_varint, WireType};

#[derive(Default)]
pub(super) struct Lengths {
    /// Where a length longer than its one byte goes, and the length.
    wide: Vec<(usize, usize)>,
    /// The bytes those lengths need beyond their one byte each.
    extra: usize,
}

/// Writes the key of a length-delimited field and one byte for its length;
/// returns where the contents start.
#[inline]
pub(super) fn open(out: &mut Vec<u8>, tag: u32) -> usize {
    if tag < 16 {
        out.push((tag << 3) as u8 | WireType::LengthDelimited as u8);
    } else {
        encode_key(tag, WireType::LengthDelimited, out);
    }
    out.push(0);
    out.len()
}

impl Lengths {
    /// Sets the length of the field opened at `start`, whose contents hold
    /// `inner` more bytes than written so far (the extra bytes of the
    /// lengths inside it); returns the extra bytes of this length.
    #[inline]
    pub(super) fn close(&mut self, out: &mut [u8], start: usize, inner: usize) -> usize {
        let len = out.len() - start + inner;
        if len < 0x80 {
            out[start - 1] = len as u8;
            return 0;
        }
        let extra = encoded_len_varint(len as u64) - 1;
        self.wide.push((start - 1, len));
        self.extra += extra;
        extra
    }

    /// Writes the long lengths, moving every byte after each up by the
    /// extra bytes before it: each byte moves at most once.
    pub(super) fn finish(mut self, out: &mut Vec<u8>) {
        if self.wide.is_empty() {
            return;
        }
        // Noted as messages closed: inner ones before the outer.
        self.wide.sort_unstable_by_key(|&(at, _)| at);
        let mut end = out.len();
        // Exactly: a doubling here would hold twice the request's bytes.
        out.reserve_exact(self.extra);
        out.resize(end + self.extra, 0);
        let mut shift = self.extra;
        for &(at, len) in self.wide.iter().rev() {
            out.copy_within(at + 1..end, at + 1 + shift);
            shift -= encoded_len_varint(len as u64) - 1;
            let mut v = len;
            let mut i = at + shift;
            while v >= 0x80 {
                out[i] = (v as u8 & 0x7f) | 0x80;
                v >>= 7;
                i += 1;
            }
            out[i] = v as u8;
            end = at;
        }
        debug_assert_eq!(shift, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Nested byte strings of every size around the one-byte limit, written
    /// with deferred lengths, are the bytes prost writes.
    #[test]
    fn deferred_lengths_are_the_bytes_prost_writes() {
        #[derive(Clone, PartialEq, Message)]
        struct Node {
            #[prost(bytes = "vec", tag = "1")]
            data: Vec<u8>,
            #[prost(message, repeated, tag = "2")]
            children: Vec<Node>,
        }
        fn write(node: &Node, out: &mut Vec<u8>, lengths: &mut Lengths) -> usize {
            let mut inner = 0;
            if !node.data.is_empty() {
                let start = open(out, 1);
                out.extend_from_slice(&node.data);
                inner += lengths.close(out, start, 0);
            }
            for child in &node.children {
                let start = open(out, 2);
                let sub = write(child, out, lengths);
                inner += sub + lengths.close(out, start, sub);
            }
            inner
        }
        let mut rng = crate::testing::Xorshift(0x6c65_6e67_7468_7301);
        fn tree(rng: &mut crate::testing::Xorshift, depth: usize) -> Node {
            let sizes = [0, 1, 100, 126, 127, 128, 129, 300, 16_383, 16_384, 20_000];
            Node {
                data: vec![7; sizes[rng.below(sizes.len())]],
                children: match depth {
                    0 => Vec::new(),
                    _ => (0..rng.below(4)).map(|_| tree(rng, depth - 1)).collect(),
                },
            }
        }
        for _ in 0..300 {
            let node = tree(&mut rng, 3);
            let mut out = Vec::new();
            let mut lengths = Lengths::default();
            write(&node, &mut out, &mut lengths);
            lengths.finish(&mut out);
            assert_eq!(out, node.encode_to_vec());
        }
    }
}
