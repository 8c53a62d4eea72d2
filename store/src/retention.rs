//! `max_age` and `max_size`: old rows go in bounded steps, so one pass never
//! holds the write lock for long, however much is due.
//!
//! `max_age` drops raw rows, rollups and sessions older than the cutoff.
//! `max_size` drops the oldest raw rows (events, points, spans) a UTC day at
//! a time, keeping the daily rollups (the charts and `ccpipe usage` lose
//! nothing); only when no raw rows are left does it drop the oldest rollups.
//! Freed pages go back to the disk (`auto_vacuum = INCREMENTAL`).

use std::time::Duration;

use rusqlite::params;

use crate::ingest::{DAY_MS, HOUR_MS};
use crate::{Store, StoreError};

/// Rows deleted per table per step.
pub const STEP_ROWS: i64 = 20_000;
/// Rollup buckets deleted per table per step: a week of them.
const ROLLUP_STEP_MS: i64 = 7 * DAY_MS;
/// Steps per pass at most: a pass deletes at most this many steps' rows.
pub const MAX_STEPS: usize = 50;

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    pub max_age: Option<Duration>,
    /// Bytes of the database file (pages in use).
    pub max_size: Option<u64>,
}

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub rows: u64,
    /// The pass stopped at its bound with more still due.
    pub more_due: bool,
}

const RAW: [&str; 3] = ["events", "metric_points", "spans"];

impl Store {
    /// Bytes of the pages in use (the file may be larger until vacuumed).
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        let q = |pragma: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .map_err(|e| self.sql_error(e))
        };
        let pages = q("page_count")? - q("freelist_count")?;
        Ok((pages.max(0) * q("page_size")?) as u64)
    }

    /// One bounded pass of retention at `now_ms`.
    pub fn enforce_retention(&mut self, r: Retention, now_ms: i64) -> Result<Removed, StoreError> {
        let mut removed = Removed::default();
        let mut steps = 0;
        if let Some(age) = r.max_age {
            let cutoff = now_ms - age.as_millis() as i64;
            loop {
                if steps == MAX_STEPS {
                    removed.more_due = true;
                    return Ok(removed);
                }
                steps += 1;
                let n = self.delete_before(cutoff, true)?;
                removed.rows += n;
                if n == 0 {
                    break;
                }
            }
        }
        if let Some(max) = r.max_size {
            while self.used_bytes()? > max {
                if steps == MAX_STEPS {
                    removed.more_due = true;
                    break;
                }
                steps += 1;
                let n = self.shrink_oldest_day()?;
                removed.rows += n;
                if n == 0 {
                    break;
                }
                self.conn
                    .execute_batch("PRAGMA incremental_vacuum")
                    .map_err(|e| self.sql_error(e))?;
            }
        }
        if removed.rows > 0 {
            self.conn
                .execute_batch("PRAGMA incremental_vacuum")
                .map_err(|e| self.sql_error(e))?;
        }
        Ok(removed)
    }

    /// Deletes up to [`STEP_ROWS`] per table of rows older than `cutoff`;
    /// `rollups` includes the rollups and sessions. Returns the rows deleted.
    fn delete_before(&mut self, cutoff: i64, rollups: bool) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| crate::sql_error(&path, e))?;
        let mut n = 0u64;
        let result = (|| {
            let run = |sql: &str, n: &mut u64| -> rusqlite::Result<()> {
                *n += tx.execute(sql, params![cutoff, STEP_ROWS])? as u64;
                Ok(())
            };
            for t in RAW {
                run(
                    &format!(
                        "DELETE FROM {t} WHERE rowid IN
                         (SELECT rowid FROM {t} WHERE time_ms < ?1 ORDER BY time_ms LIMIT ?2)"
                    ),
                    &mut n,
                )?;
            }
            if rollups {
                for (t, width) in [
                    ("rollup_hour", HOUR_MS),
                    ("rollup_day", DAY_MS),
                    ("latency_hour", HOUR_MS),
                    ("latency_day", DAY_MS),
                ] {
                    // Only buckets wholly before the cutoff. Rollups have no
                    // rowid; their key starts with bucket_ms, so this is a
                    // range delete, bounded to a week of buckets per step.
                    n += tx.execute(
                        &format!(
                            "DELETE FROM {t} WHERE bucket_ms <= ?1
                               AND bucket_ms < (SELECT min(bucket_ms) FROM {t}) + ?2"
                        ),
                        params![cutoff - width, ROLLUP_STEP_MS],
                    )? as u64;
                }
                run(
                    "DELETE FROM session_models WHERE session_id IN
                     (SELECT session_id FROM sessions WHERE ended_ms < ?1 ORDER BY ended_ms LIMIT ?2)",
                    &mut n,
                )?;
                run(
                    "DELETE FROM sessions WHERE session_id IN
                     (SELECT session_id FROM sessions WHERE ended_ms < ?1 ORDER BY ended_ms LIMIT ?2)",
                    &mut n,
                )?;
            }
            Ok(())
        })();
        match result.and_then(|()| tx.commit()) {
            Ok(()) => Ok(n),
            Err(e) => Err(crate::sql_error(&path, e)),
        }
    }

    /// Deletes a step of the oldest UTC day of raw rows, or, when none are
    /// left, of the oldest day of rollups.
    fn shrink_oldest_day(&mut self) -> Result<u64, StoreError> {
        let oldest: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(t) FROM (SELECT min(time_ms) AS t FROM events
                 UNION ALL SELECT min(time_ms) FROM metric_points
                 UNION ALL SELECT min(time_ms) FROM spans)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_error(e))?;
        match oldest {
            Some(t) => self.delete_raw_before(t.div_euclid(DAY_MS) * DAY_MS + DAY_MS),
            None => {
                let oldest: Option<i64> = self
                    .conn
                    .query_row("SELECT min(bucket_ms) FROM rollup_day", [], |r| r.get(0))
                    .map_err(|e| self.sql_error(e))?;
                match oldest {
                    Some(t) => self.delete_before(t + DAY_MS, true),
                    None => Ok(0),
                }
            }
        }
    }

    fn delete_raw_before(&mut self, cutoff: i64) -> Result<u64, StoreError> {
        self.delete_before(cutoff, false)
    }
}
