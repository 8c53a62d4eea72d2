//! The `sqlite` exporter: every signal into ccpipe's embedded store
//! (`ccpipe-store`), which the web view and `ccpipe usage` read.
//!
//! It runs on a thread of its own behind its own `sending_queue`, like every
//! exporter, so a slow disk never stalls the others. An export answers Ok
//! only once its transaction has committed; a full disk is a retryable
//! failure, so the queue holds the batch (and the receivers answer 503 when
//! the queue is full) until there is room again.
//!
//! Before storing, every string is scanned by the built-in secret rules
//! (`ccpipe-secrets`, the `redaction` processor's: API keys, tokens,
//! private keys, …) and a secret is replaced by `<redacted:KIND>`. The batch
//! is copied for that only when a rule matches; other exporters of the
//! pipeline never see the change. Prompt and response text is
//! kept only when it arrives (Claude Code sends it with
//! `OTEL_LOG_USER_PROMPTS=1`) and an earlier `redaction` processor let it
//! through.

mod config;
mod factory;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use std::borrow::Cow;

use ccpipe_pipeline::{telemetry, Batch, BlockingExporter, ExportError, Records};
use ccpipe_secrets::Scanner;
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
    secrets: Scanner,
    /// The `processor` label of the masked-secrets metric.
    metric_id: String,
    last_retention: Instant,
}

impl SqliteExporter {
    /// Opens (creating or migrating) the database and runs one retention
    /// pass; a damaged, foreign, newer or unwritable file fails here, with
    /// its path and what to do.
    pub fn open(id: &str, settings: &SqliteSettings) -> Result<SqliteExporter, StoreError> {
        let mut store = Store::open(&settings.path)?;
        retain(&mut store, settings.retention);
        let secrets = Scanner::new(true, &[], &[])
            .expect("the built-in secret rules compile")
            .expect("there are built-in rules");
        Ok(SqliteExporter {
            store,
            retention: settings.retention,
            secrets,
            metric_id: format!("exporter/{id}"),
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

impl SqliteExporter {
    /// `batch` with its secrets masked: borrowed as it is when no rule can
    /// match (most batches), else the exporter's own masked copy, so the
    /// other exporters of the pipeline never see the change.
    fn masked<'a>(&self, batch: &'a Records) -> Cow<'a, Records> {
        if !ccpipe_secrets::batch::may_hold_secret(&self.secrets, batch) {
            return Cow::Borrowed(batch);
        }
        let mut copy = batch.clone();
        let found = ccpipe_secrets::batch::mask(&self.secrets, &mut copy);
        if found.count > 0 {
            metrics::counter!(
                telemetry::REDACTION_MASKED,
                "processor" => self.metric_id.clone(),
                "reason" => "secret"
            )
            .increment(u64::from(found.count));
        }
        Cow::Owned(copy)
    }
}

impl BlockingExporter for SqliteExporter {
    /// Takes decoded records (the default form): every row needs them.
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let records = self.masked(batch.records()?);
        let data = match &*records {
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
