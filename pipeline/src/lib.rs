//! The core of ccpipe: the data type that flows, the stage traits, the
//! channels, the processor chain, fan-out and export tasks, and the config
//! schema. It depends on no component crate.

pub mod component;
pub mod config;

// The OTLP codec lives in `ccpipe-otlp`; its modules are re-exported under
// their old paths so the component crates keep their imports unchanged.
#[doc(hidden)]
pub use ccpipe_otlp::testing;
pub use ccpipe_otlp::{batch, encode, encoded, limits, otlp_json, records, wire};

pub use batch::{Batch, DecodeError, Form};
pub use component::{
    BlockingExporter, BoxFuture, BuildError, ExportError, Exporter, Processor, Receiver,
    ReceiverError, ServerError, Verdict,
};
pub use encoded::Encoded;
pub use export_task::BuiltExporter;
pub use id::{ComponentId, Kind};
pub use records::{Records, Signal};

/// Fires once when the service starts shutting down; cheap to clone.
pub type Shutdown = tokio_util::sync::CancellationToken;

pub mod batcher;
pub mod blocking;
pub mod chain;
pub mod channel;
pub mod connector;
pub mod export_task;
pub mod factory;
pub mod fanout;
pub mod id;
pub mod left_out;
pub mod listeners;
pub mod outputs;
pub mod port_holder;
pub mod telemetry;
pub mod wal;
