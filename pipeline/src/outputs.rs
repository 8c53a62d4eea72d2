//! Where a receiver hands its batches to the pipelines that listed it.
//!
//! The receiver checks a request once into a [`Batch`] and calls
//! [`Outputs::send`]. A full pipeline queue is waited on for a short,
//! configurable time and then refused, so the receiver can answer HTTP 503 /
//! gRPC UNAVAILABLE instead of accepting data it cannot hold.

use std::time::{Duration, Instant};

use crate::batch::{Batch, Signal};
use crate::channel::{MemoryLimit, Sender, TrySendError, Weigh};
use crate::wal::ack::{AckSender, AckWait};

/// The input of one pipeline, as seen by a receiver.
#[derive(Clone)]
pub struct PipelineInput {
    pub pipeline: String,
    pub sender: Sender<Batch>,
    /// Set when an exporter of the pipeline has a durable queue: the
    /// request is accepted only once appended to it.
    pub durable: Option<AckSender>,
}

/// Why a batch was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no pipeline takes {0} from this receiver")]
    NoPipeline(Signal),
    #[error("pipeline {0:?} is busy; retry later")]
    Busy(String),
    #[error("ccpipe is shutting down")]
    ShuttingDown,
    #[error("ccpipe holds as much as service.memory_limit_mib allows; retry later")]
    MemoryLimit,
}

/// A receiver's outputs, by signal.
#[derive(Clone, Default)]
pub struct Outputs {
    logs: Vec<PipelineInput>,
    metrics: Vec<PipelineInput>,
    traces: Vec<PipelineInput>,
    memory_limit: Option<MemoryLimit>,
}

/// How often a sender looks again at a full process memory limit while it
/// waits (a full queue wakes its senders itself).
const FULL_POLL: Duration = Duration::from_millis(1);

impl Outputs {
    pub fn add(&mut self, signal: Signal, input: PipelineInput) {
        self.for_signal_mut(signal).push(input);
    }

    /// Refuse requests while the process's queues hold `limit` (see
    /// [`MemoryLimit`]), besides each queue's own budget.
    pub fn limit_memory(&mut self, limit: MemoryLimit) {
        self.memory_limit = Some(limit);
    }

    /// The process-wide limit, when `service.memory_limit_mib` is set.
    pub fn memory_limit(&self) -> Option<&MemoryLimit> {
        self.memory_limit.as_ref()
    }

    pub fn accepts(&self, signal: Signal) -> bool {
        !self.for_signal(signal).is_empty()
    }

    fn for_signal(&self, signal: Signal) -> &[PipelineInput] {
        match signal {
            Signal::Logs => &self.logs,
            Signal::Metrics => &self.metrics,
            Signal::Traces => &self.traces,
        }
    }

    fn for_signal_mut(&mut self, signal: Signal) -> &mut Vec<PipelineInput> {
        match signal {
            Signal::Logs => &mut self.logs,
            Signal::Metrics => &mut self.metrics,
            Signal::Traces => &mut self.traces,
        }
    }

    /// Hands `batch` to every pipeline of its signal, waiting up to `wait`
    /// for room. With several pipelines the batch is copied for all but the
    /// last; all queues are checked for room first so that a refusal rarely
    /// follows a partial delivery (the client's retry could then duplicate
    /// into the pipelines that already took it).
    pub async fn send(&self, batch: Batch, wait: Duration) -> Result<(), Refused> {
        self.send_by(batch, Instant::now() + wait).await
    }

    /// Waits until every pipeline of `signal` has room for a request of
    /// about `cost` bytes, or `deadline` passes (then `false`). A receiver
    /// calls it before reading a body, so that under overload the bodies
    /// that would only wait stay in the kernel's socket buffers instead of
    /// the heap. Nothing is reserved: [`send_by`](Self::send_by) decides.
    pub async fn wait_for_room(&self, signal: Signal, cost: usize, deadline: Instant) -> bool {
        for input in self.for_signal(signal) {
            if !input.sender.wait_for_room_for(cost, deadline).await {
                return false;
            }
        }
        true
    }

    /// [`send`](Self::send), waiting for room until `deadline`.
    pub async fn send_by(&self, batch: Batch, deadline: Instant) -> Result<(), Refused> {
        let inputs = self.for_signal(batch.signal());
        let Some((last, rest)) = inputs.split_last() else {
            return Err(Refused::NoPipeline(batch.signal()));
        };
        if let Some(limit) = &self.memory_limit {
            let cost = batch.weight() * inputs.len();
            while !limit.admits(cost) {
                if Instant::now() >= deadline {
                    return Err(Refused::MemoryLimit);
                }
                tokio::time::sleep(FULL_POLL).await;
            }
        }
        for input in inputs {
            if !input.sender.wait_for_room(&batch, deadline).await {
                return Err(Refused::Busy(input.pipeline.clone()));
            }
        }
        // Stays empty (no allocation) unless a pipeline is durable.
        let mut acks = Vec::new();
        for input in rest {
            send_one(input, batch.clone(), deadline, &mut acks).await?;
        }
        send_one(last, batch, deadline, &mut acks).await?;
        if acks.is_empty() {
            return Ok(());
        }
        let ack_deadline = deadline.max(Instant::now() + DURABLE_ACK_WAIT);
        for (pipeline, ack) in acks {
            match tokio::time::timeout_at(ack_deadline.into(), ack.recv()).await {
                Ok(Some(Ok(()))) => {}
                // Not appended (disk full, unwritable): the chain logged why.
                Ok(Some(Err(_))) | Err(_) => return Err(Refused::Busy(pipeline.to_owned())),
                Ok(None) => return Err(Refused::ShuttingDown),
            }
        }
        Ok(())
    }
}

/// How long a request to a durable pipeline waits, at least, for its append
/// (a group commit with fsync can take a few milliseconds on a busy disk).
const DURABLE_ACK_WAIT: Duration = Duration::from_secs(5);

async fn send_one<'a>(
    input: &'a PipelineInput,
    mut batch: Batch,
    deadline: Instant,
    acks: &mut Vec<(&'a str, AckWait)>,
) -> Result<(), Refused> {
    loop {
        let sent = match &input.durable {
            None => input.sender.try_send(batch),
            Some(ack) => ack
                .enqueue(|| input.sender.try_send(batch))
                .map(|((), wait)| {
                    if let Some(wait) = wait {
                        acks.push((input.pipeline.as_str(), wait));
                    }
                }),
        };
        match sent {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(Refused::ShuttingDown),
            Err(TrySendError::Full(b)) => {
                if !input.sender.wait_for_room(&b, deadline).await {
                    return Err(Refused::Busy(input.pipeline.clone()));
                }
                batch = b;
            }
        }
    }
}
