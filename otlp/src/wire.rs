//! A schema-aware walk over OTLP protobuf bytes that checks everything prost
//! would check (wire types, lengths, varints, UTF-8 of strings, recursion
//! limit) and counts items, without building anything. Receivers use it to
//! accept a protobuf request and answer 400 for a malformed one without
//! decoding it; the bytes are decoded later only if a stage needs structure.
//! The same walk enforces the attribute [`Limits`], as prost's decode
//! followed by [`limits::check`](crate::limits::check) would.

use crate::limits::{at, LimitError, Limits};
use crate::records::Signal;

pub(crate) mod plain;

/// Why bytes are not a valid OTLP export request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(&'static str);

/// Why [`scan_within`] refused bytes: malformed, or over a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Malformed(#[from] WireError),
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// prost's default nesting limit; matching it keeps `scan` and decode in agreement.
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// Checks that `bytes` decode as an export request of `signal` and returns
/// its item count as [`crate::Records::item_count`] would give after decoding.
pub fn scan(signal: Signal, bytes: &[u8]) -> Result<usize, WireError> {
    match scan_within(signal, bytes, &Limits::NONE) {
        Ok(items) => Ok(items),
        Err(ScanError::Malformed(e)) => Err(e),
        // No count or depth reaches usize::MAX.
        Err(ScanError::Limit(_)) => Err(WireError("over a limit")),
    }
}

/// [`scan`], also refusing a request whose attributes exceed `limits`.
pub fn scan_within(signal: Signal, bytes: &[u8], limits: &Limits) -> Result<usize, ScanError> {
    let cx = Cx {
        limits,
        level: 0,
        at: "",
    };
    walk(M::request(signal), bytes, RECURSION_LIMIT, cx, NO_SET).map(|(items, _)| items)
}

/// The OTLP messages, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum M {
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

impl M {
    pub(crate) fn request(signal: Signal) -> M {
        match signal {
            Signal::Logs => M::LogsRequest,
            Signal::Metrics => M::MetricsRequest,
            Signal::Traces => M::TracesRequest,
        }
    }
}

/// The protobuf type of a known field, as precisely as JSON needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// fixed64: timestamps and counts
    U64,
    /// sfixed64: `asInt`
    I64,
    /// double
    F64,
    /// fixed32: flags
    Fixed32,
    /// uint32 varint
    U32,
    /// int32 varint: enums and string-table indexes
    I32,
    /// int64 varint: `intValue`
    Int64,
    /// sint32 varint (zigzag): exponential histogram scale and offset
    Sint32,
    Bool,
    Str,
    /// bytes written as hex in JSON: trace and span ids
    Id,
    /// bytes written as base64 in JSON
    Bytes,
    Msg(M),
    /// repeated fixed64 / double / uint64 that may come packed
    PackedFixed64,
    PackedF64,
    PackedVarintU64,
}

/// One known field: its JSON name, its type, and whether it repeats.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub repeated: bool,
    /// Fields sharing a oneof carry the same non-zero group.
    pub oneof: u8,
}

const fn one(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        repeated: false,
        oneof: 0,
    }
}
const fn many(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        repeated: true,
        oneof: 0,
    }
}
const fn either(name: &'static str, ty: Ty, group: u8) -> Field {
    Field {
        name,
        ty,
        repeated: false,
        oneof: group,
    }
}

/// Number of messages in [`M`] (the last variant's index + 1).
const MESSAGES: usize = M::KeyValueList as usize + 1;

/// Every OTLP field number is below this.
const TAGS: usize = 32;

/// Fills `FIELDS` from [`crate::schema`]: one entry per field (a oneof's
/// members share group 1; a message has at most one oneof).
macro_rules! wire_table {
    ($( $m:ident = $prost:ident { $( $line:tt )* } )*) => {
        /// The known fields of every message by tag, built at compile time:
        /// the walk looks a field up for every key it reads, so this is an
        /// index, not a match.
        static FIELDS: [[Option<Field>; TAGS]; MESSAGES] = {
            let mut table = [[None; TAGS]; MESSAGES];
            $( $( wire_entry!(table[M::$m as usize], $line); )* )*
            table
        };

        /// Where OTLP/JSON writes each field among its message's others:
        /// the index of its line in the schema (a oneof's members share one).
        static JSON_RANKS: [[u8; TAGS]; MESSAGES] = {
            let mut ranks = [[u8::MAX; TAGS]; MESSAGES];
            $(
                let mut rank = 0;
                $(
                    json_rank!(ranks[M::$m as usize], rank, $line);
                    rank += 1;
                )*
                let _ = rank;
            )*
            ranks
        };

        /// The proto3 `optional` fields (JSON codec `opt_double`): written
        /// whenever present, even when zero.
        static PRESENCE: [[bool; TAGS]; MESSAGES] = {
            let mut presence = [[false; TAGS]; MESSAGES];
            $( $( json_presence!(presence[M::$m as usize], $line); )* )*
            presence
        };
    };
}

macro_rules! json_presence {
    ($row:expr, ($tag:literal $field:ident : $json:literal $(| $alias:literal)?,
        $card:ident $ty:ident $(($sub:ident))?, opt_double)) => {
        $row[$tag] = true;
    };
    ($row:expr, $line:tt) => {};
}

macro_rules! json_rank {
    ($row:expr, $rank:ident, ($tag:literal $($rest:tt)*)) => {
        $row[$tag] = $rank;
    };
    ($row:expr, $rank:ident, (oneof $slot:ident : $($enum:ident)::+ { $(
        $tag:literal $variant:ident : $json:literal $(| $alias:literal)?,
        $ty:ident $(($sub:ident))?, $codec:ident;
    )* })) => {
        $( $row[$tag] = $rank; )*
    };
}

macro_rules! wire_entry {
    ($row:expr, ($tag:literal $field:ident : $json:literal $(| $alias:literal)?,
        $card:ident $ty:ident $(($sub:ident))?, $codec:ident $(($arg:ty))?)) => {
        assert!($row[$tag].is_none(), "a tag listed twice in the schema");
        $row[$tag] = Some($card($json, Ty::$ty $((M::$sub))?));
    };
    ($row:expr, (oneof $slot:ident : $($enum:ident)::+ { $(
        $tag:literal $variant:ident : $json:literal $(| $alias:literal)?,
        $ty:ident $(($sub:ident))?, $codec:ident;
    )* })) => {
        $(
            assert!($row[$tag].is_none(), "a tag listed twice in the schema");
            $row[$tag] = Some(either($json, Ty::$ty $((M::$sub))?, 1));
        )*
    };
}

crate::schema::with_schema!(wire_table);

/// The messages in declaration order (index = `M as usize`).
#[cfg(test)]
const MESSAGE_LIST: [M; MESSAGES] = [
    M::LogsRequest,
    M::ResourceLogs,
    M::ScopeLogs,
    M::LogRecord,
    M::TracesRequest,
    M::ResourceSpans,
    M::ScopeSpans,
    M::Span,
    M::SpanEvent,
    M::SpanLink,
    M::Status,
    M::MetricsRequest,
    M::ResourceMetrics,
    M::ScopeMetrics,
    M::Metric,
    M::Gauge,
    M::Sum,
    M::Histogram,
    M::ExpHistogram,
    M::Summary,
    M::NumberPoint,
    M::HistogramPoint,
    M::ExpHistogramPoint,
    M::Buckets,
    M::SummaryPoint,
    M::Quantile,
    M::Exemplar,
    M::Resource,
    M::Scope,
    M::EntityRef,
    M::KeyValue,
    M::AnyValue,
    M::ArrayValue,
    M::KeyValueList,
];

/// Where OTLP/JSON writes field `tag` of `m` among the others (lower
/// first); unknown fields sort last.
pub(crate) fn json_rank(m: M, tag: u32) -> u32 {
    JSON_RANKS[m as usize]
        .get(tag as usize)
        .map_or(u32::from(u8::MAX), |&r| u32::from(r))
}

/// Whether field `tag` of `m` is a proto3 `optional` one, whose presence
/// JSON keeps even for a zero value.
pub(crate) fn has_presence(m: M, tag: u32) -> bool {
    PRESENCE[m as usize]
        .get(tag as usize)
        .copied()
        .unwrap_or(false)
}

/// A known field of `m`, if `tag` is one.
#[inline]
pub(crate) fn field(m: M, tag: u32) -> Option<Field> {
    FIELDS[m as usize].get(tag as usize).copied().flatten()
}

#[cfg(test)]
#[test]
fn the_message_list_is_in_declaration_order() {
    for (i, m) in MESSAGE_LIST.iter().enumerate() {
        assert_eq!(*m as usize, i, "{m:?}");
    }
}

#[cfg(test)]
#[test]
fn at_most_one_singular_field_of_a_message_merges_key_values() {
    // `walk` keeps one `merged` count per message.
    for m in MESSAGE_LIST {
        let singular = (0..TAGS as u32)
            .filter_map(|tag| field(m, tag))
            .filter(|f| !f.repeated && f.oneof == 0)
            .filter(|f| matches!(f.ty, Ty::Msg(sub) if merges(sub)))
            .count();
        assert!(singular <= 1, "{m:?}");
    }
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

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const START_GROUP: u8 = 3;
pub(crate) const END_GROUP: u8 = 4;
pub(crate) const FIXED32: u8 = 5;

/// Where the walk is, for the limits: the AnyValue level (0 outside any
/// value) and the attribute set the current key-values belong to.
#[derive(Clone, Copy)]
struct Cx<'l> {
    limits: &'l Limits,
    level: usize,
    at: &'static str,
}

impl Cx<'_> {
    /// The context inside field `sub` of `m`; entering a value checks its depth.
    #[inline]
    fn enter(self, m: M, sub: M) -> Result<Self, LimitError> {
        let mut inner = self;
        match sub {
            M::AnyValue => {
                if m == M::LogRecord {
                    inner.at = at::LOG_BODY;
                }
                inner.level = self.limits.enter_value(self.level, inner.at)?;
            }
            M::KeyValue => inner.at = set_name(m).unwrap_or(self.at),
            _ => {}
        }
        Ok(inner)
    }
}

/// The attribute set a message's own key-values form.
fn set_name(m: M) -> Option<&'static str> {
    Some(match m {
        M::Resource => at::RESOURCE,
        M::Scope => at::SCOPE,
        M::LogRecord => at::LOG_RECORD,
        M::Span => at::SPAN,
        M::SpanEvent => at::SPAN_EVENT,
        M::SpanLink => at::SPAN_LINK,
        M::Metric => at::METRIC,
        M::NumberPoint | M::HistogramPoint | M::ExpHistogramPoint | M::SummaryPoint => {
            at::DATA_POINT
        }
        M::Exemplar => at::EXEMPLAR,
        _ => return None,
    })
}

/// The key-values of a message that protobuf merges when it occurs more than
/// once (a resource, a scope, a value): `(oneof tag, count)`. For an
/// AnyValue the count is its kvlist's, and only while the kvlist is the
/// oneof member last set.
type Set = (u32, usize);
const NO_SET: Set = (0, 0);

/// Messages whose key-values merge across occurrences; the parent checks them.
fn merges(m: M) -> bool {
    matches!(m, M::Resource | M::Scope | M::AnyValue | M::KeyValueList)
}

/// Walks one message body; returns the items below (and including) it and,
/// for a message that [`merges`], its key-values counted on from `carry`.
fn walk(m: M, mut b: &[u8], depth: u32, cx: Cx, carry: Set) -> Result<(usize, Set), ScanError> {
    let mut items = usize::from(is_item(m));
    // A metric's data is a oneof: prost merges a repeated variant and
    // replaces a different one, so only the last variant's points count.
    let mut metric_data: (u32, usize) = (0, 0);
    // This message's own key-values.
    let mut own = 0usize;
    // The oneof member last set, and its key-values (AnyValue).
    let mut oneof: Set = if m == M::AnyValue { carry } else { NO_SET };
    // The one singular field whose key-values merge (resource, scope, value,
    // body), and the name of its set.
    let mut merged: Set = NO_SET;
    let mut merged_at: (&'static str, bool) = ("", false);
    while !b.is_empty() {
        let (tag, wt) = key(&mut b)?;
        let Some(f) = field(m, tag) else {
            skip(wt, tag, &mut b, depth)?;
            continue;
        };
        if f.oneof != 0 && oneof.0 != tag {
            oneof = (tag, 0);
        }
        match f.ty {
            Ty::U32 | Ty::I32 | Ty::Int64 | Ty::Sint32 | Ty::Bool => {
                expect(wt, VARINT)?;
                varint(&mut b)?;
            }
            Ty::U64 | Ty::I64 | Ty::F64 => {
                expect(wt, FIXED64)?;
                take(&mut b, 8)?;
            }
            Ty::Fixed32 => {
                expect(wt, FIXED32)?;
                take(&mut b, 4)?;
            }
            Ty::Str => {
                expect(wt, LEN)?;
                if !plain::utf8(delimited(&mut b)?) {
                    return Err(WireError("a string field is not valid UTF-8").into());
                }
            }
            Ty::Id => {
                expect(wt, LEN)?;
                // prost takes any length; the Collector (and our JSON, which
                // writes ids as hex) takes only empty or full-length ids.
                let id = delimited(&mut b)?;
                let (want, why) = match f.name {
                    "traceId" => (16, "a trace id is neither empty nor 16 bytes"),
                    _ => (8, "a span id is neither empty nor 8 bytes"),
                };
                if !id.is_empty() && id.len() != want {
                    return Err(WireError(why).into());
                }
            }
            Ty::Bytes => {
                expect(wt, LEN)?;
                delimited(&mut b)?;
            }
            Ty::PackedFixed64 | Ty::PackedF64 => {
                if wt == LEN {
                    if delimited(&mut b)?.len() % 8 != 0 {
                        return Err(WireError(
                            "a packed fixed64 field has a length that is not a multiple of 8",
                        )
                        .into());
                    }
                } else {
                    expect(wt, FIXED64)?;
                    take(&mut b, 8)?;
                }
            }
            Ty::PackedVarintU64 => {
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
            Ty::Msg(sub) => {
                expect(wt, LEN)?;
                if depth == 0 {
                    return Err(WireError("nesting is deeper than the recursion limit").into());
                }
                let inner = cx.enter(m, sub)?;
                let body = delimited(&mut b)?;
                // An attribute of a key and a scalar: one more key-value, no
                // items, no recursion. Its value is entered two levels down,
                // so the fast path needs room for both.
                if sub == M::KeyValue
                    && depth >= 2
                    && inner.level < cx.limits.max_attribute_depth
                    && plain::key_value(body)
                {
                    own += 1;
                    continue;
                }
                let (n, set) = if !merges(sub) {
                    walk(sub, body, depth - 1, inner, NO_SET)?
                } else if f.repeated {
                    // An array element: its kvlist is complete.
                    let (n, set) = walk(sub, body, depth - 1, inner, NO_SET)?;
                    cx.limits.kvlist(set.1, inner.at)?;
                    (n, NO_SET)
                } else if f.oneof != 0 {
                    let (n, set) = walk(sub, body, depth - 1, inner, oneof)?;
                    oneof.1 = set.1;
                    (n, NO_SET)
                } else {
                    let (n, set) = walk(sub, body, depth - 1, inner, merged)?;
                    merged = set;
                    merged_at = match sub {
                        M::Resource => (at::RESOURCE, false),
                        M::Scope => (at::SCOPE, false),
                        _ => (inner.at, true),
                    };
                    (n, NO_SET)
                };
                debug_assert_eq!(set, NO_SET);
                own += usize::from(sub == M::KeyValue);
                if m == M::Metric && f.oneof != 0 {
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
    let items = items + metric_data.1;
    match m {
        M::Resource | M::Scope | M::KeyValueList => Ok((items, (0, carry.1 + own))),
        M::AnyValue => Ok((items, oneof)),
        _ => {
            if own > cx.limits.max_attributes {
                cx.limits.set(own, set_name(m).unwrap_or(cx.at))?;
            }
            if merged.1 > cx.limits.max_attributes {
                let (name, kvlist) = merged_at;
                match kvlist {
                    true => cx.limits.kvlist(merged.1, name)?,
                    false => cx.limits.set(merged.1, name)?,
                }
            }
            Ok((items, NO_SET))
        }
    }
}

#[inline]
pub(crate) fn key(b: &mut &[u8]) -> Result<(u32, u8), WireError> {
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

#[inline]
pub(crate) fn varint(b: &mut &[u8]) -> Result<u64, WireError> {
    // Keys, lengths under 128 and small numbers: one byte, read inline.
    if let Some((&byte, rest)) = b.split_first() {
        if byte < 0x80 {
            *b = rest;
            return Ok(u64::from(byte));
        }
    }
    varint_long(b)
}

#[inline(never)]
fn varint_long(b: &mut &[u8]) -> Result<u64, WireError> {
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

pub(crate) fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if b.len() < n {
        return Err(WireError("truncated field"));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

pub(crate) fn delimited<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    let len = varint(b)?;
    if len > b.len() as u64 {
        return Err(WireError("a length runs past the end of the message"));
    }
    take(b, len as usize)
}

/// Skips an unknown field, as prost does (including groups).
pub(crate) fn skip(wt: u8, tag: u32, b: &mut &[u8], depth: u32) -> Result<(), WireError> {
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
    use crate::records::Records;
    use crate::testing::{capture_bins, Xorshift};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    /// prost's decode plus the id rule the scan adds (trace ids empty or 16
    /// bytes, span ids empty or 8).
    fn prost_items(signal: Signal, bytes: &[u8]) -> Result<usize, String> {
        let batch = match signal {
            Signal::Logs => ExportLogsServiceRequest::decode(bytes).map(Records::Logs),
            Signal::Metrics => ExportMetricsServiceRequest::decode(bytes).map(Records::Metrics),
            Signal::Traces => ExportTraceServiceRequest::decode(bytes).map(Records::Traces),
        }
        .map_err(|e| e.to_string())?;
        if !ids_have_valid_lengths(&batch) {
            return Err("an id of the wrong length".into());
        }
        Ok(batch.item_count())
    }

    fn ids_have_valid_lengths(batch: &Records) -> bool {
        let ok = |trace: &[u8], span: &[u8]| {
            matches!(trace.len(), 0 | 16) && matches!(span.len(), 0 | 8)
        };
        match batch {
            Records::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|sl| &sl.log_records)
                .all(|l| ok(&l.trace_id, &l.span_id)),
            Records::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .all(|sp| {
                    ok(&sp.trace_id, &sp.span_id)
                        && ok(&[], &sp.parent_span_id)
                        && sp.links.iter().all(|l| ok(&l.trace_id, &l.span_id))
                }),
            Records::Metrics(r) => {
                use opentelemetry_proto::tonic::metrics::v1::metric::Data;
                let exemplars = |m: &opentelemetry_proto::tonic::metrics::v1::Metric| {
                    let all: Vec<_> = match &m.data {
                        Some(Data::Gauge(g)) => {
                            g.data_points.iter().flat_map(|p| &p.exemplars).collect()
                        }
                        Some(Data::Sum(g)) => {
                            g.data_points.iter().flat_map(|p| &p.exemplars).collect()
                        }
                        Some(Data::Histogram(g)) => {
                            g.data_points.iter().flat_map(|p| &p.exemplars).collect()
                        }
                        Some(Data::ExponentialHistogram(g)) => {
                            g.data_points.iter().flat_map(|p| &p.exemplars).collect()
                        }
                        _ => Vec::new(),
                    };
                    all.iter().all(|e| ok(&e.trace_id, &e.span_id))
                };
                r.resource_metrics
                    .iter()
                    .flat_map(|rm| &rm.scope_metrics)
                    .flat_map(|sm| &sm.metrics)
                    .all(exemplars)
            }
        }
    }

    /// prost's decode (with the id rule) followed by the decoded check of the limits.
    fn prost_checked(signal: Signal, bytes: &[u8], limits: &Limits) -> Result<usize, String> {
        prost_items(signal, bytes)?;
        let batch = match signal {
            Signal::Logs => ExportLogsServiceRequest::decode(bytes).map(Records::Logs),
            Signal::Metrics => ExportMetricsServiceRequest::decode(bytes).map(Records::Metrics),
            Signal::Traces => ExportTraceServiceRequest::decode(bytes).map(Records::Traces),
        }
        .map_err(|e| e.to_string())?;
        crate::limits::check(&batch, limits).map_err(|e| e.to_string())?;
        Ok(batch.item_count())
    }

    #[test]
    fn ids_must_be_empty_or_full_length() {
        // traces { resource_spans { scope_spans { spans { trace_id: 11 bytes } } } }
        let short_trace: &[u8] = &[
            0x0a, 0x11, 0x12, 0x0f, 0x12, 0x0d, 0x0a, 0x0b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
        ];
        assert!(
            ExportTraceServiceRequest::decode(short_trace).is_ok(),
            "prost takes it"
        );
        assert_eq!(
            scan(Signal::Traces, short_trace),
            Err(WireError("a trace id is neither empty nor 16 bytes"))
        );
        let span = |trace: &[u8], span: &[u8]| {
            let mut sp = vec![0x0a, trace.len() as u8];
            sp.extend_from_slice(trace);
            sp.extend_from_slice(&[0x12, span.len() as u8]);
            sp.extend_from_slice(span);
            let mut ss = vec![0x12, sp.len() as u8];
            ss.extend(sp);
            let mut rs = vec![0x12, ss.len() as u8];
            rs.extend(ss);
            let mut req = vec![0x0a, rs.len() as u8];
            req.extend(rs);
            scan(Signal::Traces, &req)
        };
        assert_eq!(span(&[7; 16], &[7; 8]), Ok(1));
        assert_eq!(span(&[], &[]), Ok(1));
        assert_eq!(
            span(&[7; 16], &[7; 9]),
            Err(WireError("a span id is neither empty nor 8 bytes"))
        );
        assert!(span(&[7; 17], &[7; 8]).is_err());
    }

    #[test]
    fn limits_agree_with_prost_and_check_on_every_capture() {
        let tight = [(16, 256), (1, 1), (1, 8), (2, 12), (3, 20), (1, 1000)];
        let (mut ok, mut refused) = (0, 0);
        for (signal, bytes) in &capture_bins() {
            assert_eq!(
                scan_within(*signal, bytes, &Limits::NONE),
                Ok(prost_items(*signal, bytes).unwrap())
            );
            for (max_attribute_depth, max_attributes) in tight {
                let limits = Limits {
                    max_attribute_depth,
                    max_attributes,
                };
                let ours = scan_within(*signal, bytes, &limits).map_err(|e| e.to_string());
                let theirs = prost_checked(*signal, bytes, &limits);
                assert_eq!(ours, theirs, "{limits:?}");
                if max_attribute_depth == 16 {
                    assert!(
                        ours.is_ok(),
                        "the default limits refuse a capture: {ours:?}"
                    );
                }
                match ours {
                    Ok(_) => ok += 1,
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(ok > 30 && refused > 30, "{ok} / {refused}");
    }

    #[test]
    fn agrees_with_prost_on_every_capture() {
        let caps = capture_bins();
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

    #[test]
    fn agrees_with_prost_on_mutated_captures() {
        let caps = capture_bins();
        let mut rng = Xorshift(0x5eed_1234_abcd_0001);
        let (mut accepted, mut rejected) = (0, 0);
        for round in 0..6000 {
            let (signal, original) = &caps[round % caps.len()];
            let mut b = original.clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(5) {
                    0 => {
                        let i = rng.below(b.len());
                        b[i] = rng.next_u64() as u8;
                    }
                    1 => {
                        let i = rng.below(b.len());
                        b[i] ^= 1 << rng.below(8);
                    }
                    2 => b.truncate(rng.below(b.len() + 1)),
                    3 => {
                        let i = rng.below(b.len());
                        b.insert(i, rng.next_u64() as u8);
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
            let limits = Limits {
                max_attribute_depth: 1 + rng.below(3),
                max_attributes: 1 + rng.below(30),
            };
            assert_eq!(
                scan_within(*signal, &b, &limits).is_ok(),
                prost_checked(*signal, &b, &limits).is_ok(),
                "round {round}: the limits disagree with prost + limits::check on {b:?}"
            );
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

    /// The plain key-value fast path (`plain::key_value`) against prost on
    /// attributes of every shape near it: each scalar, long lengths, invalid
    /// UTF-8, overlong varints, fields missing, repeated, out of order or
    /// extra, all cut short and bit-flipped; with and without tight limits.
    #[test]
    fn plain_attributes_agree_with_prost() {
        fn field(key: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![key];
            prost::encoding::encode_varint(body.len() as u64, &mut v);
            v.extend_from_slice(body);
            v
        }
        let texts: [&[u8]; 6] = [
            b"",
            b"session.id",
            "clé ✓ 日本".as_bytes(),
            &[b'k', 0xff],
            &[b'x'; 200],
            &[0xe6, 0x97],
        ];
        let mut rng = Xorshift(0x9a1a_0001_5eed_0002);
        let mut pick = |n: usize| rng.below(n);
        let (mut plain, mut agreed) = (0, 0);
        for round in 0..20_000 {
            let text = |i: usize| texts[i % texts.len()];
            let value: Vec<u8> = match pick(9) {
                0 => Vec::new(),
                1 => field(0x0a, text(pick(6))),
                2 => vec![0x10, pick(3) as u8],
                3 => vec![
                    0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                4 => vec![
                    0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                ],
                5 => [&[0x21][..], &[7; 8]].concat(),
                6 => field(0x3a, text(pick(6))), // bytes_value: not plain
                7 => field(0x2a, &field(0x0a, &field(0x0a, b"x"))), // an array
                _ => [field(0x0a, b"a"), vec![0x10, 1]].concat(), // two members
            };
            let key = field(0x0a, text(pick(6)));
            let value = field(0x12, &value);
            let mut kv = match pick(6) {
                0 => key.clone(),
                1 => [value.clone(), key.clone()].concat(),
                2 => [key.clone(), value.clone(), key.clone()].concat(),
                3 => [key.clone(), value.clone(), vec![0x18, 5]].concat(),
                _ => [key.clone(), value.clone()].concat(),
            };
            match pick(4) {
                0 => kv.truncate(pick(kv.len() + 1)),
                1 if !kv.is_empty() => {
                    let i = pick(kv.len());
                    kv[i] ^= 1 << pick(8);
                }
                _ => {}
            }
            plain += usize::from(plain::key_value(&kv));
            let request = field(
                0x0a,
                &field(
                    0x12,
                    &field(0x12, &[&[0x09][..], &[0; 8], &field(0x32, &kv)].concat()),
                ),
            );
            let ours = scan(Signal::Logs, &request).map_err(|e| e.to_string());
            let theirs = prost_items(Signal::Logs, &request);
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "round {round}: {ours:?} / {theirs:?} on {kv:?}"
            );
            if let (Ok(a), Ok(p)) = (&ours, &theirs) {
                assert_eq!(a, p, "round {round}");
                agreed += 1;
            }
            for (max_attribute_depth, max_attributes) in [(1, 0), (1, 1), (2, 1)] {
                let limits = Limits {
                    max_attribute_depth,
                    max_attributes,
                };
                let ours = scan_within(Signal::Logs, &request, &limits).map_err(|e| e.to_string());
                let theirs = prost_checked(Signal::Logs, &request, &limits);
                match (&ours, &theirs) {
                    (Ok(a), Ok(p)) => assert_eq!(a, p, "round {round}"),
                    // prost's errors are worded otherwise; a limit's are the same.
                    (Err(a), Err(p)) if p.contains("more than max_") => {
                        assert_eq!(a, p, "round {round}, {limits:?}")
                    }
                    (Err(_), Err(_)) => {}
                    _ => panic!("round {round}, {limits:?}: {ours:?} / {theirs:?} on {kv:?}"),
                }
            }
        }
        assert!(
            plain > 1000 && agreed > plain,
            "{plain} plain, {agreed} accepted"
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
