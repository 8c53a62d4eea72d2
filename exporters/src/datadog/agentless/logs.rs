//! Log records (Claude Code's events) as Datadog log entries
//! (`POST /api/v2/logs`), each encoded on its own so the splitter can pack them.
//!
//! An entry is
//! `{"message":…,"ddsource":"claude-code","service":…,"hostname":…,"ddtags":"env:…,version:…,k:v","timestamp":ms,"status":…,"otel.trace_id":…,"otel.span_id":…, <attributes>}`:
//! - `message`: the body, as is when a string, as compact JSON otherwise;
//! - `service` from `service.name`, `hostname` from `datadog.host.name` or
//!   `host.name`, `ddtags` from the resource (see [`super::tags`]); each left
//!   out when unknown;
//! - `timestamp`: the record's time (else its observed time) in
//!   milliseconds; left out when neither is set (the intake then uses its own);
//! - `status`: the severity text, else a name for the severity number, else `info`;
//! - every record attribute as a field under its own key (`event.name`,
//!   `session.id`, … dotted keys kept flat, as is), values as plain JSON;
//!   an attribute whose key is one of the fields above is kept as `attr.<key>`.
//!
//! An entry over [`MAX_ENTRY_BYTES`] is truncated: the longest string
//! values (message or attributes; a map or list attribute counts as its JSON
//! text) are cut at a character boundary and end with `...[truncated]`, until
//! the entry fits, and the entry gets `"ccpipe.truncated":true`.

use std::borrow::Cow;

use ccpipe_pipeline::otlp_json::{write_json_string, write_plain_value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use super::tags::ResourceInfo;
use crate::text::{write_hex, write_int};

/// Largest entry sent (the intake's limit is 1 MB per log).
pub const MAX_ENTRY_BYTES: usize = 1_000_000;

/// `ddsource` of every entry.
pub const SOURCE: &str = "claude-code";

/// Appended to a string cut short.
pub const TRUNCATED: &str = "...[truncated]";

/// Keys the entry itself uses; attributes with these keys get `attr.` in front.
const RESERVED: &[&str] = &[
    "message",
    "ddsource",
    "service",
    "hostname",
    "ddtags",
    "timestamp",
    "status",
    "otel.trace_id",
    "otel.span_id",
    "ccpipe.truncated",
];

/// Encodes every record of `req` as one entry; returns the entries and how
/// many had to be truncated.
pub fn encode(req: &ExportLogsServiceRequest) -> (Vec<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut truncated = 0;
    for rl in &req.resource_logs {
        let res = ResourceInfo::from_resource(rl.resource.as_ref());
        let ddtags = res.tags.join(",");
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                let (entry, cut) = entry(rec, &res, &ddtags);
                truncated += usize::from(cut);
                out.push(entry);
            }
        }
    }
    (out, truncated)
}

/// A field value: text that may be cut, or JSON written as is.
enum Field<'a> {
    Text(Cow<'a, str>),
    Json(Vec<u8>),
}

impl Field<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Field::Text(s) => write_json_string(s, out),
            Field::Json(j) => out.extend_from_slice(j),
        }
    }
}

/// One entry for `rec`, and whether it had to be truncated.
fn entry(rec: &LogRecord, res: &ResourceInfo, ddtags: &str) -> (Vec<u8>, bool) {
    // Fixed fields: never cut.
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b",\"ddsource\":");
    write_json_string(SOURCE, &mut head);
    if let Some(s) = &res.service {
        head.extend_from_slice(b",\"service\":");
        write_json_string(s, &mut head);
    }
    if let Some(h) = &res.host {
        head.extend_from_slice(b",\"hostname\":");
        write_json_string(h, &mut head);
    }
    if !ddtags.is_empty() {
        head.extend_from_slice(b",\"ddtags\":");
        write_json_string(ddtags, &mut head);
    }
    let nanos = if rec.time_unix_nano > 0 {
        rec.time_unix_nano
    } else {
        rec.observed_time_unix_nano
    };
    if nanos > 0 {
        head.extend_from_slice(b",\"timestamp\":");
        write_int(nanos / 1_000_000, &mut head);
    }
    head.extend_from_slice(b",\"status\":");
    write_json_string(&status(rec), &mut head);
    if !rec.trace_id.is_empty() {
        head.extend_from_slice(b",\"otel.trace_id\":\"");
        write_hex(&rec.trace_id, &mut head);
        head.push(b'"');
    }
    if !rec.span_id.is_empty() {
        head.extend_from_slice(b",\"otel.span_id\":\"");
        write_hex(&rec.span_id, &mut head);
        head.push(b'"');
    }

    // Fields that may be cut: the message and the attributes.
    let mut fields: Vec<(Cow<'_, str>, Field<'_>)> = Vec::with_capacity(rec.attributes.len() + 1);
    let message = match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => Field::Text(Cow::Borrowed(s)),
        Some(_) => {
            let mut j = Vec::new();
            write_plain_value(rec.body.as_ref().expect("body"), &mut j);
            Field::Text(Cow::Owned(String::from_utf8(j).unwrap_or_default()))
        }
        None => Field::Text(Cow::Borrowed("")),
    };
    fields.push((Cow::Borrowed("message"), message));
    for kv in &rec.attributes {
        let key = if RESERVED.contains(&kv.key.as_str()) {
            Cow::Owned(format!("attr.{}", kv.key))
        } else {
            Cow::Borrowed(kv.key.as_str())
        };
        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => Field::Text(Cow::Borrowed(s)),
            Some(_) => {
                let mut j = Vec::new();
                write_plain_value(kv.value.as_ref().expect("value"), &mut j);
                Field::Json(j)
            }
            None => Field::Json(b"null".to_vec()),
        };
        fields.push((key, value));
    }

    let mut out = write_entry(&head, &fields, false);
    if out.len() <= MAX_ENTRY_BYTES {
        return (out, false);
    }
    // Too large: cut the longest values until it fits.
    for _ in 0..64 {
        let over = write_entry(&head, &fields, true)
            .len()
            .saturating_sub(MAX_ENTRY_BYTES);
        if over == 0 {
            break;
        }
        let Some((i, _)) = fields
            .iter()
            .enumerate()
            .map(|(i, (_, f))| (i, field_len(f)))
            .max_by_key(|&(_, len)| len)
        else {
            break;
        };
        let text = match std::mem::replace(&mut fields[i].1, Field::Json(Vec::new())) {
            Field::Text(s) => s.into_owned(),
            Field::Json(j) => String::from_utf8(j).unwrap_or_default(),
        };
        let target = escaped_len(&text).saturating_sub(over + TRUNCATED.len());
        fields[i].1 = Field::Text(Cow::Owned(cut(&text, target)));
    }
    out = write_entry(&head, &fields, true);
    if out.len() > MAX_ENTRY_BYTES {
        // Thousands of small attributes: keep the fixed fields and the message only.
        fields.truncate(1);
        out = write_entry(&head, &fields, true);
    }
    (out, true)
}

fn field_len(f: &Field<'_>) -> usize {
    match f {
        Field::Text(s) => s.len(),
        Field::Json(j) => j.len(),
    }
}

/// Bytes of `c` inside a JSON string, as `write_json_string` escapes it.
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' => 2,
        '\0'..='\u{1f}' => 6,
        _ => c.len_utf8(),
    }
}

fn escaped_len(s: &str) -> usize {
    s.chars().map(escaped_char_len).sum()
}

/// The longest start of `s` whose escaped form takes at most `target`
/// bytes, marked as cut.
fn cut(s: &str, target: usize) -> String {
    let mut keep = 0;
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += escaped_char_len(c);
        if used > target {
            break;
        }
        keep = i + c.len_utf8();
    }
    let mut out = String::with_capacity(keep + TRUNCATED.len());
    out.push_str(&s[..keep]);
    out.push_str(TRUNCATED);
    out
}

fn write_entry(head: &[u8], fields: &[(Cow<'_, str>, Field<'_>)], truncated: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 64);
    out.push(b'{');
    // The message first, then the fixed fields, then the attributes.
    let (first, rest) = fields.split_first().expect("message field");
    write_json_string(&first.0, &mut out);
    out.push(b':');
    first.1.write(&mut out);
    out.extend_from_slice(head);
    if truncated {
        out.extend_from_slice(b",\"ccpipe.truncated\":true");
    }
    for (k, v) in rest {
        out.push(b',');
        write_json_string(k, &mut out);
        out.push(b':');
        v.write(&mut out);
    }
    out.push(b'}');
    out
}

/// The severity text, else the OpenTelemetry name of the severity number's
/// range, else `info`.
fn status(rec: &LogRecord) -> Cow<'_, str> {
    if !rec.severity_text.is_empty() {
        return Cow::Borrowed(&rec.severity_text);
    }
    Cow::Borrowed(match rec.severity_number {
        1..=4 => "trace",
        5..=8 => "debug",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "info",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_char_boundaries() {
        assert_eq!(cut("ééééé", 7), format!("ééé{TRUNCATED}"));
        assert_eq!(cut("a\nb\nc", 5), format!("a\nb{TRUNCATED}"));
        assert_eq!(cut("abc", 0), TRUNCATED);
        assert_eq!(escaped_len("a\"\u{1}é"), 1 + 2 + 6 + 2);
    }
}
