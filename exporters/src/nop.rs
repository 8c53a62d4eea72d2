//! `nop`: accepts every batch and discards it, like the Collector's nop
//! exporter. For benchmarks and for pipelines that only need processors'
//! side effects. It counts what it discards as sent, so nothing is silent.

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{Batch, Form};
use ccpipe_pipeline::{BoxFuture, BuildError, BuiltExporter, ExportError, Exporter};
use serde::Deserialize;

use crate::common::{QueueConfig, RetryConfig};

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

    fn export(&mut self, _batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }
}

/// `nop`: discards everything, counted as sent.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "nop"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        cfg.parse::<NopConfig>().map(drop)
    }
}

impl ExporterFactory for Factory {
    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let _: NopConfig = cfg.parse()?;
        Ok(BuiltExporter {
            exporter: Box::new(NopExporter),
            queue_size: QueueConfig::default().queue_size,
            retry: RetryConfig::default().policy(),
            durable: None,
        })
    }
}
