//! The `clickhouse` exporter's modern schema (the default) on a current
//! ClickHouse engine: chDB, ClickHouse as a Python module, installed from the
//! Python package registry into a venv under target/ on first run (Debian
//! ships only ClickHouse 18.16, which tests/clickhouse.rs runs with
//! `schema: compat_18_16`).
//!
//! The exporter's own `CREATE TABLE`s (with `ttl`) and views are executed,
//! the rows it makes from every capture variant are inserted as it sends
//! them (`INSERT … FORMAT JSONEachRow`), and then the same counts and sums
//! as on 18.16 must hold and every query of docs/clickhouse.md, as written,
//! must find rows. chDB has no HTTP interface: the HTTP client is tested
//! against 18.16 only.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use ccpipe_exporters::clickhouse::rows::encode;
use ccpipe_exporters::clickhouse::schema::view_sql;
use ccpipe_exporters::clickhouse::{Schema, Table};
use common::clickhouse::{check_tables, documented_queries, expected};
use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The venv's python, with chDB installed.
fn venv_python() -> PathBuf {
    common::venv::install("chdb-venv", "tests/python/chdb_requirements.txt").join("bin/python")
}

/// tests/python/chdb_run.py: one embedded ClickHouse answering SQL a line at
/// a time; killed on drop.
struct Chdb {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Chdb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chdb {
    fn start(dir: &Path) -> Chdb {
        let mut child = Command::new(venv_python())
            .arg(Path::new(ROOT).join("tests/python/chdb_run.py"))
            .arg(dir.join("chdb"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("chdb_run.py starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Chdb {
            child,
            stdin,
            stdout,
        }
    }

    /// `sql`, followed by the contents of `data` when given.
    fn run(&mut self, sql: &str, data: Option<&Path>) -> Result<String, String> {
        let step = serde_json::json!({ "sql": sql, "data": data });
        writeln!(self.stdin, "{step}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("chdb_run.py answered {line:?}: {e}"));
        match answer["ok"].as_bool() {
            Some(true) => Ok(answer["out"].as_str().unwrap().trim_end().to_owned()),
            _ => Err(answer["error"].as_str().unwrap_or("no answer").to_owned()),
        }
    }

    fn must(&mut self, sql: &str) -> String {
        self.run(sql, None)
            .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
    }

    /// The exporter's modern schema in `db`: tables (with `ttl`) and views.
    fn create_schema(&mut self, db: &str, ttl: Option<Duration>) {
        self.must(&format!("CREATE DATABASE IF NOT EXISTS {db}"));
        for table in Table::ALL {
            self.must(&table.create_sql(db, Schema::Modern, ttl));
        }
        for view in view_sql(db, Schema::Modern) {
            self.must(&view);
        }
    }

    /// Inserts `captures` as the exporter's modern rows, one INSERT per table
    /// and batch as it sends them.
    fn insert(&mut self, dir: &Path, db: &str, captures: &[Capture]) {
        for (i, c) in captures.iter().enumerate() {
            for insert in encode(&c.expected, Schema::Modern) {
                let file = dir.join(format!("{db}-{i}-{}.jsonl", insert.table.name()));
                std::fs::write(&file, &insert.body).unwrap();
                let sql = format!(
                    "INSERT INTO {db}.{} FORMAT JSONEachRow",
                    insert.table.name()
                );
                self.run(&sql, Some(&file))
                    .unwrap_or_else(|e| panic!("{sql} ({}): {e}", c.file));
            }
        }
    }
}

#[test]
fn the_modern_schema_holds_every_capture_and_answers_the_documented_queries() {
    let dir = temp_dir("clickhouse-modern");
    let mut chdb = Chdb::start(&dir);
    let version = chdb.must("SELECT version()");
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 22, "a current ClickHouse, got {version}");

    for variant in VARIANTS {
        let db = format!("v_{}", variant.replace('-', "_"));
        chdb.create_schema(&db, None);
        let captures = load_variant(variant);
        chdb.insert(&dir, &db, &captures);
        let want = expected(&captures);
        check_tables(&mut |sql| chdb.must(sql), &db, &want, variant);
    }
    for query in documented_queries() {
        let sql = query.replace("otel.", "v_http_protobuf.");
        let rows = chdb.must(&sql);
        assert!(!rows.is_empty(), "no rows from:\n{sql}");
    }
    // The Map columns answer by key, as the docs' queries use them.
    let model = chdb.must(
        "SELECT any(LogAttributes['model']) FROM v_http_protobuf.otel_logs \
         WHERE EventName = 'api_request'",
    );
    assert!(model.starts_with("claude-"), "{model}");
}

#[test]
fn ttl_is_a_clause_that_drops_expired_parts() {
    let dir = temp_dir("clickhouse-modern-ttl");
    let mut chdb = Chdb::start(&dir);
    chdb.create_schema("ttl_db", Some(Duration::from_secs(3600)));
    let ddl = chdb.must("SHOW CREATE TABLE ttl_db.otel_logs");
    assert!(
        ddl.contains("TTL TimestampTime + toIntervalSecond(3600)")
            && ddl.contains("ttl_only_drop_parts = 1"),
        "{ddl}"
    );
    // The captures are older than an hour: once merged, nothing is left.
    let captures = load_variant("http-protobuf");
    chdb.insert(&dir, "ttl_db", &captures);
    for table in ["otel_logs", "otel_metrics_sum", "otel_traces"] {
        chdb.must(&format!("OPTIMIZE TABLE ttl_db.{table} FINAL"));
        let n = chdb.must(&format!("SELECT count() FROM ttl_db.{table}"));
        assert_eq!(n, "0", "{table}: expired rows kept");
    }
    let _ = std::fs::remove_dir_all(dir);
}
