//! Exporter TLS end to end, in process: a ccpipe receiving over TLS (a
//! certificate for localhost from a CA made at test time) is the destination
//! of the `otlp`, `otlp_http` and Datadog Agent-mode exporters of another
//! ccpipe. With `tls.ca_file` every record arrives; with no CA the
//! certificate is refused and the records are counted as failed, not lost
//! silently; `insecure_skip_verify` gets through.

mod common;

use std::path::{Path, PathBuf};

use ccpipe_pipeline::batch::Signal;
use ccpipe_pipeline::config;
use common::*;

/// Writes `ca.pem`, and `cert.pem` + `key.pem` for localhost signed by it.
fn make_pki(dir: &Path) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
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
    logs:    {{ receivers: [otlp], exporters: [{names}] }}
    metrics: {{ receivers: [otlp], exporters: [{names}] }}
    traces:  {{ receivers: [otlp], exporters: [{names}] }}
"#
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
