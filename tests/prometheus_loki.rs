//! The Prometheus + Grafana + Loki set-up end to end, as deploy/local-stack
//! runs it: the real ccpipe binary with the shipped
//! configs/prometheus-loki.yaml (an overlay moves its ports to free ones and
//! turns off its own telemetry; nothing else changes), a real Prometheus
//! scraping it with deploy/local-stack's rules loaded, and a fake Loki 3 OTLP
//! intake (tests/common/loki.rs: no Loki ships in Debian, PyPI or npm).
//!
//! The captures are replayed as one team member's Claude Code sends them
//! (`OTEL_RESOURCE_ATTRIBUTES=team=…,department=…` adds two resource
//! attributes). Every query of docs/queries.md must then answer with the
//! numbers the captures hold, and the dashboard's log panels must find their
//! streams, events and fields in Loki.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccpipe_pipeline::records::{Records, Signal};
use common::loki::{Entry, FakeLoki};
use common::process::Ccpipe;
use common::prometheus::{query, query_vector_at, Sample, Server};
use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use prost::Message;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TEAM: &str = "platform";
const DEPARTMENT: &str = "engineering";
const SECOND: u64 = 1_000_000_000;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn str_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            any_value::Value::BoolValue(b) => Some(b.to_string()),
            any_value::Value::IntValue(i) => Some(i.to_string()),
            _ => None,
        }
    })
}

/// The http-protobuf captures' metrics and logs requests, in order.
fn captured() -> (
    Vec<ExportMetricsServiceRequest>,
    Vec<ExportLogsServiceRequest>,
) {
    let (mut metrics, mut logs) = (Vec::new(), Vec::new());
    for c in load_variant("http-protobuf") {
        match c.expected {
            Records::Metrics(r) => metrics.push(r),
            Records::Logs(r) => logs.push(r),
            Records::Traces(_) => {} // configs/prometheus-loki.yaml takes no traces
        }
    }
    (metrics, logs)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The latest time in the captures, so they can be moved to "just now".
fn latest_time(metrics: &[ExportMetricsServiceRequest], logs: &[ExportLogsServiceRequest]) -> u64 {
    let m = metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .flat_map(|m| match &m.data {
            Some(Data::Sum(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
            _ => Vec::new(),
        });
    let l = logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|r| r.time_unix_nano);
    m.chain(l).max().expect("the captures have times")
}

/// The request as Claude Code would send it `offset` ns later, from a user
/// with team and department set; `zero`: every value 0 (a series' start).
fn metrics_request(
    r: &ExportMetricsServiceRequest,
    offset: u64,
    zero: bool,
) -> ExportMetricsServiceRequest {
    let mut r = r.clone();
    for rm in &mut r.resource_metrics {
        let resource = rm.resource.get_or_insert_with(Default::default);
        resource.attributes.push(kv("team", TEAM));
        resource.attributes.push(kv("department", DEPARTMENT));
        for m in rm.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
            let Some(Data::Sum(sum)) = &mut m.data else {
                panic!("{}: the captures hold sums only", m.name);
            };
            for p in &mut sum.data_points {
                p.start_time_unix_nano += offset;
                p.time_unix_nano += offset;
                if zero {
                    p.value = Some(match p.value {
                        Some(NumberValue::AsInt(_)) => NumberValue::AsInt(0),
                        _ => NumberValue::AsDouble(0.0),
                    });
                }
            }
        }
    }
    r
}

fn logs_request(r: &ExportLogsServiceRequest, offset: u64) -> ExportLogsServiceRequest {
    let mut r = r.clone();
    for rl in &mut r.resource_logs {
        let resource = rl.resource.get_or_insert_with(Default::default);
        resource.attributes.push(kv("team", TEAM));
        resource.attributes.push(kv("department", DEPARTMENT));
        for lr in rl.scope_logs.iter_mut().flat_map(|s| &mut s.log_records) {
            for t in [&mut lr.time_unix_nano, &mut lr.observed_time_unix_nano] {
                if *t != 0 {
                    *t += offset;
                }
            }
        }
    }
    r
}

fn post(conn: &mut HttpConn, signal: Signal, body: Vec<u8>) {
    let answer = conn.post(
        path_for(signal),
        &[("content-type", "application/x-protobuf")],
        &body,
    );
    assert_eq!(answer.status, 200, "ccpipe refused a {signal} request");
}

/// Sums of the captured points of `metric`, by the data point attribute `key`
/// (one entry "" without a key).
fn captured_by(
    metrics: &[ExportMetricsServiceRequest],
    metric: &str,
    key: Option<&str>,
    only: Option<(&str, &str)>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for m in metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == metric)
    {
        let Some(Data::Sum(sum)) = &m.data else {
            continue;
        };
        for p in &sum.data_points {
            if let Some((k, v)) = only {
                if str_attr(&p.attributes, k).as_deref() != Some(v) {
                    continue;
                }
            }
            let group = key
                .map(|k| str_attr(&p.attributes, k).unwrap_or_default())
                .unwrap_or_default();
            *out.entry(group).or_default() += point_value(p.value);
        }
    }
    out
}

fn total(map: &BTreeMap<String, f64>) -> f64 {
    map.values().sum()
}

/// The captured events named `event` (the `event.name` attribute).
fn events<'a>(logs: &'a [ExportLogsServiceRequest], event: &str) -> Vec<&'a LogRecord> {
    logs.iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter(|r| str_attr(&r.attributes, "event.name").as_deref() == Some(event))
        .collect()
}

/// `(heading, query)` for each ```promql block of docs/queries.md.
fn documented_queries() -> Vec<(String, String)> {
    let text = read(&Path::new(ROOT).join("docs/queries.md"));
    let (mut out, mut heading, mut block) = (Vec::new(), String::new(), None::<String>);
    for line in text.lines() {
        match &mut block {
            Some(q) if line.trim() == "```" => {
                out.push((heading.clone(), q.trim().to_owned()));
                block = None;
            }
            Some(q) => {
                q.push_str(line);
                q.push('\n');
            }
            None if line.starts_with("### ") => heading = line[4..].trim().to_owned(),
            None if line.trim() == "```promql" => block = Some(String::new()),
            None => {}
        }
    }
    out
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

/// The answer as `label value → value` for the one label `by`.
fn by_label(samples: &[Sample], by: &str) -> BTreeMap<String, f64> {
    samples
        .iter()
        .map(|s| (s.labels.get(by).cloned().unwrap_or_default(), s.value))
        .collect()
}

fn assert_map(what: &str, got: &BTreeMap<String, f64>, want: &BTreeMap<String, f64>) {
    assert!(!want.is_empty(), "{what}: the captures hold none");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: groups (got {got:?}, the captures {want:?})"
    );
    for (k, w) in want {
        assert!(
            close(got[k], *w),
            "{what} {k:?}: Prometheus says {}, the captures {w}",
            got[k]
        );
    }
}

fn single(what: &str, samples: &[Sample]) -> f64 {
    assert_eq!(samples.len(), 1, "{what}: one sample, got {samples:?}");
    samples[0].value
}

/// Waits (bounded) until `promql` answers with a value `done` accepts.
fn wait_until(prometheus: &Server, promql: &str, done: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = None;
    while Instant::now() < deadline {
        last = query(prometheus.addr, promql);
        if last.is_some_and(&done) {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let targets = common::prometheus::get(prometheus.addr, "/api/v1/targets");
    panic!(
        "{promql}: still {last:?} after 90s; targets: {targets:?}\nPrometheus log:\n{}",
        prometheus.log()
    );
}

/// The time of Prometheus's latest scrape of ccpipe (Unix seconds).
fn last_scrape(prometheus: &Server) -> f64 {
    query(prometheus.addr, r#"max(timestamp(up{job="claude-code"}))"#).expect("a scrape")
}

/// Waits (bounded) for `n` more scrapes of ccpipe (one a second).
fn wait_for_scrapes(prometheus: &Server, n: u32) {
    let scraped = last_scrape(prometheus);
    wait_until(
        prometheus,
        r#"max(timestamp(up{job="claude-code"}))"#,
        |t| t >= scraped + f64::from(n) - 0.5,
    );
}

fn start_prometheus(dir: &Path, target: SocketAddr) -> Server {
    let rules = Path::new(ROOT).join("deploy/local-stack/prometheus/rules/claude-code.rules.yml");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: claude-code\n    \
             static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        ),
    )
    .unwrap();
    Server::start(dir, &config, free_port())
}

/// The resource attributes deploy/local-stack's Loki config promotes to labels.
fn loki_index_labels() -> Vec<String> {
    let text = read(&Path::new(ROOT).join("deploy/local-stack/loki/loki.yaml"));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("loki.yaml is YAML");
    let configs = &yaml["limits_config"]["otlp_config"]["resource_attributes"]["attributes_config"];
    configs
        .as_sequence()
        .expect("attributes_config")
        .iter()
        .filter(|c| c["action"] == "index_label")
        .flat_map(|c| c["attributes"].as_sequence().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

fn start_ccpipe(dir: &Path, loki: SocketAddr, metrics_port: u16) -> Ccpipe {
    let overlay = write_config(
        dir,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:{metrics_port}" }}
service:
  telemetry: {{ metrics: {{ address: "" }} }}
  health: {{ address: "" }}
"#
        ),
    );
    let mut command = Command::new(process::bin());
    command
        .arg("--config")
        .arg(PathBuf::from(ROOT).join("configs/prometheus-loki.yaml"))
        .arg("--config")
        .arg(overlay)
        .env("LOKI_ENDPOINT", format!("http://{loki}"))
        .env_remove("LOKI_TENANT")
        .env_remove("CCPIPE_HOST");
    Ccpipe::start_command(command)
}

#[test]
fn the_documented_queries_and_log_panels_answer_with_the_captures() {
    let dir = temp_dir("prometheus-loki");
    let loki = FakeLoki::start(loki_index_labels());
    let metrics_port = free_port();
    let ccpipe = start_ccpipe(&dir, loki.addr, metrics_port);
    let prometheus = start_prometheus(&dir, format!("127.0.0.1:{metrics_port}").parse().unwrap());
    let mut conn = HttpConn::connect(ccpipe.http.expect("an HTTP receiver"));

    let (metrics, logs) = captured();
    let offset = now_ns() - latest_time(&metrics, &logs) - 2 * SECOND;

    // 1. Every series starts at 0, two minutes earlier: what makes
    //    increase() exact (docs/queries.md, "The first export of a series").
    for r in &metrics {
        post(
            &mut conn,
            Signal::Metrics,
            metrics_request(r, offset - 120 * SECOND, true).encode_to_vec(),
        );
    }
    let exporter: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let series = loop {
        let text = common::prometheus::get(exporter, "/metrics").unwrap_or_default();
        let n = text
            .lines()
            .filter(|l| l.starts_with("claude_code_"))
            .count();
        if n > 0 && text.contains("claude_code_session_count_total") {
            break n as f64;
        }
        assert!(
            Instant::now() < deadline,
            "ccpipe serves no series:\n{}",
            ccpipe.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    wait_until(
        &prometheus,
        r#"count({__name__=~"claude_code_.+_total"})"#,
        |n| n == series,
    );
    wait_for_scrapes(&prometheus, 2);

    // 2. The captures; the events twice, so the connector's counters grow.
    let cost = captured_by(&metrics, "claude_code.cost.usage", None, None);
    let api_requests = events(&logs, "api_request").len() as f64;
    let tool_results = events(&logs, "tool_result").len() as f64;
    assert!(
        api_requests > 0.0 && tool_results > 0.0,
        "the captures hold events"
    );
    for r in &metrics {
        post(
            &mut conn,
            Signal::Metrics,
            metrics_request(r, offset, false).encode_to_vec(),
        );
    }
    for round in 0..2 {
        for r in &logs {
            post(
                &mut conn,
                Signal::Logs,
                logs_request(r, offset + round * 10 * SECOND).encode_to_vec(),
            );
        }
        let want = api_requests * (round + 1) as f64;
        wait_until(&prometheus, "sum(claude_code_api_requests_total)", |n| {
            n == want
        });
    }
    wait_until(&prometheus, "sum(claude_code_cost_usage_USD_total)", |v| {
        close(v, total(&cost))
    });
    // Two more scrapes, so every series' latest value is in.
    let scraped = last_scrape(&prometheus);
    wait_until(
        &prometheus,
        r#"max(timestamp(up{job="claude-code"}))"#,
        |t| t >= scraped + 2.0,
    );
    let at = last_scrape(&prometheus);

    // 3. Each documented query, at the latest scrape.
    let by = |metric, key| captured_by(&metrics, metric, Some(key), None);
    let queries = documented_queries();
    assert!(
        queries.len() >= 14,
        "docs/queries.md has {} queries",
        queries.len()
    );
    for (heading, promql) in &queries {
        let got = query_vector_at(prometheus.addr, promql, Some(at)).unwrap_or_else(|| {
            panic!(
                "{heading}: Prometheus refused {promql}\n{}",
                prometheus.log()
            )
        });
        assert!(!got.is_empty(), "{heading}: no data for {promql}");
        let what = heading.as_str();
        match what {
            "Cost per user, last 24 hours (USD)" => assert_map(
                what,
                &by_label(&got, "user_id"),
                &by("claude_code.cost.usage", "user.id"),
            ),
            "Cost per team and department, last 24 hours (USD)" => {
                assert_eq!(got.len(), 1, "{what}: {got:?}");
                assert_eq!(got[0].labels.get("team").map(String::as_str), Some(TEAM));
                assert_eq!(
                    got[0].labels.get("department").map(String::as_str),
                    Some(DEPARTMENT)
                );
                assert!(
                    close(got[0].value, total(&cost)),
                    "{what}: {got:?} vs {cost:?}"
                );
            }
            "Cost per model, last 24 hours (USD)" => assert_map(
                what,
                &by_label(&got, "model"),
                &by("claude_code.cost.usage", "model"),
            ),
            "Cost per day (USD)" => assert!(close(single(what, &got), total(&cost))),
            "Tokens by type, last 24 hours" => assert_map(
                what,
                &by_label(&got, "type"),
                &by("claude_code.token.usage", "type"),
            ),
            "Cache hit ratio, last 24 hours" => {
                let t = by("claude_code.token.usage", "type");
                let want = t["cacheRead"] / (t["input"] + t["cacheRead"] + t["cacheCreation"]);
                assert!(
                    close(single(what, &got), want),
                    "{what}: {got:?}, want {want}"
                );
            }
            "Sessions started, last 24 hours" => {
                let want = total(&captured_by(
                    &metrics,
                    "claude_code.session.count",
                    None,
                    None,
                ));
                assert!(
                    close(single(what, &got), want),
                    "{what}: {got:?}, want {want}"
                );
            }
            "Active time per user, last 24 hours (hours)" => {
                let want = by("claude_code.active_time.total", "user.id")
                    .into_iter()
                    .map(|(k, v)| (k, v / 3600.0))
                    .collect();
                assert_map(what, &by_label(&got, "user_id"), &want)
            }
            "Lines of code added and removed, last 24 hours" => assert_map(
                what,
                &by_label(&got, "type"),
                &by("claude_code.lines_of_code.count", "type"),
            ),
            "Commits, last 24 hours" => {
                let want = total(&captured_by(
                    &metrics,
                    "claude_code.commit.count",
                    None,
                    None,
                ));
                assert!(
                    want > 0.0 && close(single(what, &got), want),
                    "{what}: {got:?}"
                );
            }
            "Pull requests, last 24 hours" => {
                let want = total(&captured_by(
                    &metrics,
                    "claude_code.pull_request.count",
                    None,
                    None,
                ));
                assert!(
                    want > 0.0 && close(single(what, &got), want),
                    "{what}: {got:?}"
                );
            }
            "Edit accept rate, last 24 hours" => {
                let decision = "claude_code.code_edit_tool.decision";
                let accepted = total(&captured_by(
                    &metrics,
                    decision,
                    None,
                    Some(("decision", "accept")),
                ));
                let want = accepted / total(&captured_by(&metrics, decision, None, None));
                assert!(
                    close(single(what, &got), want),
                    "{what}: {got:?}, want {want}"
                );
            }
            "Tool failure rate per tool, last hour" => {
                let mut calls: BTreeMap<String, (f64, f64)> = BTreeMap::new();
                for e in events(&logs, "tool_result") {
                    let tool = str_attr(&e.attributes, "tool_name").unwrap_or_default();
                    let failed = str_attr(&e.attributes, "success").as_deref() != Some("true");
                    let c = calls.entry(tool).or_default();
                    c.0 += f64::from(u8::from(failed));
                    c.1 += 1.0;
                }
                let want = calls.into_iter().map(|(k, (f, n))| (k, f / n)).collect();
                assert_map(what, &by_label(&got, "tool_name"), &want);
            }
            "API error rate, last hour" => {
                let want = events(&logs, "api_error").len() as f64 / api_requests;
                assert!(
                    close(single(what, &got), want),
                    "{what}: {got:?}, want {want}"
                );
            }
            "API latency p95 per model, last hour (ms)" => {
                // The same distribution as the buckets' totals: rate() only scales them.
                let totals = query_vector_at(
                    prometheus.addr,
                    "histogram_quantile(0.95, sum by (le, model) (claude_code_api_duration_milliseconds_bucket))",
                    Some(at),
                )
                .unwrap();
                let models: BTreeMap<String, f64> = events(&logs, "api_request")
                    .iter()
                    .map(|e| (str_attr(&e.attributes, "model").unwrap_or_default(), 0.0))
                    .collect();
                let got = by_label(&got, "model");
                assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    models.keys().collect::<Vec<_>>(),
                    "{what}"
                );
                for (model, p95) in &got {
                    assert!(p95.is_finite() && *p95 > 0.0, "{what} {model}: {p95}");
                    assert!(
                        close(*p95, by_label(&totals, "model")[model]),
                        "{what} {model}"
                    );
                }
            }
            other => panic!("docs/queries.md: no expectation for {other:?} here; add one"),
        }
    }

    // 4. Prometheus loaded deploy/local-stack's rules.
    let rules = query_json_rules(&prometheus);
    assert_eq!(rules.len(), 6, "rules loaded: {rules:?}");
    assert!(
        rules.iter().all(|(_, health)| health != "err"),
        "rules in error: {rules:?}"
    );

    // 5. Loki got every event, on the streams the dashboard selects.
    let captured_events: usize = logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    let entries = loki.entries();
    assert_eq!(entries.len(), 2 * captured_events, "Loki's entries");
    for r in loki.requests() {
        assert_eq!((r.path.as_str(), r.status), ("/otlp/v1/logs", 204));
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
        assert_eq!(
            r.headers.get("x-scope-orgid").map(String::as_str),
            Some("anonymous")
        );
    }
    for e in &entries {
        for (label, value) in [
            ("service_name", "claude-code"),
            ("team", TEAM),
            ("department", DEPARTMENT),
        ] {
            assert_eq!(
                e.labels.get(label).map(String::as_str),
                Some(value),
                "{e:?}"
            );
        }
        assert!(e.metadata.contains_key("event_name"), "{e:?}");
    }
    check_log_panels(&entries);

    let (status, stderr) = {
        ccpipe.signal("TERM");
        ccpipe.wait(Duration::from_secs(30))
    };
    assert!(status.success(), "ccpipe exit: {status}\n{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `(name, health)` of each rule Prometheus loaded.
fn query_json_rules(prometheus: &Server) -> Vec<(String, String)> {
    let body = common::prometheus::get(prometheus.addr, "/api/v1/rules").expect("/api/v1/rules");
    let json = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["health"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The dashboard's log panels: their stream selector's fixed labels hold on
/// Loki's streams and their variable ones are stream labels; their
/// `| event_name="…"` finds the captured events; each `{{.field}}` of their
/// line_format is a label or structured metadata of those events, or, for an
/// event the captures lack, an attribute tests/fixtures/claude-code/TELEMETRY.md
/// lists for it.
fn check_log_panels(entries: &[Entry]) {
    let dash: serde_json::Value = serde_json::from_str(&read(
        &Path::new(ROOT).join("configs/dashboards/grafana-claude-code.json"),
    ))
    .unwrap();
    let telemetry = read(&Path::new(ROOT).join("tests/fixtures/claude-code/TELEMETRY.md"));
    let mut panels = 0;
    for panel in dash["panels"].as_array().unwrap() {
        if panel["type"] != "logs" {
            continue;
        }
        panels += 1;
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        let title = panel["title"].as_str().unwrap();
        let (selector, pipeline) = expr.split_once('}').expect("a stream selector");
        for matcher in selector.trim_start_matches('{').split(',') {
            if let Some((label, value)) = matcher.split_once("=~") {
                assert!(
                    value.contains('$') && entries.iter().all(|e| e.labels.contains_key(label)),
                    "{title}: {label} is not a stream label"
                );
            } else {
                let (label, value) = matcher.split_once('=').expect("a matcher");
                let value = value.trim_matches('"');
                assert!(
                    entries
                        .iter()
                        .any(|e| e.labels.get(label).map(String::as_str) == Some(value)),
                    "{title}: no stream has {label}={value}"
                );
            }
        }
        let event = pipeline
            .split_once(r#"event_name=""#)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(e, _)| e)
            .unwrap_or_else(|| panic!("{title}: no event_name filter"));
        let fields: Vec<&str> = pipeline
            .split("{{.")
            .skip(1)
            .map(|f| f.split_once("}}").expect("}}").0)
            .collect();
        assert!(!fields.is_empty(), "{title}: no line_format fields");
        let matching: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.metadata.get("event_name").map(String::as_str) == Some(event))
            .collect();
        if matching.is_empty() {
            let line = telemetry
                .lines()
                .find(|l| l.starts_with(&format!("- `{event}`:")))
                .unwrap_or_else(|| panic!("{title}: {event} is neither captured nor documented"));
            for f in fields {
                assert!(
                    line.contains(&format!("`{f}`")),
                    "{title}: {event} has no {f}"
                );
            }
            continue;
        }
        for f in fields {
            assert!(
                matching
                    .iter()
                    .all(|e| e.metadata.contains_key(f) || e.labels.contains_key(f)),
                "{title}: {event} entries lack {f}"
            );
        }
    }
    assert_eq!(panels, 3, "the log panels");
}
