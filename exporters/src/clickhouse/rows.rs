//! A batch as `INSERT … FORMAT JSONEachRow` bodies: one per table, one JSON
//! object per log record, data point or span, keyed by column name.
//!
//! JSONEachRow rather than TabSeparated: every value is named, so the insert
//! does not depend on column order and columns a user adds keep their
//! defaults; ClickHouse's parse errors name the column; JSON escaping is one
//! well-defined rule (TabSeparated has its own, and arrays inside it another).
//! The larger body is what gzip is good at. The modern schema takes
//! attributes as JSON objects (`Map` columns) and times as `"s.nnnnnnnnn"`
//! (`DateTime64(9)`); the 18.16 one as `.Key`/`.Value` arrays and whole
//! seconds plus a `…UnixNano` column. Values follow the Collector:
//! attribute values as text (`AsString`: numbers in decimal, arrays and maps as
//! JSON, bytes as base64), ids in lower-case hex, kinds and status codes as
//! words. Non-finite doubles go as `"nan"`, `"inf"`, `"-inf"`, which
//! ClickHouse reads into Float64 columns.

use ccpipe_pipeline::otlp_json::{write_json_string, write_plain_value};
use ccpipe_pipeline::Records;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point, Exemplar,
    Metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};

use super::schema::{Schema, Table};
use crate::text::{write_hex, write_int, write_json_list as json_list};

/// The rows of one table, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    pub table: Table,
    pub rows: usize,
    /// JSONEachRow text, one object per line.
    pub body: Vec<u8>,
}

/// The inserts for `batch` into `schema`'s tables, in table order, without
/// empty ones.
pub fn encode(batch: &Records, schema: Schema) -> Vec<Insert> {
    let mut inserts: Vec<Insert> = Vec::new();
    let mut add = |table: Table, write: &mut dyn FnMut(&mut Vec<u8>)| {
        let i = match inserts.iter().position(|x| x.table == table) {
            Some(i) => i,
            None => {
                inserts.push(Insert {
                    table,
                    rows: 0,
                    body: Vec::new(),
                });
                inserts.len() - 1
            }
        };
        let insert = &mut inserts[i];
        write(&mut insert.body);
        insert.body.push(b'\n');
        insert.rows += 1;
    };
    match batch {
        Records::Logs(r) => {
            for rl in &r.resource_logs {
                for sl in &rl.scope_logs {
                    let mut common = Vec::new();
                    resource_columns(
                        rl.resource.as_ref(),
                        Some(&rl.schema_url),
                        schema,
                        &mut common,
                    );
                    scope_columns(sl.scope.as_ref(), schema, &mut common);
                    string(&mut common, "ScopeSchemaUrl", &sl.schema_url);
                    for rec in &sl.log_records {
                        add(Table::Logs, &mut |out| {
                            out.push(b'{');
                            out.extend_from_slice(&common);
                            let ns = if rec.time_unix_nano != 0 {
                                rec.time_unix_nano
                            } else {
                                rec.observed_time_unix_nano
                            };
                            time(out, "Timestamp", "TimestampUnixNano", ns, schema);
                            hex(out, "TraceId", &rec.trace_id);
                            hex(out, "SpanId", &rec.span_id);
                            uint(out, "TraceFlags", u64::from(rec.flags & 0xff));
                            string(out, "SeverityText", &rec.severity_text);
                            uint(
                                out,
                                "SeverityNumber",
                                rec.severity_number.clamp(0, 255) as u64,
                            );
                            field(out, "Body");
                            any_text(rec.body.as_ref(), out);
                            out.push(b',');
                            attributes(out, "LogAttributes", &rec.attributes, schema);
                            field(out, "EventName");
                            let name = if rec.event_name.is_empty() {
                                string_attribute(&rec.attributes, "event.name").unwrap_or("")
                            } else {
                                &rec.event_name
                            };
                            write_json_string(name, out);
                            out.push(b'}');
                        });
                    }
                }
            }
        }
        Records::Traces(r) => {
            for rs in &r.resource_spans {
                for ss in &rs.scope_spans {
                    let mut common = Vec::new();
                    // The Collector's otel_traces has no schema URL columns.
                    resource_columns(rs.resource.as_ref(), None, schema, &mut common);
                    let scope = ss.scope.as_ref();
                    string(&mut common, "ScopeName", scope.map_or("", |s| &s.name));
                    string(
                        &mut common,
                        "ScopeVersion",
                        scope.map_or("", |s| &s.version),
                    );
                    for s in &ss.spans {
                        add(Table::Traces, &mut |out| {
                            out.push(b'{');
                            out.extend_from_slice(&common);
                            span(s, schema, out);
                            out.push(b'}');
                        });
                    }
                }
            }
        }
        Records::Metrics(r) => {
            for rm in &r.resource_metrics {
                for sm in &rm.scope_metrics {
                    let mut common = Vec::new();
                    resource_columns(
                        rm.resource.as_ref(),
                        Some(&rm.schema_url),
                        schema,
                        &mut common,
                    );
                    scope_columns(sm.scope.as_ref(), schema, &mut common);
                    string(&mut common, "ScopeSchemaUrl", &sm.schema_url);
                    let dropped = sm.scope.as_ref().map_or(0, |s| s.dropped_attributes_count);
                    uint(&mut common, "ScopeDroppedAttrCount", u64::from(dropped));
                    for m in &sm.metrics {
                        metric(m, &common, schema, &mut add);
                    }
                }
            }
        }
    }
    inserts
}

type Add<'a> = dyn FnMut(Table, &mut dyn FnMut(&mut Vec<u8>)) + 'a;

fn metric(m: &Metric, common: &[u8], schema: Schema, add: &mut Add<'_>) {
    let mut head = common.to_vec();
    string(&mut head, "MetricName", &m.name);
    string(&mut head, "MetricDescription", &m.description);
    string(&mut head, "MetricUnit", &m.unit);
    let start = |out: &mut Vec<u8>, attrs: &[KeyValue], start: u64, t: u64, flags: u32| {
        out.push(b'{');
        out.extend_from_slice(&head);
        attributes(out, "Attributes", attrs, schema);
        time(out, "StartTimeUnix", "StartTimeUnixNano", start, schema);
        time(out, "TimeUnix", "TimeUnixNano", t, schema);
        uint(out, "Flags", u64::from(flags));
    };
    // The point types share these fields but no trait.
    macro_rules! start {
        ($out:expr, $p:expr) => {
            start(
                $out,
                &$p.attributes,
                $p.start_time_unix_nano,
                $p.time_unix_nano,
                $p.flags,
            )
        };
    }
    match &m.data {
        None => {}
        Some(Data::Gauge(g)) => {
            for p in &g.data_points {
                add(Table::MetricsGauge, &mut |out| {
                    start!(out, p);
                    float(out, "Value", number(p.value));
                    exemplars(out, &p.exemplars, schema);
                    close(out);
                });
            }
        }
        Some(Data::Sum(s)) => {
            for p in &s.data_points {
                add(Table::MetricsSum, &mut |out| {
                    start!(out, p);
                    float(out, "Value", number(p.value));
                    exemplars(out, &p.exemplars, schema);
                    int(
                        out,
                        "AggregationTemporality",
                        i64::from(s.aggregation_temporality),
                    );
                    uint(out, "IsMonotonic", u64::from(s.is_monotonic));
                    close(out);
                });
            }
        }
        Some(Data::Histogram(h)) => {
            for p in &h.data_points {
                add(Table::MetricsHistogram, &mut |out| {
                    start!(out, p);
                    uint(out, "Count", p.count);
                    float(out, "Sum", p.sum.unwrap_or(0.0));
                    list(out, "BucketCounts", &p.bucket_counts, |v, o| {
                        write_int(*v, o)
                    });
                    list(out, "ExplicitBounds", &p.explicit_bounds, |v, o| {
                        write_float(*v, o)
                    });
                    let temporality = h.aggregation_temporality;
                    histogram_tail(out, &p.exemplars, p.min, p.max, temporality, schema);
                });
            }
        }
        Some(Data::ExponentialHistogram(h)) => {
            for p in &h.data_points {
                add(Table::MetricsExponentialHistogram, &mut |out| {
                    start!(out, p);
                    uint(out, "Count", p.count);
                    float(out, "Sum", p.sum.unwrap_or(0.0));
                    int(out, "Scale", i64::from(p.scale));
                    uint(out, "ZeroCount", p.zero_count);
                    buckets(out, "Positive", p.positive.as_ref());
                    buckets(out, "Negative", p.negative.as_ref());
                    let temporality = h.aggregation_temporality;
                    histogram_tail(out, &p.exemplars, p.min, p.max, temporality, schema);
                });
            }
        }
        Some(Data::Summary(s)) => {
            for p in &s.data_points {
                add(Table::MetricsSummary, &mut |out| {
                    start!(out, p);
                    uint(out, "Count", p.count);
                    float(out, "Sum", p.sum);
                    let q = &p.quantile_values;
                    list(out, "ValueAtQuantiles.Quantile", q, |v, o| {
                        write_float(v.quantile, o)
                    });
                    list(out, "ValueAtQuantiles.Value", q, |v, o| {
                        write_float(v.value, o)
                    });
                    close(out);
                });
            }
        }
    }
}

fn span(s: &Span, schema: Schema, out: &mut Vec<u8>) {
    time(
        out,
        "Timestamp",
        "TimestampUnixNano",
        s.start_time_unix_nano,
        schema,
    );
    hex(out, "TraceId", &s.trace_id);
    hex(out, "SpanId", &s.span_id);
    hex(out, "ParentSpanId", &s.parent_span_id);
    string(out, "TraceState", &s.trace_state);
    string(out, "SpanName", &s.name);
    string(out, "SpanKind", span_kind(s.kind));
    attributes(out, "SpanAttributes", &s.attributes, schema);
    uint(
        out,
        "Duration",
        s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano),
    );
    let (code, message) = s
        .status
        .as_ref()
        .map_or((0, ""), |st| (st.code, st.message.as_str()));
    string(out, "StatusCode", status_code(code));
    string(out, "StatusMessage", message);
    if schema == Schema::Modern {
        return modern_events_and_links(s, out);
    }
    let ev = &s.events;
    list(out, "Events.Timestamp", ev, |e, o| {
        write_int(seconds(e.time_unix_nano), o)
    });
    list(out, "Events.TimestampUnixNano", ev, |e, o| {
        write_int(e.time_unix_nano, o)
    });
    list(out, "Events.Name", ev, |e, o| write_json_string(&e.name, o));
    list(out, "Events.AttributesKey", ev, |e, o| {
        keys(&e.attributes, o)
    });
    list(out, "Events.AttributesValue", ev, |e, o| {
        values(&e.attributes, o)
    });
    let links = &s.links;
    list(out, "Links.TraceId", links, |l, o| {
        hex_string(&l.trace_id, o)
    });
    list(out, "Links.SpanId", links, |l, o| hex_string(&l.span_id, o));
    list(out, "Links.TraceState", links, |l, o| {
        write_json_string(&l.trace_state, o)
    });
    list(out, "Links.AttributesKey", links, |l, o| {
        keys(&l.attributes, o)
    });
    last(out, "Links.AttributesValue", links, |l, o| {
        values(&l.attributes, o)
    });
}

/// `Events.*` and `Links.*` of the modern schema: attributes as maps.
fn modern_events_and_links(s: &Span, out: &mut Vec<u8>) {
    let ev = &s.events;
    list(out, "Events.Timestamp", ev, |e, o| {
        datetime64(e.time_unix_nano, o)
    });
    list(out, "Events.Name", ev, |e, o| write_json_string(&e.name, o));
    list(out, "Events.Attributes", ev, |e, o| map(&e.attributes, o));
    let links = &s.links;
    list(out, "Links.TraceId", links, |l, o| {
        hex_string(&l.trace_id, o)
    });
    list(out, "Links.SpanId", links, |l, o| hex_string(&l.span_id, o));
    list(out, "Links.TraceState", links, |l, o| {
        write_json_string(&l.trace_state, o)
    });
    last(out, "Links.Attributes", links, |l, o| map(&l.attributes, o));
}

/// The Collector's words for span kinds (`traceutil.SpanKindStr`).
pub fn span_kind(kind: i32) -> &'static str {
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Internal) => "Internal",
        Ok(SpanKind::Server) => "Server",
        Ok(SpanKind::Client) => "Client",
        Ok(SpanKind::Producer) => "Producer",
        Ok(SpanKind::Consumer) => "Consumer",
        _ => "Unspecified",
    }
}

/// The Collector's words for status codes (`traceutil.StatusCodeStr`).
pub fn status_code(code: i32) -> &'static str {
    match StatusCode::try_from(code) {
        Ok(StatusCode::Ok) => "Ok",
        Ok(StatusCode::Error) => "Error",
        _ => "Unset",
    }
}

/// `ServiceName`, `ResourceSchemaUrl` (when given), `ResourceAttributes.*`,
/// each followed by a comma.
fn resource_columns(
    resource: Option<&Resource>,
    schema_url: Option<&str>,
    schema: Schema,
    out: &mut Vec<u8>,
) {
    let attrs = resource.map_or(&[][..], |r| &r.attributes[..]);
    string(
        out,
        "ServiceName",
        string_attribute(attrs, "service.name").unwrap_or(""),
    );
    if let Some(url) = schema_url {
        string(out, "ResourceSchemaUrl", url);
    }
    attributes(out, "ResourceAttributes", attrs, schema);
}

/// `ScopeName`, `ScopeVersion`, `ScopeAttributes.*`, each followed by a comma.
fn scope_columns(scope: Option<&InstrumentationScope>, schema: Schema, out: &mut Vec<u8>) {
    string(out, "ScopeName", scope.map_or("", |s| &s.name));
    string(out, "ScopeVersion", scope.map_or("", |s| &s.version));
    let attrs = scope.map_or(&[][..], |s| &s.attributes[..]);
    attributes(out, "ScopeAttributes", attrs, schema);
}

fn string_attribute<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// `"name":` — a column name followed by its value.
fn field(out: &mut Vec<u8>, name: &str) {
    write_json_string(name, out);
    out.push(b':');
}

fn string(out: &mut Vec<u8>, name: &str, value: &str) {
    field(out, name);
    write_json_string(value, out);
    out.push(b',');
}

fn uint(out: &mut Vec<u8>, name: &str, value: u64) {
    field(out, name);
    write_int(value, out);
    out.push(b',');
}

fn int(out: &mut Vec<u8>, name: &str, value: i64) {
    field(out, name);
    write_int(value, out);
    out.push(b',');
}

fn float(out: &mut Vec<u8>, name: &str, value: f64) {
    field(out, name);
    write_float(value, out);
    out.push(b',');
}

fn hex(out: &mut Vec<u8>, name: &str, id: &[u8]) {
    field(out, name);
    hex_string(id, out);
    out.push(b',');
}

fn hex_string(id: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    write_hex(id, out);
    out.push(b'"');
}

/// Ends a row that ended with a comma.
fn close(out: &mut Vec<u8>) {
    if out.last() == Some(&b',') {
        out.pop();
    }
    out.push(b'}');
}

/// The columns a histogram row ends with.
fn histogram_tail(
    out: &mut Vec<u8>,
    ex: &[Exemplar],
    min: Option<f64>,
    max: Option<f64>,
    temporality: i32,
    schema: Schema,
) {
    exemplars(out, ex, schema);
    float(out, "Min", min.unwrap_or(0.0));
    float(out, "Max", max.unwrap_or(0.0));
    int(out, "AggregationTemporality", i64::from(temporality));
    close(out);
}

/// A time: modern, one `DateTime64(9)` column; 18.16, a `DateTime` column
/// (whole seconds) and its exact `UInt64` companion.
fn time(out: &mut Vec<u8>, seconds_column: &str, nanos_column: &str, ns: u64, schema: Schema) {
    match schema {
        Schema::Modern => {
            field(out, seconds_column);
            datetime64(ns, out);
            out.push(b',');
        }
        Schema::Compat1816 => {
            uint(out, seconds_column, seconds(ns));
            uint(out, nanos_column, ns);
        }
    }
}

/// `"s.nnnnnnnnn"` for a `DateTime64(9)` column, which ends at i64::MAX ns
/// (2262-04-11): later times are stored as that.
fn datetime64(ns: u64, out: &mut Vec<u8>) {
    let ns = ns.min(i64::MAX as u64);
    out.push(b'"');
    write_int(ns / 1_000_000_000, out);
    let frac = ns % 1_000_000_000;
    out.extend_from_slice(format!(".{frac:09}").as_bytes());
    out.push(b'"');
}

/// Unix seconds for a `DateTime` column, which holds 1970 to 2106 (UInt32).
pub fn seconds(ns: u64) -> u64 {
    (ns / 1_000_000_000).min(u64::from(u32::MAX))
}

/// A double for a Float64 column.
fn write_float(d: f64, out: &mut Vec<u8>) {
    if d.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(d).as_bytes());
    } else if d.is_nan() {
        out.extend_from_slice(b"\"nan\"");
    } else if d > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

fn number(v: Option<number_data_point::Value>) -> f64 {
    match v {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// Modern: `"name":{"k":"v",…},`; 18.16: `"name.Key":[…],"name.Value":[…],`
fn attributes(out: &mut Vec<u8>, name: &str, attrs: &[KeyValue], schema: Schema) {
    if schema == Schema::Modern {
        field(out, name);
        map(attrs, out);
        out.push(b',');
        return;
    }
    field(out, &format!("{name}.Key"));
    keys(attrs, out);
    out.push(b',');
    field(out, &format!("{name}.Value"));
    values(attrs, out);
    out.push(b',');
}

/// `{"k":"v",…}` for a `Map(LowCardinality(String), String)` column.
fn map(attrs: &[KeyValue], out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, kv) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(&kv.key, out);
        out.push(b':');
        any_text(kv.value.as_ref(), out);
    }
    out.push(b'}');
}

fn keys(attrs: &[KeyValue], out: &mut Vec<u8>) {
    json_list(out, attrs, |kv, o| write_json_string(&kv.key, o));
}

fn values(attrs: &[KeyValue], out: &mut Vec<u8>) {
    json_list(out, attrs, |kv, o| any_text(kv.value.as_ref(), o));
}

/// `"name":[…],`
fn list<T>(out: &mut Vec<u8>, name: &str, items: &[T], write: impl Fn(&T, &mut Vec<u8>)) {
    field(out, name);
    json_list(out, items, write);
    out.push(b',');
}

/// `"name":[…]`, the row's last column.
fn last<T>(out: &mut Vec<u8>, name: &str, items: &[T], write: impl Fn(&T, &mut Vec<u8>)) {
    field(out, name);
    json_list(out, items, write);
}

/// `PositiveOffset`, `PositiveBucketCounts` (or Negative…).
fn buckets(out: &mut Vec<u8>, side: &str, b: Option<&Buckets>) {
    int(
        out,
        &format!("{side}Offset"),
        i64::from(b.map_or(0, |b| b.offset)),
    );
    let counts = b.map_or(&[][..], |b| &b.bucket_counts[..]);
    list(out, &format!("{side}BucketCounts"), counts, |v, o| {
        write_int(*v, o)
    });
}

fn exemplars(out: &mut Vec<u8>, ex: &[Exemplar], schema: Schema) {
    let value = |e: &Exemplar| match e.value {
        Some(exemplar::Value::AsDouble(d)) => d,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => 0.0,
    };
    if schema == Schema::Modern {
        list(out, "Exemplars.FilteredAttributes", ex, |e, o| {
            map(&e.filtered_attributes, o)
        });
        list(out, "Exemplars.TimeUnix", ex, |e, o| {
            datetime64(e.time_unix_nano, o)
        });
    } else {
        list(out, "Exemplars.FilteredAttributesKey", ex, |e, o| {
            keys(&e.filtered_attributes, o)
        });
        list(out, "Exemplars.FilteredAttributesValue", ex, |e, o| {
            values(&e.filtered_attributes, o)
        });
        list(out, "Exemplars.TimeUnix", ex, |e, o| {
            write_int(seconds(e.time_unix_nano), o)
        });
    }
    list(out, "Exemplars.Value", ex, |e, o| write_float(value(e), o));
    list(out, "Exemplars.SpanId", ex, |e, o| {
        hex_string(&e.span_id, o)
    });
    list(out, "Exemplars.TraceId", ex, |e, o| {
        hex_string(&e.trace_id, o)
    });
}

/// A value as a JSON string of its text, as the Collector's `AsString`:
/// strings as they are, numbers and booleans in decimal, bytes in base64,
/// arrays and maps as JSON, nothing as "".
fn any_text(value: Option<&AnyValue>, out: &mut Vec<u8>) {
    let mut text = Vec::new();
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => return write_json_string(s, out),
        None => return write_json_string("", out),
        Some(Value::BoolValue(b)) => text.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(Value::IntValue(i)) => write_int(*i, &mut text),
        Some(Value::DoubleValue(d)) => crate::text::write_f64(*d, &mut text),
        Some(Value::BytesValue(_)) => {
            // Written as a JSON string of base64: keep what is inside the quotes.
            write_plain_value(value.unwrap_or(&AnyValue::default()), &mut text);
            text.retain(|&b| b != b'"');
        }
        Some(_) => write_plain_value(value.unwrap_or(&AnyValue::default()), &mut text),
    }
    write_json_string(&String::from_utf8_lossy(&text), out);
}
