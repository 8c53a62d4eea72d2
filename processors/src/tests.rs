//! Crate tests: config tables over `testdata/`, behaviour tables over small
//! hand-built batches, runs over the real Claude Code captures, and an
//! (ignored) throughput measurement.

mod behaviour;
mod captures;
mod config;
mod lifecycle;
mod resourcedetection;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use ccpipe_pipeline::{Batch, Processor, Records, Verdict};

pub fn s(x: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(x.into())),
    }
}
pub fn i(x: i64) -> AnyValue {
    AnyValue {
        value: Some(Value::IntValue(x)),
    }
}
pub fn d(x: f64) -> AnyValue {
    AnyValue {
        value: Some(Value::DoubleValue(x)),
    }
}
pub fn b(x: bool) -> AnyValue {
    AnyValue {
        value: Some(Value::BoolValue(x)),
    }
}
pub fn arr(values: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(Value::ArrayValue(ArrayValue { values })),
    }
}
pub fn kvlist(values: Vec<KeyValue>) -> AnyValue {
    AnyValue {
        value: Some(Value::KvlistValue(KeyValueList { values })),
    }
}
pub fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}
pub fn attrs(list: &[(&str, AnyValue)]) -> Vec<KeyValue> {
    list.iter().map(|(k, v)| kv(k, v.clone())).collect()
}

/// A Claude Code event: body `claude_code.<name>`, `event.name` first.
pub fn event(name: &str, extra: &[(&str, AnyValue)]) -> LogRecord {
    let mut a = vec![kv("event.name", s(name))];
    a.extend(attrs(extra));
    LogRecord {
        body: Some(s(&format!("claude_code.{name}"))),
        attributes: a,
        ..Default::default()
    }
}

pub fn logs(resource: &[(&str, AnyValue)], records: Vec<LogRecord>) -> Records {
    Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: attrs(resource),
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

pub fn span(name: &str, a: &[(&str, AnyValue)], events: Vec<Event>) -> Span {
    Span {
        name: name.into(),
        attributes: attrs(a),
        events,
        ..Default::default()
    }
}

pub fn span_event(name: &str, a: &[(&str, AnyValue)]) -> Event {
    Event {
        name: name.into(),
        attributes: attrs(a),
        ..Default::default()
    }
}

pub fn traces(resource: &[(&str, AnyValue)], spans: Vec<Span>) -> Records {
    Records::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: attrs(resource),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// A monotonic sum whose points all cover the same interval.
pub fn sum(
    name: &str,
    temporality: AggregationTemporality,
    points: Vec<(Vec<KeyValue>, f64)>,
) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: points
                .into_iter()
                .map(|(attributes, v)| NumberDataPoint {
                    attributes,
                    start_time_unix_nano: 1_000,
                    time_unix_nano: 2_000,
                    value: Some(Number::AsDouble(v)),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

pub fn metrics(resource: &[(&str, AnyValue)], metrics: Vec<Metric>) -> Records {
    Records::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: attrs(resource),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Runs `p` as the chain does: process, then prune what was emptied.
pub fn run(p: &mut dyn Processor, records: &mut Records) {
    let empty = Records::empty(records.signal());
    let mut batch = Batch::from(std::mem::replace(records, empty));
    assert_eq!(p.process(&mut batch).unwrap(), Verdict::Keep);
    *records = batch.into_records().unwrap();
    records.prune_empty();
}

pub fn log_records(b: &Records) -> Vec<&LogRecord> {
    let Records::Logs(r) = b else {
        panic!("not logs")
    };
    r.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .collect()
}

pub fn spans(b: &Records) -> Vec<&Span> {
    let Records::Traces(r) = b else {
        panic!("not traces")
    };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

pub fn metric_list(b: &Records) -> Vec<&Metric> {
    let Records::Metrics(r) = b else {
        panic!("not metrics")
    };
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .collect()
}

pub fn sum_points(m: &Metric) -> Vec<(Vec<KeyValue>, f64)> {
    let Some(Data::Sum(s)) = &m.data else {
        panic!("not a sum")
    };
    s.data_points
        .iter()
        .map(|p| {
            let v = match p.value {
                Some(Number::AsDouble(d)) => d,
                Some(Number::AsInt(i)) => i as f64,
                None => f64::NAN,
            };
            (p.attributes.clone(), v)
        })
        .collect()
}

pub fn resources(b: &Records) -> Vec<Vec<KeyValue>> {
    b.resource_attributes()
        .into_iter()
        .map(<[_]>::to_vec)
        .collect()
}

/// Every string anywhere in a batch: keys, values at any depth (bytes as
/// lossy UTF-8), bodies, names, status messages, scope and metric metadata.
pub fn all_strings(batch: &Records) -> Vec<String> {
    fn value(v: &AnyValue, out: &mut Vec<String>) {
        match &v.value {
            Some(Value::StringValue(s)) => out.push(s.clone()),
            Some(Value::BytesValue(b)) => out.push(String::from_utf8_lossy(b).into_owned()),
            Some(Value::ArrayValue(a)) => a.values.iter().for_each(|x| value(x, out)),
            Some(Value::KvlistValue(l)) => list(&l.values, out),
            _ => {}
        }
    }
    fn list(kvs: &[KeyValue], out: &mut Vec<String>) {
        for kv in kvs {
            out.push(kv.key.clone());
            if let Some(v) = &kv.value {
                value(v, out);
            }
        }
    }
    fn resource(r: &Option<Resource>, out: &mut Vec<String>) {
        if let Some(r) = r {
            list(&r.attributes, out);
        }
    }
    fn scope(
        s: &Option<opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
        out: &mut Vec<String>,
    ) {
        if let Some(s) = s {
            out.push(s.name.clone());
            out.push(s.version.clone());
            list(&s.attributes, out);
        }
    }
    let mut out = Vec::new();
    match batch {
        Records::Logs(r) => {
            for rl in &r.resource_logs {
                resource(&rl.resource, &mut out);
                for sl in &rl.scope_logs {
                    scope(&sl.scope, &mut out);
                    for lr in &sl.log_records {
                        list(&lr.attributes, &mut out);
                        if let Some(b) = &lr.body {
                            value(b, &mut out);
                        }
                        out.push(lr.severity_text.clone());
                        out.push(lr.event_name.clone());
                    }
                }
            }
        }
        Records::Traces(r) => {
            for rs in &r.resource_spans {
                resource(&rs.resource, &mut out);
                for ss in &rs.scope_spans {
                    scope(&ss.scope, &mut out);
                    for sp in &ss.spans {
                        out.push(sp.name.clone());
                        out.push(sp.trace_state.clone());
                        list(&sp.attributes, &mut out);
                        if let Some(st) = &sp.status {
                            out.push(st.message.clone());
                        }
                        for e in &sp.events {
                            out.push(e.name.clone());
                            list(&e.attributes, &mut out);
                        }
                        for l in &sp.links {
                            out.push(l.trace_state.clone());
                            list(&l.attributes, &mut out);
                        }
                    }
                }
            }
        }
        Records::Metrics(r) => {
            for rm in &r.resource_metrics {
                resource(&rm.resource, &mut out);
                for sm in &rm.scope_metrics {
                    scope(&sm.scope, &mut out);
                    for m in &sm.metrics {
                        out.push(m.name.clone());
                        out.push(m.description.clone());
                        out.push(m.unit.clone());
                        let mut m = m.clone();
                        crate::points::for_each_attributes(&mut m, |a| list(a, &mut out));
                        crate::points::for_each_exemplar_attributes(&mut m, |a| list(a, &mut out));
                    }
                }
            }
        }
    }
    out
}

/// Parses a typed config from YAML (an empty document reads as `{}`).
pub fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    let has_content = yaml
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    serde_yaml::from_str(if has_content { yaml } else { "{}" })
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}
