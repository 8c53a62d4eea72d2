//! Batch helpers for the end-to-end tests: the captured Claude Code requests,
//! a minimal HTTP/1.1 keep-alive client, gRPC replay, JSONL read-back, the
//! service run in-process, config files and metric sums.
#![allow(dead_code)] // each test binary uses a different subset

pub mod agent;
pub mod claude;
pub mod clickhouse;
pub mod loki;
pub mod mount;
pub mod process;
pub mod prometheus;
pub mod venv;
pub mod view;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ccpipe::{RunSummary, Service};
use ccpipe_pipeline::config::Config;
use ccpipe_pipeline::records::{Records, Signal};
use ccpipe_pipeline::{BuildError, Shutdown};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use prost::Message;

pub fn captures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code/captures")
}

pub const VARIANTS: &[&str] = &[
    "grpc",
    "grpc-gzip",
    "http-protobuf",
    "http-protobuf-gzip",
    "http-json",
    "http-protobuf-redacted",
    "http-protobuf-no-traces",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Grpc { gzip: bool },
    HttpProtobuf { gzip: bool },
    HttpJson,
}

/// One captured request: what went over the wire and what it decodes to.
pub struct Capture {
    pub file: String,
    pub signal: Signal,
    pub wire: Wire,
    /// The exact request body (gzip bytes where the wire was gzip; for gRPC the
    /// uncompressed message, which the client compresses again).
    pub body: Vec<u8>,
    pub expected: Records,
    pub items: usize,
}

fn decode_bin(signal: Signal, bytes: &[u8]) -> Records {
    match signal {
        Signal::Logs => {
            Records::Logs(ExportLogsServiceRequest::decode(bytes).expect("capture decodes"))
        }
        Signal::Metrics => {
            Records::Metrics(ExportMetricsServiceRequest::decode(bytes).expect("capture decodes"))
        }
        Signal::Traces => {
            Records::Traces(ExportTraceServiceRequest::decode(bytes).expect("capture decodes"))
        }
    }
}

/// The requests of one capture variant, in the order Claude Code sent them.
pub fn load_variant(variant: &str) -> Vec<Capture> {
    let dir = captures_root().join(variant).join("otlp");
    let index = std::fs::read_to_string(dir.join("index.jsonl"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out = Vec::new();
    for line in index.lines().filter(|l| !l.trim().is_empty()) {
        let entry: serde_json::Value = serde_json::from_str(line).expect("index line is JSON");
        let file = entry["file"].as_str().expect("file").to_string();
        let signal =
            Signal::from_type(entry["signal"].as_str().expect("signal")).expect("known signal");
        let index_items = entry["summary"]["items"].as_u64().expect("items") as usize;
        let headers = &entry["headers"];
        let gzip =
            headers["content-encoding"].as_str() == Some("gzip") || variant.ends_with("-gzip");
        let (wire, body, expected) = if entry["proto"] == "grpc" {
            let bin = std::fs::read(dir.join(format!("{file}.bin"))).expect("bin");
            let expected = decode_bin(signal, &bin);
            (Wire::Grpc { gzip }, bin, expected)
        } else if headers["content-type"].as_str() == Some("application/json") {
            let json = std::fs::read(dir.join(format!("{file}.json"))).expect("json");
            let expected =
                ccpipe_pipeline::otlp_json::decode(signal, &json).expect("capture JSON decodes");
            (Wire::HttpJson, json, expected)
        } else {
            let bin = std::fs::read(dir.join(format!("{file}.bin"))).expect("bin");
            let expected = decode_bin(signal, &bin);
            let body = if gzip {
                std::fs::read(dir.join(format!("{file}.body.gzip"))).expect("gzip body")
            } else {
                bin
            };
            (Wire::HttpProtobuf { gzip }, body, expected)
        };
        // index.jsonl counts metrics (not data points) for metrics requests.
        let index_count = match &expected {
            Records::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .map(|sm| sm.metrics.len())
                .sum(),
            other => other.item_count(),
        };
        assert_eq!(
            index_count, index_items,
            "{variant}/{file}: count vs index.jsonl"
        );
        let items = expected.item_count();
        out.push(Capture {
            file,
            signal,
            wire,
            body,
            expected,
            items,
        });
    }
    out
}

pub fn path_for(signal: Signal) -> &'static str {
    match signal {
        Signal::Logs => "/v1/logs",
        Signal::Metrics => "/v1/metrics",
        Signal::Traces => "/v1/traces",
    }
}

/// A blocking HTTP/1.1 keep-alive connection, as Claude Code keeps one.
pub struct HttpConn {
    stream: BufReader<TcpStream>,
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HttpConn {
    pub fn connect(addr: SocketAddr) -> HttpConn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        HttpConn {
            stream: BufReader::new(s),
        }
    }

    pub fn post(&mut self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let s = self.stream.get_mut();
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        self.read_response()
    }

    fn read_response(&mut self) -> HttpResponse {
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.stream.read_line(&mut h).expect("header");
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("header colon");
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).expect("body");
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    /// Sends one capture the way Claude Code sent it.
    pub fn send_capture(&mut self, c: &Capture) -> HttpResponse {
        let path = path_for(c.signal);
        match c.wire {
            Wire::HttpJson => self.post(path, &[("content-type", "application/json")], &c.body),
            Wire::HttpProtobuf { gzip: true } => self.post(
                path,
                &[
                    ("content-type", "application/x-protobuf"),
                    ("content-encoding", "gzip"),
                ],
                &c.body,
            ),
            Wire::HttpProtobuf { gzip: false } => {
                self.post(path, &[("content-type", "application/x-protobuf")], &c.body)
            }
            Wire::Grpc { .. } => panic!("gRPC capture sent over HTTP"),
        }
    }
}

/// Sends gRPC captures over one HTTP/2 connection, as Claude Code does.
pub async fn send_grpc(addr: SocketAddr, captures: &[Capture]) {
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use tonic::codec::CompressionEncoding;

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("grpc connect");
    for c in captures {
        let Wire::Grpc { gzip } = c.wire else {
            panic!("not a gRPC capture")
        };
        let result = match &c.expected {
            Records::Logs(r) => {
                let mut client = LogsServiceClient::new(channel.clone());
                if gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                client.export(r.clone()).await.map(|_| ())
            }
            Records::Metrics(r) => {
                let mut client = MetricsServiceClient::new(channel.clone());
                if gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                client.export(r.clone()).await.map(|_| ())
            }
            Records::Traces(r) => {
                let mut client = TraceServiceClient::new(channel.clone());
                if gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                client.export(r.clone()).await.map(|_| ())
            }
        };
        result.unwrap_or_else(|s| panic!("{}: gRPC export failed: {s:?}", c.file));
    }
}

/// Reads an OTLP/JSON lines file back into batches, one per line.
pub fn read_jsonl(path: &Path) -> Vec<Records> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{}: last line is torn",
        path.display()
    );
    text.lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).expect("each line is one JSON object");
            let signal = if v.get("resourceLogs").is_some() {
                Signal::Logs
            } else if v.get("resourceMetrics").is_some() {
                Signal::Metrics
            } else if v.get("resourceSpans").is_some() {
                Signal::Traces
            } else {
                panic!("line is no OTLP export request: {line:.200}")
            };
            ccpipe_pipeline::otlp_json::decode(signal, line.as_bytes())
                .expect("line decodes as OTLP/JSON")
        })
        .collect()
}

/// Concatenates batches of one signal into one request (resources in order).
pub fn concat(signal: Signal, batches: impl IntoIterator<Item = Records>) -> Records {
    let mut all = Records::empty(signal);
    for b in batches {
        if b.signal() == signal {
            all.append(b);
        }
    }
    all
}

/// A unique, empty temp folder for one test. Folders of earlier test runs
/// (whose process is gone) are removed first, so runs do not pile up in /tmp;
/// the current run's stay until the next run, for reading after a failure.
pub fn temp_dir(name: &str) -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(remove_dead_runs_temp_dirs);
    let dir = std::env::temp_dir().join(format!("ccpipe-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes `ccpipe-test-*-<pid>` entries of the temp folder whose process no
/// longer runs (a test binary that finished or was killed).
fn remove_dead_runs_temp_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("ccpipe-test-")) else {
            continue;
        };
        let Some(pid) = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// Reads a file to a string, for small config files in tests.
pub fn read(path: &Path) -> String {
    let mut s = String::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// Writes `yaml` to `ccpipe.yaml` in `dir` and returns its path.
pub fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("ccpipe.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A port nothing listens on right now (for servers that need a fixed
/// address in their config).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A number data point's value as f64 (0 when it has none).
pub fn point_value(v: Option<number_data_point::Value>) -> f64 {
    match v {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// The sum of the data point values of the sum metric `name` over the captures.
pub fn captured_sum(captures: &[Capture], name: &str) -> f64 {
    let mut total = 0.0;
    for c in captures {
        let Records::Metrics(r) = &c.expected else {
            continue;
        };
        for m in r
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == name)
        {
            if let Some(Data::Sum(s)) = &m.data {
                for p in &s.data_points {
                    total += point_value(p.value);
                }
            }
        }
    }
    total
}

/// A service built from a config and running in this process, on the
/// addresses its config names (port 0: the ones the OS picked).
pub struct InProcess {
    addrs: Vec<(&'static str, SocketAddr)>,
    shutdown: Shutdown,
    running: tokio::task::JoinHandle<Result<RunSummary, String>>,
}

impl InProcess {
    /// Builds the service and runs it on a task.
    pub async fn start(cfg: &Config) -> Result<InProcess, BuildError> {
        let service = Service::build(cfg).await?;
        let addrs = service
            .local_addrs()
            .into_iter()
            .map(|(_, proto, addr)| (proto, addr))
            .collect();
        let shutdown = Shutdown::new();
        let running = tokio::spawn(service.run(shutdown.clone()));
        Ok(InProcess {
            addrs,
            shutdown,
            running,
        })
    }

    /// The address of the first `proto` ("grpc" or "http") listener.
    pub fn addr(&self, proto: &str) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(p, _)| *p == proto)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {proto} listener"))
    }

    /// Fires the shutdown and waits for the service to finish.
    pub async fn stop(self) -> Result<RunSummary, String> {
        self.shutdown.cancel();
        self.running.await.unwrap()
    }
}

/// Sends captures to a service the way Claude Code sent them: gRPC ones
/// over one HTTP/2 connection, the others over one HTTP/1.1 keep-alive
/// connection, each answered 200.
pub async fn send_captures(service: &InProcess, captures: &[Capture]) {
    if matches!(captures.first().map(|c| c.wire), Some(Wire::Grpc { .. })) {
        send_grpc(service.addr("grpc"), captures).await;
        return;
    }
    let http = service.addr("http");
    let bodies: Vec<Capture> = captures
        .iter()
        .map(|c| Capture {
            file: c.file.clone(),
            signal: c.signal,
            wire: c.wire,
            body: c.body.clone(),
            expected: Records::empty(c.signal),
            items: 0,
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut conn = HttpConn::connect(http);
        for c in &bodies {
            let resp = conn.send_capture(c);
            assert_eq!(
                resp.status,
                200,
                "{}: {}",
                c.file,
                String::from_utf8_lossy(&resp.body)
            );
        }
    })
    .await
    .unwrap();
}
