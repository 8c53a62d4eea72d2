//! The limits at their boundaries (n allowed, n + 1 refused) on both paths:
//! the wire walk over the encoded request and the check of the decoded batch
//! must agree exactly, message included.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use opentelemetry_proto::tonic::metrics::v1::{number_data_point, Exemplar};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::*;
use crate::records::Signal;
use crate::testing::Xorshift;
use crate::wire::{scan, scan_within, ScanError};
use crate::Encoded;

const SMALL: Limits = Limits {
    max_attribute_depth: 3,
    max_attributes: 4,
};

const DEFAULTS: Limits = Limits {
    max_attribute_depth: 16,
    max_attributes: 256,
};

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(v.to_owned())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..Default::default()
    }
}

/// `n` string attributes.
fn kvs(n: usize) -> Vec<KeyValue> {
    (0..n).map(|i| kv(&format!("k{i}"), s("v"))).collect()
}

fn array(values: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(Value::ArrayValue(ArrayValue { values })),
    }
}

fn kvlist(values: Vec<KeyValue>) -> AnyValue {
    AnyValue {
        value: Some(Value::KvlistValue(KeyValueList { values })),
    }
}

/// A value `levels` AnyValues deep: arrays or one-entry kvlists around a string.
fn nested(levels: usize, kvlists: bool) -> AnyValue {
    let mut v = s("leaf");
    for _ in 1..levels {
        v = match kvlists {
            true => kvlist(vec![kv("k", v)]),
            false => array(vec![v]),
        };
    }
    v
}

fn logs(
    resource: Vec<KeyValue>,
    scope: Vec<KeyValue>,
    record: Vec<KeyValue>,
    body: Option<AnyValue>,
) -> Records {
    Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    attributes: scope,
                    ..Default::default()
                }),
                log_records: vec![LogRecord {
                    body,
                    attributes: record,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn record(attributes: Vec<KeyValue>) -> Records {
    logs(kvs(1), kvs(1), attributes, Some(s("body")))
}

fn body(value: AnyValue) -> Records {
    logs(kvs(1), kvs(1), kvs(1), Some(value))
}

fn span(span_attrs: Vec<KeyValue>, event: Vec<KeyValue>, link: Vec<KeyValue>) -> Records {
    Records::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: kvs(1),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    attributes: span_attrs,
                    events: vec![Event {
                        attributes: event,
                        ..Default::default()
                    }],
                    links: vec![Link {
                        attributes: link,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn metric(metric: Metric, resource: Vec<KeyValue>) -> Records {
    Records::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn number_point(attributes: Vec<KeyValue>, exemplar: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        exemplars: vec![Exemplar {
            filtered_attributes: exemplar,
            ..Default::default()
        }],
        value: Some(number_data_point::Value::AsInt(1)),
        ..Default::default()
    }
}

fn gauge(attributes: Vec<KeyValue>, exemplar: Vec<KeyValue>) -> Records {
    let data = Data::Gauge(Gauge {
        data_points: vec![number_point(attributes, exemplar)],
    });
    metric(
        Metric {
            name: "m".to_owned(),
            data: Some(data),
            ..Default::default()
        },
        kvs(1),
    )
}

fn with_data(data: Data) -> Records {
    metric(
        Metric {
            name: "m".to_owned(),
            metadata: kvs(1),
            data: Some(data),
            ..Default::default()
        },
        kvs(1),
    )
}

/// Runs both paths, which must agree, and returns their verdict.
fn verdict(batch: &Records, limits: &Limits) -> Result<(), LimitError> {
    let bytes = encode(batch);
    let wire = match scan_within(batch.signal(), &bytes, limits) {
        Ok(items) => {
            assert_eq!(items, batch.item_count());
            Ok(())
        }
        Err(ScanError::Limit(e)) => Err(e),
        Err(ScanError::Malformed(e)) => panic!("prost's own encoding is malformed: {e}"),
    };
    let decoded = check(batch, limits);
    assert_eq!(
        wire, decoded,
        "the wire walk and the decoded check disagree"
    );
    let encoded = Encoded::new(batch.signal(), bytes.clone().into()).unwrap();
    assert_eq!(crate::Batch::from(encoded).check_limits(limits), decoded);
    assert_eq!(
        crate::Batch::from(batch.clone()).check_limits(limits),
        decoded
    );
    assert_eq!(
        scan_within(batch.signal(), &bytes, &Limits::NONE).ok(),
        scan(batch.signal(), &bytes).ok()
    );
    decoded
}

fn encode(batch: &Records) -> Vec<u8> {
    match batch {
        Records::Logs(r) => r.encode_to_vec(),
        Records::Metrics(r) => r.encode_to_vec(),
        Records::Traces(r) => r.encode_to_vec(),
    }
}

fn too_many<T>(at: &'static str, count: usize, max: usize, kvlist: bool) -> Result<T, LimitError> {
    Err(LimitError {
        at,
        exceeded: Exceeded::Attributes { count, max, kvlist },
    })
}

fn too_deep<T>(at: &'static str, max: usize) -> Result<T, LimitError> {
    Err(LimitError {
        at,
        exceeded: Exceeded::Depth { max },
    })
}

type Build = fn(Vec<KeyValue>) -> Records;

/// Every kind of attribute set: how to build a request with `n` key-values
/// in it, its name, and whether it is a kvlist value.
fn sets() -> Vec<(&'static str, Build, &'static str, bool)> {
    vec![
        (
            "logs resource",
            |a| logs(a, kvs(1), kvs(1), None),
            at::RESOURCE,
            false,
        ),
        (
            "logs scope",
            |a| logs(kvs(1), a, kvs(1), None),
            at::SCOPE,
            false,
        ),
        ("log record", record, at::LOG_RECORD, false),
        ("log body kvlist", |a| body(kvlist(a)), at::LOG_BODY, true),
        (
            "attribute kvlist",
            |a| record(vec![kv("map", kvlist(a))]),
            at::LOG_RECORD,
            true,
        ),
        (
            "kvlist in an array",
            |a| record(vec![kv("list", array(vec![s("x"), kvlist(a)]))]),
            at::LOG_RECORD,
            true,
        ),
        (
            "kvlist in a kvlist",
            |a| record(vec![kv("map", kvlist(vec![kv("inner", kvlist(a))]))]),
            at::LOG_RECORD,
            true,
        ),
        (
            "traces resource",
            |a| {
                let mut b = span(kvs(1), kvs(1), kvs(1));
                if let Records::Traces(r) = &mut b {
                    r.resource_spans[0].resource.as_mut().unwrap().attributes = a;
                }
                b
            },
            at::RESOURCE,
            false,
        ),
        ("span", |a| span(a, kvs(1), kvs(1)), at::SPAN, false),
        (
            "span event",
            |a| span(kvs(1), a, kvs(1)),
            at::SPAN_EVENT,
            false,
        ),
        (
            "span link",
            |a| span(kvs(1), kvs(1), a),
            at::SPAN_LINK,
            false,
        ),
        (
            "metrics resource",
            |a| gauge_with_resource(a),
            at::RESOURCE,
            false,
        ),
        (
            "metric metadata",
            |a| {
                let mut b = gauge(kvs(1), kvs(1));
                if let Records::Metrics(r) = &mut b {
                    r.resource_metrics[0].scope_metrics[0].metrics[0].metadata = a;
                }
                b
            },
            at::METRIC,
            false,
        ),
        ("gauge point", |a| gauge(a, kvs(1)), at::DATA_POINT, false),
        ("exemplar", |a| gauge(kvs(1), a), at::EXEMPLAR, false),
        (
            "sum point",
            |a| {
                with_data(Data::Sum(Sum {
                    data_points: vec![number_point(a, kvs(1))],
                    ..Default::default()
                }))
            },
            at::DATA_POINT,
            false,
        ),
        (
            "histogram point",
            |a| {
                with_data(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes: a,
                        count: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }))
            },
            at::DATA_POINT,
            false,
        ),
        (
            "exponential histogram point",
            |a| {
                with_data(Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        attributes: a,
                        positive: Some(exponential_histogram_data_point::Buckets {
                            offset: 1,
                            bucket_counts: vec![1, 2],
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }))
            },
            at::DATA_POINT,
            false,
        ),
        (
            "summary point",
            |a| {
                with_data(Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        attributes: a,
                        ..Default::default()
                    }],
                }))
            },
            at::DATA_POINT,
            false,
        ),
    ]
}

fn gauge_with_resource(resource: Vec<KeyValue>) -> Records {
    let mut b = gauge(kvs(1), kvs(1));
    if let Records::Metrics(r) = &mut b {
        r.resource_metrics[0].resource.as_mut().unwrap().attributes = resource;
    }
    b
}

#[test]
fn every_attribute_set_takes_max_attributes_and_refuses_one_more() {
    for limits in [SMALL, DEFAULTS] {
        let max = limits.max_attributes;
        for (name, build, at, kvlist) in sets() {
            assert_eq!(verdict(&build(kvs(max)), &limits), Ok(()), "{name}: {max}");
            assert_eq!(
                verdict(&build(kvs(max + 1)), &limits),
                too_many(at, max + 1, max, kvlist),
                "{name}: {}",
                max + 1
            );
            assert_eq!(
                verdict(&build(kvs(max + 1)), &Limits::NONE),
                Ok(()),
                "{name}"
            );
        }
    }
}

/// Where a value can sit, with the name of its set.
type Place = fn(AnyValue) -> Records;

fn value_places() -> Vec<(&'static str, Place, &'static str)> {
    vec![
        (
            "log record attribute",
            |v| record(vec![kv("deep", v)]),
            at::LOG_RECORD,
        ),
        ("log body", body, at::LOG_BODY),
        (
            "resource attribute",
            |v| logs(vec![kv("deep", v)], kvs(1), kvs(1), None),
            at::RESOURCE,
        ),
        (
            "scope attribute",
            |v| logs(kvs(1), vec![kv("deep", v)], kvs(1), None),
            at::SCOPE,
        ),
        (
            "span attribute",
            |v| span(vec![kv("deep", v)], kvs(1), kvs(1)),
            at::SPAN,
        ),
        (
            "span event attribute",
            |v| span(kvs(1), vec![kv("deep", v)], kvs(1)),
            at::SPAN_EVENT,
        ),
        (
            "span link attribute",
            |v| span(kvs(1), kvs(1), vec![kv("deep", v)]),
            at::SPAN_LINK,
        ),
        (
            "data point attribute",
            |v| gauge(vec![kv("deep", v)], kvs(1)),
            at::DATA_POINT,
        ),
        (
            "exemplar attribute",
            |v| gauge(kvs(1), vec![kv("deep", v)]),
            at::EXEMPLAR,
        ),
    ]
}

#[test]
fn values_nest_to_max_attribute_depth_and_not_one_level_more() {
    for limits in [SMALL, DEFAULTS] {
        let max = limits.max_attribute_depth;
        for (name, build, at) in value_places() {
            for kvlists in [false, true] {
                let what = format!("{name}, kvlists {kvlists}");
                assert_eq!(
                    verdict(&build(nested(max, kvlists)), &limits),
                    Ok(()),
                    "{what}"
                );
                assert_eq!(
                    verdict(&build(nested(max + 1, kvlists)), &limits),
                    too_deep(at, max),
                    "{what}"
                );
            }
        }
    }
    // A scalar is level 1: depth 1 allows attributes but no arrays of them.
    let flat = Limits {
        max_attribute_depth: 1,
        max_attributes: 4,
    };
    assert_eq!(verdict(&record(kvs(4)), &flat), Ok(()));
    assert_eq!(
        verdict(&record(vec![kv("a", array(vec![]))]), &flat),
        Ok(()),
        "an empty array holds no value"
    );
    assert_eq!(
        verdict(&record(vec![kv("a", array(vec![s("x")]))]), &flat),
        too_deep(at::LOG_RECORD, 1)
    );
}

/// A length-delimited field.
fn field(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut v);
    prost::encoding::encode_varint(body.len() as u64, &mut v);
    v.extend_from_slice(body);
    v
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// A logs request whose one ResourceLogs body is `resource_logs`.
fn logs_bytes(resource_logs: Vec<u8>) -> Vec<u8> {
    field(1, &resource_logs)
}

/// ResourceLogs { scope_logs { log_records: [record bytes] } } after `resource`.
fn record_bytes(resource: Vec<u8>, record: Vec<u8>) -> Vec<u8> {
    logs_bytes(cat(&[resource, field(2, &field(2, &record))]))
}

fn resource_field(n: usize) -> Vec<u8> {
    field(
        1,
        &Resource {
            attributes: kvs(n),
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

fn kvlist_value(n: usize) -> Vec<u8> {
    kvlist(kvs(n)).encode_to_vec()
}

/// What prost makes of the bytes, checked, against the wire walk.
fn both(bytes: &[u8]) -> Result<usize, LimitError> {
    let batch = Records::Logs(ExportLogsServiceRequest::decode(bytes).expect("valid protobuf"));
    let decoded = check(&batch, &SMALL).map(|()| batch.item_count());
    let wire = scan_within(Signal::Logs, bytes, &SMALL).map_err(|e| match e {
        ScanError::Limit(e) => e,
        ScanError::Malformed(e) => panic!("{e}"),
    });
    assert_eq!(wire, decoded, "the wire walk and prost + check disagree");
    wire
}

#[test]
fn repeated_singular_fields_merge_as_prost_merges_them() {
    let one_record = LogRecord::default().encode_to_vec();
    // A resource in two halves is one resource: 3 + 2 key-values.
    let split = record_bytes(
        cat(&[resource_field(3), resource_field(2)]),
        one_record.clone(),
    );
    assert_eq!(both(&split), too_many(at::RESOURCE, 5, 4, false));
    let split = record_bytes(cat(&[resource_field(2), resource_field(2)]), one_record);
    assert_eq!(both(&split), Ok(1));

    // A value given twice merges; a kvlist given twice in one value too.
    let attribute = |values: &[Vec<u8>]| {
        let mut kv = field(1, b"k");
        for v in values {
            kv.extend(field(2, v));
        }
        record_bytes(resource_field(1), field(6, &kv))
    };
    let three = kvlist_value(3);
    let two = kvlist_value(2);
    assert_eq!(
        both(&attribute(&[three.clone(), two.clone()])),
        too_many(at::LOG_RECORD, 5, 4, true)
    );
    // ...but a later scalar replaces the kvlist.
    let scalar = s("x").encode_to_vec();
    assert_eq!(
        both(&attribute(&[three.clone(), two.clone(), scalar.clone()])),
        Ok(1)
    );
    // ...and a kvlist after the scalar starts from nothing.
    assert_eq!(
        both(&attribute(&[three.clone(), scalar, two.clone()])),
        Ok(1)
    );
    let in_one_value = cat(&[
        field(6, &KeyValueList { values: kvs(3) }.encode_to_vec()),
        field(6, &KeyValueList { values: kvs(2) }.encode_to_vec()),
    ]);
    assert_eq!(
        both(&attribute(std::slice::from_ref(&in_one_value))),
        too_many(at::LOG_RECORD, 5, 4, true)
    );
    let switched = cat(&[
        field(6, &KeyValueList { values: kvs(3) }.encode_to_vec()),
        field(5, &ArrayValue::default().encode_to_vec()),
        field(6, &KeyValueList { values: kvs(2) }.encode_to_vec()),
    ]);
    assert_eq!(both(&attribute(&[switched])), Ok(1));

    // A log body given twice.
    let body = |values: &[Vec<u8>]| {
        let record: Vec<u8> = values.iter().flat_map(|v| field(5, v)).collect();
        record_bytes(resource_field(1), record)
    };
    assert_eq!(
        both(&body(&[three.clone(), two.clone()])),
        too_many(at::LOG_BODY, 5, 4, true)
    );
    assert_eq!(
        both(&body(&[three, in_one_value])),
        too_many(at::LOG_BODY, 8, 4, true)
    );
    assert_eq!(both(&body(&[two.clone(), two])), Ok(1));

    // Array elements never merge: each kvlist is its own set.
    let elements = cat(&[field(1, &kvlist_value(4)), field(1, &kvlist_value(4))]);
    let list = field(5, &elements);
    assert_eq!(both(&body(&[list.clone(), list])), Ok(1));
}

/// A random value at most `levels` deep, with up to `width` entries per container.
fn random_value(rng: &mut Xorshift, levels: usize, width: usize) -> AnyValue {
    match rng.below(if levels <= 1 { 2 } else { 5 }) {
        0 => s("x"),
        1 => AnyValue {
            value: Some(Value::IntValue(rng.below(100) as i64)),
        },
        2 => array(
            (0..rng.below(width + 1))
                .map(|_| random_value(rng, levels - 1, width))
                .collect(),
        ),
        _ => kvlist(random_kvs(rng, levels - 1, width)),
    }
}

fn random_kvs(rng: &mut Xorshift, levels: usize, width: usize) -> Vec<KeyValue> {
    (0..rng.below(width + 1))
        .map(|i| kv(&format!("k{i}"), random_value(rng, levels, width)))
        .collect()
}

#[test]
fn random_requests_get_the_same_verdict_on_both_paths() {
    let mut rng = Xorshift(0x0011_4175_eed1);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..1500 {
        let limits = Limits {
            max_attribute_depth: 2 + rng.below(4),
            max_attributes: 2 + rng.below(5),
        };
        let r = |rng: &mut Xorshift| random_kvs(rng, 4, 4);
        let batch = match rng.below(3) {
            0 => {
                let body = random_value(&mut rng, 4, 4);
                logs(r(&mut rng), r(&mut rng), r(&mut rng), Some(body))
            }
            1 => span(r(&mut rng), r(&mut rng), r(&mut rng)),
            _ => {
                let mut b = gauge(r(&mut rng), r(&mut rng));
                if let Records::Metrics(m) = &mut b {
                    m.resource_metrics[0].resource.as_mut().unwrap().attributes = r(&mut rng);
                    m.resource_metrics[0].scope_metrics[0].metrics[0].metadata = r(&mut rng);
                }
                b
            }
        };
        match verdict(&batch, &limits) {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        ok > 200 && refused > 200,
        "both outcomes exercised: {ok} / {refused}"
    );
}

#[test]
fn messages_name_the_set_and_the_key() {
    let e = LimitError {
        at: at::LOG_RECORD,
        exceeded: Exceeded::Attributes {
            count: 300,
            max: 256,
            kvlist: false,
        },
    };
    assert_eq!(
        e.describe("receivers.otlp.limits.").to_string(),
        "log record attributes: 300 key-values, more than receivers.otlp.limits.max_attributes (256)"
    );
    assert_eq!(
        e.to_string(),
        "log record attributes: 300 key-values, more than max_attributes (256)"
    );
    let e = too_many::<()>(at::SPAN, 3, 2, true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "span attributes: a kvlist value with 3 key-values, more than max_attributes (2)"
    );
    let e = too_deep::<()>(at::LOG_BODY, 16).unwrap_err();
    assert_eq!(
        e.to_string(),
        "log record body: a value nested 17 levels deep, more than max_attribute_depth (16)"
    );
}
