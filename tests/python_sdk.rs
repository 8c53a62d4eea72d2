//! A real OTLP client: the OpenTelemetry Python SDK's gRPC and HTTP exporters
//! (installed from the registry into a venv under target/ on first run) send a
//! span, a counter and a log record to the real ccpipe binary; after SIGTERM
//! the JSONL file must hold all of them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::process::Ccpipe;
use common::*;

fn venv_python() -> PathBuf {
    common::venv::install("python-otel-sdk", "tests/python/requirements.txt").join("bin/python")
}

#[test]
fn python_sdk_exporters_reach_the_file() {
    let python = venv_python();
    let dir = temp_dir("python-sdk");
    let out = dir.join("out.jsonl");
    let cfg = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  batch: {{ timeout: 50ms }}
exporters:
  file: {{ path: "{}" }}
service:
  pipelines:
    logs:    {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    traces:  {{ receivers: [otlp], processors: [batch], exporters: [file] }}
"#,
            out.display()
        ),
    );
    let ccpipe = Ccpipe::start(&cfg);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/emit.py");
    for (proto, addr) in [
        ("grpc", ccpipe.grpc.unwrap()),
        ("http", ccpipe.http.unwrap()),
    ] {
        let run = Command::new(&python)
            .arg(&script)
            .arg(proto)
            .arg(format!("http://{addr}"))
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "10")
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{proto}: {}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");

    let text = std::fs::read_to_string(&out).unwrap();
    let batches = read_jsonl(&out);
    for proto in ["grpc", "http"] {
        use ccpipe_pipeline::Records;
        let span = batches.iter().any(|b| matches!(b, Records::Traces(r) if r.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).any(|s| s.name == format!("sdk-{proto}-span"))));
        let metric = batches.iter().any(|b| matches!(b, Records::Metrics(r) if r.resource_metrics.iter().flat_map(|rm| &rm.scope_metrics).flat_map(|sm| &sm.metrics).any(|m| m.name == format!("sdk.{proto}.requests"))));
        let log = text.contains(&format!("sdk-{proto}-log"));
        assert!(
            span && metric && log,
            "{proto}: span {span}, metric {metric}, log {log} in:\n{text:.2000}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
