//! What travels through a pipeline: a batch either decoded into the OTLP
//! prost types, or still the protobuf bytes the client sent, checked by
//! [`wire::scan`](crate::wire::scan) but not decoded.
//!
//! Decoding is the dominant cost of a pipeline that only moves data, and
//! decoded records take three to four times the memory of their bytes. So a
//! protobuf request stays encoded until a stage needs its structure (a
//! processor, an exporter that formats records), is decoded there once, and
//! stays decoded. Batching encoded requests concatenates them, which protobuf
//! defines as merging their repeated fields.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::limits::{self, LimitError, Limits};
use crate::records::{Records, Signal};
use crate::wire::{self, ScanError, WireError};

/// Validated, still-encoded export requests of one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    signal: Signal,
    /// Each part is one complete export request; together they are one too.
    parts: Vec<Bytes>,
    items: usize,
}

impl Encoded {
    /// Checks `bytes` as an export request of `signal` (as strictly as prost
    /// decoding would) and counts its items.
    pub fn new(signal: Signal, bytes: Bytes) -> Result<Encoded, WireError> {
        let items = wire::scan(signal, &bytes)?;
        Ok(Encoded {
            signal,
            parts: vec![bytes],
            items,
        })
    }

    /// [`Encoded::new`], also refusing attributes over `limits`.
    pub fn within(signal: Signal, bytes: Bytes, limits: &Limits) -> Result<Encoded, ScanError> {
        let items = wire::scan_within(signal, &bytes, limits)?;
        Ok(Encoded {
            signal,
            parts: vec![bytes],
            items,
        })
    }

    /// Bytes that are a valid export request of `signal` holding `items`
    /// items, as the JSON transcode and [`crate::encode`] know of what they
    /// wrote (they count them as [`wire::scan`] would).
    pub(crate) fn counted(signal: Signal, bytes: Bytes, items: usize) -> Encoded {
        debug_assert_eq!(wire::scan(signal, &bytes), Ok(items));
        Encoded {
            signal,
            parts: vec![bytes],
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

    fn append(&mut self, other: Encoded) {
        debug_assert_eq!(self.signal, other.signal);
        self.parts.extend(other.parts);
        self.items += other.items;
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

/// A pipeline's unit of work.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Decoded(Records),
    Encoded(Encoded),
}

/// Bytes that passed [`wire::scan`] but not prost: the two disagree, which
/// the property tests rule out; kept as an error rather than a panic.
#[derive(Debug, thiserror::Error)]
#[error("a validated request failed to decode: {0}")]
pub struct DecodeError(#[from] prost::DecodeError);

impl From<Records> for Payload {
    fn from(b: Records) -> Self {
        Payload::Decoded(b)
    }
}

impl From<Encoded> for Payload {
    fn from(e: Encoded) -> Self {
        Payload::Encoded(e)
    }
}

impl Payload {
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Decoded(b) => b.signal(),
            Payload::Encoded(e) => e.signal,
        }
    }

    /// Items as [`Records::item_count`] counts them (cached when encoded).
    pub fn item_count(&self) -> usize {
        match self {
            Payload::Decoded(b) => b.item_count(),
            Payload::Encoded(e) => e.items,
        }
    }

    /// Checks the payload against `limits`: a decoded batch with
    /// [`limits::check`], encoded requests with the wire walk (exact per
    /// part: parts only concatenate at the top level, where nothing merges).
    pub fn check_limits(&self, limits: &Limits) -> Result<(), LimitError> {
        match self {
            Payload::Decoded(batch) => limits::check(batch, limits),
            Payload::Encoded(encoded) => {
                for part in encoded.parts() {
                    match wire::scan_within(encoded.signal(), part, limits) {
                        Ok(_) => {}
                        Err(ScanError::Limit(e)) => return Err(e),
                        // Checked when the payload was built; not a limit.
                        Err(ScanError::Malformed(_)) => {}
                    }
                }
                Ok(())
            }
        }
    }

    /// The decoded batch, decoding in place the first time.
    pub fn decoded_mut(&mut self) -> Result<&mut Records, DecodeError> {
        if let Payload::Encoded(e) = self {
            *self = Payload::Decoded(e.decode()?);
        }
        match self {
            Payload::Decoded(b) => Ok(b),
            Payload::Encoded(_) => unreachable!("decoded just above"),
        }
    }

    pub fn into_batch(self) -> Result<Records, DecodeError> {
        match self {
            Payload::Decoded(b) => Ok(b),
            Payload::Encoded(e) => Ok(e.decode()?),
        }
    }

    /// Appends `other` after this payload's contents. Two encoded payloads
    /// concatenate without decoding; otherwise both are decoded.
    pub fn append(&mut self, other: Payload) -> Result<(), DecodeError> {
        match (&mut *self, other) {
            (Payload::Encoded(a), Payload::Encoded(b)) => a.append(b),
            (_, other) => {
                let other = other.into_batch()?;
                self.decoded_mut()?.append(other);
            }
        }
        Ok(())
    }

    /// Splits off the first `n` items (see [`Records::split_front`]). Encoded
    /// payloads split between requests when a boundary falls exactly at `n`,
    /// and are decoded otherwise.
    /// For an encoded payload: the items of its leading whole requests that
    /// together stay within `max_bytes` (at least the first request), so a
    /// cut there keeps it encoded. `None` when decoded.
    pub fn leading_items_within(&self, max_bytes: usize) -> Option<usize> {
        let Payload::Encoded(e) = self else {
            return None;
        };
        let (mut bytes, mut items) = (0usize, 0usize);
        for (i, p) in e.parts.iter().enumerate() {
            bytes = bytes.saturating_add(p.len());
            if i > 0 && bytes > max_bytes {
                break;
            }
            items += wire::scan(e.signal, p).unwrap_or(0);
        }
        Some(items)
    }

    pub fn split_front(&mut self, n: usize) -> Result<Payload, DecodeError> {
        if let Payload::Encoded(e) = self {
            let mut items = 0;
            let mut whole = 0;
            let mut part_items = Vec::with_capacity(e.parts.len());
            for p in &e.parts {
                part_items.push(wire::scan(e.signal, p).unwrap_or(0));
            }
            for c in &part_items {
                if items + c > n {
                    break;
                }
                items += c;
                whole += 1;
            }
            if items == n {
                let rest = e.parts.split_off(whole);
                let head = std::mem::replace(&mut e.parts, rest);
                e.items -= items;
                return Ok(Payload::Encoded(Encoded {
                    signal: e.signal,
                    parts: head,
                    items,
                }));
            }
        }
        Ok(Payload::Decoded(self.decoded_mut()?.split_front(n)))
    }
}

/// The form an exporter works with best. Fan-out decodes a batch (once, on
/// the processor thread, off the async I/O threads) before handing it to an
/// exporter that prefers it decoded; one that prefers it encoded gets the
/// request bytes as received whenever the batch still has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Encoded,
    Decoded,
}

/// What an exporter's queue holds and its `export` receives: one payload,
/// shared by every exporter of a pipeline and never copied per exporter.
/// It keeps the request bytes it arrived as (if it arrived encoded) and
/// decodes them at most once, the first time anyone asks for the records.
#[derive(Debug, Clone)]
pub struct Batch(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    signal: Signal,
    items: usize,
    encoded: Option<Encoded>,
    decoded: OnceLock<Result<Records, prost::DecodeError>>,
}

impl From<Payload> for Batch {
    fn from(payload: Payload) -> Self {
        match payload {
            Payload::Decoded(b) => Batch::from(b),
            Payload::Encoded(e) => Batch::from(e),
        }
    }
}

impl From<Records> for Batch {
    fn from(batch: Records) -> Self {
        Batch(Arc::new(Inner {
            signal: batch.signal(),
            items: batch.item_count(),
            encoded: None,
            decoded: OnceLock::from(Ok(batch)),
        }))
    }
}

impl From<Encoded> for Batch {
    fn from(encoded: Encoded) -> Self {
        Batch(Arc::new(Inner {
            signal: encoded.signal,
            items: encoded.items,
            encoded: Some(encoded),
            decoded: OnceLock::new(),
        }))
    }
}

impl Batch {
    pub fn signal(&self) -> Signal {
        self.0.signal
    }

    /// Items as [`Records::item_count`] counts them.
    pub fn item_count(&self) -> usize {
        self.0.items
    }

    /// The request bytes as received, if the batch arrived encoded.
    pub fn encoded(&self) -> Option<&Encoded> {
        self.0.encoded.as_ref()
    }

    /// The decoded records, decoding the first time (for every holder of
    /// this batch) and never again.
    pub fn decoded(&self) -> Result<&Records, DecodeError> {
        let inner = &*self.0;
        let decoded = inner.decoded.get_or_init(|| match &inner.encoded {
            Some(e) => e.decode(),
            None => unreachable!("a batch built without bytes is built decoded"),
        });
        decoded.as_ref().map_err(|e| DecodeError(e.clone()))
    }

    /// The batch as a payload of its own, to cut or merge: its bytes if it
    /// has them, else its records (moved out when no one else holds them).
    pub fn into_payload(self) -> Result<Payload, DecodeError> {
        let inner = Arc::try_unwrap(self.0).unwrap_or_else(|shared| Inner {
            signal: shared.signal,
            items: shared.items,
            encoded: shared.encoded.clone(),
            decoded: match (&shared.encoded, shared.decoded.get()) {
                (None, Some(d)) => OnceLock::from(d.clone()),
                _ => OnceLock::new(),
            },
        });
        match (inner.encoded, inner.decoded.into_inner()) {
            (Some(e), _) => Ok(Payload::Encoded(e)),
            (None, Some(Ok(b))) => Ok(Payload::Decoded(b)),
            (None, Some(Err(e))) => Err(DecodeError(e)),
            (None, None) => unreachable!("a batch built without bytes is built decoded"),
        }
    }

    /// Whether `self` and `other` are the same batch (not copies).
    pub fn ptr_eq(&self, other: &Batch) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Whether the records have been decoded already.
    pub fn is_decoded(&self) -> bool {
        self.0.decoded.get().is_some()
    }
}

/// Decoded records take about this many times their protobuf size in memory
/// (small strings, vectors and enums per attribute).
const DECODED_BYTES_PER_ENCODED_BYTE: usize = 3;

impl Records {
    /// Size of this batch as protobuf.
    pub fn encoded_len(&self) -> usize {
        match self {
            Records::Logs(r) => r.encoded_len(),
            Records::Metrics(r) => r.encoded_len(),
            Records::Traces(r) => r.encoded_len(),
        }
    }
}

impl Payload {
    /// About how much memory this payload holds: its bytes when encoded, an
    /// estimate from its protobuf size when decoded. Queues weigh it by this.
    pub fn memory_weight(&self) -> usize {
        match self {
            Payload::Encoded(e) => e.len(),
            Payload::Decoded(b) => b.encoded_len() * DECODED_BYTES_PER_ENCODED_BYTE,
        }
    }
}

impl Batch {
    /// [`Payload::memory_weight`] of the shared payload: its bytes while only
    /// encoded, the decoded estimate once decoded (the records dominate).
    pub fn memory_weight(&self) -> usize {
        match (self.0.decoded.get(), self.encoded()) {
            (Some(Ok(b)), _) => b.encoded_len() * DECODED_BYTES_PER_ENCODED_BYTE,
            (_, Some(e)) => e.len(),
            (_, None) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

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

    fn encoded(n: usize) -> Payload {
        Payload::Encoded(Encoded::new(Signal::Logs, Bytes::from(logs(n).encode_to_vec())).unwrap())
    }

    #[test]
    fn encoded_payloads_concatenate_without_decoding() {
        let mut p = encoded(2);
        p.append(encoded(3)).unwrap();
        assert!(matches!(p, Payload::Encoded(_)));
        assert_eq!(p.item_count(), 5);
        let mut want = Records::Logs(logs(2));
        want.append(Records::Logs(logs(3)));
        assert_eq!(p.into_batch().unwrap(), want);
    }

    #[test]
    fn mixing_decoded_and_encoded_decodes_once() {
        let mut p = Payload::Decoded(Records::Logs(logs(1)));
        p.append(encoded(2)).unwrap();
        assert!(matches!(p, Payload::Decoded(_)));
        assert_eq!(p.item_count(), 3);
    }

    #[test]
    fn split_on_a_request_boundary_stays_encoded() {
        let mut p = encoded(2);
        p.append(encoded(3)).unwrap();
        let head = p.split_front(2).unwrap();
        assert!(matches!(head, Payload::Encoded(_)) && matches!(p, Payload::Encoded(_)));
        assert_eq!((head.item_count(), p.item_count()), (2, 3));

        let mut q = encoded(4);
        let head = q.split_front(1).unwrap();
        assert_eq!((head.item_count(), q.item_count()), (1, 3));
        assert!(
            matches!(q, Payload::Decoded(_)),
            "a cut inside a request decodes"
        );
    }

    #[test]
    fn malformed_bytes_are_refused_up_front() {
        assert!(Encoded::new(Signal::Logs, Bytes::from_static(&[0x0a, 0x05, 0x01])).is_err());
    }

    #[test]
    fn a_shared_batch_decodes_once_for_all_its_holders() {
        let Payload::Encoded(e) = encoded(3) else {
            unreachable!()
        };
        let bytes = e.len();
        let batch = Batch::from(e);
        let other = batch.clone();
        assert!(batch.ptr_eq(&other));
        assert!(!batch.is_decoded());
        assert_eq!(batch.memory_weight(), bytes, "undecoded: weighs its bytes");

        let first: *const Records = other.decoded().unwrap();
        assert!(batch.is_decoded(), "decoded for every holder");
        let second: *const Records = batch.decoded().unwrap();
        assert_eq!(first, second, "decoded once, not per call");
        assert_eq!(batch.decoded().unwrap(), &Records::Logs(logs(3)));
        assert!(batch.encoded().is_some(), "the bytes stay for forwarders");
        assert_eq!(batch.item_count(), 3);
    }

    #[test]
    fn a_decoded_batch_has_no_bytes_and_comes_back_out_whole() {
        let batch = Batch::from(Records::Logs(logs(2)));
        assert!(batch.is_decoded() && batch.encoded().is_none());
        let kept = batch.clone();
        let Payload::Decoded(b) = batch.into_payload().unwrap() else {
            panic!("decoded expected")
        };
        assert_eq!(b, Records::Logs(logs(2)));
        assert_eq!(kept.decoded().unwrap(), &b, "other holders keep theirs");

        let Payload::Encoded(e) = encoded(2) else {
            unreachable!()
        };
        let batch = Batch::from(e.clone());
        batch.decoded().unwrap();
        assert_eq!(batch.into_payload().unwrap(), Payload::Encoded(e));
    }
}
