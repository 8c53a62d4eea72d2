//! ccpipe's own endpoints on the real binary: `/metrics` counts exactly what a
//! replay of the Claude Code captures sent, `/readyz` turns 503 while a
//! SIGTERM drain runs, and `ccpipe healthcheck` exits 0 or 1 accordingly.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ccpipe_pipeline::batch::Signal;
use common::process::bin;
use common::*;

/// A running `ccpipe` and the addresses its banner printed.
struct Running {
    child: Child,
    addrs: BTreeMap<String, SocketAddr>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Starts ccpipe and reads its banner up to the health line.
fn start(config: &std::path::Path) -> Running {
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addrs = BTreeMap::new();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !addrs.contains_key("health") {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        seen.push_str(&line);
        seen.push('\n');
        let line = line.trim();
        let key = line.split(':').next().unwrap_or("");
        let word = |w: &str| line.split_whitespace().any(|x| x == w);
        let name = match key {
            "listening" if word("http") => "otlp_http",
            "metrics" => "metrics",
            "health" => "health",
            _ => continue,
        };
        let addr = line
            .split_whitespace()
            .find_map(|w| {
                let w = w.trim_start_matches("http://").trim_end_matches(',');
                let w = w.split('/').next().unwrap();
                w.parse::<SocketAddr>().ok()
            })
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        addrs.insert(name.to_owned(), addr);
    }
    assert!(addrs.contains_key("health"), "no banner:\n{seen}");
    Running { child, addrs }
}

/// GET over HTTP/1.1: status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// The value of the series `name{labels}` in Prometheus text, 0 if absent.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

fn healthcheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin())
        .arg("healthcheck")
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

const NAMES: [(Signal, &str); 3] = [
    (Signal::Logs, "log_records"),
    (Signal::Metrics, "metric_points"),
    (Signal::Traces, "spans"),
];

#[test]
fn metrics_count_what_a_replay_sent() {
    let dir = temp_dir("observability-metrics");
    let out = dir.join("out.jsonl");
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  batch: {{ timeout: 50ms }}
exporters:
  file: {{ path: "{}" }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:0" }} }}
  health: {{ address: "127.0.0.1:0" }}
  pipelines:
    logs:    {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    traces:  {{ receivers: [otlp], processors: [batch], exporters: [file] }}
"#,
            out.display()
        ),
    );
    let ccpipe = start(&config);
    let metrics = ccpipe.addrs["metrics"];
    let mut sent: BTreeMap<Signal, u64> = BTreeMap::new();
    let mut conn = HttpConn::connect(ccpipe.addrs["otlp_http"]);
    for capture in load_variant("http-protobuf") {
        assert_eq!(conn.send_capture(&capture).status, 200, "{}", capture.file);
        *sent.entry(capture.signal).or_default() += capture.items as u64;
    }
    assert!(sent.values().all(|n| *n > 0), "{sent:?}");
    // Accepted counts are there at once; sent ones once the batcher flushed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (status, text) = get(metrics, "/metrics");
        assert_eq!(status, 200);
        let done = NAMES.iter().all(|(signal, noun)| {
            let name = format!("ccpipe_exporter_sent_{noun}_total");
            series(&text, &name, &[("exporter", "file")]) == sent[signal]
        });
        if done || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for (signal, noun) in NAMES {
        let accepted = format!("ccpipe_receiver_accepted_{noun}_total");
        let labels = [("receiver", "otlp"), ("transport", "http")];
        assert_eq!(series(&text, &accepted, &labels), sent[&signal], "{text}");
        let exported = format!("ccpipe_exporter_sent_{noun}_total");
        assert_eq!(
            series(&text, &exported, &[("exporter", "file")]),
            sent[&signal],
            "{text}"
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        series(&text, "ccpipe_build_info", &[("version", version)]),
        1
    );
    assert!(
        series(
            &text,
            "ccpipe_exporter_queue_capacity",
            &[("exporter", "file")]
        ) > 0,
        "{text}"
    );
    assert_eq!(get(metrics, "/nope").0, 404);
}

#[test]
fn readyz_turns_503_while_draining_and_healthcheck_says_so() {
    let dir = temp_dir("observability-health");
    // An Agent that is down: the export is retried, so the SIGTERM drain
    // lasts until shutdown_timeout, long enough to watch /readyz.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_addr = down.local_addr().unwrap();
    drop(down);
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  datadog:
    agent: {{ endpoint: "http://{down_addr}", protocol: http/protobuf }}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 0s }}
service:
  shutdown_timeout: 3s
  telemetry: {{ metrics: {{ level: none }} }}
  health: {{ address: "127.0.0.1:0" }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [datadog] }}
"#
        ),
    );
    let mut ccpipe = start(&config);
    assert!(!ccpipe.addrs.contains_key("metrics"), "level: none");
    let health = ccpipe.addrs["health"].to_string();
    assert_eq!(healthcheck(&["--address", &health]).0, 0);
    let (code, text) = healthcheck(&["--address", &health, "--ready"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("/readyz: ready"), "{text}");
    // Without --address, the config says where to ask.
    let named = dir.join("named.yaml");
    std::fs::write(
        &named,
        format!(
            "receivers: {{ otlp: }}\nexporters: {{ nop: }}\nservice:\n  health: {{ address: \"{health}\" }}\n  pipelines: {{ logs: {{ receivers: [otlp], exporters: [nop] }} }}\n"
        ),
    )
    .unwrap();
    let (code, text) = healthcheck(&["--config", named.to_str().unwrap(), "--ready"]);
    assert_eq!(code, 0, "{text}");

    let logs = load_variant("http-protobuf")
        .into_iter()
        .find(|c| c.signal == Signal::Logs)
        .unwrap();
    let mut conn = HttpConn::connect(ccpipe.addrs["otlp_http"]);
    assert_eq!(conn.send_capture(&logs).status, 200);
    let kill = Command::new("kill")
        .args(["-TERM", &ccpipe.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let addr: SocketAddr = health.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen = None;
    while Instant::now() < deadline {
        let ready = get(addr, "/readyz");
        if ready.0 == 503 {
            seen = Some(ready);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen, Some((503, "draining\n".to_owned())));
    assert_eq!(get(addr, "/healthz").0, 200, "alive while draining");
    let (code, text) = healthcheck(&["--address", &health, "--ready"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("503"), "{text}");
    // After exit nothing answers: unhealthy.
    let deadline = Instant::now() + Duration::from_secs(15);
    while ccpipe.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ccpipe.child.try_wait().unwrap().is_some(), "did not exit");
    let (code, text) = healthcheck(&["--address", &health]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("cannot connect"), "{text}");
}

/// Sends a POST to /v1/logs whose `content-length` is `declared` but whose
/// body is only `sent` bytes, and returns the status of the answer.
fn post_partial(addr: SocketAddr, declared: usize, sent: usize) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
         content-length: {declared}\r\n\r\n"
    )
    .unwrap();
    // The server may answer (and close) before it reads what we send.
    let _ = s.write_all(&vec![0u8; sent]);
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

#[test]
fn requests_refused_before_decoding_are_counted_with_their_reason() {
    let dir = temp_dir("observability-unread");
    let config = write_config(
        &dir,
        r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0", max_request_body_size: 4MiB, read_timeout: 1s }
exporters:
  nop: {}
service:
  telemetry: { metrics: { address: "127.0.0.1:0" } }
  health: { address: "127.0.0.1:0" }
  pipelines:
    logs: { receivers: [otlp], exporters: [nop] }
"#,
    );
    // (`memory_limit` is counted by the same call; tests/memory.rs plays
    // that refusal, which needs many bodies in flight at once.)
    let ccpipe = start(&config);
    let http = ccpipe.addrs["otlp_http"];
    // Over max_request_body_size.
    assert_eq!(post_partial(http, 8 << 20, 0), 413);
    // Stalls part-way through its body.
    assert_eq!(post_partial(http, 100, 10), 408);

    let (status, text) = get(ccpipe.addrs["metrics"], "/metrics");
    assert_eq!(status, 200);
    let name = "ccpipe_receiver_refused_unread_requests_total";
    for reason in ["too_large", "read_timeout"] {
        let labels = [
            ("receiver", "otlp"),
            ("transport", "http"),
            ("reason", reason),
        ];
        assert_eq!(series(&text, name, &labels), 1, "{reason}:\n{text}");
    }
}
