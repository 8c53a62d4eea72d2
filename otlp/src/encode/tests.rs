//! The hand-written outer levels against prost's `encode_to_vec`: the same
//! bytes on every capture, on random batches (groups and scopes present or
//! absent, schema URLs, items whose lengths cross varint boundaries), and with
//! resources replaced.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::{encode, with_resources};
use crate::records::{Records, Signal};
use crate::testing::{capture_bins, Xorshift};
use crate::Encoded;

fn prost_bytes(b: &Records) -> Vec<u8> {
    match b {
        Records::Logs(r) => r.encode_to_vec(),
        Records::Metrics(r) => r.encode_to_vec(),
        Records::Traces(r) => r.encode_to_vec(),
    }
}

fn decoded(signal: Signal, bytes: Vec<u8>) -> Records {
    Encoded::new(signal, bytes.into())
        .unwrap()
        .decode()
        .unwrap()
}

#[test]
fn every_capture_encodes_as_prost_does() {
    let captures = capture_bins();
    assert!(captures.len() > 5, "captures found");
    for (signal, bytes) in captures {
        let batch = decoded(signal, bytes);
        assert_eq!(encode(&batch), prost_bytes(&batch), "{signal:?}");
    }
}

#[test]
fn empty_batches_encode_as_prost_does() {
    for signal in [Signal::Logs, Signal::Metrics, Signal::Traces] {
        let b = Records::empty(signal);
        assert_eq!(encode(&b), prost_bytes(&b));
        assert!(encode(&b).is_empty());
    }
}

fn text(rng: &mut Xorshift) -> String {
    // Lengths around the one/two/three-byte varint boundaries.
    let len = [0, 1, 5, 126, 127, 128, 129, 16_382, 16_383, 16_384, 20_000][rng.below(11)];
    "x".repeat(len)
}

fn maybe_text(rng: &mut Xorshift) -> String {
    if rng.below(2) == 0 {
        String::new()
    } else {
        text(rng)
    }
}

fn attrs(rng: &mut Xorshift) -> Vec<KeyValue> {
    (0..rng.below(3))
        .map(|i| KeyValue {
            key: format!("k{i}"),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(text(rng))),
            }),
            ..Default::default()
        })
        .collect()
}

fn resource(rng: &mut Xorshift) -> Option<Resource> {
    (rng.below(4) != 0).then(|| Resource {
        attributes: attrs(rng),
        dropped_attributes_count: rng.below(2) as u32,
        ..Default::default()
    })
}

fn scope(rng: &mut Xorshift) -> Option<InstrumentationScope> {
    (rng.below(4) != 0).then(|| InstrumentationScope {
        name: maybe_text(rng),
        version: maybe_text(rng),
        attributes: attrs(rng),
        ..Default::default()
    })
}

/// 0–3 groups of 0–3 scope groups of 0–4 items made by `$item`, with
/// resources, scopes and schema URLs present or absent at random.
macro_rules! random_groups {
    ($rng:ident, $group:ident, $scopes:ident, $scope:ident, $items:ident, $item:expr) => {
        (0..$rng.below(4))
            .map(|_| $group {
                resource: resource($rng),
                $scopes: (0..$rng.below(4))
                    .map(|_| $scope {
                        scope: scope($rng),
                        $items: (0..$rng.below(5)).map(|_| $item).collect(),
                        schema_url: maybe_text($rng),
                    })
                    .collect(),
                schema_url: maybe_text($rng),
            })
            .collect()
    };
}

/// A random request of `signal`; log records are captured ones mixed with
/// made-up ones of varint-boundary sizes.
fn random_batch(rng: &mut Xorshift, signal: Signal, records: &[LogRecord]) -> Records {
    match signal {
        Signal::Logs => Records::Logs(ExportLogsServiceRequest {
            resource_logs: random_groups!(rng, ResourceLogs, scope_logs, ScopeLogs, log_records, {
                if rng.below(2) == 0 && !records.is_empty() {
                    records[rng.below(records.len())].clone()
                } else {
                    LogRecord {
                        event_name: text(rng),
                        attributes: attrs(rng),
                        ..Default::default()
                    }
                }
            }),
        }),
        Signal::Metrics => Records::Metrics(ExportMetricsServiceRequest {
            resource_metrics: random_groups!(
                rng,
                ResourceMetrics,
                scope_metrics,
                ScopeMetrics,
                metrics,
                Metric {
                    name: text(rng),
                    metadata: attrs(rng),
                    ..Default::default()
                }
            ),
        }),
        Signal::Traces => Records::Traces(ExportTraceServiceRequest {
            resource_spans: random_groups!(
                rng,
                ResourceSpans,
                scope_spans,
                ScopeSpans,
                spans,
                Span {
                    name: text(rng),
                    attributes: attrs(rng),
                    ..Default::default()
                }
            ),
        }),
    }
}

fn captured_records() -> Vec<LogRecord> {
    let mut out = Vec::new();
    for (signal, bytes) in capture_bins() {
        if let Records::Logs(r) = decoded(signal, bytes) {
            for rl in r.resource_logs {
                for sl in rl.scope_logs {
                    out.extend(sl.log_records);
                }
            }
        }
    }
    assert!(!out.is_empty(), "the captures hold log records");
    out
}

#[test]
fn random_batches_encode_as_prost_does() {
    let records = captured_records();
    let mut rng = Xorshift(0x5eed_e4c0_de00_0001);
    for i in 0..600 {
        let signal = [Signal::Logs, Signal::Metrics, Signal::Traces][i % 3];
        let batch = random_batch(&mut rng, signal, &records);
        assert_eq!(encode(&batch), prost_bytes(&batch), "case {i}, {signal:?}");
    }
}

/// What an exporter that tags every resource does: replaced here on the way
/// out, against a changed copy encoded by prost.
#[test]
fn replaced_resources_encode_as_a_changed_copy() {
    let records = captured_records();
    let mut rng = Xorshift(0x5eed_e4c0_de00_0002);
    let tag = |r: Option<&Resource>| {
        let mut r = r.cloned().unwrap_or_default();
        r.attributes.push(KeyValue {
            key: "team".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("platform".into())),
            }),
            ..Default::default()
        });
        r
    };
    for i in 0..300 {
        let signal = [Signal::Logs, Signal::Metrics, Signal::Traces][i % 3];
        let batch = random_batch(&mut rng, signal, &records);
        let mut copy = batch.clone();
        match &mut copy {
            Records::Logs(r) => r
                .resource_logs
                .iter_mut()
                .for_each(|g| g.resource = Some(tag(g.resource.as_ref()))),
            Records::Metrics(r) => r
                .resource_metrics
                .iter_mut()
                .for_each(|g| g.resource = Some(tag(g.resource.as_ref()))),
            Records::Traces(r) => r
                .resource_spans
                .iter_mut()
                .for_each(|g| g.resource = Some(tag(g.resource.as_ref()))),
        }
        let got = with_resources(&batch, |r| Some(Cow::Owned(tag(r))));
        assert_eq!(got, prost_bytes(&copy), "case {i}, {signal:?}");
        // Dropping every resource field is a change too.
        let mut bare = batch.clone();
        match &mut bare {
            Records::Logs(r) => r.resource_logs.iter_mut().for_each(|g| g.resource = None),
            Records::Metrics(r) => r
                .resource_metrics
                .iter_mut()
                .for_each(|g| g.resource = None),
            Records::Traces(r) => r.resource_spans.iter_mut().for_each(|g| g.resource = None),
        }
        assert_eq!(with_resources(&batch, |_| None), prost_bytes(&bare));
    }
}
