//! ccpipe's processors and their registry.
//!
//! | type | what it does |
//! |---|---|
//! | `batch` | merges batches by size and time ([`batch`]) |
//! | `resource` | actions on resource attributes ([`resource`]) |
//! | `resourcedetection` | where ccpipe runs (`host.name`, `os.type`, its `OTEL_RESOURCE_ATTRIBUTES`) on every resource ([`resourcedetection`]) |
//! | `attributes` | actions on record / data point / span attributes, scoped by include/exclude ([`attributes`]) |
//! | `filter` | drops records chosen by include/exclude ([`filter`]) |
//! | `redaction` | removes prompt text and secrets ([`redaction`]) |
//!
//! Each processor has a strict config struct (`deny_unknown_fields`) that
//! implements `ComponentSettings` (its type name and a pure `validate()`) and
//! `ProcessorSettings` (its chain stage); its `Factory` is
//! `Typed<ItsConfig>`, which types it from its [`ComponentConfig`]. Adding
//! one is its module plus a line in
//! [`FACTORIES`]. Processors are synchronous and run on the chain's
//! thread; regexes are compiled once at build.

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::ComponentConfig;
use ccpipe_pipeline::factory::ProcessorFactory;
use ccpipe_pipeline::Processor;

mod actions;
pub mod attributes;
pub mod batch;
pub mod filter;
mod hashing;
mod matcher;
mod points;
pub mod redaction;
pub mod resource;
pub mod resourcedetection;
mod secrets;
mod value;

pub use actions::{ActionConfig, ActionKind};
pub use matcher::{AttributeMatch, MatchConfig, MatchType};
pub use secrets::BUILTIN as BUILTIN_SECRET_RULES;
pub use value::ConfigValue;

pub use ccpipe_pipeline::config::Invalid;

/// Every processor type, in the order `unknown processor type` lists them.
pub static FACTORIES: &[&dyn ProcessorFactory] = &[
    &batch::Factory::new(),
    &resource::Factory::new(),
    &resourcedetection::Factory::new(),
    &attributes::Factory::new(),
    &filter::Factory::new(),
    &redaction::Factory::new(),
];

/// A processor's chain stage, named by its id in metrics.
fn stage(cfg: &ComponentConfig, processor: impl Processor + 'static) -> Stage {
    Stage::Process {
        id: cfg.id().to_string(),
        processor: Box::new(processor),
    }
}

/// A user's regex that does not compile, in one line
/// (`invalid regex "(": unclosed group`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regex {pattern:?}: {why}")]
pub struct RegexError {
    pattern: String,
    why: String,
}

/// Compiles a user's regex.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, RegexError> {
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
        RegexError {
            pattern: pattern.to_owned(),
            why,
        }
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn regex_errors_are_one_line() {
        assert_eq!(
            compile_regex("a(b").unwrap_err().to_string(),
            "invalid regex \"a(b\": unclosed group"
        );
        assert!(compile_regex("^ok$").is_ok());
    }
}
