//! The lifecycle of every registered connector, as the Collector's generated
//! component tests: for each entry of [`FACTORIES`] and each signal pair it
//! joins, build it from `testdata/<type>/lifecycle.yaml`, start it and shut
//! it down unused (nothing may come out), then start it again, export every
//! captured Claude Code batch of the signal it consumes and shut it down:
//! its flush must send the signal it produces downstream. A new connector
//! is covered by its line in the list; a missing `lifecycle.yaml` fails here.

use ccpipe_pipeline::channel::{self, Receiver};
use ccpipe_pipeline::config::load_str;
use ccpipe_pipeline::connector;
use ccpipe_pipeline::factory::ConnectorFactory;
use ccpipe_pipeline::outputs::{Outputs, PipelineInput};
use ccpipe_pipeline::testing::{capture_bins, indented, lifecycle_yaml};
use ccpipe_pipeline::{Batch, ComponentId, Exporter, Records, Signal};

use crate::FACTORIES;

#[test]
fn every_connector_starts_consumes_and_flushes_on_shutdown() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for factory in FACTORIES {
        for &(from, to) in factory.pairs() {
            rt.block_on(lifecycle(*factory, from, to));
        }
    }
}

async fn lifecycle(factory: &dyn ConnectorFactory, from: Signal, to: Signal) {
    let ty = factory.type_name();
    let indented = indented(&lifecycle_yaml(env!("CARGO_MANIFEST_DIR"), ty));
    let yaml = format!(
        "receivers:\n  otlp:\nexporters:\n  debug:\nconnectors:\n  {ty}:\n{indented}service:\n  pipelines:\n    {from}: {{ receivers: [otlp], exporters: [{ty}] }}\n    {to}: {{ receivers: [{ty}], exporters: [debug] }}\n"
    );
    let config = load_str("lifecycle.yaml", &yaml).unwrap_or_else(|e| panic!("{ty}: {e}"));
    let id: ComponentId = ty.parse().unwrap();
    let cfg = &config.connectors[&id];
    factory
        .validate(cfg)
        .unwrap_or_else(|e| panic!("{ty}: {e}"));

    // Started and shut down unused: nothing to send on.
    let (outputs, downstream) = downstream_of(to);
    let mut exporter = connector::start(&id, factory.build(cfg).unwrap(), outputs);
    assert_eq!(exporter.signals(), &[from], "{ty}");
    exporter.shutdown().await.unwrap();
    drop(exporter);
    assert_eq!(items(&downstream, to), 0, "{ty}: sent from nothing");

    // Every capture of the signal it consumes, then shut down: it flushes.
    let (outputs, downstream) = downstream_of(to);
    let mut exporter = connector::start(&id, factory.build(cfg).unwrap(), outputs);
    for (signal, bytes) in capture_bins().into_iter().filter(|(s, _)| *s == from) {
        let batch = decode(signal, &bytes);
        exporter.export(Batch::from(batch)).await.unwrap();
    }
    exporter.shutdown().await.unwrap();
    drop(exporter);
    assert!(
        items(&downstream, to) > 0,
        "{ty}: nothing sent on at shutdown"
    );
}

/// One captured request body of `signal`.
fn decode(signal: Signal, bytes: &[u8]) -> Records {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    match signal {
        Signal::Logs => Records::Logs(ExportLogsServiceRequest::decode(bytes).unwrap()),
        Signal::Metrics => Records::Metrics(ExportMetricsServiceRequest::decode(bytes).unwrap()),
        Signal::Traces => Records::Traces(ExportTraceServiceRequest::decode(bytes).unwrap()),
    }
}

/// Outputs feeding one downstream pipeline of `signal`, and its queue.
fn downstream_of(signal: Signal) -> (Outputs, Receiver<Batch>) {
    let (sender, receiver) = channel::bounded(1024);
    let mut outputs = Outputs::default();
    outputs.add(
        signal,
        PipelineInput {
            pipeline: signal.to_string(),
            sender,
            durable: None,
        },
    );
    (outputs, receiver)
}

/// The items waiting in `queue`, all of `signal`.
fn items(queue: &Receiver<Batch>, signal: Signal) -> usize {
    let mut n = 0;
    while let Some(payload) = queue.try_recv() {
        assert_eq!(payload.signal(), signal);
        n += payload.item_count();
    }
    n
}
