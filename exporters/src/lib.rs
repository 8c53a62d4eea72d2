//! ccpipe's exporters and their registry.
//!
//! Adding an exporter: a module with its config struct (strict serde, a pure
//! `settings()` check), its exporter and its `Factory`, testdata under
//! `testdata/<type>/` (`lifecycle.yaml` included), and one line in
//! [`FACTORIES`].

pub mod clickhouse;
pub mod common;
pub mod datadog;
pub mod debug;
pub mod file;
pub mod http_client;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod nop;
pub mod otlp;
pub mod otlp_client;
pub mod prometheus;
pub mod sqlite;
mod text;
pub mod tls;

#[cfg(test)]
mod fake_otlp;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use ccpipe_pipeline::factory::ExporterFactory;

/// Every exporter type, in the order `unknown exporter type` lists them.
pub static FACTORIES: &[&dyn ExporterFactory] = &[
    &clickhouse::Factory,
    &datadog::Factory,
    &debug::Factory,
    &file::Factory,
    #[cfg(feature = "kafka")]
    &kafka::Factory,
    #[cfg(not(feature = "kafka"))]
    &ccpipe_pipeline::left_out::LeftOut::named("kafka"),
    &nop::Factory,
    &otlp::GRPC,
    &otlp::HTTP,
    &prometheus::Factory,
    &sqlite::Factory,
];
