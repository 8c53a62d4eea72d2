//! Reload on SIGHUP and `ccpipe reload`: a valid new config replaces the
//! running graph on the same sockets, and everything accepted before the
//! swap still arrives where the old config sent it; a config that does not
//! load or does not build changes nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ccpipe_pipeline::batch::Signal;
use common::process::{bin, Ccpipe};
use common::*;

const STEP: Duration = Duration::from_secs(20);

/// A file pipeline for every signal, with a batcher and a file buffer that
/// would hold the data for an hour unless the graph drains on the swap.
fn config_to(out: &Path, http_endpoint: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "{http_endpoint}" }}
processors:
  batch: {{ send_batch_size: 100000, timeout: 1h }}
exporters:
  file:
    path: "{}"
    flush_interval: 1h
service:
  health: {{ address: "" }}
  telemetry: {{ metrics: {{ address: "" }} }}
  pipelines:
    logs:    {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    traces:  {{ receivers: [otlp], processors: [batch], exporters: [file] }}
"#,
        out.display()
    )
}

struct Setup {
    dir: PathBuf,
    config: PathBuf,
    pid_file: PathBuf,
    ccpipe: Ccpipe,
}

fn start(name: &str) -> Setup {
    let dir = temp_dir(name);
    let config = write_config(&dir, &config_to(&dir.join("a.jsonl"), "127.0.0.1:0"));
    let pid_file = dir.join("ccpipe.pid");
    let mut command = Command::new(bin());
    command
        .arg("--config")
        .arg(&config)
        .arg("--pid-file")
        .arg(&pid_file);
    let ccpipe = Ccpipe::start_command(command);
    Setup {
        dir,
        config,
        pid_file,
        ccpipe,
    }
}

fn send_all(ccpipe: &Ccpipe, captures: &[Capture]) {
    let mut conn = HttpConn::connect(ccpipe.http.expect("http listener"));
    for c in captures {
        assert_eq!(conn.send_capture(c).status, 200, "{}", c.file);
    }
}

fn assert_holds(file: &Path, captures: &[Capture]) {
    let written = read_jsonl(file);
    for signal in Signal::ALL {
        let expected = concat(signal, captures.iter().map(|c| c.expected.clone()));
        let got = concat(signal, written.iter().cloned());
        assert!(got == expected, "{signal} differ in {}", file.display());
    }
}

/// The exporter's file changes: what was accepted before the reload is in
/// the old file (flushed by the old graph's drain), what comes after is in
/// the new one, and the HTTP port is the same socket throughout.
#[test]
fn sighup_swaps_the_exporter_without_losing_data() {
    let s = start("reload-swap");
    let captures = load_variant("http-protobuf-gzip");
    send_all(&s.ccpipe, &captures);
    assert_eq!(
        read(&s.pid_file).trim(),
        s.ccpipe.pid().to_string(),
        "--pid-file holds the pid"
    );

    let http = s.ccpipe.http.unwrap();
    std::fs::write(&s.config, config_to(&s.dir.join("b.jsonl"), "127.0.0.1:0")).unwrap();
    let mark = s.ccpipe.stderr().len();
    let out = Command::new(bin())
        .arg("reload")
        .arg("--pid-file")
        .arg(&s.pid_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = s.ccpipe.wait_for_stderr(mark, "config reloaded", STEP);
    assert!(
        log.contains(&format!("listening: otlp http on {http}")),
        "same address after the reload:\n{log}"
    );

    send_all(&s.ccpipe, &captures);
    s.ccpipe.signal("TERM");
    let (status, stderr) = s.ccpipe.wait(STEP);
    assert!(status.success(), "exit {status}:\n{stderr}");
    assert_holds(&s.dir.join("a.jsonl"), &captures);
    assert_holds(&s.dir.join("b.jsonl"), &captures);
    assert!(!s.pid_file.exists(), "the pid file is removed on exit");
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// A config with a typo, then one whose port is taken: each reload fails
/// with the reason logged (file, line and key for the typo), and the old
/// graph keeps serving and delivering.
#[test]
fn sighup_with_a_bad_config_keeps_the_old_pipeline() {
    let s = start("reload-bad");
    let captures = load_variant("http-protobuf-gzip");

    let typo = config_to(&s.dir.join("b.jsonl"), "127.0.0.1:0")
        .replace("flush_interval", "flush_intervall");
    let line = typo
        .lines()
        .position(|l| l.contains("flush_intervall"))
        .unwrap()
        + 1;
    std::fs::write(&s.config, typo).unwrap();
    let mark = s.ccpipe.stderr().len();
    s.ccpipe.signal("HUP");
    s.ccpipe.wait_for_stderr(mark, "reload failed", STEP);
    let log = s
        .ccpipe
        .wait_for_stderr(mark, "exporters.file.flush_intervall", STEP);
    assert!(
        log.contains(&format!("{}:{line}:", s.config.display())),
        "file and line of the bad key:\n{log}"
    );
    assert!(log.contains("the previous config keeps running"), "{log}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let busy = config_to(&s.dir.join("b.jsonl"), &format!("127.0.0.1:{port}"));
    std::fs::write(&s.config, busy).unwrap();
    let mark = s.ccpipe.stderr().len();
    s.ccpipe.signal("HUP");
    s.ccpipe.wait_for_stderr(mark, "reload failed", STEP);
    let log = s
        .ccpipe
        .wait_for_stderr(mark, &format!("127.0.0.1:{port}"), STEP);
    assert!(log.contains("receiver \"otlp\""), "{log}");

    send_all(&s.ccpipe, &captures);
    s.ccpipe.signal("TERM");
    let (status, stderr) = s.ccpipe.wait(STEP);
    assert!(status.success(), "exit {status}:\n{stderr}");
    assert_holds(&s.dir.join("a.jsonl"), &captures);
    // The graph that failed to bind had opened its file already (exporters
    // start first), but got nothing.
    let b = s.dir.join("b.jsonl");
    assert!(
        !b.exists() || read(&b).is_empty(),
        "the failed graph got data"
    );
    drop(taken);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn reload_subcommand_errors_are_precise() {
    let dir = temp_dir("reload-cli");
    let missing = dir.join("nope.pid");
    let out = Command::new(bin())
        .arg("reload")
        .arg("--pid-file")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the pid file") && err.contains("nope.pid"),
        "{err}"
    );

    // Neither --pid nor --pid-file: a usage error.
    let out = Command::new(bin()).arg("reload").output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    // An invalid --config is not sent at all.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "exporters:\n  file:\n    pathh: x\n").unwrap();
    let out = Command::new(bin())
        .args(["reload", "--pid", "999999999", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not reloading"), "{err}");

    // An unwritable --pid-file stops the start with the path in the message.
    let cfg = dir.join("ok.yaml");
    std::fs::write(&cfg, config_to(&dir.join("a.jsonl"), "127.0.0.1:0")).unwrap();
    let out = Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .arg("--pid-file")
        .arg(dir.join("no/such/dir/ccpipe.pid"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write the pid file") && err.contains("no/such/dir/ccpipe.pid"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A `prometheus` exporter on a fixed port: the reload keeps its socket
/// (before, the new graph could not bind the port the old one still held),
/// and the new config's namespace is served on the same address.
#[test]
fn sighup_keeps_the_prometheus_exporters_port() {
    let dir = temp_dir("reload-prometheus");
    let port = free_port();
    let config_with = |namespace: &str| {
        format!(
            r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:{port}", namespace: {namespace} }}
service:
  health: {{ address: "" }}
  telemetry: {{ metrics: {{ address: "" }} }}
  pipelines:
    metrics: {{ receivers: [otlp], exporters: [prometheus] }}
"#
        )
    };
    let config = write_config(&dir, &config_with("before"));
    let ccpipe = Ccpipe::start(&config);
    let metrics: Vec<Capture> = load_variant("http-protobuf")
        .into_iter()
        .filter(|c| c.signal == Signal::Metrics)
        .collect();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Export is asynchronous: scrape until `want` shows (bounded).
    let scrape_until = |want: &str| {
        let deadline = std::time::Instant::now() + STEP;
        loop {
            let text = common::agent::get(addr, "/metrics");
            if text.contains(want) || std::time::Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    send_all(&ccpipe, &metrics);
    let text = scrape_until("before_claude_code_");
    assert!(
        text.contains("before_claude_code_"),
        "served before:\n{text}"
    );

    std::fs::write(&config, config_with("after")).unwrap();
    let mark = ccpipe.stderr().len();
    ccpipe.signal("HUP");
    let log = ccpipe.wait_for_stderr(mark, "config reloaded", STEP);
    assert!(!log.contains("reload failed"), "{log}");
    send_all(&ccpipe, &metrics);
    let text = scrape_until("after_claude_code_");
    assert!(
        text.contains("after_claude_code_"),
        "the new graph serves:\n{text}"
    );
    assert!(!text.contains("before_claude_code_"), "{text}");

    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(STEP);
    assert!(status.success(), "exit {status}:\n{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
