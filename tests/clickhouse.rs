//! End to end against a real ClickHouse server (Debian's `clickhouse-server`,
//! 18.16, so the exporter's `schema: compat_18_16`), started here on 127.0.0.1 with a generated config, its own data
//! folder and a free HTTP port. If the server is not installed the test
//! installs it with apt-get, and fails (never skips) when it cannot.
//!
//! Every capture variant is replayed through ccpipe into its own database;
//! then counts and sums selected from the tables must equal what was sent,
//! and every query in docs/clickhouse.md must run, rewritten for 18.16 by the
//! rule the doc states (`X['k']` → `X.Value[indexOf(X.Key, 'k')]`). The
//! modern schema is checked with an embedded current ClickHouse in
//! tests/clickhouse_modern.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccpipe_exporters::clickhouse::schema::map_to_nested;
use ccpipe_exporters::clickhouse::{
    ClickhouseExporter, ClickhouseSettings, Client, Schema, SendError,
};
use ccpipe_pipeline::records::{Records, Signal};
use ccpipe_pipeline::{config, ExportError, Exporter};
use common::clickhouse::{check_tables, documented_queries, expected, Expected};
use common::*;

const USER: &str = "ccpipe";
const PASSWORD: &str = "test-Pa55";
const SERVER: &str = "/usr/sbin/clickhouse-server";

/// A clickhouse-server of our own; killed (by its pid) and its folder
/// removed on drop.
struct ClickhouseServer {
    child: Child,
    dir: PathBuf,
    endpoint: String,
}

impl Drop for ClickhouseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Installs Debian's clickhouse-server when it is missing.
fn ensure_installed() {
    if Path::new(SERVER).exists() {
        return;
    }
    let install = || {
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "clickhouse-server",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    if !install().is_ok_and(|s| s.success()) {
        let _ = Command::new("apt-get").arg("update").status();
        let status = install();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()) && Path::new(SERVER).exists(),
            "clickhouse-server is not installed and `apt-get install clickhouse-server` failed: {status:?}"
        );
    }
}

fn server_config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{port}</http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/data/tmp/</tmp_path>
  <user_files_path>{d}/data/user_files/</user_files_path>
  <format_schema_path>{d}/data/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>20</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
  <timezone>UTC</timezone>
</yandex>
"#
    )
}

fn users_config() -> String {
    format!(
        r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
  <users>
    <{USER}>
      <password>{PASSWORD}</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </{USER}>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"#
    )
}

impl ClickhouseServer {
    fn start(name: &str) -> ClickhouseServer {
        ensure_installed();
        let dir = temp_dir(&format!("clickhouse-{name}"));
        let mut last_log = String::new();
        // A port picked now may be taken before the server binds it: try a few.
        for _ in 0..3 {
            let port = free_port();
            std::fs::write(dir.join("config.xml"), server_config(&dir, port)).unwrap();
            std::fs::write(dir.join("users.xml"), users_config()).unwrap();
            let log = std::fs::File::create(dir.join("server.log")).unwrap();
            let child = Command::new(SERVER)
                .arg(format!(
                    "--config-file={}",
                    dir.join("config.xml").display()
                ))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("clickhouse-server starts");
            let mut server = ClickhouseServer {
                child,
                dir: dir.clone(),
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                if ping(port) {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            last_log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            let _ = server.child.kill();
            let _ = server.child.wait();
            std::mem::forget(server); // keep the folder for the next try
        }
        panic!("clickhouse-server did not answer /ping within 30 s; its log:\n{last_log}");
    }

    fn settings(&self, database: &str) -> ClickhouseSettings {
        let mut s = ClickhouseSettings::new(&self.endpoint, database);
        s.username = USER.into();
        s.password = PASSWORD.into();
        s.schema = Schema::Compat1816;
        s
    }

    fn client(&self) -> Client {
        Client::new(&self.settings("default")).unwrap()
    }
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

async fn select(client: &Client, sql: &str) -> String {
    let answer = client
        .execute(&format!("{sql} FORMAT TabSeparated"))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    String::from_utf8(answer.to_vec())
        .unwrap()
        .trim_end()
        .to_owned()
}

async fn replay(server: &ClickhouseServer, variant: &str, database: &str) -> Expected {
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  batch: {{ send_batch_size: 50, timeout: 50ms }}
exporters:
  clickhouse:
    endpoint: {endpoint}
    database: {database}
    username: {USER}
    password: {PASSWORD}
    schema: compat_18_16
    ttl: 0
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 20s }}
service:
  shutdown_timeout: 20s
  pipelines:
    logs:    {{ receivers: [otlp], processors: [batch], exporters: [clickhouse] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [clickhouse] }}
    traces:  {{ receivers: [otlp], processors: [batch], exporters: [clickhouse] }}
"#,
        endpoint = server.endpoint
    );
    let cfg = config::load_str("clickhouse.yaml", &yaml).expect("config loads");
    let service = InProcess::start(&cfg).await.expect("service builds");

    let captures = load_variant(variant);
    assert!(!captures.is_empty(), "{variant}: no captures");
    send_captures(&service, &captures).await;
    let summary = service.stop().await.expect("clean shutdown");
    let sent: usize = captures.iter().map(|c| c.items).sum();
    assert_eq!(
        summary.items_sent as usize, sent,
        "{variant}: every item exported"
    );
    assert_eq!(summary.items_failed, 0, "{variant}");
    expected(&captures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capture_variant_lands_in_clickhouse() {
    // Export errors show in the output of a failed run.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_test_writer()
        .try_init();
    let server = ClickhouseServer::start("replay");
    let client = server.client();
    assert_eq!(select(&client, "SELECT version()").await, "18.16.1");
    for variant in VARIANTS {
        let db = format!("v_{}", variant.replace('-', "_"));
        let want = replay(&server, variant, &db).await;
        let mut select_blocking = |sql: &str| {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(select(&client, sql))
            })
        };
        check_tables(&mut select_blocking, &db, &want, variant);
    }
    // Every documented query runs and finds something in the full capture.
    for query in documented_queries() {
        let sql = map_to_nested(&query).replace("otel.", "v_http_protobuf.");
        let rows = select(&client, &sql).await;
        assert!(!rows.is_empty(), "no rows from:\n{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_retries_and_rejections() {
    let server = ClickhouseServer::start("ttl");
    let client = server.client();

    // ttl: partitions whose whole UTC day is older than ttl are dropped.
    let mut settings = server.settings("ttl_db");
    settings.ttl = Some(Duration::from_secs(72 * 3600));
    let mut exporter = ClickhouseExporter::new(settings).unwrap();
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let day = 86_400 * 1_000_000_000u64;
    let logs = |ns: u64| {
        let mut b = load_variant("http-protobuf")
            .into_iter()
            .find(|c| c.signal == Signal::Logs)
            .map(|c| c.expected)
            .unwrap();
        if let Records::Logs(r) = &mut b {
            for rec in r
                .resource_logs
                .iter_mut()
                .flat_map(|rl| &mut rl.scope_logs)
                .flat_map(|sl| &mut sl.log_records)
            {
                rec.time_unix_nano = ns;
            }
        }
        b
    };
    let old = logs(now_ns - 10 * day);
    let recent = logs(now_ns - day / 2);
    let per_batch = old.item_count() as u64;
    exporter.export(old.into()).await.unwrap();
    exporter.export(recent.into()).await.unwrap();
    let count = "SELECT count() FROM ttl_db.otel_logs";
    assert_eq!(select(&client, count).await, (2 * per_batch).to_string());
    assert_eq!(exporter.expire().await.unwrap(), 1, "one old day dropped");
    assert_eq!(select(&client, count).await, per_batch.to_string());
    assert_eq!(exporter.expire().await.unwrap(), 0);

    // A wrong password is permanent, with ClickHouse's message and no password.
    let mut wrong = server.settings("ttl_db");
    wrong.password = "not-the-password".into();
    let mut exporter = ClickhouseExporter::new(wrong).unwrap();
    match exporter.export(logs(now_ns).into()).await {
        Err(ExportError::Permanent(m)) => {
            assert!(
                m.contains("Code: 193") && m.contains("Wrong password"),
                "{m}"
            );
            assert!(!m.contains("not-the-password"), "{m}");
        }
        other => panic!("wrong password: {other:?}"),
    }

    // A missing table (create_schema off) is permanent.
    let mut no_schema = server.settings("no_such_db");
    no_schema.create_schema = false;
    let mut exporter = ClickhouseExporter::new(no_schema).unwrap();
    match exporter.export(logs(now_ns).into()).await {
        Err(ExportError::Permanent(m)) => assert!(m.contains("Code: 81"), "{m}"),
        other => panic!("missing database: {other:?}"),
    }

    // A rejected statement is permanent; a server that is gone is retryable.
    match client.execute("SELEC 1").await {
        Err(SendError::Permanent(m)) => assert!(m.contains("Code: 62"), "{m}"),
        other => panic!("syntax error: {other:?}"),
    }
    let endpoint = server.endpoint.clone();
    drop(server);
    let gone = Client::new(&ClickhouseSettings::new(&endpoint, "otel")).unwrap();
    assert!(matches!(
        gone.execute("SELECT 1").await,
        Err(SendError::Retryable(_))
    ));
}
