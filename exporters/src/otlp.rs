//! The `otlp` (gRPC) and `otlp_http` exporters: forward OTLP to another
//! collector, Grafana Loki 3 (`/otlp`), Langfuse, … through the shared OTLP
//! client. Requests still encoded as received are forwarded as those bytes;
//! nothing is decoded on the way through.

pub mod config;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use ccpipe_pipeline::payload::{Encoded, Shared};
use ccpipe_pipeline::{Batch, BoxFuture, ExportError, Exporter};

pub use config::{OtlpConfig, TlsConfig};

use crate::otlp_client::{ClientSettings, OtlpClient};

pub struct OtlpExporter {
    client: OtlpClient,
}

impl OtlpExporter {
    /// Reads the CA file, if any; connections are made on the first export.
    pub fn new(id: &str, settings: ClientSettings) -> Result<Self, String> {
        Ok(OtlpExporter {
            client: OtlpClient::new(id, settings)?,
        })
    }
}

impl Exporter for OtlpExporter {
    fn export(&mut self, batch: Arc<Batch>) -> BoxFuture<'_, Result<(), ExportError>> {
        self.client.send(Shared::Decoded(batch))
    }

    fn accepts_encoded(&self) -> bool {
        true
    }

    fn export_encoded(&mut self, batch: Arc<Encoded>) -> BoxFuture<'_, Result<(), ExportError>> {
        self.client.send(Shared::Encoded(batch))
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }
}
