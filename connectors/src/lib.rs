//! ccpipe's connectors and their registry.
//!
//! | type | consumes → produces | what it does |
//! |---|---|---|
//! | `claude_code_metrics` | logs → metrics | counters and histograms from Claude Code events ([`claude_code_metrics`]) |
//! | `langfuse_traces` | logs → traces | one trace per prompt from Claude Code events, for Langfuse ([`langfuse_traces`]) |
//!
//! A connector is a stage of its own, not a processor: it ends one pipeline
//! (as an exporter) and starts others (as a receiver), keeps state across
//! batches and emits on a timer. The runtime part is
//! [`ccpipe_pipeline::connector`]; this crate holds the strict configs and
//! the aggregations. Only this file talks to [`ComponentConfig`].

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::connector::BuiltConnector;
use ccpipe_pipeline::{BuildError, Signal};

mod attributes;
pub mod claude_code_metrics;
pub mod langfuse_traces;

/// The connector types this crate builds, as written in configs.
pub const TYPES: &[&str] = &["claude_code_metrics", "langfuse_traces"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    ClaudeCodeMetrics,
    LangfuseTraces,
}

impl Type {
    fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "claude_code_metrics" => Type::ClaudeCodeMetrics,
            "langfuse_traces" => Type::LangfuseTraces,
            _ => return None,
        })
    }

    /// The (consumed, produced) signal pairs it joins.
    fn pairs(self) -> &'static [(Signal, Signal)] {
        match self {
            Type::ClaudeCodeMetrics => &[(Signal::Logs, Signal::Metrics)],
            Type::LangfuseTraces => &[(Signal::Logs, Signal::Traces)],
        }
    }
}

fn unknown_type(cfg: &ComponentConfig) -> ConfigError {
    cfg.error(
        "",
        format!(
            "unknown connector type {:?}; known types: {}",
            cfg.id().type_name(),
            TYPES.join(", ")
        ),
    )
}

fn type_of(cfg: &ComponentConfig) -> Result<Type, ConfigError> {
    Type::from_name(cfg.id().type_name()).ok_or_else(|| unknown_type(cfg))
}

/// Parses and checks `cfg` without building anything.
pub fn validate(cfg: &ComponentConfig) -> Result<(), ConfigError> {
    match type_of(cfg)? {
        Type::ClaudeCodeMetrics => {
            let c: claude_code_metrics::Config = cfg.parse()?;
            c.validate()
                .map_err(|(key, message)| cfg.error(key, message))
        }
        Type::LangfuseTraces => {
            let c: langfuse_traces::Config = cfg.parse()?;
            c.validate()
                .map_err(|(key, message)| cfg.error(key, message))
        }
    }
}

/// Whether the connector of `cfg` can take `from` (as an exporter) and
/// produce `to` (as a receiver).
pub fn supports(cfg: &ComponentConfig, from: Signal, to: Signal) -> Result<bool, ConfigError> {
    Ok(type_of(cfg)?.pairs().contains(&(from, to)))
}

/// Builds the connector of `cfg`; start it with [`ccpipe_pipeline::connector::start`].
pub fn build(cfg: &ComponentConfig) -> Result<BuiltConnector, BuildError> {
    validate(cfg)?;
    match type_of(cfg)? {
        Type::ClaudeCodeMetrics => {
            let c: claude_code_metrics::Config = cfg.parse()?;
            Ok(c.build(&cfg.id().to_string()))
        }
        Type::LangfuseTraces => {
            let c: langfuse_traces::Config = cfg.parse()?;
            Ok(c.build(&cfg.id().to_string()))
        }
    }
}

#[cfg(test)]
mod tests;
