//! The `otlp` (gRPC) and `otlp_http` exporters: forward OTLP to another
//! collector, Grafana Loki 3 (`/otlp`), Langfuse, … through the shared OTLP
//! client. Requests still encoded as received are forwarded as those bytes;
//! nothing is decoded on the way through.

pub mod config;
mod factory;

#[cfg(test)]
mod tests;

use ccpipe_pipeline::{Batch, Form};
use ccpipe_pipeline::{BoxFuture, ExportError, Exporter};

pub use config::{OtlpConfig, TlsConfig};
pub use factory::{Factory, GRPC, HTTP};

use crate::otlp_client::{ClientSettings, OtlpClient};
use crate::tls::TlsSetupError;

pub struct OtlpExporter {
    client: OtlpClient,
}

impl OtlpExporter {
    /// Reads the CA file, if any; connections are made on the first export.
    pub fn new(id: &str, settings: ClientSettings) -> Result<Self, TlsSetupError> {
        Ok(OtlpExporter {
            client: OtlpClient::new(id, settings)?,
        })
    }
}

impl Exporter for OtlpExporter {
    // A forwarder: the request bytes as received go out as they are.
    fn prefers(&self) -> Form {
        Form::Encoded
    }

    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        self.client.send(batch)
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }
}
