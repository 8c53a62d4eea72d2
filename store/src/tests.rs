//! The store against Claude Code's real captures, with expected sums
//! computed from the readable OTLP/JSON beside each capture, not by the
//! code under test.

use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

use crate::ingest::Data;
use crate::retention::Retention;
use crate::{Filter, Store, StoreError};

fn captures(variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/claude-code/captures")
        .join(variant)
        .join("otlp")
}

/// A database path in a folder of its own, removed when the test ends.
struct TempDb(PathBuf);

impl std::ops::Deref for TempDb {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDb {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn temp_db(name: &str) -> TempDb {
    let dir = std::env::temp_dir().join(format!("ccpipe-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDb(dir.join("store.db"))
}

/// Ingests every request of a capture folder, in order.
fn ingest_capture(store: &mut Store, variant: &str) {
    let dir = captures(variant);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in {}", dir.display());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("-metrics") {
            let r = ExportMetricsServiceRequest::decode(&bytes[..]).unwrap();
            store.ingest(Data::Metrics(&r)).unwrap();
        } else if name.contains("-logs") {
            let r = ExportLogsServiceRequest::decode(&bytes[..]).unwrap();
            store.ingest(Data::Logs(&r)).unwrap();
        } else {
            let r = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
            store.ingest(Data::Traces(&r)).unwrap();
        }
    }
}

fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a Value> {
    attrs
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

/// Sums read straight from the `.decoded.json` files.
#[derive(Debug, Default)]
struct Expected {
    cost: f64,
    tokens: [f64; 4],
    sessions: f64,
    lines_added: f64,
    tool_results: i64,
    api_requests: i64,
    api_errors: i64,
    prompts: Vec<String>,
}

fn expected(variant: &str) -> Expected {
    let mut e = Expected::default();
    let mut files: Vec<_> = std::fs::read_dir(captures(variant))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".decoded.json"))
        .collect();
    files.sort();
    for f in files {
        let doc: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        for rm in doc["resourceMetrics"].as_array().into_iter().flatten() {
            for sm in rm["scopeMetrics"].as_array().unwrap() {
                for m in sm["metrics"].as_array().unwrap() {
                    let name = m["name"].as_str().unwrap();
                    for p in m["sum"]["dataPoints"].as_array().into_iter().flatten() {
                        let v = p["asDouble"].as_f64().unwrap();
                        let kind = attr(&p["attributes"], "type")
                            .and_then(|t| t["stringValue"].as_str())
                            .unwrap_or("");
                        match name {
                            "claude_code.cost.usage" => e.cost += v,
                            "claude_code.session.count" => e.sessions += v,
                            "claude_code.lines_of_code.count" if kind == "added" => {
                                e.lines_added += v
                            }
                            "claude_code.token.usage" => {
                                let i = ["input", "output", "cacheRead", "cacheCreation"]
                                    .iter()
                                    .position(|k| *k == kind)
                                    .unwrap();
                                e.tokens[i] += v;
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        for rl in doc["resourceLogs"].as_array().into_iter().flatten() {
            for sl in rl["scopeLogs"].as_array().unwrap() {
                for r in sl["logRecords"].as_array().unwrap() {
                    let name = attr(&r["attributes"], "event.name").unwrap()["stringValue"]
                        .as_str()
                        .unwrap();
                    match name {
                        "tool_result" => e.tool_results += 1,
                        "api_request" => e.api_requests += 1,
                        "api_error" => e.api_errors += 1,
                        "user_prompt" => e.prompts.push(
                            attr(&r["attributes"], "prompt").unwrap()["stringValue"]
                                .as_str()
                                .unwrap()
                                .to_owned(),
                        ),
                        _ => {}
                    }
                }
            }
        }
    }
    e
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn the_summary_of_a_capture_equals_the_sums_of_its_data() {
    let path = temp_db("summary");
    let mut store = Store::open(&path).unwrap();
    ingest_capture(&mut store, "http-protobuf");
    let want = expected("http-protobuf");
    assert!(want.cost > 0.0 && want.tool_results > 0, "{want:?}");

    let s = store.summary(&Filter::default()).unwrap();
    assert!(
        close(s.cost_usd, want.cost),
        "{} != {}",
        s.cost_usd,
        want.cost
    );
    let t = s.tokens;
    assert_eq!(
        [t.input, t.output, t.cache_read, t.cache_creation].map(|v| v as f64),
        want.tokens
    );
    assert_eq!(s.sessions as f64, want.sessions);
    assert_eq!(s.lines_added as f64, want.lines_added);
    assert_eq!(s.tool_calls, want.tool_results);
    assert_eq!(s.api_requests, want.api_requests);
    assert_eq!(s.api_errors, want.api_errors);
    assert_eq!(s.commits, 1);
    assert_eq!(s.pull_requests, 1);
    assert_eq!(s.edit_accept_rate, Some(1.0));

    // The same sums per day and model, and per tool.
    let daily = store.daily(&Filter::default()).unwrap();
    let cost: f64 = daily.iter().map(|d| d.cost_usd).sum();
    assert!(close(cost, want.cost));
    assert!(
        daily.iter().all(|d| d.model == "claude-opus-5-5"),
        "{daily:?}"
    );
    let tools = store.tools(&Filter::default()).unwrap();
    assert_eq!(
        tools.iter().map(|t| t.calls).sum::<i64>(),
        want.tool_results
    );
    let bash = tools.iter().find(|t| t.tool == "Bash").unwrap();
    assert!(
        bash.p50_ms.unwrap() > 0.0 && bash.p95_ms >= bash.p50_ms,
        "{bash:?}"
    );
}

#[test]
fn a_session_page_lists_its_timeline_with_the_prompt_in_order() {
    let path = temp_db("session");
    let mut store = Store::open(&path).unwrap();
    ingest_capture(&mut store, "http-protobuf");
    let want = expected("http-protobuf");

    let top = store.top_sessions(&Filter::default(), 20).unwrap();
    assert_eq!(top.len(), 1);
    let s = &top[0];
    assert!(close(s.cost_usd, want.cost));
    assert_eq!(s.tool_calls, want.tool_results);
    assert_eq!(s.api_requests, want.api_requests);
    assert_eq!(s.models, ["claude-opus-5-5"]);

    let page = store.session(&s.session_id).unwrap().unwrap();
    assert_eq!(page.attrs["service.name"], "claude-code");
    let kinds: Vec<&str> = page.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds[0], "prompt", "{kinds:?}");
    assert_eq!(
        page.events[0].prompt.as_deref(),
        Some(want.prompts[0].as_str())
    );
    assert!(page.events.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
    assert_eq!(
        kinds.iter().filter(|k| **k == "tool_result").count() as i64,
        want.tool_results
    );
    assert!(store.session("no-such-session").unwrap().is_none());
}

/// Every span of a capture's traces with its events, as the readable
/// OTLP/JSON beside the capture lists them: (span name, event names).
fn expected_spans(variant: &str) -> Vec<(String, Vec<String>)> {
    let mut spans = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(captures(variant))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-traces.decoded.json"))
        .collect();
    files.sort();
    for f in files {
        let doc: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        for rs in doc["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let events = s["events"].as_array().map_or(Vec::new(), |es| {
                        es.iter()
                            .map(|e| e["name"].as_str().unwrap().to_owned())
                            .collect()
                    });
                    spans.push((s["name"].as_str().unwrap().to_owned(), events));
                }
            }
        }
    }
    spans
}

#[test]
fn a_session_page_lists_its_spans_with_their_events() {
    let path = temp_db("spans");
    let mut store = Store::open(&path).unwrap();
    ingest_capture(&mut store, "http-protobuf");
    let id = &store.top_sessions(&Filter::default(), 1).unwrap()[0].session_id;
    let page = store.session(id).unwrap().unwrap();

    let mut want = expected_spans("http-protobuf");
    let mut got: Vec<(String, Vec<String>)> = page
        .spans
        .iter()
        .map(|s| {
            let names = s.events.iter().map(|e| e.name.clone()).collect();
            (s.name.clone(), names)
        })
        .collect();
    assert!(
        want.iter().any(|(_, events)| !events.is_empty()),
        "the capture has span events"
    );
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(page.spans.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));

    // A tool's output event keeps its attributes (what the tool read).
    let output = page
        .spans
        .iter()
        .flat_map(|s| &s.events)
        .find(|e| e.name == "tool.output")
        .expect("a tool.output event");
    assert!(output.attrs.contains_key("file_path"), "{output:?}");
    assert!(output.time_ms > 0);
}

/// A file written by a ccpipe before span events (schema 1), with a span in
/// it: opening it migrates it in place; the old span stays (without events),
/// new spans keep theirs, and a reader only reads it once migrated.
#[test]
fn a_version_1_file_is_migrated_and_keeps_its_rows() {
    let path = temp_db("v1");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             {}
             INSERT INTO schema_version (version) VALUES (1);
             INSERT INTO spans (time_ms, end_ms, resource_id, trace_id, span_id, name, session_id, attrs)
             VALUES (1000, 2000, 1, 'aa', 'bb', 'claude_code.interaction', 'old-session', '{{}}');
             INSERT INTO sessions (session_id, user, resource_id, started_ms, ended_ms)
             VALUES ('old-session', 'u', 1, 1000, 2000);",
            crate::schema::V1
        ))
        .unwrap();
    }
    let e = Store::open_read_only(&path).err().unwrap().to_string();
    assert!(e.contains("start this ccpipe once"), "{e}");

    let mut store = Store::open(&path).unwrap();
    ingest_capture(&mut store, "http-protobuf");
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, crate::schema::VERSION);

    let reader = Store::open_read_only(&path).unwrap();
    let old = reader.session("old-session").unwrap().unwrap();
    assert_eq!(old.spans.len(), 1);
    assert_eq!(old.spans[0].name, "claude_code.interaction");
    assert!(old.spans[0].events.is_empty());
    let id = &reader.top_sessions(&Filter::default(), 1).unwrap()[0].session_id;
    let new = reader.session(id).unwrap().unwrap();
    assert!(new.spans.iter().any(|s| !s.events.is_empty()));
    // Opening again is a no-op.
    drop(store);
    Store::open(&path).unwrap();
}

#[test]
fn a_redacted_prompt_is_not_stored() {
    let path = temp_db("redacted");
    let mut store = Store::open(&path).unwrap();
    ingest_capture(&mut store, "http-protobuf-redacted");
    let id = &store.top_sessions(&Filter::default(), 1).unwrap()[0].session_id;
    let page = store.session(id).unwrap().unwrap();
    let prompt = page.events.iter().find(|e| e.kind == "prompt").unwrap();
    assert_eq!(prompt.prompt, None);
}

#[test]
fn filters_narrow_the_sums() {
    let path = temp_db("filters");
    let mut store = Store::open(&path).unwrap();
    ingest_capture(&mut store, "http-protobuf");
    ingest_capture(&mut store, "grpc");
    let all = store.summary(&Filter::default()).unwrap();
    let menus = store.filters(&Filter::default()).unwrap();
    assert_eq!(menus.models, ["claude-opus-5-5"]);
    assert_eq!(menus.attrs["service.name"], ["claude-code"]);
    assert!(!menus.users.is_empty());

    let other_model = Filter {
        model: Some("claude-none".into()),
        ..Filter::default()
    };
    let s = store.summary(&other_model).unwrap();
    assert_eq!(s.cost_usd, 0.0);
    assert_eq!(s.tool_calls, all.tool_calls, "tool calls carry no model");
    assert!(store.top_sessions(&other_model, 20).unwrap().is_empty());

    let nobody = Filter {
        user: Some("nobody".into()),
        ..Filter::default()
    };
    assert_eq!(store.summary(&nobody).unwrap().tool_calls, 0);
    let by_attr = |v: &str| Filter {
        attrs: vec![("service.name".into(), v.into())],
        ..Filter::default()
    };
    assert_eq!(store.summary(&by_attr("claude-code")).unwrap(), all);
    assert_eq!(store.summary(&by_attr("other")).unwrap().api_requests, 0);

    // A range that ends before the data holds nothing; one around it all.
    let first = store.sessions_by_start(&Filter::default()).unwrap()[0].started_ms;
    let before = Filter {
        from_ms: Some(first - 10 * 3_600_000),
        to_ms: Some(first - 3_600_000),
        ..Filter::default()
    };
    assert_eq!(store.summary(&before).unwrap().api_requests, 0);
    let around = Filter {
        from_ms: Some(first - 3_600_000),
        to_ms: Some(first + 3_600_000),
        ..Filter::default()
    };
    let hourly = store.summary(&around).unwrap();
    assert_eq!(hourly.api_requests, all.api_requests);
    assert!(!store.api_requests(&around).unwrap().is_empty());
}

fn cumulative_request(value: f64, start_ns: u64, time_ns: u64) -> ExportMetricsServiceRequest {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "claude-code")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "claude_code.cost.usage".into(),
                    data: Some(metric::Data::Sum(Sum {
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                        data_points: vec![NumberDataPoint {
                            attributes: vec![kv("session.id", "s1"), kv("model", "m")],
                            start_time_unix_nano: start_ns,
                            time_unix_nano: time_ns,
                            value: Some(number_data_point::Value::AsDouble(value)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn cumulative_sums_are_counted_once_across_restarts_of_sender_and_store() {
    let path = temp_db("cumulative");
    let t0 = 1_795_303_681_000_000_000u64;
    {
        let mut store = Store::open(&path).unwrap();
        for (i, v) in [1.0, 3.0, 6.0].into_iter().enumerate() {
            let r = cumulative_request(v, t0, t0 + (i as u64 + 1) * 1_000_000_000);
            store.ingest(Data::Metrics(&r)).unwrap();
        }
        assert_eq!(store.summary(&Filter::default()).unwrap().cost_usd, 6.0);
    }
    // The store restarts: the series' last value was kept in the file.
    let mut store = Store::open(&path).unwrap();
    let r = cumulative_request(7.0, t0, t0 + 4_000_000_000);
    store.ingest(Data::Metrics(&r)).unwrap();
    assert_eq!(store.summary(&Filter::default()).unwrap().cost_usd, 7.0);
    // The sender restarts: a new start time counts from zero.
    let r = cumulative_request(2.0, t0 + 5_000_000_000, t0 + 6_000_000_000);
    store.ingest(Data::Metrics(&r)).unwrap();
    assert_eq!(store.summary(&Filter::default()).unwrap().cost_usd, 9.0);
    assert_eq!(
        store.top_sessions(&Filter::default(), 1).unwrap()[0].cost_usd,
        9.0
    );
}

#[test]
fn a_newer_schema_is_refused_and_a_foreign_or_damaged_file_is_named() {
    let path = temp_db("schema");
    drop(Store::open(&path).unwrap());
    Store::open(&path).expect("reopening is a no-op migration");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
    }
    let e = Store::open(&path).err().unwrap();
    assert!(
        matches!(e, StoreError::NewerSchema { found: 99, .. }),
        "{e}"
    );
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    let e = Store::open_read_only(&path).err().unwrap();
    assert!(matches!(e, StoreError::NewerSchema { .. }), "{e}");

    let foreign = temp_db("foreign");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute("CREATE TABLE mine (x)", [])
        .unwrap();
    let e = Store::open(&foreign).err().unwrap().to_string();
    assert!(
        e.contains("not a ccpipe store") && e.contains(&foreign.display().to_string()),
        "{e}"
    );

    let damaged = temp_db("damaged");
    std::fs::write(&damaged, vec![0x5a; 8192]).unwrap();
    let e = Store::open(&damaged).err().unwrap().to_string();
    assert!(
        e.contains(&damaged.display().to_string()) && e.contains("move it away"),
        "{e}"
    );

    let missing = temp_db("missing").with_file_name("absent.db");
    let e = Store::open_read_only(&missing).err().unwrap().to_string();
    assert!(
        e.contains("absent.db") && e.contains("check that the file exists"),
        "{e}"
    );
}

#[test]
fn a_reader_sees_commits_while_the_writer_keeps_the_file_open() {
    let path = temp_db("reader");
    let mut writer = Store::open(&path).unwrap();
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.summary(&Filter::default()).unwrap().api_requests, 0);
    ingest_capture(&mut writer, "http-protobuf");
    let want = expected("http-protobuf");
    assert_eq!(
        reader.summary(&Filter::default()).unwrap().api_requests,
        want.api_requests
    );
}

#[test]
fn retention_drops_what_is_older_than_max_age_and_shrinks_to_max_size() {
    let path = temp_db("retention");
    let mut store = Store::open(&path).unwrap();
    ingest_capture(&mut store, "http-protobuf");
    let first = store.sessions_by_start(&Filter::default()).unwrap()[0].started_ms;

    // Nothing is older than a day before the data.
    let keep_all = Retention {
        max_age: Some(std::time::Duration::from_secs(86_400)),
        max_size: None,
    };
    let removed = store
        .enforce_retention(keep_all, first + 3_600_000)
        .unwrap();
    assert_eq!(removed.rows, 0);
    assert!(store.summary(&Filter::default()).unwrap().api_requests > 0);

    // Everything is older than a day after the data.
    let removed = store
        .enforce_retention(keep_all, first + 3 * 86_400_000)
        .unwrap();
    assert!(removed.rows > 0 && !removed.more_due);
    assert_eq!(store.summary(&Filter::default()).unwrap().api_requests, 0);
    assert!(store
        .top_sessions(&Filter::default(), 10)
        .unwrap()
        .is_empty());
    assert_eq!(count(&store, "events") + count(&store, "rollup_day"), 0);
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .conn
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn max_size_drops_the_oldest_raw_rows_first_then_rollups() {
    let path = temp_db("max-size");
    let mut store = Store::open(&path).unwrap();
    ingest_capture(&mut store, "http-protobuf");
    let used = store.used_bytes().unwrap();
    assert!(used > 0);
    // Room for the rollups but not for the raw rows: raw rows go first
    // (the whole capture is one day), the daily sums stay.
    let without_raw = {
        let copy = temp_db("max-size-copy");
        let mut other = Store::open(&copy).unwrap();
        ingest_capture(&mut other, "http-protobuf");
        for t in ["events", "metric_points", "spans"] {
            other.conn.execute(&format!("DELETE FROM {t}"), []).unwrap();
        }
        other
            .conn
            .execute_batch("PRAGMA incremental_vacuum")
            .unwrap();
        other.used_bytes().unwrap()
    };
    assert!(without_raw < used, "{without_raw} < {used}");
    let summary = store.summary(&Filter::default()).unwrap();
    let r = Retention {
        max_age: None,
        max_size: Some(without_raw),
    };
    let removed = store.enforce_retention(r, 0).unwrap();
    assert!(removed.rows > 0);
    assert_eq!(count(&store, "events"), 0);
    assert_eq!(store.summary(&Filter::default()).unwrap(), summary);
    assert!(store.used_bytes().unwrap() <= without_raw);

    // Room for nothing: the rollups go too.
    let r = Retention {
        max_age: None,
        max_size: Some(1),
    };
    store.enforce_retention(r, 0).unwrap();
    assert_eq!(count(&store, "rollup_day"), 0);
}

#[test]
fn days_are_written_and_read_in_utc() {
    use crate::query::day_start_ms;
    assert_eq!(day_start_ms("1970-01-01"), Some(0));
    assert_eq!(day_start_ms("2026-11-21"), Some(1_795_219_200_000));
    assert_eq!(day_start_ms("2024-02-29").map(|m| m % 86_400_000), Some(0));
    assert_eq!(day_start_ms("2023-02-29"), None);
    assert_eq!(day_start_ms("2026-13-01"), None);
    assert_eq!(day_start_ms("26-1-1"), None);
}

#[test]
fn histograms_round_trip_and_merge_and_their_quantiles_are_within_a_bucket() {
    use crate::ingest::{bucket_ms, encode_histogram, latency_bucket, merge_histogram, Histogram};
    let mut h = Histogram::new();
    for ms in 1..=1000 {
        *h.entry(latency_bucket(ms as f64)).or_default() += 1;
    }
    let mut merged = Histogram::new();
    merge_histogram(&mut merged, &encode_histogram(&h));
    merge_histogram(&mut merged, &encode_histogram(&h));
    assert_eq!(merged.len(), h.len());
    assert!(merged.iter().all(|(le, n)| *n == 2 * h[le]));
    // A torn trailing pair is ignored, not misread.
    let mut torn = encode_histogram(&h);
    torn.truncate(torn.len() - 3);
    let mut partial = Histogram::new();
    merge_histogram(&mut partial, &torn);
    assert_eq!(partial.len(), h.len() - 1);
    // Each bucket stands for a value within ~5% of what fell in it.
    for ms in [3.0, 50.0, 337.0, 12_000.0] {
        let back = bucket_ms(latency_bucket(ms));
        assert!((back - ms).abs() / ms < 0.06, "{ms} -> {back}");
    }
}
