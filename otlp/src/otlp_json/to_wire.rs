//! OTLP/JSON transcoded straight to protobuf bytes, without building the
//! prost structs: a byte-level JSON reader ([`super::reader`]) with a
//! protobuf writer at each field, driven by the field table of
//! [`crate::wire`]. A request that stays encoded skips the allocation of
//! every key, string and message of the decode (most of its CPU), and takes
//! a quarter of the memory in the pipeline's queues.
//!
//! The bytes always mean what [`decode`](super::decode) reads from the same
//! body: scalars are read as the decoder's seeds read them (the same
//! helpers of [`super::scalars`], numbers classified as serde_json does),
//! and whatever this writer cannot say the same way answers [`Unusual`], so
//! the caller decodes the usual way (which also gives the exact error of a
//! bad body). Unusual is: a field given twice (the decoder keeps the last,
//! protobuf would merge or concatenate), two members of one oneof, an enum
//! or flag given by name, AnyValues nested past the decoder's limit, an
//! integer past 64 bits, and any error.
//!
//! For the receivers, [`to_encoded`] also counts the items and checks the
//! attribute [`Limits`] as it writes, so the bytes are not walked a second
//! time by [`wire::scan_within`]: the transcode writes every field at most
//! once (a repeat is unusual), so nothing merges, and the scan's verdict on
//! the bytes reduces to: every key-value array within `max_attributes`,
//! every AnyValue at a level within `max_attribute_depth`, and messages
//! nested no deeper than prost's recursion limit.

use bytes::Bytes;
use prost::encoding::{encoded_len_varint, WireType};

use super::decode::MAX_ANY_VALUE_DEPTH;
use super::lengths::{open, Lengths};
use super::reader::{Bad, Number, Reader};
use super::scalars::{base64, double_of_str, hex, int_of_str, integral, Int};
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

impl From<Bad> for Refused {
    fn from(_: Bad) -> Self {
        Refused::Unusual
    }
}

/// The bytes and their item count; messages nested deeper than
/// `max_nesting` (the request is 0) are unusual.
pub(crate) fn transcode(
    signal: Signal,
    body: &[u8],
    limits: &Limits,
    max_nesting: u32,
) -> Result<(Vec<u8>, usize), Refused> {
    let mut t = Transcode {
        json: Reader::new(body),
        // Claude Code's log records come out at 0.52-0.53 of their JSON:
        // 9/16 holds them without doubling (a copy of everything written).
        out: Vec::with_capacity(body.len() / 16 * 9 + 16),
        lengths: Lengths::default(),
        items: 0,
        limits: *limits,
        max_nesting,
        names: names(),
    };
    t.message(M::request(signal), 0, 0)?;
    t.json.end()?;
    let Transcode {
        mut out,
        lengths,
        items,
        ..
    } = t;
    lengths.finish(&mut out);
    // The bytes wait in queues and batches, which count their length: a
    // buffer that outgrew the estimate (doubling) must not hold twice that.
    if out.capacity() - out.len() > out.len() / 8 {
        out.shrink_to_fit();
    }
    Ok((out, items))
}

/// One transcode: the JSON read, the protobuf written, what it counts.
struct Transcode<'a> {
    json: Reader<'a>,
    out: Vec<u8>,
    lengths: Lengths,
    /// Items written, as [`crate::Records::item_count`] counts them.
    items: usize,
    limits: Limits,
    max_nesting: u32,
    names: &'static [Vec<Name>],
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

/// A field's key, as the member's name reads.
enum Key {
    Known(usize),
    Unknown(Vec<u8>),
}

impl Transcode<'_> {
    /// The fields of a message (an object, or `null` for none) of type `m`
    /// with `depth` AnyValue containers and `nesting` messages around it;
    /// returns the bytes its lengths need beyond the one byte each has.
    fn message(&mut self, m: M, depth: u8, nesting: u32) -> Result<usize, Refused> {
        // Checked where a message is written, `null` elements included, as
        // the scan finds them.
        if nesting > self.max_nesting {
            return Err(Refused::Unusual);
        }
        // An AnyValue sits at level depth + 1.
        if m == M::AnyValue && usize::from(depth) >= self.limits.max_attribute_depth {
            return Err(Refused::OverLimits);
        }
        self.items += usize::from(is_item(m));
        if self.json.null()? {
            return Ok(0);
        }
        self.json.begin_object()?;
        let names = self.names.get(m as usize).ok_or(Refused::Unusual)?;
        let mut seen = 0u32;
        let mut oneofs = 0u8;
        let mut inner = 0;
        // Where the next key most likely is: JSON writers keep schema order.
        let mut hint = 0;
        // Unknown keys seen, kept only to find one given twice (rare).
        let mut unknown: Vec<Vec<u8>> = Vec::new();
        let mut first = true;
        while let Some(key) = self.json.next_key(first, |k| lookup(names, hint, k))? {
            first = false;
            let i = match key {
                Key::Known(i) => i,
                Key::Unknown(k) => {
                    // A duplicate key is refused; the decoder says which.
                    if unknown.contains(&k) {
                        return Err(Refused::Unusual);
                    }
                    self.json.skip()?;
                    unknown.push(k);
                    continue;
                }
            };
            hint = i + 1;
            let Name { tag, field: f, .. } = names[i];
            if seen & (1 << tag) != 0 {
                return Err(Refused::Unusual);
            }
            seen |= 1 << tag;
            let (wrote, extra) = self.field(m, depth, nesting, tag, f)?;
            inner += extra;
            if f.oneof != 0 && wrote {
                let group = 1 << f.oneof;
                if oneofs & group != 0 {
                    return Err(Refused::Unusual);
                }
                oneofs |= group;
            }
        }
        Ok(inner)
    }

    /// Reads the value of field `tag` of `m` and writes it; says whether
    /// anything was written (`null` writes nothing) and the extra bytes of
    /// the lengths written.
    fn field(
        &mut self,
        m: M,
        depth: u8,
        nesting: u32,
        tag: u32,
        f: Field,
    ) -> Result<(bool, usize), Refused> {
        let nesting = nesting + 1;
        if f.repeated {
            return match f.ty {
                Ty::Msg(sub) => self.repeated(tag, sub, depth, nesting),
                _ => self.list(tag, f.ty).map(|extra| (true, extra)),
            };
        }
        match f.ty {
            Ty::Msg(sub) => {
                // Only an AnyValue's array or kvlist nests one level deeper.
                let depth = if m == M::AnyValue {
                    if depth >= MAX_ANY_VALUE_DEPTH {
                        return Err(Refused::Unusual);
                    }
                    depth + 1
                } else {
                    depth
                };
                if self.json.null()? {
                    return Ok((false, 0));
                }
                let start = open(&mut self.out, tag);
                let inner = self.message(sub, depth, nesting)?;
                let extra = self.lengths.close(&mut self.out, start, inner);
                Ok((true, inner + extra))
            }
            _ => self.scalar(tag, f).map(|wrote| (wrote, 0)),
        }
    }

    /// A repeated message field: an array (a `null` element is an empty
    /// message, as in the decoder) or `null` for none.
    fn repeated(
        &mut self,
        tag: u32,
        m: M,
        depth: u8,
        nesting: u32,
    ) -> Result<(bool, usize), Refused> {
        if self.json.null()? {
            return Ok((false, 0));
        }
        // A key-value array is one attribute set (or one kvlist).
        let max = match m {
            M::KeyValue => self.limits.max_attributes,
            _ => usize::MAX,
        };
        self.json.begin_array()?;
        let mut count = 0usize;
        let mut extra = 0;
        while self.json.next_element(count == 0)? {
            if m == M::KeyValue && self.plain_attribute(tag, depth, nesting)? {
                count += 1;
                if count > max {
                    return Err(Refused::OverLimits);
                }
                continue;
            }
            let start = open(&mut self.out, tag);
            let inner = self.message(m, depth, nesting)?;
            extra += inner + self.lengths.close(&mut self.out, start, inner);
            count += 1;
            if count > max {
                return Err(Refused::OverLimits);
            }
        }
        Ok((true, extra))
    }

    /// The shape of nearly every attribute, `{"key":"k","value":{"stringValue":"v"}}`
    /// (or a bool, int or double value), compact and without escapes, read
    /// as literal bytes instead of tokens and keys, and written with its
    /// lengths known. Anything else is left to [`message`](Self::message):
    /// `false`, with nothing taken or written. Only taken where the general
    /// walk would pass the element's checks (nesting, the value's level).
    fn plain_attribute(&mut self, tag: u32, depth: u8, nesting: u32) -> Result<bool, Refused> {
        if nesting + 1 > self.max_nesting
            || usize::from(depth) >= self.limits.max_attribute_depth
            || !self.json.room(2)
        {
            return Ok(false);
        }
        enum Plain<'a> {
            Str(&'a [u8]),
            Bool(bool),
            Int(i64),
            Double(f64),
        }
        let mark = self.json.mark();
        let json = &mut self.json;
        let key = match json.take(b"{\"key\":") {
            true => json.plain_string()?,
            false => None,
        };
        let Some(key) = key.filter(|_| json.take(b",\"value\":{\"")) else {
            json.rewind(mark);
            return Ok(false);
        };
        let value = if json.take(b"stringValue\":") {
            json.plain_string()?.map(Plain::Str)
        } else if json.take(b"boolValue\":") && json.peek()? != b'n' {
            Some(Plain::Bool(json.boolean()?))
        } else if json.take(b"intValue\":") && json.peek()? != b'n' {
            Some(Plain::Int(self.int::<i64>()?))
        } else if json.take(b"doubleValue\":") && json.peek()? != b'n' {
            Some(Plain::Double(self.double()?))
        } else {
            None
        };
        let Some(value) = value.filter(|_| self.json.take(b"}}")) else {
            self.json.rewind(mark);
            return Ok(false);
        };
        let value_len = match value {
            Plain::Str(s) => 1 + encoded_len_varint(s.len() as u64) + s.len(),
            Plain::Bool(_) => 2,
            Plain::Int(v) => 1 + encoded_len_varint(v as u64),
            Plain::Double(_) => 9,
        };
        let len = 1
            + encoded_len_varint(key.len() as u64)
            + key.len()
            + 1
            + encoded_len_varint(value_len as u64)
            + value_len;
        let out = &mut self.out;
        self::key(tag, WireType::LengthDelimited, out);
        encode_varint(len as u64, out);
        put_bytes(out, 1, key);
        self::key(2, WireType::LengthDelimited, out);
        encode_varint(value_len as u64, out);
        match value {
            Plain::Str(s) => put_bytes(out, 1, s),
            Plain::Bool(v) => out.extend_from_slice(&[0x10, u8::from(v)]),
            Plain::Int(v) => {
                out.push(0x18);
                encode_varint(v as u64, out);
            }
            Plain::Double(v) => {
                out.push(0x21);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(true)
    }

    /// A repeated scalar field: an array (`null` elements are the default)
    /// or `null` for none; numbers are written packed.
    fn list(&mut self, tag: u32, ty: Ty) -> Result<usize, Refused> {
        if self.json.null()? {
            return Ok(0);
        }
        self.json.begin_array()?;
        let mark = self.out.len();
        let start = match ty {
            Ty::Str => 0,
            Ty::PackedFixed64 | Ty::PackedF64 | Ty::PackedVarintU64 => open(&mut self.out, tag),
            _ => return Err(Refused::Unusual),
        };
        let mut first = true;
        while self.json.next_element(first)? {
            first = false;
            let null = self.json.null()?;
            let out = &mut self.out;
            match ty {
                Ty::Str if null => put_bytes(out, tag, b""),
                Ty::Str => self.json.string(|s| put_bytes(out, tag, s))?,
                Ty::PackedFixed64 => {
                    let v = if null { 0 } else { self.int::<u64>()? };
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
                Ty::PackedF64 => {
                    let v = if null { 0.0 } else { self.double()? };
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
                _ => {
                    let v = if null { 0 } else { self.int::<u64>()? };
                    encode_varint(v, &mut self.out);
                }
            }
        }
        if ty == Ty::Str {
            return Ok(0);
        }
        if first {
            // No element: no field.
            self.out.truncate(mark);
            return Ok(0);
        }
        Ok(self.lengths.close(&mut self.out, start, 0))
    }

    /// A singular field other than a message; says whether it was written
    /// (`null` is not).
    fn scalar(&mut self, tag: u32, f: Field) -> Result<bool, Refused> {
        if self.json.null()? {
            return Ok(false);
        }
        match f.ty {
            Ty::Str => {
                let out = &mut self.out;
                self.json.string(|s| put_bytes(out, tag, s))?;
            }
            Ty::Id => {
                let len = if f.name == "traceId" { 16 } else { 8 };
                let out = &mut self.out;
                self.json.string(|s| id(out, tag, len, s))??;
            }
            Ty::Bytes => {
                let out = &mut self.out;
                self.json
                    .string(|s| base64(s).map(|b| put_bytes(out, tag, &b)))?
                    .ok_or(Refused::Unusual)?;
            }
            Ty::Bool => {
                let v = self.json.boolean()?;
                key(tag, WireType::Varint, &mut self.out);
                self.out.push(u8::from(v));
            }
            Ty::F64 => {
                let v = self.double()?;
                self.fixed64(tag, v.to_bits());
            }
            Ty::U64 => {
                let v = self.int::<u64>()?;
                self.fixed64(tag, v);
            }
            Ty::I64 => {
                let v = self.int::<i64>()?;
                self.fixed64(tag, v as u64);
            }
            Ty::Fixed32 => {
                let v = self.int::<u32>()?;
                key(tag, WireType::ThirtyTwoBit, &mut self.out);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
            Ty::U32 => {
                let v = self.int::<u32>()?;
                self.varint(tag, v.into());
            }
            // int32 and int64 negatives are ten-byte varints of the i64.
            Ty::I32 => {
                let v = self.int::<i32>()?;
                self.varint(tag, i64::from(v) as u64);
            }
            Ty::Int64 => {
                let v = self.int::<i64>()?;
                self.varint(tag, v as u64);
            }
            Ty::Sint32 => {
                let v = self.int::<i32>()?;
                self.varint(tag, u64::from(((v << 1) ^ (v >> 31)) as u32));
            }
            _ => return Err(Refused::Unusual),
        }
        Ok(true)
    }

    fn fixed64(&mut self, tag: u32, v: u64) {
        key(tag, WireType::SixtyFourBit, &mut self.out);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn varint(&mut self, tag: u32, v: u64) {
        key(tag, WireType::Varint, &mut self.out);
        encode_varint(v, &mut self.out);
    }

    /// An integer as the decoder reads one, but without enum or flag names:
    /// a name makes the body unusual, and the decoder reads it.
    fn int<T: Int>(&mut self) -> Result<T, Refused> {
        let wide = match self.json.peek()? {
            b'"' => return self.json.string(int_text)?.ok_or(Refused::Unusual),
            _ => match self.json.number()? {
                Number::U64(v) => i128::from(v),
                Number::I64(v) => i128::from(v),
                Number::F64(v) => integral(v).ok_or(Refused::Unusual)?,
            },
        };
        T::try_from(wide).map_err(|_| Refused::Unusual)
    }

    /// A double: a number, "NaN", "Infinity", "-Infinity" or a numeric string.
    fn double(&mut self) -> Result<f64, Refused> {
        match self.json.peek()? {
            b'"' => self.json.string(double_text)?.ok_or(Refused::Unusual),
            _ => Ok(match self.json.number()? {
                Number::U64(v) => v as f64,
                Number::I64(v) => v as f64,
                Number::F64(v) => v,
            }),
        }
    }
}

fn int_text<T: Int>(s: &[u8]) -> Option<T> {
    int_of_str(std::str::from_utf8(s).ok()?)
}

fn double_text(s: &[u8]) -> Option<f64> {
    double_of_str(std::str::from_utf8(s).ok()?)
}

/// A trace or span id of `len` bytes as hex; empty is no id (nothing written).
fn id(out: &mut Vec<u8>, tag: u32, len: usize, hex_digits: &[u8]) -> Result<(), Refused> {
    if hex_digits.is_empty() {
        return Ok(());
    }
    if hex_digits.len() != len * 2 {
        return Err(Refused::Unusual);
    }
    let mut id = [0u8; 16];
    if !hex(hex_digits, &mut id[..len]) {
        return Err(Refused::Unusual);
    }
    put_bytes(out, tag, &id[..len]);
    Ok(())
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
fn key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    encode_varint(u64::from(tag << 3 | wire_type as u32), out);
}

#[inline]
fn put_bytes(out: &mut Vec<u8>, tag: u32, b: &[u8]) {
    key(tag, WireType::LengthDelimited, out);
    encode_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// The field of a message named `key` (lowerCamelCase or the proto name)
/// among its `names`, looked for from `hint` on.
#[inline]
fn lookup(names: &[Name], hint: usize, key: &[u8]) -> Key {
    let hint = hint.min(names.len());
    let is = |n: &Name| n.camel == key || *n.snake == *key;
    let (earlier, later) = names.split_at(hint);
    later
        .iter()
        .position(is)
        .map(|i| hint + i)
        .or_else(|| earlier.iter().position(is))
        .map_or_else(|| Key::Unknown(key.to_vec()), Key::Known)
}

struct Name {
    camel: &'static [u8],
    snake: Box<[u8]>,
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
                    camel: field.name.as_bytes(),
                    snake: snake_case(field.name).into_bytes().into(),
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
