//! The core of ccpipe: the data type that flows, the stage traits, the
//! channels, the processor chain, fan-out and export tasks, and the config
//! schema. It depends on no component crate.

pub mod batch;
pub mod component;
pub mod config;
pub mod otlp_json;

pub use batch::{Batch, Signal};
pub use component::{
    BlockingExporter, BoxFuture, BuildError, BuiltExporter, ComponentId, ExportError, Exporter,
    Kind, Processor, Receiver, Verdict,
};

/// Fires once when the service starts shutting down; cheap to clone.
pub type Shutdown = tokio_util::sync::CancellationToken;

pub mod batcher;
pub mod blocking;
pub mod chain;
pub mod channel;
pub mod connector;
pub mod encode;
pub mod export_task;
pub mod factory;
pub mod fanout;
pub mod limits;
pub mod listeners;
pub mod outputs;
pub mod payload;
pub mod port_holder;
pub mod telemetry;
#[doc(hidden)]
pub mod testing;
pub mod wal;
pub mod wire;
