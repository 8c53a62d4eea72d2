//! The real Claude Code CLI against the real ccpipe binary, once per OTLP
//! protocol. `@anthropic-ai/claude-code` (pinned in tests/claude-cli/, installed
//! with `npm ci` into target/claude-code-cli/ on first run) answers
//! `claude -p "say hi"` using a scripted fake Messages API on 127.0.0.1
//! (tests/claude-cli/fake_model.py) and exports its metrics, events and spans
//! to ccpipe, which writes OTLP/JSON lines; after SIGTERM the file must hold
//! the session's telemetry, tied to this run by session and request ids.
//!
//! Nothing leaves the machine: HOME is a temp folder, the API base URL is the
//! fake server, nonessential traffic and the autoupdater are off and proxies
//! point at a closed port (the same environment as the captures in
//! tests/fixtures/claude-code/captures/*/meta.json). No processors run, so each
//! line of the file is one export request exactly as the CLI sent it; a TCP
//! relay in front of ccpipe keeps the bytes the CLI sent, to check the wire
//! format (content type, gzip) and the request count. The CLI's own debug log
//! must report each signal's first export as a success.
//!
//! Observed with 2.1.330 in -p mode: the session ends within a second, so each
//! signal goes out once, at exit, even with 1000 ms intervals (3 requests on
//! one connection: 4 metrics / 7 points, 7 log records, 2 spans); the only
//! model call is one streaming `POST /v1/messages?beta=true`.
//!
//! Needs `npm` (Node 20+) and the npm registry on the first run, and `python3`.
//! A failed install fails the test; it is never skipped.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ccpipe_pipeline::records::{Records, Signal};
use common::claude::{claude_bin, offline_env, run_bounded, FakeModel, CLI_VERSION};
use common::process::Ccpipe;
use common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

const PROMPT: &str = "say hi";
/// What the fake model answers and the usage it reports (fake_model.py).
const ANSWER: &str = "hi";
const INPUT_TOKENS: i64 = 12;
const OUTPUT_TOKENS: i64 = 3;
const CLAUDE_TIMEOUT: Duration = Duration::from_secs(120);
const SERVICE_NAMESPACE: &str = "ccpipe-claude-cli-test";

// ------------------------------------------------- what went over the wire

/// A TCP relay between the CLI and ccpipe that keeps the bytes the CLI sent,
/// so the test sees the wire format (content types, gzip) and not only what
/// ccpipe made of it.
struct Relay {
    addr: SocketAddr,
    /// Client-to-server bytes of each connection, and how many are still open.
    conns: Arc<Mutex<(Vec<Vec<u8>>, usize)>>,
}

impl Relay {
    fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<(Vec<Vec<u8>>, usize)>> = Arc::default();
        let state = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let index = {
                    let mut s = state.lock().unwrap();
                    s.0.push(Vec::new());
                    s.1 += 1;
                    s.0.len() - 1
                };
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let state = state.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    loop {
                        match c_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                state.lock().unwrap().0[index].extend_from_slice(&buf[..n]);
                                if s_write.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                    state.lock().unwrap().1 -= 1;
                });
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Relay { addr, conns }
    }

    /// The bytes of every connection, once the CLI has closed them all.
    fn sent(&self) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.conns.lock().unwrap();
            if s.1 == 0 || Instant::now() > deadline {
                return s.0.clone();
            }
            drop(s);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One export request as seen on the wire.
#[derive(Debug)]
struct WireRequest {
    /// HTTP path, or "grpc stream <id>".
    path: String,
    /// content-type (HTTP) or "application/grpc".
    content_type: String,
    /// HTTP content-encoding gzip, or the gRPC compressed-flag set.
    gzip: bool,
    /// Body bytes as sent (gRPC: message bytes after the 5-byte prefix).
    bytes: usize,
}

/// Splits an HTTP/1.1 client stream into requests (all carry content-length).
fn parse_http1(mut data: &[u8]) -> Vec<WireRequest> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!(
                "torn HTTP request head: {:?}",
                String::from_utf8_lossy(data)
            )
        };
        let head = String::from_utf8_lossy(&data[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string();
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("request without content-length: {head}"));
        let body = &data[end + 4..end + 4 + len];
        let gzip = headers.get("content-encoding").map(String::as_str) == Some("gzip");
        assert!(
            !gzip || body.starts_with(&[0x1f, 0x8b]),
            "{path}: content-encoding gzip but the body is not gzip"
        );
        out.push(WireRequest {
            path,
            content_type: headers.get("content-type").cloned().unwrap_or_default(),
            gzip,
            bytes: len,
        });
        data = &data[end + 4 + len..];
    }
    out
}

/// Splits an HTTP/2 client stream into gRPC messages by their DATA frames.
fn parse_grpc(data: &[u8]) -> Vec<WireRequest> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    assert!(data.starts_with(PREFACE), "no HTTP/2 preface");
    let mut streams: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut rest = &data[PREFACE.len()..];
    while rest.len() >= 9 {
        let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        let (kind, flags) = (rest[3], rest[4]);
        let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
        let payload = &rest[9..9 + len];
        if kind == 0 {
            // DATA; PADDED (0x8) puts a pad length first and padding last.
            let body = if flags & 0x8 != 0 {
                &payload[1..payload.len() - payload[0] as usize]
            } else {
                payload
            };
            streams.entry(stream).or_default().extend_from_slice(body);
        }
        rest = &rest[9 + len..];
    }
    let mut out = Vec::new();
    for (id, body) in streams {
        let mut msgs = &body[..];
        while msgs.len() >= 5 {
            let len = u32::from_be_bytes([msgs[1], msgs[2], msgs[3], msgs[4]]) as usize;
            let gzip = msgs[0] == 1;
            assert!(
                !gzip || msgs[5..].starts_with(&[0x1f, 0x8b]),
                "gRPC stream {id}: compressed flag set but the message is not gzip"
            );
            out.push(WireRequest {
                path: format!("grpc stream {id}"),
                content_type: "application/grpc".into(),
                gzip,
                bytes: len,
            });
            msgs = &msgs[5 + len..];
        }
    }
    out
}

// ------------------------------------------------------------- one run

#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    protocol: &'static str,
    gzip: bool,
}

fn config(out: &Path) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  file: {{ path: "{}", format: otlp_json }}
service:
  # Own ports for the admin endpoints: tests run side by side.
  telemetry: {{ metrics: {{ address: "127.0.0.1:0" }} }}
  health: {{ address: "127.0.0.1:0" }}
  pipelines:
    logs:    {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
    traces:  {{ receivers: [otlp], exporters: [file] }}
"#,
        out.display()
    )
}

/// The offline environment with the given OTLP endpoint.
fn claude_env(v: Variant, home: &Path, tmp: &Path, api: u16, otlp: &str) -> Vec<(String, String)> {
    let mut env = offline_env(home, tmp, api);
    let telemetry: Vec<(&str, String)> = vec![
        ("CLAUDE_CODE_ENABLE_TELEMETRY", "1".into()),
        ("OTEL_METRICS_EXPORTER", "otlp".into()),
        ("OTEL_LOGS_EXPORTER", "otlp".into()),
        ("OTEL_TRACES_EXPORTER", "otlp".into()),
        ("CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "1".into()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", v.protocol.into()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.into()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000".into()),
        ("OTEL_LOGS_EXPORT_INTERVAL", "1000".into()),
        ("OTEL_TRACES_EXPORT_INTERVAL", "1000".into()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            format!(
                "service.namespace={SERVICE_NAMESPACE},test.variant={}",
                v.name
            ),
        ),
        ("OTEL_LOG_USER_PROMPTS", "1".into()),
        ("OTEL_LOG_TOOL_DETAILS", "1".into()),
        ("OTEL_LOG_TOOL_CONTENT", "1".into()),
    ];
    env.extend(telemetry.into_iter().map(|(k, v)| (k.to_string(), v)));
    if v.gzip {
        env.push(("OTEL_EXPORTER_OTLP_COMPRESSION".into(), "gzip".into()));
    }
    env
}

fn run_variant(v: Variant) {
    let claude = claude_bin();
    let dir = temp_dir(&format!("claude-cli-{}", v.name));
    let (home, work, tmp) = (dir.join("home"), dir.join("work"), dir.join("tmp"));
    for d in [&home, &work, &tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let out = dir.join("out.jsonl");
    let cfg = write_config(&dir, &config(&out));

    let ccpipe = Ccpipe::start(&cfg);
    let addr = if v.protocol == "grpc" {
        ccpipe.grpc
    } else {
        ccpipe.http
    }
    .expect("listener");
    let relay = Relay::start(addr);
    let model = FakeModel::start(&dir);

    let mut cmd = Command::new(&claude);
    cmd.args(["-p", PROMPT, "--output-format", "json", "--debug"])
        .current_dir(&work)
        .env_clear()
        .envs(claude_env(
            v,
            &home,
            &tmp,
            model.port,
            &format!("http://{}", relay.addr),
        ));
    let run = run_bounded(cmd, CLAUDE_TIMEOUT).unwrap_or_else(|e| panic!("{}: {e}", v.name));
    let debug_log = std::fs::read_to_string(home.join(".claude/debug/latest")).unwrap_or_default();
    assert!(
        run.status.success(),
        "{}: claude exited {}\nstdout:\n{}\nstderr:\n{}\ndebug log:\n{debug_log}",
        v.name,
        run.status,
        run.stdout,
        run.stderr
    );
    let result: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{}: stdout is no JSON result ({e}):\n{}",
            v.name, run.stdout
        )
    });
    assert_eq!(result["is_error"], false, "{}: {result}", v.name);
    assert_eq!(result["result"], ANSWER, "{}: {result}", v.name);
    let session_id = result["session_id"]
        .as_str()
        .expect("session_id")
        .to_string();

    // The CLI's own verdict on ccpipe's answers (its debug log, as --debug
    // writes it to ~/.claude/debug/): every signal's first export succeeded.
    let telemetry: Vec<&str> = debug_log
        .lines()
        .filter(|l| l.contains("[3P telemetry]"))
        .collect();
    for signal in ["metrics", "logs", "traces"] {
        assert!(
            telemetry
                .iter()
                .any(|l| l.contains(&format!("First {signal} export: SUCCESS"))),
            "{}: the CLI did not report a successful {signal} export:\n{}",
            v.name,
            telemetry.join("\n")
        );
    }
    let failures: Vec<&&str> = telemetry
        .iter()
        .filter(|l| l.contains("FAILED") || l.contains("[ERROR]"))
        .collect();
    assert!(
        failures.is_empty(),
        "{}: export failures: {failures:#?}",
        v.name
    );

    // The wire: one content type, compression as configured, every request.
    let connections = relay.sent();
    let wire: Vec<WireRequest> = connections
        .iter()
        .filter(|c| !c.is_empty())
        .flat_map(|c| {
            if v.protocol == "grpc" {
                parse_grpc(c)
            } else {
                parse_http1(c)
            }
        })
        .collect();
    let content_type = match v.protocol {
        "grpc" => "application/grpc",
        "http/protobuf" => "application/x-protobuf",
        _ => "application/json",
    };
    for r in &wire {
        assert!(
            r.content_type == content_type && r.gzip == v.gzip,
            "{}: expected {content_type}, gzip {}, the CLI sent {r:?}",
            v.name,
            v.gzip
        );
        assert!(
            v.protocol == "grpc"
                || ["/v1/metrics", "/v1/logs", "/v1/traces"].contains(&r.path.as_str()),
            "{}: the CLI posted to {}",
            v.name,
            r.path
        );
    }

    let requests = model.requests();
    drop(model);
    let messages: Vec<&serde_json::Value> = requests
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.split('?').next() == Some("/v1/messages"))
        })
        .collect();
    assert!(
        !messages.is_empty(),
        "{}: the CLI never called the fake model: {requests:#?}",
        v.name
    );
    let model_name = messages[0]["model"].as_str().expect("model").to_string();
    let request_ids: Vec<&str> = messages
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();

    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    let stderr = strip_ansi(&stderr);
    assert!(
        status.success(),
        "{}: ccpipe exited {status}:\n{stderr}",
        v.name
    );
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(
        complaints.is_empty(),
        "{}: ccpipe complained:\n{}",
        v.name,
        complaints.join("\n")
    );
    if let Some(failed) = stderr
        .lines()
        .find(|l| l.contains("stopped"))
        .and_then(|l| l.split("failed=").nth(1))
    {
        assert_eq!(failed.trim(), "0", "{}: ccpipe:\n{stderr}", v.name);
    }

    let batches = read_jsonl(&out);
    assert_eq!(
        batches.len(),
        wire.len(),
        "{}: {} export requests on the wire, {} lines in the file: {wire:?}",
        v.name,
        wire.len(),
        batches.len()
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let check = Check {
        variant: v.name,
        session_id: &session_id,
        model: &model_name,
        text: &text,
    };
    let summary = check.all(&batches, &request_ids);
    eprintln!(
        "{}: claude exited 0 in {:.1} s; model API: {:?}; to ccpipe over {} connection(s): \
         {:?} ({} bytes); {summary}",
        v.name,
        run.elapsed.as_secs_f64(),
        requests
            .iter()
            .map(|r| format!(
                "{} {} -> {}",
                r["method"].as_str().unwrap_or("?"),
                r["path"].as_str().unwrap_or("?"),
                r["status"]
            ))
            .collect::<Vec<_>>(),
        connections.len(),
        wire.iter()
            .map(|r| format!(
                "{}{} {} B",
                r.path,
                if r.gzip { " gzip" } else { "" },
                r.bytes
            ))
            .collect::<Vec<_>>(),
        wire.iter().map(|r| r.bytes).sum::<usize>(),
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// -------------------------------------------------------------- assertions

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

fn double_attr(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match attr(attrs, key) {
        Some(Value::DoubleValue(d)) => Some(*d),
        _ => None,
    }
}

fn body(r: &LogRecord) -> &str {
    match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => s,
        _ => "",
    }
}

/// (value, attributes) of each point of a sum metric.
fn sum_points(m: &Metric) -> Vec<(f64, &[KeyValue])> {
    let Some(metric::Data::Sum(sum)) = &m.data else {
        panic!("{} is not a sum: {:?}", m.name, m.data)
    };
    sum.data_points
        .iter()
        .map(|p| {
            let v = match p.value {
                Some(number_data_point::Value::AsDouble(d)) => d,
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                None => panic!("{}: point without value", m.name),
            };
            (v, p.attributes.as_slice())
        })
        .collect()
}

struct Check<'a> {
    variant: &'a str,
    session_id: &'a str,
    model: &'a str,
    text: &'a str,
}

impl Check<'_> {
    #[track_caller]
    fn ensure(&self, ok: bool, what: impl std::fmt::Display) {
        assert!(
            ok,
            "{}: {what}\nccpipe wrote:\n{:.6000}",
            self.variant, self.text
        );
    }

    fn resource(&self, r: &Option<Resource>, signal: Signal) {
        let attrs = r.as_ref().map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        for (key, want) in [
            ("service.name", "claude-code"),
            ("service.version", CLI_VERSION),
            ("service.namespace", SERVICE_NAMESPACE),
            ("test.variant", self.variant),
        ] {
            self.ensure(
                str_attr(attrs, key) == Some(want),
                format!(
                    "{signal} resource: {key} is {:?}, not {want:?}",
                    attr(attrs, key)
                ),
            );
        }
    }

    /// The record belongs to this CLI session.
    fn session(&self, what: &str, attrs: &[KeyValue]) {
        self.ensure(
            str_attr(attrs, "session.id") == Some(self.session_id),
            format!(
                "{what}: session.id {:?}, the CLI said {}",
                attr(attrs, "session.id"),
                self.session_id
            ),
        );
    }

    /// Checks everything and returns a one-line summary of what was sent.
    fn all(&self, batches: &[Records], request_ids: &[&str]) -> String {
        let mut requests: BTreeMap<&str, usize> = BTreeMap::new();
        let mut metrics: Vec<&Metric> = Vec::new();
        let mut logs: Vec<&LogRecord> = Vec::new();
        let mut spans: Vec<&Span> = Vec::new();
        for b in batches {
            *requests.entry(b.signal().as_str()).or_default() += 1;
            match b {
                Records::Metrics(r) => {
                    for rm in &r.resource_metrics {
                        self.resource(&rm.resource, Signal::Metrics);
                        for sm in &rm.scope_metrics {
                            let scope = sm.scope.as_ref().map(|s| s.name.as_str());
                            self.ensure(
                                scope == Some("com.anthropic.claude_code"),
                                format!("metrics scope {scope:?}"),
                            );
                            metrics.extend(&sm.metrics);
                        }
                    }
                }
                Records::Logs(r) => {
                    for rl in &r.resource_logs {
                        self.resource(&rl.resource, Signal::Logs);
                        for sl in &rl.scope_logs {
                            let scope = sl.scope.as_ref().map(|s| s.name.as_str());
                            self.ensure(
                                scope == Some("com.anthropic.claude_code.events"),
                                format!("logs scope {scope:?}"),
                            );
                            logs.extend(&sl.log_records);
                        }
                    }
                }
                Records::Traces(r) => {
                    for rs in &r.resource_spans {
                        self.resource(&rs.resource, Signal::Traces);
                        for ss in &rs.scope_spans {
                            let scope = ss.scope.as_ref().map(|s| s.name.as_str());
                            self.ensure(
                                scope == Some("com.anthropic.claude_code.tracing"),
                                format!("traces scope {scope:?}"),
                            );
                            spans.extend(&ss.spans);
                        }
                    }
                }
            }
        }
        let (cost, interaction) = (self.metrics(&metrics), self.spans(&spans));
        self.logs(&logs, request_ids, cost, interaction);

        let points: usize = metrics.iter().map(|m| sum_points(m).len()).sum();
        let mut events: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &logs {
            *events
                .entry(body(r).trim_start_matches("claude_code."))
                .or_default() += 1;
        }
        let mut span_names: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &spans {
            *span_names
                .entry(s.name.trim_start_matches("claude_code."))
                .or_default() += 1;
        }
        format!(
            "requests {requests:?}; {} metrics / {points} points {:?}; {} log records {events:?}; {} spans {span_names:?}",
            metrics.len(),
            metrics
                .iter()
                .map(|m| m.name.trim_start_matches("claude_code."))
                .collect::<Vec<_>>(),
            logs.len(),
            spans.len()
        )
    }

    /// Metrics: one session, the fake model's tokens, a cost; returns the cost.
    fn metrics(&self, metrics: &[&Metric]) -> f64 {
        let named = |name: &str| -> Vec<(f64, &[KeyValue])> {
            let found: Vec<_> = metrics
                .iter()
                .filter(|m| m.name == name)
                .flat_map(|m| sum_points(m))
                .collect();
            self.ensure(!found.is_empty(), format!("no {name} metric"));
            for (_, attrs) in &found {
                self.session(name, attrs);
            }
            found
        };
        let sessions: f64 = named("claude_code.session.count")
            .iter()
            .map(|(v, _)| v)
            .sum();
        self.ensure(sessions == 1.0, format!("session.count is {sessions}"));

        let tokens = named("claude_code.token.usage");
        for (kind, want) in [("input", INPUT_TOKENS), ("output", OUTPUT_TOKENS)] {
            let got: f64 = tokens
                .iter()
                .filter(|(_, a)| str_attr(a, "type") == Some(kind))
                .map(|(v, _)| v)
                .sum();
            self.ensure(
                got == want as f64,
                format!("token.usage type={kind} is {got}, the fake model said {want}"),
            );
        }
        for (_, a) in &tokens {
            self.ensure(
                str_attr(a, "model") == Some(self.model),
                format!("token.usage model {:?}", attr(a, "model")),
            );
        }

        let cost = named("claude_code.cost.usage");
        let total: f64 = cost.iter().map(|(v, _)| v).sum();
        self.ensure(total > 0.0, format!("cost.usage is {total}"));
        let unit = metrics
            .iter()
            .find(|m| m.name == "claude_code.cost.usage")
            .map(|m| m.unit.as_str());
        self.ensure(unit == Some("USD"), format!("cost.usage unit {unit:?}"));
        total
    }

    /// Traces: an interaction span around an llm_request span; returns the
    /// interaction span.
    fn spans<'s>(&self, spans: &[&'s Span]) -> &'s Span {
        let interaction = spans
            .iter()
            .find(|s| s.name == "claude_code.interaction")
            .copied();
        self.ensure(
            interaction.is_some(),
            "no claude_code.interaction span (CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1 is set)",
        );
        let interaction = interaction.unwrap();
        self.session("interaction span", &interaction.attributes);
        self.ensure(
            interaction.trace_id.len() == 16 && interaction.span_id.len() == 8,
            "interaction span ids",
        );
        self.ensure(
            interaction.parent_span_id.is_empty(),
            "interaction span has a parent",
        );
        self.ensure(
            str_attr(&interaction.attributes, "user_prompt") == Some(PROMPT),
            format!(
                "interaction span user_prompt {:?}",
                attr(&interaction.attributes, "user_prompt")
            ),
        );
        let llm: Vec<&&Span> = spans
            .iter()
            .filter(|s| s.name == "claude_code.llm_request")
            .collect();
        self.ensure(!llm.is_empty(), "no claude_code.llm_request span");
        for s in llm {
            self.ensure(
                s.trace_id == interaction.trace_id && s.parent_span_id == interaction.span_id,
                "llm_request span is not a child of the interaction span",
            );
            self.ensure(
                str_attr(&s.attributes, "model") == Some(self.model)
                    && int_attr(&s.attributes, "input_tokens") == Some(INPUT_TOKENS)
                    && int_attr(&s.attributes, "output_tokens") == Some(OUTPUT_TOKENS)
                    && matches!(attr(&s.attributes, "success"), Some(Value::BoolValue(true))),
                format!("llm_request span attributes {:?}", s.attributes),
            );
            self.ensure(
                s.start_time_unix_nano > 0 && s.end_time_unix_nano >= s.start_time_unix_nano,
                "llm_request span times",
            );
        }
        interaction
    }

    /// Events: the prompt and the API request, in the interaction's trace.
    fn logs(&self, logs: &[&LogRecord], request_ids: &[&str], cost: f64, interaction: &Span) {
        let event = |name: &str| -> Vec<&LogRecord> {
            let found: Vec<&LogRecord> = logs
                .iter()
                .filter(|r| body(r) == format!("claude_code.{name}"))
                .copied()
                .collect();
            self.ensure(!found.is_empty(), format!("no claude_code.{name} event"));
            for r in &found {
                self.session(name, &r.attributes);
                self.ensure(
                    str_attr(&r.attributes, "event.name") == Some(name),
                    format!("{name}: event.name {:?}", attr(&r.attributes, "event.name")),
                );
            }
            found
        };
        let prompts = event("user_prompt");
        self.ensure(prompts.len() == 1, "one user_prompt event");
        let p = &prompts[0].attributes;
        self.ensure(
            str_attr(p, "prompt") == Some(PROMPT)
                && str_attr(p, "prompt_text") == Some(PROMPT)
                && str_attr(p, "prompt_length") == Some(&PROMPT.len().to_string()),
            format!("user_prompt attributes {p:?}"),
        );
        self.ensure(
            prompts[0].trace_id == interaction.trace_id,
            "user_prompt is not in the interaction's trace",
        );

        let api = event("api_request");
        let mut api_cost = 0.0;
        for r in &api {
            let a = &r.attributes;
            self.ensure(
                str_attr(a, "model") == Some(self.model)
                    && int_attr(a, "input_tokens") == Some(INPUT_TOKENS)
                    && int_attr(a, "output_tokens") == Some(OUTPUT_TOKENS)
                    && int_attr(a, "cache_read_tokens") == Some(0)
                    && int_attr(a, "cache_creation_tokens") == Some(0)
                    && int_attr(a, "duration_ms").is_some(),
                format!("api_request attributes {a:?}"),
            );
            let rid = str_attr(a, "request_id");
            self.ensure(
                rid.is_some_and(|id| request_ids.contains(&id)),
                format!("api_request request_id {rid:?}, the fake model sent {request_ids:?}"),
            );
            api_cost += double_attr(a, "cost_usd").unwrap_or(f64::NAN);
            self.ensure(
                r.trace_id == interaction.trace_id,
                "api_request is not in the interaction's trace",
            );
        }
        self.ensure(
            (api_cost - cost).abs() < 1e-9,
            format!("api_request cost_usd sum {api_cost} != cost.usage {cost}"),
        );

        let responses = event("assistant_response");
        self.ensure(
            responses
                .iter()
                .any(|r| str_attr(&r.attributes, "response") == Some(ANSWER)),
            "assistant_response does not carry the fake model's answer",
        );
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn claude_cli_grpc() {
    run_variant(Variant {
        name: "grpc",
        protocol: "grpc",
        gzip: false,
    });
}

#[test]
fn claude_cli_grpc_gzip() {
    run_variant(Variant {
        name: "grpc-gzip",
        protocol: "grpc",
        gzip: true,
    });
}

#[test]
fn claude_cli_http_protobuf() {
    run_variant(Variant {
        name: "http-protobuf",
        protocol: "http/protobuf",
        gzip: false,
    });
}

#[test]
fn claude_cli_http_protobuf_gzip() {
    run_variant(Variant {
        name: "http-protobuf-gzip",
        protocol: "http/protobuf",
        gzip: true,
    });
}

#[test]
fn claude_cli_http_json() {
    run_variant(Variant {
        name: "http-json",
        protocol: "http/json",
        gzip: false,
    });
}
