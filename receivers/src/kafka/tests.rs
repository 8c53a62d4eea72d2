//! The config table over `testdata/kafka/config.yaml`. Consuming from a real
//! broker is tested end to end in tests/kafka.rs.

use ccpipe_kafka::Encoding;
use ccpipe_pipeline::config::{load_str, Config};
use ccpipe_pipeline::Signal;

use super::config::from_component;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/kafka/config.yaml");

fn load() -> Config {
    let text = std::fs::read_to_string(TESTDATA).unwrap();
    load_str("kafka.yaml", &text).unwrap()
}

#[test]
fn kafka_config_table() {
    let config = load();
    let cases: &[(&str, Result<(), &str>)] = &[
        ("kafka", Ok(())),
        ("kafka/all_keys", Ok(())),
        (
            "kafka/empty_group",
            Err("kafka.yaml:21: receivers.kafka/empty_group.group_id: must not be empty"),
        ),
        (
            "kafka/heartbeat_too_long",
            Err("kafka.yaml:24: receivers.kafka/heartbeat_too_long.heartbeat_interval: must be greater than 0 and less than session_timeout (5s)"),
        ),
        (
            "kafka/bad_offset",
            Err("kafka.yaml:26: receivers.kafka/bad_offset.initial_offset: unknown variant `newest`, expected `earliest` or `latest`"),
        ),
        (
            "kafka/bad_limits",
            Err("kafka.yaml:28: receivers.kafka/bad_limits.limits.max_attribute_depth: must be between 1 and 24, got 0"),
        ),
        (
            "kafka/no_port",
            Err("kafka.yaml:30: receivers.kafka/no_port.brokers: \"kafka\": missing port; expected host:port, e.g. 127.0.0.1:9092"),
        ),
        (
            "kafka/typo",
            Err("kafka.yaml:32: receivers.kafka/typo.group: unknown field `group`, expected one of `brokers`, `client_id`, `group_id`, `topic`, `encoding`, `logs`, `metrics`, `traces`, `initial_offset`, `session_timeout`, `heartbeat_interval`, `backpressure_wait`, `limits`, `tls`, `auth`"),
        ),
    ];
    let listed: Vec<String> = config.receivers.keys().map(|id| id.to_string()).collect();
    let mut tested: Vec<&str> = cases.iter().map(|(id, _)| *id).collect();
    tested.sort_unstable();
    assert_eq!(listed, tested, "every testdata case has a row");
    for (id, want) in cases {
        let cfg = &config.receivers[&id.parse().unwrap()];
        let got =
            ccpipe_pipeline::factory::validate(crate::FACTORIES, cfg).map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map_err(String::as_str),
            want.as_ref().map_err(|e| *e),
            "case {id}"
        );
    }

    let defaults = from_component(&config.receivers[&"kafka".parse().unwrap()]).unwrap();
    assert_eq!(defaults.connection.brokers, ["127.0.0.1:9092"]);
    assert_eq!(defaults.topics.topic(Signal::Metrics), "otlp_metrics");
    let props: Vec<String> = defaults
        .consumer
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for want in [
        "group.id=ccpipe",
        "auto.offset.reset=earliest",
        "enable.auto.offset.store=false",
    ] {
        assert!(props.contains(&want.to_owned()), "{props:?}");
    }

    let all = from_component(&config.receivers[&"kafka/all_keys".parse().unwrap()]).unwrap();
    assert_eq!(all.topics.topic(Signal::Logs), "telemetry");
    assert_eq!(all.topics.encoding(Signal::Logs), Encoding::OtlpJson);
    assert_eq!(all.topics.encoding(Signal::Traces), Encoding::OtlpProto);
    assert_eq!(
        all.topics.signals_of("telemetry"),
        [Signal::Logs, Signal::Metrics]
    );
    assert_eq!(all.backpressure_wait, std::time::Duration::from_millis(250));
    assert_eq!(all.limits.max_attributes, 64);
    assert_eq!(all.connection.security_protocol(), "sasl_ssl");
}
