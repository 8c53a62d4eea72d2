//! The `prometheus` exporter's factory: its type name, the signals it takes, its
//! config checked without IO, and the build.

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{BuildError, BuiltExporter, Signal};

use super::{PrometheusConfig, PrometheusExporter};
use crate::common;

/// `prometheus`: serves the metrics it is sent on `/metrics`; metrics only.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "prometheus"
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        let c: PrometheusConfig = cfg.parse()?;
        c.settings().map(drop).map_err(|e| cfg.locate(e))
    }
}

impl ExporterFactory for Factory {
    fn unsupported(
        &self,
        cfg: &ComponentConfig,
        signal: Signal,
    ) -> Result<Option<String>, ConfigError> {
        let _: PrometheusConfig = cfg.parse()?;
        Ok((signal != Signal::Metrics)
            .then(|| "it serves metrics only; send logs and traces to another exporter".to_owned()))
    }

    /// Binds through `listeners`, so a reload keeps a socket whose address
    /// did not change instead of failing on a taken port.
    fn build(
        &self,
        cfg: &ComponentConfig,
        listeners: &Listeners,
    ) -> Result<BuiltExporter, BuildError> {
        let c: PrometheusConfig = cfg.parse()?;
        let settings = c.settings().map_err(|e| cfg.locate(e))?;
        let id = cfg.id().to_string();
        let endpoint = settings.endpoint;
        let listener = listeners
            .bind(&format!("exporter {id}"), endpoint)
            .map_err(|e| common::build_error(cfg, format!("cannot listen on {endpoint}: {e}")))?;
        let exporter = PrometheusExporter::serve(&id, settings.store, listener)
            .map_err(|e| common::build_error(cfg, e))?;
        Ok(BuiltExporter {
            exporter: Box::new(exporter),
            queue_size: common::QueueConfig::default().queue_size,
            retry: common::RetryConfig::default().policy(),
            durable: None,
        })
    }
}
