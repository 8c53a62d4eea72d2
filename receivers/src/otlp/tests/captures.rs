//! Replays what Claude Code really sent (tests/fixtures/claude-code/captures) and
//! checks that each request is answered OK and arrives on the pipeline queue
//! exactly as the protobuf capture decodes.

use std::time::Duration;

use ccpipe_pipeline::telemetry;
use ccpipe_pipeline::Encoded;
use ccpipe_pipeline::{Records, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

use super::{
    counter, http_settings, outputs, record_metrics, sink, start_grpc, start_http, H1, STEP,
};
use crate::otlp::grpc::GrpcSettings;

const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/claude-code/captures"
);

/// One line of a capture's `index.jsonl`.
#[derive(serde::Deserialize)]
struct Entry {
    signal: String,
    file: String,
    summary: Summary,
}

#[derive(serde::Deserialize)]
struct Summary {
    items: usize,
    names: Vec<String>,
}

impl Entry {
    fn signal(&self) -> Signal {
        Signal::from_type(&self.signal).expect("a signal name")
    }
}

fn entries(variant: &str) -> Vec<Entry> {
    let path = format!("{CAPTURES}/{variant}/otlp/index.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let entries: Vec<Entry> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!entries.is_empty(), "{path} lists no request");
    entries
}

fn read(variant: &str, file: &str, ext: &str) -> Vec<u8> {
    let path = format!("{CAPTURES}/{variant}/otlp/{file}.{ext}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The request as prost decodes the capture's `.bin`.
fn expected(variant: &str, entry: &Entry) -> Records {
    let bytes = read(variant, &entry.file, "bin");
    Encoded::new(entry.signal(), bytes.into())
        .expect("capture is valid")
        .decode()
        .expect("capture decodes")
}

/// What `index.jsonl` summarises: log bodies, metric names or span names.
fn names(batch: &Records) -> Vec<String> {
    match batch {
        Records::Logs(r) => r
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| match l.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect(),
        Records::Metrics(r) => r
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.clone())
            .collect(),
        Records::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect(),
    }
}

fn path(signal: Signal) -> String {
    format!("/v1/{signal}")
}

/// Sends every request of an HTTP capture over one keep-alive connection, as
/// Claude Code does.
async fn replay_http(variant: &str, content_type: &str, encoding: Option<&str>, ext: &str) {
    record_metrics();
    let (outputs, queues) = outputs(&Signal::ALL, 16);
    let name = format!("replay-{variant}");
    let server = start_http(
        http_settings(20 << 20),
        sink(&name, outputs, Duration::from_millis(100)),
    )
    .await;
    let mut client = H1::connect(server.addr).await;
    let mut items = 0;
    for entry in entries(variant) {
        let signal = entry.signal();
        let body = read(variant, &entry.file, ext);
        let answer = client
            .post(&path(signal), content_type, encoding, &body)
            .await;
        assert_eq!(
            answer.status,
            200,
            "{variant}/{}: {}",
            entry.file,
            answer.text()
        );
        assert_eq!(answer.header("content-type"), Some(content_type));
        let empty_response: &[u8] = if ext == "json" { b"{}" } else { b"" };
        assert_eq!(answer.body, empty_response);

        let batch = queues.take(signal);
        if ext != "json" {
            assert_eq!(batch, expected(variant, &entry), "{variant}/{}", entry.file);
        }
        assert_eq!(
            names(&batch),
            entry.summary.names,
            "{variant}/{}",
            entry.file
        );
        assert_eq!(names(&batch).len(), entry.summary.items);
        items += batch.item_count() as u64;
    }
    assert!(queues.all_empty(), "one batch per request");
    let receiver = format!("otlp/{name}");
    let labels = [("receiver", receiver.as_str()), ("transport", "http")];
    let accepted: u64 = Signal::ALL
        .iter()
        .map(|s| counter(telemetry::receiver_accepted(*s), &labels))
        .sum();
    assert_eq!(accepted, items);
    server.stop().await;
}

#[tokio::test]
async fn http_protobuf_capture() {
    replay_http("http-protobuf", "application/x-protobuf", None, "bin").await;
}

#[tokio::test]
async fn http_protobuf_gzip_capture_exact_wire_bodies() {
    replay_http(
        "http-protobuf-gzip",
        "application/x-protobuf",
        Some("gzip"),
        "body.gzip",
    )
    .await;
}

#[tokio::test]
async fn http_json_capture() {
    replay_http("http-json", "application/json", None, "json").await;
}

#[tokio::test]
async fn http_protobuf_redacted_and_no_traces_captures() {
    replay_http(
        "http-protobuf-redacted",
        "application/x-protobuf",
        None,
        "bin",
    )
    .await;
    replay_http(
        "http-protobuf-no-traces",
        "application/x-protobuf",
        None,
        "bin",
    )
    .await;
}

fn grpc_settings() -> GrpcSettings {
    GrpcSettings {
        max_recv_msg_size: 4 << 20,
        max_concurrent_streams: None,
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
    }
}

pub(super) async fn channel(addr: std::net::SocketAddr) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}")).unwrap();
    tokio::time::timeout(STEP, endpoint.connect())
        .await
        .expect("connect in time")
        .unwrap()
}

/// Checks the header grpc-js reads to decide whether to keep compressing.
pub(super) fn assert_accept_encoding(metadata: &tonic::metadata::MetadataMap) {
    let value = metadata
        .get("grpc-accept-encoding")
        .map(|v| v.to_str().unwrap());
    assert_eq!(value, Some("gzip,zstd,deflate,identity"));
}

/// Sends every request of a gRPC capture through tonic's generated clients.
async fn replay_grpc(variant: &str, gzip: bool) {
    record_metrics();
    let (outputs, queues) = outputs(&Signal::ALL, 16);
    let name = format!("replay-{variant}");
    let server = start_grpc(
        grpc_settings(),
        sink(&name, outputs, Duration::from_millis(100)),
    )
    .await;
    let channel = channel(server.addr).await;
    let mut logs = LogsServiceClient::new(channel.clone());
    let mut metrics = MetricsServiceClient::new(channel.clone());
    let mut traces = TraceServiceClient::new(channel);
    if gzip {
        logs = logs.send_compressed(CompressionEncoding::Gzip);
        metrics = metrics.send_compressed(CompressionEncoding::Gzip);
        traces = traces.send_compressed(CompressionEncoding::Gzip);
    }
    let mut items = 0;
    for entry in entries(variant) {
        let want = expected(variant, &entry);
        let metadata = match want.clone() {
            Records::Logs(r) => logs.export(r).await.map(|r| r.metadata().clone()),
            Records::Metrics(r) => metrics.export(r).await.map(|r| r.metadata().clone()),
            Records::Traces(r) => traces.export(r).await.map(|r| r.metadata().clone()),
        };
        let metadata = metadata.unwrap_or_else(|s| panic!("{variant}/{}: {s}", entry.file));
        assert_accept_encoding(&metadata);
        let got = queues.take(entry.signal());
        assert_eq!(got, want, "{variant}/{}", entry.file);
        assert_eq!(names(&got), entry.summary.names);
        items += got.item_count() as u64;
    }
    assert!(queues.all_empty());
    let receiver = format!("otlp/{name}");
    let labels = [("receiver", receiver.as_str()), ("transport", "grpc")];
    let accepted: u64 = Signal::ALL
        .iter()
        .map(|s| counter(telemetry::receiver_accepted(*s), &labels))
        .sum();
    assert_eq!(accepted, items);
    server.stop().await;
}

#[tokio::test]
async fn grpc_capture() {
    replay_grpc("grpc", false).await;
}

#[tokio::test]
async fn grpc_gzip_capture() {
    replay_grpc("grpc-gzip", true).await;
}

/// Writes the exact HTTP/2 bytes Claude Code's grpc-js client sent (its
/// preface, settings, HPACK state, gzip messages, PING acks and GOAWAY) and
/// checks that every request arrives. Requests of one signal may be handled
/// concurrently, so each signal's batches are compared as a set.
async fn replay_grpc_wire(variant: &str) {
    let (outputs, queues) = outputs(&Signal::ALL, 16);
    let server = start_grpc(
        grpc_settings(),
        sink(
            &format!("wire-{variant}"),
            outputs,
            Duration::from_millis(100),
        ),
    )
    .await;
    let wire = read(variant, "grpc-wire-02", "h2");
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&wire).await.unwrap();
    // The client's GOAWAY ends the connection once every call is answered.
    let mut answers = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut answers))
        .await
        .expect("the server answers and closes")
        .unwrap();
    assert!(!answers.is_empty());

    let entries = entries(variant);
    for signal in Signal::ALL {
        let mut want: Vec<Records> = entries
            .iter()
            .filter(|e| e.signal() == signal)
            .map(|e| expected(variant, e))
            .collect();
        while let Some(got) = queues.rx[&signal].try_recv() {
            let got = got.into_records().expect("a checked request decodes");
            let at = want.iter().position(|w| *w == got);
            let at =
                at.unwrap_or_else(|| panic!("an unexpected {signal} batch: {:?}", names(&got)));
            want.remove(at);
        }
        assert!(
            want.is_empty(),
            "{} {signal} requests did not arrive",
            want.len()
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn grpc_wire_bytes_from_claude_code() {
    replay_grpc_wire("grpc").await;
}

#[tokio::test]
async fn grpc_gzip_wire_bytes_from_claude_code() {
    replay_grpc_wire("grpc-gzip").await;
}
