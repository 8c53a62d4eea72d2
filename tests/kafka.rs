//! Kafka between tiers, against a real Kafka-protocol broker (Tansu on
//! 127.0.0.1, see kafka/src/testing.rs): the shipped configs/edge-kafka.yaml
//! and configs/gateway-kafka.yaml, unchanged, as separate ccpipe processes.
//!
//! - edge → broker → two gateways in one consumer group: every record once;
//!   each session on one gateway.
//! - a gateway SIGKILLed mid-stream and restarted: every record at least
//!   once; the duplicates are counted and bounded.
//! - the broker killed and restarted while the edge keeps taking records:
//!   the edge's durable queue holds them, nothing acknowledged is lost.
//! - messages another client produces in the Collector's `otlp_proto` and
//!   `otlp_json` shapes are read; a poison message is counted and skipped;
//!   an independent client decodes what the edge produced.
//!
//! The broker is missing: the tests fail saying to run `.ci/run`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ccpipe_kafka::testing::Broker;
use ccpipe_pipeline::{Records, Signal};
use common::process::{bin, Ccpipe};
use common::{temp_dir, HttpConn};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Partitions per topic: more than one per gateway, so both get some.
const PARTITIONS: u32 = 4;
/// How long a test waits for records to arrive before it fails.
const ARRIVAL: Duration = Duration::from_secs(90);

/// One test at a time: each runs a broker and up to three ccpipes, too much
/// for CI's two cores at once.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn config(name: &str) -> PathBuf {
    Path::new(ROOT).join("configs").join(name)
}

/// The edge: configs/edge-kafka.yaml, on free ports, queue in `dir`.
fn start_edge(broker: &Broker, dir: &Path) -> Ccpipe {
    let mut command = Command::new(bin());
    command
        .arg("--config")
        .arg(config("edge-kafka.yaml"))
        .env("KAFKA_BROKERS", broker.address())
        .env("CCPIPE_QUEUE_DIR", dir)
        .env("CCPIPE_GRPC_ENDPOINT", "127.0.0.1:0")
        .env("CCPIPE_HTTP_ENDPOINT", "127.0.0.1:0");
    Ccpipe::start_command(command)
}

/// A gateway: configs/gateway-kafka.yaml, output and queue in `dir`.
fn start_gateway(broker: &Broker, group: &str, dir: &Path) -> Ccpipe {
    let mut command = Command::new(bin());
    command
        .arg("--config")
        .arg(config("gateway-kafka.yaml"))
        .env("KAFKA_BROKERS", broker.address())
        .env("KAFKA_GROUP", group)
        .env("CCPIPE_DATA_DIR", dir)
        .env("CCPIPE_METRICS", "127.0.0.1:0");
    Ccpipe::start_command(command)
}

/// One OTLP/JSON logs request: records `seqs`, each with its `seq` and a
/// `session.id` of one of `sessions` sessions, on the record as Claude Code
/// puts it.
fn logs_request(seqs: std::ops::Range<u64>, sessions: u64) -> Vec<u8> {
    padded_logs_request(seqs, sessions, 0)
}

/// [`logs_request`] with `pad` bytes of hex noise (which compresses to about
/// half) in each record's body.
fn padded_logs_request(seqs: std::ops::Range<u64>, sessions: u64, pad: usize) -> Vec<u8> {
    let records: Vec<serde_json::Value> = seqs
        .map(|seq| {
            serde_json::json!({
                "timeUnixNano": (1_700_000_000_000_000_000u64 + seq).to_string(),
                "body": { "stringValue": format!("record {seq} {}", noise(seq, pad)) },
                "attributes": [
                    { "key": "seq", "value": { "intValue": seq.to_string() } },
                    { "key": "session.id", "value": { "stringValue": format!("session-{}", seq % sessions) } }
                ]
            })
        })
        .collect();
    serde_json::json!({
        "resourceLogs": [{
            "resource": { "attributes": [
                { "key": "service.name", "value": { "stringValue": "claude-code" } }
            ] },
            "scopeLogs": [{ "scope": { "name": "com.anthropic.claude_code.events" }, "logRecords": records }]
        }]
    })
    .to_string()
    .into_bytes()
}

/// `len` hex digits from a xorshift seeded with `seed`.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x & 15) as u32, 16).unwrap()
        })
        .collect()
}

/// Sends records `from..to` to the edge in requests of `per_request`;
/// every one must be acknowledged (200).
fn send(edge: &Ccpipe, from: u64, to: u64, per_request: u64) {
    send_padded(edge, from, to, per_request, 0);
}

/// [`send`] with `pad` bytes of noise in each record.
fn send_padded(edge: &Ccpipe, from: u64, to: u64, per_request: u64, pad: usize) {
    let mut conn = HttpConn::connect(edge.http.expect("the edge listens on HTTP"));
    let mut at = from;
    while at < to {
        let end = (at + per_request).min(to);
        let body = padded_logs_request(at..end, 7, pad);
        let r = conn.post("/v1/logs", &[("content-type", "application/json")], &body);
        assert_eq!(
            r.status,
            200,
            "records {at}..{end}: {}",
            String::from_utf8_lossy(&r.body)
        );
        at = end;
    }
}

/// `(seq, session.id)` of every log record in a gateway's output file, read
/// up to the last complete line (the gateway may be writing).
fn arrived(dir: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(dir.join("gateway.jsonl")).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    let mut out = Vec::new();
    for line in complete.lines() {
        let Ok(Records::Logs(req)) =
            ccpipe_pipeline::otlp_json::decode(Signal::Logs, line.as_bytes())
        else {
            continue;
        };
        for record in req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            let attr = |key: &str| {
                record
                    .attributes
                    .iter()
                    .find(|kv| kv.key == key)
                    .and_then(|kv| kv.value.as_ref()?.value.clone())
            };
            if let (Some(Value::IntValue(seq)), Some(Value::StringValue(session))) =
                (attr("seq"), attr("session.id"))
            {
                out.push((seq as u64, session));
            }
        }
    }
    out
}

/// Waits until the gateways' files hold every seq below `total`.
fn wait_for_all(dirs: &[&Path], total: u64) -> Vec<Vec<(u64, String)>> {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let per_gateway: Vec<_> = dirs.iter().map(|d| arrived(d)).collect();
        let seen: BTreeSet<u64> = per_gateway.iter().flatten().map(|(s, _)| *s).collect();
        if (0..total).all(|s| seen.contains(&s)) {
            return per_gateway;
        }
        assert!(
            Instant::now() < deadline,
            "after {ARRIVAL:?} the gateways hold {} of {total} records",
            seen.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How many times each seq arrived, over all gateways.
fn counts(per_gateway: &[Vec<(u64, String)>]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for (seq, _) in per_gateway.iter().flatten() {
        *counts.entry(*seq).or_insert(0) += 1;
    }
    counts
}

/// The value of metric `name` whose labels contain `labels`, from `text`.
fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

fn scrape(gateway: &Ccpipe) -> String {
    let addr: SocketAddr = gateway.metrics.expect("the gateway serves its metrics");
    common::prometheus::get(addr, "/metrics").unwrap_or_default()
}

/// How many rebalances of `kind` (`assign`, `revoke`) `gateway` went through.
fn rebalances(gateway: &Ccpipe, kind: &str) -> f64 {
    let labels = format!("kind=\"{kind}\"");
    metric(&scrape(gateway), "ccpipe_kafka_rebalances_total", &labels).unwrap_or(0.0)
}

/// Waits until `gateway` had its partitions revoked more than `before` times.
fn wait_for_rebalance(gateway: &Ccpipe, before: f64) {
    wait_until(
        "a rebalance",
        || rebalances(gateway, "revoke") > before,
        || gateway.stderr(),
    );
}

/// Waits until each gateway holds some partitions and together they hold
/// all `3 * PARTITIONS`: the group has settled.
fn wait_for_group(gateways: &[&Ccpipe]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held: Vec<f64> = gateways
            .iter()
            .map(|g| metric(&scrape(g), "ccpipe_kafka_assigned_partitions", "").unwrap_or(0.0))
            .collect();
        if held.iter().all(|n| *n > 0.0) && held.iter().sum::<f64>() == f64::from(3 * PARTITIONS) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer group did not settle: partitions held {held:?}\n{}",
            gateways
                .iter()
                .map(|g| g.stderr())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn edge_to_two_gateways_delivers_every_record_once() {
    let _serial = one_at_a_time();
    let dir = temp_dir("kafka-once");
    let broker = Broker::start_logging(Some(&dir.join("broker.log")));
    broker.create_otlp_topics(PARTITIONS);
    let (g1_dir, g2_dir) = (dir.join("g1"), dir.join("g2"));
    let g1 = start_gateway(&broker, "once", &g1_dir);
    let g2 = start_gateway(&broker, "once", &g2_dir);
    wait_for_group(&[&g1, &g2]);
    let edge = start_edge(&broker, &dir.join("edge"));

    const TOTAL: u64 = 2000;
    send(&edge, 0, TOTAL, 50);
    wait_for_all(&[&g1_dir, &g2_dir], TOTAL);
    // Let anything extra (a duplicate) arrive before counting.
    std::thread::sleep(Duration::from_secs(2));
    let per_gateway: Vec<_> = [&g1_dir, &g2_dir].iter().map(|d| arrived(d)).collect();
    let counts = counts(&per_gateway);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "records delivered more than once without a fault: {twice:?}"
    );
    assert_eq!(counts.len() as u64, TOTAL);

    // Keyed by session.id: a session lives on one gateway, and both worked.
    let sessions =
        |g: &Vec<(u64, String)>| g.iter().map(|(_, s)| s.clone()).collect::<BTreeSet<_>>();
    let (s1, s2) = (sessions(&per_gateway[0]), sessions(&per_gateway[1]));
    assert!(
        s1.is_disjoint(&s2),
        "a session split over gateways: {s1:?} {s2:?}"
    );
    assert!(
        !per_gateway[0].is_empty() && !per_gateway[1].is_empty(),
        "both gateways consumed"
    );

    let m = scrape(&g1);
    assert!(
        metric(&m, "ccpipe_kafka_offset_commits_total", "result=\"ok\"").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    assert!(
        metric(&m, "ccpipe_kafka_rebalances_total", "kind=\"assign\"").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

// Tansu 0.6.0, the test broker, has a group-coordinator bug that this test
// steps around (docs/scale.md, "Tansu"): when a member dies without leaving,
// Tansu drops it once its session expires but keeps the group's generation,
// so the survivors rejoin into their old assignments and the dead member's
// partitions belong to nobody until another member joins (seen: 1720 of
// 3000 records, for ever). Apache Kafka hands them to the survivors. So the
// killed gateway is restarted only after the group noticed its death (the
// survivor went through a rebalance): its join then starts a clean
// generation that covers every partition.
#[test]
fn a_gateway_killed_mid_stream_loses_nothing() {
    let _serial = one_at_a_time();
    let dir = temp_dir("kafka-kill");
    let broker = Broker::start_logging(Some(&dir.join("broker.log")));
    broker.create_otlp_topics(PARTITIONS);
    let (g1_dir, g2_dir) = (dir.join("g1"), dir.join("g2"));
    let g1 = start_gateway(&broker, "kill", &g1_dir);
    let g2 = start_gateway(&broker, "kill", &g2_dir);
    wait_for_group(&[&g1, &g2]);
    let edge = start_edge(&broker, &dir.join("edge"));

    const TOTAL: u64 = 3000;
    send(&edge, 0, 1000, 20);
    // Mid-stream: g1 has consumed some of it (its file has records).
    let deadline = Instant::now() + ARRIVAL;
    while arrived(&g1_dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "g1 consumed nothing:\n{}",
            g1.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let revoked = rebalances(&g2, "revoke");
    g1.signal("KILL");
    drop(g1);
    // The stream goes on while g1's session expires and the group notices.
    send(&edge, 1000, 2000, 20);
    wait_for_rebalance(&g2, revoked);
    // g1 comes back with its queue on disk, and rejoins the group.
    let g1 = start_gateway(&broker, "kill", &g1_dir);
    wait_for_group(&[&g1, &g2]);
    send(&edge, 2000, TOTAL, 20);

    wait_for_all(&[&g1_dir, &g2_dir], TOTAL);
    std::thread::sleep(Duration::from_secs(2));
    let per_gateway: Vec<_> = [&g1_dir, &g2_dir].iter().map(|d| arrived(d)).collect();
    let counts = counts(&per_gateway);
    assert_eq!(counts.len() as u64, TOTAL, "every record arrived");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!("a gateway SIGKILLed mid-stream: {TOTAL} records, {duplicates} duplicates");
    // Bounded: at most what was consumed but not yet committed (about a
    // second of the stream), far below everything.
    assert!(duplicates < 1000, "{duplicates} duplicates of {TOTAL}");
    drop(g1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_broker_outage_is_held_in_the_edge_queue() {
    let _serial = one_at_a_time();
    let dir = temp_dir("kafka-outage");
    let mut broker = Broker::start_logging(Some(&dir.join("broker.log")));
    broker.create_otlp_topics(PARTITIONS);
    let g_dir = dir.join("g");
    let gateway = start_gateway(&broker, "outage", &g_dir);
    let edge = start_edge(&broker, &dir.join("edge"));

    send(&edge, 0, 500, 25);
    wait_for_all(&[&g_dir], 500);
    // The broker here keeps its log in memory, so a restart would lose what
    // it holds: the gateway drains it first and stops (committing), and
    // starts again on the new broker (see docs/scale.md: use durable storage).
    gateway.signal("TERM");
    let (status, stderr) = gateway.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");

    broker.kill();
    // The edge keeps taking (and acknowledging) records with the broker down.
    send(&edge, 500, 1500, 25);
    broker.restart();
    broker.create_otlp_topics(PARTITIONS);
    send(&edge, 1500, 2000, 25);
    let gateway = start_gateway(&broker, "outage", &g_dir);

    let per_gateway = wait_for_all(&[&g_dir], 2000);
    assert_eq!(
        counts(&per_gateway).len(),
        2000,
        "nothing acknowledged is lost"
    );
    // The records went through the outage in the edge's queue: its
    // exporter failed and retried, and dropped nothing.
    let edge_log = edge.stderr();
    assert!(
        edge_log.contains("export failed; retrying in"),
        "the edge's exporter never saw the outage:\n{edge_log}"
    );
    assert!(!edge_log.contains("dropping"), "{edge_log}");
    drop(gateway);
    let _ = std::fs::remove_dir_all(dir);
}

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Log records the gateway's kafka receiver handed to its pipelines.
fn accepted(gateway: &Ccpipe) -> f64 {
    metric(
        &scrape(gateway),
        "ccpipe_receiver_accepted_log_records_total",
        "transport=\"kafka\"",
    )
    .unwrap_or(0.0)
}

/// Polls `probe` until it holds, for at most `ARRIVAL`; `what` says what.
fn wait_until(what: &str, mut probe: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + ARRIVAL;
    while !probe() {
        assert!(
            Instant::now() < deadline,
            "{what}: not after {ARRIVAL:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The gateway's backend is down and its queue is small: the pipeline
/// fills, the receiver stops fetching (the backlog stays in Kafka: the lag
/// grows, the gateway's memory stays far below the backlog), and once the
/// backend is up every record arrives, once.
#[test]
fn a_full_pipeline_pauses_fetching_and_loses_nothing() {
    let _serial = one_at_a_time();
    let dir = temp_dir("kafka-backpressure");
    let broker = Broker::start_logging(Some(&dir.join("broker.log")));
    broker.create_otlp_topics(1);
    // Nothing listens here until the backend starts.
    let backend_port = common::free_port();
    let yaml = format!(
        "receivers:\n  kafka:\n    brokers: [{broker}]\n    group_id: backpressure\n\
         exporters:\n  otlp_http:\n    endpoint: http://127.0.0.1:{backend_port}\n\
         \x20   sending_queue: {{ queue_size: 2 }}\n\
         \x20   retry_on_failure: {{ enabled: true, initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s }}\n\
         service:\n  telemetry: {{ metrics: {{ address: 127.0.0.1:0 }} }}\n  pipelines:\n\
         \x20   logs: {{ receivers: [kafka], exporters: [otlp_http] }}\n",
        broker = broker.address(),
    );
    let gateway = Ccpipe::start(&common::write_config(&dir, &yaml));
    let edge = start_edge(&broker, &dir.join("edge"));
    let idle = rss(gateway.pid());

    // About 128 MB of records (32 KiB each) in Kafka, eight times
    // librdkafka's 16 MiB prefetch.
    const TOTAL: u64 = 4000;
    const PAD: usize = 32 * 1024;
    send_padded(&edge, 0, TOTAL, 20, PAD);
    let backlog = TOTAL * PAD as u64;
    let logs = || format!("gateway:\n{}\nedge:\n{}", gateway.stderr(), edge.stderr());

    // Full: the receiver waits, and stops taking records.
    wait_until(
        "the receiver waits on its full pipeline",
        || {
            metric(
                &scrape(&gateway),
                "ccpipe_kafka_backpressure_waits_total",
                "",
            ) > Some(0.0)
        },
        logs,
    );
    let mut held = accepted(&gateway);
    wait_until(
        "the receiver stops taking records",
        || {
            std::thread::sleep(Duration::from_secs(2));
            let now = accepted(&gateway);
            let still = now == held;
            held = now;
            still
        },
        logs,
    );
    assert!(
        held < (TOTAL / 2) as f64,
        "{held} of {TOTAL} records taken in with the backend down"
    );
    // What it did not take stays in Kafka: the lag (librdkafka's statistics,
    // every 5 s) shows it, and the gateway's memory stays far below it.
    wait_until(
        "the consumer lag shows the backlog",
        || {
            metric(
                &scrape(&gateway),
                "ccpipe_kafka_consumer_lag",
                "topic=\"otlp_logs\"",
            ) > Some(0.0)
        },
        logs,
    );
    let grown = rss(gateway.pid()).saturating_sub(idle);
    assert!(
        grown < backlog / 3,
        "the gateway grew by {grown} bytes with a {backlog}-byte backlog in Kafka"
    );
    eprintln!("backpressure: {held} of {TOTAL} records taken in, {grown} bytes grown, {backlog}-byte backlog");
    assert_eq!(accepted(&gateway), held, "it took records in while full");

    // The backend comes up: everything arrives, once.
    let backend_dir = dir.join("backend");
    std::fs::create_dir_all(&backend_dir).unwrap();
    let backend_yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      http: {{ endpoint: 127.0.0.1:{backend_port} }}\n\
         exporters:\n  file: {{ path: {out}, flush_interval: 0s }}\n\
         service:\n  telemetry: {{ metrics: {{ address: 127.0.0.1:0 }} }}\n  pipelines:\n\
         \x20   logs: {{ receivers: [otlp], exporters: [file] }}\n",
        out = backend_dir.join("gateway.jsonl").display(),
    );
    let backend = Ccpipe::start(&common::write_config(&backend_dir, &backend_yaml));
    wait_for_all(&[&backend_dir], TOTAL);
    std::thread::sleep(Duration::from_secs(2));
    let counts = counts(&[arrived(&backend_dir)]);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(counts.len() as u64, TOTAL);
    drop(backend);
    let _ = std::fs::remove_dir_all(dir);
}

/// The venv with the independent client (kafka-python) and the OTLP
/// protobuf classes (opentelemetry-proto).
fn python() -> PathBuf {
    common::venv::install("kafka-venv", "tests/python/kafka_requirements.txt").join("bin/python")
}

/// Runs tests/python/kafka_client.py with `args`; its stdout.
fn client(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(Path::new(ROOT).join("tests/python/kafka_client.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kafka_client.py {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn collector_shaped_messages_are_read_and_poison_is_skipped() {
    let _serial = one_at_a_time();
    let dir = temp_dir("kafka-collector");
    let broker = Broker::start_logging(Some(&dir.join("broker.log")));
    broker.create_otlp_topics(1);
    // What the Collector's kafka exporter writes: otlp_proto on otlp_logs,
    // otlp_json (OTLP/JSON as its marshaler writes it) on otlp_spans; no key,
    // no headers. The test encodes them; another client produces them.
    let proto_logs = dir.join("logs.pb");
    std::fs::write(&proto_logs, prost_logs(0..10)).unwrap();
    let json_traces = dir.join("traces.json");
    std::fs::write(&json_traces, json_traces_body()).unwrap();
    let poison = dir.join("poison.bin");
    std::fs::write(&poison, b"this is not OTLP at all \xff\xfe").unwrap();
    let more_logs = dir.join("more.pb");
    std::fs::write(&more_logs, prost_logs(10..15)).unwrap();
    let yaml = format!(
        "receivers:\n  kafka:\n    brokers: [{broker}]\n    group_id: collector\n    traces: {{ encoding: otlp_json }}\n\
         exporters:\n  file:\n    path: {out}\n    flush_interval: 0s\n\
         service:\n  telemetry: {{ metrics: {{ address: 127.0.0.1:0 }} }}\n  pipelines:\n\
         \x20   logs: {{ receivers: [kafka], exporters: [file] }}\n    traces: {{ receivers: [kafka], exporters: [file] }}\n",
        broker = broker.address(),
        out = dir.join("gateway.jsonl").display(),
    );
    let gateway = Ccpipe::start(&common::write_config(&dir, &yaml));
    for (topic, file) in [
        ("otlp_logs", &proto_logs),
        ("otlp_spans", &json_traces),
        ("otlp_logs", &poison),
        ("otlp_logs", &more_logs),
    ] {
        client(&[
            "produce",
            &broker.address(),
            topic,
            &file.display().to_string(),
        ]);
    }

    let deadline = Instant::now() + ARRIVAL;
    loop {
        let out = std::fs::read_to_string(dir.join("gateway.jsonl")).unwrap_or_default();
        let logs: usize = arrived(&dir).len();
        let spans = out.matches("\"spanId\"").count();
        if logs == 15 && spans == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{logs} of 15 log records, {spans} of 2 spans arrived:\n{}",
            gateway.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = scrape(&gateway);
    assert_eq!(
        metric(
            &m,
            "ccpipe_kafka_poison_messages_total",
            "reason=\"malformed\""
        ),
        Some(1.0),
        "{m}"
    );
    assert!(
        gateway
            .stderr()
            .contains("kafka: skipped the message at otlp_logs[0]@1"),
        "{}",
        gateway.stderr()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Records `seqs` as an ExportLogsServiceRequest in protobuf.
fn prost_logs(seqs: std::ops::Range<u64>) -> Vec<u8> {
    let json = logs_request(seqs, 3);
    let Records::Logs(req) = ccpipe_pipeline::otlp_json::decode(Signal::Logs, &json).unwrap()
    else {
        unreachable!()
    };
    prost::Message::encode_to_vec(&req)
}

/// Two spans in OTLP/JSON, hex ids and 64-bit integers as strings, as the
/// Collector's marshaler writes them.
fn json_traces_body() -> String {
    r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"claude-code"}}]},"scopeSpans":[{"scope":{"name":"com.anthropic.claude_code"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"claude_code.interaction","kind":1,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000"},{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174","name":"claude_code.llm_request","kind":1,"startTimeUnixNano":"1700000000100000000","endTimeUnixNano":"1700000000900000000","status":{}}]}]}]}"#.to_owned()
}

#[test]
fn an_independent_client_reads_what_the_edge_produced() {
    let _serial = one_at_a_time();
    let dir = temp_dir("kafka-independent");
    let broker = Broker::start_logging(Some(&dir.join("broker.log")));
    broker.create_otlp_topics(2);
    let edge = start_edge(&broker, &dir.join("edge"));
    send(&edge, 0, 100, 25);
    // kafka-python reads otlp_logs and decodes each message with the OTLP
    // protobuf classes: one line per message, `key records session-ids`.
    let out = client(&["consume", &broker.address(), "otlp_logs", "100"]);
    let mut records = 0;
    for line in out.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let [key, n, sessions] = parts[..] else {
            panic!("bad line {line:?}")
        };
        assert_eq!(
            key, sessions,
            "every record of a message has the message's key"
        );
        records += n.parse::<usize>().unwrap();
    }
    assert_eq!(records, 100, "{out}");
    let _ = std::fs::remove_dir_all(dir);
}
