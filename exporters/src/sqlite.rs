//! The `sqlite` exporter: every signal into ccpipe's embedded store
//! (`ccpipe-store`), which the web view and `ccpipe usage` read.
//!
//! It runs on a thread of its own behind its own `sending_queue`, like every
//! exporter, so a slow disk never stalls the others. An export answers Ok
//! only once its transaction has committed; a full disk is a retryable
//! failure, so the queue holds the batch (and the receivers answer 503 when
//! the queue is full) until there is room again.
//!
//! Before storing, every string is scanned by the built-in secret rules of
//! the `redaction` processor (API keys, tokens, private keys, …) and a
//! secret is replaced by `<redacted:KIND>`. Prompt and response text is
//! kept only when it arrives (Claude Code sends it with
//! `OTEL_LOG_USER_PROMPTS=1`) and an earlier `redaction` processor let it
//! through.

mod config;
mod factory;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use ccpipe_pipeline::{Batch, BlockingExporter, ExportError, Processor, Records};
use ccpipe_processors::redaction::{RedactionConfig, RedactionProcessor};
use ccpipe_store::ingest::Data;
use ccpipe_store::retention::Retention;
use ccpipe_store::{Store, StoreError};

pub use config::{SqliteConfig, SqliteSettings, MIN_MAX_AGE, MIN_MAX_SIZE};
pub use factory::Factory;

/// How often retention runs while data comes in.
pub const RETENTION_EVERY: Duration = Duration::from_secs(60);

pub struct SqliteExporter {
    store: Store,
    retention: Retention,
    secrets: RedactionProcessor,
    last_retention: Instant,
}

impl SqliteExporter {
    /// Opens (creating or migrating) the database and runs one retention
    /// pass; a damaged, foreign, newer or unwritable file fails here, with
    /// its path and what to do.
    pub fn open(id: &str, settings: &SqliteSettings) -> Result<SqliteExporter, StoreError> {
        let mut store = Store::open(&settings.path)?;
        retain(&mut store, settings.retention);
        let secrets = RedactionConfig::default()
            .build()
            .expect("the built-in secret rules compile")
            .with_id(format!("exporter/{id}"));
        Ok(SqliteExporter {
            store,
            retention: settings.retention,
            secrets,
            last_retention: Instant::now(),
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One bounded retention pass; a failure is logged and tried again next time.
fn retain(store: &mut Store, retention: Retention) {
    if retention == Retention::default() {
        return;
    }
    match store.enforce_retention(retention, now_ms()) {
        Ok(r) if r.rows > 0 => tracing::info!(
            path = %store.path().display(),
            rows = r.rows,
            more_due = r.more_due,
            "store retention deleted old rows"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "store retention failed; will retry"),
    }
}

fn export_error(e: StoreError) -> ExportError {
    if e.is_permanent() {
        ExportError::permanent(e)
    } else {
        ExportError::retryable(e)
    }
}

impl BlockingExporter for SqliteExporter {
    /// Takes decoded records (the default form): every row needs them.
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        // The exporter's own copy: the secret scan never changes what other
        // exporters of the pipeline receive.
        let mut batch = Batch::from(batch.records()?.clone());
        self.secrets.process(&mut batch)?;
        let data = match batch.records()? {
            Records::Logs(r) => Data::Logs(r),
            Records::Metrics(r) => Data::Metrics(r),
            Records::Traces(r) => Data::Traces(r),
        };
        self.store.ingest(data).map(drop).map_err(export_error)
    }

    /// Each export commits its own transaction; flush only runs retention
    /// when it is due.
    fn flush(&mut self) -> Result<(), ExportError> {
        if self.last_retention.elapsed() >= RETENTION_EVERY {
            retain(&mut self.store, self.retention);
            self.last_retention = Instant::now();
        }
        Ok(())
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(RETENTION_EVERY)
    }
}
