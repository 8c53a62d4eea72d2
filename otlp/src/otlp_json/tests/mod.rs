//! Tests of the codec: the Claude Code captures, tables of small inputs,
//! exact encodings, and seeded random inputs that must never panic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::*;
use crate::records::{Records, Signal};

mod captures;
mod decoding;
mod encoding;
mod every_field;
mod from_wire;
mod fuzz;
mod reader;
mod to_wire;

const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/claude-code/captures"
);

/// The capture files whose name ends with `suffix`, with their signal. The
/// captures live in the repository, so a missing folder fails the test.
fn capture_files(suffix: &str) -> Option<Vec<(PathBuf, Signal)>> {
    let root = Path::new(CAPTURES);
    assert!(root.is_dir(), "no Claude Code captures at {CAPTURES}");
    let mut files = Vec::new();
    for variant in std::fs::read_dir(root).unwrap() {
        let otlp = variant.unwrap().path().join("otlp");
        let Ok(entries) = std::fs::read_dir(&otlp) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if !name.ends_with(suffix) || name.ends_with(".headers.json") {
                continue;
            }
            if suffix == ".json" && name.ends_with(".decoded.json") {
                continue;
            }
            files.push((path, signal_of(&name)));
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no *{suffix} captures under {CAPTURES}");
    Some(files)
}

/// The JSON captures and our own OTLP/JSON of the protobuf captures, with
/// their signals.
fn json_bodies() -> Vec<(Vec<u8>, Signal)> {
    let mut bodies: Vec<(Vec<u8>, Signal)> = capture_files(".json")
        .unwrap()
        .into_iter()
        .map(|(p, signal)| (std::fs::read(p).unwrap(), signal))
        .collect();
    for (path, signal) in capture_files(".bin").unwrap() {
        let json = encoded(&prost_decode(signal, &std::fs::read(&path).unwrap()));
        bodies.push((json, signal));
    }
    bodies
}

fn signal_of(name: &str) -> Signal {
    Signal::ALL
        .into_iter()
        .find(|s| name.contains(&format!("-{}.", s.as_str())))
        .unwrap_or_else(|| panic!("no signal in capture name {name}"))
}

fn prost_decode(signal: Signal, bytes: &[u8]) -> Records {
    match signal {
        Signal::Logs => Records::Logs(ExportLogsServiceRequest::decode(bytes).unwrap()),
        Signal::Metrics => Records::Metrics(ExportMetricsServiceRequest::decode(bytes).unwrap()),
        Signal::Traces => Records::Traces(ExportTraceServiceRequest::decode(bytes).unwrap()),
    }
}

fn encoded(batch: &Records) -> Vec<u8> {
    let mut out = Vec::new();
    encode(batch, &mut out);
    out
}

/// Log bodies, span names or metric names, in order.
fn item_names(batch: &Records) -> Vec<String> {
    match batch {
        Records::Logs(r) => r
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| match l.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                other => panic!("log body {other:?}"),
            })
            .collect(),
        Records::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect(),
        Records::Metrics(r) => r
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.clone())
            .collect(),
    }
}

fn logs(batch: Records) -> ExportLogsServiceRequest {
    match batch {
        Records::Logs(r) => r,
        other => panic!("expected logs, got {}", other.signal()),
    }
}

fn traces(batch: Records) -> ExportTraceServiceRequest {
    match batch {
        Records::Traces(r) => r,
        other => panic!("expected traces, got {}", other.signal()),
    }
}

fn metrics(batch: Records) -> ExportMetricsServiceRequest {
    match batch {
        Records::Metrics(r) => r,
        other => panic!("expected metrics, got {}", other.signal()),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> &'a Value {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .unwrap_or_else(|| panic!("no attribute {key}"))
}

/// One log record, wrapped in a logs request.
fn log_json(record: &str) -> String {
    format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{record}]}}]}}]}}"#)
}

fn one_log(record: &str) -> LogRecord {
    let json = log_json(record);
    let mut r = logs(decode(Signal::Logs, json.as_bytes()).unwrap());
    r.resource_logs[0].scope_logs[0].log_records.remove(0)
}

fn span_json(span: &str) -> String {
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#)
}

fn metric_json(metric: &str) -> String {
    format!(r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{metric}]}}]}}]}}"#)
}

fn any(v: Value) -> AnyValue {
    AnyValue { value: Some(v) }
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(any(v)),
        ..Default::default()
    }
}
