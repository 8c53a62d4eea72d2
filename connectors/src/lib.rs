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
//! the aggregations, each with its `Factory` (`Typed<its Config>`, from its
//! `ComponentSettings` and `ConnectorSettings`); this file lists them.

use ccpipe_pipeline::factory::ConnectorFactory;

mod attributes;
pub mod claude_code_metrics;
pub mod langfuse_traces;

/// Every connector type, in the order `unknown connector type` lists them.
pub static FACTORIES: &[&dyn ConnectorFactory] = &[
    &claude_code_metrics::Factory::new(),
    &langfuse_traces::Factory::new(),
];

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
