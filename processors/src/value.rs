//! Typed values written in configs, and small helpers over OTLP attribute
//! lists (`Vec<KeyValue>`) shared by the processors.

use std::fmt;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A value as written in a config: `value: platform`, `value: 42`,
/// `value: 0.5`, `value: true`. It becomes the OTLP value of the same type.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    String(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl ConfigValue {
    pub fn to_any(&self) -> AnyValue {
        let v = match self {
            ConfigValue::String(s) => Value::StringValue(s.clone()),
            ConfigValue::Int(i) => Value::IntValue(*i),
            ConfigValue::Double(d) => Value::DoubleValue(*d),
            ConfigValue::Bool(b) => Value::BoolValue(*b),
        };
        AnyValue { value: Some(v) }
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, integer, double or boolean")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<ConfigValue, E> {
                Ok(ConfigValue::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<ConfigValue, E> {
                Ok(ConfigValue::Int(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<ConfigValue, E> {
                i64::try_from(u)
                    .map(ConfigValue::Int)
                    .map_err(|_| E::custom(format!("integer {u} does not fit in an int64")))
            }
            fn visit_f64<E: de::Error>(self, f: f64) -> Result<ConfigValue, E> {
                Ok(ConfigValue::Double(f))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ConfigValue, E> {
                Ok(ConfigValue::String(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<ConfigValue, E> {
                Ok(ConfigValue::String(s))
            }
        }
        d.deserialize_any(V)
    }
}

/// An OTLP string value.
pub fn string(s: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s.into())),
    }
}

/// The value of the first attribute named `key`.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// The string inside a value, if it is one.
pub fn as_str(v: Option<&AnyValue>) -> Option<&str> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// Whether a value holds text (string, bytes) or a structure that can hold
/// text (array, kvlist), as opposed to a number or a boolean.
pub fn is_textual(v: Option<&AnyValue>) -> bool {
    matches!(
        v.and_then(|v| v.value.as_ref()),
        Some(
            Value::StringValue(_)
                | Value::BytesValue(_)
                | Value::ArrayValue(_)
                | Value::KvlistValue(_)
        )
    )
}

/// A set of attribute keys, looked up for every attribute of every record.
/// Keys are grouped by length and a lookup compares only keys of its own
/// length, first byte first: most keys are ruled out by their length alone.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// `by_len[n]`: the keys of n bytes.
    by_len: Vec<Vec<Box<[u8]>>>,
}

impl KeySet {
    pub fn new<S: AsRef<str>>(keys: impl IntoIterator<Item = S>) -> KeySet {
        let mut by_len: Vec<Vec<Box<[u8]>>> = Vec::new();
        for k in keys {
            let k = k.as_ref().as_bytes();
            if by_len.len() <= k.len() {
                by_len.resize(k.len() + 1, Vec::new());
            }
            if !by_len[k.len()].iter().any(|x| **x == *k) {
                by_len[k.len()].push(k.into());
            }
        }
        KeySet { by_len }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.contains_bytes(key.as_bytes())
    }

    /// [`KeySet::contains`] of a key's bytes (a key on the wire).
    pub fn contains_bytes(&self, key: &[u8]) -> bool {
        self.by_len.get(key.len()).is_some_and(|same_len| {
            same_len
                .iter()
                .any(|k| k.first() == key.first() && **k == *key)
        })
    }
}

/// The canonical bytes of a value, for hashing: strings and bytes as they
/// are, numbers and booleans in their usual text form, structures in their
/// protobuf encoding (deterministic for equal values).
pub fn canonical_bytes(v: Option<&AnyValue>) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => Cow::Borrowed(s.as_bytes()),
        Some(Value::BytesValue(b)) => Cow::Borrowed(b),
        Some(Value::IntValue(i)) => Cow::Owned(i.to_string().into_bytes()),
        Some(Value::DoubleValue(d)) => Cow::Owned(d.to_string().into_bytes()),
        Some(Value::BoolValue(b)) => Cow::Borrowed(if *b { b"true" } else { b"false" }),
        Some(other @ (Value::ArrayValue(_) | Value::KvlistValue(_))) => {
            let any = AnyValue {
                value: Some(other.clone()),
            };
            Cow::Owned(prost::Message::encode_to_vec(&any))
        }
        Some(Value::StringValueStrindex(i)) => Cow::Owned(i.to_string().into_bytes()),
        None => Cow::Borrowed(b""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_keep_their_yaml_type() {
        let parse = |y: &str| serde_yaml::from_str::<ConfigValue>(y).map_err(|e| e.to_string());
        assert_eq!(
            parse("platform"),
            Ok(ConfigValue::String("platform".into()))
        );
        assert_eq!(parse("\"42\""), Ok(ConfigValue::String("42".into())));
        assert_eq!(parse("42"), Ok(ConfigValue::Int(42)));
        assert_eq!(parse("-3"), Ok(ConfigValue::Int(-3)));
        assert_eq!(parse("0.5"), Ok(ConfigValue::Double(0.5)));
        assert_eq!(parse("true"), Ok(ConfigValue::Bool(true)));
        assert!(parse("[1]")
            .unwrap_err()
            .starts_with("invalid type: sequence, expected a string, integer, double or boolean"));
        assert_eq!(ConfigValue::Int(7).to_any().value, Some(Value::IntValue(7)));
    }

    #[test]
    fn key_sets_hold_exactly_their_keys() {
        let set = KeySet::new(["prompt", "tool_input", "user.email", "", "prompt"]);
        for k in ["prompt", "tool_input", "user.email", ""] {
            assert!(set.contains(k), "{k}");
        }
        for k in [
            "prompt2",
            "Prompt",
            "promp",
            "session.id",
            "tool_inpuT",
            "p",
            "ü",
        ] {
            assert!(!set.contains(k), "{k}");
        }
        assert!(!KeySet::default().contains(""));
    }

    #[test]
    fn canonical_bytes_are_stable() {
        let v = |x: Value| AnyValue { value: Some(x) };
        assert_eq!(&*canonical_bytes(Some(&string("abc"))), b"abc");
        assert_eq!(&*canonical_bytes(Some(&v(Value::IntValue(-5)))), b"-5");
        assert_eq!(
            &*canonical_bytes(Some(&v(Value::DoubleValue(0.25)))),
            b"0.25"
        );
        assert_eq!(
            &*canonical_bytes(Some(&v(Value::BoolValue(false)))),
            b"false"
        );
        assert_eq!(&*canonical_bytes(None), b"");
    }
}
