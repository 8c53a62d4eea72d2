//! A slow destination must not stall the others: with the Datadog exporter
//! pointed at an Agent that accepts connections and never answers, the file
//! exporter of the same pipelines still receives every record at once.

mod common;

use std::time::{Duration, Instant};

use ccpipe::Service;
use ccpipe_pipeline::batch::Signal;
use ccpipe_pipeline::config;
use ccpipe_pipeline::Shutdown;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_agent_does_not_stall_the_file_exporter() {
    // An "Agent" that takes connections and requests but never answers.
    let agent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent_addr = agent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = agent.accept().await {
            conns.push(c); // keep it open, read nothing, answer nothing
        }
    });

    let dir = temp_dir("slow-exporter");
    let out = dir.join("out.jsonl");
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  file: {{ path: "{}", flush_interval: 50ms }}
  datadog:
    agent: {{ endpoint: "http://{agent_addr}", protocol: http/protobuf }}
    env: test
    timeout: 60s
service:
  shutdown_timeout: 1s
  telemetry: {{ metrics: {{ address: "" }} }}
  health: {{ address: "" }}
  pipelines:
    logs:    {{ receivers: [otlp], exporters: [file, datadog] }}
    metrics: {{ receivers: [otlp], exporters: [file, datadog] }}
    traces:  {{ receivers: [otlp], exporters: [file, datadog] }}
"#,
        out.display()
    );
    let cfg = config::load_str("slow.yaml", &yaml).expect("config loads");
    let service = Service::build(&cfg).await.expect("service builds");
    let http = service
        .local_addrs()
        .into_iter()
        .find(|(_, p, _)| *p == "http")
        .unwrap()
        .2;
    let shutdown = Shutdown::new();
    let running = tokio::spawn(service.run(shutdown.clone()));

    let captures = load_variant("http-protobuf");
    let sent: usize = captures.iter().map(|c| c.items).sum();
    let expected: Vec<_> = captures.iter().map(|c| c.expected.clone()).collect();
    tokio::task::spawn_blocking(move || {
        let mut conn = HttpConn::connect(http);
        for c in &captures {
            assert_eq!(conn.send_capture(c).status, 200, "{}", c.file);
        }
    })
    .await
    .unwrap();

    // The file gets everything while the Agent is still holding its first request.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let written = std::fs::read_to_string(&out).unwrap_or_default();
        if written.ends_with('\n') {
            let got: usize = read_jsonl(&out).iter().map(|b| b.item_count()).sum();
            if got == sent {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the file exporter stalled behind the hanging Agent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let written = read_jsonl(&out);
    for signal in Signal::ALL {
        assert!(
            concat(signal, written.iter().cloned()) == concat(signal, expected.iter().cloned()),
            "{signal} differ"
        );
    }

    // Shutting down gives up on the Agent after shutdown_timeout and says so.
    shutdown.cancel();
    let summary = running.await.unwrap().expect("service stops");
    assert!(
        summary.items_failed > 0,
        "the Agent's undelivered items are counted"
    );
    assert_eq!(
        summary.items_sent as usize, sent,
        "what the file wrote counts as sent"
    );
    held.abort();
    let _ = std::fs::remove_dir_all(dir);
}
