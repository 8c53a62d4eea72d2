//! The `clickhouse` exporter: logs, metrics and traces into the
//! `otel_*` tables of a ClickHouse server over its HTTP interface.
//!
//! One export sends one `INSERT` per table the batch has rows for
//! (`rows.rs`), through `client.rs`. With `create_schema` the database,
//! tables and views (`schema.rs`) are created before the first insert; with
//! `ttl` expired daily partitions are dropped at most once an hour
//! (`expire.rs`). Retries belong to the export task: when a metrics batch
//! reached some tables and not others, its retry sends only the rest.

pub mod client;
pub mod config;
pub mod expire;
mod factory;
pub mod rows;
pub mod schema;

#[cfg(test)]
mod tests;

use std::time::{Instant, SystemTime};

use ccpipe_pipeline::{Batch, BoxFuture, ExportError};

pub use client::{Client, SendError};
pub use config::{ClickhouseConfig, ClickhouseSettings};
pub use factory::Factory;
use rows::Insert;
pub use schema::{Schema, Table};

pub struct ClickhouseExporter {
    client: Client,
    settings: ClickhouseSettings,
    schema_ready: bool,
    last_expiry: Option<Instant>,
    /// The batch being exported and the inserts it still needs, so a retry
    /// does not insert rows twice.
    pending: Option<(Batch, Vec<Insert>)>,
}

impl ClickhouseExporter {
    /// Does no IO: the schema is made and connections opened by the first export.
    pub fn new(settings: ClickhouseSettings) -> Result<Self, client::ClientError> {
        Ok(ClickhouseExporter {
            client: Client::new(&settings)?,
            settings,
            schema_ready: false,
            last_expiry: None,
            pending: None,
        })
    }

    /// `CREATE DATABASE`, the tables and the views, all `IF NOT EXISTS`.
    pub async fn create_schema(&self) -> Result<(), SendError> {
        let db = &self.settings.database;
        self.client
            .execute(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
            .await?;
        for table in Table::ALL {
            let sql = table.create_sql(db, self.settings.schema, self.settings.ttl);
            self.client.execute(&sql).await?;
        }
        for view in schema::view_sql(db, self.settings.schema) {
            self.client.execute(&view).await?;
        }
        Ok(())
    }

    /// Drops partitions older than `ttl` now; see `expire.rs`.
    pub async fn expire(&self) -> Result<usize, SendError> {
        match self.settings.ttl {
            Some(ttl) => {
                expire::drop_expired(
                    &self.client,
                    &self.settings.database,
                    ttl,
                    SystemTime::now(),
                )
                .await
            }
            None => Ok(0),
        }
    }

    async fn export_batch(&mut self, batch: Batch) -> Result<(), ExportError> {
        if self.settings.create_schema && !self.schema_ready {
            self.create_schema()
                .await
                .map_err(|e| export_error(e, "creating the schema"))?;
            self.schema_ready = true;
        }
        // The modern tables expire by their TTL clause; 18.16's by dropping partitions.
        if self.settings.ttl.is_some()
            && self.settings.schema == Schema::Compat1816
            && self
                .last_expiry
                .is_none_or(|t| t.elapsed() >= expire::INTERVAL)
        {
            self.last_expiry = Some(Instant::now());
            if let Err(e) = self.expire().await {
                tracing::warn!(
                    "clickhouse: cannot drop expired partitions: {}",
                    e.message()
                );
            }
        }
        let inserts = match self.pending.take() {
            Some((b, rest)) if b.ptr_eq(&batch) => rest,
            _ => rows::encode(batch.records()?, self.settings.schema),
        };
        let mut rest = inserts.into_iter();
        let mut sent_any = false;
        while let Some(insert) = rest.next() {
            let table = format!("{}.{}", self.settings.database, insert.table.name());
            if let Err(e) = self.client.insert(&table, insert.body.clone()).await {
                let retryable = matches!(e, SendError::Retryable(_));
                let mut error = export_error(e, "");
                if retryable {
                    let mut left = vec![insert];
                    left.extend(rest);
                    self.pending = Some((batch, left));
                } else if sent_any {
                    error = ExportError::permanent(format!(
                        "{error} (the batch's rows for the tables before it were stored)"
                    ));
                }
                return Err(error);
            }
            sent_any = true;
        }
        Ok(())
    }
}

fn export_error(e: SendError, doing: &str) -> ExportError {
    let message = if doing.is_empty() {
        e.message().to_owned()
    } else {
        format!("{doing}: {}", e.message())
    };
    match e {
        SendError::Retryable(_) => ExportError::retryable(message),
        SendError::Permanent(_) => ExportError::permanent(message),
    }
}

impl ccpipe_pipeline::Exporter for ClickhouseExporter {
    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(self.export_batch(batch))
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        // Nothing is buffered: every export inserts before it returns.
        self.pending = None;
        Box::pin(async { Ok(()) })
    }
}
