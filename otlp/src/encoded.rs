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
            items += wire::scan(self.signal, p).unwrap_or(0);
        }
        items
    }

    /// Splits off the leading requests holding exactly `n` items, if a
    /// request boundary falls there; `None` (and unchanged) otherwise.
    pub(crate) fn split_whole_requests(&mut self, n: usize) -> Option<Encoded> {
        let (mut items, mut whole) = (0, 0);
        for p in &self.parts {
            let c = wire::scan(self.signal, p).unwrap_or(0);
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
        self.items -= items;
        Some(Encoded {
            signal: self.signal,
            parts: head,
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
