//! End to end, in process: start ccpipe on 127.0.0.1:0, replay every captured
//! Claude Code request of every variant, shut down, and check the JSONL file
//! holds exactly the records, data points and spans that were sent, compared
//! as decoded OTLP structures.

mod common;

use std::path::Path;

use ccpipe::Service;
use ccpipe_pipeline::batch::Signal;
use ccpipe_pipeline::config;
use ccpipe_pipeline::Shutdown;
use common::*;

fn config_yaml(out: &Path, batch_timeout: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  batch: {{ send_batch_size: 50, timeout: {batch_timeout} }}
exporters:
  file: {{ path: "{}", flush_interval: 100ms }}
service:
  shutdown_timeout: 10s
  pipelines:
    logs:    {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    traces:  {{ receivers: [otlp], processors: [batch], exporters: [file] }}
"#,
        out.display()
    )
}

async fn replay_variant(variant: &str) {
    let dir = temp_dir(&format!("replay-{variant}"));
    let out = dir.join("out.jsonl");
    let cfg = config::load_str("replay.yaml", &config_yaml(&out, "50ms")).expect("config loads");
    let service = InProcess::start(&cfg).await.expect("service builds");

    let captures = load_variant(variant);
    assert!(!captures.is_empty(), "{variant}: no captures");
    send_captures(&service, &captures).await;

    let summary = service.stop().await.expect("clean shutdown");
    let sent_items: usize = captures.iter().map(|c| c.items).sum();
    assert_eq!(
        summary.items_sent as usize, sent_items,
        "{variant}: exporter counted every item"
    );
    assert_eq!(summary.items_failed, 0);

    let written = read_jsonl(&out);
    for signal in Signal::ALL {
        let expected = concat(signal, captures.iter().map(|c| c.expected.clone()));
        let got = concat(signal, written.iter().cloned());
        assert_eq!(
            got.item_count(),
            expected.item_count(),
            "{variant}: {signal} item count"
        );
        assert!(
            got == expected,
            "{variant}: {signal} differ after the round trip"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capture_variant_arrives_intact() {
    for variant in VARIANTS {
        replay_variant(variant).await;
    }
}

/// With a long batch timeout, nothing is written before shutdown; shutdown
/// must flush the batcher and the file, so all of it still arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_pending_batches() {
    let dir = temp_dir("replay-flush");
    let out = dir.join("out.jsonl");
    let cfg = config::load_str("replay.yaml", &config_yaml(&out, "1h")).expect("config loads");
    let service = InProcess::start(&cfg).await.expect("service builds");
    let captures = load_variant("http-protobuf");
    let total: usize = captures.iter().map(|c| c.items).sum();
    send_captures(&service, &captures).await;
    service.stop().await.expect("clean shutdown");
    let written: usize = read_jsonl(&out).iter().map(|b| b.item_count()).sum();
    assert_eq!(written, total);
    let _ = std::fs::remove_dir_all(dir);
}

/// Building and shutting down with no traffic works, and twice in a row on
/// the same file appends without a torn line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_and_stop_without_data() {
    let dir = temp_dir("replay-idle");
    let out = dir.join("out.jsonl");
    for _ in 0..2 {
        let cfg = config::load_str("idle.yaml", &config_yaml(&out, "50ms")).unwrap();
        let service = Service::build(&cfg).await.unwrap();
        let shutdown = Shutdown::new();
        shutdown.cancel();
        let summary = service.run(shutdown).await.expect("clean shutdown");
        assert_eq!(summary.items_sent, 0);
    }
    assert!(read_jsonl(&out).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
