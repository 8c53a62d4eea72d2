//! `detailed`: every field of resource, scope and record, laid out as the
//! Collector's debug exporter does.

use std::io::Write;

use ccpipe_pipeline::Records;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, HistogramDataPoint, Metric, NumberDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::text::{write_escaped, write_f64, write_hex, Utc};

use super::fields::*;

pub(super) fn detailed(batch: &Records, out: &mut Vec<u8>) {
    match batch {
        Records::Logs(r) => {
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
        Records::Metrics(r) => {
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
        Records::Traces(r) => {
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
