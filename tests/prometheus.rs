//! End to end against a real Prometheus server (Debian's `prometheus`
//! package; installed here with apt-get when missing and running as root,
//! else the test fails saying so): ccpipe serves the replayed Claude Code
//! metrics on /metrics, Prometheus scrapes it every second, and PromQL over
//! its HTTP API returns the captured totals.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ccpipe_pipeline::batch::Signal;
use ccpipe_pipeline::config;
use common::prometheus::{query, Server};
use common::*;

fn write_prometheus_config(dir: &Path, target: SocketAddr) -> std::path::PathBuf {
    let path = dir.join("prometheus.yml");
    std::fs::write(
        &path,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: claude-code\n    scrape_interval: 1s\n    \
             static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_captured_totals() {
    scrape_the_captures(
        true,
        "claude_code_cost_usage_USD_total",
        "claude_code_token_usage_tokens_total",
    )
    .await;
}

/// `add_metric_suffixes: false`: the names dashboards written for the
/// Collector with that option use, as Prometheus stores them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_suffixes_prometheus_stores_claude_code_cost_usage_total() {
    scrape_the_captures(
        false,
        "claude_code_cost_usage_total",
        "claude_code_token_usage_total",
    )
    .await;
}

async fn scrape_the_captures(add_suffixes: bool, cost_name: &str, tokens_name: &str) {
    let dir = temp_dir(if add_suffixes {
        "prometheus"
    } else {
        "prometheus-no-suffixes"
    });
    let exporter_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  prometheus: {{ endpoint: "{exporter_addr}", add_metric_suffixes: {add_suffixes} }}
service:
  pipelines:
    metrics: {{ receivers: [otlp], exporters: [prometheus] }}
"#
    );
    let cfg = config::load_str("prometheus.yaml", &yaml).expect("config loads");
    let service = InProcess::start(&cfg).await.expect("service builds");

    let captures: Vec<Capture> = load_variant("http-protobuf")
        .into_iter()
        .filter(|c| c.signal == Signal::Metrics)
        .collect();
    let cost = captured_sum(&captures, "claude_code.cost.usage");
    let tokens = captured_sum(&captures, "claude_code.token.usage");
    assert!(
        cost > 0.0 && tokens > 0.0,
        "the captures hold cost and tokens"
    );
    send_captures(&service, &captures).await;

    let config = write_prometheus_config(&dir, exporter_addr);
    let server = Server::start(&dir, &config, free_port());
    let prometheus_addr = server.addr;

    // Bounded wait: scrapes every second; allow for a slow start.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut got_cost, mut got_tokens) = (None, None);
    while Instant::now() < deadline {
        let (cost_query, tokens_query) =
            (format!("sum({cost_name})"), format!("sum({tokens_name})"));
        let (c, t) = tokio::task::spawn_blocking(move || {
            (
                query(prometheus_addr, &cost_query),
                query(prometheus_addr, &tokens_query),
            )
        })
        .await
        .unwrap();
        (got_cost, got_tokens) = (c, t);
        if got_cost.is_some() && got_tokens.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = server.log();
    let got_cost =
        got_cost.unwrap_or_else(|| panic!("no cost in Prometheus after 60s; its log:\n{log}"));
    assert!(
        (got_cost - cost).abs() <= 1e-9 * cost.max(1.0),
        "Prometheus sums the cost to {got_cost}, the captures to {cost}"
    );
    assert_eq!(got_tokens, Some(tokens), "token totals");

    service.stop().await.expect("clean shutdown");
    let _ = std::fs::remove_dir_all(dir);
}
