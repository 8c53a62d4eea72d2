//! OTLP/JSON written straight from validated protobuf bytes, without building
//! the prost structs: the walk of [`crate::wire`] with a JSON writer at each
//! field. For a file exporter fed encoded batches this skips the decode (most
//! of the CPU and three to four times the memory of the bytes).
//!
//! JSON cannot say everything protobuf can: a repeated field whose elements
//! are not contiguous, a singular field given twice (protobuf keeps the last
//! or merges), two members of one oneof. Prost never writes those, but a
//! client may; [`transcode`] then answers [`Unusual`] and the caller decodes
//! and encodes the usual way, so the output is always what the bytes mean.

use std::ops::Range;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::wire::{self, Field, Ty, M};
use crate::Encoded;

use super::encode::{
    write_base64, write_bool, write_double, write_int, write_json_bytes, write_quoted_hex,
    write_quoted_int,
};

/// The bytes need the decode path (see the module docs); nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unusual;

/// Appends one OTLP/JSON export request for `batch` (all its parts) to `out`.
/// On [`Unusual`], `out` is left as it was.
pub fn transcode(batch: &Encoded, out: &mut Vec<u8>) -> Result<(), Unusual> {
    transcode_parts(batch, 0..batch.parts().len(), out)
}

/// [`transcode`] of some of an encoded batch's parts (each a complete
/// request) as one request, so a writer can cut a large batch into lines.
/// Only an [`Encoded`]'s parts come in: its scan checked every string field
/// as UTF-8, so strings are copied as bytes here without checking again.
///
/// # Panics
/// If `parts` is not a range of the batch's parts.
pub fn transcode_parts(
    batch: &Encoded,
    parts: Range<usize>,
    out: &mut Vec<u8>,
) -> Result<(), Unusual> {
    let start = out.len();
    let result = write_request(M::request(batch.signal()), &batch.parts()[parts], out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_request(top: M, parts: &[bytes::Bytes], out: &mut Vec<u8>) -> Result<(), Unusual> {
    let name = wire::field(top, 1).ok_or(Unusual)?.name;
    // `{"resourceLogs":[` once the first group comes: with none, the codec
    // writes `{}`.
    out.push(b'{');
    let mut first = true;
    for part in parts {
        let mut b: &[u8] = part;
        while !b.is_empty() {
            let (tag, value) = next_item(&mut b)?;
            let Some(Field { ty: Ty::Msg(m), .. }) = wire::field(top, tag) else {
                continue;
            };
            let Value::Len(body) = value else {
                return Err(Unusual);
            };
            if first {
                out.push(b'"');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":[");
            } else {
                out.push(b',');
            }
            first = false;
            message(m, body, out)?;
        }
    }
    if !first {
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

/// One field's value, read once: varints decoded, fixed values as their
/// bits, length-delimited ones as their contents.
#[derive(Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
    /// A group, skipped (no OTLP field is one).
    Group,
}

/// One occurrence of a field: its tag and value.
type Item<'a> = (u32, Value<'a>);

/// The next field of a message body. Inline: returned through memory, the
/// item was stored in parts and read back whole, a store-forwarding stall
/// that cost more than reading the field.
#[inline(always)]
fn next_item<'a>(b: &mut &'a [u8]) -> Result<Item<'a>, Unusual> {
    let (tag, wt) = key(b)?;
    let value = match wt {
        wire::VARINT => Value::Varint(varint(b)?),
        wire::FIXED64 => Value::Fixed64(u64::from_le_bytes(fixed::<8>(b)?)),
        wire::LEN => Value::Len(delimited(b)?),
        wire::FIXED32 => Value::Fixed32(u32::from_le_bytes(fixed::<4>(b)?)),
        _ => skip_group(wt, tag, b)?,
    };
    Ok((tag, value))
}

#[cold]
fn skip_group<'a>(wt: u8, tag: u32, b: &mut &[u8]) -> Result<Value<'a>, Unusual> {
    wire::skip(wt, tag, b, wire::RECURSION_LIMIT).map_err(|_| Unusual)?;
    Ok(Value::Group)
}

/// Writes one message as a JSON object, its fields in the codec's order
/// ([`rank`]). Where that is tag order, as prost and Claude Code's exporter
/// write, the fields are written as they come, checking the order on the
/// way; on the first field out of order what was written is taken back and
/// the fields are [`sorted`] first. Messages whose tag order is not their
/// rank order (a log record's `observedTimeUnixNano` is tag 11 but goes
/// second) are always sorted, so their bytes are not written twice.
fn message(m: M, body: &[u8], out: &mut Vec<u8>) -> Result<(), Unusual> {
    if m == M::KeyValue && scalar_attribute(body, out) {
        return Ok(());
    }
    if tag_ordered(m) {
        let start = out.len();
        let mut b = body;
        let items = std::iter::from_fn(|| (!b.is_empty()).then(|| next_item(&mut b)));
        if fields(m, items, out)? {
            return Ok(());
        }
        out.truncate(start);
    }
    sorted(m, body, out)
}

/// Writes a message whose fields are out of order: its fields, each read
/// once, sorted by [`rank`] (stable, so a repeated field keeps its order),
/// then written from there. The fields of a usual message fit on the stack,
/// so no allocation.
fn sorted(m: M, body: &[u8], out: &mut Vec<u8>) -> Result<(), Unusual> {
    const ON_STACK: usize = 64;
    let mut stack = [(0u32, 0u32, Value::Group); ON_STACK];
    let mut heap = Vec::new();
    let mut count = 0;
    let mut b = body;
    while !b.is_empty() {
        let (tag, value) = next_item(&mut b)?;
        let field = (rank(m, tag), tag, value);
        if count < ON_STACK {
            stack[count] = field;
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(field);
        }
        count += 1;
    }
    let fields_in_place = if count <= ON_STACK {
        &mut stack[..count]
    } else {
        &mut heap[..]
    };
    fields_in_place.sort_by_key(|&(rank, _, _)| rank);
    let items = fields_in_place
        .iter()
        .map(|&(_, tag, value)| Ok((tag, value)));
    let in_rank_order = fields(m, items, out)?;
    debug_assert!(in_rank_order);
    Ok(())
}

/// The usual attribute, e.g. `{"key":"k","value":{"stringValue":"v"}}`,
/// written straight when the body is exactly a non-empty key then a value
/// holding one string, int, bool or double (how prost and Claude Code's
/// exporter write one); false, with nothing written, for any other layout,
/// which the general path takes.
fn scalar_attribute(body: &[u8], out: &mut Vec<u8>) -> bool {
    const KEY: u8 = 1 << 3 | wire::LEN;
    const VALUE: u8 = 2 << 3 | wire::LEN;
    let parse = || -> Option<(&[u8], u8, &[u8])> {
        let mut b = body;
        tagged(&mut b, KEY)?;
        let key = delimited(&mut b).ok().filter(|k| !k.is_empty())?;
        tagged(&mut b, VALUE)?;
        let value = delimited(&mut b).ok().filter(|_| b.is_empty())?;
        let (&member, scalar) = value.split_first()?;
        Some((key, member, scalar))
    };
    let Some((key, member, mut scalar)) = parse() else {
        return false;
    };
    let start = out.len();
    out.extend_from_slice(b"{\"key\":");
    string(key, out);
    // The AnyValue members (tag, wire type) the schema gives; each is
    // written even at its default, as a oneof's presence is its value.
    let written = match member {
        STRING_VALUE => delimited(&mut scalar).ok().map(|s| {
            out.extend_from_slice(b",\"value\":{\"stringValue\":");
            string(s, out);
        }),
        BOOL_VALUE => varint(&mut scalar).ok().map(|v| {
            out.extend_from_slice(b",\"value\":{\"boolValue\":");
            write_bool(v != 0, out);
        }),
        INT_VALUE => varint(&mut scalar).ok().map(|v| {
            out.extend_from_slice(b",\"value\":{\"intValue\":");
            write_quoted_int(v as i64, out);
        }),
        DOUBLE_VALUE => fixed::<8>(&mut scalar).ok().map(|v| {
            out.extend_from_slice(b",\"value\":{\"doubleValue\":");
            write_double(f64::from_le_bytes(v), out);
        }),
        _ => None,
    };
    if written.is_none() || !scalar.is_empty() {
        out.truncate(start);
        return false;
    }
    out.extend_from_slice(b"}}");
    true
}

/// The keys of the AnyValue members [`scalar_attribute`] writes.
const STRING_VALUE: u8 = 1 << 3 | wire::LEN;
const BOOL_VALUE: u8 = 2 << 3 | wire::VARINT;
const INT_VALUE: u8 = 3 << 3 | wire::VARINT;
const DOUBLE_VALUE: u8 = 4 << 3 | wire::FIXED64;

/// Takes the one-byte key `key` off the front of `b`, if it is there.
fn tagged(b: &mut &[u8], key: u8) -> Option<()> {
    let (&first, rest) = b.split_first()?;
    (first == key).then(|| *b = rest)
}

/// Whether the known fields of `m`, by tag, come in [`rank`] order (so
/// bytes in tag order need no sorting), worked out once per message.
fn tag_ordered(m: M) -> bool {
    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static ORDERED: [AtomicU8; 64] = [const { AtomicU8::new(UNKNOWN) }; 64];
    let slot = &ORDERED[m as usize];
    match slot.load(Ordering::Relaxed) {
        YES => true,
        NO => false,
        _ => {
            let ranks = (0..32).filter(|&tag| wire::field(m, tag).is_some());
            let ranks: Vec<u32> = ranks.map(|tag| rank(m, tag)).collect();
            let ordered = ranks.windows(2).all(|w| w[0] <= w[1]);
            slot.store(if ordered { YES } else { NO }, Ordering::Relaxed);
            ordered
        }
    }
}

/// Writes a message's fields as a JSON object, given in the codec's order.
/// `Ok(false)` when a field comes out of [`rank`] order: the object is then
/// left unfinished, for the caller to take back.
fn fields<'a>(
    m: M,
    items: impl Iterator<Item = Result<Item<'a>, Unusual>>,
    out: &mut Vec<u8>,
) -> Result<bool, Unusual> {
    out.push(b'{');
    // Tags seen so far (every OTLP tag is below 32), the repeated field whose
    // array is open, how many elements it has, and the oneof groups used.
    let mut seen = 0u32;
    let mut open: Option<u32> = None;
    let mut elements = 0usize;
    let mut oneofs = 0u8;
    let mut fields = 0usize;
    let mut last_rank = 0;
    for item in items {
        let (tag, value) = item?;
        let Some(f) = wire::field(m, tag).filter(|_| tag < 32) else {
            continue;
        };
        let r = rank(m, tag);
        if r < last_rank {
            return Ok(false);
        }
        last_rank = r;
        if open != Some(tag) {
            if seen & (1 << tag) != 0 {
                return Err(Unusual); // given twice, or a repeated field split up
            }
            // What the codec leaves out: a singular field at its default, an
            // empty packed array. Not marked seen: protobuf's last value wins.
            if left_out(m, tag, f, value) {
                continue;
            }
            if open.take().is_some() {
                out.push(b']');
            }
            seen |= 1 << tag;
            if f.oneof != 0 {
                if oneofs & (1 << f.oneof) != 0 {
                    return Err(Unusual);
                }
                oneofs |= 1 << f.oneof;
            }
            if fields > 0 {
                out.push(b',');
            }
            fields += 1;
            out.push(b'"');
            out.extend_from_slice(f.name.as_bytes());
            out.extend_from_slice(b"\":");
            if f.repeated {
                out.push(b'[');
                open = Some(tag);
                elements = 0;
            }
        }
        let mut sep = |out: &mut Vec<u8>| {
            if f.repeated {
                if elements > 0 {
                    out.push(b',');
                }
                elements += 1;
            }
        };
        match (f.ty, value) {
            (Ty::U64, Value::Fixed64(v)) => write_quoted_int(v, out),
            (Ty::I64, Value::Fixed64(v)) => write_quoted_int(v as i64, out),
            (Ty::F64, Value::Fixed64(v)) => write_double(f64::from_bits(v), out),
            (Ty::Fixed32, Value::Fixed32(v)) => write_int(v, out),
            // Varint widths narrow as prost narrows them.
            (Ty::U32, Value::Varint(v)) => write_int(v as u32, out),
            (Ty::I32, Value::Varint(v)) => write_int(v as i32, out),
            (Ty::Int64, Value::Varint(v)) => write_quoted_int(v as i64, out),
            (Ty::Sint32, Value::Varint(v)) => {
                let n = v as u32;
                write_int(((n >> 1) as i32) ^ -((n & 1) as i32), out);
            }
            (Ty::Bool, Value::Varint(v)) => write_bool(v != 0, out),
            (Ty::Str, Value::Len(s)) => {
                sep(out);
                string(s, out);
            }
            (Ty::Id, Value::Len(id)) => write_quoted_hex(id, out),
            (Ty::Bytes, Value::Len(b)) => write_base64(b, out),
            (Ty::Msg(sub), Value::Len(body)) => {
                sep(out);
                message(sub, body, out)?;
            }
            (Ty::PackedFixed64 | Ty::PackedF64, Value::Len(mut packed)) => {
                while !packed.is_empty() {
                    sep(out);
                    let v = u64::from_le_bytes(fixed::<8>(&mut packed)?);
                    if f.ty == Ty::PackedF64 {
                        write_double(f64::from_bits(v), out);
                    } else {
                        write_quoted_int(v, out);
                    }
                }
            }
            (Ty::PackedFixed64, Value::Fixed64(v)) => {
                sep(out);
                write_quoted_int(v, out);
            }
            (Ty::PackedF64, Value::Fixed64(v)) => {
                sep(out);
                write_double(f64::from_bits(v), out);
            }
            (Ty::PackedVarintU64, Value::Len(mut packed)) => {
                while !packed.is_empty() {
                    sep(out);
                    write_quoted_int(varint(&mut packed)?, out);
                }
            }
            (Ty::PackedVarintU64, Value::Varint(v)) => {
                sep(out);
                write_quoted_int(v, out);
            }
            _ => return Err(Unusual), // wrong wire type: the checker would have refused
        }
    }
    if open.is_some() {
        out.push(b']');
    }
    out.push(b'}');
    Ok(true)
}

/// Whether `value`, of field `tag` of `m`, is one the codec leaves out (see
/// `Obj` in encode.rs). Oneof members and messages are always written:
/// their presence is the value. A value of the wrong wire type is not left
/// out, so the caller refuses it.
fn left_out(m: M, tag: u32, f: Field, value: Value) -> bool {
    if f.oneof != 0 || matches!(f.ty, Ty::Msg(_)) {
        return false;
    }
    match (f.ty, value) {
        (Ty::PackedFixed64 | Ty::PackedF64 | Ty::PackedVarintU64, Value::Len(v)) => v.is_empty(),
        _ if f.repeated => false,
        (Ty::U32 | Ty::I32 | Ty::Int64 | Ty::Sint32 | Ty::Bool, Value::Varint(v)) => v == 0,
        (Ty::U64 | Ty::I64, Value::Fixed64(v)) => v == 0,
        // -0.0 too, as the codec compares with 0.0; proto3 `optional`
        // doubles are written whenever present.
        (Ty::F64, Value::Fixed64(v)) => f64::from_bits(v) == 0.0 && !optional(m, tag),
        (Ty::Fixed32, Value::Fixed32(v)) => v == 0,
        (Ty::Str | Ty::Id | Ty::Bytes, Value::Len(v)) => v.is_empty(),
        _ => false,
    }
}

/// A string field's bytes, quoted and escaped. The scan checked them as
/// UTF-8 (see [`transcode_parts`]), so they are not checked again.
fn string(s: &[u8], out: &mut Vec<u8>) {
    debug_assert!(std::str::from_utf8(s).is_ok());
    write_json_bytes(s, out);
}

/// The proto3 `optional` doubles, written by the codec whenever present.
fn optional(m: M, tag: u32) -> bool {
    wire::has_presence(m, tag)
}

/// Where the codec writes field `tag` of `m` among the others: its line's
/// place in `crate::schema`, which is the proto's declaration order. prost
/// writes a oneof after the other fields, so its bytes can be out of this
/// order (a metric's metadata, a data point's exemplars or flags), and
/// Claude Code's exporter writes tag order. The tests hold the transcode
/// byte-equal to the codec on every field.
fn rank(m: M, tag: u32) -> u32 {
    wire::json_rank(m, tag)
}

// The wire readers, with the one-byte case (nearly every key and length in
// OTLP) inline; longer ones go to `wire`'s.

#[inline(always)]
fn varint(b: &mut &[u8]) -> Result<u64, Unusual> {
    match b.split_first() {
        Some((&byte, rest)) if byte < 0x80 => {
            *b = rest;
            Ok(u64::from(byte))
        }
        _ => wire::varint(b).map_err(|_| Unusual),
    }
}

#[inline(always)]
fn key(b: &mut &[u8]) -> Result<(u32, u8), Unusual> {
    match b.split_first() {
        Some((&byte, rest)) if byte < 0x80 => {
            let (tag, wt) = (u32::from(byte >> 3), byte & 7);
            if tag == 0 || wt > wire::FIXED32 {
                return Err(Unusual);
            }
            *b = rest;
            Ok((tag, wt))
        }
        _ => wire::key(b).map_err(|_| Unusual),
    }
}

#[inline(always)]
fn delimited<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], Unusual> {
    let len = varint(b)?;
    if len > b.len() as u64 {
        return Err(Unusual);
    }
    let (head, rest) = b.split_at(len as usize);
    *b = rest;
    Ok(head)
}

#[inline(always)]
fn fixed<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], Unusual> {
    let (head, rest) = b.split_first_chunk::<N>().ok_or(Unusual)?;
    *b = rest;
    Ok(*head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp_json::decode;
    use crate::records::Signal;
    use crate::testing::{capture_bins, Xorshift};
    use bytes::Bytes;

    /// Asserts `json` is byte for byte what the codec writes of the
    /// decoded records of `encoded`.
    fn assert_codecs_bytes(encoded: &Encoded, json: &[u8], case: &str) {
        let mut want = Vec::new();
        crate::otlp_json::encode(&encoded.decode().unwrap(), &mut want);
        assert_eq!(
            String::from_utf8_lossy(json),
            String::from_utf8_lossy(&want),
            "{case}"
        );
    }

    #[test]
    fn transcoded_json_means_what_the_bytes_mean() {
        let caps = capture_bins();
        assert!(caps.len() > 30);
        for (signal, bytes) in caps {
            let encoded = Encoded::new(signal, Bytes::from(bytes.clone())).unwrap();
            let mut json = Vec::new();
            transcode(&encoded, &mut json).expect("prost-written bytes are usual");
            let from_json = decode(signal, &json).expect("valid OTLP/JSON");
            assert_eq!(from_json, encoded.decode().unwrap());
            // Several parts: one request holding both, in order.
            let mut two = encoded.clone();
            two.append(encoded.clone());
            json.clear();
            transcode(&two, &mut json).unwrap();
            assert_eq!(decode(signal, &json).unwrap(), two.decode().unwrap());
        }
    }

    #[test]
    fn unusual_layouts_fall_back_and_leave_the_buffer_alone() {
        // KeyValue{key:"a"} twice in one LogRecord is fine (repeated, contiguous);
        // a LogRecord with two bodies (singular field twice) is unusual.
        let body = |s: &str| {
            let mut any = vec![0x0a, s.len() as u8];
            any.extend_from_slice(s.as_bytes());
            let mut f = vec![0x2a, any.len() as u8];
            f.extend(any);
            f
        };
        let mut record = body("x");
        record.extend(body("y"));
        let wrap = |tag: u8, inner: &[u8]| {
            let mut v = vec![tag, inner.len() as u8];
            v.extend_from_slice(inner);
            v
        };
        let bytes = wrap(0x0a, &wrap(0x12, &wrap(0x12, &record)));
        let encoded = Encoded::new(Signal::Logs, Bytes::from(bytes)).unwrap();
        let mut out = b"keep".to_vec();
        assert_eq!(transcode(&encoded, &mut out), Err(Unusual));
        assert_eq!(out, b"keep");
    }

    #[test]
    fn agrees_with_the_decode_path_on_mutated_captures() {
        let caps = capture_bins();
        let mut rng = Xorshift(0x1234_5678_9abc_def1);
        let mut next = move || rng.next_u64();
        let (mut usual, mut unusual) = (0, 0);
        for round in 0..4000 {
            let (signal, original) = &caps[round % caps.len()];
            let mut b = original.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() as usize) % b.len().max(1);
                if i < b.len() {
                    b[i] = next() as u8;
                }
            }
            let Ok(encoded) = Encoded::new(*signal, Bytes::from(b)) else {
                continue;
            };
            let mut json = Vec::new();
            match transcode(&encoded, &mut json) {
                Ok(()) => {
                    assert_codecs_bytes(&encoded, &json, &format!("round {round}"));
                    usual += 1;
                }
                Err(Unusual) => {
                    assert!(json.is_empty());
                    unusual += 1;
                }
            }
        }
        assert!(usual > 500, "usual {usual}, unusual {unusual}");
    }

    /// Only messages whose fields' tag order differs from their JSON order
    /// are checked before writing.
    #[test]
    fn tag_order_is_json_order_except_where_the_schema_says_otherwise() {
        assert!(
            !tag_ordered(M::LogRecord),
            "observedTimeUnixNano is tag 11, second in JSON"
        );
        for m in [
            M::KeyValue,
            M::AnyValue,
            M::Resource,
            M::Scope,
            M::ScopeLogs,
        ] {
            assert!(tag_ordered(m), "{m:?}");
        }
    }

    /// KeyValue layouts around the one written straight: each gives the
    /// codec's bytes, as prost writes it and in the other field order.
    #[test]
    fn attributes_near_the_usual_layout_give_the_codecs_bytes() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        use prost::Message;

        let string = |s: &str| {
            Some(AnyValue {
                value: Some(Value::StringValue(s.into())),
            })
        };
        let kv = |key: &str, value: Option<AnyValue>| KeyValue {
            key: key.into(),
            value,
            ..Default::default()
        };
        let cases = [
            kv("k", string("v")),
            kv("k", string("")),
            kv("", string("v")),
            kv("k", None),
            kv("k", Some(AnyValue { value: None })),
            kv(
                "k",
                Some(AnyValue {
                    value: Some(Value::IntValue(7)),
                }),
            ),
            kv("quote\"d\n", string("tab\tand \\ and é")),
            KeyValue {
                key_strindex: 3,
                ..kv("k", string("v"))
            },
        ];
        for (i, attr) in cases.into_iter().enumerate() {
            let request = ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![LogRecord {
                            attributes: vec![attr.clone(), attr.clone()],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            let encoded = Encoded::new(Signal::Logs, Bytes::from(request.encode_to_vec())).unwrap();
            let mut got = Vec::new();
            transcode(&encoded, &mut got).unwrap();
            assert_codecs_bytes(&encoded, &got, &format!("case {i}"));

            // The value before the key (tag order reversed): sorted back.
            let attr_bytes = attr.encode_to_vec();
            let mut reversed = Vec::new();
            let mut b = &attr_bytes[..];
            let mut fields = Vec::new();
            while !b.is_empty() {
                let start = b;
                let (tag, wt) = wire::key(&mut b).unwrap();
                wire::skip(wt, tag, &mut b, wire::RECURSION_LIMIT).unwrap();
                fields.push(&start[..start.len() - b.len()]);
            }
            fields.reverse();
            fields.iter().for_each(|f| reversed.extend_from_slice(f));
            let wrap = |tag: u8, inner: &[u8]| {
                let mut v = vec![tag];
                prost::encoding::encode_varint(inner.len() as u64, &mut v);
                v.extend_from_slice(inner);
                v
            };
            let bytes = wrap(0x0a, &wrap(0x12, &wrap(0x12, &wrap(0x32, &reversed))));
            let encoded = Encoded::new(Signal::Logs, Bytes::from(bytes)).unwrap();
            got.clear();
            transcode(&encoded, &mut got).unwrap();
            assert_codecs_bytes(&encoded, &got, &format!("case {i} reversed"));
        }
    }

    /// KeyValue bodies prost would not write, around the usual layout: an
    /// empty key sent anyway, a key given twice, bytes after the value.
    #[test]
    fn unusual_attribute_bytes_give_what_they_mean() {
        let cases: [&[u8]; 7] = [
            &[0x0a, 0x00, 0x12, 0x03, 0x0a, 0x01, b'v'],
            &[0x0a, 0x01, b'k', 0x12, 0x03, 0x0a, 0x01, b'v', 0x18, 0x03],
            &[0x0a, 0x01, b'k', 0x12, 0x05, 0x0a, 0x01, b'v', 0x10, 0x01],
            &[
                0x0a, 0x01, b'k', 0x0a, 0x01, b'j', 0x12, 0x03, 0x0a, 0x01, b'v',
            ],
            &[0x0a, 0x01, b'k', 0x12, 0x00],
            &[0x0a, 0x01, b'k', 0x12, 0x04, 0x18, 0x07, 0x18, 0x08],
            &[0x0a, 0x01, b'k', 0x12, 0x02, 0x10, 0x02],
        ];
        let wrap = |tag: u8, inner: &[u8]| {
            let mut v = vec![tag, inner.len() as u8];
            v.extend_from_slice(inner);
            v
        };
        for (i, attr) in cases.into_iter().enumerate() {
            let bytes = wrap(0x0a, &wrap(0x12, &wrap(0x12, &wrap(0x32, attr))));
            let encoded = Encoded::new(Signal::Logs, Bytes::from(bytes)).unwrap();
            let mut got = Vec::new();
            match transcode(&encoded, &mut got) {
                Ok(()) => assert_codecs_bytes(&encoded, &got, &format!("case {i}")),
                Err(Unusual) => assert!((2..6).contains(&i), "case {i} is usual"),
            }
        }
    }

    /// Messages of more fields than the sort keeps on the stack: a log
    /// record of 100 attributes with `observedTimeUnixNano` last (tag
    /// order), and a scope of 100 records after its `schemaUrl`.
    #[test]
    fn long_messages_out_of_order_give_the_codecs_bytes() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        use prost::Message;

        let record = |i: u64| LogRecord {
            time_unix_nano: i,
            observed_time_unix_nano: i + 1,
            attributes: (0..100)
                .map(|a| KeyValue {
                    key: format!("k{a}"),
                    value: Some(AnyValue {
                        value: Some(Value::IntValue(a)),
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let field = |tag: u32, body: &[u8]| {
            let mut v = Vec::new();
            prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut v);
            prost::encoding::encode_varint(body.len() as u64, &mut v);
            v.extend_from_slice(body);
            v
        };
        // prost writes a record in tag order; the scope's url goes first here.
        let mut scope = field(3, b"https://example.com/schema");
        for i in 0..100 {
            scope.extend(field(2, &record(i).encode_to_vec()));
        }
        let bytes = field(1, &field(2, &scope));
        let encoded = Encoded::new(Signal::Logs, Bytes::from(bytes)).unwrap();
        let mut got = Vec::new();
        transcode(&encoded, &mut got).unwrap();
        assert_codecs_bytes(&encoded, &got, "100 records of 100 attributes");
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: (0..100).map(record).collect(),
                    schema_url: "https://example.com/schema".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        assert_eq!(encoded.decode().unwrap(), crate::Records::Logs(request));
    }
}
