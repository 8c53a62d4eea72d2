//! End to end against a real Prometheus server (Debian's `prometheus`
//! package; installed here with apt-get when missing and running as root,
//! else the test fails saying so): ccpipe serves the replayed Claude Code
//! metrics on /metrics, Prometheus scrapes it every second, and PromQL over
//! its HTTP API returns the captured totals.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccpipe_pipeline::batch::Signal;
use ccpipe_pipeline::config;
use common::*;

/// Kills the Prometheus server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_binary() -> &'static str {
    let found = |name| {
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if found("prometheus") {
        return "prometheus";
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    assert!(
        root,
        "this test needs Prometheus: install Debian's package (apt-get install -y prometheus)"
    );
    let status = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "prometheus"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .expect("apt-get runs");
    assert!(
        status.success() && found("prometheus"),
        "apt-get install prometheus failed ({status}); install it by hand"
    );
    "prometheus"
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The value of a PromQL query returning one sample, once there is one.
fn query(prometheus: SocketAddr, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = get(prometheus, &format!("/api/v1/query?query={encoded}"))?;
    // Chunked transfer: the JSON is the part between the first '{' and last '}'.
    let json = &body[body.find('{')?..=body.rfind('}')?];
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let sample = v["data"]["result"].as_array()?.first()?;
    sample["value"][1].as_str()?.parse().ok()
}

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
    let binary = prometheus_binary();
    let dir = temp_dir("prometheus");
    let exporter_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prometheus_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  prometheus: {{ endpoint: "{exporter_addr}" }}
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
    let _server = Server(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={prometheus_addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus starts"),
    );

    // Bounded wait: scrapes every second; allow for a slow start.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut got_cost, mut got_tokens) = (None, None);
    while Instant::now() < deadline {
        let (c, t) = tokio::task::spawn_blocking(move || {
            (
                query(prometheus_addr, "sum(claude_code_cost_usage_USD_total)"),
                query(prometheus_addr, "sum(claude_code_token_usage_tokens_total)"),
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
    let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
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
