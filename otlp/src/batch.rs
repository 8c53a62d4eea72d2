//! [`Batch`]: the one thing that flows through a pipeline, from receiver to
//! chain, batcher, fan-out, export queue (or its on-disk log) and exporter.
//!
//! A batch keeps the protobuf request bytes it arrived as ([`Encoded`],
//! checked by [`wire::scan`](crate::wire::scan) but not decoded) and decodes
//! them into [`Records`] lazily, at most once for every holder. Decoding is
//! the dominant cost of a pipeline that only moves data, and decoded records
//! take three to four times the memory of their bytes, so a batch stays
//! encoded until a stage asks for its records.
//!
//! Cloning is cheap (an `Arc`): fan-out hands the same batch to every
//! exporter. Changing it ([`Batch::records_mut`], [`Batch::set_encoded`],
//! cutting and merging) is copy-on-write: in the chain a batch has one
//! holder, so nothing is copied there.

use std::sync::{Arc, OnceLock};

use crate::encoded::Encoded;
use crate::limits::{self, LimitError, Limits};
pub use crate::records::Signal;

use crate::records::Records;
use crate::wire::{self, ScanError};

/// A batch of one signal: request bytes, decoded records, or both.
#[derive(Debug, Clone)]
pub struct Batch(Arc<Inner>);

/// At least one of `encoded` and an `Ok` in `decoded` is always there; when
/// both are, they hold the same records.
#[derive(Debug, Clone)]
struct Inner {
    signal: Signal,
    encoded: Option<Encoded>,
    decoded: OnceLock<Result<Records, prost::DecodeError>>,
}

/// Bytes that passed [`wire::scan`] but not prost: the two disagree, which
/// the property tests rule out; kept as an error rather than a panic.
#[derive(Debug, thiserror::Error)]
#[error("a validated request failed to decode: {0}")]
pub struct DecodeError(#[from] prost::DecodeError);

/// The form an exporter works with best. Fan-out decodes a batch (once, on
/// the processor thread, off the async I/O threads) before handing it to an
/// exporter that prefers it decoded; one that prefers it encoded gets the
/// request bytes as received whenever the batch still has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Encoded,
    Decoded,
}

/// Decoded records take about this many times their protobuf size in memory
/// (small strings, vectors and enums per attribute).
const DECODED_BYTES_PER_ENCODED_BYTE: usize = 3;

impl From<Records> for Batch {
    fn from(records: Records) -> Self {
        Batch(Arc::new(Inner {
            signal: records.signal(),
            encoded: None,
            decoded: OnceLock::from(Ok(records)),
        }))
    }
}

impl From<Encoded> for Batch {
    fn from(encoded: Encoded) -> Self {
        Batch(Arc::new(Inner {
            signal: encoded.signal(),
            encoded: Some(encoded),
            decoded: OnceLock::new(),
        }))
    }
}

impl Batch {
    pub fn signal(&self) -> Signal {
        self.0.signal
    }

    /// Items as [`Records::item_count`] counts them (counted by the wire
    /// scan while encoded).
    pub fn item_count(&self) -> usize {
        match (&self.0.encoded, self.0.decoded.get()) {
            (Some(e), _) => e.item_count(),
            (None, Some(Ok(r))) => r.item_count(),
            (None, _) => unreachable!("a batch without bytes holds its records"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.item_count() == 0
    }

    /// The request bytes, while the batch has them: as received, or as a
    /// processor last set them with [`Batch::set_encoded`]. `None` once the
    /// records were changed through [`Batch::records_mut`].
    pub fn encoded(&self) -> Option<&Encoded> {
        self.0.encoded.as_ref()
    }

    /// Replaces the request bytes, for a processor that rewrote them without
    /// decoding. Records decoded before are dropped: they no longer match.
    ///
    /// # Panics
    /// If the signal differs: a pipeline carries one signal, so that is a bug.
    pub fn set_encoded(&mut self, encoded: Encoded) {
        assert_eq!(
            encoded.signal(),
            self.signal(),
            "set_encoded changed the signal"
        );
        *self = Batch::from(encoded);
    }

    /// The decoded records, decoding the first time (for every holder of
    /// this batch) and never again.
    pub fn records(&self) -> Result<&Records, DecodeError> {
        self.0.records()
    }

    /// The records to change in place: decodes if needed and drops the
    /// bytes, which would no longer match. Copies the batch first if someone
    /// else holds it (never in the chain, where a batch has one holder).
    pub fn records_mut(&mut self) -> Result<&mut Records, DecodeError> {
        Arc::make_mut(&mut self.0).records_mut()
    }

    /// The records, moved out when no one else holds the batch.
    pub fn into_records(mut self) -> Result<Records, DecodeError> {
        self.records_mut()?;
        let inner = Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone());
        match inner.decoded.into_inner() {
            Some(Ok(records)) => Ok(records),
            _ => unreachable!("records_mut decoded it"),
        }
    }

    /// Whether the records have been decoded already.
    pub fn is_decoded(&self) -> bool {
        self.0.decoded.get().is_some()
    }

    /// Whether `self` and `other` are the same batch (not copies).
    pub fn ptr_eq(&self, other: &Batch) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Checks the batch against `limits`: the request bytes with the wire
    /// walk (exact per part: parts only concatenate at the top level, where
    /// nothing merges), else the records with [`limits::check`].
    pub fn check_limits(&self, limits: &Limits) -> Result<(), LimitError> {
        let Some(encoded) = self.encoded() else {
            return match self.records() {
                Ok(records) => limits::check(records, limits),
                // Not a limit; whoever decodes it next reports it.
                Err(_) => Ok(()),
            };
        };
        for part in encoded.parts() {
            match wire::scan_within(encoded.signal(), part, limits) {
                Ok(_) => {}
                Err(ScanError::Limit(e)) => return Err(e),
                // Checked when the batch was built; not a limit.
                Err(ScanError::Malformed(_)) => {}
            }
        }
        Ok(())
    }

    /// About how much memory this batch holds: its bytes while only encoded,
    /// an estimate from its protobuf size once decoded (the records
    /// dominate). Queues weigh it by this.
    pub fn memory_weight(&self) -> usize {
        match (self.0.decoded.get(), self.encoded()) {
            (Some(Ok(r)), _) => r.encoded_len() * DECODED_BYTES_PER_ENCODED_BYTE,
            (_, Some(e)) => e.len(),
            (_, None) => 0,
        }
    }

    /// Appends `other` after this batch's contents. Two batches with bytes
    /// concatenate them without decoding; otherwise both are decoded.
    ///
    /// # Panics
    /// If the signals differ: a pipeline carries one signal, so that is a bug.
    pub fn append(&mut self, other: Batch) -> Result<(), DecodeError> {
        assert_eq!(
            other.signal(),
            self.signal(),
            "appended a {} batch to a {} batch",
            other.signal(),
            self.signal()
        );
        let me = self.bytes_first();
        if let (Some(mine), Some(theirs)) = (me.encoded.as_mut(), other.encoded()) {
            mine.append(theirs.clone());
            me.decoded = OnceLock::new();
            return Ok(());
        }
        let other = other.into_records()?;
        me.records_mut()?.append(other);
        Ok(())
    }

    /// For a batch with bytes: the items of its leading whole requests that
    /// together stay within `max_bytes` (at least the first request), so a
    /// cut there keeps it encoded. `None` without bytes.
    pub fn leading_items_within(&self, max_bytes: usize) -> Option<usize> {
        self.encoded().map(|e| e.leading_items_within(max_bytes))
    }

    /// Splits off the first `n` items (see [`Records::split_front`]). With
    /// bytes, the cut falls between requests when a boundary is exactly at
    /// `n` and stays encoded; otherwise both halves are decoded.
    pub fn split_front(&mut self, n: usize) -> Result<Batch, DecodeError> {
        let me = self.bytes_first();
        if let Some(head) = me.encoded.as_mut().and_then(|e| e.split_whole_requests(n)) {
            me.decoded = OnceLock::new();
            return Ok(Batch::from(head));
        }
        Ok(Batch::from(me.records_mut()?.split_front(n)))
    }
}

impl Batch {
    /// The batch to cut or merge, copied first if someone else holds it:
    /// only its bytes when it has them (cutting and merging work on those),
    /// else its records.
    fn bytes_first(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.0).is_none() {
            let inner = &*self.0;
            let copy = match &inner.encoded {
                Some(e) => Inner {
                    signal: inner.signal,
                    encoded: Some(e.clone()),
                    decoded: OnceLock::new(),
                },
                None => inner.clone(),
            };
            self.0 = Arc::new(copy);
        }
        Arc::get_mut(&mut self.0).expect("unique just above")
    }
}

impl Inner {
    fn records(&self) -> Result<&Records, DecodeError> {
        let decoded = self.decoded.get_or_init(|| match &self.encoded {
            Some(e) => e.decode(),
            None => unreachable!("a batch without bytes holds its records"),
        });
        decoded.as_ref().map_err(|e| DecodeError(e.clone()))
    }

    fn records_mut(&mut self) -> Result<&mut Records, DecodeError> {
        self.records()?;
        self.encoded = None;
        match self.decoded.get_mut() {
            Some(Ok(records)) => Ok(records),
            _ => unreachable!("decoded just above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message;

    fn logs(n: usize) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: (0..n)
                        .map(|i| LogRecord {
                            time_unix_nano: i as u64,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn bytes(n: usize) -> Encoded {
        Encoded::new(Signal::Logs, Bytes::from(logs(n).encode_to_vec())).unwrap()
    }

    fn encoded(n: usize) -> Batch {
        Batch::from(bytes(n))
    }

    fn merged(a: usize, b: usize) -> Records {
        let mut want = Records::Logs(logs(a));
        want.append(Records::Logs(logs(b)));
        want
    }

    #[test]
    fn encoded_batches_concatenate_without_decoding() {
        let mut b = encoded(2);
        b.append(encoded(3)).unwrap();
        assert!(b.encoded().is_some() && !b.is_decoded());
        assert_eq!(b.encoded().unwrap().parts().len(), 2);
        assert_eq!(b.item_count(), 5);
        assert_eq!(b.into_records().unwrap(), merged(2, 3));
    }

    #[test]
    fn mixing_decoded_and_encoded_decodes_once() {
        let mut b = Batch::from(Records::Logs(logs(1)));
        b.append(encoded(2)).unwrap();
        assert!(b.encoded().is_none());
        assert_eq!(b.item_count(), 3);
        assert_eq!(b.records().unwrap(), &merged(1, 2));
    }

    #[test]
    fn split_on_a_request_boundary_stays_encoded() {
        let mut b = encoded(2);
        b.append(encoded(3)).unwrap();
        let head = b.split_front(2).unwrap();
        assert!(head.encoded().is_some() && b.encoded().is_some());
        assert!(!head.is_decoded() && !b.is_decoded());
        assert_eq!((head.item_count(), b.item_count()), (2, 3));

        let mut q = encoded(4);
        let head = q.split_front(1).unwrap();
        assert_eq!((head.item_count(), q.item_count()), (1, 3));
        assert!(q.encoded().is_none(), "a cut inside a request decodes");
    }

    #[test]
    fn leading_requests_within_a_byte_budget() {
        let mut b = encoded(2);
        b.append(encoded(3)).unwrap();
        let first = b.encoded().unwrap().parts()[0].len();
        assert_eq!(b.leading_items_within(first), Some(2));
        assert_eq!(b.leading_items_within(0), Some(2), "at least one request");
        assert_eq!(b.leading_items_within(usize::MAX), Some(5));
        assert_eq!(
            Batch::from(Records::Logs(logs(2))).leading_items_within(9),
            None
        );
    }

    #[test]
    fn malformed_bytes_are_refused_up_front() {
        assert!(Encoded::new(Signal::Logs, Bytes::from_static(&[0x0a, 0x05, 0x01])).is_err());
    }

    #[test]
    fn a_shared_batch_decodes_once_for_all_its_holders() {
        let batch = encoded(3);
        let size = batch.encoded().unwrap().len();
        let other = batch.clone();
        assert!(batch.ptr_eq(&other));
        assert!(!batch.is_decoded());
        assert_eq!(batch.memory_weight(), size, "undecoded: weighs its bytes");

        let first: *const Records = other.records().unwrap();
        assert!(batch.is_decoded(), "decoded for every holder");
        let second: *const Records = batch.records().unwrap();
        assert_eq!(first, second, "decoded once, not per call");
        assert_eq!(batch.records().unwrap(), &Records::Logs(logs(3)));
        assert!(batch.encoded().is_some(), "the bytes stay for forwarders");
        assert_eq!(batch.item_count(), 3);
        assert!(batch.memory_weight() > size, "decoded: weighs its records");
    }

    #[test]
    fn records_mut_drops_the_bytes_and_copies_only_when_shared() {
        let mut batch = encoded(3);
        let kept = batch.clone();
        batch.records_mut().unwrap().split_front(1);
        assert!(!batch.ptr_eq(&kept), "a shared batch is copied on write");
        assert!(
            batch.encoded().is_none(),
            "changed records: the bytes no longer match"
        );
        assert_eq!(batch.item_count(), 2);
        assert_eq!(kept.item_count(), 3, "other holders keep theirs");
        assert!(kept.encoded().is_some());

        let before: *const Records = batch.records().unwrap();
        let after: *const Records = batch.records_mut().unwrap();
        assert_eq!(before, after, "a unique batch changes in place");
    }

    #[test]
    fn set_encoded_replaces_bytes_and_stale_records() {
        let mut batch = encoded(3);
        batch.records().unwrap();
        batch.set_encoded(bytes(1));
        assert!(!batch.is_decoded(), "records of the old bytes are dropped");
        assert_eq!(batch.item_count(), 1);
        assert_eq!(batch.records().unwrap(), &Records::Logs(logs(1)));
    }

    #[test]
    fn a_decoded_batch_has_no_bytes_and_comes_back_out_whole() {
        let batch = Batch::from(Records::Logs(logs(2)));
        assert!(batch.is_decoded() && batch.encoded().is_none());
        let kept = batch.clone();
        assert_eq!(batch.into_records().unwrap(), Records::Logs(logs(2)));
        assert_eq!(
            kept.records().unwrap(),
            &Records::Logs(logs(2)),
            "other holders keep theirs"
        );
    }
}
