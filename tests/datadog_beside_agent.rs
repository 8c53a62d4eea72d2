//! The shipped `configs/datadog.yaml`, unchanged, on a machine whose Datadog
//! Agent already takes OTLP on 4317/4318 for another service.
//!
//! A fake Agent holds 127.0.0.1:4317 and 127.0.0.1:4318 (it records every
//! OTLP/HTTP request on 4318). ccpipe runs the shipped config as it is;
//! `ccpipe claude-settings --write` points the real Claude Code CLI (against
//! the fake model, see tests/common/claude.rs) at ccpipe; another OTLP sender
//! posts `service.name=cluster-whisperer` data to the Agent directly. Both
//! arrive: ours tagged `service:claude-code` with env, the other byte for byte
//! as sent. Port-in-use errors name the port, its holder and the key.
//!
//! The fixed ports must not collide with anything on the machine running the
//! tests, so each test re-runs itself in a private network namespace
//! (`unshare --net`, then `ip link set lo up`): its loopback is its own. That
//! needs root (CI runs as root) and util-linux's `unshare` and iproute2's
//! `ip`; without them the test fails and says so, it is never skipped. The
//! CLI is installed before entering the namespace, which has no other network.

mod common;

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::agent::{read_request, RawRequest as Received};
use common::claude::{claude_bin, offline_env, run_bounded, FakeModel};
use common::process::{bin, Ccpipe};
use common::temp_dir;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

const IN_NAMESPACE: &str = "CCPIPE_TEST_IN_NETNS";
const DD_ENV: &str = "e2e-beside-agent";
const OTHER_SERVICE: &str = "cluster-whisperer";
/// The per-repository breakdown's tag, as a rollout sets it.
const REPOSITORY: &str = "acme/ccpipe";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_config() -> std::path::PathBuf {
    repo().join("configs/datadog.yaml")
}

/// Runs `test` in a fresh network namespace (this test binary again, with
/// only that test); returns false when already inside, so the caller runs
/// the body.
fn reran_in_namespace(test: &str) -> bool {
    if std::env::var_os(IN_NAMESPACE).is_some() {
        return false;
    }
    let me = std::env::current_exe().unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--net",
        "--",
        "sh",
        "-c",
        "ip link set lo up && exec \"$@\"",
        "sh",
    ])
    .arg(&me)
    .args([test, "--exact", "--nocapture", "--test-threads=1"])
    .env(IN_NAMESPACE, "1");
    let run = run_bounded(cmd, Duration::from_secs(300)).unwrap_or_else(|e| {
        panic!("cannot run {test} in a network namespace: {e}\nit needs root, unshare and ip")
    });
    eprintln!("{}", run.stderr);
    assert!(
        run.status.success() && run.stdout.contains("1 passed"),
        "{test} in its network namespace ({}):\nstdout:\n{}\nstderr:\n{}\n(this test needs root, \
         util-linux `unshare` and iproute2 `ip` to give itself a private loopback)",
        run.status,
        run.stdout,
        run.stderr
    );
    true
}

// ------------------------------------------------------------ the fake Agent

/// The Agent's OTLP intake: records each request on 4318 and answers 200;
/// holds 4317 too (never answering), as an Agent's gRPC intake would.
struct FakeAgent {
    received: Arc<Mutex<Vec<Received>>>,
    _grpc: TcpListener,
}

impl FakeAgent {
    fn start() -> FakeAgent {
        let http = TcpListener::bind("127.0.0.1:4318").expect("4318 is free in the namespace");
        let grpc = TcpListener::bind("127.0.0.1:4317").expect("4317 is free in the namespace");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = received.clone();
        std::thread::spawn(move || {
            for conn in http.incoming() {
                let Ok(conn) = conn else { break };
                let sink = sink.clone();
                std::thread::spawn(move || serve(conn, &sink));
            }
        });
        FakeAgent {
            received,
            _grpc: grpc,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, sink: &Mutex<Vec<Received>>) {
    let mut writer = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(request) = read_request(&mut r) {
        sink.lock().unwrap().push(request);
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

// ----------------------------------------------------- the other service

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn other_resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", OTHER_SERVICE),
            kv("deployment.environment.name", "staging"),
        ],
        ..Default::default()
    })
}

/// What cluster-whisperer sends the Agent: one metric, one log record.
fn other_service_requests() -> Vec<(&'static str, Vec<u8>)> {
    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: other_resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "whisper.requests".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: 1_700_000_000_000_000_000,
                            value: Some(number_data_point::Value::AsInt(7)),
                            attributes: vec![kv("cluster", "east")],
                            ..Default::default()
                        }],
                        aggregation_temporality: 1,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: other_resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    body: Some(AnyValue {
                        value: Some(Value::StringValue("node east-3 whispered".into())),
                    }),
                    attributes: vec![kv("user.email", "ops@example.com")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    vec![
        ("/v1/metrics", metrics.encode_to_vec()),
        ("/v1/logs", logs.encode_to_vec()),
    ]
}

fn post(path: &str, body: &[u8]) -> u16 {
    let mut conn = common::HttpConn::connect("127.0.0.1:4318".parse().unwrap());
    conn.post(path, &[("content-type", "application/x-protobuf")], body)
        .status
}

// ------------------------------------------------------------- decoding

fn resource_attr<'a>(r: &'a Option<Resource>, key: &str) -> Option<&'a str> {
    r.as_ref()?
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

/// The data-point attributes of a metric (sums and histograms).
fn point_attrs(m: &Metric) -> Vec<&[KeyValue]> {
    match &m.data {
        Some(metric::Data::Sum(s)) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Some(metric::Data::Histogram(h)) => {
            h.data_points.iter().map(|p| &p.attributes[..]).collect()
        }
        _ => Vec::new(),
    }
}

/// The resources of one request, and the names of what it carries (metric
/// names, event bodies, span names); a metric is listed as `name@repository`
/// too when a data point has the repository tag.
fn decode(r: &Received) -> (Vec<Option<Resource>>, Vec<String>) {
    let (mut resources, mut names) = (Vec::new(), Vec::new());
    match r.path.as_str() {
        "/v1/metrics" => {
            let req = ExportMetricsServiceRequest::decode(&r.body[..]).expect("metrics");
            for rm in req.resource_metrics {
                for sm in &rm.scope_metrics {
                    for m in &sm.metrics {
                        names.push(m.name.clone());
                        let tagged = point_attrs(m).iter().any(|attrs| {
                            attrs.iter().any(|kv| {
                                kv.key == "repository"
                                    && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()),
                                        Some(Value::StringValue(s)) if s == REPOSITORY)
                            })
                        });
                        if tagged {
                            names.push(format!("{}@repository", m.name));
                        }
                    }
                }
                resources.push(rm.resource);
            }
        }
        "/v1/logs" => {
            let req = ExportLogsServiceRequest::decode(&r.body[..]).expect("logs");
            for rl in req.resource_logs {
                for sl in &rl.scope_logs {
                    names.extend(sl.log_records.iter().filter_map(|l| {
                        match l.body.as_ref()?.value.as_ref()? {
                            Value::StringValue(s) => Some(s.clone()),
                            _ => None,
                        }
                    }));
                }
                resources.push(rl.resource);
            }
        }
        "/v1/traces" => {
            let req = ExportTraceServiceRequest::decode(&r.body[..]).expect("traces");
            for rs in req.resource_spans {
                for ss in &rs.scope_spans {
                    names.extend(ss.spans.iter().map(|s| s.name.clone()));
                }
                resources.push(rs.resource);
            }
        }
        other => panic!("the Agent got a request on {other}"),
    }
    (resources, names)
}

// ------------------------------------------------------------------ tests

/// The whole set-up, from `claude-settings --write` to both services'
/// data at the Agent.
#[test]
fn shipped_datadog_config_beside_an_agent_that_serves_another_service() {
    // The CLI comes from the npm registry on first use: before the namespace.
    let claude = claude_bin();
    if reran_in_namespace("shipped_datadog_config_beside_an_agent_that_serves_another_service") {
        return;
    }
    let agent = FakeAgent::start();
    let dir = temp_dir("datadog-beside-agent");
    let (home, work, tmp, data) = (
        dir.join("home"),
        dir.join("work"),
        dir.join("tmp"),
        dir.join("data"),
    );
    for d in [&home, &work, &tmp, &data] {
        std::fs::create_dir_all(d).unwrap();
    }

    let mut command = Command::new(bin());
    command
        .arg("--config")
        .arg(shipped_config())
        .env("DD_ENV", DD_ENV)
        .env("CCPIPE_DATA_DIR", &data)
        .current_dir(&work);
    let ccpipe = Ccpipe::start_command(command);
    assert_eq!(
        (ccpipe.grpc.map(|a| a.port()), ccpipe.http.map(|a| a.port())),
        (Some(14317), Some(14318)),
        "{}",
        ccpipe.stderr()
    );

    // Claude Code is configured the way the docs say, nothing by hand.
    let settings = home.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let written = Command::new(bin())
        .arg("--config")
        .arg(shipped_config())
        .args([
            "claude-settings",
            "--resource",
            &format!("repository={REPOSITORY}"),
            "--write",
        ])
        .arg(&settings)
        .output()
        .unwrap();
    assert!(written.status.success(), "{written:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(
        doc["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://127.0.0.1:14317",
        "{doc}"
    );

    let checked = Command::new(bin())
        .arg("--config")
        .arg(shipped_config())
        .args(["claude-settings", "--check"])
        .arg(&settings)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{said}");
    assert_eq!(said.matches("(grpc): OK, it accepted").count(), 3, "{said}");

    // The other service talks to the Agent directly, before and after.
    let others = other_service_requests();
    assert_eq!(post(others[0].0, &others[0].1), 200);

    let model = FakeModel::start(&dir);
    let mut cmd = Command::new(&claude);
    cmd.args(["-p", "say hi", "--output-format", "json", "--debug"])
        .current_dir(&work)
        .env_clear()
        .envs(offline_env(&home, &tmp, model.port));
    let run = run_bounded(cmd, Duration::from_secs(120)).unwrap();
    let debug_log = std::fs::read_to_string(home.join(".claude/debug/latest")).unwrap_or_default();
    assert!(
        run.status.success(),
        "claude exited {}\n{}\n{}\n{debug_log}",
        run.status,
        run.stdout,
        run.stderr
    );
    let result: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let session = result["session_id"]
        .as_str()
        .expect("session_id")
        .to_owned();
    for signal in ["metrics", "logs", "traces"] {
        assert!(
            debug_log.contains(&format!("First {signal} export: SUCCESS")),
            "Claude Code did not report a successful {signal} export to ccpipe:\n{}",
            debug_log
                .lines()
                .filter(|l| l.contains("telemetry"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    drop(model);
    assert_eq!(post(others[1].0, &others[1].1), 200);

    // SIGTERM flushes the batch and the connector's last interval.
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(30));
    assert!(status.success(), "ccpipe exited {status}:\n{stderr}");

    let received = agent.received();
    // The other service's requests: each exactly once, byte for byte.
    for (path, body) in &others {
        let same: Vec<&Received> = received
            .iter()
            .filter(|r| r.path == *path && r.raw == *body)
            .collect();
        assert_eq!(
            same.len(),
            1,
            "{OTHER_SERVICE}'s {path} request at the Agent"
        );
        assert_eq!(same[0].content_type, "application/x-protobuf");
    }
    let ours: Vec<&Received> = received
        .iter()
        .filter(|r| !others.iter().any(|(_, b)| r.raw == *b))
        .collect();
    let mut names = Vec::new();
    let mut paths = std::collections::BTreeSet::new();
    for r in &ours {
        let (resources, n) = decode(r);
        paths.insert(r.path.clone());
        names.extend(n);
        for res in &resources {
            assert_eq!(
                resource_attr(res, "service.name"),
                Some("claude-code"),
                "{res:?}"
            );
            assert_eq!(
                resource_attr(res, "deployment.environment.name"),
                Some(DD_ENV),
                "{res:?}"
            );
        }
    }
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        ["/v1/logs", "/v1/metrics", "/v1/traces"],
        "ccpipe sends every signal to the Agent's OTLP/HTTP intake"
    );
    let has = |n: &str| names.iter().any(|x| x == n);
    for wanted in [
        "claude_code.token.usage",
        "claude_code.cost.usage",
        "claude_code.api_request",
        "claude_code.user_prompt",
        "claude_code.interaction",
        // From the claude_code_metrics connector: latency without a log measure.
        "claude_code.api.duration",
        "claude_code.api.requests",
        // The per-repository breakdown, on Claude Code's and derived metrics.
        "claude_code.cost.usage@repository",
        "claude_code.api.duration@repository",
    ] {
        assert!(has(wanted), "{wanted} did not reach the Agent: {names:?}");
    }
    // Tied to this run: the session id is in what ccpipe wrote beside.
    let copy = std::fs::read_to_string(data.join("claude-code.datadog.jsonl")).unwrap();
    assert!(
        copy.contains(&session),
        "the local copy lacks session {session}"
    );
    assert!(!copy.contains(OTHER_SERVICE));
    eprintln!(
        "Agent got {} requests: {} from ccpipe ({} names), {} from {OTHER_SERVICE}",
        received.len(),
        ours.len(),
        names.len(),
        others.len()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Port-in-use errors name the port, who holds it and the key to change.
#[test]
fn port_in_use_names_port_holder_and_key() {
    if reran_in_namespace("port_in_use_names_port_holder_and_key") {
        return;
    }
    let _agent = FakeAgent::start();
    let dir = temp_dir("datadog-port-in-use");
    let me = format!("pid {} (", std::process::id());

    // A config that still listens on the Agent's port.
    let old = common::write_config(
        &dir,
        "receivers:\n  otlp:\n    protocols:\n      http: { endpoint: 127.0.0.1:4318 }\n\
         exporters:\n  debug: {}\n\
         service:\n  telemetry: { metrics: { address: \"\" } }\n  health: { address: \"\" }\n\
         \x20 pipelines:\n    logs: { receivers: [otlp], exporters: [debug] }\n",
    );
    let out = Command::new(bin())
        .arg("--config")
        .arg(&old)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for part in [
        "cannot listen on http endpoint 127.0.0.1:4318",
        &format!("port 4318 is taken by {me}"),
        "a Datadog Agent's OTLP intake",
        "receivers.otlp.protocols.http.endpoint",
        "127.0.0.1:14318",
    ] {
        assert!(stderr.contains(part), "{part:?} not in:\n{stderr}");
    }
    // A graph that failed to start drops its export tasks on purpose: that
    // is not reported as a panic.
    assert!(!stderr.contains("panicked"), "{stderr}");

    // ccpipe's own metrics endpoint on a taken port names its key too.
    let admin = common::write_config(
        &dir,
        "receivers:\n  otlp:\n    protocols:\n      http: { endpoint: 127.0.0.1:0 }\n\
         exporters:\n  debug: {}\n\
         service:\n  telemetry: { metrics: { address: 127.0.0.1:4318 } }\n  health: { address: \"\" }\n\
         \x20 pipelines:\n    logs: { receivers: [otlp], exporters: [debug] }\n",
    );
    let out = Command::new(bin())
        .arg("--config")
        .arg(&admin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for part in [
        "cannot listen on the metrics endpoint 127.0.0.1:4318",
        &format!("port 4318 is taken by {me}"),
        "service.telemetry.metrics.address",
    ] {
        assert!(stderr.contains(part), "{part:?} not in:\n{stderr}");
    }

    // Two ccpipes with the shipped config: the second names the first.
    let first = {
        let mut c = Command::new(bin());
        c.arg("--config")
            .arg(shipped_config())
            .env("CCPIPE_DATA_DIR", dir.join("a"));
        Ccpipe::start_command(c)
    };
    let out = Command::new(bin())
        .arg("--config")
        .arg(shipped_config())
        .env("CCPIPE_DATA_DIR", dir.join("b"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for part in [
        "127.0.0.1:14317",
        &format!("port 14317 is taken by pid {} (", first.pid()),
        "probably another ccpipe",
        "receivers.otlp.protocols.grpc.endpoint",
    ] {
        assert!(stderr.contains(part), "{part:?} not in:\n{stderr}");
    }
    drop(first);
    let _ = std::fs::remove_dir_all(dir);
}
