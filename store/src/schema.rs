//! The store's tables, versioned: `schema_version` holds the version a file
//! was migrated to; [`MIGRATIONS`] brings any older file forward, in one
//! transaction each; a file from a newer ccpipe is refused, never altered.
//!
//! Raw rows (`events`, `metric_points`, `spans`) keep everything that arrived;
//! the rollups (`rollup_hour`/`rollup_day`, `latency_hour`/`latency_day`,
//! `sessions`) are kept in step by ingest so that every view query reads a
//! few thousand rows even for a year of data.

use std::path::Path;

use rusqlite::Connection;

use crate::{sql_error, StoreError};

/// The version this build writes and reads.
pub const VERSION: i64 = 2;

/// Every table of the current schema.
pub const TABLES: &[&str] = &[
    "resources",
    "resource_attrs",
    "events",
    "metric_points",
    "spans",
    "rollup_hour",
    "rollup_day",
    "latency_hour",
    "latency_day",
    "sessions",
    "session_models",
    "cumulative_series",
];

/// `MIGRATIONS[i]` takes a file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2];

pub(crate) const V1: &str = r#"
CREATE TABLE resources (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    attrs TEXT NOT NULL                 -- JSON object of the resource attributes
);
-- Filters by any resource attribute (team, project): key = value -> resources.
CREATE TABLE resource_attrs (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    PRIMARY KEY (key, value, resource_id)
) WITHOUT ROWID;

-- Every log record. Claude Code's events get their fields in columns.
CREATE TABLE events (
    time_ms INTEGER NOT NULL,
    resource_id INTEGER NOT NULL,
    name TEXT NOT NULL,                 -- event.name (user_prompt, api_request, ...) or the body
    session_id TEXT,
    user TEXT,
    model TEXT,
    tool TEXT,
    success INTEGER,
    status INTEGER,
    duration_ms REAL,
    cost_usd REAL,
    prompt TEXT,                        -- prompt or response text, only when it arrived unredacted
    detail TEXT,                        -- api_error's error, tool_decision's decision
    attrs TEXT NOT NULL                 -- JSON object of the other attributes
);
CREATE INDEX events_time ON events (time_ms);
CREATE INDEX events_session ON events (session_id, time_ms);

-- Every metric data point, as a delta (cumulative sums converted on ingest).
CREATE TABLE metric_points (
    time_ms INTEGER NOT NULL,
    resource_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    session_id TEXT,
    user TEXT,
    value REAL NOT NULL,
    attrs TEXT NOT NULL                 -- JSON: the point's attributes but user.id, session.id
);
CREATE INDEX metric_points_time ON metric_points (time_ms);

CREATE TABLE spans (
    time_ms INTEGER NOT NULL,           -- start
    end_ms INTEGER NOT NULL,
    resource_id INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    session_id TEXT,
    attrs TEXT NOT NULL
);
CREATE INDEX spans_time ON spans (time_ms);
CREATE INDEX spans_session ON spans (session_id, time_ms);

-- Sums per hour and per UTC day. `measure` and `kind`:
--   cost (USD), tokens/<type>, sessions, active_time/<type> (s),
--   lines/<added|removed>, commits, pull_requests, edit_decision/<decision>
--   (value = the metric's sum), api_request (n = requests, value = summed ms),
--   api_error/<status> (n), tool_call/<tool> (n = calls, value = failures).
CREATE TABLE rollup_hour (
    bucket_ms INTEGER NOT NULL,
    measure TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    user TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    value REAL NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (bucket_ms, measure, kind, model, user, resource_id)
) WITHOUT ROWID;
CREATE TABLE rollup_day (
    bucket_ms INTEGER NOT NULL,
    measure TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    user TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    value REAL NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (bucket_ms, measure, kind, model, user, resource_id)
) WITHOUT ROWID;

-- Duration histograms (log buckets, ~5% wide) for p50/p95, one per row:
-- what = tool|api, name = the tool ('' for API requests).
CREATE TABLE latency_hour (
    bucket_ms INTEGER NOT NULL,
    what TEXT NOT NULL,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    user TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    histogram BLOB NOT NULL,            -- (bucket u16, count u32) LE pairs (ingest::encode_histogram)
    PRIMARY KEY (bucket_ms, what, name, model, user, resource_id)
) WITHOUT ROWID;
CREATE TABLE latency_day (
    bucket_ms INTEGER NOT NULL,
    what TEXT NOT NULL,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    user TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    histogram BLOB NOT NULL,            -- (bucket u16, count u32) LE pairs (ingest::encode_histogram)
    PRIMARY KEY (bucket_ms, what, name, model, user, resource_id)
) WITHOUT ROWID;

-- One row per session.id, with its running totals.
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER NOT NULL,
    cost_usd REAL NOT NULL DEFAULT 0,
    input INTEGER NOT NULL DEFAULT 0,
    output INTEGER NOT NULL DEFAULT 0,
    cache_read INTEGER NOT NULL DEFAULT 0,
    cache_creation INTEGER NOT NULL DEFAULT 0,
    api_requests INTEGER NOT NULL DEFAULT 0,
    tool_calls INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_ended ON sessions (ended_ms);
CREATE INDEX sessions_cost ON sessions (cost_usd);
CREATE TABLE session_models (
    session_id TEXT NOT NULL,
    model TEXT NOT NULL,
    PRIMARY KEY (model, session_id)
) WITHOUT ROWID;
CREATE INDEX session_models_session ON session_models (session_id);

-- The last value of every CUMULATIVE series, to turn the next one into a delta.
CREATE TABLE cumulative_series (
    series TEXT PRIMARY KEY,
    start_ns INTEGER NOT NULL,
    value REAL NOT NULL
) WITHOUT ROWID;
"#;

/// Span events (an LLM request's attempts, a tool's `tool.output`), kept
/// with their span: a JSON array of `{"time_ms", "name", "attrs"}`, NULL for
/// a span without events and for the spans stored before this version.
const V2: &str = r#"
ALTER TABLE spans ADD COLUMN events TEXT;
"#;

/// The version recorded in the file; 0 for a new, empty file.
fn version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        return Ok((tables == 0).then_some(0));
    }
    conn.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
}

fn not_ours(path: &Path) -> StoreError {
    StoreError::Unusable {
        path: path.to_path_buf(),
        why: "it is an SQLite database but not a ccpipe store (it has no schema_version \
              table); point `path` at another file: ccpipe never changes a database it did \
              not create",
    }
}

/// Brings the file to [`VERSION`].
pub fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        hint: crate::open_hint(&source),
        path: path.to_path_buf(),
        source,
    };
    let found = version(conn)
        .map_err(open_err)?
        .ok_or_else(|| not_ours(path))?;
    if found > VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: VERSION,
        });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let to = from as i64 + 1;
        let step = format!(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
             {sql}
             DELETE FROM schema_version;
             INSERT INTO schema_version (version) VALUES ({to});
             COMMIT;"
        );
        if let Err(e) = conn.execute_batch(&step) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(sql_error(path, e));
        }
    }
    Ok(())
}

/// Checks that a file opened read-only is a store this build can read.
pub fn check_readable(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        hint: crate::open_hint(&source),
        path: path.to_path_buf(),
        source,
    };
    match version(conn).map_err(open_err)? {
        Some(v) if v == VERSION => Ok(()),
        Some(v) if v > VERSION => Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
            supported: VERSION,
        }),
        Some(0) => Err(StoreError::Unusable {
            path: path.to_path_buf(),
            why: "the file is empty: nothing was stored yet; is ccpipe running with the \
                   sqlite exporter and this `path`?",
        }),
        Some(_) => Err(StoreError::Unusable {
            path: path.to_path_buf(),
            why: "it was written by an older ccpipe: start this ccpipe once on it to migrate it",
        }),
        None => Err(not_ours(path)),
    }
}
