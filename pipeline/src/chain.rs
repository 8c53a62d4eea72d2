//! The processor chain of one pipeline, run on its own thread so that CPU work
//! (redaction, filtering, batching) never blocks the async I/O threads.
//! It ends when every receiver dropped its sender: it then flushes the batcher
//! and drops its exporter senders, which in turn lets the export tasks drain.

use std::thread::JoinHandle;
use std::time::Instant;

use crate::batch::Batch;
use crate::batcher::Batcher;
use crate::channel::{Receiver, RecvTimeoutError};
use crate::component::{Processor, Verdict};
use crate::fanout::Fanout;
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
                Ok(batch) => self.push(0, batch),
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

    /// Runs `batch` through the stages from `start` on, then fans it out.
    fn push(&mut self, start: usize, mut batch: Batch) {
        for i in start..self.stages.len() {
            match &mut self.stages[i] {
                Stage::Process { id, processor } => {
                    let before = batch.item_count();
                    let verdict = processor.process(&mut batch);
                    let after = match verdict {
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
                            "signal" => batch.signal().as_str()
                        )
                        .increment((before - after) as u64);
                    }
                    if after == 0 {
                        return;
                    }
                }
                Stage::Batch(batcher) => {
                    let mut emitted = Vec::new();
                    batcher.push(batch, &mut |b| emitted.push(b));
                    for b in emitted {
                        self.push(i + 1, b);
                    }
                    return;
                }
            }
        }
        self.output.send(batch);
    }

    fn on_deadlines(&mut self, now: Instant) {
        for i in 0..self.stages.len() {
            let mut emitted = Vec::new();
            if let Stage::Batch(b) = &mut self.stages[i] {
                b.on_deadline(now, &mut |x| emitted.push(x));
            }
            for b in emitted {
                self.push(i + 1, b);
            }
        }
    }

    /// Flushes batchers front to back, so what one emits reaches the next.
    fn flush_all(&mut self) {
        for i in 0..self.stages.len() {
            let mut emitted = Vec::new();
            if let Stage::Batch(b) = &mut self.stages[i] {
                b.flush(&mut |x| emitted.push(x));
            }
            for b in emitted {
                self.push(i + 1, b);
            }
        }
    }
}
