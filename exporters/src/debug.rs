//! The `debug` exporter, like the Collector's: prints what flows through a
//! pipeline to stdout or stderr at one of three verbosities.
//!
//! - `basic`: one line per batch with its signal and counts.
//! - `normal`: one line per log record, data point or span, with the few
//!   attributes that say what happened (model, tool, tokens, cost, …).
//! - `detailed`: every field of resource, scope and record, laid out as the
//!   Collector's debug exporter does.
//!
//! Each batch is formatted into a buffer first and written with one call, so
//! lines of concurrent batches (or other stdout users) never interleave.

use std::io::{self, Write};

use ccpipe_pipeline::{Batch, BlockingExporter, ExportError, Shared};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, HistogramDataPoint, Metric, NumberDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde::Deserialize;

use crate::common::{self, Invalid, QueueConfig, RetryConfig};
use crate::text::{write_escaped, write_f64, write_hex, write_int, Utc};
use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::otlp_json::write_plain_value;
use ccpipe_pipeline::{factory, BuildError, BuiltExporter};

/// The `debug` exporter's config, as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugConfig {
    /// `basic`, `normal` or `detailed`.
    pub verbosity: String,
    /// `stdout` or `stderr`.
    pub output: String,
    pub sending_queue: QueueConfig,
    pub retry_on_failure: RetryConfig,
}

impl Default for DebugConfig {
    fn default() -> Self {
        DebugConfig {
            verbosity: "basic".into(),
            output: "stdout".into(),
            sending_queue: QueueConfig::default(),
            retry_on_failure: RetryConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Basic,
    Normal,
    Detailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

/// What the exporter runs with, once the config is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugSettings {
    pub verbosity: Verbosity,
    pub output: Output,
}

impl DebugConfig {
    /// Checks every setting (no IO) and returns the typed settings.
    pub fn settings(&self) -> Result<DebugSettings, Invalid> {
        let verbosity = match self.verbosity.as_str() {
            "basic" => Verbosity::Basic,
            "normal" => Verbosity::Normal,
            "detailed" => Verbosity::Detailed,
            other => {
                return Err(Invalid::new(
                    "verbosity",
                    format!("must be one of basic, normal, detailed; got {other:?}"),
                ))
            }
        };
        let output = match self.output.as_str() {
            "stdout" => Output::Stdout,
            "stderr" => Output::Stderr,
            other => {
                return Err(Invalid::new(
                    "output",
                    format!("must be one of stdout, stderr; got {other:?}"),
                ))
            }
        };
        self.sending_queue.validate()?;
        self.retry_on_failure.validate()?;
        Ok(DebugSettings { verbosity, output })
    }
}

pub struct DebugExporter {
    verbosity: Verbosity,
    out: Box<dyn Write + Send>,
    /// The text of one batch; reused.
    buf: Vec<u8>,
}

impl DebugExporter {
    /// Writes to stdout or stderr, as `settings` say.
    pub fn new(settings: DebugSettings) -> Self {
        let out: Box<dyn Write + Send> = match settings.output {
            // Each `write_all` on these takes the stream's lock once.
            Output::Stdout => Box::new(io::stdout()),
            Output::Stderr => Box::new(io::stderr()),
        };
        DebugExporter::with_writer(settings.verbosity, out)
    }

    /// Writes to `out`; tests pass a buffer.
    pub fn with_writer(verbosity: Verbosity, out: Box<dyn Write + Send>) -> Self {
        DebugExporter {
            verbosity,
            out,
            buf: Vec::with_capacity(4096),
        }
    }
}

impl BlockingExporter for DebugExporter {
    fn export(&mut self, batch: &Shared) -> Result<(), ExportError> {
        self.buf.clear();
        format_batch(self.verbosity, batch.decoded()?, &mut self.buf);
        // A closed stdout will not open again: retrying cannot help.
        self.out
            .write_all(&self.buf)
            .map_err(|e| ExportError::permanent(format!("debug output failed: {e}")))
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.out
            .flush()
            .map_err(|e| ExportError::permanent(format!("debug output failed: {e}")))
    }
}

/// Appends the text for `batch` at `verbosity` to `out`.
pub fn format_batch(verbosity: Verbosity, batch: &Batch, out: &mut Vec<u8>) {
    match verbosity {
        Verbosity::Basic => basic(batch, out),
        Verbosity::Normal => normal(batch, out),
        Verbosity::Detailed => detailed(batch, out),
    }
}

/// `write!` into a byte buffer, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        {
            let _ = Write::write_fmt($out, format_args!($($arg)*));
        }
    };
}

// ---- basic ----

fn basic(batch: &Batch, out: &mut Vec<u8>) {
    let items = batch.item_count();
    match batch {
        Batch::Logs(r) => {
            w!(
                out,
                "logs: resources={}, log records={items}\n",
                r.resource_logs.len()
            );
        }
        Batch::Metrics(r) => {
            let metrics: usize = r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .map(|sm| sm.metrics.len())
                .sum();
            w!(
                out,
                "metrics: resources={}, metrics={metrics}, data points={items}\n",
                r.resource_metrics.len()
            );
        }
        Batch::Traces(r) => {
            w!(
                out,
                "traces: resources={}, spans={items}\n",
                r.resource_spans.len()
            );
        }
    }
}

// ---- normal ----

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

fn normal(batch: &Batch, out: &mut Vec<u8>) {
    match batch {
        Batch::Logs(r) => {
            for rec in r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|sl| &sl.log_records)
            {
                normal_log(rec, out);
            }
        }
        Batch::Metrics(r) => {
            for rm in &r.resource_metrics {
                let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes);
                for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
                    normal_metric(m, resource, out);
                }
            }
        }
        Batch::Traces(r) => {
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

/// A value as text: strings as they are (controls escaped), the rest as JSON.
fn plain_text(value: Option<&AnyValue>, out: &mut Vec<u8>) {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => write_escaped(s, out),
        Some(Value::IntValue(i)) => write_int(*i, out),
        Some(Value::DoubleValue(d)) => write_f64(*d, out),
        Some(Value::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(_) => {
            if let Some(v) = value {
                write_plain_value(v, out);
            }
        }
        None => {}
    }
}

fn number(p: &NumberDataPoint, out: &mut Vec<u8>) {
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => write_f64(d, out),
        Some(number_data_point::Value::AsInt(i)) => write_int(i, out),
        None => out.extend_from_slice(b"null"),
    }
}

// ---- detailed ----

fn detailed(batch: &Batch, out: &mut Vec<u8>) {
    match batch {
        Batch::Logs(r) => {
            for (i, rl) in r.resource_logs.iter().enumerate() {
                w!(out, "ResourceLog #{i}\n");
                resource_block(rl.resource.as_ref(), &rl.schema_url, out);
                for (j, sl) in rl.scope_logs.iter().enumerate() {
                    w!(out, "ScopeLogs #{j}\n");
                    scope_block("ScopeLogs", sl.scope.as_ref(), &sl.schema_url, out);
                    for (k, rec) in sl.log_records.iter().enumerate() {
                        w!(out, "LogRecord #{k}\n");
                        detailed_log(rec, out);
                    }
                }
            }
        }
        Batch::Metrics(r) => {
            for (i, rm) in r.resource_metrics.iter().enumerate() {
                w!(out, "ResourceMetrics #{i}\n");
                resource_block(rm.resource.as_ref(), &rm.schema_url, out);
                for (j, sm) in rm.scope_metrics.iter().enumerate() {
                    w!(out, "ScopeMetrics #{j}\n");
                    scope_block("ScopeMetrics", sm.scope.as_ref(), &sm.schema_url, out);
                    for (k, m) in sm.metrics.iter().enumerate() {
                        w!(out, "Metric #{k}\n");
                        detailed_metric(m, out);
                    }
                }
            }
        }
        Batch::Traces(r) => {
            for (i, rs) in r.resource_spans.iter().enumerate() {
                w!(out, "ResourceSpans #{i}\n");
                resource_block(rs.resource.as_ref(), &rs.schema_url, out);
                for (j, ss) in rs.scope_spans.iter().enumerate() {
                    w!(out, "ScopeSpans #{j}\n");
                    scope_block("ScopeSpans", ss.scope.as_ref(), &ss.schema_url, out);
                    for (k, span) in ss.spans.iter().enumerate() {
                        w!(out, "Span #{k}\n");
                        detailed_span(span, out);
                    }
                }
            }
        }
    }
}

fn resource_block(resource: Option<&Resource>, schema_url: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"Resource SchemaURL: ");
    write_escaped(schema_url, out);
    out.push(b'\n');
    if let Some(r) = resource.filter(|r| !r.attributes.is_empty()) {
        out.extend_from_slice(b"Resource attributes:\n");
        attribute_lines(&r.attributes, 5, out);
    }
}

fn scope_block(
    what: &str,
    scope: Option<&opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
    schema_url: &str,
    out: &mut Vec<u8>,
) {
    w!(out, "{what} SchemaURL: ");
    write_escaped(schema_url, out);
    out.extend_from_slice(b"\nInstrumentationScope ");
    if let Some(s) = scope {
        write_escaped(&s.name, out);
        out.push(b' ');
        write_escaped(&s.version, out);
        out.push(b'\n');
        if !s.attributes.is_empty() {
            out.extend_from_slice(b"InstrumentationScope attributes:\n");
            attribute_lines(&s.attributes, 5, out);
        }
    } else {
        out.extend_from_slice(b" \n");
    }
}

/// `     -> key: Str(value)`, one line per attribute, `indent` spaces in.
fn attribute_lines(attrs: &[KeyValue], indent: usize, out: &mut Vec<u8>) {
    for kv in attrs {
        out.extend(std::iter::repeat_n(b' ', indent));
        out.extend_from_slice(b"-> ");
        write_escaped(&kv.key, out);
        out.extend_from_slice(b": ");
        typed_value(kv.value.as_ref(), out);
        out.push(b'\n');
    }
}

/// A value with its type, as the Collector prints it: `Str(x)`, `Int(1)`,
/// `Double(0.5)`, `Bool(true)`, `Slice([...])`, `Map({...})`, `Bytes(...)`.
fn typed_value(value: Option<&AnyValue>, out: &mut Vec<u8>) {
    let Some(v) = value else {
        out.extend_from_slice(b"Empty()");
        return;
    };
    let name: &[u8] = match &v.value {
        Some(Value::StringValue(_)) | Some(Value::StringValueStrindex(_)) => b"Str(",
        Some(Value::IntValue(_)) => b"Int(",
        Some(Value::DoubleValue(_)) => b"Double(",
        Some(Value::BoolValue(_)) => b"Bool(",
        Some(Value::ArrayValue(_)) => b"Slice(",
        Some(Value::KvlistValue(_)) => b"Map(",
        Some(Value::BytesValue(_)) => b"Bytes(",
        None => b"Empty(",
    };
    out.extend_from_slice(name);
    plain_text(Some(v), out);
    out.push(b')');
}

fn time_line(label: &str, ns: u64, out: &mut Vec<u8>) {
    w!(out, "{label}");
    Utc::from_unix_nanos(ns).write_go(out);
    out.push(b'\n');
}

fn detailed_log(rec: &LogRecord, out: &mut Vec<u8>) {
    time_line("ObservedTimestamp: ", rec.observed_time_unix_nano, out);
    time_line("Timestamp: ", rec.time_unix_nano, out);
    out.extend_from_slice(b"SeverityText: ");
    write_escaped(&rec.severity_text, out);
    w!(
        out,
        "\nSeverityNumber: {}({})\n",
        severity_name(rec.severity_number),
        rec.severity_number
    );
    if !rec.event_name.is_empty() {
        out.extend_from_slice(b"EventName: ");
        write_escaped(&rec.event_name, out);
        out.push(b'\n');
    }
    out.extend_from_slice(b"Body: ");
    typed_value(rec.body.as_ref(), out);
    out.push(b'\n');
    if !rec.attributes.is_empty() {
        out.extend_from_slice(b"Attributes:\n");
        attribute_lines(&rec.attributes, 5, out);
    }
    out.extend_from_slice(b"Trace ID: ");
    write_hex(&rec.trace_id, out);
    out.extend_from_slice(b"\nSpan ID: ");
    write_hex(&rec.span_id, out);
    w!(out, "\nFlags: {}\n", rec.flags);
}

fn detailed_metric(m: &Metric, out: &mut Vec<u8>) {
    out.extend_from_slice(b"Descriptor:\n     -> Name: ");
    write_escaped(&m.name, out);
    out.extend_from_slice(b"\n     -> Description: ");
    write_escaped(&m.description, out);
    out.extend_from_slice(b"\n     -> Unit: ");
    write_escaped(&m.unit, out);
    out.extend_from_slice(b"\n     -> DataType: ");
    match &m.data {
        Some(Data::Gauge(g)) => {
            out.extend_from_slice(b"Gauge\n");
            for (i, p) in g.data_points.iter().enumerate() {
                number_point(i, p, out);
            }
        }
        Some(Data::Sum(s)) => {
            w!(
                out,
                "Sum\n     -> IsMonotonic: {}\n     -> AggregationTemporality: {}\n",
                s.is_monotonic,
                temporality_name(s.aggregation_temporality)
            );
            for (i, p) in s.data_points.iter().enumerate() {
                number_point(i, p, out);
            }
        }
        Some(Data::Histogram(h)) => {
            w!(
                out,
                "Histogram\n     -> AggregationTemporality: {}\n",
                temporality_name(h.aggregation_temporality)
            );
            for (i, p) in h.data_points.iter().enumerate() {
                histogram_point(i, p, out);
            }
        }
        Some(Data::ExponentialHistogram(h)) => {
            w!(
                out,
                "ExponentialHistogram\n     -> AggregationTemporality: {}\n",
                temporality_name(h.aggregation_temporality)
            );
            for (i, p) in h.data_points.iter().enumerate() {
                w!(out, "ExponentialHistogramDataPoints #{i}\n");
                point_header(&p.attributes, p.start_time_unix_nano, p.time_unix_nano, out);
                stats(p.count, p.sum, p.min, p.max, out);
                w!(out, "Scale: {}\nZeroCount: {}\n", p.scale, p.zero_count);
                for (side, b) in [("Positive", &p.positive), ("Negative", &p.negative)] {
                    if let Some(b) = b {
                        w!(
                            out,
                            "{side} offset: {}, bucket counts: {:?}\n",
                            b.offset,
                            b.bucket_counts
                        );
                    }
                }
            }
        }
        Some(Data::Summary(s)) => {
            out.extend_from_slice(b"Summary\n");
            for (i, p) in s.data_points.iter().enumerate() {
                w!(out, "SummaryDataPoints #{i}\n");
                point_header(&p.attributes, p.start_time_unix_nano, p.time_unix_nano, out);
                stats(p.count, Some(p.sum), None, None, out);
                for (j, q) in p.quantile_values.iter().enumerate() {
                    w!(out, "QuantileValue #{j}: Quantile ");
                    write_f64(q.quantile, out);
                    out.extend_from_slice(b", Value ");
                    write_f64(q.value, out);
                    out.push(b'\n');
                }
            }
        }
        None => out.extend_from_slice(b"Empty\n"),
    }
}

fn point_header(attrs: &[KeyValue], start: u64, time: u64, out: &mut Vec<u8>) {
    if !attrs.is_empty() {
        out.extend_from_slice(b"Data point attributes:\n");
        attribute_lines(attrs, 5, out);
    }
    time_line("StartTimestamp: ", start, out);
    time_line("Timestamp: ", time, out);
}

fn number_point(i: usize, p: &NumberDataPoint, out: &mut Vec<u8>) {
    w!(out, "NumberDataPoints #{i}\n");
    point_header(&p.attributes, p.start_time_unix_nano, p.time_unix_nano, out);
    out.extend_from_slice(b"Value: ");
    number(p, out);
    out.push(b'\n');
}

fn histogram_point(i: usize, p: &HistogramDataPoint, out: &mut Vec<u8>) {
    w!(out, "HistogramDataPoints #{i}\n");
    point_header(&p.attributes, p.start_time_unix_nano, p.time_unix_nano, out);
    stats(p.count, p.sum, p.min, p.max, out);
    for (j, b) in p.explicit_bounds.iter().enumerate() {
        w!(out, "ExplicitBounds #{j}: ");
        write_f64(*b, out);
        out.push(b'\n');
    }
    for (j, c) in p.bucket_counts.iter().enumerate() {
        w!(out, "Buckets #{j}, Count: {c}\n");
    }
}

fn stats(count: u64, sum: Option<f64>, min: Option<f64>, max: Option<f64>, out: &mut Vec<u8>) {
    w!(out, "Count: {count}\n");
    for (label, v) in [("Sum: ", sum), ("Min: ", min), ("Max: ", max)] {
        if let Some(v) = v {
            out.extend_from_slice(label.as_bytes());
            write_f64(v, out);
            out.push(b'\n');
        }
    }
}

fn detailed_span(span: &Span, out: &mut Vec<u8>) {
    out.extend_from_slice(b"    Trace ID       : ");
    write_hex(&span.trace_id, out);
    out.extend_from_slice(b"\n    Parent ID      : ");
    write_hex(&span.parent_span_id, out);
    out.extend_from_slice(b"\n    ID             : ");
    write_hex(&span.span_id, out);
    out.extend_from_slice(b"\n    Name           : ");
    write_escaped(&span.name, out);
    w!(out, "\n    Kind           : {}\n", kind_name(span.kind));
    if !span.trace_state.is_empty() {
        out.extend_from_slice(b"    TraceState     : ");
        write_escaped(&span.trace_state, out);
        out.push(b'\n');
    }
    time_line("    Start time     : ", span.start_time_unix_nano, out);
    time_line("    End time       : ", span.end_time_unix_nano, out);
    let status = span.status.as_ref();
    w!(
        out,
        "    Status code    : {}\n    Status message : ",
        status_name(status.map_or(0, |s| s.code))
    );
    if let Some(s) = status {
        write_escaped(&s.message, out);
    }
    out.push(b'\n');
    for (label, n) in [
        ("DroppedAttributesCount", span.dropped_attributes_count),
        ("DroppedEventsCount", span.dropped_events_count),
        ("DroppedLinksCount", span.dropped_links_count),
    ] {
        if n > 0 {
            w!(out, "    {label}: {n}\n");
        }
    }
    if !span.attributes.is_empty() {
        out.extend_from_slice(b"Attributes:\n");
        attribute_lines(&span.attributes, 5, out);
    }
    if !span.events.is_empty() {
        out.extend_from_slice(b"Events:\n");
        for (i, e) in span.events.iter().enumerate() {
            w!(out, "SpanEvent #{i}\n     -> Name: ");
            write_escaped(&e.name, out);
            out.push(b'\n');
            time_line("     -> Timestamp: ", e.time_unix_nano, out);
            w!(
                out,
                "     -> DroppedAttributesCount: {}\n",
                e.dropped_attributes_count
            );
            if !e.attributes.is_empty() {
                out.extend_from_slice(b"     -> Attributes::\n");
                attribute_lines(&e.attributes, 10, out);
            }
        }
    }
    if !span.links.is_empty() {
        out.extend_from_slice(b"Links:\n");
        for (i, l) in span.links.iter().enumerate() {
            w!(out, "SpanLink #{i}\n     -> Trace ID: ");
            write_hex(&l.trace_id, out);
            out.extend_from_slice(b"\n     -> ID: ");
            write_hex(&l.span_id, out);
            out.extend_from_slice(b"\n     -> TraceState: ");
            write_escaped(&l.trace_state, out);
            w!(
                out,
                "\n     -> DroppedAttributesCount: {}\n",
                l.dropped_attributes_count
            );
            if !l.attributes.is_empty() {
                out.extend_from_slice(b"     -> Attributes::\n");
                attribute_lines(&l.attributes, 10, out);
            }
        }
    }
}

// ---- enum names ----

fn severity_name(n: i32) -> &'static str {
    const NAMES: [&str; 25] = [
        "Unspecified",
        "Trace",
        "Trace2",
        "Trace3",
        "Trace4",
        "Debug",
        "Debug2",
        "Debug3",
        "Debug4",
        "Info",
        "Info2",
        "Info3",
        "Info4",
        "Warn",
        "Warn2",
        "Warn3",
        "Warn4",
        "Error",
        "Error2",
        "Error3",
        "Error4",
        "Fatal",
        "Fatal2",
        "Fatal3",
        "Fatal4",
    ];
    usize::try_from(n)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("Unknown")
}

fn temporality_name(n: i32) -> &'static str {
    match n {
        1 => "Delta",
        2 => "Cumulative",
        _ => "Unspecified",
    }
}

fn kind_name(n: i32) -> &'static str {
    match n {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

fn status_name(n: i32) -> &'static str {
    match n {
        1 => "Ok",
        2 => "Error",
        _ => "Unset",
    }
}

impl common::ExporterConfig for DebugConfig {
    type Settings = DebugSettings;
    fn settings(&self) -> Result<DebugSettings, Invalid> {
        DebugConfig::settings(self)
    }
    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }
    fn retry_on_failure(&self) -> &RetryConfig {
        &self.retry_on_failure
    }
}

/// `debug`: prints what it is sent, at one of three verbosities.
pub struct Factory;

impl factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "debug"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        common::parse_settings::<DebugConfig>(cfg).map(drop)
    }
}

impl factory::ExporterFactory for Factory {
    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
        common::queue_storage::<DebugConfig>(cfg)
    }

    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let (c, settings) = common::parse_settings::<DebugConfig>(cfg)?;
        common::spawned(cfg, &c, DebugExporter::new(settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A `Write` whose bytes a test can read back.
    #[derive(Clone, Default)]
    pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn golden_debug_output() {
        for (verbosity, name) in [
            (Verbosity::Basic, "basic"),
            (Verbosity::Normal, "normal"),
            (Verbosity::Detailed, "detailed"),
        ] {
            for (signal, batch) in crate::testutil::golden_batches() {
                let capture = Capture::default();
                let mut exporter = DebugExporter::with_writer(verbosity, Box::new(capture.clone()));
                exporter.export(&Shared::from(batch.clone())).unwrap();
                exporter.flush().unwrap();
                let text = capture.text();
                assert!(text.ends_with('\n'), "{name} {signal}: every line ends");
                crate::testutil::check_golden(&format!("debug-{name}-{signal}.txt"), &text);
            }
        }
    }

    #[test]
    fn basic_counts_items() {
        let [(_, logs), (_, metrics), (_, traces)] = crate::testutil::golden_batches();
        let text = |b: &Batch| {
            let mut out = Vec::new();
            format_batch(Verbosity::Basic, b, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            text(&logs),
            format!("logs: resources=1, log records={}\n", logs.item_count())
        );
        assert!(text(&metrics).starts_with("metrics: resources=1, metrics="));
        assert!(text(&metrics).ends_with(&format!("data points={}\n", metrics.item_count())));
        assert_eq!(
            text(&traces),
            format!("traces: resources=1, spans={}\n", traces.item_count())
        );
    }

    #[test]
    fn normal_writes_one_line_per_item() {
        for (signal, batch) in crate::testutil::golden_batches() {
            let mut out = Vec::new();
            format_batch(Verbosity::Normal, &batch, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text.lines().count(), batch.item_count(), "{signal}");
        }
    }

    #[test]
    fn normal_log_line_shows_key_attributes() {
        let [(_, logs), ..] = crate::testutil::golden_batches();
        let mut out = Vec::new();
        format_batch(Verbosity::Normal, &logs, &mut out);
        let text = String::from_utf8(out).unwrap();
        let api = text
            .lines()
            .find(|l| l.starts_with("claude_code.api_request "))
            .expect("an api_request line");
        for key in [
            "model=",
            "input_tokens=",
            "output_tokens=",
            "cost_usd=",
            "duration_ms=",
        ] {
            assert!(api.contains(key), "{api:?} lacks {key}");
        }
        assert!(
            !api.contains("event.name="),
            "the body already names the event"
        );
        assert!(!api.contains("session.id"), "only key attributes: {api}");
    }

    #[test]
    fn config_defaults_and_errors() {
        let s = DebugConfig::default().settings().unwrap();
        assert_eq!(
            s,
            DebugSettings {
                verbosity: Verbosity::Basic,
                output: Output::Stdout
            }
        );
        let bad = DebugConfig {
            verbosity: "loud".into(),
            ..Default::default()
        };
        assert_eq!(
            bad.settings().unwrap_err().to_string(),
            "verbosity: must be one of basic, normal, detailed; got \"loud\""
        );
    }
}
