//! The `kafka` exporter's factory: its type name, its config checked
//! without IO, and the build.

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{BuildError, BuiltExporter};

use super::{KafkaConfig, KafkaExporter};
use crate::common;

/// `kafka`: OTLP export requests to Kafka topics.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "kafka"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        common::parse_settings::<KafkaConfig>(cfg).map(drop)
    }
}

impl ExporterFactory for Factory {
    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
        common::queue_storage::<KafkaConfig>(cfg)
    }

    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let (c, settings) = common::parse_settings::<KafkaConfig>(cfg)?;
        let exporter = KafkaExporter::new(&cfg.id().to_string(), settings)
            .map_err(|e| common::build_error(cfg, e))?;
        common::built(cfg, &c, Box::new(exporter))
    }
}
