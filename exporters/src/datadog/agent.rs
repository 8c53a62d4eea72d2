//! Agent mode: OTLP to a Datadog Agent's intake, over gRPC or HTTP/protobuf,
//! gzip-compressed by default, through the shared OTLP client
//! (`crate::otlp_client`, which also documents how answers are classified).
//! Plain HTTP for a local Agent; TLS (`agent.tls`) for an `https://` one.

use std::time::Duration;

use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{BoxFuture, ExportError};

use super::config::{AgentSettings, Protocol};
use crate::otlp_client::{ClientSettings, OtlpClient, Target};
use crate::tls::TlsSetupError;

pub struct AgentExporter(OtlpClient);

impl AgentExporter {
    /// No IO: the connection is made on the first export and re-made as needed.
    pub fn new(
        id: impl Into<String>,
        settings: AgentSettings,
        timeout: Duration,
    ) -> Result<Self, TlsSetupError> {
        let target = match settings.protocol {
            Protocol::Grpc => Target::Grpc(settings.endpoint),
            Protocol::HttpProtobuf => Target::Http {
                logs: format!("{}/v1/logs", settings.endpoint),
                metrics: format!("{}/v1/metrics", settings.endpoint),
                traces: format!("{}/v1/traces", settings.endpoint),
            },
        };
        let client = OtlpClient::new(
            id,
            ClientSettings {
                target,
                compression: settings.compression,
                timeout,
                headers: http::HeaderMap::new(),
                tls: settings.tls,
                peer: "the Agent",
            },
        )?;
        Ok(AgentExporter(client))
    }

    /// Sends `payload`, splitting it when it is too large.
    pub fn send(&mut self, payload: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        self.0.send(payload)
    }
}
