//! Building through the registry, `local_addrs`, and shutdown: with no
//! traffic, and with a request in flight.

use ccpipe_pipeline::factory::ReceiverFactory as _;
use std::time::Duration;

use ccpipe_pipeline::config::load_str;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{Receiver, Shutdown, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

use super::captures::channel;
use super::{outputs, H1, STEP};

const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/claude-code/captures"
);

fn logs_bin() -> Vec<u8> {
    std::fs::read(format!("{CAPTURES}/http-protobuf/otlp/0002-http-logs.bin")).unwrap()
}

/// Builds `receivers.otlp` from YAML through the registry, as the service does.
async fn build(yaml: &str, outputs: ccpipe_pipeline::outputs::Outputs) -> Box<dyn Receiver> {
    build_in(yaml, outputs, &Listeners::new()).await
}

async fn build_in(
    yaml: &str,
    outputs: ccpipe_pipeline::outputs::Outputs,
    listeners: &Listeners,
) -> Box<dyn Receiver> {
    let config = load_str("test.yaml", &with_pipeline(yaml)).unwrap();
    let cfg = config.receivers.values().next().unwrap();
    ccpipe_pipeline::factory::lookup(crate::FACTORIES, cfg)
        .and_then(|f| f.validate(cfg))
        .unwrap();
    match crate::otlp::Factory.build(cfg, outputs, listeners).await {
        Ok(receiver) => receiver,
        Err(e) => panic!("{e}"),
    }
}

/// Adds a pipeline that uses the receiver, so the config loads.
fn with_pipeline(receiver: &str) -> String {
    format!("{receiver}\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [debug]\n")
}

const BOTH_ON_PORT_0: &str = "
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: { endpoint: 'localhost:0' }
    backpressure_wait: 5s
";

async fn stops_in_time(task: tokio::task::JoinHandle<Result<(), ccpipe_pipeline::ReceiverError>>) {
    let result = tokio::time::timeout(STEP, task)
        .await
        .expect("run returns after shutdown");
    result.unwrap().expect("run returns Ok");
}

#[tokio::test]
async fn run_returns_after_shutdown_when_never_used() {
    let (outputs, _queues) = outputs(&Signal::ALL, 4);
    let receiver = build(BOTH_ON_PORT_0, outputs).await;
    let addrs = receiver.local_addrs();
    assert_eq!(
        addrs.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        ["grpc", "http"]
    );
    for (_, addr) in &addrs {
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
    }
    let shutdown = Shutdown::new();
    let task = tokio::spawn(receiver.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(20)).await;
    shutdown.cancel();
    shutdown.cancel();
    stops_in_time(task).await;
    // Both ports are closed afterwards.
    for (_, addr) in addrs {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still open"
        );
    }
}

#[tokio::test]
async fn run_returns_when_shutdown_fired_before_it_started() {
    let (outputs, _queues) = outputs(&Signal::ALL, 4);
    let receiver = build(BOTH_ON_PORT_0, outputs).await;
    let shutdown = Shutdown::new();
    shutdown.cancel();
    stops_in_time(tokio::spawn(receiver.run(shutdown))).await;
}

#[tokio::test]
async fn a_port_in_use_is_a_build_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      http: {{ endpoint: 127.0.0.1:{port} }}\n"
    );
    let config = load_str("test.yaml", &with_pipeline(&yaml)).unwrap();
    let cfg = config.receivers.values().next().unwrap();
    let error = crate::otlp::Factory
        .build(cfg, outputs(&Signal::ALL, 1).0, &Listeners::new())
        .await
        .err()
        .expect("the port is taken");
    let expected = format!(
        "receiver \"otlp\": cannot listen on http endpoint 127.0.0.1:{port}: 127.0.0.1:{port}: "
    );
    assert!(error.message.starts_with(&expected), "{}", error.message);
}

/// A request waiting for room in a full queue when shutdown starts is still
/// answered, and `run` returns only after that.
#[tokio::test]
async fn in_flight_http_request_completes_during_shutdown() {
    let (outputs, queues) = outputs(&Signal::ALL, 1);
    let receiver = build(BOTH_ON_PORT_0, outputs).await;
    let http = receiver.local_addrs()[1].1;
    let shutdown = Shutdown::new();
    let task = tokio::spawn(receiver.run(shutdown.clone()));

    let mut client = H1::connect(http).await;
    let answer = client
        .post("/v1/logs", "application/x-protobuf", None, &logs_bin())
        .await;
    assert_eq!(answer.status, 200);
    // The queue of one is full: this request waits (backpressure_wait is 5s).
    let in_flight = tokio::spawn(async move {
        let answer = client
            .post("/v1/logs", "application/x-protobuf", None, &logs_bin())
            .await;
        (answer.status, client.is_closed().await)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "run waits for the request in flight");
    assert!(
        tokio::net::TcpStream::connect(http).await.is_err(),
        "no new connections"
    );
    // Make room: the waiting request goes through and is answered.
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    let (status, closed) = tokio::time::timeout(STEP, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert!(closed, "the connection closes after the last answer");
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    stops_in_time(task).await;
}

#[tokio::test]
async fn in_flight_grpc_call_completes_during_shutdown() {
    let (outputs, queues) = outputs(&Signal::ALL, 1);
    let receiver = build(BOTH_ON_PORT_0, outputs).await;
    let grpc = receiver.local_addrs()[0].1;
    let shutdown = Shutdown::new();
    let task = tokio::spawn(receiver.run(shutdown.clone()));

    let bin = std::fs::read(format!("{CAPTURES}/grpc/otlp/0002-grpc-logs.bin")).unwrap();
    let request = ExportLogsServiceRequest::decode(&bin[..]).unwrap();
    let mut client = LogsServiceClient::new(channel(grpc).await);
    client.export(request.clone()).await.unwrap();
    let in_flight = tokio::spawn(async move { client.export(request).await.map(drop) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "run waits for the call in flight");
    queues.take(Signal::Logs);
    let result = tokio::time::timeout(STEP, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(queues.take(Signal::Logs).item_count(), 10);
    stops_in_time(task).await;
}

/// Reload: the receiver of the next graph takes over the sockets of the old
/// one. A connection made after the old receiver stopped and before the new
/// one runs waits in the backlog and is served by the new receiver.
#[tokio::test]
async fn a_rebuilt_receiver_keeps_the_sockets_open() {
    let first = Listeners::new();
    let (old_outputs, old_queues) = outputs(&Signal::ALL, 4);
    let old = build_in(BOTH_ON_PORT_0, old_outputs, &first).await;
    let addrs = old.local_addrs();
    let old_shutdown = Shutdown::new();
    let old_task = tokio::spawn(old.run(old_shutdown.clone()));

    let next = first.successor().unwrap();
    let (new_outputs, new_queues) = outputs(&Signal::ALL, 4);
    let new = build_in(BOTH_ON_PORT_0, new_outputs, &next).await;
    next.release_unclaimed();
    assert_eq!(new.local_addrs(), addrs, "same sockets");
    assert_eq!(next.reused().len(), 2);

    old_shutdown.cancel();
    stops_in_time(old_task).await;
    drop(first);
    let mut client = H1::connect(addrs[1].1).await; // accepted by the kernel, queued
    let new_shutdown = Shutdown::new();
    let new_task = tokio::spawn(new.run(new_shutdown.clone()));
    let answer = client
        .post("/v1/logs", "application/x-protobuf", None, &logs_bin())
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(new_queues.take(Signal::Logs).item_count(), 13);
    assert!(old_queues.all_empty(), "the old receiver got nothing");
    new_shutdown.cancel();
    stops_in_time(new_task).await;
}
