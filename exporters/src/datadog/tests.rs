//! The `datadog` exporter: its config table, and Agent mode against a fake
//! Agent (a tonic OTLP server and a hyper OTLP/HTTP intake on 127.0.0.1:0),
//! driven through the pipeline's export task.

use std::time::{Duration, Instant};

use ccpipe_pipeline::config::Config;
use ccpipe_pipeline::export_task::{ExportStats, ExportTask, RetryPolicy};
use ccpipe_pipeline::{ExportError, Exporter, Records, Shutdown, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use tokio::net::TcpListener;
use tonic::Code;

use super::*;
use crate::fake_otlp::{start_grpc, start_http, Answer};
use crate::otlp_client::Tls;
use crate::testutil::{captures, component, load_config, runtime};

// ---------------------------------------------------------------- config table

fn settings_of(config: &Config, id: &str) -> DatadogSettings {
    component(config, id)
        .parse::<DatadogConfig>()
        .unwrap()
        .settings()
        .unwrap()
}

#[test]
fn config_table() {
    let config = load_config("datadog");
    let cases: &[(&str, Result<(), &str>)] = &[
        ("datadog", Ok(())),
        ("datadog/all_keys", Ok(())),
        ("datadog/http", Ok(())),
        ("datadog/api", Ok(())),
        (
            "datadog/both",
            Err("datadog.yaml:35: exporters.datadog/both.api: agent and api are mutually exclusive: use agent to send through a Datadog Agent, or api to send to Datadog directly"),
        ),
        (
            "datadog/empty_key",
            Err("datadog.yaml:38: exporters.datadog/empty_key.api.key: must not be empty"),
        ),
        (
            "datadog/bad_site",
            Err("datadog.yaml:42: exporters.datadog/bad_site.api.site: unknown site \"datadoghq.xyz\"; expected one of datadoghq.com, datadoghq.eu, us3.datadoghq.com, us5.datadoghq.com, ap1.datadoghq.com, ddog-gov.com"),
        ),
        (
            "datadog/bad_endpoint",
            Err("datadog.yaml:45: exporters.datadog/bad_endpoint.agent.endpoint: must be an http:// or https:// URL with a host and a port, e.g. http://localhost:4317; got \"localhost:4317\""),
        ),
        (
            "datadog/no_port",
            Err("datadog.yaml:48: exporters.datadog/no_port.agent.endpoint: must be an http:// or https:// URL with a host and a port, e.g. http://localhost:4317; got \"http://localhost\""),
        ),
        ("datadog/https_agent", Ok(())),
        (
            "datadog/bad_protocol",
            Err("datadog.yaml:54: exporters.datadog/bad_protocol.agent.protocol: must be one of grpc, http/protobuf; got \"http/json\""),
        ),
        (
            "datadog/empty_service",
            Err("datadog.yaml:56: exporters.datadog/empty_service.service: must not be empty"),
        ),
        (
            "datadog/typo",
            Err("datadog.yaml:59: exporters.datadog/typo.agent.endpiont: unknown field `endpiont`, expected one of `endpoint`, `protocol`, `compression`, `tls`"),
        ),
        ("datadog/tls", Ok(())),
        (
            "datadog/tls_on_http",
            Err("datadog.yaml:69: exporters.datadog/tls_on_http.agent.tls: applies to https:// endpoints only; the endpoint is \"http://localhost:4317\""),
        ),
        (
            "datadog/tls_typo",
            Err("datadog.yaml:73: exporters.datadog/tls_typo.agent.tls.ca: unknown field `ca`, expected `ca_file` or `insecure_skip_verify`"),
        ),
        (
            "datadog/credentials",
            Err("datadog.yaml:76: exporters.datadog/credentials.agent.endpoint: must not hold credentials; the Agent takes none, the intake takes api.key"),
        ),
    ];
    crate::testutil::assert_config_table(&config, cases);
}

#[test]
fn config_defaults_and_all_keys() {
    let config = load_config("datadog");
    assert_eq!(
        settings_of(&config, "datadog"),
        DatadogSettings {
            mode: Mode::Agent(AgentSettings {
                endpoint: "http://localhost:4317".into(),
                protocol: Protocol::Grpc,
                compression: Compression::Gzip,
                tls: Tls::default(),
            }),
            enrich: EnrichSettings {
                env: None,
                service: "claude-code".into(),
                override_service: false,
                hostname: None,
                tags: vec![],
            },
            timeout: Duration::from_secs(10),
            cumulative_to_delta: false,
        }
    );
    let parsed: DatadogConfig = component(&config, "datadog").parse().unwrap();
    assert_eq!(parsed.sending_queue.queue_size, 64);
    assert_eq!(parsed.retry_on_failure.policy(), RetryPolicy::default());

    assert_eq!(
        settings_of(&config, "datadog/all_keys"),
        DatadogSettings {
            mode: Mode::Agent(AgentSettings {
                endpoint: "http://dd-agent:4317".into(),
                protocol: Protocol::Grpc,
                compression: Compression::None,
                tls: Tls::default(),
            }),
            enrich: EnrichSettings {
                env: Some("prod".into()),
                service: "cc".into(),
                override_service: true,
                hostname: Some("laptop-7".into()),
                tags: vec![
                    ("cost_center".into(), "42".into()),
                    ("team".into(), "platform".into())
                ],
            },
            timeout: Duration::from_secs(5),
            cumulative_to_delta: true,
        }
    );
    let all: DatadogConfig = component(&config, "datadog/all_keys").parse().unwrap();
    assert_eq!(all.sending_queue.queue_size, 1000);

    let Mode::Agent(http) = settings_of(&config, "datadog/http").mode else {
        panic!()
    };
    assert_eq!(http.endpoint, "http://localhost:4318");
    assert_eq!(http.protocol, Protocol::HttpProtobuf);

    let Mode::Agent(tls) = settings_of(&config, "datadog/tls").mode else {
        panic!()
    };
    assert_eq!(tls.endpoint, "https://dd-agent.internal:4318");
    assert_eq!(
        tls.tls,
        Tls {
            ca_file: Some("/etc/ccpipe/agent-ca.pem".into()),
            insecure_skip_verify: false,
        }
    );

    let api = settings_of(&config, "datadog/api");
    let Mode::Api(a) = &api.mode else { panic!() };
    assert_eq!(a.site, "datadoghq.eu");
    assert_eq!(
        a.logs_endpoint.as_deref(),
        Some("http://127.0.0.1:9000/api/v2/logs")
    );
    assert!(
        !format!("{api:?}").contains("abc123"),
        "Debug hides the key"
    );
}

#[test]
fn agentless_mode_takes_no_traces() {
    let config = load_config("datadog");
    let built = crate::testutil::build(component(&config, "datadog/api")).unwrap();
    assert_eq!(built.exporter.signals(), &[Signal::Logs, Signal::Metrics]);
    let built = crate::testutil::build(component(&config, "datadog")).unwrap();
    assert_eq!(built.exporter.signals(), &Signal::ALL);
    let api: DatadogConfig = component(&config, "datadog/api").parse().unwrap();
    assert_eq!(
        api.unsupported(Signal::Traces),
        Some("agentless mode (api) sends logs and metrics only; use Agent mode (agent) for traces")
    );
    assert_eq!(api.unsupported(Signal::Logs), None);
}

#[test]
fn build_then_shutdown_without_data() {
    let config = load_config("datadog");
    let rt = runtime();
    for id in ["datadog", "datadog/http", "datadog/api"] {
        let built = crate::testutil::build(component(&config, id)).unwrap();
        let mut exporter = built.exporter;
        rt.block_on(async {
            exporter.shutdown().await.unwrap();
            let _ = exporter.shutdown().await;
        });
    }
}

// ---------------------------------------------------------------- driving

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        enabled: true,
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(20),
        max_elapsed_time: Duration::from_secs(5),
        multiplier: 2.0,
    }
}

fn agent_settings(endpoint: &str, protocol: Protocol) -> DatadogSettings {
    DatadogSettings {
        mode: Mode::Agent(AgentSettings {
            endpoint: endpoint.into(),
            protocol,
            compression: Compression::Gzip,
            tls: Tls::default(),
        }),
        enrich: EnrichSettings {
            env: Some("test".into()),
            service: "claude-code".into(),
            override_service: false,
            hostname: Some("ci-host".into()),
            tags: vec![("team".into(), "platform".into())],
        },
        timeout: Duration::from_secs(5),
        cumulative_to_delta: false,
    }
}

/// Runs the batches through an export task to the exporter; bounded.
async fn run(settings: DatadogSettings, retry: RetryPolicy, batches: Vec<Records>) -> ExportStats {
    let exporter = DatadogExporter::new("datadog", settings).unwrap();
    let (tx, rx) = ccpipe_pipeline::channel::export_queue(64);
    let task = ExportTask::new("datadog", Box::new(exporter), rx, retry, Shutdown::new());
    let handle = tokio::spawn(task.run());
    tokio::task::spawn_blocking(move || {
        for b in batches {
            tx.send_blocking(ccpipe_pipeline::Batch::from(b)).unwrap();
        }
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .expect("the export task ends")
        .unwrap()
}

fn resources(b: &Records) -> Vec<&[KeyValue]> {
    b.resource_attributes()
}

fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            AnyValueKind::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// Every resource carries what Datadog needs for env / service / version / host / tags.
fn assert_enriched(b: &Records) {
    let rs = resources(b);
    assert!(!rs.is_empty());
    for attrs in rs {
        assert_eq!(string_attr(attrs, "service.name"), Some("claude-code"));
        assert!(string_attr(attrs, "service.version").is_some_and(|v| !v.is_empty()));
        assert_eq!(
            string_attr(attrs, "deployment.environment.name"),
            Some("test")
        );
        assert_eq!(string_attr(attrs, "deployment.environment"), Some("test"));
        assert_eq!(string_attr(attrs, "datadog.host.name"), Some("ci-host"));
        assert_eq!(string_attr(attrs, "team"), Some("platform"));
    }
}

fn logs(n: usize) -> Records {
    Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..n)
                    .map(|i| LogRecord {
                        time_unix_nano: i as u64 + 1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

// ---------------------------------------------------------------- gRPC tests

#[tokio::test]
async fn grpc_replays_captures_enriched_and_gzipped() {
    let agent = start_grpc().await;
    let batches: Vec<Records> = captures("grpc").into_iter().map(|(_, b)| b).collect();
    let total: usize = batches.iter().map(Records::item_count).sum();
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::Grpc),
        fast_retry(),
        batches.clone(),
    )
    .await;
    assert_eq!(stats.items_sent, total as u64);
    assert_eq!(stats.items_failed, 0);
    let calls = agent.fake.calls();
    assert_eq!(calls.len(), batches.len());
    for (call, sent) in calls.iter().zip(&batches) {
        assert_eq!(call.encoding.as_deref(), Some("gzip"));
        assert_eq!(call.batch.signal(), sent.signal());
        assert_eq!(call.batch.item_count(), sent.item_count());
        assert_enriched(&call.batch);
    }
    let signals: Vec<Signal> = calls.iter().map(|c| c.batch.signal()).collect();
    for s in Signal::ALL {
        assert!(signals.contains(&s), "{s} replayed");
    }
}

#[tokio::test]
async fn grpc_without_compression_sends_identity() {
    let agent = start_grpc().await;
    let mut settings = agent_settings(&agent.endpoint, Protocol::Grpc);
    if let Mode::Agent(a) = &mut settings.mode {
        a.compression = Compression::None;
    }
    let stats = run(settings, fast_retry(), vec![logs(2)]).await;
    assert_eq!(stats.items_sent, 2);
    assert_eq!(agent.fake.calls()[0].encoding, None);
}

#[tokio::test]
async fn grpc_unavailable_is_retried_then_sent() {
    let agent = start_grpc().await;
    agent.fake.script(&[
        Answer::Fail(
            Code::Unavailable,
            "agent starting",
            Some(Duration::from_millis(30)),
        ),
        Answer::Fail(Code::ResourceExhausted, "queue full", None),
    ]);
    let started = Instant::now();
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::Grpc),
        fast_retry(),
        vec![logs(3)],
    )
    .await;
    assert_eq!(stats.items_sent, 3);
    assert_eq!(stats.items_failed, 0);
    assert_eq!(agent.fake.calls().len(), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "RetryInfo honoured"
    );
}

#[tokio::test]
async fn grpc_invalid_argument_is_dropped_and_counted() {
    let agent = start_grpc().await;
    agent
        .fake
        .script(&[Answer::Fail(Code::InvalidArgument, "bad record", None)]);
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::Grpc),
        fast_retry(),
        vec![logs(4), logs(1)],
    )
    .await;
    assert_eq!(stats.items_failed, 4);
    assert_eq!(stats.items_sent, 1);
    assert_eq!(agent.fake.calls().len(), 2, "never retried");
}

#[tokio::test]
async fn grpc_partial_success_is_accepted() {
    let agent = start_grpc().await;
    agent
        .fake
        .script(&[Answer::Partial(2, "2 records too old")]);
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::Grpc),
        fast_retry(),
        vec![logs(5)],
    )
    .await;
    // The request succeeded; the rejected records are logged and counted
    // under telemetry::exporter_rejected, not retried.
    assert_eq!(stats.items_sent, 5);
    assert_eq!(agent.fake.calls().len(), 1);
}

/// Retryable, and the error names the Agent endpoint it tried.
#[tokio::test]
async fn an_agent_that_is_down_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let mut exporter =
            DatadogExporter::new("datadog", agent_settings(&endpoint, protocol)).unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(10),
            exporter.export(ccpipe_pipeline::Batch::from(logs(1))),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert!(
            matches!(err, ExportError::Retryable { .. }),
            "{protocol:?}: {err:?}"
        );
        let text = err.to_string();
        let tried = format!("cannot reach the Agent at {endpoint}");
        assert!(text.contains(&tried), "{protocol:?}: {text}");
        assert!(text.contains("Connection refused"), "{protocol:?}: {text}");
        exporter.shutdown().await.unwrap();
    }
}

// ---------------------------------------------------------------- HTTP tests

#[tokio::test]
async fn http_sends_gzipped_protobuf_per_signal() {
    let agent = start_http(|_, _| (200, None)).await;
    let batches: Vec<Records> = captures("grpc").into_iter().map(|(_, b)| b).collect();
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::HttpProtobuf),
        fast_retry(),
        batches.clone(),
    )
    .await;
    assert_eq!(stats.items_failed, 0);
    let calls = agent.fake.calls();
    assert_eq!(calls.len(), batches.len());
    for (call, sent) in calls.iter().zip(&batches) {
        assert_eq!(call.path, format!("/v1/{}", sent.signal()));
        assert_eq!(call.headers["content-type"], "application/x-protobuf");
        assert_eq!(call.headers["content-encoding"], "gzip");
        assert_eq!(&call.wire[..2], &[0x1f, 0x8b], "gzip magic on the wire");
        assert_eq!(call.batch.item_count(), sent.item_count());
        assert_enriched(&call.batch);
    }
}

#[tokio::test]
async fn http_503_honours_retry_after() {
    let agent = start_http(|_, n| match n {
        0 => (503, Some("1")),
        _ => (200, None),
    })
    .await;
    // The backoff alone would wait 10 ms: waiting 1 s shows the Agent's
    // Retry-After was honoured (the larger of the two wins, as in the
    // Collector, so a `Retry-After: 0` cannot make a busy loop).
    let retry = RetryPolicy {
        initial_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(10),
        ..fast_retry()
    };
    let started = Instant::now();
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::HttpProtobuf),
        RetryPolicy {
            max_elapsed_time: Duration::from_secs(30),
            ..retry
        },
        vec![logs(2)],
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(stats.items_sent, 2);
    assert_eq!(agent.fake.calls().len(), 2);
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
}

#[tokio::test]
async fn http_429_and_502_are_retried() {
    let agent = start_http(|_, n| match n {
        0 => (429, None),
        1 => (502, None),
        _ => (200, None),
    })
    .await;
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::HttpProtobuf),
        fast_retry(),
        vec![logs(1)],
    )
    .await;
    assert_eq!(stats.items_sent, 1);
    assert_eq!(agent.fake.calls().len(), 3);
}

#[tokio::test]
async fn http_400_is_dropped_and_counted() {
    let agent = start_http(|_, n| match n {
        0 => (400, None),
        _ => (200, None),
    })
    .await;
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::HttpProtobuf),
        fast_retry(),
        vec![logs(3), logs(2)],
    )
    .await;
    assert_eq!(stats.items_failed, 3);
    assert_eq!(stats.items_sent, 2);
    assert_eq!(agent.fake.calls().len(), 2, "never retried");
}

#[tokio::test]
async fn http_413_splits_the_batch() {
    // The fake refuses requests of more than 3 records.
    let agent = start_http(|call, _| match call.batch.item_count() {
        0..=3 => (200, None),
        _ => (413, None),
    })
    .await;
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::HttpProtobuf),
        fast_retry(),
        vec![logs(10)],
    )
    .await;
    assert_eq!(stats.items_sent, 10);
    let accepted: Vec<u64> = agent
        .fake
        .calls()
        .iter()
        .filter(|c| c.batch.item_count() <= 3)
        .flat_map(|c| {
            let Records::Logs(r) = &c.batch else { panic!() };
            r.resource_logs[0].scope_logs[0]
                .log_records
                .iter()
                .map(|l| l.time_unix_nano)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        accepted,
        (1..=10).collect::<Vec<u64>>(),
        "all, in order, once"
    );

    // Even one record is too large: permanent, counted, not retried.
    let agent = start_http(|_, _| (413, None)).await;
    let stats = run(
        agent_settings(&agent.endpoint, Protocol::HttpProtobuf),
        fast_retry(),
        vec![logs(2)],
    )
    .await;
    assert_eq!(stats.items_failed, 2);
    assert_eq!(agent.fake.calls().len(), 3, "2, then 1 + 1");
}

// ---------------------------------------------------------------- cumulative_to_delta

fn cumulative(start: u64, time: u64, value: f64) -> Records {
    Records::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "claude_code.token.usage".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                            value: Some(NumberValue::AsDouble(value)),
                            ..Default::default()
                        }],
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[tokio::test]
async fn cumulative_to_delta_over_the_wire() {
    let agent = start_grpc().await;
    // The second batch fails once: its retry must send the same delta.
    agent
        .fake
        .script(&[Answer::Ok, Answer::Fail(Code::Unavailable, "blip", None)]);
    let mut settings = agent_settings(&agent.endpoint, Protocol::Grpc);
    settings.cumulative_to_delta = true;
    let stats = run(
        settings,
        fast_retry(),
        vec![
            cumulative(100, 200, 10.0),
            cumulative(100, 300, 25.0),
            cumulative(100, 400, 40.0),
            // Reset: the client restarted.
            cumulative(450, 500, 3.0),
            cumulative(450, 600, 5.0),
        ],
    )
    .await;
    assert_eq!(stats.items_failed, 0);
    let sent: Vec<(u64, u64, f64, i32)> = agent
        .fake
        .calls()
        .iter()
        .map(|c| {
            let Records::Metrics(r) = &c.batch else {
                panic!()
            };
            let m = &r.resource_metrics[0].scope_metrics[0].metrics[0];
            let Some(Data::Sum(s)) = &m.data else {
                panic!()
            };
            let p = &s.data_points[0];
            let Some(NumberValue::AsDouble(v)) = p.value else {
                panic!()
            };
            (
                p.start_time_unix_nano,
                p.time_unix_nano,
                v,
                s.aggregation_temporality,
            )
        })
        .collect();
    let delta = AggregationTemporality::Delta as i32;
    assert_eq!(
        sent,
        vec![
            (100, 200, 10.0, delta),
            (200, 300, 15.0, delta),
            (200, 300, 15.0, delta), // the retry
            (300, 400, 15.0, delta),
            (450, 500, 3.0, delta),
            (500, 600, 2.0, delta),
        ]
    );
}
