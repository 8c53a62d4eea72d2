//! Exporter TLS end to end, in process: a ccpipe receiving over TLS (a
//! certificate for localhost from a CA made at test time) is the destination
//! of the `otlp`, `otlp_http` and Datadog Agent-mode exporters of another
//! ccpipe, and a fake ClickHouse HTTPS interface that of the `clickhouse`
//! exporter. With `tls.ca_file` every record arrives; with no CA the
//! certificate is refused and the records are counted as failed, not lost
//! silently; `insecure_skip_verify` gets through.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ccpipe_pipeline::batch::Signal;
use ccpipe_pipeline::config;
use common::*;

/// Writes `ca.pem`, and `cert.pem` + `key.pem` for localhost signed by it.
/// The two names differ: OpenSSL (the kafka exporter's TLS) takes a
/// certificate whose issuer is its own subject for a self-signed one.
fn make_pki(dir: &Path) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ccpipe test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    dir.join("ca.pem")
}

/// A ccpipe with TLS on both protocols, writing what it receives to `out`.
async fn start_tls_sink(dir: &Path, out: &Path) -> InProcess {
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
    tls: {{ cert_file: "{dir}/cert.pem", key_file: "{dir}/key.pem" }}
exporters:
  file: {{ path: "{out}", flush_interval: 100ms }}
service:
  pipelines:
    logs:    {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
    traces:  {{ receivers: [otlp], exporters: [file] }}
"#,
        dir = dir.display(),
        out = out.display()
    );
    InProcess::start(&config::load_str("sink.yaml", &yaml).unwrap())
        .await
        .expect("TLS sink builds")
}

/// A forwarder config: HTTP in, `exporters` (YAML, indented) out, for every signal.
fn forwarder_yaml(exporters: &str, names: &str) -> String {
    forwarder_yaml_for(&["logs", "metrics", "traces"], exporters, names)
}

/// [`forwarder_yaml`] with pipelines for `signals` only.
fn forwarder_yaml_for(signals: &[&str], exporters: &str, names: &str) -> String {
    let pipelines: String = signals
        .iter()
        .map(|s| format!("    {s}: {{ receivers: [otlp], exporters: [{names}] }}\n"))
        .collect();
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
{exporters}
service:
  pipelines:
{pipelines}"#
    )
}

fn items_written(out: &Path) -> usize {
    let written = read_jsonl(out);
    Signal::ALL
        .into_iter()
        .map(|s| concat(s, written.iter().cloned()).item_count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporters_reach_a_tls_destination_that_their_ca_file_trusts() {
    let dir = temp_dir("exporter-tls");
    let ca = make_pki(&dir);
    let out = dir.join("out.jsonl");
    let sink = start_tls_sink(&dir, &out).await;
    let grpc = sink.addr("grpc").port();
    let http = sink.addr("http").port();

    let tls = format!("{{ ca_file: \"{}\" }}", ca.display());
    let exporters = format!(
        r#"
  otlp: {{ endpoint: "https://localhost:{grpc}", tls: {tls} }}
  otlp_http: {{ endpoint: "https://localhost:{http}", tls: {tls} }}
  datadog:
    agent: {{ endpoint: "https://localhost:{grpc}", tls: {tls} }}
    metrics: {{ cumulative_to_delta: false }}
  datadog/http:
    agent: {{ endpoint: "https://localhost:{http}", protocol: http/protobuf, tls: {tls} }}
    metrics: {{ cumulative_to_delta: false }}
"#
    );
    let yaml = forwarder_yaml(&exporters, "otlp, otlp_http, datadog, datadog/http");
    let service = InProcess::start(&config::load_str("forward.yaml", &yaml).unwrap())
        .await
        .expect("forwarder builds");

    let captures = load_variant("http-protobuf");
    let sent: usize = captures.iter().map(|c| c.items).sum();
    send_captures(&service, &captures).await;
    let summary = service.stop().await.expect("forwarder shuts down cleanly");
    sink.stop().await.expect("sink shuts down cleanly");

    assert_eq!(summary.items_failed, 0);
    assert_eq!(
        summary.items_sent as usize,
        4 * sent,
        "every exporter sent all"
    );
    assert_eq!(items_written(&out), 4 * sent, "the TLS sink got them all");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_and_counted_skip_verify_gets_through() {
    let dir = temp_dir("exporter-tls-untrusted");
    make_pki(&dir);
    let out = dir.join("out.jsonl");
    let sink = start_tls_sink(&dir, &out).await;
    let grpc = sink.addr("grpc").port();

    // No ca_file: the built-in roots do not know the test CA.
    let exporters = format!(
        r#"
  datadog/untrusted:
    agent: {{ endpoint: "https://localhost:{grpc}" }}
    metrics: {{ cumulative_to_delta: false }}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 1s }}
  datadog/skip:
    agent: {{ endpoint: "https://localhost:{grpc}", tls: {{ insecure_skip_verify: true }} }}
    metrics: {{ cumulative_to_delta: false }}
"#
    );
    let yaml = forwarder_yaml(&exporters, "datadog/untrusted, datadog/skip");
    let service = InProcess::start(&config::load_str("forward.yaml", &yaml).unwrap())
        .await
        .expect("forwarder builds");

    let captures = load_variant("http-protobuf");
    let sent: usize = captures.iter().map(|c| c.items).sum();
    send_captures(&service, &captures).await;
    // Let the untrusted exporter run out of retries before the drain.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let summary = service.stop().await.expect("forwarder shuts down cleanly");
    sink.stop().await.expect("sink shuts down cleanly");

    assert_eq!(summary.items_sent as usize, sent, "skip-verify sent all");
    assert_eq!(
        summary.items_failed as usize, sent,
        "the untrusted exporter counted every record it could not deliver"
    );
    assert_eq!(items_written(&out), sent);
    let _ = std::fs::remove_dir_all(dir);
}

/// A TLS server side with `make_pki`'s certificate for localhost.
fn tls_acceptor(dir: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A ClickHouse HTTP interface over TLS that answers 200 to every statement
/// and keeps the JSONEachRow lines of each INSERT (gunzipped).
async fn start_fake_clickhouse(dir: &Path) -> (u16, Arc<Mutex<Vec<String>>>) {
    let acceptor = tls_acceptor(dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let rows: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = Arc::clone(&rows);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, kept) = (acceptor.clone(), Arc::clone(&kept));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let kept = Arc::clone(&kept);
                        async move {
                            use http_body_util::BodyExt;
                            let gzipped = req.headers().get("content-encoding").is_some();
                            let insert = req.uri().query().unwrap_or("").contains("INSERT");
                            let body = req.into_body().collect().await?.to_bytes();
                            let mut text = String::new();
                            match gzipped {
                                true => {
                                    flate2::read::GzDecoder::new(&body[..])
                                        .read_to_string(&mut text)
                                        .unwrap();
                                }
                                false => text = String::from_utf8(body.to_vec()).unwrap(),
                            }
                            if insert {
                                let mut kept = kept.lock().unwrap();
                                kept.extend(text.lines().map(str::to_owned));
                            }
                            Ok::<_, hyper::Error>(http::Response::new(http_body_util::Full::new(
                                bytes::Bytes::new(),
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_over_https_with_a_ca_file_gets_every_log_record() {
    let dir = temp_dir("exporter-tls-clickhouse");
    let ca = make_pki(&dir);
    let (port, rows) = start_fake_clickhouse(&dir).await;
    let clickhouse = format!(
        r#"
  clickhouse:
    endpoint: "https://localhost:{port}"
    create_schema: false
    tls: {{ ca_file: "{}" }}
"#,
        ca.display()
    );
    let yaml = forwarder_yaml_for(&["logs"], &clickhouse, "clickhouse");
    let service = InProcess::start(&config::load_str("clickhouse.yaml", &yaml).unwrap())
        .await
        .expect("builds");
    let captures: Vec<_> = load_variant("http-protobuf")
        .into_iter()
        .filter(|c| c.signal == Signal::Logs)
        .collect();
    let records: usize = captures.iter().map(|c| c.items).sum();
    assert!(records > 0);
    send_captures(&service, &captures).await;
    let summary = service.stop().await.expect("shuts down cleanly");
    assert_eq!(summary.items_failed, 0);
    assert_eq!(summary.items_sent as usize, records);
    let rows = rows.lock().unwrap();
    assert_eq!(rows.len(), records, "one row per log record, over TLS");
    assert!(rows.iter().all(|r| r.starts_with('{')), "{rows:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The kafka exporter's TLS is librdkafka's, over OpenSSL linked statically
/// (.cargo/config.toml): a broker whose certificate the `ca_file` trusts gets
/// a completed handshake (the hostname checked) and librdkafka's first
/// request inside it.
#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_exporter_completes_tls_with_a_broker_its_ca_file_trusts() {
    use tokio::io::AsyncReadExt;

    let dir = temp_dir("exporter-tls-kafka");
    let ca = make_pki(&dir);
    let acceptor = tls_acceptor(&dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let kafka = format!(
        r#"
  kafka:
    brokers: ["localhost:{port}"]
    tls: {{ ca_file: "{}" }}
"#,
        ca.display()
    );
    let yaml = forwarder_yaml_for(&["logs"], &kafka, "kafka");
    let service = InProcess::start(&config::load_str("kafka-tls.yaml", &yaml).unwrap())
        .await
        .expect("builds");
    // librdkafka connects to its bootstrap broker as the exporter starts.
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor
            .accept(tcp)
            .await
            .expect("the TLS handshake completes");
        let mut request = vec![0u8; 512];
        let n = tls.read(&mut request).await.unwrap();
        request.truncate(n);
        request
    })
    .await
    .expect("librdkafka connected within 30 s");
    assert!(
        first.windows(10).any(|w| w == b"librdkafka"),
        "a Kafka request (ApiVersions names its client) inside the TLS session: {first:?}"
    );
    drop(listener);
    service.stop().await.expect("shuts down cleanly");
    let _ = std::fs::remove_dir_all(dir);
}
