//! The `sqlite` exporter: its config table, what it stores (secrets masked),
//! and the errors a user meets at start.

use std::time::Duration;

use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{Batch, BlockingExporter, Records};
use ccpipe_store::{Filter, Store};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use super::*;
use crate::testutil::{assert_config_table, captures, component, load_config, runtime, TempDir};

#[test]
fn sqlite_config_table() {
    let config = load_config("sqlite");
    assert_config_table(
        &config,
        &[
            ("sqlite", Ok(())),
            ("sqlite/all_keys", Ok(())),
            ("sqlite/keep_everything", Ok(())),
            (
                "sqlite/empty_path",
                Err("sqlite.yaml:24: exporters.sqlite/empty_path.path: must not be empty"),
            ),
            ("sqlite/no_path", Ok(())),
            (
                "sqlite/max_age_short",
                Err("sqlite.yaml:30: exporters.sqlite/max_age_short.max_age: must be 0 (keep everything) or at least 1h"),
            ),
            (
                "sqlite/max_age_huge",
                Err("sqlite.yaml:33: exporters.sqlite/max_age_huge.max_age: invalid duration \"100000h\": must be at most 8760h (a year)"),
            ),
            (
                "sqlite/max_size_small",
                Err("sqlite.yaml:36: exporters.sqlite/max_size_small.max_size: must be 0 (no limit) or at least 1MiB"),
            ),
            (
                "sqlite/typo",
                Err("sqlite.yaml:39: exporters.sqlite/typo.max_ages: unknown field `max_ages`, expected one of `path`, `max_age`, `max_size`, `sending_queue`, `retry_on_failure`"),
            ),
            ("sqlite/durable", Ok(())),
        ],
    );

    let settings = |id| {
        component(&config, id)
            .parse::<SqliteConfig>()
            .unwrap()
            .settings()
            .unwrap()
    };
    let defaults = settings("sqlite");
    assert_eq!(
        defaults.path,
        std::path::Path::new("./ccpipe-data/ccpipe.db")
    );
    assert_eq!(
        defaults.retention.max_age,
        Some(Duration::from_secs(365 * 86_400))
    );
    assert_eq!(defaults.retention.max_size, Some(2 << 30));
    let parsed: SqliteConfig = component(&config, "sqlite").parse().unwrap();
    assert_eq!(
        parsed.retry_on_failure.policy().max_elapsed_time,
        Duration::ZERO,
        "a local store retries until stored"
    );
    let all = settings("sqlite/all_keys");
    assert_eq!(all.retention.max_age, Some(Duration::from_secs(720 * 3600)));
    assert_eq!(all.retention.max_size, Some(512 << 20));
    assert_eq!(
        Some(settings("sqlite/no_path").path),
        ccpipe_store::default_path(),
        "the per-user default"
    );
    let none = settings("sqlite/keep_everything");
    assert_eq!(none.retention, Retention::default());
}

/// A prompt that holds an API key, as a user might paste one.
fn with_secret_prompt(mut batch: Records, secret: &str) -> Records {
    let Records::Logs(req) = &mut batch else {
        panic!("logs")
    };
    for rl in &mut req.resource_logs {
        for sl in &mut rl.scope_logs {
            for r in &mut sl.log_records {
                for kv in &mut r.attributes {
                    if kv.key == "prompt" {
                        kv.value.as_mut().unwrap().value =
                            Some(Value::StringValue(format!("deploy with {secret} please")));
                    }
                }
            }
        }
    }
    batch
}

#[test]
fn stores_every_signal_with_secrets_masked_and_leaves_the_batch_alone() {
    let dir = TempDir::new("sqlite-store");
    let settings = SqliteSettings {
        path: dir.join("data/ccpipe.db"),
        retention: Retention::default(),
    };
    let mut exporter = SqliteExporter::open("sqlite", &settings).unwrap();
    let secret = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-AbCdEfAA";
    let mut items = 0;
    for (_, batch) in captures("http-protobuf") {
        let batch = match &batch {
            Records::Logs(_) => with_secret_prompt(batch, secret),
            _ => batch,
        };
        let before = batch.clone();
        exporter.export(&Batch::from(batch.clone())).unwrap();
        assert_eq!(batch, before, "other exporters see the batch unchanged");
        items += batch.item_count();
    }
    exporter.flush().unwrap();

    let store = Store::open_read_only(&settings.path).unwrap();
    let summary = store.summary(&Filter::default()).unwrap();
    assert!(summary.cost_usd > 0.0 && summary.tool_calls > 0 && summary.api_requests > 0);
    let raw: i64 = ["events", "metric_points", "spans"]
        .iter()
        .map(|t| rusqlite_count(&settings.path, t))
        .sum();
    assert_eq!(raw as usize, items, "every record, point and span");
    let id = &store.top_sessions(&Filter::default(), 1).unwrap()[0].session_id;
    let page = store.session(id).unwrap().unwrap();
    let prompt = page
        .events
        .iter()
        .find_map(|e| e.prompt.clone())
        .expect("the prompt was kept");
    assert!(!prompt.contains(secret), "{prompt}");
    assert!(prompt.contains("<redacted:"), "{prompt}");
}

/// A secret in a span event (a tool's `tool.output`: the file it read) is
/// masked before it is stored, as one in a prompt is.
#[test]
fn a_secret_in_a_span_event_is_stored_masked() {
    let dir = TempDir::new("sqlite-span-event");
    let settings = SqliteSettings {
        path: dir.join("ccpipe.db"),
        retention: Retention::default(),
    };
    let mut exporter = SqliteExporter::open("sqlite", &settings).unwrap();
    let secret = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-AbCdEfAA";
    for (_, mut batch) in captures("http-protobuf") {
        if let Records::Traces(req) = &mut batch {
            let events = req
                .resource_spans
                .iter_mut()
                .flat_map(|r| &mut r.scope_spans)
                .flat_map(|s| &mut s.spans)
                .flat_map(|s| &mut s.events);
            for kv in events.flat_map(|e| &mut e.attributes) {
                if kv.key == "content" {
                    kv.value.as_mut().unwrap().value =
                        Some(Value::StringValue(format!("ANTHROPIC_API_KEY={secret}\n")));
                }
            }
        }
        exporter.export(&Batch::from(batch)).unwrap();
    }
    exporter.flush().unwrap();

    let store = Store::open_read_only(&settings.path).unwrap();
    let id = &store.top_sessions(&Filter::default(), 1).unwrap()[0].session_id;
    let page = store.session(id).unwrap().unwrap();
    let contents: Vec<&str> = page
        .spans
        .iter()
        .flat_map(|s| &s.events)
        .filter_map(|e| e.attrs.get("content").and_then(|v| v.as_str()))
        .collect();
    assert!(!contents.is_empty(), "the tool.output events were stored");
    for c in contents {
        assert!(!c.contains(secret) && c.contains("<redacted:"), "{c}");
    }
}

/// Rows of `table`, read with a plain SQL count through the store's own
/// read-only open (the test links no SQLite of its own).
fn rusqlite_count(path: &std::path::Path, table: &str) -> i64 {
    let store = Store::open_read_only(path).unwrap();
    store.count_rows(table).unwrap()
}

#[test]
fn an_unusable_database_fails_at_start_naming_the_path_and_what_to_do() {
    let dir = TempDir::new("sqlite-bad");
    let damaged = dir.join("damaged.db");
    std::fs::write(&damaged, vec![0x42; 4096]).unwrap();
    let open = |path: std::path::PathBuf| {
        SqliteExporter::open(
            "sqlite",
            &SqliteSettings {
                path,
                retention: Retention::default(),
            },
        )
        .err()
        .expect("refused")
        .to_string()
    };
    let e = open(damaged.clone());
    assert!(
        e.contains(&damaged.display().to_string()) && e.contains("move it away"),
        "{e}"
    );
    // A folder where the file should be, and a file where a folder should be.
    let e = open(dir.path().to_path_buf());
    assert!(e.contains(&dir.path().display().to_string()), "{e}");
    let e = open(damaged.join("under-a-file.db"));
    assert!(
        e.contains("under-a-file.db") && e.contains("cannot create the folder"),
        "{e}"
    );
}

#[test]
fn build_through_the_registry_then_shutdown() {
    let dir = TempDir::new("sqlite-build");
    let yaml = format!(
        "receivers:\n  otlp:\nexporters:\n  sqlite:\n    path: {}\n\
         service:\n  pipelines:\n    logs: {{ receivers: [otlp], exporters: [sqlite] }}\n",
        dir.join("x/ccpipe.db").display()
    );
    let config = ccpipe_pipeline::config::load_str("sqlite.yaml", &yaml).unwrap();
    let built = Factory
        .build(component(&config, "sqlite"), &Listeners::new())
        .unwrap();
    let mut exporter = built.exporter;
    let rt = runtime();
    let (_, batch) = captures("http-protobuf").remove(1);
    rt.block_on(exporter.export(Batch::from(batch))).unwrap();
    rt.block_on(exporter.shutdown()).unwrap();
    let store = Store::open_read_only(dir.join("x/ccpipe.db")).unwrap();
    assert!(store.summary(&Filter::default()).unwrap().api_requests > 0);
}
