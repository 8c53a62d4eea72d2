//! ccpipe's receivers, and the registry that validates and builds them from
//! their config sections.
//!
//! Adding a receiver: a module, a [`Type`] variant, its name in [`TYPES`],
//! and one arm in each `match` below (the compiler lists any that is missing).

pub mod kafka;
pub mod otlp;

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::outputs::Outputs;
use ccpipe_pipeline::{BuildError, Receiver};

/// The receiver types this crate provides.
pub const TYPES: &[&str] = &["kafka", "otlp"];

/// One variant per entry of [`TYPES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Kafka,
    Otlp,
}

fn type_of(cfg: &ComponentConfig) -> Result<Type, ConfigError> {
    match cfg.id().type_name() {
        "kafka" => Ok(Type::Kafka),
        "otlp" => Ok(Type::Otlp),
        other => Err(cfg.error(
            "",
            format!(
                "unknown receiver type {other:?}; known types: {}",
                TYPES.join(", ")
            ),
        )),
    }
}

/// Checks a receiver's settings without opening anything.
pub fn validate(cfg: &ComponentConfig) -> Result<(), ConfigError> {
    match type_of(cfg)? {
        Type::Kafka => kafka::config::from_component(cfg).map(drop),
        Type::Otlp => otlp::config::from_component(cfg).map(drop),
    }
}

/// Builds a receiver and binds its sockets through `listeners` (reusing
/// those of the graph before, on reload); it starts serving when run.
pub async fn build(
    cfg: &ComponentConfig,
    outputs: Outputs,
    listeners: &Listeners,
) -> Result<Box<dyn Receiver>, BuildError> {
    match type_of(cfg)? {
        Type::Kafka => {
            let settings = kafka::config::from_component(cfg)?;
            let receiver = kafka::KafkaReceiver::new(cfg.id(), settings, outputs)?;
            Ok(Box::new(receiver))
        }
        Type::Otlp => {
            let settings = otlp::config::from_component(cfg)?;
            let receiver = otlp::OtlpReceiver::bind(cfg.id(), settings, outputs, listeners).await?;
            Ok(Box::new(receiver))
        }
    }
}
