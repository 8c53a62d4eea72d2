//! Tests of the `otlp` receiver on real sockets (127.0.0.1, port 0), replaying
//! the Claude Code captures in `tests/fixtures/claude-code/captures`.

mod captures;
mod config;
mod grpc;
mod http;
mod inflate;
mod lifecycle;
mod limits;
mod security;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ccpipe_pipeline::channel::{self, Receiver};
use ccpipe_pipeline::outputs::{Outputs, PipelineInput};
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{ComponentId, Records, Shutdown, Signal};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::conn::Acceptor;
use super::grpc::GrpcSettings;
use super::http::HttpSettings;
use super::Sink;

/// Upper bound for any single network step in these tests.
pub(super) const STEP: Duration = Duration::from_secs(10);

/// The pipeline queues behind a receiver, one per signal.
pub(super) struct Queues {
    rx: BTreeMap<Signal, Receiver<Batch>>,
}

impl Queues {
    /// The batch waiting on `signal`'s queue, decoded; panics when there is none.
    pub(super) fn take(&self, signal: Signal) -> Records {
        self.rx[&signal]
            .try_recv()
            .unwrap_or_else(|| panic!("no {signal} batch arrived"))
            .into_records()
            .expect("a checked request decodes")
    }

    pub(super) fn all_empty(&self) -> bool {
        self.rx.values().all(|rx| rx.is_empty())
    }
}

/// Outputs with one queue of `capacity` for each of `signals`.
pub(super) fn outputs(signals: &[Signal], capacity: usize) -> (Outputs, Queues) {
    outputs_with(signals, || channel::bounded(capacity))
}

/// Outputs with one queue of many items but a byte budget of `max_bytes`
/// for each of `signals` (a queue always admits one item when empty).
pub(super) fn outputs_in_bytes(signals: &[Signal], max_bytes: usize) -> (Outputs, Queues) {
    outputs_with(signals, || channel::bounded_bytes(64, max_bytes))
}

fn outputs_with(
    signals: &[Signal],
    queue: impl Fn() -> (channel::Sender<Batch>, Receiver<Batch>),
) -> (Outputs, Queues) {
    let mut outputs = Outputs::default();
    let mut rx = BTreeMap::new();
    for &signal in signals {
        let (tx, r) = queue();
        let pipeline = signal.as_str().to_owned();
        outputs.add(
            signal,
            PipelineInput {
                pipeline,
                sender: tx,
                durable: None,
            },
        );
        rx.insert(signal, r);
    }
    (outputs, Queues { rx })
}

pub(super) fn sink(name: &str, outputs: Outputs, wait: Duration) -> Arc<Sink> {
    Arc::new(Sink::new(
        &ComponentId::new("otlp", Some(name)),
        outputs,
        wait,
    ))
}

pub(super) fn http_settings(max_request_body_size: usize) -> HttpSettings {
    HttpSettings {
        max_request_body_size,
        logs_path: "/v1/logs".to_owned(),
        metrics_path: "/v1/metrics".to_owned(),
        traces_path: "/v1/traces".to_owned(),
        read_header_timeout: Duration::from_secs(30),
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
    }
}

/// A server task on 127.0.0.1 with its shutdown token.
pub(super) struct Running {
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub task: JoinHandle<Result<(), ccpipe_pipeline::ServerError>>,
}

impl Running {
    /// Fires the shutdown and waits (bounded) for the server to return Ok.
    pub(super) async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(STEP, self.task)
            .await
            .expect("the server did not stop in time");
        result
            .expect("server task panicked")
            .expect("server failed");
    }
}

async fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Spawns `serve` on the listener `acceptor` with a fresh shutdown token.
fn spawn<F>(acceptor: Acceptor, serve: impl FnOnce(Acceptor, Shutdown) -> F) -> Running
where
    F: Future<Output = Result<(), ccpipe_pipeline::ServerError>> + Send + 'static,
{
    let addr = acceptor.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(serve(acceptor, shutdown.clone()));
    Running {
        addr,
        shutdown,
        task,
    }
}

/// Serves OTLP/HTTP on `acceptor` (plain or TLS).
pub(super) fn start_http_on(
    acceptor: impl Into<Acceptor>,
    settings: HttpSettings,
    sink: Arc<Sink>,
) -> Running {
    spawn(acceptor.into(), |acceptor, shutdown| {
        super::http::serve(acceptor, settings, sink, shutdown)
    })
}

/// Serves OTLP/gRPC on `acceptor` (plain or TLS).
pub(super) fn start_grpc_on(
    acceptor: impl Into<Acceptor>,
    settings: GrpcSettings,
    sink: Arc<Sink>,
) -> Running {
    spawn(acceptor.into(), |acceptor, shutdown| {
        super::grpc::serve(acceptor, settings, sink, shutdown)
    })
}

pub(super) async fn start_http(settings: HttpSettings, sink: Arc<Sink>) -> Running {
    start_http_on(local_listener().await, settings, sink)
}

pub(super) async fn start_grpc(settings: GrpcSettings, sink: Arc<Sink>) -> Running {
    start_grpc_on(local_listener().await, settings, sink)
}

/// A hand-written HTTP/1.1 client on one keep-alive connection, so tests
/// see exactly what goes over the wire and whether the connection survives.
pub(super) struct H1 {
    stream: BufReader<TcpStream>,
}

/// One HTTP response as read off the wire.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl H1 {
    pub(super) async fn connect(addr: SocketAddr) -> H1 {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        H1 {
            stream: BufReader::new(stream),
        }
    }

    /// Sends a request with `content-length` and reads the answer.
    pub(super) async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: ccpipe.test\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.write(&request).await;
        self.read_answer().await
    }

    /// POSTs `body` with a content type and an optional content encoding.
    pub(super) async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        encoding: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let mut headers = vec![("content-type", content_type)];
        if let Some(e) = encoding {
            headers.push(("content-encoding", e));
        }
        self.request("POST", path, &headers, body).await
    }

    pub(super) async fn write(&mut self, bytes: &[u8]) {
        let stream = self.stream.get_mut();
        tokio::time::timeout(STEP, stream.write_all(bytes))
            .await
            .expect("write timed out")
            .unwrap();
    }

    pub(super) async fn read_answer(&mut self) -> Answer {
        tokio::time::timeout(STEP, self.read_answer_inner())
            .await
            .expect("no answer in time")
    }

    async fn read_answer_inner(&mut self) -> Answer {
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
        let status = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (name, value) = l.split_once(':').unwrap();
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut answer = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = answer
            .header("content-length")
            .expect("every answer has a content-length")
            .parse()
            .unwrap();
        answer.body = vec![0; len];
        self.stream.read_exact(&mut answer.body).await.unwrap();
        answer
    }

    /// True when the server closed the connection (EOF within a bound).
    pub(super) async fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(STEP, self.stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => panic!("unexpected data after the answer"),
            Err(_) => false,
        }
    }
}

/// A `metrics` recorder that keeps counters, installed once for the test
/// process. Tests tell their counts apart by the `receiver` label.
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<HashMap<metrics::Key, Arc<AtomicU64>>>,
}

impl metrics::Recorder for TestRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let mut counters = self.counters.lock().unwrap();
        metrics::Counter::from_arc(counters.entry(key.clone()).or_default().clone())
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

fn recorder() -> &'static TestRecorder {
    static RECORDER: OnceLock<&'static TestRecorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder: &'static TestRecorder = Box::leak(Box::default());
        metrics::set_global_recorder(recorder).expect("no other recorder in tests");
        recorder
    })
}

/// Installs the test recorder; call before the counted requests.
pub(super) fn record_metrics() {
    recorder();
}

/// The sum of counter `name` over the series that carry all of `labels`.
pub(super) fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    let counters = recorder().counters.lock().unwrap();
    counters
        .iter()
        .filter(|(key, _)| key.name() == name)
        .filter(|(key, _)| {
            labels
                .iter()
                .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, value)| value.load(Ordering::Relaxed))
        .sum()
}
