//! The durable queue end to end, with the real binary: a Datadog exporter in
//! Agent mode (OTLP/HTTP) pointed at a fake Agent on 127.0.0.1 that can be
//! down, and `sending_queue.storage` set. Every request ccpipe answered 200
//! for must reach the Agent, in order, through an outage and through a
//! SIGKILL and restart.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::agent::{
    assert_in_order_per_sender, copies, get, metrics_addr, post, post_body, request, series,
    wait_for, FakeAgent,
};
use common::mount::Mount;
use common::process::Ccpipe;
use common::{temp_dir, write_config};

fn config(dir: &Path, agent: SocketAddr) -> std::path::PathBuf {
    durable_config(dir, agent, &dir.join("queue"), "64MiB")
}

/// A logs pipeline into the fake Agent through a durable queue in `queue`,
/// with the metrics endpoint on a port of the OS's choosing.
fn durable_config(
    dir: &Path,
    agent: SocketAddr,
    queue: &Path,
    max_size: &str,
) -> std::path::PathBuf {
    let body = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  datadog:
    agent: {{ endpoint: "http://{agent}", protocol: http/protobuf, compression: gzip }}
    retry_on_failure: {{ initial_interval: 10ms, max_interval: 50ms, max_elapsed_time: 0 }}
    sending_queue: {{ storage: "{}", max_size: {max_size}, fsync: batch }}
service:
  shutdown_timeout: 2s
  telemetry: {{ metrics: {{ address: "127.0.0.1:0" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [datadog] }}
"#,
        queue.display()
    );
    write_config(dir, &body)
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
    assert_in_order_per_sender(&got, 4);
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

/// Four senders in the background, each posting one record per request
/// until an answer is not 200 (or none comes): the ids acknowledged and the
/// one that was not.
fn load(
    http: SocketAddr,
    senders: usize,
) -> Vec<std::thread::JoinHandle<(Vec<String>, Vec<String>)>> {
    (0..senders)
        .map(|s| {
            std::thread::spawn(move || {
                let (mut acked, mut unacked) = (Vec::new(), Vec::new());
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
        .collect()
}

#[test]
fn sigterm_under_load_keeps_every_acknowledged_record() {
    let dir = temp_dir("durable-sigterm");
    let agent = FakeAgent::start(true);
    let cfg = config(&dir, agent.addr);
    let ccpipe = Ccpipe::start(&cfg);
    let http = ccpipe.http.expect("http listener");

    // The Agent goes down under load, so a backlog builds up; SIGTERM comes
    // while the senders keep sending. The drain cannot deliver the backlog
    // (the Agent is down), so it must stay on disk.
    let senders = load(http, 4);
    std::thread::sleep(Duration::from_millis(800));
    agent.set_up(false);
    std::thread::sleep(Duration::from_millis(700));
    ccpipe.signal("TERM");
    let (mut acked, mut unacked) = (Vec::new(), Vec::new());
    for s in senders {
        let (a, u) = s.join().unwrap();
        acked.extend(a);
        unacked.extend(u);
    }
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("are exported after the next start"),
        "the backlog is kept, and said so:\n{stderr}"
    );
    let delivered_before = agent.received().len();
    assert!(
        acked.len() > 10,
        "load ran before the SIGTERM: {}",
        acked.len()
    );
    assert!(
        delivered_before < acked.len(),
        "a backlog was queued at the SIGTERM"
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
    let unacked_delivered = unacked
        .iter()
        .filter(|u| counts.contains_key(u.as_str()))
        .count();
    eprintln!(
        "sigterm: delivered before the SIGTERM {delivered_before}; sent {} acknowledged {} delivered {} (of them unacknowledged {unacked_delivered}) lost {} duplicated {}",
        acked.len() + unacked.len(),
        acked.len(),
        counts.len(),
        lost.len(),
        duplicated.len()
    );
    assert!(lost.is_empty(), "acknowledged records lost: {lost:?}");
    assert_in_order_per_sender(&got, 4);
    // A drain that stops on time records what the Agent accepted before
    // it stops: nothing is sent twice.
    assert!(duplicated.is_empty(), "duplicates: {duplicated:?}");
    restarted.signal("TERM");
    let (status, stderr) = restarted.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Polls /metrics (bounded) until `done` holds for the datadog queue's
/// (size, bytes, capacity_bytes); returns them.
fn queue_gauges(metrics: SocketAddr, done: impl Fn((f64, f64, f64)) -> bool) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = get(metrics, "/metrics");
        let l = [("exporter", "datadog")];
        let g = (
            series(&text, "ccpipe_exporter_queue_size", &l),
            series(&text, "ccpipe_exporter_queue_bytes", &l),
            series(&text, "ccpipe_exporter_queue_capacity_bytes", &l),
        );
        if done(g) || Instant::now() > deadline {
            return g;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_full_disk_answers_503_logs_why_and_recovers_when_space_returns() {
    let dir = temp_dir("durable-disk-full");
    // 512 KiB of disk for a queue allowed 1 MiB: the disk fills first.
    let mount = Mount::tmpfs(&dir.join("small"), "512k");
    let queue = dir.join("small").join("queue");
    let agent = FakeAgent::start(false);
    let ccpipe = Ccpipe::start(&durable_config(&dir, agent.addr, &queue, "1MiB"));
    let http = ccpipe.http.expect("http listener");
    let metrics = metrics_addr(&ccpipe.stderr());

    // 2 KiB records, one per request, until the disk is full.
    let mut conn = None;
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let send = |conn: &mut _, acked: &mut Vec<String>, refused: &mut Vec<String>| {
        let id = format!("s0-{:06}", acked.len() + refused.len());
        let answer = post_body(conn, http, &request(std::slice::from_ref(&id), 2048))
            .expect("ccpipe answers (no crash)");
        match answer.status {
            200 => acked.push(id),
            503 => {
                assert_eq!(
                    answer.retry_after.as_deref(),
                    Some("1"),
                    "503 says when to retry"
                );
                refused.push(id);
            }
            other => panic!("{id}: answered {other}"),
        }
        answer.status
    };
    while refused.is_empty() && acked.len() < 1000 {
        send(&mut conn, &mut acked, &mut refused);
    }
    assert!(!refused.is_empty(), "the 512 KiB disk never filled");
    assert!(
        acked.len() > 50,
        "the queue took records before the disk filled: {}",
        acked.len()
    );
    // Full stays full, and answered: 503 again, no crash.
    for _ in 0..3 {
        assert_eq!(send(&mut conn, &mut acked, &mut refused), 503);
    }
    let stderr = ccpipe.stderr();
    assert!(
        stderr.contains("No space left on device") && stderr.contains(&queue.display().to_string()),
        "the log says why, naming the queue:\n{stderr}"
    );
    let (size, bytes, capacity) =
        queue_gauges(metrics, |(s, b, _)| s as usize == acked.len() && b > 0.0);
    assert_eq!(
        size as usize,
        acked.len(),
        "queue_size counts the records waiting"
    );
    assert!(
        bytes > 256.0 * 1024.0 && bytes <= 1024.0 * 1024.0,
        "queue_bytes {bytes}"
    );
    assert_eq!(
        capacity,
        1024.0 * 1024.0,
        "queue_capacity_bytes is max_size"
    );

    // Space returns: requests are taken again.
    mount.resize("4m");
    let before = acked.len();
    for _ in 0..20 {
        assert_eq!(
            send(&mut conn, &mut acked, &mut refused),
            200,
            "after the disk grew"
        );
    }
    assert_eq!(acked.len(), before + 20);

    // The Agent comes back: everything acknowledged arrives, once, in order.
    agent.set_up(true);
    let got = wait_for(&agent, &acked, Duration::from_secs(30));
    let counts = copies(&got);
    let lost = acked
        .iter()
        .filter(|a| !counts.contains_key(a.as_str()))
        .count();
    let refused_delivered = refused
        .iter()
        .filter(|r| counts.contains_key(r.as_str()))
        .count();
    eprintln!(
        "disk full: sent {} acknowledged {} refused (503) {} delivered {} lost {lost} duplicated {} refused-but-delivered {refused_delivered} damaged {}",
        acked.len() + refused.len(),
        acked.len(),
        refused.len(),
        counts.len(),
        got.len() - counts.len(),
        agent.damaged()
    );
    assert_eq!(
        got, acked,
        "every acknowledged record, once, in order; no refused one"
    );
    assert_eq!(agent.damaged(), 0);
    let (size, bytes, _) = queue_gauges(metrics, |(s, b, _)| s == 0.0 && b == 0.0);
    assert_eq!(
        (size, bytes),
        (0.0, 0.0),
        "the gauges show the drained queue"
    );
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    drop(mount);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_queue_directory_that_turns_unwritable_answers_503_and_recovers() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;

    let dir = temp_dir("durable-unwritable-at-run-time");
    let queue = dir.join("queue");
    std::fs::create_dir_all(&queue).unwrap();
    let agent = FakeAgent::start(false);
    // 1 MiB: 128 KiB segments, so a new segment file is due after ~60 records.
    let cfg = durable_config(&dir, agent.addr, &queue, "1MiB");
    // Root ignores file permissions: run ccpipe as nobody, for whom they hold.
    // Nobody may not reach the build's own binary (a checkout in a 0700
    // folder, as `mktemp -d` makes): it runs a copy in the test's folder.
    const NOBODY: u32 = 65534;
    let as_nobody = std::fs::metadata(&dir).unwrap().uid() == 0;
    let bin = if as_nobody {
        let copy = dir.join("ccpipe");
        std::fs::copy(common::process::bin(), &copy).unwrap();
        copy
    } else {
        common::process::bin().into()
    };
    let mut command = std::process::Command::new(bin);
    command.arg("--config").arg(&cfg);
    if as_nobody {
        std::os::unix::fs::chown(&queue, Some(NOBODY), Some(NOBODY)).unwrap();
        command.uid(NOBODY).gid(NOBODY);
    }
    let ccpipe = Ccpipe::start_command(command);
    let http = ccpipe.http.expect("http listener");
    let chmod = |mode: u32| {
        std::fs::set_permissions(&queue, std::fs::Permissions::from_mode(mode)).unwrap()
    };

    let mut conn = None;
    let (mut acked, mut refused) = (Vec::new(), Vec::new());
    let send = |conn: &mut _, acked: &mut Vec<String>, refused: &mut Vec<String>| {
        let id = format!("s0-{:06}", acked.len() + refused.len());
        let answer = post_body(conn, http, &request(std::slice::from_ref(&id), 2048))
            .expect("ccpipe answers (no crash)");
        match answer.status {
            200 => acked.push(id),
            503 => {
                assert_eq!(answer.retry_after.as_deref(), Some("1"), "503 says when");
                refused.push(id);
            }
            other => panic!("{id}: answered {other}"),
        }
        answer.status
    };
    for _ in 0..10 {
        assert_eq!(send(&mut conn, &mut acked, &mut refused), 200);
    }

    // The directory turns read-only: the open segment fills, the next
    // cannot be created.
    chmod(0o500);
    while refused.is_empty() && acked.len() < 1000 {
        send(&mut conn, &mut acked, &mut refused);
    }
    assert!(
        !refused.is_empty(),
        "never refused with the directory read-only"
    );
    for _ in 0..3 {
        assert_eq!(
            send(&mut conn, &mut acked, &mut refused),
            503,
            "stays refused"
        );
    }
    let stderr = ccpipe.stderr();
    assert!(
        stderr.contains("Permission denied") && stderr.contains(&queue.display().to_string()),
        "the log says why, naming the queue:\n{stderr}"
    );

    // Writable again: taken again.
    chmod(0o755);
    let before = acked.len();
    for _ in 0..20 {
        assert_eq!(
            send(&mut conn, &mut acked, &mut refused),
            200,
            "writable again"
        );
    }
    assert_eq!(acked.len(), before + 20);

    // The Agent comes up: every acknowledged record, once, in order.
    agent.set_up(true);
    let got = wait_for(&agent, &acked, Duration::from_secs(30));
    eprintln!(
        "unwritable queue dir: acknowledged {} refused (503) {} delivered {}",
        acked.len(),
        refused.len(),
        got.len()
    );
    assert_eq!(
        got, acked,
        "every acknowledged record, once, in order; no refused one"
    );
    assert_eq!(agent.damaged(), 0);
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
