//! The `sqlite` exporter's factory: its type name, its config checked
//! without IO, and the build (which opens the database).

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{BuildError, BuiltExporter};

use super::{SqliteConfig, SqliteExporter};
use crate::common;

/// `sqlite`: every signal into the embedded store.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "sqlite"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        common::parse_settings::<SqliteConfig>(cfg).map(drop)
    }
}

impl ExporterFactory for Factory {
    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
        common::queue_storage::<SqliteConfig>(cfg)
    }

    /// Opens (creating or migrating) the database here, so a damaged or
    /// unwritable file fails at startup.
    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let (c, settings) = common::parse_settings::<SqliteConfig>(cfg)?;
        let exporter = SqliteExporter::open(&cfg.id().to_string(), &settings)
            .map_err(|e| common::build_error(cfg, e))?;
        common::spawned(cfg, &c, exporter)
    }
}
