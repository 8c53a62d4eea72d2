//! ccpipe's exporters and their registry.
//!
//! Adding an exporter: a module with its config struct (strict serde, a pure
//! `settings()` check) and its exporter, testdata under `testdata/<type>/`,
//! one `Type` variant, and one arm in each match below.

pub mod clickhouse;
pub mod common;
pub mod datadog;
pub mod debug;
pub mod file;
pub mod http_client;
pub mod kafka;
pub mod nop;
pub mod otlp;
pub mod otlp_client;
pub mod prometheus;
mod text;
pub mod tls;

#[cfg(test)]
mod fake_otlp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{blocking, BlockingExporter, BuildError, BuiltExporter, Kind, Signal};

use common::{Invalid, QueueConfig, RetryConfig};

/// The exporter types this crate builds, as written in a config.
pub const TYPES: &[&str] = &[
    "clickhouse",
    "datadog",
    "debug",
    "file",
    "kafka",
    "nop",
    "otlp",
    "otlp_http",
    "prometheus",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Clickhouse,
    Datadog,
    Debug,
    File,
    Kafka,
    Nop,
    Otlp,
    OtlpHttp,
    Prometheus,
}

fn type_of(cfg: &ComponentConfig) -> Result<Type, ConfigError> {
    match cfg.id().type_name() {
        "clickhouse" => Ok(Type::Clickhouse),
        "datadog" => Ok(Type::Datadog),
        "debug" => Ok(Type::Debug),
        "file" => Ok(Type::File),
        "kafka" => Ok(Type::Kafka),
        "nop" => Ok(Type::Nop),
        "otlp" => Ok(Type::Otlp),
        "otlp_http" => Ok(Type::OtlpHttp),
        "prometheus" => Ok(Type::Prometheus),
        other => Err(cfg.error(
            "",
            format!(
                "unknown exporter type {other:?}; known types: {}",
                TYPES.join(", ")
            ),
        )),
    }
}

/// Checks an exporter's settings without touching the outside world.
pub fn validate(cfg: &ComponentConfig) -> Result<(), ConfigError> {
    match type_of(cfg)? {
        Type::Clickhouse => {
            let c: clickhouse::ClickhouseConfig = cfg.parse()?;
            c.settings().map_err(|e| located(cfg, e))?;
        }
        Type::Datadog => {
            let c: datadog::DatadogConfig = cfg.parse()?;
            c.settings().map_err(|e| located(cfg, e))?;
        }
        Type::Debug => {
            let c: debug::DebugConfig = cfg.parse()?;
            c.settings().map_err(|e| located(cfg, e))?;
        }
        Type::File => {
            let c: file::FileConfig = cfg.parse()?;
            c.settings().map_err(|e| located(cfg, e))?;
        }
        Type::Kafka => {
            let c: kafka::KafkaConfig = cfg.parse()?;
            c.settings().map_err(|e| located(cfg, e))?;
        }
        Type::Nop => {
            let _: nop::NopConfig = cfg.parse()?;
        }
        Type::Otlp | Type::OtlpHttp => {
            let c: otlp::OtlpConfig = cfg.parse()?;
            c.settings(otlp_protocol(cfg)?)
                .map_err(|e| located(cfg, e))?;
        }
        Type::Prometheus => {
            let c: prometheus::PrometheusConfig = cfg.parse()?;
            c.settings().map_err(|e| located(cfg, e))?;
        }
    }
    Ok(())
}

/// The directory of this exporter's durable queue (`sending_queue.storage`),
/// if it has one; `None` for a config that does not parse (reported by
/// [`validate`]).
pub fn queue_storage(cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
    let queue = match type_of(cfg).ok()? {
        Type::Clickhouse => {
            cfg.parse::<clickhouse::ClickhouseConfig>()
                .ok()?
                .sending_queue
        }
        Type::Datadog => cfg.parse::<datadog::DatadogConfig>().ok()?.sending_queue,
        Type::Debug => cfg.parse::<debug::DebugConfig>().ok()?.sending_queue,
        Type::File => cfg.parse::<file::FileConfig>().ok()?.sending_queue,
        Type::Kafka => cfg.parse::<kafka::KafkaConfig>().ok()?.sending_queue,
        Type::Otlp | Type::OtlpHttp => cfg.parse::<otlp::OtlpConfig>().ok()?.sending_queue,
        Type::Nop | Type::Prometheus => return None,
    };
    queue.storage.filter(|d| !d.as_os_str().is_empty())
}

/// Why this exporter cannot take `signal`, if it cannot (checked by the
/// service for every pipeline, before anything starts).
pub fn unsupported_signal(
    cfg: &ComponentConfig,
    signal: Signal,
) -> Result<Option<String>, ConfigError> {
    Ok(match type_of(cfg)? {
        Type::Datadog => {
            let c: datadog::DatadogConfig = cfg.parse()?;
            c.unsupported(signal).map(str::to_owned)
        }
        Type::OtlpHttp => {
            let c: otlp::OtlpConfig = cfg.parse()?;
            c.unsupported(signal)
        }
        Type::Prometheus => {
            let _: prometheus::PrometheusConfig = cfg.parse()?;
            (signal != Signal::Metrics).then(|| {
                "it serves metrics only; send logs and traces to another exporter".to_owned()
            })
        }
        Type::Clickhouse | Type::Debug | Type::File | Type::Kafka | Type::Nop | Type::Otlp => None,
    })
}

/// Builds an exporter and starts its thread; files are opened here, so a
/// path that cannot be written fails at startup.
pub fn build(cfg: &ComponentConfig) -> Result<BuiltExporter, BuildError> {
    build_with(cfg, &Listeners::new())
}

/// [`build`], binding listening sockets (the `prometheus` exporter's)
/// through `listeners`, so a reload keeps a socket whose address did not
/// change instead of failing on a taken port.
pub fn build_with(
    cfg: &ComponentConfig,
    listeners: &Listeners,
) -> Result<BuiltExporter, BuildError> {
    match type_of(cfg)? {
        Type::Clickhouse => {
            let c: clickhouse::ClickhouseConfig = cfg.parse()?;
            let settings = c.settings().map_err(|e| located(cfg, e))?;
            let exporter = clickhouse::ClickhouseExporter::new(settings)
                .map_err(|e| BuildError::new(Kind::Exporter, cfg.id(), e))?;
            Ok(BuiltExporter {
                exporter: Box::new(exporter),
                queue_size: c.sending_queue.queue_size,
                retry: c.retry_on_failure.policy(),
                durable: c.sending_queue.durable().map_err(|e| located(cfg, e))?,
            })
        }
        Type::Datadog => {
            let c: datadog::DatadogConfig = cfg.parse()?;
            let settings = c.settings().map_err(|e| located(cfg, e))?;
            let exporter = datadog::DatadogExporter::new(&cfg.id().to_string(), settings)
                .map_err(|e| BuildError::new(Kind::Exporter, cfg.id(), e))?;
            Ok(BuiltExporter {
                exporter: Box::new(exporter),
                queue_size: c.sending_queue.queue_size,
                retry: c.retry_on_failure.policy(),
                durable: c.sending_queue.durable().map_err(|e| located(cfg, e))?,
            })
        }
        Type::Debug => {
            let c: debug::DebugConfig = cfg.parse()?;
            let settings = c.settings().map_err(|e| located(cfg, e))?;
            start(
                cfg,
                debug::DebugExporter::new(settings),
                &c.sending_queue,
                &c.retry_on_failure,
            )
        }
        Type::File => {
            let c: file::FileConfig = cfg.parse()?;
            let settings = c.settings().map_err(|e| located(cfg, e))?;
            let exporter = file::FileExporter::open(&settings)
                .map_err(|e| BuildError::new(Kind::Exporter, cfg.id(), e))?;
            start(cfg, exporter, &c.sending_queue, &c.retry_on_failure)
        }
        Type::Kafka => {
            let c: kafka::KafkaConfig = cfg.parse()?;
            let settings = c.settings().map_err(|e| located(cfg, e))?;
            let exporter = kafka::KafkaExporter::new(&cfg.id().to_string(), settings)
                .map_err(|e| BuildError::new(Kind::Exporter, cfg.id(), e))?;
            Ok(BuiltExporter {
                exporter: Box::new(exporter),
                queue_size: c.sending_queue.queue_size,
                retry: c.retry_on_failure.policy(),
                durable: c.sending_queue.durable().map_err(|e| located(cfg, e))?,
            })
        }
        Type::Nop => {
            let _: nop::NopConfig = cfg.parse()?;
            Ok(BuiltExporter {
                exporter: Box::new(nop::NopExporter),
                queue_size: QueueConfig::default().queue_size,
                retry: RetryConfig::default().policy(),
                durable: None,
            })
        }
        Type::Otlp | Type::OtlpHttp => {
            let c: otlp::OtlpConfig = cfg.parse()?;
            let settings = c
                .settings(otlp_protocol(cfg)?)
                .map_err(|e| located(cfg, e))?;
            let exporter = otlp::OtlpExporter::new(&cfg.id().to_string(), settings)
                .map_err(|e| BuildError::new(Kind::Exporter, cfg.id(), e))?;
            Ok(BuiltExporter {
                exporter: Box::new(exporter),
                queue_size: c.sending_queue.queue_size,
                retry: c.retry_on_failure.policy(),
                durable: c.sending_queue.durable().map_err(|e| located(cfg, e))?,
            })
        }
        Type::Prometheus => {
            let c: prometheus::PrometheusConfig = cfg.parse()?;
            let settings = c.settings().map_err(|e| located(cfg, e))?;
            let id = cfg.id().to_string();
            let endpoint = settings.endpoint;
            let listener = listeners
                .bind(&format!("exporter {id}"), endpoint)
                .map_err(|e| {
                    BuildError::new(
                        Kind::Exporter,
                        cfg.id(),
                        format!("cannot listen on {endpoint}: {e}"),
                    )
                })?;
            let exporter = prometheus::PrometheusExporter::serve(&id, settings.store, listener)
                .map_err(|e| BuildError::new(Kind::Exporter, cfg.id(), e))?;
            Ok(BuiltExporter {
                exporter: Box::new(exporter),
                queue_size: QueueConfig::default().queue_size,
                retry: RetryConfig::default().policy(),
                durable: None,
            })
        }
    }
}

/// `otlp` sends over gRPC, `otlp_http` over HTTP/protobuf.
fn otlp_protocol(cfg: &ComponentConfig) -> Result<otlp_client::Protocol, ConfigError> {
    Ok(match type_of(cfg)? {
        Type::OtlpHttp => otlp_client::Protocol::HttpProtobuf,
        _ => otlp_client::Protocol::Grpc,
    })
}

fn start(
    cfg: &ComponentConfig,
    exporter: impl BlockingExporter,
    queue: &QueueConfig,
    retry: &RetryConfig,
) -> Result<BuiltExporter, BuildError> {
    let id = cfg.id();
    let exporter = blocking::spawn(&id.to_string(), exporter).map_err(|e| {
        BuildError::new(Kind::Exporter, id, format!("cannot start its thread: {e}"))
    })?;
    Ok(BuiltExporter {
        exporter,
        queue_size: queue.queue_size,
        retry: retry.policy(),
        durable: queue.durable().map_err(|e| located(cfg, e))?,
    })
}

/// A settings problem, located at its key in the config file.
fn located(cfg: &ComponentConfig, e: Invalid) -> ConfigError {
    cfg.error(e.key, e.message)
}
