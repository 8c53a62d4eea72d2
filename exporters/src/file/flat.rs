//! The `flat` format: one JSON object per log record, data point or span,
//! with its resource and scope inlined and attributes as plain JSON objects,
//! ready for `jq`, DuckDB or a spreadsheet:
//!
//! ```text
//! {"signal":"logs","time":"2026-11-21T23:28:07.774Z","time_unix_nano":"…","event":"claude_code.api_request","body":"claude_code.api_request","attributes":{…},"resource":{…},"scope":{"name":…,"version":…}}
//! ```
//!
//! Every line has `signal` and `time` (a span's start), so lines of all three
//! signals sort together; 64-bit nanosecond times are also kept exactly as
//! strings (`time_unix_nano`). Everything is written straight into the
//! output buffer: no per-record allocation.

use ccpipe_pipeline::otlp_json::{write_json_string, write_plain_attributes, write_plain_value};
use ccpipe_pipeline::Records;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point, Metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::text::{write_hex, write_int, write_json_f64, write_json_list as list, Utc};

/// Formats batches as flat JSON lines; keeps a scratch buffer between calls.
#[derive(Default)]
pub struct FlatEncoder {
    /// `,"resource":{…},"scope":{…}}\n`: the end of every line of one scope.
    tail: Vec<u8>,
}

impl FlatEncoder {
    /// Appends one line per item of `batch` to `out`.
    pub fn encode(&mut self, batch: &Records, out: &mut Vec<u8>) {
        match batch {
            Records::Logs(r) => {
                for rl in &r.resource_logs {
                    for sl in &rl.scope_logs {
                        self.set_tail(rl.resource.as_ref(), sl.scope.as_ref());
                        for rec in &sl.log_records {
                            log_record(rec, out);
                            out.extend_from_slice(&self.tail);
                        }
                    }
                }
            }
            Records::Metrics(r) => {
                for rm in &r.resource_metrics {
                    for sm in &rm.scope_metrics {
                        self.set_tail(rm.resource.as_ref(), sm.scope.as_ref());
                        for m in &sm.metrics {
                            metric(m, &self.tail, out);
                        }
                    }
                }
            }
            Records::Traces(r) => {
                for rs in &r.resource_spans {
                    for ss in &rs.scope_spans {
                        self.set_tail(rs.resource.as_ref(), ss.scope.as_ref());
                        for span in &ss.spans {
                            self::span(span, out);
                            out.extend_from_slice(&self.tail);
                        }
                    }
                }
            }
        }
    }

    fn set_tail(&mut self, resource: Option<&Resource>, scope: Option<&InstrumentationScope>) {
        let t = &mut self.tail;
        t.clear();
        key(t, "resource");
        attributes(resource.map_or(&[][..], |r| &r.attributes), t);
        key(t, "scope");
        t.push(b'{');
        if let Some(s) = scope {
            t.extend_from_slice(b"\"name\":");
            write_json_string(&s.name, t);
            if !s.version.is_empty() {
                key(t, "version");
                write_json_string(&s.version, t);
            }
            if !s.attributes.is_empty() {
                key(t, "attributes");
                attributes(&s.attributes, t);
            }
        }
        t.extend_from_slice(b"}}\n");
    }
}

/// `,"name":`; every field but the first (`signal`) starts with a comma.
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn string_field(out: &mut Vec<u8>, name: &str, value: &str) {
    key(out, name);
    write_json_string(value, out);
}

fn attributes(attrs: &[KeyValue], out: &mut Vec<u8>) {
    write_plain_attributes(attrs, out);
}

/// `,"time":"2026-…Z","time_unix_nano":"…"` (`null` and `"0"` when unset).
fn time_fields(out: &mut Vec<u8>, name: &str, ns: u64) {
    key(out, name);
    if ns == 0 {
        out.extend_from_slice(b"null");
    } else {
        out.push(b'"');
        Utc::from_unix_nanos(ns).write_rfc3339_millis(out);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"_unix_nano\":\"");
    write_int(ns, out);
    out.push(b'"');
}

fn hex_field(out: &mut Vec<u8>, name: &str, id: &[u8]) {
    if !id.is_empty() {
        key(out, name);
        out.push(b'"');
        write_hex(id, out);
        out.push(b'"');
    }
}

fn log_record(rec: &LogRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"signal\":\"logs\"");
    let time = if rec.time_unix_nano != 0 {
        rec.time_unix_nano
    } else {
        rec.observed_time_unix_nano
    };
    time_fields(out, "time", time);
    if rec.observed_time_unix_nano != 0 {
        key(out, "observed_time_unix_nano");
        out.push(b'"');
        write_int(rec.observed_time_unix_nano, out);
        out.push(b'"');
    }
    // The event's name: OTLP's own field, else (Claude Code) the body of a
    // record that has an `event.name` attribute, else that attribute.
    let event_attr = rec
        .attributes
        .iter()
        .find(|kv| kv.key == "event.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        });
    let body_str = match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => Some(s.as_str()),
        _ => None,
    };
    let event = match (rec.event_name.as_str(), event_attr, body_str) {
        ("", Some(_), Some(body)) => Some(body),
        ("", Some(attr), None) => Some(attr),
        ("", None, _) => None,
        (name, _, _) => Some(name),
    };
    if let Some(event) = event {
        string_field(out, "event", event);
    }
    if !rec.severity_text.is_empty() {
        string_field(out, "severity", &rec.severity_text);
    }
    if rec.severity_number != 0 {
        key(out, "severity_number");
        write_int(rec.severity_number, out);
    }
    key(out, "body");
    match &rec.body {
        Some(b) => write_plain_value(b, out),
        None => out.extend_from_slice(b"null"),
    }
    key(out, "attributes");
    attributes(&rec.attributes, out);
    hex_field(out, "trace_id", &rec.trace_id);
    hex_field(out, "span_id", &rec.span_id);
}

/// One line per data point of `m`.
fn metric(m: &Metric, tail: &[u8], out: &mut Vec<u8>) {
    let head = |out: &mut Vec<u8>, start: u64, time: u64, kind: &str| {
        out.extend_from_slice(b"{\"signal\":\"metrics\"");
        time_fields(out, "time", time);
        time_fields(out, "start_time", start);
        string_field(out, "name", &m.name);
        if !m.description.is_empty() {
            string_field(out, "description", &m.description);
        }
        string_field(out, "unit", &m.unit);
        string_field(out, "type", kind);
    };
    let temporality = |out: &mut Vec<u8>, t: i32| {
        let name = match t {
            1 => "delta",
            2 => "cumulative",
            _ => "unspecified",
        };
        string_field(out, "temporality", name);
    };
    let end = |out: &mut Vec<u8>, attrs: &[KeyValue]| {
        key(out, "attributes");
        attributes(attrs, out);
        out.extend_from_slice(tail);
    };
    match &m.data {
        Some(Data::Gauge(g)) => {
            for p in &g.data_points {
                head(out, p.start_time_unix_nano, p.time_unix_nano, "gauge");
                number(out, p.value);
                end(out, &p.attributes);
            }
        }
        Some(Data::Sum(s)) => {
            for p in &s.data_points {
                head(out, p.start_time_unix_nano, p.time_unix_nano, "sum");
                temporality(out, s.aggregation_temporality);
                key(out, "monotonic");
                out.extend_from_slice(if s.is_monotonic { b"true" } else { b"false" });
                number(out, p.value);
                end(out, &p.attributes);
            }
        }
        Some(Data::Histogram(h)) => {
            for p in &h.data_points {
                head(out, p.start_time_unix_nano, p.time_unix_nano, "histogram");
                temporality(out, h.aggregation_temporality);
                stats(out, p.count, p.sum, p.min, p.max);
                key(out, "bucket_counts");
                list(out, &p.bucket_counts, |v, o| write_int(*v, o));
                key(out, "explicit_bounds");
                list(out, &p.explicit_bounds, |v, o| write_json_f64(*v, o));
                end(out, &p.attributes);
            }
        }
        Some(Data::ExponentialHistogram(h)) => {
            for p in &h.data_points {
                head(
                    out,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    "exponential_histogram",
                );
                temporality(out, h.aggregation_temporality);
                stats(out, p.count, p.sum, p.min, p.max);
                key(out, "scale");
                write_int(p.scale, out);
                key(out, "zero_count");
                write_int(p.zero_count, out);
                if p.zero_threshold != 0.0 {
                    key(out, "zero_threshold");
                    write_json_f64(p.zero_threshold, out);
                }
                buckets(out, "positive", p.positive.as_ref());
                buckets(out, "negative", p.negative.as_ref());
                end(out, &p.attributes);
            }
        }
        Some(Data::Summary(s)) => {
            for p in &s.data_points {
                head(out, p.start_time_unix_nano, p.time_unix_nano, "summary");
                stats(out, p.count, Some(p.sum), None, None);
                key(out, "quantiles");
                list(out, &p.quantile_values, |q, o| {
                    o.extend_from_slice(b"{\"quantile\":");
                    write_json_f64(q.quantile, o);
                    o.extend_from_slice(b",\"value\":");
                    write_json_f64(q.value, o);
                    o.push(b'}');
                });
                end(out, &p.attributes);
            }
        }
        None => {}
    }
}

fn number(out: &mut Vec<u8>, value: Option<number_data_point::Value>) {
    key(out, "value");
    match value {
        Some(number_data_point::Value::AsDouble(d)) => write_json_f64(d, out),
        Some(number_data_point::Value::AsInt(i)) => write_int(i, out),
        None => out.extend_from_slice(b"null"),
    }
}

fn stats(out: &mut Vec<u8>, count: u64, sum: Option<f64>, min: Option<f64>, max: Option<f64>) {
    key(out, "count");
    write_int(count, out);
    for (name, v) in [("sum", sum), ("min", min), ("max", max)] {
        if let Some(v) = v {
            key(out, name);
            write_json_f64(v, out);
        }
    }
}

fn buckets(out: &mut Vec<u8>, name: &str, b: Option<&Buckets>) {
    if let Some(b) = b {
        key(out, name);
        out.extend_from_slice(b"{\"offset\":");
        write_int(b.offset, out);
        out.extend_from_slice(b",\"bucket_counts\":");
        list(out, &b.bucket_counts, |v, o| write_int(*v, o));
        out.push(b'}');
    }
}

fn span(span: &Span, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"signal\":\"traces\"");
    time_fields(out, "time", span.start_time_unix_nano);
    time_fields(out, "end_time", span.end_time_unix_nano);
    key(out, "duration_ms");
    let nanos = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    write_json_f64(nanos as f64 / 1e6, out);
    string_field(out, "name", &span.name);
    let kind = match span.kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    };
    string_field(out, "kind", kind);
    hex_field(out, "trace_id", &span.trace_id);
    hex_field(out, "span_id", &span.span_id);
    hex_field(out, "parent_span_id", &span.parent_span_id);
    if !span.trace_state.is_empty() {
        string_field(out, "trace_state", &span.trace_state);
    }
    key(out, "status");
    let status = span.status.as_ref();
    let code = match status.map_or(0, |s| s.code) {
        1 => "ok",
        2 => "error",
        _ => "unset",
    };
    out.extend_from_slice(b"{\"code\":");
    write_json_string(code, out);
    if let Some(s) = status.filter(|s| !s.message.is_empty()) {
        string_field(out, "message", &s.message);
    }
    out.push(b'}');
    key(out, "attributes");
    attributes(&span.attributes, out);
    key(out, "events");
    list(out, &span.events, |e, o| {
        o.extend_from_slice(b"{\"name\":");
        write_json_string(&e.name, o);
        time_fields(o, "time", e.time_unix_nano);
        key(o, "attributes");
        attributes(&e.attributes, o);
        o.push(b'}');
    });
    if !span.links.is_empty() {
        key(out, "links");
        list(out, &span.links, |l, o| {
            o.extend_from_slice(b"{\"trace_id\":\"");
            write_hex(&l.trace_id, o);
            o.extend_from_slice(b"\",\"span_id\":\"");
            write_hex(&l.span_id, o);
            o.push(b'"');
            key(o, "attributes");
            attributes(&l.attributes, o);
            o.push(b'}');
        });
    }
}
