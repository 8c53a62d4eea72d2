//! The `sqlite` exporter's settings.

use std::path::PathBuf;
use std::time::Duration;

use ccpipe_pipeline::config::units;
use ccpipe_store::retention::Retention;
use serde::Deserialize;

use crate::common::{ExporterConfig, Invalid, QueueConfig, RetryConfig};

/// The `sqlite` exporter's config, as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// The database file; its folder is created. Absent: the per-user
    /// default, `$XDG_DATA_HOME/ccpipe/ccpipe.db` or `~/.local/share/ccpipe/ccpipe.db`.
    #[serde(default)]
    pub path: Option<String>,
    /// Data older than this is deleted; 0 keeps everything.
    #[serde(default = "default_max_age")]
    pub max_age: units::Duration,
    /// The oldest raw rows are deleted while the database is larger; 0: no limit.
    #[serde(default = "default_max_size")]
    pub max_size: units::ByteSize,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    /// Default: retry a batch until it is stored (`max_elapsed_time: 0`):
    /// the store is local, so giving up would only throw the data away.
    #[serde(default = "default_retry")]
    pub retry_on_failure: RetryConfig,
}

fn default_retry() -> RetryConfig {
    RetryConfig {
        max_elapsed_time: units::Duration(Duration::ZERO),
        ..RetryConfig::default()
    }
}

/// A year: the longest any duration key accepts, and what `ccpipe usage
/// monthly` wants to look back over.
fn default_max_age() -> units::Duration {
    units::Duration(Duration::from_secs(365 * 24 * 3600))
}

/// 2 GiB: a year of a heavy user's raw records (bench/README.md) is about that.
fn default_max_size() -> units::ByteSize {
    units::ByteSize(2 << 30)
}

/// The shortest `max_age`: retention runs every minute, and less than an
/// hour would empty the charts' current hour.
pub const MIN_MAX_AGE: Duration = Duration::from_secs(3600);
/// The smallest `max_size`: the schema alone takes a few hundred KiB.
pub const MIN_MAX_SIZE: u64 = 1 << 20;

/// What the exporter runs with, once the config is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    pub path: PathBuf,
    pub retention: Retention,
}

impl ExporterConfig for SqliteConfig {
    type Settings = SqliteSettings;

    fn settings(&self) -> Result<SqliteSettings, Invalid> {
        SqliteConfig::settings(self)
    }

    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }

    fn retry_on_failure(&self) -> &RetryConfig {
        &self.retry_on_failure
    }
}

impl SqliteConfig {
    /// Checks every setting (no IO) and returns the typed settings.
    pub fn settings(&self) -> Result<SqliteSettings, Invalid> {
        let path = match &self.path {
            Some(p) if p.trim().is_empty() => {
                return Err(Invalid::new("path", "must not be empty"))
            }
            Some(p) => PathBuf::from(p),
            None => ccpipe_store::default_path().ok_or_else(|| {
                Invalid::new(
                    "path",
                    "is not set and neither XDG_DATA_HOME nor HOME is set to find the \
                     default (~/.local/share/ccpipe/ccpipe.db): set path",
                )
            })?,
        };
        let age = self.max_age.0;
        if !age.is_zero() && age < MIN_MAX_AGE {
            return Err(Invalid::new(
                "max_age",
                "must be 0 (keep everything) or at least 1h",
            ));
        }
        let size = self.max_size.0;
        if size != 0 && size < MIN_MAX_SIZE {
            return Err(Invalid::new(
                "max_size",
                "must be 0 (no limit) or at least 1MiB",
            ));
        }
        self.sending_queue.validate()?;
        self.retry_on_failure.validate()?;
        self.sending_queue.durable()?;
        Ok(SqliteSettings {
            path,
            retention: Retention {
                max_age: (!age.is_zero()).then_some(age),
                max_size: (size != 0).then_some(size),
            },
        })
    }
}
