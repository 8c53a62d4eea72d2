//! The `prometheus` exporter: config table, conversion of OTLP points into
//! series, the two text formats, and `/metrics` served on 127.0.0.1:0.

use std::io::{Read, Write};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::render::{render, Format};
use super::store::{Store, StoreSettings};
use super::*;
use crate::testutil::{captures, component, load_config};

// ---------------------------------------------------------------- config table

#[test]
fn config_table() {
    let config = load_config("prometheus");
    let cases: &[(&str, Result<(), &str>)] = &[
        ("prometheus", Ok(())),
        ("prometheus/all_keys", Ok(())),
        ("prometheus/localhost", Ok(())),
        (
            "prometheus/bad_endpoint",
            Err("prometheus.yaml:19: exporters.prometheus/bad_endpoint.endpoint: must be host:port with an IP address or localhost, e.g. 127.0.0.1:8889; got \"prometheus.example.com\""),
        ),
        (
            "prometheus/empty_namespace",
            Err("prometheus.yaml:21: exporters.prometheus/empty_namespace.namespace: must not be empty when set"),
        ),
        (
            "prometheus/zero_expiration",
            Err("prometheus.yaml:23: exporters.prometheus/zero_expiration.metric_expiration: must be greater than 0"),
        ),
        (
            "prometheus/no_series",
            Err("prometheus.yaml:25: exporters.prometheus/no_series.max_series: must be at least 1"),
        ),
        (
            "prometheus/typo",
            Err("prometheus.yaml:27: exporters.prometheus/typo.resource_to_telemetry_conversion.enable: unknown field `enable`, expected `enabled`"),
        ),
    ];
    crate::testutil::assert_config_table(&config, cases);
    let parse = |id| {
        component(&config, id)
            .parse::<PrometheusConfig>()
            .unwrap()
            .settings()
            .unwrap()
    };
    let default = parse("prometheus");
    assert_eq!(default.endpoint, "127.0.0.1:8889".parse().unwrap());
    assert_eq!(
        default.store,
        StoreSettings {
            namespace: None,
            add_suffixes: true,
            resource_labels: false,
            expiration: Duration::from_secs(300),
            max_series: 10_000,
        }
    );
    let all = parse("prometheus/all_keys");
    assert_eq!(all.endpoint, "0.0.0.0:9464".parse().unwrap());
    assert_eq!(
        all.store,
        StoreSettings {
            namespace: Some("cc".into()),
            add_suffixes: false,
            resource_labels: true,
            expiration: Duration::from_secs(600),
            max_series: 500,
        }
    );
    assert_eq!(
        parse("prometheus/localhost").endpoint,
        "127.0.0.1:9464".parse().unwrap()
    );
    assert_eq!(
        crate::testutil::unsupported_signal(
            component(&config, "prometheus"),
            ccpipe_pipeline::Signal::Logs
        )
        .unwrap()
        .as_deref(),
        Some("it serves metrics only; send logs and traces to another exporter")
    );
}

// ---------------------------------------------------------------- conversion

fn settings() -> StoreSettings {
    StoreSettings {
        namespace: None,
        add_suffixes: true,
        resource_labels: false,
        expiration: Duration::from_secs(300),
        max_series: 100,
    }
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

fn number(start: u64, time: u64, v: f64, attrs: &[(&str, &str)]) -> NumberDataPoint {
    NumberDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(NumberValue::AsDouble(v)),
        attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>, resource: &[(&str, &str)]) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn sum(
    name: &str,
    unit: &str,
    temporality: AggregationTemporality,
    points: Vec<NumberDataPoint>,
) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: "Cost of the Claude Code session".into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn text(store: &Store) -> String {
    render(store.families(), Format::Text)
}

#[test]
fn delta_sums_add_up_per_series() {
    let mut store = Store::new(settings());
    let now = std::time::Instant::now();
    let delta = AggregationTemporality::Delta;
    for (start, time, v) in [(10, 20, 0.5), (20, 30, 0.25), (40, 50, 1.0)] {
        let m = sum(
            "claude_code.cost.usage",
            "USD",
            delta,
            vec![number(start, time, v, &[("model", "opus")])],
        );
        assert_eq!(store.ingest(&request(vec![m], &[]), now).total(), 0);
    }
    let m = sum(
        "claude_code.cost.usage",
        "USD",
        delta,
        vec![number(20, 30, 2.0, &[("model", "haiku")])],
    );
    store.ingest(&request(vec![m], &[]), now);
    assert_eq!(
        text(&store),
        "# HELP claude_code_cost_usage_USD_total Cost of the Claude Code session\n\
         # TYPE claude_code_cost_usage_USD_total counter\n\
         claude_code_cost_usage_USD_total{model=\"haiku\"} 2\n\
         claude_code_cost_usage_USD_total{model=\"opus\"} 1.75\n"
    );
    let series = &store.families()["claude_code_cost_usage_USD_total"].series;
    assert_eq!(series.values().next().unwrap().start_unix_nano, 20);
    assert_eq!(
        series.values().nth(1).unwrap().start_unix_nano,
        10,
        "start time kept"
    );

    // An older point than the series has is refused and counted.
    let m = sum(
        "claude_code.cost.usage",
        "USD",
        delta,
        vec![number(0, 5, 9.0, &[("model", "opus")])],
    );
    assert_eq!(
        store
            .ingest(&request(vec![m], &[]), now)
            .out_of_order_or_conflicting,
        1
    );
}

#[test]
fn cumulative_sums_replace_and_reset() {
    let mut store = Store::new(settings());
    let now = std::time::Instant::now();
    let cumulative = AggregationTemporality::Cumulative;
    for (start, time, v) in [(10, 20, 5.0), (10, 30, 7.0), (35, 40, 1.0)] {
        let m = sum(
            "requests",
            "",
            cumulative,
            vec![number(start, time, v, &[])],
        );
        store.ingest(&request(vec![m], &[]), now);
    }
    let s = store.families()["requests_total"]
        .series
        .values()
        .next()
        .unwrap();
    assert_eq!(s.value, store::Value::Number(1.0));
    assert_eq!(s.start_unix_nano, 35, "a new start time is a reset");
}

#[test]
fn gauges_histograms_and_labels() {
    let mut store = Store::new(StoreSettings {
        namespace: Some("cc".into()),
        resource_labels: true,
        ..settings()
    });
    let now = std::time::Instant::now();
    let gauge = Metric {
        name: "memory.utilization".into(),
        unit: "1".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![number(0, 1, 0.5, &[("9.x", "a"), ("_9_x", "b")])],
        })),
        ..Default::default()
    };
    let hist = |time, counts: Vec<u64>, sum: f64| Metric {
        name: "api.duration".into(),
        unit: "ms".into(),
        data: Some(Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Delta as i32,
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: time - 1,
                time_unix_nano: time,
                count: counts.iter().sum(),
                sum: Some(sum),
                bucket_counts: counts,
                explicit_bounds: vec![100.0, 1000.0],
                attributes: vec![kv("model", "opus")],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let req = request(
        vec![gauge, hist(10, vec![1, 2, 0], 900.0)],
        &[("service.name", "claude-code"), ("model", "resource loses")],
    );
    assert_eq!(store.ingest(&req, now).total(), 0);
    store.ingest(
        &request(
            vec![hist(20, vec![0, 1, 1], 3000.0)],
            &[("service.name", "claude-code")],
        ),
        now,
    );
    assert_eq!(
        text(&store),
        "# TYPE cc_api_duration_milliseconds histogram\n\
         cc_api_duration_milliseconds_bucket{model=\"opus\",service_name=\"claude-code\",le=\"100\"} 1\n\
         cc_api_duration_milliseconds_bucket{model=\"opus\",service_name=\"claude-code\",le=\"1000\"} 4\n\
         cc_api_duration_milliseconds_bucket{model=\"opus\",service_name=\"claude-code\",le=\"+Inf\"} 5\n\
         cc_api_duration_milliseconds_sum{model=\"opus\",service_name=\"claude-code\"} 3900\n\
         cc_api_duration_milliseconds_count{model=\"opus\",service_name=\"claude-code\"} 5\n\
         # TYPE cc_memory_utilization_ratio gauge\n\
         cc_memory_utilization_ratio{key_9_x=\"a;b\",model=\"resource loses\",service_name=\"claude-code\"} 0.5\n"
    );
}

#[test]
fn openmetrics_names_counter_families_without_total() {
    let mut store = Store::new(settings());
    let m = sum(
        "claude_code.token.usage",
        "tokens",
        AggregationTemporality::Delta,
        vec![number(1, 2, 3.0, &[("type", "input")])],
    );
    store.ingest(&request(vec![m], &[]), std::time::Instant::now());
    assert_eq!(
        render(store.families(), Format::OpenMetrics),
        "# HELP claude_code_token_usage_tokens Cost of the Claude Code session\n\
         # TYPE claude_code_token_usage_tokens counter\n\
         claude_code_token_usage_tokens_total{type=\"input\"} 3\n\
         # EOF\n"
    );
    assert_eq!(
        Format::from_accept(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_accept(Some("text/plain")), Format::Text);
}

#[test]
fn without_suffixes_counters_read_the_same_in_both_formats() {
    // add_metric_suffixes: false — what dashboards written as
    // claude_code_cost_usage_total expect, whichever format Prometheus asks for.
    let mut store = Store::new(StoreSettings {
        add_suffixes: false,
        ..settings()
    });
    let m = sum(
        "claude_code.cost.usage",
        "USD",
        AggregationTemporality::Delta,
        vec![number(1, 2, 0.5, &[("model", "opus")])],
    );
    store.ingest(&request(vec![m], &[]), std::time::Instant::now());
    assert_eq!(
        text(&store),
        "# HELP claude_code_cost_usage_total Cost of the Claude Code session\n\
         # TYPE claude_code_cost_usage_total counter\n\
         claude_code_cost_usage_total{model=\"opus\"} 0.5\n"
    );
    assert_eq!(
        render(store.families(), Format::OpenMetrics),
        "# HELP claude_code_cost_usage Cost of the Claude Code session\n\
         # TYPE claude_code_cost_usage counter\n\
         claude_code_cost_usage_total{model=\"opus\"} 0.5\n\
         # EOF\n"
    );
}

#[test]
fn series_expire_and_are_capped() {
    let mut store = Store::new(StoreSettings {
        max_series: 2,
        expiration: Duration::from_secs(60),
        ..settings()
    });
    let t0 = std::time::Instant::now();
    let points = (0..3)
        .map(|i| number(1, 2, 1.0, &[("session.id", &i.to_string())]))
        .collect();
    let m = sum(
        "claude_code.session.count",
        "",
        AggregationTemporality::Delta,
        points,
    );
    let refused = store.ingest(&request(vec![m], &[]), t0);
    assert_eq!((refused.over_limit, store.series_count()), (1, 2));
    store.expire(t0 + Duration::from_secs(59));
    assert_eq!(store.series_count(), 2);
    store.expire(t0 + Duration::from_secs(61));
    assert_eq!(store.series_count(), 0);
    assert!(store.families().is_empty());
}

// ---------------------------------------------------------------- serving

fn get(addr: std::net::SocketAddr, path: &str, accept: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// The captured cost points, summed.
fn captured_cost() -> f64 {
    let mut total = 0.0;
    for (_, batch) in captures("http-protobuf") {
        let ccpipe_pipeline::Records::Metrics(r) = batch else {
            continue;
        };
        for m in r
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            if let (true, Some(Data::Sum(s))) = (m.name == "claude_code.cost.usage", &m.data) {
                for p in &s.data_points {
                    if let Some(NumberValue::AsDouble(v)) = p.value {
                        total += v;
                    }
                }
            }
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_captures_on_metrics() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut exporter = PrometheusExporter::serve("prometheus", settings(), listener).unwrap();
    let addr = exporter.local_addr();
    for (_, batch) in captures("http-protobuf") {
        if batch.signal() == ccpipe_pipeline::Signal::Metrics {
            exporter
                .export(ccpipe_pipeline::Batch::from(batch))
                .await
                .unwrap();
        } else {
            assert!(exporter
                .export(ccpipe_pipeline::Batch::from(batch))
                .await
                .is_err());
        }
    }
    let (head, body) = tokio::task::spawn_blocking(move || get(addr, "/metrics", "*/*"))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let served: f64 = body
        .lines()
        .filter(|l| l.starts_with("claude_code_cost_usage_USD_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    let want = captured_cost();
    assert!(want > 0.0);
    assert!(
        (served - want).abs() < 1e-9,
        "served {served}, captured {want}"
    );
    assert!(
        body.contains("claude_code_token_usage_tokens_total{"),
        "{body}"
    );

    let (head, body) = tokio::task::spawn_blocking(move || {
        get(
            addr,
            "/metrics",
            "application/openmetrics-text; version=1.0.0",
        )
    })
    .await
    .unwrap();
    assert!(head.contains("application/openmetrics-text"), "{head}");
    assert!(body.ends_with("# EOF\n"));
    let (head, _) = tokio::task::spawn_blocking(move || get(addr, "/", "*/*"))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    exporter.shutdown().await.unwrap();
    exporter.shutdown().await.unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "stopped listening"
    );
}
