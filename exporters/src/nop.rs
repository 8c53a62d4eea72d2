//! `nop`: accepts every batch and discards it, like the Collector's nop
//! exporter. For benchmarks and for pipelines that only need processors'
//! side effects. It counts what it discards as sent, so nothing is silent.

use ccpipe_pipeline::payload::{Form, Shared};
use ccpipe_pipeline::{BoxFuture, ExportError, Exporter};
use serde::Deserialize;

/// `nop` takes no settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopConfig {}

pub struct NopExporter;

impl Exporter for NopExporter {
    // Discarding needs no structure: never make the pipeline decode for it.
    fn prefers(&self) -> Form {
        Form::Encoded
    }

    fn export(&mut self, _batch: Shared) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }
}
