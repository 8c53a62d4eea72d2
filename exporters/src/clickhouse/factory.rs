//! The `clickhouse` exporter's factory: its type name, the signals it takes, its
//! config checked without IO, and the build.

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{BuildError, BuiltExporter};

use super::{ClickhouseConfig, ClickhouseExporter};
use crate::common;

/// `clickhouse`: rows into ClickHouse tables over its HTTP interface.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "clickhouse"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        common::parse_settings::<ClickhouseConfig>(cfg).map(drop)
    }
}

impl ExporterFactory for Factory {
    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
        common::queue_storage::<ClickhouseConfig>(cfg)
    }

    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let (c, settings) = common::parse_settings::<ClickhouseConfig>(cfg)?;
        let exporter =
            ClickhouseExporter::new(settings).map_err(|e| common::build_error(cfg, e))?;
        common::built(cfg, &c, Box::new(exporter))
    }
}
