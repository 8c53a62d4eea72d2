//! The factories of the `otlp` (gRPC) and `otlp_http` (HTTP/protobuf)
//! exporters: type names, signals, config checked without IO, and the build.

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ExporterFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{BuildError, BuiltExporter, Signal};

use super::{OtlpConfig, OtlpExporter};
use crate::common;
use crate::otlp_client::{ClientSettings, Protocol};

/// `otlp` (gRPC) and `otlp_http` (HTTP/protobuf): OTLP to any OTLP server.
pub struct Factory(pub Protocol);

/// `otlp`: OTLP over gRPC.
pub const GRPC: Factory = Factory(Protocol::Grpc);
/// `otlp_http`: OTLP over HTTP/protobuf.
pub const HTTP: Factory = Factory(Protocol::HttpProtobuf);

impl Factory {
    fn parse(&self, cfg: &ComponentConfig) -> Result<(OtlpConfig, ClientSettings), ConfigError> {
        let c: OtlpConfig = cfg.parse()?;
        let settings = c.settings(self.0).map_err(|e| cfg.locate(e))?;
        Ok((c, settings))
    }
}

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        match self.0 {
            Protocol::Grpc => "otlp",
            Protocol::HttpProtobuf => "otlp_http",
        }
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        self.parse(cfg).map(drop)
    }
}

impl ExporterFactory for Factory {
    fn unsupported(
        &self,
        cfg: &ComponentConfig,
        signal: Signal,
    ) -> Result<Option<String>, ConfigError> {
        let c: OtlpConfig = cfg.parse()?;
        Ok(match self.0 {
            Protocol::HttpProtobuf => c.unsupported(signal),
            Protocol::Grpc => None,
        })
    }

    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
        let c: OtlpConfig = cfg.parse().ok()?;
        c.sending_queue
            .storage
            .filter(|d| !d.as_os_str().is_empty())
    }

    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let (c, settings) = self.parse(cfg)?;
        let exporter = OtlpExporter::new(&cfg.id().to_string(), settings)
            .map_err(|e| common::build_error(cfg, e))?;
        Ok(BuiltExporter {
            exporter: Box::new(exporter),
            queue_size: c.sending_queue.queue_size,
            retry: c.retry_on_failure.policy(),
            durable: c.sending_queue.durable().map_err(|e| cfg.locate(e))?,
        })
    }
}
