//! After the last processor, a batch goes to one bounded queue per exporter.
//! It is shared behind an `Arc`, never copied per exporter. A full queue blocks
//! the chain thread (backpressure), so only that exporter's backlog, not its
//! data, is lost to the others.

use std::sync::Arc;

use crate::batch::Batch;
use crate::channel::QueueSender;

/// Sending side of one exporter's queue.
#[derive(Clone)]
pub struct ExporterInput {
    pub exporter: String,
    pub sender: QueueSender<Arc<Batch>>,
}

pub struct Fanout {
    pipeline: String,
    targets: Vec<ExporterInput>,
}

impl Fanout {
    pub fn new(pipeline: impl Into<String>, targets: Vec<ExporterInput>) -> Self {
        Fanout {
            pipeline: pipeline.into(),
            targets,
        }
    }

    /// Delivers `batch` to every exporter queue, blocking while one is full.
    pub fn send(&self, batch: Batch) {
        let items = batch.item_count();
        let signal = batch.signal();
        let shared = Arc::new(batch);
        for target in &self.targets {
            if target.sender.send_blocking(Arc::clone(&shared)).is_err() {
                // Export tasks outlive the chains that feed them; reaching this
                // means an export task died. Say so loudly and count the loss.
                tracing::error!(
                    pipeline = %self.pipeline,
                    exporter = %target.exporter,
                    items,
                    "exporter queue closed; {} {} lost",
                    items,
                    signal.item_noun()
                );
                metrics::counter!(
                    crate::telemetry::EXPORTER_FAILED_ITEMS,
                    "exporter" => target.exporter.clone(),
                    "signal" => signal.as_str(),
                    "reason" => "queue_closed"
                )
                .increment(items as u64);
            }
        }
    }
}
