//! Every field of every message, set to a non-default value, survives
//! encode → decode, also with proto (snake_case) names. The struct literals
//! name every field on purpose: a field added to the protos breaks the build
//! here until the codec and this test learn it.

use opentelemetry_proto::tonic::common::v1::EntityRef;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use super::*;

const TRACE_ID: [u8; 16] = *b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff";
const SPAN_ID: [u8; 8] = *b"\xfe\xdc\xba\x98\x76\x54\x32\x10";

fn every_value() -> Vec<KeyValue> {
    let values = vec![
        Value::StringValue("s".into()),
        Value::BoolValue(true),
        Value::IntValue(i64::MIN),
        Value::DoubleValue(-1.5e-300),
        Value::ArrayValue(ArrayValue {
            values: vec![any(Value::IntValue(0)), AnyValue { value: None }],
        }),
        Value::KvlistValue(KeyValueList {
            values: vec![kv("inner", Value::BoolValue(false))],
        }),
        Value::BytesValue(vec![0, 0xff, 0x10]),
        Value::StringValueStrindex(7),
    ];
    let mut attrs: Vec<KeyValue> = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| kv(&format!("k{i}"), v))
        .collect();
    attrs.push(KeyValue {
        key: "indexed".into(),
        value: None,
        key_strindex: 3,
    });
    attrs
}

fn resource() -> Resource {
    Resource {
        attributes: every_value(),
        dropped_attributes_count: 1,
        entity_refs: vec![EntityRef {
            schema_url: "https://schema".into(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into(), "service.namespace".into()],
            description_keys: vec!["service.version".into()],
        }],
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "scope".into(),
        version: "1.0".into(),
        attributes: vec![kv("a", Value::IntValue(1))],
        dropped_attributes_count: 2,
    }
}

pub(super) fn all_logs() -> Records {
    Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource()),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: vec![LogRecord {
                    time_unix_nano: u64::MAX,
                    observed_time_unix_nano: 2,
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: Some(any(Value::StringValue("body".into()))),
                    attributes: every_value(),
                    dropped_attributes_count: 3,
                    flags: 0x1ff,
                    trace_id: TRACE_ID.to_vec(),
                    span_id: SPAN_ID.to_vec(),
                    event_name: "event".into(),
                }],
                schema_url: "https://scope-schema".into(),
            }],
            schema_url: "https://resource-schema".into(),
        }],
    })
}

pub(super) fn all_traces() -> Records {
    Records::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: vec![Span {
                    trace_id: TRACE_ID.to_vec(),
                    span_id: SPAN_ID.to_vec(),
                    trace_state: "a=b".into(),
                    parent_span_id: SPAN_ID.iter().rev().copied().collect(),
                    flags: u32::MAX,
                    name: "span".into(),
                    kind: 3,
                    start_time_unix_nano: 10,
                    end_time_unix_nano: 20,
                    attributes: every_value(),
                    dropped_attributes_count: 4,
                    events: vec![span::Event {
                        time_unix_nano: 15,
                        name: "exception".into(),
                        attributes: vec![kv("exception.type", Value::StringValue("E".into()))],
                        dropped_attributes_count: 5,
                    }],
                    dropped_events_count: 6,
                    links: vec![span::Link {
                        trace_id: TRACE_ID.to_vec(),
                        span_id: SPAN_ID.to_vec(),
                        trace_state: "c=d".into(),
                        attributes: vec![kv("l", Value::BoolValue(true))],
                        dropped_attributes_count: 7,
                        flags: 0x301,
                    }],
                    dropped_links_count: 8,
                    status: Some(Status {
                        message: "failed".into(),
                        code: 2,
                    }),
                }],
                schema_url: "https://scope-schema".into(),
            }],
            schema_url: "https://resource-schema".into(),
        }],
    })
}

fn exemplars() -> Vec<Exemplar> {
    vec![
        Exemplar {
            filtered_attributes: vec![kv("f", Value::StringValue("x".into()))],
            time_unix_nano: 30,
            span_id: SPAN_ID.to_vec(),
            trace_id: TRACE_ID.to_vec(),
            value: Some(exemplar::Value::AsDouble(0.25)),
        },
        Exemplar {
            filtered_attributes: vec![],
            time_unix_nano: 31,
            span_id: vec![],
            trace_id: vec![],
            value: Some(exemplar::Value::AsInt(-3)),
        },
    ]
}

fn number_point(value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        attributes: every_value(),
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        exemplars: exemplars(),
        flags: 1,
        value: Some(value),
    }
}

fn metric(name: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        description: "what it counts".into(),
        unit: "s".into(),
        metadata: vec![kv("m", Value::StringValue("meta".into()))],
        data: Some(data),
    }
}

pub(super) fn all_metrics() -> Records {
    let metrics = vec![
        metric(
            "gauge",
            metric::Data::Gauge(Gauge {
                data_points: vec![number_point(number_data_point::Value::AsInt(i64::MAX))],
            }),
        ),
        metric(
            "sum",
            metric::Data::Sum(Sum {
                data_points: vec![number_point(number_data_point::Value::AsDouble(
                    f64::INFINITY,
                ))],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "histogram",
            metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: every_value(),
                    start_time_unix_nano: 1,
                    time_unix_nano: 2,
                    count: 6,
                    sum: Some(12.5),
                    bucket_counts: vec![1, 2, 3, u64::MAX],
                    explicit_bounds: vec![-1.0, 0.0, 1e10],
                    exemplars: exemplars(),
                    flags: 1,
                    min: Some(-0.5),
                    max: Some(0.0),
                }],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "exponential",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: every_value(),
                    start_time_unix_nano: 1,
                    time_unix_nano: 2,
                    count: 9,
                    sum: Some(0.0),
                    scale: -3,
                    zero_count: 2,
                    positive: Some(Buckets {
                        offset: -2,
                        bucket_counts: vec![4, 0, 1],
                    }),
                    negative: Some(Buckets {
                        offset: 5,
                        bucket_counts: vec![2],
                    }),
                    flags: 1,
                    exemplars: exemplars(),
                    min: Some(-7.0),
                    max: Some(7.0),
                    zero_threshold: 1e-9,
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "summary",
            metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: every_value(),
                    start_time_unix_nano: 1,
                    time_unix_nano: 2,
                    count: 3,
                    sum: 4.5,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.0,
                            value: 1.0,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 2.0,
                        },
                    ],
                    flags: 1,
                }],
            }),
        ),
    ];
    Records::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                schema_url: "https://scope-schema".into(),
            }],
            schema_url: "https://resource-schema".into(),
        }],
    })
}

/// Renames every object key from lowerCamelCase to snake_case. Values in
/// these batches never contain `":`, so only keys match.
pub(super) fn snake_case_keys(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 8);
    for (i, part) in json.split("\":").enumerate() {
        if i > 0 {
            out.push_str("\":");
        }
        let key_start = part.rfind('"').map_or(0, |q| q + 1);
        out.push_str(&part[..key_start]);
        for c in part[key_start..].chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
    }
    out
}

#[test]
fn every_field_round_trips() {
    for batch in [all_logs(), all_traces(), all_metrics()] {
        let signal = batch.signal();
        let json = String::from_utf8(encoded(&batch)).unwrap();
        assert_eq!(decode(signal, json.as_bytes()).unwrap(), batch, "{json}");

        let snake = snake_case_keys(&json);
        assert!(snake.contains("\"time_unix_nano\":") || snake.contains("_unix_nano\":"));
        assert!(!snake.contains("UnixNano"), "{snake}");
        assert_eq!(decode(signal, snake.as_bytes()).unwrap(), batch, "{snake}");
    }
}

#[test]
fn every_field_is_written_under_its_json_name() {
    let json = String::from_utf8(encoded(&all_traces())).unwrap();
    for key in [
        "resourceSpans",
        "resource",
        "entityRefs",
        "schemaUrl",
        "type",
        "idKeys",
        "descriptionKeys",
        "scopeSpans",
        "scope",
        "spans",
        "traceId",
        "spanId",
        "traceState",
        "parentSpanId",
        "flags",
        "name",
        "kind",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "attributes",
        "droppedAttributesCount",
        "events",
        "timeUnixNano",
        "droppedEventsCount",
        "links",
        "droppedLinksCount",
        "status",
        "message",
        "code",
        "keyStrindex",
        "stringValue",
        "boolValue",
        "intValue",
        "doubleValue",
        "arrayValue",
        "kvlistValue",
        "bytesValue",
        "stringValueStrindex",
        "values",
        "key",
        "value",
    ] {
        assert!(json.contains(&format!("\"{key}\":")), "no {key} in {json}");
    }
    let json = String::from_utf8(encoded(&all_metrics())).unwrap();
    for key in [
        "resourceMetrics",
        "scopeMetrics",
        "metrics",
        "description",
        "unit",
        "metadata",
        "gauge",
        "sum",
        "histogram",
        "exponentialHistogram",
        "summary",
        "dataPoints",
        "aggregationTemporality",
        "isMonotonic",
        "asInt",
        "asDouble",
        "exemplars",
        "filteredAttributes",
        "count",
        "bucketCounts",
        "explicitBounds",
        "min",
        "max",
        "scale",
        "zeroCount",
        "positive",
        "negative",
        "offset",
        "zeroThreshold",
        "quantileValues",
        "quantile",
    ] {
        assert!(json.contains(&format!("\"{key}\":")), "no {key} in {json}");
    }
    let json = String::from_utf8(encoded(&all_logs())).unwrap();
    for key in [
        "resourceLogs",
        "scopeLogs",
        "logRecords",
        "observedTimeUnixNano",
        "severityNumber",
        "severityText",
        "body",
        "eventName",
        "version",
    ] {
        assert!(json.contains(&format!("\"{key}\":")), "no {key} in {json}");
    }
    // 64-bit integers as strings, ids as lowercase hex, enums as numbers.
    assert!(
        json.contains(r#""timeUnixNano":"18446744073709551615""#),
        "{json}"
    );
    assert!(
        json.contains(r#""traceId":"00112233445566778899aabbccddeeff""#),
        "{json}"
    );
    assert!(json.contains(r#""severityNumber":17"#), "{json}");
    assert!(
        json.contains(r#""intValue":"-9223372036854775808""#),
        "{json}"
    );
}

/// The field table the protobuf walks use (`wire`: the scan and both
/// transcodes) and the codec's per-message readers and writers are both
/// generated from `crate::schema`; this holds the two together on every
/// field: the table's JSON of the prost bytes is the codec's JSON byte for
/// byte, and the table's protobuf of the codec's JSON decodes to the same
/// batch.
#[test]
fn the_field_table_and_the_codec_agree_on_every_field() {
    use crate::Encoded;
    for batch in [all_logs(), all_traces(), all_metrics()] {
        let signal = batch.signal();
        let bytes = match &batch {
            Records::Logs(r) => r.encode_to_vec(),
            Records::Metrics(r) => r.encode_to_vec(),
            Records::Traces(r) => r.encode_to_vec(),
        };
        let as_protobuf = Encoded::new(signal, bytes.into()).expect("prost's bytes scan");
        let mut by_table = Vec::new();
        transcode(&as_protobuf, &mut by_table).expect("prost's bytes are usual");
        let by_codec = encoded(&batch);
        assert_eq!(
            String::from_utf8_lossy(&by_table),
            String::from_utf8_lossy(&by_codec),
            "{signal}"
        );
        let back = to_protobuf(signal, &by_codec).expect("the codec's JSON transcodes");
        let back = Encoded::new(signal, back.into()).expect("the table's bytes scan");
        assert_eq!(back.decode().unwrap(), batch);
    }
}

/// The exact bytes of every field of every message, as the hand-written codec
/// wrote them before `crate::schema` generated it: key order, number forms,
/// hex and base64 stay as they were.
#[test]
fn every_field_encodes_to_the_pinned_bytes() {
    let got: String = [all_logs(), all_traces(), all_metrics()]
        .iter()
        .map(|b| String::from_utf8(encoded(b)).unwrap() + "\n")
        .collect();
    assert_eq!(got, include_str!("every_field.json"));
}
