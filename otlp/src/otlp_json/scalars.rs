//! Seeds for the JSON scalars of protobuf's JSON mapping, as tolerant as
//! protobuf's own parsers: 64-bit integers as numbers or strings, enums as
//! numbers or names, doubles as numbers or "NaN"/"Infinity" strings, ids as
//! hex, bytes as base64, and `null` as the default everywhere.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Unexpected, Visitor};

/// Looks up an enum value by its proto name, e.g. `SPAN_KIND_SERVER`.
pub(super) type Names = fn(&str) -> Option<i32>;

/// An object key, borrowed from the input unless it holds escapes.
pub(super) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The integer types of the OTLP messages; every one converts from `i128`,
/// which holds any JSON integer serde_json produces.
pub(super) trait Int: Copy + Default + TryFrom<i128> {}
impl Int for u64 {}
impl Int for i64 {}
impl Int for u32 {}
impl Int for i32 {}

/// An integer field: a JSON number, a decimal string, or (with `names`) an
/// enum or flag name.
pub(super) struct IntSeed<T> {
    field: &'static str,
    names: Option<Names>,
    _t: PhantomData<T>,
}

impl<T> Clone for IntSeed<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for IntSeed<T> {}

pub(super) fn int<T: Int>(field: &'static str) -> IntSeed<T> {
    IntSeed {
        field,
        names: None,
        _t: PhantomData,
    }
}

/// An enum field (numbers stay as they are: proto3 enums are open).
pub(super) fn enumeration(field: &'static str, names: Names) -> IntSeed<i32> {
    IntSeed {
        field,
        names: Some(names),
        _t: PhantomData,
    }
}

/// A flags field, which may also be given as one flag's name.
pub(super) fn flags(field: &'static str, names: Names) -> IntSeed<u32> {
    IntSeed {
        field,
        names: Some(names),
        _t: PhantomData,
    }
}

impl<T: Int> IntSeed<T> {
    fn convert<E: de::Error>(&self, v: i128) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format_args!("{} out of range: {v}", self.field)))
    }
}

impl<'de, T: Int> DeserializeSeed<'de> for IntSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Int> Visitor<'de> for IntSeed<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.names {
            Some(_) => write!(f, "{} as a number or a name", self.field),
            None => write!(f, "{} as an integer or a string of one", self.field),
        }
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.convert(v.into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.convert(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        match integral(v) {
            Some(n) => self.convert(n),
            None => Err(E::invalid_value(Unexpected::Float(v), &self)),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        if let Some(n) = parse_i128(v) {
            return self.convert(n);
        }
        if let Some(n) = self.names.and_then(|names| names(v)) {
            return self.convert(n.into());
        }
        match v.parse::<f64>() {
            Ok(f) if f.is_finite() => self.visit_f64(f),
            _ if self.names.is_some() => Err(E::custom(format_args!(
                "unknown {} {:?}",
                self.field,
                truncate(v, 64)
            ))),
            _ => Err(E::invalid_value(Unexpected::Str(truncate(v, 64)), &self)),
        }
    }
}

/// A JSON float that is an integer: 1e3 and 5.0 are, as proto3 JSON parsers
/// accept them.
pub(super) fn integral(v: f64) -> Option<i128> {
    (v.fract() == 0.0 && v.abs() < 1e38).then_some(v as i128)
}

/// `v.parse::<i128>()`, with the decimal strings of 64-bit timestamps (every
/// `timeUnixNano`) read without the 128-bit arithmetic.
pub(super) fn parse_i128(v: &str) -> Option<i128> {
    // Nineteen digits never overflow a u64.
    if (1..=19).contains(&v.len()) && v.bytes().all(|c| c.is_ascii_digit()) {
        let n = v.bytes().fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
        return Some(n.into());
    }
    v.parse().ok()
}

/// An integer field given as a string, without enum or flag names: a
/// decimal, or a float string that is an integer ("1e3").
pub(super) fn int_of_str<T: Int>(v: &str) -> Option<T> {
    if let Some(n) = parse_i128(v) {
        return T::try_from(n).ok();
    }
    match v.parse::<f64>() {
        Ok(f) if f.is_finite() => T::try_from(integral(f)?).ok(),
        _ => None,
    }
}

/// A double given as a string.
pub(super) fn double_of_str(v: &str) -> Option<f64> {
    match v {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => v.parse().ok(),
    }
}

/// A double: a JSON number, "NaN", "Infinity", "-Infinity" or a numeric string.
#[derive(Clone, Copy)]
pub(super) struct DoubleSeed(&'static str);

pub(super) fn double(field: &'static str) -> DoubleSeed {
    DoubleSeed(field)
}

impl<'de> DeserializeSeed<'de> for DoubleSeed {
    type Value = f64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DoubleSeed {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as a number", self.0)
    }
    fn visit_unit<E>(self) -> Result<f64, E> {
        Ok(0.0)
    }
    fn visit_u64<E>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_f64<E>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        double_of_str(v).ok_or_else(|| E::invalid_value(Unexpected::Str(truncate(v, 64)), &self))
    }
}

/// A bool; `null` is false.
#[derive(Clone, Copy)]
pub(super) struct BoolSeed(&'static str);

pub(super) fn boolean(field: &'static str) -> BoolSeed {
    BoolSeed(field)
}

impl<'de> DeserializeSeed<'de> for BoolSeed {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BoolSeed {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as true or false", self.0)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
}

/// A string; `null` is empty.
#[derive(Clone, Copy)]
pub(super) struct StringSeed(&'static str);

pub(super) fn string(field: &'static str) -> StringSeed {
    StringSeed(field)
}

impl<'de> DeserializeSeed<'de> for StringSeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringSeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as a string", self.0)
    }
    fn visit_unit<E>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

/// A trace or span id as hex (any case); empty means no id. OTLP/JSON uses
/// hex here, not protobuf JSON's base64.
#[derive(Clone, Copy)]
pub(super) struct HexIdSeed {
    field: &'static str,
    len: usize,
}

pub(super) fn trace_id(field: &'static str) -> HexIdSeed {
    HexIdSeed { field, len: 16 }
}

pub(super) fn span_id(field: &'static str) -> HexIdSeed {
    HexIdSeed { field, len: 8 }
}

impl<'de> DeserializeSeed<'de> for HexIdSeed {
    type Value = Vec<u8>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HexIdSeed {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as a hex string", self.field)
    }
    fn visit_unit<E>(self) -> Result<Vec<u8>, E> {
        Ok(Vec::new())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        if v.is_empty() {
            return Ok(Vec::new());
        }
        if v.len() != self.len * 2 {
            return Err(E::custom(format_args!(
                "{} must be {} hex digits, got {}",
                self.field,
                self.len * 2,
                v.chars().count()
            )));
        }
        let mut id = vec![0; self.len];
        match hex(v.as_bytes(), &mut id) {
            true => Ok(id),
            false => Err(E::custom(format_args!("invalid hex in {}", self.field))),
        }
    }
}

/// Decodes the hex `digits` into `out`, which is half as long; false if a
/// digit is not hex (either case).
pub(super) fn hex(digits: &[u8], out: &mut [u8]) -> bool {
    debug_assert_eq!(digits.len(), out.len() * 2);
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => *byte = hi << 4 | lo,
            _ => return false,
        }
    }
    true
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bytes as base64, standard or url-safe, padded or not (as protobuf's JSON
/// parsers accept).
#[derive(Clone, Copy)]
pub(super) struct BytesSeed(&'static str);

pub(super) fn bytes(field: &'static str) -> BytesSeed {
    BytesSeed(field)
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

impl<'de> DeserializeSeed<'de> for BytesSeed {
    type Value = Vec<u8>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BytesSeed {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as a base64 string", self.0)
    }
    fn visit_unit<E>(self) -> Result<Vec<u8>, E> {
        Ok(Vec::new())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        base64(v.as_bytes()).ok_or_else(|| E::custom(format_args!("invalid base64 in {}", self.0)))
    }
}

/// Decodes base64, standard or url-safe, padded or not.
pub(super) fn base64(v: &[u8]) -> Option<Vec<u8>> {
    let engine = if v.iter().any(|&c| c == b'-' || c == b'_') {
        &URL_SAFE
    } else {
        &STANDARD
    };
    engine.decode(v).ok()
}

/// A repeated field: an array of `seed`'s values; `null` is empty.
#[derive(Clone, Copy)]
pub(super) struct ListSeed<S> {
    field: &'static str,
    seed: S,
}

pub(super) fn list<S>(field: &'static str, seed: S) -> ListSeed<S> {
    ListSeed { field, seed }
}

impl<'de, S: DeserializeSeed<'de> + Copy> DeserializeSeed<'de> for ListSeed<S> {
    type Value = Vec<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: DeserializeSeed<'de> + Copy> Visitor<'de> for ListSeed<S> {
    type Value = Vec<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as an array", self.field)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.seed)? {
            items.push(item);
        }
        Ok(items)
    }
}

/// A field whose `null` means "absent" rather than a default value: optional
/// messages, optional doubles and oneof members.
#[derive(Clone, Copy)]
pub(super) struct OptSeed<S>(pub S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for OptSeed<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OptSeed<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value or null")
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// At most `max` bytes of `s`, cut on a char boundary, so error messages
/// quoting untrusted input stay short.
pub(super) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
