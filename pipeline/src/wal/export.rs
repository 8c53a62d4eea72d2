//! The export loop over a durable queue: read a batch of records, export it
//! with the task's retry policy, acknowledge it once delivered or given up
//! on (counted). A batch interrupted by the shutdown deadline is not
//! acknowledged: it stays on disk and is exported after the next start.

use crate::component::Exporter;
use crate::export_task::{ExportStats, ExportTask, Jitter, RetryPolicy};
use crate::telemetry;
use crate::Shutdown;
use crate::{Batch, Encoded, Form};

use super::{BacklogProbe, Read, WalReader};

/// At most this many items per export, like the batch processor's default.
const MAX_ITEMS: u64 = 8192;
/// At most this many request bytes per export: the batch processor's
/// largest batch (an encoded request weighs its bytes), so a durable queue's
/// exports hold no more memory than a batched pipeline's.
const MAX_BYTES: u64 = crate::batcher::MAX_BATCH_BYTES as u64;

/// An export task over a durable queue: it exports what its reader yields,
/// acknowledging each batch once it is delivered or given up on. (Here
/// rather than in `export_task.rs`, so the export task does not depend on
/// the durable queue's loop.)
pub struct DurableExportTask {
    task: ExportTask<BacklogProbe>,
    reader: WalReader,
}

impl DurableExportTask {
    pub fn new(
        id: impl Into<String>,
        exporter: Box<dyn Exporter>,
        reader: WalReader,
        retry: RetryPolicy,
        abort: Shutdown,
    ) -> Self {
        let task = ExportTask::over(id.into(), exporter, reader.probe(), retry, abort);
        DurableExportTask { task, reader }
    }

    pub async fn run(self) -> ExportStats {
        self.task.set_capacity_gauges();
        self.task.refresh_gauges();
        run(self.task, self.reader).await
    }
}

async fn run(mut task: ExportTask<BacklogProbe>, mut reader: WalReader) -> ExportStats {
    let mut stats = ExportStats::default();
    let mut jitter = Jitter::seeded();
    let prefers = task.exporter.prefers();
    if !reader.activate().await {
        return stats;
    }
    loop {
        let read = tokio::select! {
            biased;
            _ = task.abort.cancelled() => break,
            r = reader.next(MAX_ITEMS, MAX_BYTES) => match r {
                Some(r) => r,
                None => break,
            },
        };
        task.refresh_gauges();
        let items = read.items();
        let signal = read.records[0].signal;
        stats.batches += 1;
        let batch = match to_batch(read, prefers) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(exporter = %task.id, items, "queue {}: records failed to decode ({e}); dropping {items} {}", reader.dir(), signal.item_noun());
                stats.items_failed += items;
                metrics::counter!(telemetry::exporter_send_failed(signal), "exporter" => task.id.clone(), "reason" => "undecodable")
                    .increment(items);
                reader.ack();
                continue;
            }
        };
        let delivered = tokio::select! {
            biased;
            // A new graph took the queue over: this batch is not
            // acknowledged, and the new export task exports it.
            _ = reader.handed_over() => break,
            r = task.deliver(batch, &mut jitter) => r,
        };
        match delivered {
            Ok(()) => {
                stats.items_sent += items;
                metrics::counter!(telemetry::exporter_sent(signal), "exporter" => task.id.clone())
                    .increment(items);
                reader.ack();
                task.refresh_gauges();
            }
            // Kept on disk, not lost: exported after the next start.
            Err("shutdown") => break,
            Err(reason) => {
                stats.items_failed += items;
                metrics::counter!(telemetry::exporter_send_failed(signal), "exporter" => task.id.clone(), "reason" => reason)
                    .increment(items);
                reader.ack();
                task.refresh_gauges();
            }
        }
    }
    let left = reader.backlog_records();
    if reader.is_handed_over() {
        tracing::info!(exporter = %task.id, "queue {} handed over to the new config with {left} records waiting", reader.dir());
    } else if left > 0 {
        tracing::warn!(exporter = %task.id, "{left} records stay in queue {} and are exported after the next start", reader.dir());
    }
    if let Err(e) = task.exporter.shutdown().await {
        tracing::error!(exporter = %task.id, error = %e, "exporter shutdown failed");
    }
    stats
}

/// The records as one export request, decoded here if the exporter prefers
/// them decoded. Records were checked when first received and
/// are checked again here (their CRC only proves they were not damaged).
fn to_batch(read: Read, prefers: Form) -> Result<Batch, Undecodable> {
    let mut merged: Option<Encoded> = None;
    for r in read.records {
        let e = Encoded::new(r.signal, r.bytes)?;
        match &mut merged {
            None => merged = Some(e),
            Some(m) => m.append(e),
        }
    }
    let batch = Batch::from(merged.expect("a read has records"));
    if prefers == Form::Decoded {
        batch.records()?;
    }
    Ok(batch)
}

/// Why records read back from the log cannot be exported (they are dropped,
/// counted and logged).
#[derive(Debug, thiserror::Error)]
enum Undecodable {
    #[error(transparent)]
    Wire(#[from] ccpipe_otlp::wire::WireError),
    #[error(transparent)]
    Decode(#[from] crate::DecodeError),
}
