//! Writes OTLP/JSON as the Collector's marshaler does: lowerCamelCase keys,
//! hex ids, 64-bit integers as strings, enums as numbers, default-valued
//! fields left out. Everything goes straight into the output buffer.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

use super::escaped::escaped_bytes;
use crate::records::Records;

/// Appends `batch` as one OTLP/JSON export request, without a newline.
pub fn encode(batch: &Records, out: &mut Vec<u8>) {
    match batch {
        Records::Logs(r) => r.encode(out),
        Records::Metrics(r) => r.encode(out),
        Records::Traces(r) => r.encode(out),
    }
}

/// Appends an OTLP/JSON AnyValue object, e.g. `{"stringValue":"x"}`.
pub fn write_any_value(value: &AnyValue, out: &mut Vec<u8>) {
    value.encode(out);
}

/// Appends the value as plain JSON (`"x"`, `12`, `true`, `[..]`, `{"k":..}`)
/// for flat, jq-friendly output. Integers are JSON numbers here; bytes are
/// base64 strings; NaN and infinities are strings; no value is `null`.
pub fn write_plain_value(value: &AnyValue, out: &mut Vec<u8>) {
    match &value.value {
        Some(Value::StringValue(s)) => write_json_string(s, out),
        Some(Value::BoolValue(b)) => write_bool(*b, out),
        Some(Value::IntValue(i)) => write_int(*i, out),
        Some(Value::DoubleValue(d)) => write_double(*d, out),
        Some(Value::ArrayValue(a)) => write_array(&a.values, out, write_plain_value),
        Some(Value::KvlistValue(kv)) => write_plain_attributes(&kv.values, out),
        Some(Value::BytesValue(b)) => write_base64(b, out),
        Some(Value::StringValueStrindex(i)) => write_int(*i, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends attributes as one plain JSON object, `{"key": plain value, ...}`.
pub fn write_plain_attributes(attrs: &[KeyValue], out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, kv) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(&kv.key, out);
        out.push(b':');
        match &kv.value {
            Some(v) => write_plain_value(v, out),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
}

/// Appends `s` quoted and escaped: `\"`, `\\`, `\n`, `\r`, `\t`, other control
/// characters as `\u00XX`; everything else as is (UTF-8).
pub fn write_json_string(s: &str, out: &mut Vec<u8>) {
    write_json_bytes(s.as_bytes(), out);
}

/// What each byte becomes after a `\`: 0 for a byte written as is, `u` for
/// a control character without a short escape (`\u00XX`).
static ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// [`write_json_string`] of the bytes of a string already known to be UTF-8
/// (they are copied as they are). Runs of plain bytes are found eight at a
/// time and copied in one go.
pub(crate) fn write_json_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Past the last whole word, the string's last eight bytes (some
        // already seen): a plain tail ends the loop without a byte loop.
        if let Some(word) = bytes[i..].first_chunk::<8>().or(bytes.last_chunk::<8>()) {
            if escaped_bytes(u64::from_le_bytes(*word)) == 0 {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let escape = ESCAPES[usize::from(b)];
        if escape != 0 {
            out.extend_from_slice(&bytes[start..i]);
            out.push(b'\\');
            out.push(escape);
            if escape == b'u' {
                out.extend_from_slice(b"00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

// ---- scalars ----

pub(super) fn write_bool(b: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

pub(super) use crate::write::write_int;

/// 64-bit integers are strings in proto3 JSON (JavaScript loses precision).
pub(super) fn write_quoted_int(i: impl itoa::Integer, out: &mut Vec<u8>) {
    out.push(b'"');
    write_int(i, out);
    out.push(b'"');
}

pub(super) fn write_double(d: f64, out: &mut Vec<u8>) {
    if d.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(d).as_bytes());
    } else if d.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if d > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

/// A byte id as proto3 JSON writes it for OTLP: quoted lower-case hex.
pub(super) fn write_quoted_hex(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() * 2 + 2);
    out.push(b'"');
    crate::write::write_hex(bytes, out);
    out.push(b'"');
}

pub(super) fn write_base64(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    // The slice is exactly encoded_len long, so this cannot fail.
    let written = STANDARD.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

fn write_array<T>(items: &[T], out: &mut Vec<u8>, write: impl Fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

// ---- objects ----

/// Writes one JSON object's fields, leaving out those equal to their default.
pub(super) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    pub(super) fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Starts a field; its value is written into the returned buffer.
    pub(super) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub(super) fn end(self) {
        self.out.push(b'}');
    }

    pub(super) fn string(&mut self, key: &str, v: &str) {
        if !v.is_empty() {
            write_json_string(v, self.key(key));
        }
    }

    pub(super) fn boolean(&mut self, key: &str, v: bool) {
        if v {
            write_bool(v, self.key(key));
        }
    }

    /// uint32, int32, sint32, fixed32 and enums: plain numbers.
    pub(super) fn int(&mut self, key: &str, v: impl itoa::Integer + Default + PartialEq) {
        if v != Default::default() {
            write_int(v, self.key(key));
        }
    }

    /// uint64, int64, fixed64: strings.
    pub(super) fn long(&mut self, key: &str, v: u64) {
        if v != 0 {
            write_quoted_int(v, self.key(key));
        }
    }

    pub(super) fn double(&mut self, key: &str, v: f64) {
        if v != 0.0 {
            write_double(v, self.key(key));
        }
    }

    /// An optional double: written whenever present, even when zero.
    pub(super) fn opt_double(&mut self, key: &str, v: Option<f64>) {
        if let Some(v) = v {
            write_double(v, self.key(key));
        }
    }

    pub(super) fn hex(&mut self, key: &str, v: &[u8]) {
        if !v.is_empty() {
            write_quoted_hex(v, self.key(key));
        }
    }

    pub(super) fn msg<T: Encode>(&mut self, key: &str, v: Option<&T>) {
        if let Some(v) = v {
            v.encode(self.key(key));
        }
    }

    pub(super) fn list<T: Encode>(&mut self, key: &str, items: &[T]) {
        self.list_with(key, items, T::encode);
    }

    pub(super) fn list_with<T>(
        &mut self,
        key: &str,
        items: &[T],
        write: impl Fn(&T, &mut Vec<u8>),
    ) {
        if !items.is_empty() {
            write_array(items, self.key(key), write);
        }
    }
}

/// A message written as an OTLP/JSON object.
pub(super) trait Encode {
    fn encode(&self, out: &mut Vec<u8>);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain byte-at-a-time escaper the word-at-a-time one must equal.
    fn reference(bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![b'"'];
        for &b in bytes {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => out.push(b),
            }
        }
        out.push(b'"');
        out
    }

    /// Every byte value at every place of a word, after and before runs of
    /// plain ASCII and of UTF-8 (whose bytes are all 0x80 and above).
    #[test]
    fn escapes_every_byte_wherever_it_falls() {
        for filler in ["a", "é"] {
            for len in 0..=17 {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut bytes = filler.repeat(len).into_bytes();
                        bytes[at] = b;
                        let mut out = Vec::new();
                        write_json_bytes(&bytes, &mut out);
                        assert_eq!(out, reference(&bytes), "byte {b:#04x} at {at} of {len}");
                    }
                }
            }
        }
        let mut out = Vec::new();
        write_json_string("tab\there \"q\" back\\slash\u{1}\u{7f}", &mut out);
        assert_eq!(out, b"\"tab\\there \\\"q\\\" back\\\\slash\\u0001\x7f\"");
    }
}
