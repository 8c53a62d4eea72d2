//! Packing encoded entries into request bodies that stay under the intake
//! limits, and gzipping them.
//!
//! Entries are packed in order, as many as fit both the count and the
//! uncompressed size limit (framing included). When the intake also limits
//! the compressed size (series), a body over it is cut in two and each half
//! compressed again, so no request can earn a 413.

use std::ops::Range;

use bytes::Bytes;

pub use crate::http_client::gzip;

/// The JSON around a list of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `{"series":[…]}`: the metrics intake.
    Series,
    /// `[…]`: the logs intake.
    Array,
}

impl Framing {
    fn open(self) -> &'static [u8] {
        match self {
            Framing::Series => b"{\"series\":[",
            Framing::Array => b"[",
        }
    }

    fn close(self) -> &'static [u8] {
        match self {
            Framing::Series => b"]}",
            Framing::Array => b"]",
        }
    }

    fn overhead(self) -> usize {
        self.open().len() + self.close().len()
    }
}

/// An intake's payload limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub framing: Framing,
    pub max_entries: usize,
    /// Uncompressed body size, framing and commas included.
    pub max_bytes: usize,
    /// Compressed body size, when the intake limits it.
    pub max_compressed: Option<usize>,
}

/// One request body, gzipped, and how many entries it holds.
#[derive(Debug, Clone)]
pub struct Payload {
    pub gzipped: Bytes,
    pub entries: usize,
    /// Uncompressed size, for logs and tests.
    pub raw_len: usize,
}

/// Groups `entries` into consecutive ranges within the count and
/// uncompressed size limits. An entry too large on its own is left out; its
/// index is returned in the second list.
pub fn pack(entries: &[Vec<u8>], limits: &Limits) -> (Vec<Range<usize>>, Vec<usize>) {
    let mut ranges = Vec::new();
    let mut oversized = Vec::new();
    let mut start = 0;
    let mut size = limits.framing.overhead();
    for (i, e) in entries.iter().enumerate() {
        if limits.framing.overhead() + e.len() > limits.max_bytes {
            if start < i {
                ranges.push(start..i);
            }
            oversized.push(i);
            start = i + 1;
            size = limits.framing.overhead();
            continue;
        }
        let comma = usize::from(start < i);
        if i - start >= limits.max_entries || size + comma + e.len() > limits.max_bytes {
            ranges.push(start..i);
            start = i;
            size = limits.framing.overhead();
        }
        size += usize::from(start < i) + e.len();
    }
    if start < entries.len() {
        ranges.push(start..entries.len());
    }
    (ranges, oversized)
}

/// The uncompressed body of `entries`.
pub fn body(entries: &[Vec<u8>], framing: Framing) -> Vec<u8> {
    let len = framing.overhead() + entries.iter().map(|e| e.len() + 1).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(framing.open());
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(framing.close());
    out
}

/// Packs, frames and compresses `entries` into request bodies within
/// `limits`. Returns the bodies and the number of entries left out because
/// each alone was over the size limit.
pub fn payloads(entries: &[Vec<u8>], limits: &Limits) -> (Vec<Payload>, usize) {
    let (ranges, oversized) = pack(entries, limits);
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        compress_within(&entries[r], limits, &mut out);
    }
    (out, oversized.len())
}

fn compress_within(entries: &[Vec<u8>], limits: &Limits, out: &mut Vec<Payload>) {
    let raw = body(entries, limits.framing);
    let gzipped = gzip(&raw);
    match limits.max_compressed {
        Some(max) if gzipped.len() > max && entries.len() > 1 => {
            let (a, b) = entries.split_at(entries.len() / 2);
            compress_within(a, limits, out);
            compress_within(b, limits, out);
        }
        _ => out.push(Payload {
            gzipped: Bytes::from(gzipped),
            entries: entries.len(),
            raw_len: raw.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(sizes: &[usize]) -> Vec<Vec<u8>> {
        sizes.iter().map(|&n| vec![b'1'; n]).collect()
    }

    #[test]
    fn packs_by_count_and_size_and_skips_oversized() {
        let limits = Limits {
            framing: Framing::Array,
            max_entries: 3,
            max_bytes: 13,
            max_compressed: None,
        };
        // "[" + 3 + "," + 3 + "," + 3 + "]" = 13 fits; a fourth does not (count).
        let (r, o) = pack(&entries(&[3, 3, 3, 3]), &limits);
        assert_eq!(r, vec![0..3, 3..4]);
        assert!(o.is_empty());
        // "[" + 5 + "," + 5 + "]" = 13 > 12: split by size.
        let limits = Limits {
            max_bytes: 12,
            ..limits
        };
        let (r, o) = pack(&entries(&[5, 5, 20, 1]), &limits);
        assert_eq!(r, vec![0..1, 1..2, 3..4]);
        assert_eq!(o, vec![2]);
        for (sizes, lim) in [(vec![10, 10, 10], 12), (vec![1; 50], 40)] {
            let es = entries(&sizes);
            let l = Limits {
                max_bytes: lim,
                max_entries: 1000,
                ..limits
            };
            for r in pack(&es, &l).0 {
                assert!(body(&es[r], Framing::Array).len() <= lim);
            }
        }
    }

    #[test]
    fn bodies_are_valid_json_and_split_on_compressed_size() {
        let es: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i)).into_bytes())
            .collect();
        let limits = Limits {
            framing: Framing::Series,
            max_entries: usize::MAX,
            max_bytes: usize::MAX,
            max_compressed: Some(600),
        };
        let (ps, skipped) = payloads(&es, &limits);
        assert_eq!(skipped, 0);
        assert!(ps.len() > 1);
        assert_eq!(ps.iter().map(|p| p.entries).sum::<usize>(), 200);
        for p in &ps {
            assert!(p.gzipped.len() <= 600 || p.entries == 1);
        }
    }
}
