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

use crate::records::Signal;
use crate::wire::{self, Field, Ty, M};
use crate::Encoded;

use super::encode::{
    write_base64, write_bool, write_double, write_int, write_quoted_hex, write_quoted_int,
};
use super::write_json_string;

/// The bytes need the decode path (see the module docs); nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unusual;

/// Appends one OTLP/JSON export request for `batch` (all its parts) to `out`.
/// On [`Unusual`], `out` is left as it was.
pub fn transcode(batch: &Encoded, out: &mut Vec<u8>) -> Result<(), Unusual> {
    transcode_parts(batch.signal(), batch.parts(), out)
}

/// [`transcode`] of some of an encoded batch's parts (each a complete
/// request) as one request, so a writer can cut a large batch into lines.
pub fn transcode_parts(
    signal: Signal,
    parts: &[bytes::Bytes],
    out: &mut Vec<u8>,
) -> Result<(), Unusual> {
    let start = out.len();
    let result = write_request(signal, parts, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_request(signal: Signal, parts: &[bytes::Bytes], out: &mut Vec<u8>) -> Result<(), Unusual> {
    let top = M::request(signal);
    let name = wire::field(top, 1).ok_or(Unusual)?.name;
    // `{"resourceLogs":[` once the first group comes: with none, the codec
    // writes `{}`.
    out.push(b'{');
    let mut first = true;
    for part in parts {
        let mut b: &[u8] = part;
        while !b.is_empty() {
            let (tag, wt) = wire::key(&mut b).map_err(|_| Unusual)?;
            let Some(Field { ty: Ty::Msg(m), .. }) = wire::field(top, tag) else {
                wire::skip(wt, tag, &mut b, wire::RECURSION_LIMIT).map_err(|_| Unusual)?;
                continue;
            };
            if wt != wire::LEN {
                return Err(Unusual);
            }
            if first {
                out.push(b'"');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":[");
            } else {
                out.push(b',');
            }
            first = false;
            message(m, delimited(&mut b)?, out)?;
        }
    }
    if !first {
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

/// One occurrence of a field: its tag, wire type and the bytes of its value.
type Item<'a> = (u32, u8, &'a [u8]);

/// The next field of a message body.
fn next_item<'a>(b: &mut &'a [u8]) -> Result<Item<'a>, Unusual> {
    let (tag, wt) = wire::key(b).map_err(|_| Unusual)?;
    let value = *b;
    wire::skip(wt, tag, b, wire::RECURSION_LIMIT).map_err(|_| Unusual)?;
    Ok((tag, wt, &value[..value.len() - b.len()]))
}

/// Writes one message as a JSON object, its fields in the codec's order:
/// as they come when the bytes are in that order (prost's usually are),
/// else sorted by [`rank`] first (Claude Code's exporter writes tag order,
/// which puts a log record's `observedTimeUnixNano` last). The sort is
/// stable, so a field's occurrences keep their order.
fn message(m: M, body: &[u8], out: &mut Vec<u8>) -> Result<(), Unusual> {
    if in_order(m, body)? {
        let mut b = body;
        let items = std::iter::from_fn(|| (!b.is_empty()).then(|| next_item(&mut b)));
        return fields(m, items, out);
    }
    let mut sorted = Vec::with_capacity(16);
    let mut b = body;
    while !b.is_empty() {
        let item = next_item(&mut b)?;
        sorted.push((rank(m, item.0), item));
    }
    sorted.sort_by_key(|&(rank, _)| rank);
    fields(m, sorted.into_iter().map(|(_, item)| Ok(item)), out)
}

/// Whether the known fields of a message body come in [`rank`] order.
fn in_order(m: M, mut b: &[u8]) -> Result<bool, Unusual> {
    let mut last = 0;
    while !b.is_empty() {
        let (tag, _, _) = next_item(&mut b)?;
        if wire::field(m, tag).is_some() {
            let r = rank(m, tag);
            if r < last {
                return Ok(false);
            }
            last = r;
        }
    }
    Ok(true)
}

/// Writes a message's fields, given in the codec's order, as a JSON object.
fn fields<'a>(
    m: M,
    items: impl Iterator<Item = Result<Item<'a>, Unusual>>,
    out: &mut Vec<u8>,
) -> Result<(), Unusual> {
    out.push(b'{');
    // Tags seen so far (every OTLP tag is below 32), the repeated field whose
    // array is open, how many elements it has, and the oneof groups used.
    let mut seen = 0u32;
    let mut open: Option<u32> = None;
    let mut elements = 0usize;
    let mut oneofs = 0u8;
    let mut fields = 0usize;
    for item in items {
        let (tag, wt, mut b) = item?;
        let Some(f) = wire::field(m, tag).filter(|_| tag < 32) else {
            continue;
        };
        if open != Some(tag) {
            if seen & (1 << tag) != 0 {
                return Err(Unusual); // given twice, or a repeated field split up
            }
            // What the codec leaves out: a singular field at its default, an
            // empty packed array. Not marked seen: protobuf's last value wins.
            if left_out(m, tag, f, wt, &mut b)? {
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
        match (f.ty, wt) {
            (Ty::U64, wire::FIXED64) => write_quoted_int(fixed64(&mut b)?, out),
            (Ty::I64, wire::FIXED64) => write_quoted_int(fixed64(&mut b)? as i64, out),
            (Ty::F64, wire::FIXED64) => write_double(f64::from_bits(fixed64(&mut b)?), out),
            (Ty::Fixed32, wire::FIXED32) => {
                let v = wire::take(&mut b, 4).map_err(|_| Unusual)?;
                write_int(u32::from_le_bytes([v[0], v[1], v[2], v[3]]), out);
            }
            // Varint widths narrow as prost narrows them.
            (Ty::U32, wire::VARINT) => write_int(varint(&mut b)? as u32, out),
            (Ty::I32, wire::VARINT) => write_int(varint(&mut b)? as i32, out),
            (Ty::Int64, wire::VARINT) => write_quoted_int(varint(&mut b)? as i64, out),
            (Ty::Sint32, wire::VARINT) => {
                let n = varint(&mut b)? as u32;
                write_int(((n >> 1) as i32) ^ -((n & 1) as i32), out);
            }
            (Ty::Bool, wire::VARINT) => write_bool(varint(&mut b)? != 0, out),
            (Ty::Str, wire::LEN) => {
                sep(out);
                let s = std::str::from_utf8(delimited(&mut b)?).map_err(|_| Unusual)?;
                write_json_string(s, out);
            }
            (Ty::Id, wire::LEN) => write_quoted_hex(delimited(&mut b)?, out),
            (Ty::Bytes, wire::LEN) => write_base64(delimited(&mut b)?, out),
            (Ty::Msg(sub), wire::LEN) => {
                sep(out);
                message(sub, delimited(&mut b)?, out)?;
            }
            (Ty::PackedFixed64 | Ty::PackedF64, wire::LEN) => {
                let mut packed = delimited(&mut b)?;
                while !packed.is_empty() {
                    sep(out);
                    let v = fixed64(&mut packed)?;
                    if f.ty == Ty::PackedF64 {
                        write_double(f64::from_bits(v), out);
                    } else {
                        write_quoted_int(v, out);
                    }
                }
            }
            (Ty::PackedFixed64, wire::FIXED64) => {
                sep(out);
                write_quoted_int(fixed64(&mut b)?, out);
            }
            (Ty::PackedF64, wire::FIXED64) => {
                sep(out);
                write_double(f64::from_bits(fixed64(&mut b)?), out);
            }
            (Ty::PackedVarintU64, wire::LEN) => {
                let mut packed = delimited(&mut b)?;
                while !packed.is_empty() {
                    sep(out);
                    write_quoted_int(varint(&mut packed)?, out);
                }
            }
            (Ty::PackedVarintU64, wire::VARINT) => {
                sep(out);
                write_quoted_int(varint(&mut b)?, out);
            }
            _ => return Err(Unusual), // wrong wire type: the checker would have refused
        }
    }
    if open.is_some() {
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

/// Whether the next value, of field `tag` of `m`, is one the codec leaves
/// out (see `Obj` in encode.rs); if so it is consumed. Oneof members and
/// messages are always written: their presence is the value. A value of the
/// wrong wire type is not left out, so the caller refuses it.
fn left_out(m: M, tag: u32, f: Field, wt: u8, b: &mut &[u8]) -> Result<bool, Unusual> {
    if f.oneof != 0 || matches!(f.ty, Ty::Msg(_)) {
        return Ok(false);
    }
    let mut peek = *b;
    let default = match (f.ty, wt) {
        (Ty::PackedFixed64 | Ty::PackedF64 | Ty::PackedVarintU64, wire::LEN) => {
            delimited(&mut peek)?.is_empty()
        }
        _ if f.repeated => false,
        (Ty::U32 | Ty::I32 | Ty::Int64 | Ty::Sint32 | Ty::Bool, wire::VARINT) => {
            varint(&mut peek)? == 0
        }
        (Ty::U64 | Ty::I64, wire::FIXED64) => fixed64(&mut peek)? == 0,
        // -0.0 too, as the codec compares with 0.0; proto3 `optional`
        // doubles are written whenever present.
        (Ty::F64, wire::FIXED64) => f64::from_bits(fixed64(&mut peek)?) == 0.0 && !optional(m, tag),
        (Ty::Fixed32, wire::FIXED32) => wire::take(&mut peek, 4).map_err(|_| Unusual)? == [0; 4],
        (Ty::Str | Ty::Id | Ty::Bytes, wire::LEN) => delimited(&mut peek)?.is_empty(),
        _ => false,
    };
    if default {
        *b = peek;
    }
    Ok(default)
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

fn varint(b: &mut &[u8]) -> Result<u64, Unusual> {
    wire::varint(b).map_err(|_| Unusual)
}

fn fixed64(b: &mut &[u8]) -> Result<u64, Unusual> {
    let v = wire::take(b, 8).map_err(|_| Unusual)?;
    Ok(u64::from_le_bytes([
        v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
    ]))
}

fn delimited<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], Unusual> {
    wire::delimited(b).map_err(|_| Unusual)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp_json::decode;
    use crate::testing::{capture_bins, Xorshift};
    use bytes::Bytes;

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
                    // Byte for byte what the codec writes of the decoded records.
                    let mut want = Vec::new();
                    crate::otlp_json::encode(&encoded.decode().unwrap(), &mut want);
                    assert_eq!(
                        String::from_utf8_lossy(&json),
                        String::from_utf8_lossy(&want),
                        "round {round}"
                    );
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
}
