//! The small traits at each stage boundary, and what building a component
//! returns. Component ids live in [`crate::id`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

pub use crate::batch::{Batch, DecodeError, Form};
pub use crate::id::{ComponentId, IdError, Kind};
use crate::records::Signal;

/// A boxed, sendable future: the shape of every async trait method here, so the
/// traits stay object safe without pulling in a macro crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a processor decides for a batch it was handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
}

/// Processor contract: synchronous, runs on the chain's own thread, changes
/// the batch in place and may drop it (counting what it dropped itself).
///
/// In the chain a batch has one holder, so changing it copies nothing. A
/// processor works on the decoded records through [`Batch::records_mut`]
/// (which decodes once, then drops the bytes that no longer match), or on
/// the request bytes through [`Batch::encoded`] and [`Batch::set_encoded`]
/// without decoding. The only error is bytes the decoder refused, which the
/// chain counts as lost.
pub trait Processor: Send {
    fn process(&mut self, batch: &mut Batch) -> Result<Verdict, DecodeError>;
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

    /// The form this exporter works with best (see [`Form`]); decoded
    /// unless it says otherwise.
    fn prefers(&self) -> Form {
        Form::Decoded
    }

    /// Exports one batch. [`Batch::records`] gives its records (decoding
    /// at most once for all exporters), [`Batch::encoded`] the request
    /// bytes when it still has them.
    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>>;

    /// Flush buffered data and release resources. Called once, also when
    /// nothing was ever exported.
    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>>;
}

/// An exporter whose work is blocking (files, stdout). The pipeline runs it on
/// a thread of its own so it never blocks the async runtime; see
/// [`crate::blocking::spawn`].
pub trait BlockingExporter: Send + 'static {
    /// See [`Exporter::prefers`].
    fn prefers(&self) -> Form {
        Form::Decoded
    }

    /// See [`Exporter::export`].
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError>;

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
    fn run(
        self: Box<Self>,
        shutdown: crate::Shutdown,
    ) -> BoxFuture<'static, Result<(), ReceiverError>>;
}

/// Why a receiver stopped before shutdown: one or more of its servers failed.
#[derive(Debug, thiserror::Error)]
#[error("receiver \"{id}\": {}", join(.failed))]
pub struct ReceiverError {
    pub id: ComponentId,
    pub failed: Vec<ServerError>,
}

/// One server of a receiver (`gRPC`, `HTTP`) that failed while serving.
#[derive(Debug, thiserror::Error)]
#[error("{server} server failed: {source}")]
pub struct ServerError {
    pub server: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn join(failed: &[ServerError]) -> String {
    let texts: Vec<String> = failed.iter().map(ToString::to_string).collect();
    texts.join("; ")
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

impl From<crate::DecodeError> for ExportError {
    /// Bytes that passed the wire check but not prost (ruled out by the
    /// property tests): retrying cannot help.
    fn from(e: crate::DecodeError) -> Self {
        ExportError::permanent(e)
    }
}
