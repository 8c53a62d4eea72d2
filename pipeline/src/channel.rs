//! The only file that names the channel crates. Two kinds of bounded queue:
//! - [`bounded`]: crossbeam, feeding the processor chain's thread(s) from the
//!   receivers (non-blocking `try_send` on the async side, blocking receive).
//! - [`export_queue`]: tokio mpsc, from the chain's thread (blocking send, so a
//!   full exporter queue backpressures the chain) to an async export task.

use std::time::Instant;

pub use crossbeam_channel::RecvTimeoutError;

/// Sending half of a chain input queue.
pub struct Sender<T>(crossbeam_channel::Sender<T>);

/// Receiving half of a chain input queue.
pub struct Receiver<T>(crossbeam_channel::Receiver<T>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender(self.0.clone())
    }
}

/// Why a `try_send` did not go through; the value comes back.
#[derive(Debug)]
pub enum TrySendError<T> {
    Full(T),
    Closed(T),
}

pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    (Sender(tx), Receiver(rx))
}

impl<T> Sender<T> {
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.0.try_send(value).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(v) => TrySendError::Full(v),
            crossbeam_channel::TrySendError::Disconnected(v) => TrySendError::Closed(v),
        })
    }

    /// Blocking send; only for threads outside the async runtime.
    pub fn send_blocking(&self, value: T) -> Result<(), T> {
        self.0.send(value).map_err(|e| e.0)
    }

    pub fn is_full(&self) -> bool {
        self.0.is_full()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> Receiver<T> {
    /// Waits for a value until `deadline` (forever when `None`).
    pub fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        match deadline {
            Some(d) => self.0.recv_deadline(d),
            None => self.0.recv().map_err(|_| RecvTimeoutError::Disconnected),
        }
    }

    pub fn try_recv(&self) -> Option<T> {
        self.0.try_recv().ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Sending half of an exporter's queue.
pub struct QueueSender<T>(tokio::sync::mpsc::Sender<T>);

/// Receiving half of an exporter's queue, owned by its export task.
pub struct QueueReceiver<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        QueueSender(self.0.clone())
    }
}

pub fn export_queue<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    (QueueSender(tx), QueueReceiver(rx))
}

impl<T> QueueSender<T> {
    /// Blocks the calling (non-async) thread while the queue is full: this is
    /// how a full exporter queue pushes back on the chain.
    pub fn send_blocking(&self, value: T) -> Result<(), T> {
        self.0.blocking_send(value).map_err(|e| e.0)
    }
}

impl<T> QueueReceiver<T> {
    pub async fn recv(&mut self) -> Option<T> {
        self.0.recv().await
    }

    pub fn try_recv(&mut self) -> Option<T> {
        self.0.try_recv().ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A one-shot reply from a worker thread to an async caller.
pub struct ReplySender<T>(tokio::sync::oneshot::Sender<T>);
pub struct ReplyReceiver<T>(tokio::sync::oneshot::Receiver<T>);

pub fn reply<T>() -> (ReplySender<T>, ReplyReceiver<T>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    (ReplySender(tx), ReplyReceiver(rx))
}

impl<T> ReplySender<T> {
    pub fn send(self, value: T) {
        // The caller may have given up (shutdown deadline); nothing to do then.
        let _ = self.0.send(value);
    }
}

impl<T> ReplyReceiver<T> {
    /// `None` when the worker went away without answering.
    pub async fn recv(self) -> Option<T> {
        self.0.await.ok()
    }
}
