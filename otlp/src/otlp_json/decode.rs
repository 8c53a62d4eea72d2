//! Decodes an OTLP/JSON export request straight into the prost structs with
//! serde_json's streaming parser: no intermediate `Value`, keys borrowed from
//! the input, unknown fields skipped without allocating.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::scalars::KeySeed;
use super::JsonError;
use crate::records::{Records, Signal};

/// How deep AnyValues may nest (arrays and kvlists inside each other).
pub(super) const MAX_ANY_VALUE_DEPTH: u8 = 64;

/// Decodes one OTLP/JSON export request of `signal` (e.g. `{"resourceLogs":[...]}`).
pub fn decode(signal: Signal, body: &[u8]) -> Result<Records, JsonError> {
    decode_json(signal, body).map_err(json_error)
}

fn decode_json(signal: Signal, body: &[u8]) -> serde_json::Result<Records> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let batch = match signal {
        Signal::Logs => Records::Logs(msg().deserialize(&mut de)?),
        Signal::Metrics => Records::Metrics(msg().deserialize(&mut de)?),
        Signal::Traces => Records::Traces(msg().deserialize(&mut de)?),
    };
    de.end()?;
    Ok(batch)
}

/// A protobuf message read from a JSON object one field at a time.
pub(super) trait Message: Default {
    /// The message's name, for error messages.
    const NAME: &'static str;

    /// Reads the value of the field named `key` (lowerCamelCase or the proto
    /// name) from `map`, skipping unknown fields. `depth` counts the
    /// AnyValue containers around this message.
    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        depth: u8,
    ) -> Result<(), A::Error>;
}

/// Reads a message; `null` is the default message.
pub(super) struct MsgSeed<T> {
    depth: u8,
    _t: PhantomData<T>,
}

impl<T> Clone for MsgSeed<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for MsgSeed<T> {}

/// A message outside any AnyValue.
pub(super) fn msg<T: Message>() -> MsgSeed<T> {
    msg_at(0)
}

/// A message nested `depth` AnyValue containers deep.
pub(super) fn msg_at<T: Message>(depth: u8) -> MsgSeed<T> {
    MsgSeed {
        depth,
        _t: PhantomData,
    }
}

impl<'de, T: Message> DeserializeSeed<'de> for MsgSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Message> Visitor<'de> for MsgSeed<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as an object", T::NAME)
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut message = T::default();
        // A key given twice is refused, as the Collector's parser does:
        // "last one wins" would silently drop data. Objects have a handful
        // of keys, so a list is the cheapest set.
        let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {:?} in {}",
                    super::scalars::truncate(&key, 100),
                    T::NAME
                )));
            }
            message.field(&key, &mut map, self.depth)?;
            seen.push(key);
        }
        Ok(message)
    }
}

/// Skips the value of an unknown field (forward compatibility).
pub(super) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// Sets a oneof: a second member (or the same one twice) is an error, as in
/// protobuf's JSON parsers; an absent (`null`) member sets nothing.
pub(super) fn set_oneof<T, E: de::Error>(
    slot: &mut Option<T>,
    value: Option<T>,
    what: &str,
) -> Result<(), E> {
    match (value, slot.is_some()) {
        (None, _) => Ok(()),
        (Some(_), true) => Err(E::custom(format_args!("{what} has more than one value"))),
        (Some(v), false) => {
            *slot = Some(v);
            Ok(())
        }
    }
}

fn json_error(e: serde_json::Error) -> JsonError {
    // serde_json appends " at line L column C"; we keep the position apart.
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let reason = full.strip_suffix(&suffix).unwrap_or(&full);
    JsonError {
        reason: super::scalars::truncate(reason, 200).to_owned(),
        line: e.line(),
        column: e.column(),
    }
}
