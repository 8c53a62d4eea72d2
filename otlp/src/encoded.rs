//! [`Encoded`]: export requests of one signal as protobuf bytes, checked by
//! [`wire::scan`](crate::wire::scan) (as strictly as prost decoding would)
//! but not decoded. Concatenating requests is how protobuf merges their
//! repeated fields, so batching encoded requests never decodes them.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::limits::Limits;
use crate::records::{Records, Signal};
use crate::wire::{self, ScanError, WireError};

/// Validated, still-encoded export requests of one signal.
#[derive(Debug, Clone)]
pub struct Encoded {
    signal: Signal,
    /// Each part is one complete export request; together they are one too.
    parts: Vec<Bytes>,
    /// Each part's items, where known (the scan counted them), so the
    /// batcher can cut between requests without scanning them again.
    counts: Vec<Option<usize>>,
    items: usize,
}

/// Equal when they hold the same requests; whether a part's count is
/// remembered is no part of the value.
impl PartialEq for Encoded {
    fn eq(&self, other: &Encoded) -> bool {
        self.signal == other.signal && self.items == other.items && self.parts == other.parts
    }
}

impl Encoded {
    /// Checks `bytes` as an export request of `signal` (as strictly as prost
    /// decoding would) and counts its items.
    pub fn new(signal: Signal, bytes: Bytes) -> Result<Encoded, WireError> {
        let items = wire::scan(signal, &bytes)?;
        Ok(Encoded::counted(signal, bytes, items))
    }

    /// [`Encoded::new`], also refusing attributes over `limits`.
    pub fn within(signal: Signal, bytes: Bytes, limits: &Limits) -> Result<Encoded, ScanError> {
        let items = wire::scan_within(signal, &bytes, limits)?;
        Ok(Encoded::counted(signal, bytes, items))
    }

    /// Bytes that are a valid export request of `signal` holding `items`
    /// items, as the JSON transcode and [`crate::encode`] know of what they
    /// wrote (they count them as [`wire::scan`] would).
    pub(crate) fn counted(signal: Signal, bytes: Bytes, items: usize) -> Encoded {
        debug_assert_eq!(wire::scan(signal, &bytes), Ok(items));
        Encoded {
            signal,
            parts: vec![bytes],
            counts: vec![Some(items)],
            items,
        }
    }

    /// Requests a change of valid requests wrote ([`crate::rewrite`]),
    /// holding `items` items in all, as the writer counted them. Not
    /// scanned again (that is the cost the rewrite saves); debug builds
    /// check both claims.
    pub fn rewritten(signal: Signal, parts: Vec<Bytes>, items: usize) -> Encoded {
        debug_assert_eq!(
            parts
                .iter()
                .map(|p| wire::scan(signal, p))
                .sum::<Result<usize, _>>(),
            Ok(items)
        );
        // The writer counted the whole; one part's share is then known.
        let counts = match parts.len() {
            1 => vec![Some(items)],
            n => vec![None; n],
        };
        Encoded {
            signal,
            parts,
            counts,
            items,
        }
    }

    pub fn signal(&self) -> Signal {
        self.signal
    }

    pub fn item_count(&self) -> usize {
        self.items
    }

    /// The requests, in order; their concatenation is one valid request.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// Total encoded size in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Appends `other`'s requests after these (one valid request still).
    ///
    /// # Panics
    /// If the signals differ: a pipeline carries one signal, so that is a bug.
    pub fn append(&mut self, other: Encoded) {
        assert_eq!(
            self.signal, other.signal,
            "appended requests of another signal"
        );
        self.parts.extend(other.parts);
        self.counts.extend(other.counts);
        self.items += other.items;
    }

    /// The items of the leading whole requests that together stay within
    /// `max_bytes` (at least the first request).
    pub(crate) fn leading_items_within(&self, max_bytes: usize) -> usize {
        let (mut bytes, mut items) = (0usize, 0usize);
        for (i, p) in self.parts.iter().enumerate() {
            bytes = bytes.saturating_add(p.len());
            if i > 0 && bytes > max_bytes {
                break;
            }
            items += self.part_items(i);
        }
        items
    }

    /// The items of part `i`: as counted when it was checked, else scanned.
    fn part_items(&self, i: usize) -> usize {
        let count = self.counts[i];
        debug_assert!(count.is_none() || count == wire::scan(self.signal, &self.parts[i]).ok());
        count.unwrap_or_else(|| {
            #[cfg(test)]
            tests::RESCANS.with(|n| n.set(n.get() + 1));
            wire::scan(self.signal, &self.parts[i]).unwrap_or(0)
        })
    }

    /// Splits off the leading requests holding exactly `n` items, if a
    /// request boundary falls there; `None` (and unchanged) otherwise.
    pub(crate) fn split_whole_requests(&mut self, n: usize) -> Option<Encoded> {
        let (mut items, mut whole) = (0, 0);
        for i in 0..self.parts.len() {
            let c = self.part_items(i);
            if items + c > n {
                break;
            }
            items += c;
            whole += 1;
        }
        if items != n {
            return None;
        }
        let rest = self.parts.split_off(whole);
        let head = std::mem::replace(&mut self.parts, rest);
        let rest_counts = self.counts.split_off(whole);
        let head_counts = std::mem::replace(&mut self.counts, rest_counts);
        self.items -= items;
        Some(Encoded {
            signal: self.signal,
            parts: head,
            counts: head_counts,
            items,
        })
    }

    /// Decodes all parts into one batch, keeping their order.
    pub fn decode(&self) -> Result<Records, prost::DecodeError> {
        let mut batch = Records::empty(self.signal);
        for part in &self.parts {
            batch.append(match self.signal {
                Signal::Logs => Records::Logs(ExportLogsServiceRequest::decode(part.clone())?),
                Signal::Metrics => {
                    Records::Metrics(ExportMetricsServiceRequest::decode(part.clone())?)
                }
                Signal::Traces => Records::Traces(ExportTraceServiceRequest::decode(part.clone())?),
            });
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{capture_bins, Xorshift};
    use std::cell::Cell;

    thread_local! {
        /// Parts scanned again to count their items (see `part_items`).
        pub(super) static RESCANS: Cell<usize> = const { Cell::new(0) };
    }

    fn rescans() -> usize {
        RESCANS.with(Cell::get)
    }

    fn logs() -> Vec<Encoded> {
        capture_bins()
            .into_iter()
            .filter(|(signal, _)| *signal == Signal::Logs)
            .map(|(signal, b)| Encoded::new(signal, Bytes::from(b)).unwrap())
            .collect()
    }

    /// The batcher weighs and cuts a full batch at every emit: with the
    /// counts the receiver's scan took, it never scans a request again.
    #[test]
    fn cutting_between_requests_scans_nothing_again() {
        let requests = logs();
        let mut batch = requests[0].clone();
        for r in &requests[1..] {
            batch.append(r.clone());
        }
        let before = rescans();
        let half = batch.len() / 2;
        let take = batch.leading_items_within(half);
        let head = batch
            .split_whole_requests(take)
            .expect("a request boundary");
        assert_eq!(
            head.item_count() + batch.item_count(),
            requests.iter().map(Encoded::item_count).sum::<usize>()
        );
        assert_eq!(rescans(), before);
    }

    /// Counts stay each part's own through appends and cuts, and parts of
    /// unknown count (a multi-part rewrite) are scanned: every answer is
    /// what scanning every part would give.
    #[test]
    fn cuts_agree_with_scanning_every_part() {
        let requests = logs();
        let mut rng = Xorshift(0x5eed_cafe_f00d_0001);
        let scanned = |e: &Encoded| -> Vec<usize> {
            e.parts()
                .iter()
                .map(|p| wire::scan(Signal::Logs, p).unwrap())
                .collect()
        };
        for _ in 0..200 {
            let mut batch = requests[rng.below(requests.len())].clone();
            for _ in 0..rng.below(12) {
                let next = requests[rng.below(requests.len())].clone();
                if rng.below(4) == 0 {
                    // As a rewrite hands it over: two parts, counted only as a whole.
                    let parts = [next.parts(), next.parts()].concat();
                    batch.append(Encoded::rewritten(
                        Signal::Logs,
                        parts,
                        2 * next.item_count(),
                    ));
                } else {
                    batch.append(next);
                }
            }
            let counts = scanned(&batch);
            let max = rng.below(batch.len() + 1);
            let mut bytes = 0;
            let want: usize = counts
                .iter()
                .zip(batch.parts())
                .enumerate()
                .take_while(|(i, (_, p))| {
                    bytes += p.len();
                    *i == 0 || bytes <= max
                })
                .map(|(_, (c, _))| c)
                .sum();
            assert_eq!(batch.leading_items_within(max), want);
            let whole = 1 + rng.below(counts.len());
            let n: usize = counts[..whole].iter().sum();
            let total = batch.item_count();
            let head = batch.split_whole_requests(n).expect("a request boundary");
            assert_eq!((head.item_count(), batch.item_count()), (n, total - n));
            assert_eq!(scanned(&head), counts[..whole]);
            assert_eq!(scanned(&batch), counts[whole..]);
            assert_eq!(
                head.items,
                head.counts
                    .iter()
                    .zip(head.parts())
                    .map(|(c, p)| c.unwrap_or_else(|| wire::scan(Signal::Logs, p).unwrap()))
                    .sum::<usize>()
            );
        }
    }
}
