//! The `datadog` exporter's factory: its type name, the signals it takes, its
//! config checked without IO, and the build.

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{BuildError, BuiltExporter, Signal};

use super::{DatadogConfig, DatadogExporter};
use crate::common;

/// `datadog`: to a Datadog Agent over OTLP, or agentless to the intake.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "datadog"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        common::parse_settings::<DatadogConfig>(cfg).map(drop)
    }
}

impl ExporterFactory for Factory {
    fn unsupported(
        &self,
        cfg: &ComponentConfig,
        signal: Signal,
    ) -> Result<Option<String>, ConfigError> {
        let c: DatadogConfig = cfg.parse()?;
        Ok(c.unsupported(signal).map(str::to_owned))
    }

    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
        common::queue_storage::<DatadogConfig>(cfg)
    }

    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let (c, settings) = common::parse_settings::<DatadogConfig>(cfg)?;
        let exporter = DatadogExporter::new(&cfg.id().to_string(), settings)
            .map_err(|e| common::build_error(cfg, e))?;
        common::built(cfg, &c, Box::new(exporter))
    }
}
