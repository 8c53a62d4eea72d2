//! The data path from a receiver's `Outputs` through a chain to exporter
//! queues: order, sharing, dropping, backpressure and the closing cascade.

use std::sync::Arc;
use std::time::Duration;

use ccpipe_pipeline::batch::Batch;
use ccpipe_pipeline::batcher::{BatchSettings, Batcher};
use ccpipe_pipeline::chain::{Chain, Stage};
use ccpipe_pipeline::channel::{self, QueueReceiver};
use ccpipe_pipeline::fanout::{ExporterInput, Fanout};
use ccpipe_pipeline::outputs::{Outputs, PipelineInput, Refused};
use ccpipe_pipeline::{Processor, Signal, Verdict};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

fn logs(bodies: &[&str]) -> Batch {
    Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: bodies
                    .iter()
                    .map(|b| LogRecord {
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(b.to_string())),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn bodies(b: &Batch) -> Vec<String> {
    let Batch::Logs(r) = b else {
        panic!("logs expected")
    };
    r.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .map(|lr| match lr.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            _ => panic!("string body expected"),
        })
        .collect()
}

/// Drops records whose body starts with "drop".
struct DropSome;

impl Processor for DropSome {
    fn process(&mut self, batch: &mut Batch) -> Verdict {
        if let Batch::Logs(r) = batch {
            for rl in &mut r.resource_logs {
                for sl in &mut rl.scope_logs {
                    sl.log_records.retain(|lr| {
                        !matches!(lr.body.as_ref().and_then(|b| b.value.as_ref()),
                            Some(any_value::Value::StringValue(s)) if s.starts_with("drop"))
                    });
                }
            }
        }
        Verdict::Keep
    }
}

struct Wired {
    outputs: Outputs,
    queues: Vec<QueueReceiver<Arc<Batch>>>,
    chain: std::thread::JoinHandle<()>,
}

fn wire(stages: Vec<Stage>, exporters: usize, input_cap: usize, queue_cap: usize) -> Wired {
    let mut targets = Vec::new();
    let mut queues = Vec::new();
    for i in 0..exporters {
        let (tx, rx) = channel::export_queue(queue_cap);
        targets.push(ExporterInput {
            exporter: format!("e{i}"),
            sender: tx,
        });
        queues.push(rx);
    }
    let (tx, rx) = channel::bounded(input_cap);
    let chain = Chain::new("logs", stages, Fanout::new("logs", targets))
        .spawn(rx)
        .unwrap();
    let mut outputs = Outputs::default();
    outputs.add(
        Signal::Logs,
        PipelineInput {
            pipeline: "logs".into(),
            sender: tx,
        },
    );
    Wired {
        outputs,
        queues,
        chain,
    }
}

async fn recv(q: &mut QueueReceiver<Arc<Batch>>) -> Option<Arc<Batch>> {
    tokio::time::timeout(Duration::from_secs(10), q.recv())
        .await
        .expect("queue answers in time")
}

#[tokio::test]
async fn batches_flow_in_order_shared_between_exporters_and_close_in_cascade() {
    let stages = vec![
        Stage::Process {
            id: "drop".into(),
            processor: Box::new(DropSome),
        },
        Stage::Batch(Batcher::new(BatchSettings {
            send_batch_size: 4,
            send_batch_max_size: 0,
            timeout: Duration::from_secs(3600),
        })),
    ];
    let Wired {
        outputs,
        mut queues,
        chain,
    } = wire(stages, 2, 8, 8);
    for b in [&["a", "drop1", "b"][..], &["drop2"], &["c", "d"], &["e"]] {
        outputs.send(logs(b), Duration::from_secs(1)).await.unwrap();
    }
    let first0 = recv(&mut queues[0]).await.unwrap();
    let first1 = recv(&mut queues[1]).await.unwrap();
    assert_eq!(
        bodies(&first0),
        ["a", "b", "c", "d"],
        "dropped records gone, order kept"
    );
    assert!(
        Arc::ptr_eq(&first0, &first1),
        "one copy shared by both exporters"
    );

    // Closing the receiver side flushes the batcher, then closes the queues.
    drop(outputs);
    let rest = recv(&mut queues[0]).await.unwrap();
    assert_eq!(bodies(&rest), ["e"]);
    assert!(
        recv(&mut queues[0]).await.is_none(),
        "queue closes after the chain drained"
    );
    assert!(recv(&mut queues[1]).await.is_some());
    assert!(recv(&mut queues[1]).await.is_none());
    chain.join().unwrap();
}

#[tokio::test]
async fn a_stalled_exporter_backpressures_to_the_receiver_and_nothing_is_lost() {
    // No batcher: each request passes straight through. Exporter queue holds 1,
    // the chain holds 1 blocked in fan-out, the input queue holds 2.
    let Wired {
        outputs,
        mut queues,
        chain,
    } = wire(Vec::new(), 1, 2, 1);
    let mut accepted = 0;
    let mut refused = None;
    for i in 0..20 {
        match outputs
            .send(logs(&[&format!("r{i}")]), Duration::from_millis(20))
            .await
        {
            Ok(()) => accepted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        refused,
        Some(Refused::Busy("logs".into())),
        "a full pipeline refuses instead of buffering"
    );
    assert!((3..=5).contains(&accepted), "bounded: accepted {accepted}");

    // Once the exporter drains, every accepted request arrives, in order.
    drop(outputs);
    let mut got = Vec::new();
    while let Some(b) = recv(&mut queues[0]).await {
        got.extend(bodies(&b));
    }
    let want: Vec<String> = (0..accepted).map(|i| format!("r{i}")).collect();
    assert_eq!(got, want);
    chain.join().unwrap();
}

#[tokio::test]
async fn a_signal_without_pipeline_is_refused() {
    let outputs = Outputs::default();
    let err = outputs
        .send(Batch::empty(Signal::Traces), Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(err, Refused::NoPipeline(Signal::Traces));
}

#[tokio::test]
async fn a_closed_pipeline_refuses_as_shutting_down() {
    let (tx, rx) = channel::bounded::<Batch>(1);
    drop(rx);
    let mut outputs = Outputs::default();
    outputs.add(
        Signal::Logs,
        PipelineInput {
            pipeline: "logs".into(),
            sender: tx,
        },
    );
    let err = outputs
        .send(logs(&["x"]), Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(err, Refused::ShuttingDown);
}

#[test]
fn split_front_keeps_resources_and_order() {
    let mut b = logs(&["a", "b", "c"]);
    b.append(logs(&["d", "e"]));
    let head = b.split_front(4);
    assert_eq!(bodies(&head), ["a", "b", "c", "d"]);
    assert_eq!(bodies(&b), ["e"]);
    let (Batch::Logs(h), Batch::Logs(t)) = (&head, &b) else {
        unreachable!()
    };
    assert_eq!(
        h.resource_logs.len(),
        2,
        "the straddling resource is in both halves"
    );
    assert_eq!(t.resource_logs.len(), 1);
}
