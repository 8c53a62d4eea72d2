//! The `datadog` exporter. Agent mode (the default) sends OTLP to a local
//! Datadog Agent (`agent.rs`); agentless mode (`api:`) sends to Datadog's
//! HTTP intake (`agentless/`). Both get the same resource attributes first
//! (`enrich.rs`: env, service, host, tags) and, with
//! `metrics.cumulative_to_delta`, delta sums (`cumulative.rs`).
//!
//! Retries belong to the export task: one `export` call sends once and says
//! whether trying again can help.

mod agent;
pub mod agentless;
pub mod config;
pub mod cumulative;
pub mod enrich;
mod factory;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::time::Instant;

use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{BoxFuture, ExportError, Exporter, Form, Signal};

pub use agent::AgentExporter;
pub use config::{
    AgentSettings, ApiSettings, Compression, DatadogConfig, DatadogSettings, EnrichSettings, Mode,
    Protocol,
};
use cumulative::CumulativeToDelta;
use enrich::Enrichment;
pub use factory::Factory;

/// What agentless mode sends; traces need the Agent.
const AGENTLESS_SIGNALS: &[Signal] = &[Signal::Logs, Signal::Metrics];

enum Transport {
    Agent(Box<AgentExporter>),
    Agentless(Box<dyn Exporter>),
}

pub struct DatadogExporter {
    transport: Transport,
    enrich: Enrichment,
    delta: Option<CumulativeToDelta>,
    /// The batch being exported and what was made of it, so that a retry of
    /// the same batch sends the same data (cumulative_to_delta must not see
    /// its points twice) without encoding it again.
    prepared: Option<(Batch, Batch)>,
}

impl DatadogExporter {
    /// Does no IO: connections are made on the first export.
    pub fn new(id: &str, settings: DatadogSettings) -> Result<Self, DatadogError> {
        let transport = match settings.mode {
            Mode::Agent(agent) => {
                let agent = AgentExporter::new(id, agent, settings.timeout)?;
                Transport::Agent(Box::new(agent))
            }
            Mode::Api(api) => Transport::Agentless(agentless_exporter(api, settings.timeout)?),
        };
        Ok(DatadogExporter {
            transport,
            enrich: Enrichment::new(&settings.enrich),
            delta: settings
                .cumulative_to_delta
                .then(CumulativeToDelta::default),
            prepared: None,
        })
    }

    /// What is sent for `batch`: enriched (and, for metrics with
    /// `cumulative_to_delta`, converted). Agent mode gets protobuf encoded
    /// straight from the shared batch unless the delta conversion has to
    /// change its points; agentless mode gets a batch.
    fn prepare(&mut self, batch: &Batch) -> Result<Batch, ExportError> {
        if let Some((input, out)) = &self.prepared {
            if input.ptr_eq(batch) {
                return Ok(out.clone());
            }
        }
        // Agent mode forwards protobuf: a batch still in request bytes is
        // enriched on them, never decoded (unless the delta conversion may
        // have to change metric points, which needs the records).
        let agent = matches!(self.transport, Transport::Agent(_));
        let may_convert = self.delta.is_some() && batch.signal() == Signal::Metrics;
        if let (true, false, Some(encoded)) = (agent, may_convert, batch.encoded()) {
            if let Ok(new) = self.enrich.encode_requests(encoded) {
                let out = new.map_or_else(|| batch.clone(), Batch::from);
                self.prepared = Some((batch.clone(), out.clone()));
                return Ok(out);
            }
        }
        let records = batch.records()?;
        let converts = self
            .delta
            .as_ref()
            .is_some_and(|_| CumulativeToDelta::applies(records));
        let out = if matches!(self.transport, Transport::Agent(_)) && !converts {
            Batch::from(self.enrich.encode(records))
        } else {
            let mut out = self.enrich.apply(records);
            if let Some(delta) = &mut self.delta {
                if CumulativeToDelta::applies(&out) {
                    delta.convert(out.to_mut(), Instant::now());
                }
            }
            match out {
                // Unchanged: the shared batch itself, not a copy.
                Cow::Borrowed(_) => batch.clone(),
                Cow::Owned(b) => Batch::from(b),
            }
        };
        self.prepared = Some((batch.clone(), out.clone()));
        Ok(out)
    }
}

/// Why the exporter cannot be set up (no IO has happened yet).
#[derive(Debug, thiserror::Error)]
pub enum DatadogError {
    #[error(transparent)]
    Agent(#[from] crate::tls::TlsSetupError),
    #[error(transparent)]
    Agentless(#[from] agentless::AgentlessError),
}

fn agentless_exporter(
    api: ApiSettings,
    timeout: std::time::Duration,
) -> Result<Box<dyn Exporter>, agentless::AgentlessError> {
    let exporter = agentless::AgentlessExporter::new(agentless::AgentlessSettings {
        api_key: api.key,
        site: api.site,
        metrics_endpoint: api.metrics_endpoint,
        logs_endpoint: api.logs_endpoint,
        timeout,
    })?;
    Ok(Box::new(exporter))
}

impl Exporter for DatadogExporter {
    fn signals(&self) -> &'static [Signal] {
        match &self.transport {
            Transport::Agent(_) => &[Signal::Logs, Signal::Metrics, Signal::Traces],
            Transport::Agentless(_) => AGENTLESS_SIGNALS,
        }
    }

    /// Agent mode forwards request bytes, enriched on the wire ([`Self::prepare`]),
    /// so fan-out must not decode for it; agentless mode formats records.
    fn prefers(&self) -> Form {
        match &self.transport {
            Transport::Agent(_) => Form::Encoded,
            Transport::Agentless(_) => Form::Decoded,
        }
    }

    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            if matches!(self.transport, Transport::Agentless(_)) && batch.signal() == Signal::Traces
            {
                return Err(ExportError::permanent(
                    "agentless mode (api) cannot send traces; use Agent mode (agent) for traces",
                ));
            }
            let prepared = self.prepare(&batch)?;
            let result = match &mut self.transport {
                _ if prepared.item_count() == 0 => Ok(()),
                Transport::Agent(a) => a.send(prepared).await,
                Transport::Agentless(x) => x.export(prepared).await,
            };
            // Keep the prepared batch only for a retry of the same one.
            if !matches!(result, Err(ExportError::Retryable { .. })) {
                self.prepared = None;
            }
            result
        })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        self.prepared = None;
        match &mut self.transport {
            Transport::Agent(_) => Box::pin(async { Ok(()) }),
            Transport::Agentless(x) => x.shutdown(),
        }
    }
}
