//! A schema-aware walk over OTLP protobuf bytes that checks everything prost
//! would check (wire types, lengths, varints, UTF-8 of strings, recursion
//! limit) and counts items, without building anything. Receivers use it to
//! accept a protobuf request and answer 400 for a malformed one without
//! decoding it; the bytes are decoded later only if a stage needs structure.

use crate::batch::Signal;

/// Why bytes are not a valid OTLP export request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(&'static str);

/// prost's default nesting limit; matching it keeps `scan` and decode in agreement.
const RECURSION_LIMIT: u32 = 100;

/// Checks that `bytes` decode as an export request of `signal` and returns
/// its item count as [`crate::Batch::item_count`] would give after decoding.
pub fn scan(signal: Signal, bytes: &[u8]) -> Result<usize, WireError> {
    let top = match signal {
        Signal::Logs => M::LogsRequest,
        Signal::Metrics => M::MetricsRequest,
        Signal::Traces => M::TracesRequest,
    };
    walk(top, bytes, RECURSION_LIMIT)
}

/// The OTLP messages, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    LogsRequest,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    TracesRequest,
    ResourceSpans,
    ScopeSpans,
    Span,
    SpanEvent,
    SpanLink,
    Status,
    MetricsRequest,
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    Gauge,
    Sum,
    Histogram,
    ExpHistogram,
    Summary,
    NumberPoint,
    HistogramPoint,
    ExpHistogramPoint,
    Buckets,
    SummaryPoint,
    Quantile,
    Exemplar,
    Resource,
    Scope,
    EntityRef,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

/// How a known field is encoded.
#[derive(Debug, Clone, Copy)]
enum F {
    Varint,
    Fixed64,
    Fixed32,
    Str,
    Bytes,
    Msg(M),
    /// repeated fixed64/double: packed or one value per occurrence
    RepFixed64,
    /// repeated uint64: packed or one value per occurrence
    RepVarint,
}

/// The fields of each message, as in opentelemetry-proto's generated types.
fn field(m: M, tag: u32) -> Option<F> {
    use F::*;
    Some(match (m, tag) {
        (M::LogsRequest, 1) => Msg(M::ResourceLogs),
        (M::ResourceLogs, 1) => Msg(M::Resource),
        (M::ResourceLogs, 2) => Msg(M::ScopeLogs),
        (M::ResourceLogs, 3) => Str,
        (M::ScopeLogs, 1) => Msg(M::Scope),
        (M::ScopeLogs, 2) => Msg(M::LogRecord),
        (M::ScopeLogs, 3) => Str,
        (M::LogRecord, 1 | 11) => Fixed64,
        (M::LogRecord, 2 | 7) => Varint,
        (M::LogRecord, 3 | 12) => Str,
        (M::LogRecord, 5) => Msg(M::AnyValue),
        (M::LogRecord, 6) => Msg(M::KeyValue),
        (M::LogRecord, 8) => Fixed32,
        (M::LogRecord, 9 | 10) => Bytes,

        (M::TracesRequest, 1) => Msg(M::ResourceSpans),
        (M::ResourceSpans, 1) => Msg(M::Resource),
        (M::ResourceSpans, 2) => Msg(M::ScopeSpans),
        (M::ResourceSpans, 3) => Str,
        (M::ScopeSpans, 1) => Msg(M::Scope),
        (M::ScopeSpans, 2) => Msg(M::Span),
        (M::ScopeSpans, 3) => Str,
        (M::Span, 1 | 2 | 4) => Bytes,
        (M::Span, 3 | 5) => Str,
        (M::Span, 16) => Fixed32,
        (M::Span, 6 | 10 | 12 | 14) => Varint,
        (M::Span, 7 | 8) => Fixed64,
        (M::Span, 9) => Msg(M::KeyValue),
        (M::Span, 11) => Msg(M::SpanEvent),
        (M::Span, 13) => Msg(M::SpanLink),
        (M::Span, 15) => Msg(M::Status),
        (M::SpanEvent, 1) => Fixed64,
        (M::SpanEvent, 2) => Str,
        (M::SpanEvent, 3) => Msg(M::KeyValue),
        (M::SpanEvent, 4) => Varint,
        (M::SpanLink, 1 | 2) => Bytes,
        (M::SpanLink, 3) => Str,
        (M::SpanLink, 4) => Msg(M::KeyValue),
        (M::SpanLink, 5) => Varint,
        (M::SpanLink, 6) => Fixed32,
        (M::Status, 2) => Str,
        (M::Status, 3) => Varint,

        (M::MetricsRequest, 1) => Msg(M::ResourceMetrics),
        (M::ResourceMetrics, 1) => Msg(M::Resource),
        (M::ResourceMetrics, 2) => Msg(M::ScopeMetrics),
        (M::ResourceMetrics, 3) => Str,
        (M::ScopeMetrics, 1) => Msg(M::Scope),
        (M::ScopeMetrics, 2) => Msg(M::Metric),
        (M::ScopeMetrics, 3) => Str,
        (M::Metric, 1..=3) => Str,
        (M::Metric, 5) => Msg(M::Gauge),
        (M::Metric, 7) => Msg(M::Sum),
        (M::Metric, 9) => Msg(M::Histogram),
        (M::Metric, 10) => Msg(M::ExpHistogram),
        (M::Metric, 11) => Msg(M::Summary),
        (M::Metric, 12) => Msg(M::KeyValue),
        (M::Gauge, 1) => Msg(M::NumberPoint),
        (M::Sum, 1) => Msg(M::NumberPoint),
        (M::Sum, 2 | 3) => Varint,
        (M::Histogram, 1) => Msg(M::HistogramPoint),
        (M::Histogram, 2) => Varint,
        (M::ExpHistogram, 1) => Msg(M::ExpHistogramPoint),
        (M::ExpHistogram, 2) => Varint,
        (M::Summary, 1) => Msg(M::SummaryPoint),
        (M::NumberPoint, 7) => Msg(M::KeyValue),
        (M::NumberPoint, 2 | 3 | 4 | 6) => Fixed64,
        (M::NumberPoint, 5) => Msg(M::Exemplar),
        (M::NumberPoint, 8) => Varint,
        (M::HistogramPoint, 9) => Msg(M::KeyValue),
        (M::HistogramPoint, 2..=5 | 11 | 12) => Fixed64,
        (M::HistogramPoint, 6 | 7) => RepFixed64,
        (M::HistogramPoint, 8) => Msg(M::Exemplar),
        (M::HistogramPoint, 10) => Varint,
        (M::ExpHistogramPoint, 1) => Msg(M::KeyValue),
        (M::ExpHistogramPoint, 2..=5 | 7 | 12..=14) => Fixed64,
        (M::ExpHistogramPoint, 6 | 10) => Varint,
        (M::ExpHistogramPoint, 8 | 9) => Msg(M::Buckets),
        (M::ExpHistogramPoint, 11) => Msg(M::Exemplar),
        (M::Buckets, 1) => Varint,
        (M::Buckets, 2) => RepVarint,
        (M::SummaryPoint, 7) => Msg(M::KeyValue),
        (M::SummaryPoint, 2..=5) => Fixed64,
        (M::SummaryPoint, 6) => Msg(M::Quantile),
        (M::SummaryPoint, 8) => Varint,
        (M::Quantile, 1 | 2) => Fixed64,
        (M::Exemplar, 7) => Msg(M::KeyValue),
        (M::Exemplar, 2 | 3 | 6) => Fixed64,
        (M::Exemplar, 4 | 5) => Bytes,

        (M::Resource, 1) => Msg(M::KeyValue),
        (M::Resource, 2) => Varint,
        (M::Resource, 3) => Msg(M::EntityRef),
        (M::Scope, 1 | 2) => Str,
        (M::Scope, 3) => Msg(M::KeyValue),
        (M::Scope, 4) => Varint,
        (M::EntityRef, 1..=4) => Str,
        (M::KeyValue, 1) => Str,
        (M::KeyValue, 2) => Msg(M::AnyValue),
        (M::KeyValue, 3) => Varint,
        (M::AnyValue, 1) => Str,
        (M::AnyValue, 2 | 3 | 8) => Varint,
        (M::AnyValue, 4) => Fixed64,
        (M::AnyValue, 5) => Msg(M::ArrayValue),
        (M::AnyValue, 6) => Msg(M::KeyValueList),
        (M::AnyValue, 7) => Bytes,
        (M::ArrayValue, 1) => Msg(M::AnyValue),
        (M::KeyValueList, 1) => Msg(M::KeyValue),
        _ => return None,
    })
}

/// Messages that are one item each.
fn is_item(m: M) -> bool {
    matches!(
        m,
        M::LogRecord
            | M::Span
            | M::NumberPoint
            | M::HistogramPoint
            | M::ExpHistogramPoint
            | M::SummaryPoint
    )
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// Walks one message body; returns the items below (and including) it.
fn walk(m: M, mut b: &[u8], depth: u32) -> Result<usize, WireError> {
    let mut items = usize::from(is_item(m));
    // A metric's data is a oneof: prost merges a repeated variant and
    // replaces a different one, so only the last variant's points count.
    let mut metric_data: (u32, usize) = (0, 0);
    while !b.is_empty() {
        let (tag, wt) = key(&mut b)?;
        let Some(f) = field(m, tag) else {
            skip(wt, tag, &mut b, depth)?;
            continue;
        };
        match f {
            F::Varint => {
                expect(wt, VARINT)?;
                varint(&mut b)?;
            }
            F::Fixed64 => {
                expect(wt, FIXED64)?;
                take(&mut b, 8)?;
            }
            F::Fixed32 => {
                expect(wt, FIXED32)?;
                take(&mut b, 4)?;
            }
            F::Str => {
                expect(wt, LEN)?;
                let s = delimited(&mut b)?;
                std::str::from_utf8(s)
                    .map_err(|_| WireError("a string field is not valid UTF-8"))?;
            }
            F::Bytes => {
                expect(wt, LEN)?;
                delimited(&mut b)?;
            }
            F::RepFixed64 => {
                if wt == LEN {
                    if delimited(&mut b)?.len() % 8 != 0 {
                        return Err(WireError(
                            "a packed fixed64 field has a length that is not a multiple of 8",
                        ));
                    }
                } else {
                    expect(wt, FIXED64)?;
                    take(&mut b, 8)?;
                }
            }
            F::RepVarint => {
                if wt == LEN {
                    let mut packed = delimited(&mut b)?;
                    while !packed.is_empty() {
                        varint(&mut packed)?;
                    }
                } else {
                    expect(wt, VARINT)?;
                    varint(&mut b)?;
                }
            }
            F::Msg(sub) => {
                expect(wt, LEN)?;
                if depth == 0 {
                    return Err(WireError("nesting is deeper than the recursion limit"));
                }
                let n = walk(sub, delimited(&mut b)?, depth - 1)?;
                if m == M::Metric && matches!(tag, 5 | 7 | 9 | 10 | 11) {
                    metric_data = if metric_data.0 == tag {
                        (tag, metric_data.1 + n)
                    } else {
                        (tag, n)
                    };
                } else {
                    items += n;
                }
            }
        }
    }
    Ok(items + metric_data.1)
}

fn key(b: &mut &[u8]) -> Result<(u32, u8), WireError> {
    let k = varint(b)?;
    if k > u64::from(u32::MAX) {
        return Err(WireError("invalid field key"));
    }
    let wt = (k & 7) as u8;
    if wt > FIXED32 {
        return Err(WireError("invalid wire type"));
    }
    let tag = (k as u32) >> 3;
    if tag == 0 {
        return Err(WireError("invalid field number 0"));
    }
    Ok((tag, wt))
}

fn expect(actual: u8, wanted: u8) -> Result<(), WireError> {
    if actual == wanted {
        Ok(())
    } else {
        Err(WireError("a field has the wrong wire type"))
    }
}

fn varint(b: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some((&byte, rest)) = b.split_first() else {
            return Err(WireError("truncated varint"));
        };
        *b = rest;
        if i == 9 && byte > 1 {
            return Err(WireError("varint overflows 64 bits"));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError("varint overflows 64 bits"))
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if b.len() < n {
        return Err(WireError("truncated field"));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn delimited<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    let len = varint(b)?;
    if len > b.len() as u64 {
        return Err(WireError("a length runs past the end of the message"));
    }
    take(b, len as usize)
}

/// Skips an unknown field, as prost does (including groups).
fn skip(wt: u8, tag: u32, b: &mut &[u8], depth: u32) -> Result<(), WireError> {
    if depth == 0 {
        return Err(WireError("nesting is deeper than the recursion limit"));
    }
    match wt {
        VARINT => {
            varint(b)?;
        }
        FIXED64 => {
            take(b, 8)?;
        }
        FIXED32 => {
            take(b, 4)?;
        }
        LEN => {
            delimited(b)?;
        }
        START_GROUP => loop {
            let (inner_tag, inner_wt) = key(b)?;
            if inner_wt == END_GROUP {
                if inner_tag != tag {
                    return Err(WireError("unexpected end-group tag"));
                }
                break;
            }
            skip(inner_wt, inner_tag, b, depth - 1)?;
        },
        _ => return Err(WireError("unexpected end-group tag")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    fn prost_items(signal: Signal, bytes: &[u8]) -> Result<usize, prost::DecodeError> {
        Ok(match signal {
            Signal::Logs => Batch::Logs(ExportLogsServiceRequest::decode(bytes)?),
            Signal::Metrics => Batch::Metrics(ExportMetricsServiceRequest::decode(bytes)?),
            Signal::Traces => Batch::Traces(ExportTraceServiceRequest::decode(bytes)?),
        }
        .item_count())
    }

    fn captures() -> Vec<(Signal, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/claude-code/captures");
        let mut out = Vec::new();
        for variant in std::fs::read_dir(&root).expect("captures beside the project") {
            let dir = variant.unwrap().path().join("otlp");
            for f in std::fs::read_dir(dir).unwrap() {
                let p = f.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if !name.ends_with(".bin") {
                    continue;
                }
                let signal = ["logs", "metrics", "traces"]
                    .iter()
                    .find(|s| name.contains(&format!("-{s}.")))
                    .and_then(|s| Signal::from_type(s))
                    .unwrap();
                out.push((signal, std::fs::read(&p).unwrap()));
            }
        }
        out
    }

    #[test]
    fn agrees_with_prost_on_every_capture() {
        let caps = captures();
        assert!(caps.len() > 30);
        for (signal, bytes) in &caps {
            assert_eq!(
                scan(*signal, bytes),
                Ok(prost_items(*signal, bytes).unwrap())
            );
            // Concatenated requests are one request with both contents.
            let mut twice = bytes.clone();
            twice.extend_from_slice(bytes);
            assert_eq!(
                scan(*signal, &twice),
                Ok(2 * prost_items(*signal, bytes).unwrap())
            );
        }
    }

    /// Deterministic xorshift, so a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn agrees_with_prost_on_mutated_captures() {
        let caps = captures();
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let (mut accepted, mut rejected) = (0, 0);
        for round in 0..6000 {
            let (signal, original) = &caps[round % caps.len()];
            let mut b = original.clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(5) {
                    0 => {
                        let i = rng.below(b.len());
                        b[i] = rng.next() as u8;
                    }
                    1 => {
                        let i = rng.below(b.len());
                        b[i] ^= 1 << rng.below(8);
                    }
                    2 => b.truncate(rng.below(b.len() + 1)),
                    3 => {
                        let i = rng.below(b.len());
                        b.insert(i, rng.next() as u8);
                    }
                    _ => {
                        let i = rng.below(b.len());
                        if i < b.len() {
                            b.remove(i);
                        }
                    }
                }
            }
            let ours = scan(*signal, &b);
            let theirs = prost_items(*signal, &b);
            match (&ours, &theirs) {
                (Ok(a), Ok(p)) => {
                    assert_eq!(a, p, "round {round}: item counts differ");
                    accepted += 1;
                }
                (Err(_), Err(_)) => rejected += 1,
                _ => panic!("round {round}: scan {ours:?} but prost {theirs:?} on {b:?}"),
            }
        }
        assert!(
            accepted > 300 && rejected > 300,
            "both outcomes exercised: {accepted} / {rejected}"
        );
    }

    #[test]
    fn rejects_what_prost_rejects_by_construction() {
        let cases: &[(&[u8], &str)] = &[
            (
                &[0x0a, 0x05, 0x01],
                "a length runs past the end of the message",
            ),
            (&[0x10], "truncated varint"),
            (&[0x0f], "invalid wire type"),
            (&[0x00, 0x00], "invalid field number 0"),
            (&[0x14], "unexpected end-group tag"),
            (
                &[0x09, 1, 2, 3, 4, 5, 6, 7, 8],
                "a field has the wrong wire type",
            ),
            (
                &[0x0a, 0x04, 0x1a, 0x02, 0xff, 0xfe],
                "a string field is not valid UTF-8",
            ),
            (
                &[
                    0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ],
                "varint overflows 64 bits",
            ),
            (&[0x08, 0x01], "a field has the wrong wire type"),
        ];
        for (bytes, want) in cases {
            assert_eq!(scan(Signal::Logs, bytes), Err(WireError(want)), "{bytes:?}");
            assert!(
                prost_items(Signal::Logs, bytes).is_err(),
                "prost accepts {bytes:?}"
            );
        }
        // Unknown fields are skipped, as prost does.
        assert_eq!(scan(Signal::Logs, &[0x10, 0x05, 0x1d, 1, 2, 3, 4]), Ok(0));
    }

    #[test]
    fn deep_nesting_stops_at_the_recursion_limit_like_prost() {
        // AnyValue { array_value { values: [AnyValue { array_value ... }] } } in a log body.
        fn nested(depth: usize) -> Vec<u8> {
            let mut inner: Vec<u8> = vec![0x0a, 0x01, b'x']; // AnyValue{string_value:"x"}
            for _ in 0..depth {
                let mut arr = vec![0x0a];
                prost::encoding::encode_varint(inner.len() as u64, &mut arr);
                arr.extend_from_slice(&inner);
                let mut any = vec![0x2a];
                prost::encoding::encode_varint(arr.len() as u64, &mut any);
                any.extend_from_slice(&arr);
                inner = any;
            }
            // LogRecord{body} in ScopeLogs in ResourceLogs in the request
            let wrap = |tag: u8, body: &[u8]| {
                let mut v = vec![tag];
                prost::encoding::encode_varint(body.len() as u64, &mut v);
                v.extend_from_slice(body);
                v
            };
            wrap(0x0a, &wrap(0x12, &wrap(0x12, &wrap(0x2a, &inner))))
        }
        for depth in [10, 45, 46, 47, 48, 60] {
            let b = nested(depth);
            assert_eq!(
                scan(Signal::Logs, &b).is_ok(),
                prost_items(Signal::Logs, &b).is_ok(),
                "depth {depth}"
            );
        }
        assert!(scan(Signal::Logs, &nested(10)).is_ok());
        assert!(scan(Signal::Logs, &nested(60)).is_err());
    }
}
