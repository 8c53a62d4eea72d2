//! The small traits at each stage boundary, and what building a component
//! returns. Component ids live in [`crate::id`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::batch::{Batch, Signal};
pub use crate::id::{ComponentId, IdError, Kind};

/// A boxed, sendable future: the shape of every async trait method here, so the
/// traits stay object safe without pulling in a macro crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a processor decides for a batch it was handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
}

/// Processor contract: synchronous, runs on the chain's own thread, mutates the
/// batch in place and may drop it (counting what it dropped itself).
pub trait Processor: Send {
    fn process(&mut self, batch: &mut Batch) -> Verdict;
}

/// Why an export failed, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The destination may accept the same batch later (outage, 503, disk full).
    #[error("{message}")]
    Retryable {
        message: String,
        /// A delay the destination asked for (Retry-After, RetryInfo).
        retry_after: Option<std::time::Duration>,
    },
    /// Sending the same batch again cannot succeed (400, malformed).
    #[error("{0}")]
    Permanent(String),
}

impl ExportError {
    pub fn retryable(message: impl fmt::Display) -> Self {
        ExportError::Retryable {
            message: message.to_string(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl fmt::Display) -> Self {
        ExportError::Permanent(message.to_string())
    }
}

/// Exporter contract: async export of one batch, plus a final shutdown that
/// flushes whatever the exporter buffers. The shared export task owns the
/// queue, the retries and the metrics; exporters only send.
pub trait Exporter: Send {
    /// Signals this exporter can take.
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Logs, Signal::Metrics, Signal::Traces]
    }

    fn export(&mut self, batch: Arc<Batch>) -> BoxFuture<'_, Result<(), ExportError>>;

    /// Whether this exporter takes still-encoded protobuf requests through
    /// [`export_encoded`](Self::export_encoded) (forwarders, discards), so the
    /// pipeline need not decode them for it.
    fn accepts_encoded(&self) -> bool {
        false
    }

    /// Exports validated protobuf requests as they were received. Only called
    /// when [`accepts_encoded`](Self::accepts_encoded) is true.
    fn export_encoded(
        &mut self,
        batch: Arc<crate::payload::Encoded>,
    ) -> BoxFuture<'_, Result<(), ExportError>> {
        let _ = batch;
        Box::pin(async {
            Err(ExportError::permanent(
                "this exporter takes decoded batches only",
            ))
        })
    }

    /// Flush buffered data and release resources. Called once, also when
    /// nothing was ever exported.
    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>>;
}

/// An exporter whose work is blocking (files, stdout). The pipeline runs it on
/// a thread of its own so it never blocks the async runtime; see
/// [`crate::blocking::spawn`].
pub trait BlockingExporter: Send + 'static {
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError>;

    /// See [`Exporter::accepts_encoded`].
    fn accepts_encoded(&self) -> bool {
        false
    }

    /// See [`Exporter::export_encoded`]; only called when `accepts_encoded`.
    fn export_encoded(&mut self, batch: &crate::payload::Encoded) -> Result<(), ExportError> {
        let _ = batch;
        Err(ExportError::permanent(
            "this exporter takes decoded batches only",
        ))
    }

    /// Make everything exported so far visible at the destination.
    fn flush(&mut self) -> Result<(), ExportError>;

    /// How often to call [`flush`](Self::flush) when idle; `None` flushes after every export.
    fn flush_interval(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A receiver that has bound its sockets and is ready to run.
pub trait Receiver: Send {
    /// Where it listens, by protocol name (`grpc`, `http`), for banners and tests.
    fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)>;

    /// Serve until `shutdown` fires, then stop accepting, finish in-flight
    /// requests and return. Dropping the receiver closes its outputs.
    fn run(self: Box<Self>, shutdown: crate::Shutdown) -> BoxFuture<'static, Result<(), String>>;
}

/// A component that could not be built or started: its config is invalid, a
/// port is taken, a file cannot be written. The message names the component.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    pub message: String,
}

impl BuildError {
    pub fn new(kind: Kind, id: &ComponentId, message: impl fmt::Display) -> Self {
        BuildError {
            message: format!("{} \"{}\": {}", kind.noun(), id, message),
        }
    }
}

impl From<crate::config::ConfigError> for BuildError {
    fn from(e: crate::config::ConfigError) -> Self {
        BuildError {
            message: e.to_string(),
        }
    }
}
