//! OTLP/JSON transcoded straight to protobuf bytes, without building the
//! prost structs: serde_json's streaming parser with a protobuf writer at
//! each field, driven by the field table of [`crate::wire`]. A request that
//! stays encoded skips the allocation of every key, string and message of
//! the decode (most of its CPU), and takes a quarter of the memory in the
//! pipeline's queues.
//!
//! The bytes always mean what [`decode`](super::decode) reads from the same
//! body: scalars go through the decoder's own seeds, and whatever this
//! writer cannot say the same way answers [`Unusual`], so the caller decodes
//! the usual way (which also gives the exact error of a bad body). Unusual
//! is: a field given twice (the decoder keeps the last, protobuf would merge
//! or concatenate), two members of one oneof, an enum or flag given by name,
//! AnyValues nested past the decoder's limit, a body that is not UTF-8 as a
//! whole (serde_json's reader then checks no string again), and any error.
//!
//! For the receivers, [`to_encoded`] also counts the items and checks the
//! attribute [`Limits`] as it writes, so the bytes are not walked a second
//! time by [`wire::scan_within`]: the transcode writes every field at most
//! once (a repeat is unusual), so nothing merges, and the scan's verdict on
//! the bytes reduces to: every key-value array within `max_attributes`,
//! every AnyValue at a level within `max_attribute_depth`, and messages
//! nested no deeper than prost's recursion limit.

use std::fmt;

use bytes::Bytes;
use prost::encoding::{encoded_len_varint, WireType};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::decode::MAX_ANY_VALUE_DEPTH;
use super::scalars::{boolean, bytes, double, int, list, span_id, string, trace_id, KeySeed};
use super::scalars::{Int, IntSeed, OptSeed};
use super::{JsonError, Unusual};
use crate::limits::Limits;
use crate::records::Signal;
use crate::wire::{self, Field, Ty, M, RECURSION_LIMIT};
use crate::{Batch, Encoded};

/// Reads one OTLP/JSON export request of `signal` into a [`Batch`]: kept
/// encoded as protobuf when the transcode applies, decoded otherwise. Errors
/// are those of [`decode`](super::decode).
pub fn decode_batch(signal: Signal, body: &[u8]) -> Result<Batch, JsonError> {
    match to_encoded(signal, body, &Limits::NONE) {
        Ok(encoded) => Ok(Batch::from(encoded)),
        Err(_) => super::decode(signal, body).map(Batch::from),
    }
}

/// The protobuf encoding of the OTLP/JSON export request `body` of `signal`.
/// (Nesting is not held to prost's recursion limit here: [`Encoded::new`]
/// refuses what prost would.)
pub fn to_protobuf(signal: Signal, body: &[u8]) -> Result<Vec<u8>, Unusual> {
    transcode(signal, body, &Limits::NONE, u32::MAX)
        .map(|(bytes, _)| bytes)
        .map_err(|_| Unusual)
}

/// `body` transcoded and kept encoded, as [`Encoded::within`] would keep
/// [`to_protobuf`]'s bytes, without walking them again. [`Refused`] when it
/// does not transcode or is over `limits` (then decode it: the decoder gives
/// the error of a bad body, [`limits::check`](crate::limits::check) that of
/// one over the limits).
pub fn to_encoded(signal: Signal, body: &[u8], limits: &Limits) -> Result<Encoded, Refused> {
    let (bytes, items) = transcode(signal, body, limits, RECURSION_LIMIT)?;
    Ok(Encoded::counted(signal, Bytes::from(bytes), items))
}

/// Why [`to_encoded`] did not keep a body encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not said the same way in protobuf, or not valid OTLP/JSON.
    Unusual,
    /// Over the limits, as [`wire::scan_within`] finds them in the bytes.
    OverLimits,
}

/// The bytes and their item count; messages nested deeper than
/// `max_nesting` (the request is 0) are unusual.
pub(crate) fn transcode(
    signal: Signal,
    body: &[u8],
    limits: &Limits,
    max_nesting: u32,
) -> Result<(Vec<u8>, usize), Refused> {
    // One check of the whole body; serde_json's str reader then trusts it.
    let text = std::str::from_utf8(body).map_err(|_| Refused::Unusual)?;
    let mut out = Out {
        // Claude Code's log records come out at 0.52-0.53 of their JSON:
        // 9/16 holds them without doubling (a copy of everything written).
        buf: Vec::with_capacity(body.len() / 16 * 9 + 16),
        items: 0,
        limits: *limits,
        max_nesting,
        over: false,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let top = MsgSeed {
        m: M::request(signal),
        depth: 0,
        nesting: 0,
        out: &mut out,
    };
    if top.deserialize(&mut de).and_then(|()| de.end()).is_err() {
        return Err(match out.over {
            true => Refused::OverLimits,
            false => Refused::Unusual,
        });
    }
    let Out { mut buf, items, .. } = out;
    // The bytes wait in queues and batches, which count their length: a
    // buffer that outgrew the estimate (doubling) must not hold twice that.
    if buf.capacity() - buf.len() > buf.len() / 8 {
        buf.shrink_to_fit();
    }
    Ok((buf, items))
}

/// What the transcode writes, and what it counts on the way.
struct Out {
    buf: Vec<u8>,
    /// Items written, as [`crate::Records::item_count`] counts them.
    items: usize,
    limits: Limits,
    max_nesting: u32,
    /// Set when a limit stopped the transcode (the error is then this).
    over: bool,
}

impl Out {
    fn over<E: de::Error>(&mut self) -> E {
        self.over = true;
        E::custom("over the limits")
    }
}

/// A message's fields, written to `out` without its key and length.
struct MsgSeed<'a> {
    m: M,
    /// AnyValue containers around this message, as the decoder counts them.
    depth: u8,
    /// Messages around this one.
    nesting: u32,
    out: &'a mut Out,
}

impl<'de> DeserializeSeed<'de> for MsgSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // Checked where a message is written, `null` elements included, as
        // the scan finds them.
        if self.nesting > self.out.max_nesting {
            return Err(unusual());
        }
        // An AnyValue sits at level depth + 1.
        if self.m == M::AnyValue && usize::from(self.depth) >= self.out.limits.max_attribute_depth {
            return Err(self.out.over());
        }
        self.out.items += usize::from(is_item(self.m));
        d.deserialize_any(self)
    }
}

/// Messages that are one item each (as `wire` counts them).
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

impl<'de> Visitor<'de> for MsgSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    // `null` is the default message: no fields.
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = 0u32;
        let mut oneofs = 0u8;
        // Unknown keys seen, kept only to find one given twice (rare).
        let mut unknown: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let Some((tag, f)) = lookup(self.m, &key) else {
                // A duplicate key is refused; the decoder says which.
                if unknown.contains(&key) {
                    return Err(unusual());
                }
                map.next_value::<IgnoredAny>()?;
                unknown.push(key);
                continue;
            };
            if seen & (1 << tag) != 0 {
                return Err(unusual());
            }
            seen |= 1 << tag;
            let at = At {
                m: self.m,
                depth: self.depth,
                nesting: self.nesting,
            };
            let wrote = field(&mut map, at, tag, f, self.out)?;
            if f.oneof != 0 && wrote {
                let group = 1 << f.oneof;
                if oneofs & group != 0 {
                    return Err(unusual());
                }
                oneofs |= group;
            }
        }
        Ok(())
    }
}

fn unusual<E: de::Error>() -> E {
    E::custom("unusual")
}

/// The message whose fields are being read.
#[derive(Clone, Copy)]
struct At {
    m: M,
    depth: u8,
    nesting: u32,
}

/// Reads the value of field `tag` of `at.m` and writes it; says whether
/// anything was written (`null` writes nothing).
fn field<'de, A: MapAccess<'de>>(
    map: &mut A,
    at: At,
    tag: u32,
    f: Field,
    o: &mut Out,
) -> Result<bool, A::Error> {
    let name = f.name;
    let nesting = at.nesting + 1;
    if f.repeated {
        return match f.ty {
            Ty::Msg(sub) => map.next_value_seed(Repeated {
                tag,
                m: sub,
                depth: at.depth,
                nesting,
                out: o,
            }),
            Ty::Str => {
                for s in map.next_value_seed(list(name, string(name)))? {
                    put_bytes(&mut o.buf, tag, s.as_bytes());
                }
                Ok(true)
            }
            Ty::PackedFixed64 => {
                let out = &mut o.buf;
                let values = map.next_value_seed(list(name, int::<u64>(name)))?;
                let len = values.len() * 8;
                if len > 0 {
                    encode_key(tag, WireType::LengthDelimited, out);
                    encode_varint(len as u64, out);
                    values
                        .iter()
                        .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
                }
                Ok(true)
            }
            Ty::PackedF64 => {
                let out = &mut o.buf;
                let values = map.next_value_seed(list(name, double(name)))?;
                let len = values.len() * 8;
                if len > 0 {
                    encode_key(tag, WireType::LengthDelimited, out);
                    encode_varint(len as u64, out);
                    values
                        .iter()
                        .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
                }
                Ok(true)
            }
            Ty::PackedVarintU64 => {
                let out = &mut o.buf;
                let values = map.next_value_seed(list(name, int::<u64>(name)))?;
                let len: usize = values.iter().map(|&v| encoded_len_varint(v)).sum();
                if len > 0 {
                    encode_key(tag, WireType::LengthDelimited, out);
                    encode_varint(len as u64, out);
                    values.iter().for_each(|&v| encode_varint(v, out));
                }
                Ok(true)
            }
            _ => Err(unusual()),
        };
    }
    match f.ty {
        Ty::Msg(sub) => {
            // Only an AnyValue's array or kvlist nests one level deeper.
            let depth = if at.m == M::AnyValue {
                if at.depth >= MAX_ANY_VALUE_DEPTH {
                    return Err(unusual());
                }
                at.depth + 1
            } else {
                at.depth
            };
            map.next_value_seed(OptSeed(Nested {
                tag,
                m: sub,
                depth,
                nesting,
                out: o,
            }))
            .map(|v| v.is_some())
        }
        Ty::Str => map.next_value_seed(StrSeed { tag, out: o }),
        Ty::Id => {
            let out = &mut o.buf;
            let seed = if name == "traceId" {
                trace_id(name)
            } else {
                span_id(name)
            };
            let id = map.next_value_seed(OptSeed(seed))?;
            if let Some(id) = id.as_deref().filter(|id| !id.is_empty()) {
                put_bytes(out, tag, id);
            }
            Ok(id.is_some())
        }
        Ty::Bytes => {
            let out = &mut o.buf;
            let value = map.next_value_seed(OptSeed(bytes(name)))?;
            if let Some(b) = &value {
                put_bytes(out, tag, b);
            }
            Ok(value.is_some())
        }
        _ => scalar(map, tag, f, &mut o.buf),
    }
}

/// A singular scalar field other than a string, an id or bytes.
fn scalar<'de, A: MapAccess<'de>>(
    map: &mut A,
    tag: u32,
    f: Field,
    out: &mut Vec<u8>,
) -> Result<bool, A::Error> {
    let name = f.name;
    match f.ty {
        Ty::Bool => put(map, boolean(name), |v| {
            encode_key(tag, WireType::Varint, out);
            encode_varint(u64::from(v), out);
        }),
        Ty::F64 => put(map, double(name), |v| {
            encode_key(tag, WireType::SixtyFourBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }),
        Ty::U64 => put(map, plain_int::<u64>(name), |v| {
            encode_key(tag, WireType::SixtyFourBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }),
        Ty::I64 => put(map, plain_int::<i64>(name), |v| {
            encode_key(tag, WireType::SixtyFourBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }),
        Ty::Fixed32 => put(map, plain_int::<u32>(name), |v| {
            encode_key(tag, WireType::ThirtyTwoBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }),
        Ty::U32 => put(map, plain_int::<u32>(name), |v| {
            encode_key(tag, WireType::Varint, out);
            encode_varint(v.into(), out);
        }),
        // int32 and int64 negatives are ten-byte varints of the i64.
        Ty::I32 => put(map, plain_int::<i32>(name), |v| {
            encode_key(tag, WireType::Varint, out);
            encode_varint(i64::from(v) as u64, out);
        }),
        Ty::Int64 => put(map, plain_int::<i64>(name), |v| {
            encode_key(tag, WireType::Varint, out);
            encode_varint(v as u64, out);
        }),
        Ty::Sint32 => put(map, plain_int::<i32>(name), |v| {
            encode_key(tag, WireType::Varint, out);
            encode_varint(u64::from(((v << 1) ^ (v >> 31)) as u32), out);
        }),
        _ => Err(unusual()),
    }
}

/// An integer as the decoder reads one, but without enum or flag names: a
/// name makes the body unusual, and the decoder reads it.
fn plain_int<T: Int>(name: &'static str) -> IntSeed<T> {
    int(name)
}

/// Reads a scalar with the decoder's `seed`; writes it with `write` unless null.
fn put<'de, A: MapAccess<'de>, S: DeserializeSeed<'de>>(
    map: &mut A,
    seed: S,
    write: impl FnOnce(S::Value),
) -> Result<bool, A::Error> {
    match map.next_value_seed(OptSeed(seed))? {
        Some(v) => {
            write(v);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// prost's `encode_varint` with the one-byte case (nearly every key and
/// length here) inline: prost's out-of-line call was 4 % of the JSON path.
#[inline(always)]
fn encode_varint(v: u64, out: &mut Vec<u8>) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        prost::encoding::encode_varint(v, out);
    }
}

/// prost's `encode_key`, the same bytes, through the inline [`encode_varint`].
#[inline(always)]
fn encode_key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    encode_varint(u64::from(tag << 3 | wire_type as u32), out);
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, b: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// Writes the key of a length-delimited field and one byte for its length;
/// returns where the contents start.
fn open(out: &mut Vec<u8>, tag: u32) -> usize {
    encode_key(tag, WireType::LengthDelimited, out);
    out.push(0);
    out.len()
}

/// Sets the length of the field opened at `start`; a length over one byte
/// moves the contents up (once per message, small next to the parse).
fn close(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    if len < 0x80 {
        out[start - 1] = len as u8;
        return;
    }
    let extra = encoded_len_varint(len as u64) - 1;
    out.resize(out.len() + extra, 0);
    out.copy_within(start..start + len, start + extra);
    let mut at = start - 1;
    let mut v = len;
    while v >= 0x80 {
        out[at] = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
        at += 1;
    }
    out[at] = v as u8;
}

/// One singular message field, key and length included.
struct Nested<'a> {
    tag: u32,
    m: M,
    depth: u8,
    nesting: u32,
    out: &'a mut Out,
}

impl<'de> DeserializeSeed<'de> for Nested<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let start = open(&mut self.out.buf, self.tag);
        MsgSeed {
            m: self.m,
            depth: self.depth,
            nesting: self.nesting,
            out: self.out,
        }
        .deserialize(d)?;
        close(&mut self.out.buf, start);
        Ok(())
    }
}

/// A repeated message field: an array (a `null` element is an empty
/// message, as in the decoder) or `null` for none.
struct Repeated<'a> {
    tag: u32,
    m: M,
    depth: u8,
    nesting: u32,
    out: &'a mut Out,
}

impl<'de> DeserializeSeed<'de> for Repeated<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Repeated<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<bool, S::Error> {
        // A key-value array is one attribute set (or one kvlist).
        let max = match self.m {
            M::KeyValue => self.out.limits.max_attributes,
            _ => usize::MAX,
        };
        let mut count = 0usize;
        loop {
            let mark = self.out.buf.len();
            let start = open(&mut self.out.buf, self.tag);
            let element = MsgSeed {
                m: self.m,
                depth: self.depth,
                nesting: self.nesting,
                out: self.out,
            };
            if seq.next_element_seed(element)?.is_none() {
                // No element after all: take the key and length back.
                self.out.buf.truncate(mark);
                return Ok(true);
            }
            close(&mut self.out.buf, start);
            count += 1;
            if count > max {
                return Err(self.out.over());
            }
        }
    }
}

/// A string field, borrowed from the input unless it holds escapes; `null`
/// writes nothing (the default), any other value is an error.
struct StrSeed<'a> {
    tag: u32,
    out: &'a mut Out,
}

impl<'de> DeserializeSeed<'de> for StrSeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        put_bytes(&mut self.out.buf, self.tag, v.as_bytes());
        Ok(true)
    }
}

/// The field of `m` named `key` (lowerCamelCase or the proto name).
fn lookup(m: M, key: &str) -> Option<(u32, Field)> {
    names()
        .get(m as usize)?
        .iter()
        .find(|n| n.camel == key || n.snake == key)
        .map(|n| (n.tag, n.field))
}

struct Name {
    camel: &'static str,
    snake: String,
    tag: u32,
    field: Field,
}

/// The JSON names of every message's fields, indexed by `M as usize`: the
/// messages reachable from the three requests.
fn names() -> &'static [Vec<Name>] {
    static NAMES: std::sync::OnceLock<Vec<Vec<Name>>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut table: Vec<Vec<Name>> = Vec::new();
        let mut done = Vec::new();
        let mut todo: Vec<M> = [Signal::Logs, Signal::Metrics, Signal::Traces]
            .into_iter()
            .map(M::request)
            .collect();
        while let Some(m) = todo.pop() {
            if done.contains(&m) {
                continue;
            }
            done.push(m);
            if table.len() <= m as usize {
                table.resize_with(m as usize + 1, Vec::new);
            }
            for tag in 0..32 {
                let Some(field) = wire::field(m, tag) else {
                    continue;
                };
                if let Ty::Msg(sub) = field.ty {
                    todo.push(sub);
                }
                table[m as usize].push(Name {
                    camel: field.name,
                    snake: snake_case(field.name),
                    tag,
                    field,
                });
            }
        }
        table
    })
}

/// `timeUnixNano` → `time_unix_nano`.
fn snake_case(camel: &str) -> String {
    let mut s = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}
