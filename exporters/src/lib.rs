//! ccpipe's exporters and their registry.
//!
//! Adding an exporter: a module with its config struct (strict serde, a pure
//! `settings()` check) and its exporter, testdata under `testdata/<type>/`,
//! one `Type` variant, and one arm in each match below.

pub mod common;
pub mod debug;
pub mod file;
pub mod nop;
mod text;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::{blocking, BlockingExporter, BuildError, BuiltExporter, Kind};

use common::{Invalid, QueueConfig, RetryConfig};

/// The exporter types this crate builds, as written in a config.
pub const TYPES: &[&str] = &["debug", "file", "nop"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Debug,
    File,
    Nop,
}

fn type_of(cfg: &ComponentConfig) -> Result<Type, ConfigError> {
    match cfg.id().type_name() {
        "debug" => Ok(Type::Debug),
        "file" => Ok(Type::File),
        "nop" => Ok(Type::Nop),
        other => Err(cfg.error(
            "",
            format!(
                "unknown exporter type {other:?}; known types: {}",
                TYPES.join(", ")
            ),
        )),
    }
}

/// Checks an exporter's settings without touching the outside world.
pub fn validate(cfg: &ComponentConfig) -> Result<(), ConfigError> {
    match type_of(cfg)? {
        Type::Debug => {
            let c: debug::DebugConfig = cfg.parse()?;
            c.settings().map_err(|e| located(cfg, e))?;
        }
        Type::File => {
            let c: file::FileConfig = cfg.parse()?;
            c.settings().map_err(|e| located(cfg, e))?;
        }
        Type::Nop => {
            let _: nop::NopConfig = cfg.parse()?;
        }
    }
    Ok(())
}

/// Builds an exporter and starts its thread; files are opened here, so a
/// path that cannot be written fails at startup.
pub fn build(cfg: &ComponentConfig) -> Result<BuiltExporter, BuildError> {
    match type_of(cfg)? {
        Type::Debug => {
            let c: debug::DebugConfig = cfg.parse()?;
            let settings = c.settings().map_err(|e| located(cfg, e))?;
            start(
                cfg,
                debug::DebugExporter::new(settings),
                &c.sending_queue,
                &c.retry_on_failure,
            )
        }
        Type::File => {
            let c: file::FileConfig = cfg.parse()?;
            let settings = c.settings().map_err(|e| located(cfg, e))?;
            let exporter = file::FileExporter::open(&settings)
                .map_err(|e| BuildError::new(Kind::Exporter, cfg.id(), e))?;
            start(cfg, exporter, &c.sending_queue, &c.retry_on_failure)
        }
        Type::Nop => {
            let _: nop::NopConfig = cfg.parse()?;
            Ok(BuiltExporter {
                exporter: Box::new(nop::NopExporter),
                queue_size: QueueConfig::default().queue_size,
                retry: RetryConfig::default().policy(),
            })
        }
    }
}

fn start(
    cfg: &ComponentConfig,
    exporter: impl BlockingExporter,
    queue: &QueueConfig,
    retry: &RetryConfig,
) -> Result<BuiltExporter, BuildError> {
    let id = cfg.id();
    let exporter = blocking::spawn(&id.to_string(), exporter).map_err(|e| {
        BuildError::new(Kind::Exporter, id, format!("cannot start its thread: {e}"))
    })?;
    Ok(BuiltExporter {
        exporter,
        queue_size: queue.queue_size,
        retry: retry.policy(),
    })
}

/// A settings problem, located at its key in the config file.
fn located(cfg: &ComponentConfig, e: Invalid) -> ConfigError {
    cfg.error(e.key, e.message)
}
