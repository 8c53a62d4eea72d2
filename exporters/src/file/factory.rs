//! The `file` exporter's factory: its type name, the signals it takes, its
//! config checked without IO, and the build.

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{BuildError, BuiltExporter};

use super::{FileConfig, FileExporter};
use crate::common;

/// `file`: one JSON line per request (or per record) to a rotated file.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "file"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        common::parse_settings::<FileConfig>(cfg).map(drop)
    }
}

impl ExporterFactory for Factory {
    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
        common::queue_storage::<FileConfig>(cfg)
    }

    /// Opens the file here, so a path that cannot be written fails at startup.
    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let (c, settings) = common::parse_settings::<FileConfig>(cfg)?;
        let exporter = FileExporter::open(&settings).map_err(|e| common::build_error(cfg, e))?;
        common::spawned(cfg, &c, exporter)
    }
}
