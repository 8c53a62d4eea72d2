//! Settings every exporter has, with the Collector's names and defaults:
//! `sending_queue` and `retry_on_failure`. Each exporter's config struct
//! holds them as plain fields (no `#[serde(flatten)]`, which would stop
//! `deny_unknown_fields` from catching typos).

use std::fmt;
use std::path::PathBuf;

use ccpipe_pipeline::config::units::{ByteSize, Duration};
use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::export_task::RetryPolicy;
use ccpipe_pipeline::wal::{Fsync, WalConfig, WhenFull};
use ccpipe_pipeline::{blocking, BlockingExporter, BuildError, BuiltExporter, Exporter, Kind};
use serde::Deserialize;

pub use ccpipe_pipeline::config::Invalid;

/// An exporter config struct as the factories handle it: strict serde, a
/// pure `settings()` check, and the queue settings every exporter has.
pub trait ExporterConfig: serde::de::DeserializeOwned {
    type Settings;
    fn settings(&self) -> Result<Self::Settings, Invalid>;
    fn sending_queue(&self) -> &QueueConfig;
    fn retry_on_failure(&self) -> &RetryConfig;
}

/// Parses `cfg` as `C` and checks it: the config and its settings, or an
/// error at the file, line and key.
pub fn parse_settings<C: ExporterConfig>(
    cfg: &ComponentConfig,
) -> Result<(C, C::Settings), ConfigError> {
    let c: C = cfg.parse()?;
    let settings = c.settings().map_err(|e| cfg.locate(e))?;
    Ok((c, settings))
}

/// [`ExporterFactory::queue_storage`](ccpipe_pipeline::factory::ExporterFactory::queue_storage)
/// for an exporter whose config is `C`.
pub fn queue_storage<C: ExporterConfig>(cfg: &ComponentConfig) -> Option<PathBuf> {
    let c: C = cfg.parse().ok()?;
    c.sending_queue()
        .storage
        .clone()
        .filter(|d| !d.as_os_str().is_empty())
}

/// `exporter` with the queue and retry settings of `c`.
pub fn built<C: ExporterConfig>(
    cfg: &ComponentConfig,
    c: &C,
    exporter: Box<dyn Exporter>,
) -> Result<BuiltExporter, BuildError> {
    let queue = c.sending_queue();
    Ok(BuiltExporter {
        exporter,
        queue_size: queue.queue_size,
        retry: c.retry_on_failure().policy(),
        durable: queue.durable().map_err(|e| cfg.locate(e))?,
    })
}

/// [`built`] for an exporter that blocks: it runs on a thread of its own.
pub fn spawned<C: ExporterConfig>(
    cfg: &ComponentConfig,
    c: &C,
    exporter: impl BlockingExporter,
) -> Result<BuiltExporter, BuildError> {
    let exporter = blocking::spawn(&cfg.id().to_string(), exporter)
        .map_err(|e| build_error(cfg, format!("cannot start its thread: {e}")))?;
    built(cfg, c, exporter)
}

/// A build failure of the exporter of `cfg` (a file, a socket, a client).
pub fn build_error(cfg: &ComponentConfig, e: impl fmt::Display) -> BuildError {
    BuildError::new(Kind::Exporter, cfg.id(), e)
}

/// Refuses a URL with credentials in it (`https://user:pass@host`): they
/// would show in logs and errors, and hyper does not send them anyway. The
/// message does not quote the URL, which holds a password.
pub fn no_credentials(key: &'static str, url: &str, instead: &str) -> Result<(), Invalid> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    match authority.contains('@') {
        true => Err(Invalid::new(
            key,
            format!("must not hold credentials; {instead}"),
        )),
        false => Ok(()),
    }
}

/// `sending_queue`: the exporter's own bounded queue: in memory, in
/// batches (`queue_size`), or with `storage` a write-ahead log on disk
/// bounded in bytes (`max_size`); see `docs/durability.md`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    pub queue_size: usize,
    /// Directory of the durable queue; absent = in memory.
    pub storage: Option<PathBuf>,
    pub max_size: ByteSize,
    pub when_full: WhenFullConfig,
    /// `always`, `batch` or `interval:<duration>`.
    pub fsync: String,
}

/// `sending_queue.when_full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFullConfig {
    Block,
    DropOldest,
}

/// The largest `queue_size`: far past any useful backlog of batches (the
/// byte budget stops the queue long before), and small enough for every
/// queue and semaphore implementation to hold as a count.
pub const MAX_QUEUE_SIZE: usize = 1 << 20;

/// The largest `retry_on_failure.multiplier`: the interval reaches
/// `max_interval` within a few retries at any value above a handful.
pub const MAX_MULTIPLIER: f64 = 1000.0;

/// The smallest `max_size`: a few requests of Claude Code's size.
const MIN_QUEUE_BYTES: u64 = 1 << 20;

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            queue_size: 64,
            storage: None,
            max_size: ByteSize(1 << 30),
            when_full: WhenFullConfig::Block,
            fsync: "batch".into(),
        }
    }
}

impl QueueConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        self.durable().map(|_| ())
    }

    /// The durable queue's settings, when `storage` is set.
    pub fn durable(&self) -> Result<Option<WalConfig>, Invalid> {
        if self.queue_size == 0 || self.queue_size > MAX_QUEUE_SIZE {
            return Err(Invalid::new(
                "sending_queue.queue_size",
                format!("must be from 1 to {MAX_QUEUE_SIZE}"),
            ));
        }
        if self.max_size.0 < MIN_QUEUE_BYTES {
            return Err(Invalid::new(
                "sending_queue.max_size",
                "must be at least 1MiB",
            ));
        }
        let fsync: Fsync = self
            .fsync
            .parse()
            .map_err(|e| Invalid::new("sending_queue.fsync", e))?;
        let Some(dir) = &self.storage else {
            return Ok(None);
        };
        if dir.as_os_str().is_empty() {
            return Err(Invalid::new(
                "sending_queue.storage",
                "must be a directory path; leave it out for an in-memory queue",
            ));
        }
        let when_full = match self.when_full {
            WhenFullConfig::Block => WhenFull::Block,
            WhenFullConfig::DropOldest => WhenFull::DropOldest,
        };
        Ok(Some(WalConfig::new(dir, self.max_size.0, when_full, fsync)))
    }
}

/// `retry_on_failure`: exponential backoff for retryable export errors.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    pub enabled: bool,
    pub initial_interval: Duration,
    pub max_interval: Duration,
    /// Give up on a batch after this long; 0 = never.
    pub max_elapsed_time: Duration,
    pub multiplier: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        let p = RetryPolicy::default();
        RetryConfig {
            enabled: p.enabled,
            initial_interval: Duration(p.initial_interval),
            max_interval: Duration(p.max_interval),
            max_elapsed_time: Duration(p.max_elapsed_time),
            multiplier: p.multiplier,
        }
    }
}

impl RetryConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !self.enabled {
            return Ok(());
        }
        if self.initial_interval.0.is_zero() {
            return Err(Invalid::new(
                "retry_on_failure.initial_interval",
                "must be greater than 0",
            ));
        }
        if self.max_interval.0 < self.initial_interval.0 {
            return Err(Invalid::new(
                "retry_on_failure.max_interval",
                format!(
                    "must be at least initial_interval ({})",
                    self.initial_interval
                ),
            ));
        }
        if !(self.multiplier.is_finite() && (1.0..=MAX_MULTIPLIER).contains(&self.multiplier)) {
            return Err(Invalid::new(
                "retry_on_failure.multiplier",
                format!("must be a number from 1 to {MAX_MULTIPLIER}"),
            ));
        }
        Ok(())
    }

    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            enabled: self.enabled,
            initial_interval: self.initial_interval.0,
            max_interval: self.max_interval.0,
            max_elapsed_time: self.max_elapsed_time.0,
            multiplier: self.multiplier,
        }
    }
}

#[cfg(test)]
mod queue_tests {
    use super::*;

    fn queue(json: &str) -> Result<QueueConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn durable_settings_and_their_errors() {
        let q = queue(r#"{"storage": "/var/lib/ccpipe/q", "max_size": "2GiB", "when_full": "drop_oldest", "fsync": "interval:1s"}"#).unwrap();
        let wal = q.durable().unwrap().expect("storage set");
        assert_eq!(wal.dir, PathBuf::from("/var/lib/ccpipe/q"));
        assert_eq!(wal.max_size, 2 << 30);
        assert_eq!(wal.when_full, WhenFull::DropOldest);
        assert_eq!(
            wal.fsync,
            Fsync::Interval(std::time::Duration::from_secs(1))
        );
        assert_eq!(
            queue("{}").unwrap().durable().unwrap(),
            None,
            "in memory by default"
        );

        let cases = [
            (r#"{"storage": "q", "max_size": "1KiB"}"#, "sending_queue.max_size: must be at least 1MiB"),
            (
                r#"{"storage": "q", "fsync": "sometimes"}"#,
                "sending_queue.fsync: expected always, batch or interval:<duration> (e.g. interval:1s), got \"sometimes\"",
            ),
            (r#"{"storage": "q", "fsync": "interval:0"}"#, "sending_queue.fsync: the interval must be greater than 0"),
            (
                r#"{"storage": ""}"#,
                "sending_queue.storage: must be a directory path; leave it out for an in-memory queue",
            ),
        ];
        for (json, want) in cases {
            let err = queue(json).unwrap().durable().unwrap_err();
            assert_eq!(err.to_string(), want, "{json}");
        }
        let typo = queue(r#"{"when_full": "wait"}"#).unwrap_err();
        assert!(
            typo.contains("unknown variant `wait`, expected `block` or `drop_oldest`"),
            "{typo}"
        );
    }
}
