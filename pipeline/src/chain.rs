//! The processor chain of one pipeline, run on its own thread so that CPU work
//! (decoding, redaction, filtering, batching) never blocks the async I/O
//! threads. It ends when every receiver dropped its sender: it then flushes
//! the batcher and drops its exporter senders, which in turn lets the export
//! tasks drain.

use std::thread::JoinHandle;
use std::time::Instant;

use crate::batcher::Batcher;
use crate::channel::{Receiver, RecvTimeoutError};
use crate::component::{Processor, Verdict};
use crate::fanout::Fanout;
use crate::payload::{DecodeError, Payload};
use crate::telemetry;

/// One step of a chain.
pub enum Stage {
    Process {
        id: String,
        processor: Box<dyn Processor>,
    },
    Batch(Batcher),
}

pub struct Chain {
    pipeline: String,
    stages: Vec<Stage>,
    output: Fanout,
}

impl Chain {
    pub fn new(pipeline: impl Into<String>, stages: Vec<Stage>, output: Fanout) -> Self {
        Chain {
            pipeline: pipeline.into(),
            stages,
            output,
        }
    }

    /// Runs the chain on a new thread until `input` closes and is drained.
    pub fn spawn(self, input: Receiver<Payload>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("chain-{}", self.pipeline))
            .spawn(move || self.run(input))
    }

    /// The chain loop; public for tests that drive it on the current thread.
    pub fn run(mut self, input: Receiver<Payload>) {
        loop {
            let deadline = self.next_deadline();
            match input.recv_deadline(deadline) {
                Ok(payload) => self.push(0, payload),
                Err(RecvTimeoutError::Timeout) => self.on_deadlines(Instant::now()),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.flush_all();
        tracing::debug!(pipeline = %self.pipeline, "chain drained");
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

    /// Runs `payload` through the stages from `start` on, then fans it out.
    fn push(&mut self, start: usize, mut payload: Payload) {
        for i in start..self.stages.len() {
            match &mut self.stages[i] {
                Stage::Process { id, processor } => {
                    let before = payload.item_count();
                    let signal = payload.signal();
                    let batch = match payload.decoded_mut() {
                        Ok(b) => b,
                        Err(e) => return self.undecodable(e, before),
                    };
                    let after = match processor.process(batch) {
                        Verdict::Keep => {
                            batch.prune_empty();
                            batch.item_count()
                        }
                        Verdict::Drop => 0,
                    };
                    if after < before {
                        metrics::counter!(
                            telemetry::PROCESSOR_DROPPED_ITEMS,
                            "processor" => id.clone(),
                            "pipeline" => self.pipeline.clone(),
                            "signal" => signal.as_str()
                        )
                        .increment((before - after) as u64);
                    }
                    if after == 0 {
                        return;
                    }
                }
                Stage::Batch(batcher) => {
                    let mut emitted = Vec::new();
                    let items = payload.item_count();
                    if let Err(e) = batcher.push(payload, &mut |b| emitted.push(b)) {
                        self.undecodable(e, items);
                    }
                    for b in emitted {
                        self.push(i + 1, b);
                    }
                    return;
                }
            }
        }
        self.output.send(payload);
    }

    /// Bytes that passed the receiver's check but not the decoder: should
    /// not happen (the check mirrors the decoder); never silent if it does.
    fn undecodable(&self, e: DecodeError, items: usize) {
        tracing::error!(pipeline = %self.pipeline, items, "dropping a batch: {e}");
        metrics::counter!(
            telemetry::PROCESSOR_DROPPED_ITEMS,
            "processor" => "decode",
            "pipeline" => self.pipeline.clone(),
            "signal" => "any"
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
                let result = match due {
                    Some(now) => b.on_deadline(now, &mut |x| emitted.push(x)),
                    None => b.flush(&mut |x| emitted.push(x)),
                };
                failed = result.err().map(|e| (e, pending));
            }
            if let Some((e, items)) = failed {
                self.undecodable(e, items);
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
