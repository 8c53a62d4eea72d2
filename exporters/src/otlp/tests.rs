//! The `otlp` and `otlp_http` exporters: their config table, and forwarding
//! to fake destinations (`crate::fake_otlp`) through the export task.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::config::{self, Config};
use ccpipe_pipeline::export_task::{ExportStats, ExportTask, RetryPolicy};
use ccpipe_pipeline::{Batch, Encoded};
use ccpipe_pipeline::{Records, Signal};
use tonic::Code;

use super::*;
use crate::fake_otlp::{gunzip, start_grpc, start_http, Answer};
use crate::otlp_client::{Compression, Protocol, Target};
use crate::testutil::{component, decode_capture, load_config, runtime, CAPTURES, TESTDATA};

// ---------------------------------------------------------------- config table

fn settings_of(config: &Config, id: &str) -> ClientSettings {
    let protocol = if id.starts_with("otlp_http") {
        Protocol::HttpProtobuf
    } else {
        Protocol::Grpc
    };
    component(config, id)
        .parse::<OtlpConfig>()
        .unwrap()
        .settings(protocol)
        .unwrap()
}

#[test]
fn config_table() {
    let config = load_config("otlp");
    let cases: &[(&str, Result<(), &str>)] = &[
        ("otlp", Ok(())),
        ("otlp/all_keys", Ok(())),
        ("otlp/insecure", Ok(())),
        ("otlp_http", Ok(())),
        ("otlp_http/per_signal", Ok(())),
        (
            "otlp/no_endpoint",
            Err("otlp.yaml:27: exporters.otlp/no_endpoint.endpoint: required, e.g. https://collector.example.com:4317"),
        ),
        (
            "otlp/no_port",
            Err("otlp.yaml:29: exporters.otlp/no_port.endpoint: needs a port, e.g. collector:4317; got \"https://collector.example.com\""),
        ),
        (
            "otlp/path",
            Err("otlp.yaml:31: exporters.otlp/path.endpoint: a gRPC endpoint has no path; use scheme://host:port (got \"https://collector.example.com:4317/v1\")"),
        ),
        (
            "otlp/signal_endpoint",
            Err("otlp.yaml:33: exporters.otlp/signal_endpoint.endpoint: logs_endpoint is for otlp_http; the otlp (gRPC) exporter takes one endpoint"),
        ),
        (
            "otlp/zstd",
            Err("otlp.yaml:37: exporters.otlp/zstd.compression: zstd is not supported; use gzip or none"),
        ),
        (
            "otlp/bad_compression",
            Err("otlp.yaml:40: exporters.otlp/bad_compression.compression: must be one of gzip, none; got \"brotli\""),
        ),
        (
            "otlp/bad_header",
            Err("otlp.yaml:43: exporters.otlp/bad_header.headers: \"bad header\" is not a valid header name"),
        ),
        (
            "otlp/bad_header_value",
            Err("otlp.yaml:46: exporters.otlp/bad_header_value.headers: the value of \"authorization\" holds characters that cannot go into a header"),
        ),
        (
            "otlp_http/no_endpoint",
            Err("otlp.yaml:47: exporters.otlp_http/no_endpoint.endpoint: required (or logs_endpoint, metrics_endpoint, traces_endpoint), e.g. https://collector.example.com:4318"),
        ),
        (
            "otlp_http/bad_url",
            Err("otlp.yaml:49: exporters.otlp_http/bad_url.endpoint: must be an http:// or https:// URL with a host; got \"otlp.example.com:4318\""),
        ),
        (
            "otlp_http/zero_timeout",
            Err("otlp.yaml:52: exporters.otlp_http/zero_timeout.timeout: must be greater than 0"),
        ),
        (
            "otlp_http/typo",
            Err("otlp.yaml:55: exporters.otlp_http/typo.tls.ca_flie: unknown field `ca_flie`, expected one of `insecure`, `ca_file`, `insecure_skip_verify`"),
        ),
        (
            "otlp/credentials",
            Err("otlp.yaml:57: exporters.otlp/credentials.endpoint: must not hold credentials; send them in headers, e.g. authorization"),
        ),
        (
            "otlp_http/credentials",
            Err("otlp.yaml:60: exporters.otlp_http/credentials.logs_endpoint: must not hold credentials; send them in headers, e.g. authorization"),
        ),
    ];
    crate::testutil::assert_config_table(&config, cases);
}

#[test]
fn config_defaults_and_all_keys() {
    let config = load_config("otlp");
    let s = settings_of(&config, "otlp");
    assert_eq!(
        s.target,
        Target::Grpc("https://collector.example.com:4317".into()),
        "host:port means TLS, as in the Collector"
    );
    assert_eq!(s.compression, Compression::Gzip);
    assert_eq!(s.timeout, Duration::from_secs(5));
    assert!(s.headers.is_empty());
    assert_eq!(s.tls, crate::otlp_client::Tls::default());
    let parsed: OtlpConfig = component(&config, "otlp").parse().unwrap();
    assert_eq!(parsed.sending_queue.queue_size, 64);
    assert_eq!(parsed.retry_on_failure.policy(), RetryPolicy::default());

    let all = settings_of(&config, "otlp/all_keys");
    assert_eq!(all.target, Target::Grpc("http://127.0.0.1:4317".into()));
    assert_eq!(all.compression, Compression::None);
    assert_eq!(all.timeout, Duration::from_secs(2));
    assert_eq!(all.headers["authorization"], "Bearer abc123");
    assert_eq!(all.headers["x-scope-orgid"], "team-a");
    assert_eq!(
        all.tls.ca_file.as_deref(),
        Some(Path::new("/etc/ssl/ca.pem"))
    );
    assert!(
        !format!("{all:?}").contains("abc123"),
        "Debug hides header values"
    );

    assert_eq!(
        settings_of(&config, "otlp/insecure").target,
        Target::Grpc("http://collector:4317".into())
    );
    assert_eq!(
        settings_of(&config, "otlp_http").target,
        Target::Http {
            logs: "https://otlp.example.com/otlp/v1/logs".into(),
            metrics: "https://otlp.example.com/otlp/v1/metrics".into(),
            traces: "https://otlp.example.com/otlp/v1/traces".into(),
        }
    );
    let per_signal: OtlpConfig = component(&config, "otlp_http/per_signal").parse().unwrap();
    assert_eq!(per_signal.unsupported(Signal::Logs), None);
    assert_eq!(
        per_signal.unsupported(Signal::Traces).as_deref(),
        Some("it has no endpoint for traces; set endpoint or traces_endpoint")
    );
}

#[test]
fn print_config_masks_headers() {
    let text = std::fs::read_to_string(PathBuf::from(TESTDATA).join("otlp/config.yaml")).unwrap();
    let config = config::load_str("otlp.yaml", &text).unwrap();
    let printed = config.to_masked_yaml();
    assert!(!printed.contains("abc123") && !printed.contains("team-a"));
    assert!(printed.contains("authorization"), "{printed}");
}

#[test]
fn build_then_shutdown_without_data() {
    let rt = runtime();
    let config = load_config("otlp");
    for id in ["otlp", "otlp_http"] {
        let mut built = crate::testutil::build(component(&config, id)).unwrap();
        assert_eq!(built.exporter.prefers(), Form::Encoded);
        rt.block_on(built.exporter.shutdown()).unwrap();
        rt.block_on(built.exporter.shutdown()).unwrap();
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

fn settings(target: Target) -> ClientSettings {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Basic cGs6c2s=".parse().unwrap());
    ClientSettings {
        target,
        compression: Compression::Gzip,
        timeout: Duration::from_secs(5),
        headers,
        tls: Default::default(),
        peer: "the OTLP destination",
    }
}

fn http_target(endpoint: &str) -> Target {
    Target::Http {
        logs: format!("{endpoint}/v1/logs"),
        metrics: format!("{endpoint}/v1/metrics"),
        traces: format!("{endpoint}/v1/traces"),
    }
}

async fn run(settings: ClientSettings, payloads: Vec<Batch>) -> ExportStats {
    let exporter = OtlpExporter::new("otlp", settings).unwrap();
    let (tx, rx) = ccpipe_pipeline::channel::export_queue(64);
    let task = ExportTask::new(
        "otlp",
        Box::new(exporter),
        rx,
        fast_retry(),
        ccpipe_pipeline::Shutdown::new(),
    );
    let handle = tokio::spawn(task.run());
    tokio::task::spawn_blocking(move || {
        for p in payloads {
            tx.send_blocking(p).unwrap();
        }
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .expect("the export task ends")
        .unwrap()
}

/// The protobuf captures as received: (signal, bytes).
fn raw_captures() -> Vec<(Signal, Bytes)> {
    let dir = Path::new(CAPTURES).join("http-protobuf/otlp");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    paths
        .iter()
        .map(|p| {
            let (signal, _) = decode_capture(p);
            (signal, Bytes::from(std::fs::read(p).unwrap()))
        })
        .collect()
}

fn encoded(signal: Signal, bytes: &Bytes) -> Batch {
    Batch::from(Encoded::new(signal, bytes.clone()).unwrap())
}

fn logs(n: usize) -> Records {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
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

fn decoded(b: Records) -> Batch {
    Batch::from(b)
}

// ---------------------------------------------------------------- HTTP

#[tokio::test]
async fn http_forwards_the_received_bytes_gzipped_with_headers() {
    let dest = start_http(|_, _| (200, None)).await;
    let captures = raw_captures();
    let payloads = captures.iter().map(|(s, b)| encoded(*s, b)).collect();
    let stats = run(settings(http_target(&dest.endpoint)), payloads).await;
    assert_eq!(stats.items_failed, 0);
    let calls = dest.fake.calls();
    assert_eq!(calls.len(), captures.len());
    for ((signal, bytes), call) in captures.iter().zip(&calls) {
        assert_eq!(call.path, format!("/v1/{signal}"));
        assert_eq!(call.headers["content-encoding"], "gzip");
        assert_eq!(call.headers["content-type"], "application/x-protobuf");
        assert_eq!(call.headers["authorization"], "Basic cGs6c2s=");
        assert_eq!(gunzip(&call.wire), call.raw);
        assert_eq!(call.raw, bytes.to_vec(), "the bytes as received");
    }
}

#[tokio::test]
async fn http_batched_parts_go_as_one_request() {
    let dest = start_http(|_, _| (200, None)).await;
    let captures: Vec<_> = raw_captures()
        .into_iter()
        .filter(|(s, _)| *s == Signal::Logs)
        .take(3)
        .collect();
    assert!(captures.len() >= 2);
    let mut e = Encoded::new(Signal::Logs, captures[0].1.clone()).unwrap();
    for (s, b) in &captures[1..] {
        e.append(Encoded::new(*s, b.clone()).unwrap());
    }
    let mut s = settings(http_target(&dest.endpoint));
    s.compression = Compression::None;
    let stats = run(s, vec![Batch::from(e)]).await;
    assert_eq!(stats.items_failed, 0);
    let calls = dest.fake.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].headers.get("content-encoding").is_none());
    let joined: Vec<u8> = captures.iter().flat_map(|(_, b)| b.to_vec()).collect();
    assert_eq!(calls[0].wire, joined);
}

#[tokio::test]
async fn http_per_signal_urls_are_used_as_written() {
    let dest = start_http(|_, _| (200, None)).await;
    let target = Target::Http {
        logs: format!("{}/loki/otlp/v1/logs", dest.endpoint),
        metrics: format!("{}/in/metrics", dest.endpoint),
        traces: format!("{}/v1/traces", dest.endpoint),
    };
    run(settings(target), vec![decoded(logs(1))]).await;
    assert_eq!(dest.fake.calls()[0].path, "/loki/otlp/v1/logs");
}

#[tokio::test]
async fn http_503_is_retried_and_400_dropped_and_counted() {
    let dest = start_http(|call, n| match (call.batch.item_count(), n) {
        (3, 0) => (503, Some("0")),
        (2, _) => (400, None),
        _ => (200, None),
    })
    .await;
    let stats = run(
        settings(http_target(&dest.endpoint)),
        vec![decoded(logs(3)), decoded(logs(2))],
    )
    .await;
    assert_eq!(stats.items_sent, 3);
    assert_eq!(stats.items_failed, 2);
    let sizes: Vec<usize> = dest
        .fake
        .calls()
        .iter()
        .map(|c| c.batch.item_count())
        .collect();
    assert_eq!(sizes, [3, 3, 2], "the 503 is retried, the 400 is not");
}

#[tokio::test]
async fn http_413_splits_encoded_parts_on_their_boundary() {
    // Refuses any request of more than 3 records.
    let dest = start_http(|call, _| match call.batch.item_count() {
        n if n > 3 => (413, None),
        _ => (200, None),
    })
    .await;
    let part = |n| Encoded::new(Signal::Logs, encode(&logs(n))).unwrap();
    let mut e = part(2);
    e.append(part(2));
    let stats = run(settings(http_target(&dest.endpoint)), vec![Batch::from(e)]).await;
    assert_eq!((stats.items_sent, stats.items_failed), (4, 0));
    let raws: Vec<Vec<u8>> = dest.fake.calls().iter().map(|c| c.raw.clone()).collect();
    assert_eq!(raws.len(), 3);
    assert_eq!(raws[1], encode(&logs(2)).to_vec(), "a part as received");
    assert_eq!(raws[2], raws[1]);
}

fn encode(b: &Records) -> Bytes {
    use prost::Message;
    let Records::Logs(r) = b else { panic!() };
    Bytes::from(r.encode_to_vec())
}

// ---------------------------------------------------------------- gRPC

#[tokio::test]
async fn grpc_forwards_captures_gzipped_with_metadata() {
    let dest = start_grpc().await;
    let captures = raw_captures();
    let payloads = captures.iter().map(|(s, b)| encoded(*s, b)).collect();
    let stats = run(settings(Target::Grpc(dest.endpoint.clone())), payloads).await;
    assert_eq!(stats.items_failed, 0);
    let calls = dest.fake.calls();
    assert_eq!(calls.len(), captures.len());
    for ((signal, bytes), call) in captures.iter().zip(&calls) {
        assert_eq!(call.encoding.as_deref(), Some("gzip"));
        assert_eq!(
            call.metadata.get("authorization").unwrap(),
            "Basic cGs6c2s="
        );
        let want = Encoded::new(*signal, bytes.clone())
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(call.batch, want);
    }
}

#[tokio::test]
async fn grpc_unavailable_is_retried_invalid_argument_dropped() {
    let dest = start_grpc().await;
    dest.fake.script(&[
        Answer::Fail(Code::Unavailable, "restarting", None),
        Answer::Ok,
        Answer::Fail(Code::InvalidArgument, "bad record", None),
    ]);
    let stats = run(
        settings(Target::Grpc(dest.endpoint.clone())),
        vec![decoded(logs(3)), decoded(logs(2))],
    )
    .await;
    assert_eq!((stats.items_sent, stats.items_failed), (3, 2));
    assert_eq!(dest.fake.calls().len(), 3);
}

/// Retryable, and the error names the endpoint it tried, over gRPC and HTTP.
#[tokio::test]
async fn a_destination_that_is_down_is_retryable() {
    // A port with nothing listening: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for target in [
        Target::Grpc(format!("http://127.0.0.1:{port}")),
        http_target(&format!("http://127.0.0.1:{port}")),
    ] {
        let mut client =
            crate::otlp_client::OtlpClient::new("otlp", settings(target.clone())).unwrap();
        let err = client.send(decoded(logs(1))).await.unwrap_err();
        assert!(
            matches!(err, ccpipe_pipeline::ExportError::Retryable { .. }),
            "{target:?}: {err}"
        );
        let text = err.to_string();
        let endpoint = format!("cannot reach the OTLP destination at http://127.0.0.1:{port}");
        assert!(text.contains(&endpoint), "{target:?}: {text}");
    }
}
