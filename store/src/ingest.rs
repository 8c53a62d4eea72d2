//! OTLP requests to rows. One call is one transaction: raw rows, rollups,
//! session totals and cumulative-series state commit together or not at all,
//! so a batch the exporter acknowledges is wholly stored and a failed one
//! leaves nothing behind to double-count on retry.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::attrs;
use crate::{Store, StoreError};

mod logs;
mod metrics;
mod tally;
mod traces;

use tally::Tally;
pub use tally::{bucket_ms, encode_histogram, latency_bucket, merge_histogram, Histogram};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// The marker Claude Code (and the redaction processor's `mask`) writes in
/// place of text it does not log.
const REDACTED: &str = "<REDACTED>";

/// Attributes kept in their own columns (`user`, `session_id`, `name`) and
/// so left out of the rows' `attrs` JSON: the largest repeated values.
const IN_COLUMNS: &[&str] = &["user.id", "session.id", "event.name"];

/// What one request brought in.
pub enum Data<'a> {
    Logs(&'a ExportLogsServiceRequest),
    Metrics(&'a ExportMetricsServiceRequest),
    Traces(&'a ExportTraceServiceRequest),
}

/// Rows written by one call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub events: usize,
    pub points: usize,
    pub spans: usize,
}

/// What the writer remembers between calls: resource ids and the last value
/// of each cumulative series, as committed (see [`Pending`]).
#[derive(Default)]
pub(crate) struct State {
    resources: HashMap<String, i64>,
    cumulative: HashMap<String, (u64, f64)>,
}

/// The common fields of one record or point.
struct Row<'a> {
    time_ms: i64,
    resource_id: i64,
    user: &'a str,
    session_id: Option<&'a str>,
    model: Option<String>,
}

fn str_attr<'a>(a: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attrs::get(a, key) {
        Some(Value::StringValue(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn ns_to_ms(ns: u64) -> i64 {
    (ns / 1_000_000) as i64
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Stores one request in one transaction.
    pub fn ingest(&mut self, data: Data<'_>) -> Result<Ingested, StoreError> {
        let Store {
            conn, ingest, path, ..
        } = self;
        let result = (|| {
            let tx = conn.transaction()?;
            let mut tally = Tally::default();
            let mut pending = Pending::default();
            let n = match data {
                Data::Logs(r) => logs::logs(&tx, ingest, &mut pending, &mut tally, r)?,
                Data::Metrics(r) => metrics::metrics(&tx, ingest, &mut pending, &mut tally, r)?,
                Data::Traces(r) => traces::traces(&tx, ingest, &mut pending, r)?,
            };
            tally::write_tally(&tx, tally)?;
            for (series, (start, value)) in &pending.cumulative {
                tx.prepare_cached(
                    "INSERT INTO cumulative_series (series, start_ns, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (series) DO UPDATE SET start_ns = excluded.start_ns, value = excluded.value",
                )?
                .execute(params![series, *start as i64, value])?;
            }
            tx.commit()?;
            Ok((n, pending))
        })();
        match result {
            Ok((n, pending)) => {
                ingest.resources.extend(pending.resources);
                ingest.cumulative.extend(pending.cumulative);
                Ok(n)
            }
            Err(e) => Err(crate::sql_error(path, e)),
        }
    }
}

/// Ids and series values written by the open transaction; remembered only
/// once it commits.
#[derive(Default)]
struct Pending {
    resources: HashMap<String, i64>,
    cumulative: HashMap<String, (u64, f64)>,
}

fn resource_id(
    tx: &Transaction<'_>,
    state: &State,
    pending: &mut Pending,
    resource: Option<&Resource>,
) -> rusqlite::Result<i64> {
    let kvs = resource.map_or(&[][..], |r| &r.attributes[..]);
    let mut map = attrs::to_json(kvs);
    map.sort_keys();
    let fingerprint = serde_json::Value::Object(map).to_string();
    if let Some(id) = state
        .resources
        .get(&fingerprint)
        .or_else(|| pending.resources.get(&fingerprint))
    {
        return Ok(*id);
    }
    let id = match tx
        .prepare_cached("SELECT id FROM resources WHERE fingerprint = ?1")?
        .query_row([&fingerprint], |r| r.get(0))
        .optional()?
    {
        Some(id) => id,
        None => {
            tx.prepare_cached("INSERT INTO resources (fingerprint, attrs) VALUES (?1, ?1)")?
                .execute([&fingerprint])?;
            let id = tx.last_insert_rowid();
            let obj = attrs::to_json(kvs);
            for (k, v) in &obj {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO resource_attrs (key, value, resource_id) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![k, attrs::json_text(v), id])?;
            }
            id
        }
    };
    pending.resources.insert(fingerprint, id);
    Ok(id)
}
