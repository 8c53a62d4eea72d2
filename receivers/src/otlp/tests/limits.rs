//! Attribute limits on real sockets: a request over a limit is refused whole
//! (HTTP 400 / gRPC INVALID_ARGUMENT) with a message naming the limit, is
//! counted as refused, and the connection then serves a good request.

use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::limits::Limits;
use ccpipe_pipeline::telemetry::receiver_refused;
use ccpipe_pipeline::{otlp_json, Records, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    number_data_point, Exemplar, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use prost::Message;
use tonic::Code;

use super::captures::channel;
use super::{counter, http_settings, outputs, record_metrics, start_grpc, start_http, H1};
use crate::otlp::config::{DEFAULT_LIMITS, MAX_ATTRIBUTE_DEPTH_LIMIT};
use crate::otlp::decode::{decode_within, DecodeError, Encoding, Format, JSON_NESTING_LIMIT};
use crate::otlp::grpc::GrpcSettings;
use crate::otlp::{Sink, Transport};
use ccpipe_pipeline::outputs::Outputs;
use ccpipe_pipeline::ComponentId;
use std::sync::Arc;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

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

fn kvs(n: usize) -> Vec<KeyValue> {
    (0..n).map(|i| kv(&format!("k{i}"), s("v"))).collect()
}

/// A value `levels` deep: one-entry kvlists (or arrays) around a string.
fn nested(levels: usize, kvlists: bool) -> AnyValue {
    let mut v = s("leaf");
    for _ in 1..levels {
        v = AnyValue {
            value: Some(match kvlists {
                true => Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", v)],
                }),
                false => Value::ArrayValue(ArrayValue { values: vec![v] }),
            }),
        };
    }
    v
}

/// Two log records, the second with these attributes.
fn logs(attributes: Vec<KeyValue>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        body: Some(s("fine")),
                        attributes: kvs(3),
                        ..Default::default()
                    },
                    LogRecord {
                        body: Some(s("hostile")),
                        attributes,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn json(request: &ExportLogsServiceRequest) -> Vec<u8> {
    let mut out = Vec::new();
    otlp_json::encode(&Records::Logs(request.clone()), &mut out);
    out
}

fn limited_sink(name: &str, outputs: Outputs) -> Arc<Sink> {
    let sink = Sink::new(
        &ComponentId::new("otlp", Some(name)),
        outputs,
        Duration::from_millis(50),
    );
    Arc::new(sink.with_limits(DEFAULT_LIMITS))
}

fn refused(name: &str, transport: &str) -> u64 {
    let labels = [
        ("receiver", name),
        ("transport", transport),
        ("reason", "attribute_limits"),
    ];
    counter(receiver_refused(Signal::Logs), &labels)
}

fn status_message(answer: &super::Answer, format: Format) -> (i64, String) {
    match format {
        Format::Protobuf => {
            #[derive(Clone, PartialEq, prost::Message)]
            struct Status {
                #[prost(int32, tag = "1")]
                code: i32,
                #[prost(string, tag = "2")]
                message: String,
            }
            let status = Status::decode(&answer.body[..]).expect("a google.rpc.Status");
            (status.code.into(), status.message)
        }
        Format::Json => {
            let status: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            let message = status["message"].as_str().unwrap().to_owned();
            (status["code"].as_i64().unwrap(), message)
        }
    }
}

#[tokio::test]
async fn http_refuses_too_many_and_too_deep_then_serves_the_connection() {
    record_metrics();
    for (format, content_type) in [(Format::Protobuf, PROTOBUF), (Format::Json, JSON)] {
        let name = format!("limits-http-{content_type}");
        let (outputs, queues) = outputs(&Signal::ALL, 16);
        let server = start_http(http_settings(4 << 20), limited_sink(&name, outputs)).await;
        let encode = |r: &ExportLogsServiceRequest| match format {
            Format::Protobuf => r.encode_to_vec(),
            Format::Json => json(r),
        };
        let mut client = H1::connect(server.addr).await;
        let too_many = logs(kvs(257));
        let too_deep = logs(vec![kv("deep", nested(17, true))]);
        let cases = [
            (
                encode(&too_many),
                format!("log record attributes: 257 key-values, more than receivers.otlp/{name}.limits.max_attributes (256)"),
            ),
            (
                encode(&too_deep),
                format!("log record attributes: a value nested 17 levels deep, more than receivers.otlp/{name}.limits.max_attribute_depth (16)"),
            ),
        ];
        for (body, want) in &cases {
            let answer = client.post("/v1/logs", content_type, None, body).await;
            assert_eq!(answer.status, 400, "{content_type}: {}", answer.text());
            assert_eq!(answer.header("connection"), None, "{content_type}");
            assert_eq!(answer.header("content-type"), Some(content_type));
            assert_eq!(status_message(&answer, format), (3, want.clone()));
            assert!(
                queues.all_empty(),
                "nothing of a refused request is delivered"
            );
        }
        assert_eq!(
            refused(&format!("otlp/{name}"), "http"),
            4,
            "two requests of two records"
        );

        // At the limits exactly, on the same connection.
        let at_limits = logs(
            kvs(255)
                .into_iter()
                .chain([kv("deep", nested(16, false))])
                .collect(),
        );
        let answer = client
            .post("/v1/logs", content_type, None, &encode(&at_limits))
            .await;
        assert_eq!(answer.status, 200, "{content_type}: {}", answer.text());
        assert_eq!(queues.take(Signal::Logs), Records::Logs(at_limits));
        server.stop().await;
    }
}

#[tokio::test]
async fn json_nested_past_the_parser_limit_is_400_with_a_plain_message() {
    let (outputs, queues) = outputs(&Signal::ALL, 16);
    let server = start_http(http_settings(4 << 20), limited_sink("json-deep", outputs)).await;
    let mut client = H1::connect(server.addr).await;
    // Arrays in arrays in a log body: 3 JSON levels each.
    let body = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{}{}}}]}}]}}]}}"#,
        r#"{"arrayValue":{"values":["#.repeat(50),
        "]}}".repeat(50)
    );
    // The parser stops at the first object or array past its limit.
    let mut depth = 0;
    let column = body
        .bytes()
        .position(|b| {
            depth += usize::from(b == b'{' || b == b'[');
            depth > JSON_NESTING_LIMIT
        })
        .unwrap()
        + 1;
    let answer = client.post("/v1/logs", JSON, None, body.as_bytes()).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    let (code, message) = status_message(&answer, Format::Json);
    assert_eq!(code, 3);
    assert_eq!(
        message,
        format!("malformed JSON body: line 1 column {column}: objects and arrays nested more than {JSON_NESTING_LIMIT} deep")
    );
    assert!(queues.all_empty());
    let good = logs(kvs(2));
    let answer = client.post("/v1/logs", JSON, None, &json(&good)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(queues.take(Signal::Logs).item_count(), 2);
    server.stop().await;
}

#[tokio::test]
async fn grpc_refuses_over_the_limits_with_invalid_argument_then_serves_the_channel() {
    record_metrics();
    let (outputs, queues) = outputs(&Signal::ALL, 16);
    let settings = GrpcSettings {
        max_recv_msg_size: 4 << 20,
        max_concurrent_streams: Some(8),
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
    };
    let server = start_grpc(settings, limited_sink("limits-grpc", outputs)).await;
    let mut client = LogsServiceClient::new(channel(server.addr).await);
    let cases = [
        (
            logs(kvs(300)),
            "log record attributes: 300 key-values, more than receivers.otlp/limits-grpc.limits.max_attributes (256)",
        ),
        (
            logs(vec![kv("deep", nested(17, false))]),
            "log record attributes: a value nested 17 levels deep, more than receivers.otlp/limits-grpc.limits.max_attribute_depth (16)",
        ),
        (
            logs(vec![kv("map", AnyValue { value: Some(Value::KvlistValue(KeyValueList { values: kvs(257) })) })]),
            "log record attributes: a kvlist value with 257 key-values, more than receivers.otlp/limits-grpc.limits.max_attributes (256)",
        ),
    ];
    for (request, want) in cases {
        let status = client.export(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(status.message(), want);
        assert!(queues.all_empty());
    }
    assert_eq!(refused("otlp/limits-grpc", "grpc"), 6);
    let good = logs(kvs(256));
    client
        .export(good.clone())
        .await
        .expect("the channel still works");
    assert_eq!(queues.take(Signal::Logs), Records::Logs(good));
    server.stop().await;
}

/// A metrics request with `value` in an exemplar's attributes: the longest
/// path from the request to an attribute value.
fn exemplar_value(value: AnyValue) -> ExportMetricsServiceRequest {
    let point = NumberDataPoint {
        exemplars: vec![Exemplar {
            filtered_attributes: vec![kv("deep", value)],
            value: Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsInt(1)),
            ..Default::default()
        }],
        value: Some(number_data_point::Value::AsInt(1)),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".to_owned(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![point],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn the_deepest_allowed_limit_is_reachable_on_every_format() {
    let max = MAX_ATTRIBUTE_DEPTH_LIMIT;
    let limits = Limits {
        max_attribute_depth: max,
        max_attributes: 256,
    };
    for kvlists in [true, false] {
        for (levels, ok) in [(max, true), (max + 1, false)] {
            let request = Records::Metrics(exemplar_value(nested(levels, kvlists)));
            let mut as_json = Vec::new();
            otlp_json::encode(&request, &mut as_json);
            let as_protobuf = match &request {
                Records::Metrics(r) => r.encode_to_vec(),
                _ => unreachable!(),
            };
            for (format, body) in [(Format::Json, as_json), (Format::Protobuf, as_protobuf)] {
                let what = format!("{format:?}, {levels} levels, kvlists {kvlists}");
                let result = decode_within(
                    Signal::Metrics,
                    format,
                    Encoding::Identity,
                    Bytes::from(body),
                    4 << 20,
                    &limits,
                );
                match (result, ok) {
                    (Ok(payload), true) => {
                        assert_eq!(payload.into_records().unwrap(), request, "{what}")
                    }
                    (Err(DecodeError::OverLimits { error, items }), false) => {
                        assert_eq!(items, 1, "{what}");
                        assert_eq!(
                            error.to_string(),
                            format!("exemplar attributes: a value nested {} levels deep, more than max_attribute_depth ({max})", max + 1),
                            "{what}"
                        );
                    }
                    (other, _) => panic!("{what}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn the_sink_names_its_own_receiver_in_the_message() {
    let sink = Sink::new(
        &ComponentId::new("otlp", None),
        Outputs::default(),
        Duration::from_millis(1),
    );
    assert_eq!(sink.limits(), &DEFAULT_LIMITS);
    let error = ccpipe_pipeline::wire::scan_within(
        Signal::Logs,
        &logs(kvs(257)).encode_to_vec(),
        sink.limits(),
    )
    .unwrap_err();
    let ccpipe_pipeline::wire::ScanError::Limit(error) = error else {
        panic!("{error:?}");
    };
    assert_eq!(
        sink.over_limits(Signal::Logs, Transport::Http, 2, &error),
        "log record attributes: 257 key-values, more than receivers.otlp.limits.max_attributes (256)"
    );
}
