//! The processor chain of one pipeline, run on its own thread so that CPU work
//! (decoding, redaction, filtering, batching) never blocks the async I/O
//! threads. It ends when every receiver dropped its sender: it then flushes
//! the batcher and drops its exporter senders, which in turn lets the export
//! tasks drain.

use std::thread::JoinHandle;
use std::time::Instant;

use crate::batch::{Batch, DecodeError};
use crate::batcher::Batcher;
use crate::channel::{Receiver, RecvTimeoutError};
use crate::component::{Processor, Verdict};
use crate::fanout::Fanout;
use crate::telemetry;
use crate::wal::ack::{Ack, AckReceiver, NotAppended};

/// One step of a chain.
pub enum Stage {
    Process {
        id: String,
        processor: Box<dyn Processor>,
    },
    Batch(Batcher),
}

/// A batch stage in a pipeline with a durable queue: see [`Chain::durable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pipeline \"{pipeline}\" has a durable queue, so it cannot hold a batch processor")]
pub struct BatchBeforeDurableQueue {
    pub pipeline: String,
}

pub struct Chain {
    pipeline: String,
    stages: Vec<Stage>,
    output: Fanout,
    /// Set when an exporter of this pipeline has a durable queue.
    durable: Option<Durable>,
}

/// A durable pipeline's acks: taken with each request, answered once the
/// request is durably appended (see `docs/durability.md`). Such a chain has
/// no batch stage ([`Chain::durable`] refuses one): the log holds the
/// backlog, and the export task reads it in batches.
struct Durable {
    acks: AckReceiver,
    /// Appended, waiting for the next commit.
    pending: Vec<Ack>,
    /// Why the request being pushed could not be appended.
    failed: Option<NotAppended>,
}

/// Acks answered per commit at most (bounds the wait under steady load).
const MAX_GROUP: usize = 256;

impl Chain {
    pub fn new(pipeline: impl Into<String>, stages: Vec<Stage>, output: Fanout) -> Self {
        Chain {
            pipeline: pipeline.into(),
            stages,
            output,
            durable: None,
        }
    }

    /// Makes this chain answer each request's ack once it is appended to
    /// the durable queues of its fan-out. A batch stage would hold records
    /// already acknowledged as on disk, so it is refused here (and at
    /// validate, with the config's file and line).
    pub fn durable(mut self, acks: AckReceiver) -> Result<Self, BatchBeforeDurableQueue> {
        if self.stages.iter().any(|s| matches!(s, Stage::Batch(_))) {
            return Err(BatchBeforeDurableQueue {
                pipeline: self.pipeline,
            });
        }
        self.durable = Some(Durable {
            acks,
            pending: Vec::new(),
            failed: None,
        });
        Ok(self)
    }

    /// Runs the chain on a new thread until `input` closes and is drained.
    pub fn spawn(self, input: Receiver<Batch>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("chain-{}", self.pipeline))
            .spawn(move || self.run(input))
    }

    /// The chain loop; public for tests that drive it on the current thread.
    pub fn run(mut self, input: Receiver<Batch>) {
        loop {
            let deadline = self.next_deadline();
            match input.recv_deadline(deadline) {
                Ok(batch) if self.durable.is_some() => self.push_durable(batch, &input),
                Ok(batch) => self.push(0, batch),
                Err(RecvTimeoutError::Timeout) => self.on_deadlines(Instant::now()),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.flush_all();
        self.commit();
        tracing::debug!(pipeline = %self.pipeline, "chain drained");
    }

    /// Pushes one request, then, once no other is waiting (or a group is
    /// full), commits the appends and answers their acks.
    fn push_durable(&mut self, batch: Batch, input: &Receiver<Batch>) {
        let ack = self.durable.as_ref().and_then(|d| d.acks.next());
        self.push(0, batch);
        let d = self.durable.as_mut().expect("durable chain");
        match (d.failed.take(), ack) {
            (Some(e), Some(ack)) => ack.send(Err(e)),
            (None, Some(ack)) => d.pending.push(ack),
            (_, None) => {}
        }
        if input.is_empty() || d.pending.len() >= MAX_GROUP {
            self.commit();
        }
    }

    fn commit(&mut self) {
        let Some(d) = self.durable.as_mut() else {
            return;
        };
        if d.pending.is_empty() {
            return;
        }
        let result = self.output.commit();
        for ack in d.pending.drain(..) {
            ack.send(result.clone());
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.stages
            .iter()
            .filter_map(|s| match s {
                Stage::Batch(b) => b.deadline(),
                Stage::Process { .. } => None,
            })
            .min()
    }

    /// Runs `batch` through the stages from `start` on, then fans it out.
    fn push(&mut self, start: usize, mut batch: Batch) {
        for i in start..self.stages.len() {
            match &mut self.stages[i] {
                Stage::Process { id, processor } => {
                    let before = batch.item_count();
                    let signal = batch.signal();
                    let after = match processor.process(&mut batch) {
                        Ok(Verdict::Keep) => match prune(&mut batch) {
                            Ok(items) => items,
                            Err(e) => return self.undecodable(e, signal, before),
                        },
                        Ok(Verdict::Drop) => 0,
                        Err(e) => return self.undecodable(e, signal, before),
                    };
                    if after < before {
                        metrics::counter!(
                            telemetry::processor_dropped(signal),
                            "processor" => id.clone(),
                            "pipeline" => self.pipeline.clone()
                        )
                        .increment((before - after) as u64);
                    }
                    if after == 0 {
                        return;
                    }
                }
                Stage::Batch(batcher) => {
                    let mut emitted = Vec::new();
                    let items = batch.item_count();
                    let signal = batch.signal();
                    if let Err(e) = batcher.push(batch, &mut |b| emitted.push(b)) {
                        self.undecodable(e, signal, items);
                    }
                    for b in emitted {
                        self.push(i + 1, b);
                    }
                    return;
                }
            }
        }
        if let Err(e) = self.output.send(batch) {
            if let Some(d) = &mut self.durable {
                d.failed = Some(e);
            }
        }
    }

    /// Bytes that passed the receiver's check but not the decoder: should
    /// not happen (the check mirrors the decoder); never silent if it does.
    fn undecodable(&self, e: DecodeError, signal: crate::Signal, items: usize) {
        tracing::error!(pipeline = %self.pipeline, items, "dropping a batch: {e}");
        metrics::counter!(
            telemetry::processor_dropped(signal),
            "processor" => "decode",
            "pipeline" => self.pipeline.clone()
        )
        .increment(items as u64);
    }

    /// Emits what each batcher holds: those whose deadline passed, or all.
    fn drain_batchers(&mut self, due: Option<Instant>) {
        for i in 0..self.stages.len() {
            let mut emitted = Vec::new();
            let mut failed = None;
            if let Stage::Batch(b) = &mut self.stages[i] {
                let pending = b.pending_items();
                let signal = b.pending_signal().unwrap_or(crate::Signal::Logs);
                let result = match due {
                    Some(now) => b.on_deadline(now, &mut |x| emitted.push(x)),
                    None => b.flush(&mut |x| emitted.push(x)),
                };
                failed = result.err().map(|e| (e, signal, pending));
            }
            if let Some((e, signal, items)) = failed {
                self.undecodable(e, signal, items);
            }
            for b in emitted {
                self.push(i + 1, b);
            }
        }
    }

    fn on_deadlines(&mut self, now: Instant) {
        self.drain_batchers(Some(now));
    }

    /// Flushes batchers front to back, so what one emits reaches the next.
    fn flush_all(&mut self) {
        self.drain_batchers(None);
    }
}

/// The items left after a processor kept the batch. Records it changed
/// lose the resources, scopes and metrics it emptied, so exporters never see
/// empty shells; a batch still holding its bytes was not changed through its
/// records, and is left as it is.
fn prune(batch: &mut Batch) -> Result<usize, DecodeError> {
    if batch.encoded().is_none() {
        batch.records_mut()?.prune_empty();
    }
    Ok(batch.item_count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batcher::BatchSettings;
    use crate::wal::ack::ack_queue;

    #[test]
    fn a_durable_chain_refuses_a_batch_stage() {
        let stages = vec![Stage::Batch(Batcher::new(BatchSettings::default()))];
        let chain = Chain::new("logs/d", stages, Fanout::new("logs/d", Vec::new()));
        let err = chain.durable(ack_queue().1).err().expect("refused");
        assert_eq!(
            err.to_string(),
            "pipeline \"logs/d\" has a durable queue, so it cannot hold a batch processor"
        );
        let chain = Chain::new("logs", Vec::new(), Fanout::new("logs", Vec::new()));
        assert!(chain.durable(ack_queue().1).is_ok());
    }
}
