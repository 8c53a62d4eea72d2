//! Reading OTLP attribute lists the way Claude Code writes them: numbers
//! sometimes as strings (`duration_ms: "32"`), sometimes as ints or doubles.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use serde_json::{Map, Value as Json};

/// The value of `key`, if present and set.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// `key` as a number, from an int, a double or a numeric string.
pub fn number(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match get(attrs, key)? {
        Value::IntValue(i) => Some(*i as f64),
        Value::DoubleValue(d) => Some(*d),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `key` as a boolean, from a bool or the strings `true`/`false`.
pub fn boolean(attrs: &[KeyValue], key: &str) -> Option<bool> {
    match get(attrs, key)? {
        Value::BoolValue(b) => Some(*b),
        Value::StringValue(s) => match s.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An attribute list as a JSON object (later keys win, as in OTLP).
pub fn to_json(attrs: &[KeyValue]) -> Map<String, Json> {
    let mut map = Map::new();
    for kv in attrs {
        map.insert(kv.key.clone(), any_to_json(kv.value.as_ref()));
    }
    map
}

/// [`to_json`] leaving out the keys in `skip`.
pub fn to_json_without(attrs: &[KeyValue], skip: &[&str]) -> Map<String, Json> {
    let mut map = Map::new();
    for kv in attrs.iter().filter(|kv| !skip.contains(&kv.key.as_str())) {
        map.insert(kv.key.clone(), any_to_json(kv.value.as_ref()));
    }
    map
}

fn any_to_json(v: Option<&AnyValue>) -> Json {
    match v.and_then(|v| v.value.as_ref()) {
        None => Json::Null,
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(Value::BoolValue(b)) => Json::Bool(*b),
        Some(Value::IntValue(i)) => Json::from(*i),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Json::String(d.to_string()), Json::Number),
        Some(Value::ArrayValue(a)) => {
            Json::Array(a.values.iter().map(|v| any_to_json(Some(v))).collect())
        }
        Some(Value::KvlistValue(l)) => Json::Object(to_json(&l.values)),
        Some(Value::BytesValue(b)) => Json::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        // A string-table index (profiles only): meaningless without its table.
        Some(Value::StringValueStrindex(i)) => Json::from(*i),
    }
}

/// A JSON value as filter text: strings bare, everything else as JSON.
pub fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}
