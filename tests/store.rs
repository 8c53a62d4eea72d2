//! The embedded store as a user meets it: the built-in default config (no
//! --config) stores every capture, `ccpipe usage --json` reads it while
//! ccpipe runs and its totals equal the sums in the data; a full disk
//! answers 503 upstream and loses nothing acknowledged; `max_age` and
//! `max_size` shrink it at the next start and the report stays whole.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ccpipe_pipeline::records::Records;
use common::agent::{post_body, request, request_at};
use common::mount::Mount;
use common::process::{bin, Ccpipe};
use common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

/// Tokens per `type`, sessions, tool results and API errors, summed from
/// the captures' decoded requests.
#[derive(Debug, Default, PartialEq)]
struct Sums {
    tokens: BTreeMap<String, f64>,
    tool_results: u64,
    api_errors: u64,
    session_ids: BTreeSet<String>,
}

fn str_value(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<&str> {
    match v.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn sums(captures: &[Capture]) -> Sums {
    let mut s = Sums::default();
    for c in captures {
        match &c.expected {
            Records::Metrics(r) => {
                for m in r
                    .resource_metrics
                    .iter()
                    .flat_map(|r| &r.scope_metrics)
                    .flat_map(|s| &s.metrics)
                    .filter(|m| m.name == "claude_code.token.usage")
                {
                    let Some(Data::Sum(sum)) = &m.data else {
                        continue;
                    };
                    for p in &sum.data_points {
                        let kind = p
                            .attributes
                            .iter()
                            .find(|kv| kv.key == "type")
                            .and_then(|kv| str_value(&kv.value))
                            .unwrap();
                        *s.tokens.entry(kind.to_owned()).or_default() += point_value(p.value);
                    }
                }
            }
            Records::Logs(r) => {
                for rec in r
                    .resource_logs
                    .iter()
                    .flat_map(|r| &r.scope_logs)
                    .flat_map(|s| &s.log_records)
                {
                    let attr = |k: &str| {
                        rec.attributes
                            .iter()
                            .find(|kv| kv.key == k)
                            .and_then(|kv| str_value(&kv.value))
                    };
                    match attr("event.name") {
                        Some("tool_result") => s.tool_results += 1,
                        Some("api_error") => s.api_errors += 1,
                        _ => {}
                    }
                    if let Some(id) = attr("session.id") {
                        s.session_ids.insert(id.to_owned());
                    }
                }
            }
            Records::Traces(_) => {}
        }
    }
    s
}

/// `ccpipe usage <args>` with the test's data folder; (exit code, stdout, stderr).
fn usage(data: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
        .arg("usage")
        .args(args)
        .env("XDG_DATA_HOME", data)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn usage_json(data: &Path, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = usage(data, args);
    assert_eq!(code, Some(0), "ccpipe usage {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The built-in default config, with every port the OS's choice.
fn default_ccpipe(dir: &Path, data: &Path) -> Ccpipe {
    Ccpipe::start_command(common::process::default_command(dir, data))
}

#[test]
fn usage_totals_equal_the_sums_of_every_capture_replayed_through_the_default_config() {
    let dir = temp_dir("store-usage");
    let data = dir.join("data");
    let ccpipe = default_ccpipe(&dir, &data);
    let http = ccpipe.http.expect("http listener");
    let grpc = ccpipe.grpc.expect("grpc listener");

    let mut all = Vec::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for variant in VARIANTS {
        let captures = load_variant(variant);
        if captures.iter().all(|c| matches!(c.wire, Wire::Grpc { .. })) {
            runtime.block_on(send_grpc(grpc, &captures));
        } else {
            let mut conn = HttpConn::connect(http);
            for c in &captures {
                assert_eq!(conn.send_capture(c).status, 200, "{variant}/{}", c.file);
            }
        }
        all.extend(captures);
    }
    let want = sums(&all);
    let cost = captured_sum(&all, "claude_code.cost.usage");
    let sessions = captured_sum(&all, "claude_code.session.count");
    assert_eq!(
        want.session_ids.len(),
        VARIANTS.len(),
        "one session per run"
    );
    assert!(cost > 0.0 && want.tool_results > 0);

    // Read while ccpipe runs (and writes): wait, bounded, for the batch
    // processor to pass everything on.
    let deadline = Instant::now() + Duration::from_secs(20);
    let daily = loop {
        let v = usage_json(&data, &["--json"]);
        let done = v["totals"]["sessions"].as_f64() == Some(sessions)
            && (v["totals"]["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9;
        if done || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let totals = &daily["totals"];
    assert!(
        (totals["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9,
        "{totals} vs {cost}"
    );
    for (kind, n) in &want.tokens {
        assert_eq!(
            totals["tokens"][kind].as_f64(),
            Some(*n),
            "{kind}: {totals}"
        );
    }
    assert_eq!(totals["sessions"].as_f64(), Some(sessions));
    let day_cost: f64 = daily["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["cost_usd"].as_f64().unwrap())
        .sum();
    assert!((day_cost - cost).abs() < 1e-9);

    let per_session = usage_json(&data, &["session", "--json"]);
    let listed: BTreeSet<String> = per_session["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, want.session_ids);
    let monthly = usage_json(&data, &["monthly", "--json", "--breakdown"]);
    assert_eq!(monthly["totals"], daily["totals"]);
    assert_eq!(
        monthly["monthly"][0]["breakdown"][0]["model"],
        "claude-opus-5-5"
    );

    // The ranges: a day after the data holds nothing, the data's day all.
    let day = daily["daily"][0]["period"].as_str().unwrap().to_owned();
    let later = usage_json(&data, &["--json", "--since", "2099-01-01"]);
    assert_eq!(later["totals"]["cost_usd"].as_f64(), Some(0.0));
    let that_day = usage_json(&data, &["--json", "--since", &day, "--until", &day]);
    assert_eq!(that_day["totals"], daily["totals"]);

    // The view's sums, from the same file.
    let store = ccpipe_store::Store::open_read_only(data.join("ccpipe/ccpipe.db")).unwrap();
    let summary = store.summary(&ccpipe_store::Filter::default()).unwrap();
    assert_eq!(summary.tool_calls as u64, want.tool_results);
    assert_eq!(summary.api_errors as u64, want.api_errors);

    let (code, table, _) = usage(&data, &[]);
    assert_eq!(code, Some(0));
    assert!(
        table.contains(&day) && table.contains("claude-opus-5-5"),
        "{table}"
    );

    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn usage_names_a_missing_database_and_a_bad_date() {
    let dir = temp_dir("store-usage-errors");
    let (code, _, err) = usage(&dir, &["--json"]);
    assert_eq!(code, Some(1));
    let path = dir.join("ccpipe/ccpipe.db");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("check that the file exists"), "{err}");

    let (code, _, err) = usage(&dir, &["--since", "2026-02-30"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("2026-02-30") && err.contains("YYYY-MM-DD"),
        "{err}"
    );
    let (code, _, err) = usage(&dir, &["--since", "2026-02-02", "--until", "2026-02-01"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--since is after --until"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The ids (record bodies up to `|`) of every log stored in the database.
fn stored_ids(db: &Path) -> BTreeSet<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut st = conn
        .prepare("SELECT json_extract(attrs, '$.body') FROM events WHERE name = 'log'")
        .unwrap();
    let rows = st.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(|b| b.unwrap().split('|').next().unwrap().to_owned())
        .collect()
}

#[test]
fn a_full_disk_answers_503_and_loses_nothing_acknowledged() {
    let dir = temp_dir("store-disk-full");
    let mount = Mount::tmpfs(&dir.join("small"), "512k");
    let db = dir.join("small/ccpipe.db");
    let cfg = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  sqlite:
    path: "{}"
    sending_queue: {{ queue_size: 4 }}
    retry_on_failure: {{ initial_interval: 20ms, max_interval: 100ms }}
service:
  shutdown_timeout: 5s
  telemetry: {{ metrics: {{ address: "127.0.0.1:0" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [sqlite] }}
"#,
            db.display()
        ),
    );
    let ccpipe = Ccpipe::start(&cfg);
    let http = ccpipe.http.expect("http listener");

    // 4 KiB records, one per request, until the disk is full and the
    // queue behind it too.
    let mut conn = None;
    let (mut acked, mut refused) = (Vec::new(), 0);
    let mut n = 0;
    while refused < 3 && n < 2000 {
        let id = format!("rec-{n:05}");
        n += 1;
        let answer = post_body(&mut conn, http, &request(std::slice::from_ref(&id), 4096))
            .expect("ccpipe answers (no crash)");
        match answer.status {
            200 => acked.push(id),
            503 => {
                refused += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => panic!("{id}: answered {other}"),
        }
    }
    assert_eq!(refused, 3, "the 512 KiB disk never filled ({n} sent)");
    let stderr = ccpipe.stderr();
    assert!(
        stderr.contains(&db.display().to_string()) && stderr.contains("full"),
        "the log says which file is full:\n{stderr}"
    );

    // Room again: everything acknowledged gets stored, nothing twice.
    mount.resize("64m");
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let stored = stored_ids(&db);
        if acked.iter().all(|id| stored.contains(id)) || Instant::now() > deadline {
            break stored;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(
        post_body(&mut conn, http, &request(&["after".into()], 0))
            .unwrap()
            .status,
        200
    );

    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        rows as usize,
        stored_ids(&db).len(),
        "no record stored twice"
    );
    drop(conn);
    drop(mount);
    let _ = std::fs::remove_dir_all(dir);
}

/// SIGTERM, then a clean exit (bounded).
fn stop_cleanly(ccpipe: Ccpipe) {
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
}

/// Runs ccpipe with `config` and expects it to stop on its own (bounded):
/// (exit status, stderr).
fn start_expecting_exit(config: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ccpipe kept running with an unusable database");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

fn sqlite_config(db: &Path, exporter_extra: &str) -> String {
    format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  sqlite:
    path: "{}"
{exporter_extra}
service:
  health: {{ address: "" }}
  telemetry: {{ metrics: {{ address: "" }} }}
  view: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [sqlite] }}
    metrics: {{ receivers: [otlp], exporters: [sqlite] }}
"#,
        db.display()
    )
}

/// A damaged file and a path that cannot be created stop ccpipe at start
/// with the path and what to do; `ccpipe usage` says the same and exits 1.
#[test]
fn a_corrupt_or_unwritable_database_stops_the_start_naming_the_file() {
    let dir = temp_dir("store-unusable");
    let damaged = dir.join("damaged.db");
    std::fs::write(&damaged, vec![0x5a; 8192]).unwrap();
    let cfg = write_config(&dir, &sqlite_config(&damaged, ""));
    let (status, stderr) = start_expecting_exit(&cfg);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&damaged.display().to_string()) && stderr.contains("move it away"),
        "{stderr}"
    );
    let out = Command::new(bin())
        .args(["usage", "--json", "--db"])
        .arg(&damaged)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&damaged.display().to_string()) && err.contains("move it away"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&damaged).unwrap(),
        vec![0x5a; 8192],
        "the damaged file is left as it was"
    );

    // Its folder would be inside a regular file: nothing can create it
    // (tests run as root in CI, so file permissions would not stop it).
    std::fs::write(dir.join("a-file"), b"x").unwrap();
    let unwritable = dir.join("a-file/ccpipe.db");
    let cfg = write_config(&dir, &sqlite_config(&unwritable, ""));
    let (status, stderr) = start_expecting_exit(&cfg);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&unwritable.display().to_string()),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Every logs and metrics capture, over HTTP/protobuf, each answered 200.
fn send_logs_and_metrics_captures(ccpipe: &Ccpipe) {
    let mut conn = HttpConn::connect(ccpipe.http.expect("http listener"));
    let captures: Vec<Capture> = load_variant("http-protobuf");
    for c in captures
        .iter()
        .filter(|c| c.signal != ccpipe_pipeline::records::Signal::Traces)
    {
        assert_eq!(conn.send_capture(c).status, 200, "{}", c.file);
    }
}

/// `ccpipe usage --json --db <db>`'s totals.
fn usage_totals(db: &Path) -> serde_json::Value {
    let out = Command::new(bin())
        .args(["usage", "--json", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["totals"].clone()
}

/// `max_age` as a user sets it: data older than it is gone after a restart
/// (the exporter runs a retention pass when it opens the file), data
/// younger stays; `ccpipe usage` agrees with the rows.
#[test]
fn max_age_drops_older_data_when_ccpipe_restarts() {
    let dir = temp_dir("store-max-age");
    let db = dir.join("ccpipe.db");
    let keep_all = write_config(&dir, &sqlite_config(&db, "    max_age: 0"));
    let ccpipe = Ccpipe::start(&keep_all);
    // The captures are from 2026-11 (days before any run of this test).
    send_logs_and_metrics_captures(&ccpipe);
    // One record from now, through the same exporter.
    let mut fresh = None;
    let now = post_body(
        &mut fresh,
        ccpipe.http.unwrap(),
        &request(&["now".into()], 0),
    )
    .unwrap();
    assert_eq!(now.status, 200);
    stop_cleanly(ccpipe);
    let count = |db: &Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    };
    let before = count(&db);
    assert!(before > 1, "the captures were stored");
    let cost = |db: &Path| usage_totals(db)["cost_usd"].as_f64().unwrap();
    assert!(cost(&db) > 0.0, "the report shows the captures' cost");

    let week = write_config(&dir, &sqlite_config(&db, "    max_age: 168h"));
    let ccpipe = Ccpipe::start(&week);
    let log = ccpipe.wait_for_stderr(
        0,
        "store retention deleted old rows",
        Duration::from_secs(20),
    );
    assert!(log.contains(&db.display().to_string()), "{log}");
    assert_eq!(count(&db), 1, "only the record from now is left");
    assert_eq!(stored_ids(&db), BTreeSet::from(["now".to_owned()]));
    assert_eq!(cost(&db), 0.0, "the report lost the old days too");
    stop_cleanly(ccpipe);
    let _ = std::fs::remove_dir_all(dir);
}

/// The store behind its own queue: while its database is locked by another
/// process (a disk that does not answer, as far as the exporter can tell),
/// the file exporter in the same pipeline gets every record and the sender
/// hears 200; once the lock goes, the store catches up with all of them.
#[test]
fn a_stalled_store_does_not_stall_the_other_exporters() {
    let dir = temp_dir("store-stalled");
    let db = dir.join("ccpipe.db");
    let out = dir.join("out.jsonl");
    let cfg = write_config(
        &dir,
        &format!(
            r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  file: {{ path: "{}", flush_interval: 50ms }}
  sqlite:
    path: "{}"
    sending_queue: {{ queue_size: 1000 }}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 200ms }}
service:
  health: {{ address: "" }}
  telemetry: {{ metrics: {{ address: "" }} }}
  view: {{ enabled: false }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [file, sqlite] }}
"#,
            out.display(),
            db.display()
        ),
    );
    let ccpipe = Ccpipe::start(&cfg);
    let http = ccpipe.http.expect("http listener");

    // Another process takes the write lock and keeps it.
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let ids: Vec<String> = (0..20).map(|n| format!("stalled-{n:02}")).collect();
    let mut conn = None;
    for id in &ids {
        let answer = post_body(&mut conn, http, &request(std::slice::from_ref(id), 256)).unwrap();
        assert_eq!(answer.status, 200, "{id}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let written = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if ids.iter().all(|id| text.contains(id.as_str())) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for id in &ids {
        assert!(
            written.contains(id.as_str()),
            "{id} not in the file while the store was stalled"
        );
    }
    assert!(
        stored_ids(&db).is_empty(),
        "the store was not stalled: the test proves nothing"
    );

    locker.execute_batch("ROLLBACK").unwrap();
    drop(locker);
    let deadline = Instant::now() + Duration::from_secs(30);
    let want: BTreeSet<String> = ids.iter().cloned().collect();
    while stored_ids(&db) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        stored_ids(&db),
        want,
        "the store caught up, each record once"
    );
    stop_cleanly(ccpipe);
    let _ = std::fs::remove_dir_all(dir);
}

/// The README's two steps with the real Claude Code CLI: ccpipe on its
/// built-in default config, `ccpipe claude-settings --write` into the CLI's
/// settings file (the CLI gets no OTEL_* variable of its own), one prompt
/// against the scripted fake model; then `ccpipe usage --json` and the
/// view's API show the tokens the fake model reported, one session, and its
/// page (the prompt without its text, the spans with their events).
#[test]
fn the_two_steps_with_the_real_claude_code_cli() {
    use common::claude::{claude_bin, offline_env, run_bounded, FakeModel};
    const INPUT_TOKENS: f64 = 12.0; // tests/claude-cli/fake_model.py
    const OUTPUT_TOKENS: f64 = 3.0;
    let claude = claude_bin();
    let dir = temp_dir("store-two-steps");
    let data = dir.join("data");
    let (home, work, tmp) = (dir.join("home"), dir.join("work"), dir.join("tmp"));
    for d in [&home, &work, &tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let ccpipe = default_ccpipe(&dir, &data);
    let (http, grpc) = (ccpipe.http.unwrap(), ccpipe.grpc.unwrap());
    let view = common::view::view_addr(&ccpipe.stderr());

    // Step 2, with the ports this ccpipe got (--write makes ~/.claude).
    let settings = home.join(".claude/settings.json");
    let out = common::process::default_command(&dir, &data)
        .env(
            "CCPIPE_RECEIVERS__OTLP__PROTOCOLS__HTTP__ENDPOINT",
            http.to_string(),
        )
        .env(
            "CCPIPE_RECEIVERS__OTLP__PROTOCOLS__GRPC__ENDPOINT",
            grpc.to_string(),
        )
        .arg("claude-settings")
        .arg("--write")
        .arg(&settings)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let model = FakeModel::start(&dir);
    let mut cmd = Command::new(&claude);
    cmd.args(["-p", "say hi", "--output-format", "json"])
        .current_dir(&work)
        .env_clear()
        .envs(offline_env(&home, &tmp, model.port));
    let run = run_bounded(cmd, Duration::from_secs(120)).unwrap();
    assert!(
        run.status.success(),
        "claude: {}\n{}",
        run.stdout,
        run.stderr
    );
    let result: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let session = result["session_id"].as_str().unwrap().to_owned();

    // The CLI exports as it exits; the store commits behind its queue.
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let report = usage_json(&data, &["--json"]);
        let tokens = &report["totals"]["tokens"];
        let done = tokens["input"] == INPUT_TOKENS && tokens["output"] == OUTPUT_TOKENS;
        if done || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let totals = &report["totals"];
    assert_eq!(totals["tokens"]["input"], INPUT_TOKENS, "{report}");
    assert_eq!(totals["tokens"]["output"], OUTPUT_TOKENS, "{report}");
    assert_eq!(totals["sessions"], 1, "{report}");
    assert!(totals["cost_usd"].as_f64().unwrap() > 0.0, "{report}");

    let summary = common::view::get(view, "/api/summary").json();
    assert_eq!(summary["tokens"]["input"], INPUT_TOKENS, "{summary}");
    assert_eq!(summary["cost_usd"], totals["cost_usd"], "{summary}");
    assert!(summary["api_requests"].as_i64().unwrap() >= 1, "{summary}");
    let page = common::view::get(view, &format!("/api/session/{session}"));
    assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
    let page = page.json();
    let prompt = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "prompt")
        .unwrap_or_else(|| panic!("no prompt on the session page: {page}"));
    // claude-settings leaves prompt logging off unless asked (--content):
    // the prompt is an event without its text.
    assert!(prompt.get("prompt").is_none(), "{page}");
    let attempts = page["spans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["events"].as_array().unwrap())
        .filter(|e| e["name"] == "gen_ai.request.attempt")
        .count();
    assert!(
        attempts >= 1,
        "the LLM request's span and its event: {page}"
    );
    drop(model);
    stop_cleanly(ccpipe);
    let _ = std::fs::remove_dir_all(dir);
}

/// Log records on `day` (days after 2026-11-01, UTC noon), each id's body
/// padded with 2 KiB, in one OTLP/HTTP protobuf request.
fn dated_request(ids: &[String], day: u64) -> Vec<u8> {
    const NOV_1_2026_NOON_S: u64 = 1_793_491_200 + 12 * 3600;
    request_at(
        ids,
        2048,
        (NOV_1_2026_NOON_S + day * 86_400) * 1_000_000_000,
    )
}

/// Bytes of the pages the database uses (what `max_size` bounds).
fn used_bytes(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let q = |p: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .unwrap()
    };
    (q("page_count") - q("freelist_count")) * q("page_size")
}

/// `max_size` as a user sets it: a store past its size shrinks at the next
/// start, the oldest days' raw rows first, to within the limit; the newest
/// records stay, and `ccpipe usage` (from the daily rollups) still reports
/// every capture's cost.
#[test]
fn max_size_shrinks_the_store_oldest_days_first_keeping_the_report() {
    let dir = temp_dir("store-max-size");
    let db = dir.join("ccpipe.db");
    let unbounded = write_config(&dir, &sqlite_config(&db, "    max_age: 0\n    max_size: 0"));
    let ccpipe = Ccpipe::start(&unbounded);
    send_logs_and_metrics_captures(&ccpipe);
    // Ten days of 2 KiB records, 100 a day: about 2 MiB in all.
    let mut fresh = None;
    for day in 0..10u64 {
        let ids: Vec<String> = (0..100).map(|i| format!("day{day}-{i}")).collect();
        let answer =
            post_body(&mut fresh, ccpipe.http.unwrap(), &dated_request(&ids, day)).unwrap();
        assert_eq!(answer.status, 200);
    }
    stop_cleanly(ccpipe);
    let totals = usage_totals(&db);
    assert!(totals["cost_usd"].as_f64().unwrap() > 0.0, "{totals}");
    assert!(
        used_bytes(&db) > 2 << 20,
        "{} bytes stored",
        used_bytes(&db)
    );
    let ids = stored_ids(&db);
    assert!(
        ids.contains("day0-0") && ids.contains("day9-99"),
        "{} ids",
        ids.len()
    );

    let bounded = write_config(
        &dir,
        &sqlite_config(&db, "    max_age: 0\n    max_size: 1MiB"),
    );
    let ccpipe = Ccpipe::start(&bounded);
    let log = ccpipe.wait_for_stderr(
        0,
        "store retention deleted old rows",
        Duration::from_secs(20),
    );
    assert!(log.contains(&db.display().to_string()), "{log}");
    stop_cleanly(ccpipe);

    let used = used_bytes(&db);
    assert!(used <= 1 << 20, "{used} bytes after the pass");
    let left = stored_ids(&db);
    assert!(
        left.contains("day9-99"),
        "the newest day stays: {} ids",
        left.len()
    );
    assert!(!left.contains("day0-0"), "the oldest day went first");
    let dropped_days: Vec<u64> = (0..10)
        .filter(|d| !left.contains(&format!("day{d}-0")))
        .collect();
    assert_eq!(
        dropped_days,
        (0..dropped_days.len() as u64).collect::<Vec<_>>(),
        "whole days, oldest first"
    );
    assert_eq!(
        usage_totals(&db),
        totals,
        "the report is kept by the rollups"
    );
    let _ = std::fs::remove_dir_all(dir);
}
