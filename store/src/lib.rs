//! ccpipe's embedded store: Claude Code's telemetry in one SQLite file, and
//! the queries that the web view and `ccpipe usage` ask of it.
//!
//! - [`schema`]: the versioned tables and their forward migrations.
//! - [`ingest`]: OTLP requests to rows, rollups kept in step in the same
//!   transaction (cumulative sums turned into deltas).
//! - [`retention`]: `max_age` and `max_size`, enforced by bounded deletes.
//! - [`query`]: the questions of the view and the CLI, as serialisable structs.
//!
//! One writer (the `sqlite` exporter's thread) and any number of readers:
//! the database runs in WAL mode, so readers never block the writer.

mod attrs;
pub mod ingest;
pub mod query;
pub mod retention;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use ingest::Ingested;
pub use query::Filter;

/// Where the store lives when no path is given: `$XDG_DATA_HOME/ccpipe/ccpipe.db`,
/// else `~/.local/share/ccpipe/ccpipe.db`; `None` when neither variable is set.
pub fn default_path() -> Option<PathBuf> {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let data = non_empty("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("ccpipe").join("ccpipe.db"))
}

/// Why the store could not be opened, written or read. Every variant names
/// the database file and, where the user can act, says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store database {path}: {source}; {hint}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
        hint: &'static str,
    },
    #[error(
        "the store database {path} has schema version {found}, newer than this ccpipe \
         understands ({supported}); upgrade ccpipe or point `path` at another file"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot use the store database {path}: {why}")]
    Unusable { path: PathBuf, why: &'static str },
    #[error("cannot create the folder of the store database {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The disk is full: retrying later can succeed.
    #[error("the store database {path} is full (no space left on its disk): {source}")]
    Full {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("store database {path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Whether writing the same data again can never succeed (a value too
    /// large for SQLite). Everything else (disk full, busy, I/O) may pass later.
    pub fn is_permanent(&self) -> bool {
        match self {
            StoreError::Sql { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::TooBig)
            ),
            _ => false,
        }
    }
}

/// What to do about an open that failed, by SQLite's reason.
fn open_hint(e: &rusqlite::Error) -> &'static str {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
            "the file is damaged or is not a ccpipe database: move it away (ccpipe then \
             creates a new one) or point `path` at another file"
        }
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::PermissionDenied) => {
            "ccpipe cannot write it: fix the permissions of the file and its folder, \
             or point `path` at a writable file"
        }
        Some(rusqlite::ErrorCode::CannotOpen) => {
            "check that the file exists (ccpipe creates it when it stores) and that its \
             folder is readable and writable"
        }
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            "another process holds it locked: is a second ccpipe writing the same file?"
        }
        _ => "check the file, its folder and the disk",
    }
}

/// An open store database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    ingest: ingest::State,
}

impl Store {
    /// Opens (creating it and its folder when missing) the database for
    /// writing, migrates it to the current schema, and checks that it can be
    /// written, so an unwritable or damaged file fails here and not later.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: path.clone(),
                source,
            })?;
        }
        let open_err = |source: rusqlite::Error| StoreError::Open {
            hint: open_hint(&source),
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        // Before the first table: freed pages can be handed back to the disk
        // (retention's `max_size`). A no-op on an existing file.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
            .map_err(open_err)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(open_err)?;
        // WAL + NORMAL: a commit survives a crash of ccpipe; only a power loss
        // can take back the last commits.
        // Checkpoints (each an fsync) every ~40 MB of WAL rather than 4 MB:
        // on a busy disk the fsyncs, not the CPU, bound ingest.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF; PRAGMA wal_autocheckpoint = 10000;",
        )
            .map_err(open_err)?;
        schema::migrate(&conn, &path)?;
        // A write lock proves the file and its folder are writable now.
        conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(open_err)?;
        Ok(Store {
            conn,
            path,
            ingest: ingest::State::default(),
        })
    }

    /// Opens an existing database for reading only (`ccpipe usage`, the web
    /// view); works while a ccpipe writes it.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source: rusqlite::Error| StoreError::Open {
            hint: open_hint(&source),
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        schema::check_readable(&conn, &path)?;
        Ok(Store {
            conn,
            path,
            ingest: ingest::State::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows in one of the store's tables (for tests and `ccpipe usage`'s
    /// summary line); `None` for a name that is not a table of the schema.
    pub fn count_rows(&self, table: &str) -> Option<i64> {
        if !schema::TABLES.contains(&table) {
            return None;
        }
        self.conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .ok()
    }

    /// An SQL failure, classified (disk full is retryable) and located.
    pub(crate) fn sql_error(&self, source: rusqlite::Error) -> StoreError {
        sql_error(&self.path, source)
    }
}

pub(crate) fn sql_error(path: &Path, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full {
            path: path.to_path_buf(),
            source,
        },
        _ => StoreError::Sql {
            path: path.to_path_buf(),
            source,
        },
    }
}

#[cfg(test)]
mod tests;
