//! The lifecycle of every registered receiver, as the Collector's generated
//! component tests: for each entry of [`FACTORIES`], build it from
//! `testdata/<type>/lifecycle.yaml` and drop it unstarted (its ports close),
//! then build it again, run it, send one captured Claude Code request of
//! each signal to each address it listens on, and shut it down: every
//! request reaches its pipeline's queue, and `run` returns. A new receiver
//! is covered by its line in the list; a missing `lifecycle.yaml` fails
//! here, and so does a listening protocol this test has no client for.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ccpipe_pipeline::channel::{self, Receiver as Queue};
use ccpipe_pipeline::config::load_str;
use ccpipe_pipeline::factory::ReceiverFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::outputs::{Outputs, PipelineInput};
use ccpipe_pipeline::testing::{capture_bins, lifecycle_yaml};
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{ComponentId, Shutdown, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::FACTORIES;

/// Upper bound for one network step.
const STEP: Duration = Duration::from_secs(10);

#[tokio::test]
async fn every_receiver_builds_serves_each_signal_and_shuts_down() {
    for factory in FACTORIES {
        lifecycle(*factory).await;
    }
}

async fn lifecycle(factory: &dyn ReceiverFactory) {
    let ty = factory.type_name();
    let yaml = lifecycle_yaml(env!("CARGO_MANIFEST_DIR"), ty);
    // A consuming receiver listens nowhere: the requests go through a broker.
    let kafka = yaml
        .contains("{kafka}")
        .then(|| ccpipe_kafka::testing::Broker::start(&ccpipe_kafka::testing::OTLP_TOPICS));
    let yaml = yaml.replace(
        "{kafka}",
        &kafka.as_ref().map(|b| b.address()).unwrap_or_default(),
    );
    let signals = factory.signals();
    let pipelines: String = signals
        .iter()
        .map(|s| format!("    {s}: {{ receivers: [{ty}], exporters: [debug] }}\n"))
        .collect();
    let yaml = format!("{yaml}exporters:\n  debug:\nservice:\n  pipelines:\n{pipelines}");
    let config = load_str("lifecycle.yaml", &yaml).unwrap_or_else(|e| panic!("{ty}: {e}"));
    let cfg = &config.receivers[&ty.parse::<ComponentId>().unwrap()];
    factory
        .validate(cfg)
        .unwrap_or_else(|e| panic!("{ty}: {e}"));

    // Built and dropped without running: its ports close.
    let (outputs, _) = queues(signals);
    let unused = factory
        .build(cfg, outputs, &Listeners::new())
        .await
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    let addrs = unused.local_addrs();
    assert!(!addrs.is_empty() || kafka.is_some(), "{ty} listens nowhere");
    drop(unused);
    for (_, addr) in &addrs {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{ty}: {addr} still open"
        );
    }

    // Run, send one request of each signal to each address, shut down.
    let (outputs, queues) = queues(signals);
    let receiver = factory
        .build(cfg, outputs, &Listeners::new())
        .await
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    let addrs = receiver.local_addrs();
    let shutdown = Shutdown::new();
    let run = tokio::spawn(receiver.run(shutdown.clone()));
    for &signal in signals {
        let body = one_request(signal);
        if let Some(broker) = &kafka {
            broker.produce(ccpipe_kafka::topics::default_topic(signal), &body);
            let deadline = tokio::time::Instant::now() + STEP * 3;
            let queued = loop {
                if let Some(p) = queues[&signal].try_recv() {
                    break Some(p);
                }
                if tokio::time::Instant::now() > deadline {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert!(
                queued.is_some_and(|p| p.signal() == signal && p.item_count() > 0),
                "{ty}: the {signal} message did not reach its pipeline"
            );
        }
        for &(protocol, addr) in &addrs {
            match protocol {
                "http" => post(addr, signal, &body).await,
                "grpc" => grpc_export(addr, signal, &body).await,
                other => panic!("{ty}: no client for protocol {other:?}; add one here"),
            }
            let queued = queues[&signal].try_recv();
            assert!(
                queued.is_some_and(|p| p.signal() == signal && p.item_count() > 0),
                "{ty}: the {signal} request over {protocol} did not reach its pipeline"
            );
        }
    }
    shutdown.cancel();
    tokio::time::timeout(STEP, run)
        .await
        .expect("run returns after shutdown")
        .unwrap()
        .unwrap_or_else(|e| panic!("{ty}: run: {e}"));
}

/// The first captured request body of `signal` (OTLP protobuf).
fn one_request(signal: Signal) -> Vec<u8> {
    capture_bins()
        .into_iter()
        .find(|(s, _)| *s == signal)
        .unwrap_or_else(|| panic!("no {signal} capture"))
        .1
}

/// Outputs with one queue per signal, as the service wires them.
fn queues(signals: &[Signal]) -> (Outputs, BTreeMap<Signal, Queue<Batch>>) {
    let mut outputs = Outputs::default();
    let mut queues = BTreeMap::new();
    for &signal in signals {
        let (sender, queue) = channel::bounded(4);
        outputs.add(
            signal,
            PipelineInput {
                pipeline: signal.to_string(),
                sender,
                durable: None,
            },
        );
        queues.insert(signal, queue);
    }
    (outputs, queues)
}

/// `POST /v1/<signal>` over HTTP/1.1, as Claude Code's `http/protobuf`
/// exporter sends it; the answer must be 200.
async fn post(addr: SocketAddr, signal: Signal, body: &[u8]) {
    let mut stream = tokio::time::timeout(STEP, tokio::net::TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let head = format!(
        "POST /v1/{signal} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{signal}: {answer}");
}

/// One `Export` call over gRPC, as Claude Code's `grpc` exporter sends it.
async fn grpc_export(addr: SocketAddr, signal: Signal, body: &[u8]) {
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(STEP)
        .timeout(STEP)
        .connect()
        .await
        .unwrap();
    let result = match signal {
        Signal::Logs => LogsServiceClient::new(channel)
            .export(ExportLogsServiceRequest::decode(body).unwrap())
            .await
            .map(drop),
        Signal::Metrics => MetricsServiceClient::new(channel)
            .export(ExportMetricsServiceRequest::decode(body).unwrap())
            .await
            .map(drop),
        Signal::Traces => TraceServiceClient::new(channel)
            .export(ExportTraceServiceRequest::decode(body).unwrap())
            .await
            .map(drop),
    };
    result.unwrap_or_else(|e| panic!("{signal} over gRPC: {e}"));
}
