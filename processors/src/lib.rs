//! ccpipe's processors and their registry.
//!
//! | type | what it does |
//! |---|---|
//! | `batch` | merges batches by size and time ([`batch`]) |
//! | `resource` | actions on resource attributes ([`resource`]) |
//! | `attributes` | actions on record / data point / span attributes, scoped by include/exclude ([`attributes`]) |
//! | `filter` | drops records chosen by include/exclude ([`filter`]) |
//! | `redaction` | removes prompt text and secrets ([`redaction`]) |
//!
//! Each processor has a strict config struct (`deny_unknown_fields`) with a
//! pure `validate()` and a `build()`; only this file talks to
//! [`ComponentConfig`]. Processors are synchronous and run on the chain's
//! thread; regexes are compiled once at build.

use std::fmt;

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::{BuildError, Processor, Signal};

mod actions;
pub mod attributes;
pub mod batch;
pub mod filter;
mod hashing;
mod matcher;
mod points;
pub mod redaction;
pub mod resource;
mod secrets;
mod value;

pub use actions::{ActionConfig, ActionKind};
pub use matcher::{AttributeMatch, MatchConfig, MatchType};
pub use secrets::BUILTIN as BUILTIN_SECRET_RULES;
pub use value::ConfigValue;

/// The processor types this crate builds, as written in configs.
pub const TYPES: &[&str] = &["batch", "resource", "attributes", "filter", "redaction"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Batch,
    Resource,
    Attributes,
    Filter,
    Redaction,
}

impl Type {
    fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "batch" => Type::Batch,
            "resource" => Type::Resource,
            "attributes" => Type::Attributes,
            "filter" => Type::Filter,
            "redaction" => Type::Redaction,
            _ => return None,
        })
    }
}

/// A problem with a processor's settings: the dotted key it is about
/// (relative to the processor, "" for the processor itself) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, message: impl fmt::Display) -> Self {
        Invalid {
            key: key.into(),
            message: message.to_string(),
        }
    }

    fn into_config_error(self, cfg: &ComponentConfig) -> ConfigError {
        cfg.error(&self.key, self.message)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key.as_str() {
            "" => f.write_str(&self.message),
            key => write!(f, "{key}: {}", self.message),
        }
    }
}

impl std::error::Error for Invalid {}

/// Compiles a user's regex, with a one-line message on error
/// (`invalid regex "(": unclosed group`).
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        let why = match &e {
            regex::Error::Syntax(text) => text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text)
                .to_owned(),
            other => other.to_string(),
        };
        format!("invalid regex {pattern:?}: {why}")
    })
}

fn unknown_type(cfg: &ComponentConfig) -> ConfigError {
    cfg.error(
        "",
        format!(
            "unknown processor type {:?}; known types: {}",
            cfg.id().type_name(),
            TYPES.join(", ")
        ),
    )
}

/// Parses and checks `cfg` without building anything (no IO either way).
pub fn validate(cfg: &ComponentConfig) -> Result<(), ConfigError> {
    let Some(ty) = Type::from_name(cfg.id().type_name()) else {
        return Err(unknown_type(cfg));
    };
    let checked = match ty {
        Type::Batch => cfg.parse::<batch::BatchConfig>()?.validate(),
        Type::Resource => cfg.parse::<resource::ResourceConfig>()?.validate(),
        Type::Attributes => cfg.parse::<attributes::AttributesConfig>()?.validate(),
        Type::Filter => cfg.parse::<filter::FilterConfig>()?.validate(),
        Type::Redaction => cfg.parse::<redaction::RedactionConfig>()?.validate(),
    };
    checked.map_err(|e| e.into_config_error(cfg))
}

/// Builds the chain stage for `cfg` in a pipeline of `signal`.
pub fn build(cfg: &ComponentConfig, signal: Signal) -> Result<Stage, BuildError> {
    let config_error = |e: ConfigError| BuildError {
        message: e.to_string(),
    };
    let invalid = |e: Invalid| config_error(e.into_config_error(cfg));
    let ty =
        Type::from_name(cfg.id().type_name()).ok_or_else(|| config_error(unknown_type(cfg)))?;
    let processor: Box<dyn Processor> = match ty {
        Type::Batch => {
            let c: batch::BatchConfig = cfg.parse().map_err(config_error)?;
            return Ok(Stage::Batch(c.build().map_err(invalid)?));
        }
        Type::Resource => {
            let c: resource::ResourceConfig = cfg.parse().map_err(config_error)?;
            Box::new(c.build().map_err(invalid)?)
        }
        Type::Attributes => {
            let c: attributes::AttributesConfig = cfg.parse().map_err(config_error)?;
            Box::new(c.build(signal).map_err(invalid)?)
        }
        Type::Filter => {
            let c: filter::FilterConfig = cfg.parse().map_err(config_error)?;
            c.validate().map_err(invalid)?;
            Box::new(c.build(signal).map_err(invalid)?)
        }
        Type::Redaction => {
            let c: redaction::RedactionConfig = cfg.parse().map_err(config_error)?;
            Box::new(c.build().map_err(invalid)?.with_id(cfg.id().to_string()))
        }
    };
    Ok(Stage::Process {
        id: cfg.id().to_string(),
        processor,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn types_and_registry_agree() {
        for name in TYPES {
            assert!(Type::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Type::from_name("transform"), None);
    }

    #[test]
    fn regex_errors_are_one_line() {
        assert_eq!(
            compile_regex("a(b").unwrap_err(),
            "invalid regex \"a(b\": unclosed group"
        );
        assert!(compile_regex("^ok$").is_ok());
    }
}
