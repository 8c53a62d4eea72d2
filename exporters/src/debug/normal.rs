//! `normal`: one line per log record, data point or span, with the few
//! attributes that say what happened (model, tool, tokens, cost, …).

use ccpipe_pipeline::Records;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, Metric};
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::text::{write_escaped, write_f64, write_int};

use super::fields::*;

/// Attributes that say what a Claude Code event, span or data point was
/// about, in the order they are printed when present.
const KEY_ATTRIBUTES: &[&str] = &[
    "event.name",
    "model",
    "tool_name",
    "decision",
    "success",
    "status_code",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "duration_ms",
];

/// Attributes Claude Code puts on every data point: left out of `normal`
/// metric lines, which show what tells the points apart.
const COMMON_ATTRIBUTES: &[&str] = &[
    "user.id",
    "session.id",
    "terminal.type",
    "anthropic.provider",
    "anthropic.custom_base_url",
    "organization.id",
    "user.email",
    "user.account_uuid",
    "user.account_id",
];

pub(super) fn normal(batch: &Records, out: &mut Vec<u8>) {
    match batch {
        Records::Logs(r) => {
            for rec in r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|sl| &sl.log_records)
            {
                normal_log(rec, out);
            }
        }
        Records::Metrics(r) => {
            for rm in &r.resource_metrics {
                let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes);
                for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
                    normal_metric(m, resource, out);
                }
            }
        }
        Records::Traces(r) => {
            for span in r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
            {
                normal_span(span, out);
            }
        }
    }
}

/// `claude_code.api_request model=… input_tokens=1 output_tokens=65 cost_usd=… duration_ms=337`
fn normal_log(rec: &LogRecord, out: &mut Vec<u8>) {
    let start = out.len();
    match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => write_escaped(s, out),
        Some(_) if !rec.event_name.is_empty() => write_escaped(&rec.event_name, out),
        Some(_) => plain_text(rec.body.as_ref(), out),
        None => write_escaped(&rec.event_name, out),
    }
    let head_end = out.len();
    for &key in KEY_ATTRIBUTES {
        let Some(value) = find(&rec.attributes, key) else {
            continue;
        };
        // Claude Code's body is `claude_code.<event.name>`: say it once.
        if key == "event.name" {
            if let Some(Value::StringValue(name)) = &value.value {
                if out[start..head_end].ends_with(name.as_bytes()) {
                    continue;
                }
            }
        }
        if out.len() > start {
            out.push(b' ');
        }
        key_value(key, value, out);
    }
    out.push(b'\n');
}

/// `claude_code.token.usage{type=input,model=…} 1 tokens`
fn normal_metric(m: &Metric, resource: &[KeyValue], out: &mut Vec<u8>) {
    let point = |attrs: &[KeyValue], out: &mut Vec<u8>| {
        write_escaped(&m.name, out);
        out.push(b'{');
        let mut first = true;
        for kv in attrs {
            let common = COMMON_ATTRIBUTES.contains(&kv.key.as_str())
                || resource
                    .iter()
                    .any(|r| r.key == kv.key && r.value == kv.value);
            if common {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            key_value(
                &kv.key,
                kv.value.as_ref().unwrap_or(&AnyValue { value: None }),
                out,
            );
        }
        out.extend_from_slice(b"} ");
    };
    let unit = |out: &mut Vec<u8>| {
        if !m.unit.is_empty() {
            out.push(b' ');
            write_escaped(&m.unit, out);
        }
        out.push(b'\n');
    };
    match &m.data {
        Some(Data::Gauge(g)) => {
            for p in &g.data_points {
                point(&p.attributes, out);
                number(p, out);
                unit(out);
            }
        }
        Some(Data::Sum(s)) => {
            for p in &s.data_points {
                point(&p.attributes, out);
                number(p, out);
                unit(out);
            }
        }
        Some(Data::Histogram(h)) => {
            for p in &h.data_points {
                point(&p.attributes, out);
                count_sum(p.count, p.sum, out);
                unit(out);
            }
        }
        Some(Data::ExponentialHistogram(h)) => {
            for p in &h.data_points {
                point(&p.attributes, out);
                count_sum(p.count, p.sum, out);
                unit(out);
            }
        }
        Some(Data::Summary(s)) => {
            for p in &s.data_points {
                point(&p.attributes, out);
                count_sum(p.count, Some(p.sum), out);
                unit(out);
            }
        }
        None => {}
    }
}

fn count_sum(count: u64, sum: Option<f64>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"count=");
    write_int(count, out);
    if let Some(sum) = sum {
        out.extend_from_slice(b" sum=");
        write_f64(sum, out);
    }
}

/// `claude_code.llm_request 345.277ms Unset model=… success=true`
fn normal_span(span: &Span, out: &mut Vec<u8>) {
    write_escaped(&span.name, out);
    out.push(b' ');
    // Milliseconds to the microsecond: `345.277ms`.
    let micros = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano)
        / 1000;
    write_int(micros / 1000, out);
    out.push(b'.');
    let frac = micros % 1000;
    out.extend_from_slice(&[
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
    out.extend_from_slice(b"ms ");
    let status = span.status.as_ref();
    out.extend_from_slice(status_name(status.map_or(0, |s| s.code)).as_bytes());
    if let Some(s) = status.filter(|s| !s.message.is_empty()) {
        out.extend_from_slice(b"(");
        write_escaped(&s.message, out);
        out.extend_from_slice(b")");
    }
    for &key in KEY_ATTRIBUTES {
        if key == "duration_ms" {
            continue; // printed above, measured
        }
        if let Some(value) = find(&span.attributes, key) {
            out.push(b' ');
            key_value(key, value, out);
        }
    }
    out.push(b'\n');
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn key_value(key: &str, value: &AnyValue, out: &mut Vec<u8>) {
    write_escaped(key, out);
    out.push(b'=');
    plain_text(Some(value), out);
}
