//! How a receiver learns that a request reached every durable queue of a
//! pipeline. For a pipeline with a durable exporter, the receiver sends the
//! request into the pipeline's input queue and, in the same critical
//! section, an [`Ack`] into the pipeline's ack queue; the chain takes them
//! in the same order, appends the processed request to the logs, and
//! answers the ack once the append is durable (see `docs/durability.md`).
//! Pipelines without a durable exporter have no ack queue and pay nothing.

use std::sync::{Arc, Mutex};

use crate::batch::DecodeError;
use crate::channel::{self, ReplyReceiver, ReplySender};
use crate::wal::AppendError;

/// Why a request did not reach a pipeline's durable queues (nothing was
/// sent on then). Cheap to clone: one failed commit answers every ack
/// waiting for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotAppended {
    #[error(transparent)]
    Append(Arc<AppendError>),
    #[error(transparent)]
    Decode(Arc<DecodeError>),
}

/// The chain's answer: appended durably, or why not.
pub type Ack = ReplySender<Result<(), NotAppended>>;
/// The receiver's end of an [`Ack`].
pub type AckWait = ReplyReceiver<Result<(), NotAppended>>;

/// At most this many acks wait: the pipeline queue's capacity plus the one
/// sender inside the critical section, with a wide margin.
const ACK_QUEUE: usize = 4096;

/// The receivers' side, one per pipeline (cloned into each receiver).
#[derive(Clone)]
pub struct AckSender {
    /// Held while a request and its ack are queued, so that acks are queued
    /// in the order of their requests.
    order: Arc<Mutex<()>>,
    tx: channel::Sender<Ack>,
}

/// The chain's side.
pub struct AckReceiver(channel::Receiver<Ack>);

pub fn ack_queue() -> (AckSender, AckReceiver) {
    let (tx, rx) = channel::bounded(ACK_QUEUE);
    (
        AckSender {
            order: Arc::new(Mutex::new(())),
            tx,
        },
        AckReceiver(rx),
    )
}

impl AckSender {
    /// Runs `enqueue` (which queues the request) and, if it succeeded,
    /// queues an ack after it, with no other request in between.
    pub fn enqueue<T, E>(
        &self,
        enqueue: impl FnOnce() -> Result<T, E>,
    ) -> Result<(T, Option<AckWait>), E> {
        let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        let sent = enqueue()?;
        let (tx, rx) = channel::reply();
        // Cannot be full (see ACK_QUEUE) and closes only with the chain,
        // which then answers nothing: the caller sees no ack either way.
        let wait = self.tx.try_send(tx).ok().map(|()| rx);
        Ok((sent, wait))
    }
}

impl AckReceiver {
    /// The ack of the request the chain just took from its input queue.
    /// It is queued right after the request, so this waits at most for the
    /// sender to leave its critical section.
    pub fn next(&self) -> Option<Ack> {
        self.0.recv_deadline(None).ok()
    }
}
