//! After the last processor, a batch goes to one bounded queue per exporter.
//! It is shared behind an `Arc`, never copied per exporter, and decoded at
//! most once, only if some exporter needs it decoded. A full queue blocks the
//! chain thread (backpressure), so only that exporter's backlog, not its
//! data, is lost to the others.

use std::sync::Arc;

use prost::Message;

use crate::channel::QueueSender;
use crate::records::Records;
use crate::wal::ack::NotAppended;
use crate::wal::{AppendError, WalWriter};
use crate::{Batch, Form};

/// Sending side of one exporter's queue.
#[derive(Clone)]
pub struct ExporterInput {
    pub exporter: String,
    pub sender: QueueSender<Batch>,
    /// The form the exporter works with best (see `Exporter::prefers`).
    pub prefers: Form,
}

pub struct Fanout {
    pipeline: String,
    targets: Vec<ExporterInput>,
    /// Some exporter prefers decoded records: decode here, once for all.
    any_prefers_decoded: bool,
    /// Exporters with a durable queue: the batch is appended to their logs.
    durable: Vec<(String, WalWriter)>,
}

impl Fanout {
    pub fn new(pipeline: impl Into<String>, targets: Vec<ExporterInput>) -> Self {
        let any_prefers_decoded = targets.iter().any(|t| t.prefers == Form::Decoded);
        Fanout {
            pipeline: pipeline.into(),
            targets,
            any_prefers_decoded,
            durable: Vec::new(),
        }
    }

    /// Adds exporters whose queue is a log (`sending_queue.storage`).
    pub fn with_durable(mut self, queues: Vec<(String, WalWriter)>) -> Self {
        self.durable = queues;
        self
    }

    /// Forces what was appended to the logs to disk (`fsync: batch`).
    pub fn commit(&self) -> Result<(), NotAppended> {
        for (exporter, wal) in &self.durable {
            wal.commit().map_err(|e| self.append_failed(exporter, e))?;
        }
        Ok(())
    }

    /// Appends `batch` to every durable queue, as one record each: its
    /// request bytes, or its records encoded once for all queues.
    fn append(&self, batch: &Batch) -> Result<(), NotAppended> {
        let encoded;
        let parts: Vec<&[u8]> = match batch.encoded() {
            Some(e) => e.parts().iter().map(|b| &b[..]).collect(),
            None => {
                encoded = match batch.records() {
                    Ok(records) => encode(records),
                    Err(e) => return Err(NotAppended::Decode(Arc::new(e))),
                };
                vec![&encoded[..]]
            }
        };
        for (exporter, wal) in &self.durable {
            wal.append(batch.signal(), batch.item_count(), &parts)
                .map_err(|e| self.append_failed(exporter, e))?;
        }
        Ok(())
    }

    fn append_failed(&self, exporter: &str, e: AppendError) -> NotAppended {
        tracing::error!(pipeline = %self.pipeline, exporter, "{e}; refusing requests until it can write again");
        NotAppended::Append(Arc::new(e))
    }

    /// Delivers `batch` to every exporter queue, blocking while one is full.
    /// Fails only when a durable queue cannot take it; nothing is sent then.
    pub fn send(&self, batch: Batch) -> Result<(), NotAppended> {
        if !self.durable.is_empty() {
            self.append(&batch)?;
        }
        let items = batch.item_count();
        let signal = batch.signal();
        // Decoding is CPU work: done here, on the processor thread, rather
        // than by an exporter on the async runtime.
        if self.any_prefers_decoded {
            if let Err(err) = batch.records() {
                self.lost(None, items, signal, &format!("cannot decode: {err}"));
                return Ok(());
            }
        }
        for target in &self.targets {
            if target.sender.send_blocking(batch.clone()).is_err() {
                // Export tasks outlive the chains that feed them; reaching this
                // means an export task died. Say so loudly and count the loss.
                self.lost(
                    Some(&target.exporter),
                    items,
                    signal,
                    "exporter queue closed",
                );
            }
        }
        Ok(())
    }

    fn lost(&self, exporter: Option<&str>, items: usize, signal: crate::Signal, why: &str) {
        let exporter = exporter.unwrap_or("all");
        tracing::error!(pipeline = %self.pipeline, exporter, items, "{why}; {items} {} lost", signal.item_noun());
        metrics::counter!(
            crate::telemetry::exporter_send_failed(signal),
            "exporter" => exporter.to_owned(),
            "reason" => "queue_closed"
        )
        .increment(items as u64);
    }
}

/// A decoded batch as the export request's protobuf bytes.
fn encode(b: &Records) -> Vec<u8> {
    match b {
        Records::Logs(r) => r.encode_to_vec(),
        Records::Metrics(r) => r.encode_to_vec(),
        Records::Traces(r) => r.encode_to_vec(),
    }
}
