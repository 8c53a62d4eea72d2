//! The lifecycle of every registered exporter, as the Collector's generated
//! component tests: for each entry of [`FACTORIES`], build it from
//! `testdata/<type>/lifecycle.yaml`, shut it down without sending anything,
//! then build it again, export one batch of each signal it takes and shut
//! it down; whatever peer it talks to (a fake on 127.0.0.1 port 0, a file,
//! its own `/metrics`) must have received every batch. A new exporter is
//! covered by its line in the list; a missing `lifecycle.yaml` fails here.
//!
//! Placeholders in `lifecycle.yaml`: `{otlp_grpc}` and `{otlp_http}` (fake
//! OTLP servers), `{clickhouse}` (a fake ClickHouse HTTP interface), `{dir}`
//! (a fresh directory), `{store}` (a fresh directory for a store database),
//! `{free_port}` (a port nothing listens on), `{kafka}` (a Kafka-protocol
//! broker with the Collector's three topics).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ccpipe_pipeline::config::load_str;
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::testing::{indented, lifecycle_yaml};
use ccpipe_pipeline::{Batch, ComponentId, Records, Signal};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::fake_otlp::{start_grpc, start_http};
use crate::testutil::{golden_batches, runtime, TempDir};
use crate::FACTORIES;

#[test]
fn every_exporter_builds_exports_each_signal_and_shuts_down() {
    let rt = runtime();
    for factory in FACTORIES {
        rt.block_on(lifecycle(*factory));
    }
}

async fn lifecycle(factory: &dyn ExporterFactory) {
    let ty = factory.type_name();
    let template = lifecycle_yaml(env!("CARGO_MANIFEST_DIR"), ty);
    let uses = |placeholder: &str| template.contains(placeholder);
    let grpc = start_grpc().await;
    let http = start_http(|_, _| (200, None)).await;
    let clickhouse = FakeClickhouse::start().await;
    let dir = TempDir::new(&format!("lifecycle-{ty}"));
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kafka = uses("{kafka}")
        .then(|| ccpipe_kafka::testing::Broker::start(&ccpipe_kafka::testing::OTLP_TOPICS));
    let settings = template
        .replace(
            "{kafka}",
            &kafka.as_ref().map(|b| b.address()).unwrap_or_default(),
        )
        .replace("{otlp_grpc}", &grpc.endpoint)
        .replace("{otlp_http}", &http.endpoint)
        .replace("{clickhouse}", &clickhouse.endpoint)
        .replace("{dir}", &dir.path().display().to_string())
        .replace("{store}", &dir.path().display().to_string())
        .replace("{free_port}", &free_port.to_string());
    let signals = factory.signals();
    assert!(!signals.is_empty(), "{ty} takes no signal");
    let config = load_str("lifecycle.yaml", &whole_config(ty, &settings, signals))
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    let cfg = &config.exporters[&ty.parse::<ComponentId>().unwrap()];
    factory
        .validate(cfg)
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    for &signal in signals {
        let unsupported = factory.unsupported(cfg, signal).unwrap();
        assert_eq!(unsupported, None, "{ty} refuses {signal}");
    }

    // Shut down without having been sent anything.
    let mut built = factory
        .build(cfg, &Listeners::new())
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    built
        .exporter
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{ty}: shutdown without data: {e}"));
    drop(built);

    // One batch of each signal it takes, then shut down (which flushes).
    let mut built = factory
        .build(cfg, &Listeners::new())
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    let batches: Vec<Records> = golden_batches()
        .into_iter()
        .filter(|(s, _)| signals.contains(s))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(batches.len(), signals.len(), "{ty}");
    for batch in batches {
        let signal = batch.signal();
        built
            .exporter
            .export(Batch::from(batch))
            .await
            .unwrap_or_else(|e| panic!("{ty}: export {signal}: {e}"));
    }
    let scraped = match uses("{free_port}") {
        true => scrape(free_port).await,
        false => String::new(),
    };
    built
        .exporter
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{ty}: shutdown: {e}"));

    // What its peer received.
    if uses("{otlp_grpc}") {
        assert_eq!(grpc.fake.calls().len(), signals.len(), "{ty}: gRPC calls");
    }
    if uses("{otlp_http}") {
        let got: Vec<Signal> = http.fake.calls().iter().map(|c| c.batch.signal()).collect();
        assert_eq!(got, signals.to_vec(), "{ty}: HTTP requests");
    }
    if uses("{clickhouse}") {
        let inserts = clickhouse.inserted_tables();
        assert!(inserts.len() >= signals.len(), "{ty}: inserts {inserts:?}");
    }
    if uses("{dir}") {
        let mut lines = 0;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            lines += std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .lines()
                .count();
        }
        assert_eq!(lines, signals.len(), "{ty}: lines written");
    }
    if uses("{store}") {
        let db = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "db"))
            .unwrap_or_else(|| panic!("{ty}: no database"));
        let store = ccpipe_store::Store::open_read_only(&db).unwrap();
        let tables = [
            (Signal::Logs, "events"),
            (Signal::Metrics, "metric_points"),
            (Signal::Traces, "spans"),
        ];
        for (signal, table) in tables {
            let rows = store.count_rows(table).unwrap();
            assert_eq!(
                rows > 0,
                signals.contains(&signal),
                "{ty}: {table} rows {rows}"
            );
        }
    }
    if let Some(broker) = &kafka {
        let messages: i64 = ccpipe_kafka::testing::OTLP_TOPICS
            .iter()
            .map(|t| broker.messages(t))
            .sum();
        assert_eq!(messages, signals.len() as i64, "{ty}: messages in Kafka");
    }
    if uses("{free_port}") {
        assert!(
            scraped.starts_with("HTTP/1.1 200") && scraped.contains("claude_code_"),
            "{ty}: /metrics answered {scraped}"
        );
    }
}

/// `settings` as exporter `ty` of a config with one pipeline per signal.
fn whole_config(ty: &str, settings: &str, signals: &[Signal]) -> String {
    let indented = indented(settings);
    let pipelines: String = signals
        .iter()
        .map(|s| format!("    {s}: {{ receivers: [otlp], exporters: [{ty}] }}\n"))
        .collect();
    format!(
        "receivers:\n  otlp:\nexporters:\n  {ty}:\n{indented}service:\n  pipelines:\n{pipelines}"
    )
}

/// `GET /metrics` on 127.0.0.1:`port`, the whole answer as text.
async fn scrape(port: u16) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("/metrics answers in time")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// ClickHouse's HTTP interface as the exporter uses it: statements and
/// `INSERT … FORMAT JSONEachRow` as `POST /?query=…`, answered 200 with an
/// empty body (what ClickHouse answers to DDL and inserts).
struct FakeClickhouse {
    endpoint: String,
    queries: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeClickhouse {
    async fn start() -> FakeClickhouse {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let queries: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&queries);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let seen = Arc::clone(&seen);
                        async move { Ok::<_, std::convert::Infallible>(answer(req, &seen).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeClickhouse {
            endpoint,
            queries,
            task,
        }
    }

    /// The tables of the inserts received, in order.
    fn inserted_tables(&self) -> Vec<String> {
        self.queries
            .lock()
            .unwrap()
            .iter()
            .filter_map(|q| q.strip_prefix("INSERT%20INTO%20"))
            .map(|rest| rest.split('%').next().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for FakeClickhouse {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records the statement (from `?query=`, still %-escaped, else the body)
/// and answers 200.
async fn answer(
    req: http::Request<hyper::body::Incoming>,
    seen: &Mutex<Vec<String>>,
) -> http::Response<Full<Bytes>> {
    let query = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("query="))
        .map(str::to_owned);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let statement = query.unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    seen.lock().unwrap().push(statement);
    http::Response::new(Full::new(Bytes::new()))
}
