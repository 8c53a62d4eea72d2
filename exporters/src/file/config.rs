//! The `file` exporter's settings, with the Collector's key names.

use std::path::PathBuf;
use std::time::Duration;

use ccpipe_pipeline::config::units;
use ccpipe_pipeline::wal::{Fsync, WalConfig};
use serde::Deserialize;

use super::writer::Rotation;
use crate::common::{Invalid, QueueConfig, RetryConfig};

/// The `file` exporter's config, as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Required: the file to append to. Parent folders are created.
    pub path: String,
    /// `otlp_json` (default) or `flat`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Absent: never rotate.
    #[serde(default)]
    pub rotation: Option<RotationConfig>,
    /// How long written data may wait in memory; 0 writes every batch at once.
    #[serde(default = "default_flush_interval")]
    pub flush_interval: units::Duration,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
}

/// `rotation`, as the Collector's file exporter (lumberjack) has it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RotationConfig {
    /// Rotate before the file would grow past this many MiB.
    pub max_megabytes: u64,
    /// Rotated files to keep; 0 keeps all.
    pub max_backups: usize,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            max_megabytes: 100,
            max_backups: 10,
        }
    }
}

fn default_format() -> String {
    "otlp_json".into()
}

fn default_flush_interval() -> units::Duration {
    units::Duration(Duration::from_secs(1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One OTLP/JSON export request per line, as the Collector writes it.
    OtlpJson,
    /// One JSON object per log record, data point or span.
    Flat,
}

/// What the exporter runs with, once the config is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    pub path: PathBuf,
    pub format: Format,
    pub rotation: Option<Rotation>,
    /// `None`: write after every batch.
    pub flush_interval: Option<Duration>,
    /// When an export counts as done; set from `sending_queue`.
    pub ack: AckWhen,
}

/// When the exporter tells its queue a batch is done, and the queue may
/// forget it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckWhen {
    /// In-memory queue: once buffered; written within `flush_interval`.
    Buffered,
    /// Durable queue with `fsync: interval:…`: once written (in the OS page
    /// cache, so it survives a crash of ccpipe); fsynced on `flush_interval`.
    Written,
    /// Durable queue with `fsync: always | batch`: once written and fsynced.
    Synced,
}

impl AckWhen {
    /// What a queue with these settings needs before it may drop a batch.
    pub fn for_queue(durable: Option<&WalConfig>) -> AckWhen {
        match durable.map(|w| w.fsync) {
            None => AckWhen::Buffered,
            Some(Fsync::Interval(_)) => AckWhen::Written,
            Some(Fsync::Always | Fsync::Batch) => AckWhen::Synced,
        }
    }
}

impl FileSettings {
    /// Defaults for `path`: OTLP/JSON, no rotation, flushed every second.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSettings {
            path: path.into(),
            format: Format::OtlpJson,
            rotation: None,
            flush_interval: Some(Duration::from_secs(1)),
            ack: AckWhen::Buffered,
        }
    }
}

impl FileConfig {
    /// Checks every setting (no IO) and returns the typed settings.
    pub fn settings(&self) -> Result<FileSettings, Invalid> {
        if self.path.trim().is_empty() {
            return Err(Invalid::new("path", "must not be empty"));
        }
        let format = match self.format.as_str() {
            "otlp_json" => Format::OtlpJson,
            "flat" => Format::Flat,
            other => {
                return Err(Invalid::new(
                    "format",
                    format!("must be one of otlp_json, flat; got {other:?}"),
                ))
            }
        };
        let rotation = match &self.rotation {
            None => None,
            Some(r) => {
                if r.max_megabytes == 0 {
                    return Err(Invalid::new("rotation.max_megabytes", "must be at least 1"));
                }
                let max_bytes = r
                    .max_megabytes
                    .checked_mul(1 << 20)
                    .ok_or_else(|| Invalid::new("rotation.max_megabytes", "is too large"))?;
                Some(Rotation {
                    max_bytes,
                    max_backups: r.max_backups,
                })
            }
        };
        self.sending_queue.validate()?;
        self.retry_on_failure.validate()?;
        let durable = self.sending_queue.durable()?;
        let interval = self.flush_interval.0;
        Ok(FileSettings {
            path: PathBuf::from(&self.path),
            format,
            rotation,
            flush_interval: (!interval.is_zero()).then_some(interval),
            ack: AckWhen::for_queue(durable.as_ref()),
        })
    }
}

impl crate::common::ExporterConfig for FileConfig {
    type Settings = FileSettings;
    fn settings(&self) -> Result<FileSettings, crate::common::Invalid> {
        FileConfig::settings(self)
    }
    fn sending_queue(&self) -> &crate::common::QueueConfig {
        &self.sending_queue
    }
    fn retry_on_failure(&self) -> &crate::common::RetryConfig {
        &self.retry_on_failure
    }
}
