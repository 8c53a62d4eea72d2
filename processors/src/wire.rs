//! Processors on the encoded request: the walk and the per-request helper
//! live in `ccpipe_otlp::rewrite`, shared with the Datadog exporter.

pub use ccpipe_otlp::rewrite::{each_request, Fallback, Rewritten};
