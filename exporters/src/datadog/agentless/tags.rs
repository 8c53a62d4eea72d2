//! Datadog tags: the normalisation rules of the intake, and the tags and
//! fields taken from a batch's (already enriched) resource.
//!
//! Tags are normalised as Datadog does it: lower case; only `a-z`, `0-9`,
//! `_`, `:`, `.`, `/` and `-` kept, every other character (spaces, commas,
//! non-ASCII) becomes `_`; leading characters up to the first letter are
//! dropped (a tag starts with a letter); runs of `_` collapse to one; trailing
//! `_` are trimmed; at most 200 characters. A tag that ends up empty is left out.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// Longest tag the intake keeps.
pub const MAX_TAG_LEN: usize = 200;

/// Normalises one tag (`key:value` or a bare value); `None` when nothing is left.
pub fn normalize_tag(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(MAX_TAG_LEN));
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        let mapped = match c {
            'a'..='z' => c,
            // Must start with a letter: drop whatever comes before the first one.
            _ if out.is_empty() => continue,
            '0'..='9' | '_' | ':' | '.' | '/' | '-' => c,
            _ => '_',
        };
        if mapped == '_' && out.ends_with('_') {
            continue;
        }
        out.push(mapped);
        if out.len() >= MAX_TAG_LEN {
            break;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// The normalised tag `key:value`; just `key` when the value is empty.
pub fn tag(key: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        normalize_tag(key)
    } else {
        let mut raw = String::with_capacity(key.len() + value.len() + 1);
        raw.push_str(key);
        raw.push(':');
        raw.push_str(value);
        normalize_tag(&raw)
    }
}

/// An attribute value as tag text: strings as is, numbers and booleans as
/// written, arrays and maps as compact JSON.
pub fn value_text(value: Option<&AnyValue>) -> String {
    let Some(v) = value.and_then(|v| v.value.as_ref()) else {
        return String::new();
    };
    match v {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => {
            let mut out = Vec::new();
            crate::text::write_f64(*d, &mut out);
            String::from_utf8(out).unwrap_or_default()
        }
        Value::BytesValue(b) => {
            let mut out = Vec::new();
            crate::text::write_hex(b, &mut out);
            String::from_utf8(out).unwrap_or_default()
        }
        Value::StringValueStrindex(i) => i.to_string(),
        Value::ArrayValue(_) | Value::KvlistValue(_) => {
            let mut out = Vec::new();
            if let Some(any) = value {
                ccpipe_pipeline::otlp_json::write_plain_value(any, &mut out);
            }
            String::from_utf8(out).unwrap_or_default()
        }
    }
}

/// Appends `t` unless it is already there (tags are few: a scan is cheapest).
pub fn push_unique(tags: &mut Vec<String>, t: Option<String>) {
    if let Some(t) = t {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
}

/// Appends one normalised `key:value` tag per attribute.
pub fn push_attribute_tags(tags: &mut Vec<String>, attrs: &[KeyValue]) {
    for kv in attrs {
        push_unique(tags, tag(&kv.key, &value_text(kv.value.as_ref())));
    }
}

/// Resource attribute namespaces that describe the process, host or
/// platform (OpenTelemetry semantic conventions) or are mapped to Datadog
/// fields. Every other resource attribute is a user tag (the `tags:` of the
/// exporter config and `OTEL_RESOURCE_ATTRIBUTES` pairs arrive that way).
const NOT_USER_TAGS: &[&str] = &[
    "service.",
    "deployment.",
    "host.",
    "os.",
    "process.",
    "telemetry.",
    "datadog.",
    "cloud.",
    "container.",
    "k8s.",
    "device.",
    "faas.",
    "otel.",
];

/// What a batch's resource says about where its data comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceInfo {
    /// `service.name`, as is (the logs intake normalises it itself).
    pub service: Option<String>,
    /// `datadog.host.name`, else `host.name`.
    pub host: Option<String>,
    /// Normalised `env:` (from `deployment.environment.name`, else
    /// `deployment.environment`), `version:` (`service.version`) and the user
    /// tags, in that order: a log entry's `ddtags`.
    pub tags: Vec<String>,
}

impl ResourceInfo {
    pub fn from_resource(resource: Option<&Resource>) -> ResourceInfo {
        let attrs = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        let find = |key: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| value_text(kv.value.as_ref()))
                .filter(|v| !v.is_empty())
        };
        let mut tags = Vec::new();
        let env = find("deployment.environment.name").or_else(|| find("deployment.environment"));
        if let Some(env) = env {
            push_unique(&mut tags, tag("env", &env));
        }
        if let Some(version) = find("service.version") {
            push_unique(&mut tags, tag("version", &version));
        }
        for kv in attrs {
            if !NOT_USER_TAGS.iter().any(|p| kv.key.starts_with(p)) {
                push_unique(&mut tags, tag(&kv.key, &value_text(kv.value.as_ref())));
            }
        }
        ResourceInfo {
            service: find("service.name"),
            host: find("datadog.host.name").or_else(|| find("host.name")),
            tags,
        }
    }

    /// The tags every series of this resource carries: `service:` and [`Self::tags`].
    pub fn metric_tags(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.tags.len() + 1);
        if let Some(s) = &self.service {
            push_unique(&mut out, tag("service", s));
        }
        for t in &self.tags {
            push_unique(&mut out, Some(t.clone()));
        }
        out
    }
}
