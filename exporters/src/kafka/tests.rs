//! The config table over `testdata/kafka/config.yaml`, and grouping by key.
//! Producing to a real broker is tested end to end in tests/kafka.rs.

use ccpipe_kafka::Encoding;
use ccpipe_pipeline::{Records, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::config::KafkaConfig;
use super::key;
use crate::testutil::{assert_config_table, captures, component, load_config};

#[test]
fn kafka_config_table() {
    let config = load_config("kafka");
    assert_config_table(
        &config,
        &[
            ("kafka", Ok(())),
            ("kafka/all_keys", Ok(())),
            (
                "kafka/bad_broker",
                Err("kafka.yaml:27: exporters.kafka/bad_broker.brokers: \"kafka://b:9092\": no scheme is needed (tls turns on TLS); expected host:port, e.g. 127.0.0.1:9092"),
            ),
            (
                "kafka/bad_topic",
                Err("kafka.yaml:29: exporters.kafka/bad_topic.traces.topic: \"my spans\" is not a Kafka topic name (1 to 249 of letters, digits, '.', '_', '-')"),
            ),
            (
                "kafka/bad_encoding",
                Err("kafka.yaml:31: exporters.kafka/bad_encoding.encoding: unknown variant `jaeger_proto`, expected `otlp_proto` or `otlp_json`"),
            ),
            (
                "kafka/bad_compression",
                Err("kafka.yaml:33: exporters.kafka/bad_compression.compression: unknown variant `snappy`, expected one of `none`, `gzip`, `lz4`, `zstd`"),
            ),
            (
                "kafka/acks_leader_idempotent",
                Err("kafka.yaml:35: exporters.kafka/acks_leader_idempotent.required_acks: an idempotent producer needs required_acks: all (or set idempotent: false)"),
            ),
            (
                "kafka/bad_mechanism",
                Err("kafka.yaml:37: exporters.kafka/bad_mechanism.auth.sasl.mechanism: unknown variant `GSSAPI`, expected one of `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`"),
            ),
            (
                "kafka/empty_password",
                Err("kafka.yaml:39: exporters.kafka/empty_password.auth.sasl.password: must not be empty (use ${env:VAR} to keep it out of the file)"),
            ),
            (
                "kafka/half_client_cert",
                Err("kafka.yaml:41: exporters.kafka/half_client_cert.tls.key_file: required with tls.cert_file (mutual TLS needs both)"),
            ),
            (
                "kafka/empty_key",
                Err("kafka.yaml:43: exporters.kafka/empty_key.key_attribute: must name an attribute (e.g. session.id); leave it out for no key"),
            ),
            (
                "kafka/small_message",
                Err("kafka.yaml:45: exporters.kafka/small_message.max_message_bytes: must be from 1000 to 1000000000"),
            ),
            (
                "kafka/typo",
                Err("kafka.yaml:47: exporters.kafka/typo.topics: unknown field `topics`, expected one of `brokers`, `client_id`, `topic`, `encoding`, `logs`, `metrics`, `traces`, `key_attribute`, `compression`, `required_acks`, `idempotent`, `max_message_bytes`, `timeout`, `tls`, `auth`, `sending_queue`, `retry_on_failure`"),
            ),
            (
                "kafka/nested_typo",
                Err("kafka.yaml:49: exporters.kafka/nested_typo.logs.topik: unknown field `topik`, expected `topic` or `encoding`"),
            ),
        ],
    );

    let defaults: KafkaConfig = component(&config, "kafka").parse().unwrap();
    let s = defaults.settings().unwrap();
    assert_eq!(s.connection.brokers, ["127.0.0.1:9092"]);
    assert_eq!(s.topics.topic(Signal::Traces), "otlp_spans");
    assert_eq!(s.topics.encoding(Signal::Logs), Encoding::OtlpProto);
    assert_eq!(s.key_attribute, None);
    let props: Vec<_> = s.producer.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for want in [
        "acks=all",
        "enable.idempotence=true",
        "compression.type=none",
    ] {
        assert!(props.contains(&want.to_owned()), "{props:?}");
    }

    let all: KafkaConfig = component(&config, "kafka/all_keys").parse().unwrap();
    let s = all.settings().unwrap();
    assert_eq!(s.topics.topic(Signal::Logs), "cc_logs");
    assert_eq!(s.topics.topic(Signal::Metrics), "telemetry");
    assert_eq!(s.topics.encoding(Signal::Metrics), Encoding::OtlpProto);
    assert_eq!(s.topics.encoding(Signal::Traces), Encoding::OtlpJson);
    assert_eq!(s.key_attribute.as_deref(), Some("session.id"));
    assert_eq!(s.connection.security_protocol(), "sasl_ssl");
    assert_eq!(s.max_message_bytes, 4 << 20);
    assert!(
        !format!("{s:?}").contains("s3cret"),
        "Debug never shows the password"
    );
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn record(session: Option<&str>, body: &str) -> LogRecord {
    LogRecord {
        attributes: session
            .map(|s| vec![kv("session.id", s)])
            .unwrap_or_default(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        ..Default::default()
    }
}

fn bodies(batch: &Records) -> Vec<String> {
    let Records::Logs(r) = batch else {
        panic!("logs")
    };
    r.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .map(|l| match l.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            _ => String::new(),
        })
        .collect()
}

#[test]
fn records_are_grouped_by_their_key_in_order_with_their_resource() {
    let resource = |name: &str| {
        Some(Resource {
            attributes: vec![kv("service.name", name)],
            ..Default::default()
        })
    };
    let batch = Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![
            ResourceLogs {
                resource: resource("a"),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        record(Some("s1"), "1"),
                        record(Some("s2"), "2"),
                        record(None, "3"),
                        record(Some("s1"), "4"),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceLogs {
                resource: resource("b"),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record(Some("s2"), "5")],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    });
    let groups = key::split(&batch, "session.id");
    let got: Vec<(Option<&str>, Vec<String>)> = groups
        .iter()
        .map(|(k, b)| (k.as_deref(), bodies(b)))
        .collect();
    assert_eq!(
        got,
        [
            (Some("s1"), vec!["1".to_owned(), "4".to_owned()]),
            (Some("s2"), vec!["2".to_owned(), "5".to_owned()]),
            (None, vec!["3".to_owned()]),
        ]
    );
    // s2's records keep their own resources: one from each.
    let Records::Logs(s2) = &groups[1].1 else {
        panic!()
    };
    assert_eq!(s2.resource_logs.len(), 2);
    assert_eq!(s2.resource_logs[1].resource, resource("b"));
    let total: usize = groups.iter().map(|(_, b)| b.item_count()).sum();
    assert_eq!(total, batch.item_count());
}

#[test]
fn a_resource_attribute_keys_all_its_records() {
    let batch = Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("user.id", "u1")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![record(Some("s1"), "1"), record(None, "2")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let groups = key::split(&batch, "user.id");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].0.as_deref(), Some("u1"));
    assert_eq!(groups[0].1, batch, "one group is the batch itself");
}

#[test]
fn metric_points_split_under_copies_of_their_metric() {
    let point = |s: &str, v: f64| NumberDataPoint {
        attributes: vec![kv("session.id", s)],
        value: Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let batch = Records::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "claude_code.cost.usage".into(),
                    unit: "USD".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: vec![point("a", 1.0), point("b", 2.0), point("a", 3.0)],
                        aggregation_temporality: 1,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let groups = key::split(&batch, "session.id");
    assert_eq!(groups.len(), 2);
    let Records::Metrics(a) = &groups[0].1 else {
        panic!()
    };
    let m = &a.resource_metrics[0].scope_metrics[0].metrics[0];
    assert_eq!(
        (m.name.as_str(), m.unit.as_str()),
        ("claude_code.cost.usage", "USD")
    );
    let Some(metric::Data::Sum(sum)) = &m.data else {
        panic!()
    };
    assert_eq!(sum.data_points.len(), 2);
    assert!(sum.is_monotonic && sum.aggregation_temporality == 1);
    assert_eq!(groups[1].1.item_count(), 1);
}

#[test]
fn every_capture_splits_into_groups_holding_all_its_items() {
    for (signal, batch) in captures("http-protobuf") {
        let groups = key::split(&batch, "session.id");
        let total: usize = groups.iter().map(|(_, b)| b.item_count()).sum();
        assert_eq!(total, batch.item_count(), "{signal}");
        assert!(
            groups.iter().all(|(k, _)| k.is_some()),
            "Claude Code sets session.id on every {signal} item"
        );
    }
}

#[test]
fn failures_are_classified_as_for_the_otlp_exporters() {
    use ccpipe_kafka::rdkafka::error::KafkaError;
    use ccpipe_kafka::rdkafka::types::RDKafkaErrorCode as C;
    use ccpipe_pipeline::ExportError;
    let permanent = [
        C::TopicAuthorizationFailed,
        C::InvalidRecord,
        C::SaslAuthenticationFailed,
    ];
    for code in permanent {
        let e = super::produce::classify(&KafkaError::MessageProduction(code));
        assert!(matches!(e, ExportError::Permanent(_)), "{code:?}: {e:?}");
    }
    let retryable = [
        C::MessageTimedOut,
        C::AllBrokersDown,
        C::NotLeaderForPartition,
        C::QueueFull,
    ];
    for code in retryable {
        let e = super::produce::classify(&KafkaError::MessageProduction(code));
        assert!(
            matches!(e, ExportError::Retryable { .. }),
            "{code:?}: {e:?}"
        );
    }
    // A broker that lost the producer's id: retried with a new producer.
    for (code, renew) in [
        (C::UnknownProducerId, true),
        (C::MessageTimedOut, true),
        (C::Fatal, true),
        (C::AllBrokersDown, false),
    ] {
        let e = KafkaError::MessageProduction(code);
        assert_eq!(super::produce::needs_new_producer(&e), renew, "{code:?}");
    }
}

/// An exporter for the encoding tests: creating a producer connects to
/// nothing yet.
fn exporter(yaml_encoding: Encoding) -> super::KafkaExporter {
    let config = load_config("kafka");
    let c: KafkaConfig = component(&config, "kafka").parse().unwrap();
    let mut settings = c.settings().unwrap();
    let none = ccpipe_kafka::SignalTopic::default();
    settings.topics =
        ccpipe_kafka::Topics::new(None, Some(yaml_encoding), &none, &none, &none).unwrap();
    super::KafkaExporter::new("kafka", settings).unwrap()
}

#[test]
fn encoded_requests_are_produced_as_their_bytes_or_as_otlp_json() {
    use bytes::Bytes;
    use ccpipe_pipeline::Encoded;
    use prost::Message as _;
    let (signal, batch) = captures("http-protobuf")
        .into_iter()
        .find(|(s, _)| *s == Signal::Logs)
        .unwrap();
    let Records::Logs(req) = &batch else {
        unreachable!()
    };
    let bytes = Bytes::from(req.encode_to_vec());
    let mut two = Encoded::new(signal, bytes.clone()).unwrap();
    two.append(Encoded::new(signal, bytes.clone()).unwrap());

    let proto = exporter(Encoding::OtlpProto).encoded_message(&two).unwrap();
    assert_eq!(
        proto.bytes(),
        [&bytes[..], &bytes[..]].concat(),
        "the received bytes, concatenated"
    );

    let json = exporter(Encoding::OtlpJson).encoded_message(&two).unwrap();
    let decoded = ccpipe_pipeline::otlp_json::decode(Signal::Logs, json.bytes()).unwrap();
    let mut want = batch.clone();
    want.append(batch);
    assert_eq!(decoded, want);
}

#[test]
fn a_message_too_large_splits_in_halves_down_to_one_record() {
    use super::produce::{halves, Message};
    use ccpipe_pipeline::ExportError;
    let (signal, batch) = captures("http-protobuf")
        .into_iter()
        .find(|(s, _)| *s == Signal::Logs)
        .unwrap();
    let items = batch.item_count();
    assert!(items > 2);
    let exporter = exporter(Encoding::OtlpProto);
    let settings = &exporter.settings;
    let m = Message::new(
        Some("s".into()),
        signal,
        ccpipe_pipeline::encode::encode(&batch),
    );
    let parts = halves(settings, m).unwrap();
    let counts: Vec<usize> = parts
        .iter()
        .map(|p| {
            super::decode(signal, Encoding::OtlpProto, p.bytes())
                .unwrap()
                .item_count()
        })
        .collect();
    assert_eq!(counts, [items / 2, items - items / 2]);

    let mut one = batch.clone();
    let single = one.split_front(1);
    let m = Message::new(None, signal, ccpipe_pipeline::encode::encode(&single));
    let Err(err) = halves(settings, m) else {
        panic!("one record cannot be split")
    };
    assert!(
        matches!(&err, ExportError::Permanent(m) if m.contains("a single record")),
        "{err:?}"
    );
}
