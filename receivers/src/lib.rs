//! ccpipe's receivers: each module has its config, its receiver and its
//! `Factory`; this file lists the factories.
//!
//! Adding a receiver: its module (with testdata under `testdata/<type>/`,
//! `lifecycle.yaml` included) and one line in [`FACTORIES`].

#[cfg(feature = "kafka")]
pub mod kafka;
pub mod otlp;

#[cfg(test)]
mod lifecycle_tests;

use ccpipe_pipeline::factory::ReceiverFactory;

/// Every receiver type, in the order `unknown receiver type` lists them.
pub static FACTORIES: &[&dyn ReceiverFactory] = &[
    #[cfg(feature = "kafka")]
    &kafka::Factory,
    #[cfg(not(feature = "kafka"))]
    &ccpipe_pipeline::left_out::LeftOut::named("kafka"),
    &otlp::Factory,
];
