//! Settings every exporter has, with the Collector's names and defaults:
//! `sending_queue` and `retry_on_failure`. Each exporter's config struct
//! holds them as plain fields (no `#[serde(flatten)]`, which would stop
//! `deny_unknown_fields` from catching typos).

use std::fmt;

use ccpipe_pipeline::config::units::Duration;
use ccpipe_pipeline::export_task::RetryPolicy;
use serde::Deserialize;

/// A setting that failed validation: the key path inside the component
/// (`rotation.max_megabytes`) and what is wrong with it. The registry turns
/// it into a `ConfigError` located in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(key: &'static str, message: impl fmt::Display) -> Self {
        Invalid {
            key,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// `sending_queue`: the exporter's own bounded queue, in batches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    pub queue_size: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { queue_size: 64 }
    }
}

impl QueueConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.queue_size == 0 {
            return Err(Invalid::new(
                "sending_queue.queue_size",
                "must be at least 1",
            ));
        }
        Ok(())
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
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(Invalid::new(
                "retry_on_failure.multiplier",
                "must be a number of at least 1",
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
