//! The data path from a receiver's `Outputs` through a chain to exporter
//! queues: order, sharing, dropping, backpressure and the closing cascade.

use std::time::Duration;

use ccpipe_pipeline::batcher::{BatchSettings, Batcher};
use ccpipe_pipeline::chain::{Chain, Stage};
use ccpipe_pipeline::channel::{self, QueueReceiver};
use ccpipe_pipeline::fanout::{ExporterInput, Fanout};
use ccpipe_pipeline::outputs::{Outputs, PipelineInput, Refused};
use ccpipe_pipeline::records::Records;
use ccpipe_pipeline::{Batch, Encoded, Form};
use ccpipe_pipeline::{DecodeError, Processor, Signal, Verdict};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

fn logs_batch(bodies: &[&str]) -> Records {
    Records::Logs(ExportLogsServiceRequest {
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

fn logs(bodies: &[&str]) -> Batch {
    Batch::from(logs_batch(bodies))
}

fn bodies(s: &Batch) -> Vec<String> {
    assert!(s.is_decoded(), "decoded expected");
    batch_bodies(s.records().unwrap())
}

fn batch_bodies(b: &Records) -> Vec<String> {
    let Records::Logs(r) = b else {
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

impl DropSome {
    /// The work itself, on decoded records (behaviour as before the
    /// processor contract took a [`Batch`]).
    fn process_records(&mut self, batch: &mut Records) -> Verdict {
        if let Records::Logs(r) = batch {
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

impl Processor for DropSome {
    fn process(&mut self, batch: &mut Batch) -> Result<Verdict, DecodeError> {
        Ok(self.process_records(batch.records_mut()?))
    }
}

struct Wired {
    outputs: Outputs,
    queues: Vec<QueueReceiver<Batch>>,
    chain: std::thread::JoinHandle<()>,
}

fn wire(stages: Vec<Stage>, exporters: usize, input_cap: usize, queue_cap: usize) -> Wired {
    wire_with(stages, &vec![false; exporters], input_cap, queue_cap)
}

fn wire_with(
    stages: Vec<Stage>,
    prefer_encoded: &[bool],
    input_cap: usize,
    queue_cap: usize,
) -> Wired {
    let mut targets = Vec::new();
    let mut queues = Vec::new();
    for (i, &prefer_encoded) in prefer_encoded.iter().enumerate() {
        let (tx, rx) = channel::export_queue(queue_cap);
        targets.push(ExporterInput {
            exporter: format!("e{i}"),
            sender: tx,
            prefers: if prefer_encoded {
                Form::Encoded
            } else {
                Form::Decoded
            },
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
            durable: None,
        },
    );
    Wired {
        outputs,
        queues,
        chain,
    }
}

async fn recv(q: &mut QueueReceiver<Batch>) -> Option<Batch> {
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
    assert!(first0.ptr_eq(&first1), "one copy shared by both exporters");

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
        .send(Records::empty(Signal::Traces).into(), Duration::ZERO)
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
            durable: None,
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
    let mut b = logs_batch(&["a", "b", "c"]);
    b.append(logs_batch(&["d", "e"]));
    let head = b.split_front(4);
    assert_eq!(batch_bodies(&head), ["a", "b", "c", "d"]);
    assert_eq!(batch_bodies(&b), ["e"]);
    let (Records::Logs(h), Records::Logs(t)) = (&head, &b) else {
        unreachable!()
    };
    assert_eq!(
        h.resource_logs.len(),
        2,
        "the straddling resource is in both halves"
    );
    assert_eq!(t.resource_logs.len(), 1);
}

fn encoded(bodies: &[&str]) -> Batch {
    use prost::Message;
    let Records::Logs(r) = logs_batch(bodies) else {
        unreachable!()
    };
    Batch::from(Encoded::new(Signal::Logs, r.encode_to_vec().into()).unwrap())
}

#[tokio::test]
async fn encoded_requests_stay_encoded_for_exporters_that_take_them() {
    let batcher = Stage::Batch(Batcher::new(BatchSettings {
        send_batch_size: 3,
        send_batch_max_size: 0,
        timeout: Duration::from_secs(3600),
    }));
    let Wired {
        outputs,
        mut queues,
        chain,
    } = wire_with(vec![batcher], &[true], 8, 8);
    outputs
        .send(encoded(&["a", "b"]), Duration::from_secs(1))
        .await
        .unwrap();
    outputs
        .send(encoded(&["c"]), Duration::from_secs(1))
        .await
        .unwrap();
    let batch = recv(&mut queues[0]).await.unwrap();
    assert!(!batch.is_decoded(), "no exporter asked for records");
    let e = batch.encoded().expect("encoded expected");
    assert_eq!(e.parts().len(), 2, "batched by concatenation");
    assert_eq!(batch_bodies(&e.decode().unwrap()), ["a", "b", "c"]);
    drop(outputs);
    assert!(recv(&mut queues[0]).await.is_none());
    chain.join().unwrap();
}

#[tokio::test]
async fn a_processor_decodes_once_and_mixed_exporters_get_what_they_take() {
    let stages = vec![Stage::Process {
        id: "drop".into(),
        processor: Box::new(DropSome),
    }];
    let Wired {
        outputs,
        mut queues,
        chain,
    } = wire_with(stages, &[true, false], 8, 8);
    outputs
        .send(encoded(&["a", "drop", "b"]), Duration::from_secs(1))
        .await
        .unwrap();
    // The processor decoded it: both exporters get the decoded batch.
    for q in &mut queues {
        assert_eq!(bodies(&recv(q).await.unwrap()), ["a", "b"]);
    }
    drop(outputs);
    chain.join().unwrap();

    // No processor: the encoded request is decoded once for the exporter
    // that needs it, and passed as bytes to the one that does not.
    let Wired {
        outputs,
        mut queues,
        chain,
    } = wire_with(Vec::new(), &[true, false], 8, 8);
    outputs
        .send(encoded(&["x"]), Duration::from_secs(1))
        .await
        .unwrap();
    let to_forwarder = recv(&mut queues[0]).await.unwrap();
    assert!(
        to_forwarder.encoded().is_some(),
        "bytes kept for the forwarder"
    );
    assert_eq!(bodies(&recv(&mut queues[1]).await.unwrap()), ["x"]);
    drop(outputs);
    chain.join().unwrap();
}

#[tokio::test]
async fn the_memory_limit_refuses_intake_while_the_queues_hold_it() {
    use ccpipe_pipeline::channel::MemoryLimit;
    let total = MemoryLimit::new(1);
    let (tx, rx) = channel::bounded_bytes_within::<Batch>(16, 1 << 20, &total);
    let mut outputs = Outputs::default();
    outputs.add(
        Signal::Logs,
        PipelineInput {
            pipeline: "logs".into(),
            sender: tx,
            durable: None,
        },
    );
    outputs.limit_memory(total.clone());
    // The first request always fits an empty process; the second does not.
    outputs.send(encoded(&["a"]), Duration::ZERO).await.unwrap();
    assert!(total.used() > 0);
    let err = outputs
        .send(encoded(&["b"]), Duration::from_millis(20))
        .await
        .unwrap_err();
    assert_eq!(err, Refused::MemoryLimit);
    // Once the chain takes it off the queue, intake resumes.
    assert!(rx.try_recv().is_some());
    assert_eq!(total.used(), 0);
    outputs.send(encoded(&["c"]), Duration::ZERO).await.unwrap();
}
