//! The durable queue end to end, with the real binary: a Datadog exporter in
//! Agent mode (OTLP/HTTP) pointed at a fake Agent on 127.0.0.1 that can be
//! down, and `sending_queue.storage` set. Every request ccpipe answered 200
//! for must reach the Agent, in order, through an outage and through a
//! SIGKILL and restart.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::Ccpipe;
use common::{temp_dir, write_config};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;

/// A fake Agent's OTLP/HTTP intake: answers 503 while down, records the
/// log bodies it accepted while up.
#[derive(Clone)]
struct FakeAgent {
    addr: SocketAddr,
    state: Arc<Mutex<AgentState>>,
}

#[derive(Default)]
struct AgentState {
    up: bool,
    received: Vec<String>,
    refused: usize,
}

impl FakeAgent {
    fn start(up: bool) -> FakeAgent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(AgentState {
            up,
            ..Default::default()
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, s));
            }
        });
        FakeAgent { addr, state }
    }

    fn set_up(&self, up: bool) {
        self.state.lock().unwrap().up = up;
    }

    fn received(&self) -> Vec<String> {
        self.state.lock().unwrap().received.clone()
    }

    fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }
}

fn serve(conn: TcpStream, state: Arc<Mutex<AgentState>>) {
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let (mut len, mut gzip) = (0usize, false);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if h.starts_with("content-encoding:") && h.contains("gzip") {
                gzip = true;
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let status = {
            let mut st = state.lock().unwrap();
            if st.up {
                if gzip {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    body = out;
                }
                let req = ExportLogsServiceRequest::decode(&body[..]).expect("a logs request");
                for rl in req.resource_logs {
                    for sl in rl.scope_logs {
                        for lr in sl.log_records {
                            if let Some(any_value::Value::StringValue(s)) =
                                lr.body.and_then(|b| b.value)
                            {
                                st.received.push(s);
                            }
                        }
                    }
                }
                "200 OK"
            } else {
                st.refused += 1;
                "503 Service Unavailable"
            }
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if r.get_mut().write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn config(dir: &Path, agent: SocketAddr) -> std::path::PathBuf {
    let body = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  batch: {{ send_batch_size: 100000, timeout: 1h }}
exporters:
  datadog:
    agent: {{ endpoint: "http://{agent}", protocol: http/protobuf, compression: gzip }}
    retry_on_failure: {{ initial_interval: 10ms, max_interval: 50ms, max_elapsed_time: 0 }}
    sending_queue: {{ storage: "{}", max_size: 64MiB, fsync: batch }}
service:
  shutdown_timeout: 2s
  pipelines:
    logs: {{ receivers: [otlp], processors: [batch], exporters: [datadog] }}
"#,
        dir.join("queue").display()
    );
    write_config(dir, &body)
}

fn request(id: &str) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(id.to_owned())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Posts one log record; `Some(status)` if an answer came, `None` if the
/// connection failed (ccpipe killed).
fn post(conn: &mut Option<BufReader<TcpStream>>, addr: SocketAddr, id: &str) -> Option<u16> {
    if conn.is_none() {
        let s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        *conn = Some(BufReader::new(s));
    }
    let r = conn.as_mut().unwrap();
    let body = request(id);
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let sent = r
        .get_mut()
        .write_all(head.as_bytes())
        .and_then(|()| r.get_mut().write_all(&body));
    let status = sent.ok().and_then(|()| {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).ok()?;
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                len = v.trim().parse().ok()?;
            }
        }
        let mut b = vec![0; len];
        r.read_exact(&mut b).ok()?;
        Some(status)
    });
    if status.is_none() {
        *conn = None;
    }
    status
}

/// Waits (bounded) until the agent holds every id in `want`.
fn wait_for(agent: &FakeAgent, want: &[String], within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let got = agent.received();
        let have: std::collections::HashSet<&String> = got.iter().collect();
        if want.iter().all(|w| have.contains(w)) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn copies(got: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for g in got {
        *m.entry(g.as_str()).or_insert(0) += 1;
    }
    m
}

#[test]
fn an_agent_outage_loses_nothing_and_keeps_order() {
    let dir = temp_dir("durable-outage");
    let agent = FakeAgent::start(false);
    let ccpipe = Ccpipe::start(&config(&dir, agent.addr));
    let http = ccpipe.http.expect("http listener");
    let ids: Vec<String> = (0..300).map(|i| format!("rec-{i:05}")).collect();
    let mut conn = None;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(post(&mut conn, http, id), Some(200), "{id}");
        if i == 150 {
            assert!(
                agent.refused() > 0,
                "the agent was down and refused exports"
            );
        }
    }
    agent.set_up(true);
    let got = wait_for(&agent, &ids, Duration::from_secs(30));
    let dups = got.len() - copies(&got).len();
    eprintln!(
        "outage: sent {} acknowledged {} delivered {} lost {} duplicated {dups}",
        ids.len(),
        ids.len(),
        copies(&got).len(),
        ids.iter().filter(|i| !got.contains(i)).count()
    );
    assert_eq!(got, ids, "every record, once, in order");
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigkill_mid_load_loses_no_acknowledged_record() {
    let dir = temp_dir("durable-sigkill");
    let agent = FakeAgent::start(true);
    let cfg = config(&dir, agent.addr);
    let ccpipe = Ccpipe::start(&cfg);
    let http = ccpipe.http.expect("http listener");

    // Four senders in the background; the agent goes down halfway so a
    // backlog builds up in the queue; ccpipe is killed while requests are
    // in flight.
    let senders: Vec<_> = (0..4)
        .map(|s| {
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut unacked = Vec::new();
                let mut conn = None;
                for i in 0..100_000 {
                    let id = format!("s{s}-{i:06}");
                    match post(&mut conn, http, &id) {
                        Some(200) => acked.push(id),
                        _ => {
                            unacked.push(id);
                            break;
                        }
                    }
                }
                (acked, unacked)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    agent.set_up(false);
    std::thread::sleep(Duration::from_millis(1000));
    ccpipe.signal("KILL");
    let (mut acked, mut unacked) = (Vec::new(), Vec::new());
    for s in senders {
        let (a, u) = s.join().unwrap();
        acked.extend(a);
        unacked.extend(u);
    }
    drop(ccpipe);
    let delivered_before_kill = agent.received().len();
    assert!(
        acked.len() > 10,
        "load ran before the kill: {}",
        acked.len()
    );
    assert!(
        delivered_before_kill < acked.len(),
        "a backlog was queued at the kill"
    );

    agent.set_up(true);
    let restarted = Ccpipe::start(&cfg);
    let got = wait_for(&agent, &acked, Duration::from_secs(30));
    let counts = copies(&got);
    let lost: Vec<&String> = acked
        .iter()
        .filter(|a| !counts.contains_key(a.as_str()))
        .collect();
    let duplicated: Vec<&str> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| *k)
        .collect();
    eprintln!(
        "sigkill: delivered before the kill {delivered_before_kill}; sent {} acknowledged {} delivered {} lost {} duplicated {}",
        acked.len() + unacked.len(),
        acked.len(),
        counts.len(),
        lost.len(),
        duplicated.len()
    );
    assert!(lost.is_empty(), "acknowledged records lost: {lost:?}");
    // In order per sender: first deliveries follow each sender's order.
    for s in 0..4 {
        let prefix = format!("s{s}-");
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<&String> = got
            .iter()
            .filter(|g| g.starts_with(&prefix) && seen.insert(g.as_str()))
            .collect();
        let mut sorted = firsts.clone();
        sorted.sort();
        assert_eq!(firsts, sorted, "sender {s} delivered in order");
    }
    // Duplicates: only the batch whose export was in flight at the kill
    // (its acknowledgement to the queue was not written) can repeat.
    assert!(
        duplicated.len() <= 8192,
        "duplicates beyond one export batch: {}",
        duplicated.len()
    );
    restarted.signal("TERM");
    let (status, stderr) = restarted.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unwritable_queue_directory_fails_at_startup_naming_it() {
    let dir = temp_dir("durable-unwritable");
    let blocker = dir.join("queue");
    std::fs::write(&blocker, b"a file where the queue directory should be").unwrap();
    let cfg = config(&dir, "127.0.0.1:9".parse().unwrap());
    let out = std::process::Command::new(common::process::bin())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("exporter \"datadog\": sending_queue.storage: queue directory")
            && stderr.contains(&blocker.display().to_string()),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
