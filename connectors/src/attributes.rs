//! Reading Claude Code's events: the lookups both connectors make on a log
//! record's attributes.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

/// `event.name`, or the body `claude_code.<name>` without its prefix.
pub(crate) fn event_name(record: &LogRecord) -> Option<&str> {
    if let Some(Value::StringValue(s)) = find(&record.attributes, "event.name") {
        return Some(s.strip_prefix("claude_code.").unwrap_or(s));
    }
    match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => s.strip_prefix("claude_code."),
        _ => None,
    }
}

/// The value of attribute `key`, if it has one.
pub(crate) fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// A value as text (a metric label, a trace field): strings as they are,
/// numbers and booleans as text; lists, maps and bytes have none.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(s) => Some(s.clone()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

/// A number from an int, a double or a numeric string (`"28"`, `"1.5"`);
/// negative and non-finite values are not observations.
pub(crate) fn number(attrs: &[KeyValue], key: &str) -> Option<f64> {
    let v = match find(attrs, key)? {
        Value::IntValue(i) => *i as f64,
        Value::DoubleValue(d) => *d,
        Value::StringValue(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (v.is_finite() && v >= 0.0).then_some(v)
}
