//! The `prometheus` exporter: keeps the metrics it is sent as Prometheus
//! series (`store.rs`: delta sums added up into counters, names per
//! `names.rs`) and serves them on `/metrics` (`server.rs`, `render.rs`) for
//! a Prometheus server to scrape. It takes metrics only.

pub mod config;
mod factory;
pub mod names;
pub mod render;
mod server;
pub mod store;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ccpipe_pipeline::{Batch, BoxFuture, ExportError, Exporter, Records, Shutdown, Signal};

pub use config::{PrometheusConfig, PrometheusSettings};
pub use factory::Factory;
use store::{Store, StoreSettings};

pub struct PrometheusExporter {
    id: String,
    store: Arc<Mutex<Store>>,
    stop: Shutdown,
    server: Option<tokio::task::JoinHandle<()>>,
    local_addr: SocketAddr,
}

/// Why the exporter cannot start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("must be started inside the service's runtime")]
    NoRuntime,
    #[error(transparent)]
    LocalAddr(#[from] std::io::Error),
}

impl PrometheusExporter {
    /// Serves on `listener` (bound through the service's listener pool, so a
    /// reload keeps the socket); needs a tokio runtime.
    pub fn serve(
        id: &str,
        settings: StoreSettings,
        listener: tokio::net::TcpListener,
    ) -> Result<Self, ServeError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ServeError::NoRuntime)?;
        let local_addr = listener.local_addr()?;
        if let Some(warning) = names::double_prefix(settings.namespace.as_deref()) {
            tracing::warn!(exporter = id, "prometheus: {warning}");
        }
        let store = Arc::new(Mutex::new(Store::new(settings)));
        let stop = Shutdown::new();
        let server = runtime.spawn(server::serve(listener, Arc::clone(&store), stop.clone()));
        tracing::info!(
            exporter = id,
            "serving Prometheus metrics on http://{local_addr}/metrics"
        );
        Ok(PrometheusExporter {
            id: id.to_owned(),
            store,
            stop,
            server: Some(server),
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Exporter for PrometheusExporter {
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        let result = match batch.records() {
            Err(e) => Err(e.into()),
            Ok(Records::Metrics(request)) => {
                let now = Instant::now();
                let refused = {
                    let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
                    store.expire(now);
                    store.ingest(request, now)
                };
                if refused.total() > 0 {
                    tracing::warn!(
                        exporter = %self.id,
                        over_limit = refused.over_limit,
                        out_of_order_or_conflicting = refused.out_of_order_or_conflicting,
                        unsupported = refused.unsupported,
                        "refused {} data points (max_series reached, an older point than the series has, a name already used by another type, or an exponential histogram)",
                        refused.total()
                    );
                    metrics::counter!(ccpipe_pipeline::telemetry::exporter_rejected(Signal::Metrics), "exporter" => self.id.clone())
                        .increment(refused.total() as u64);
                }
                Ok(())
            }
            Ok(other) => Err(ExportError::permanent(format!(
                "the prometheus exporter takes metrics only, not {}",
                other.signal()
            ))),
        };
        Box::pin(async move { result })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            self.stop.cancel();
            if let Some(server) = self.server.take() {
                let _ = server.await;
            }
            Ok(())
        })
    }
}
