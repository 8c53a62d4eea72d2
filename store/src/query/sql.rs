//! The SQL side of the queries: which rollup tables answer a range, the
//! WHERE clause of a filter, and quantiles of a stored histogram.

use rusqlite::types::Value as Sql;

use super::{Filter, HOURLY_MAX_MS};
use crate::ingest::{bucket_ms, DAY_MS, HOUR_MS};

/// Which rollup tables answer a filter's range.
pub(super) fn grain(f: &Filter) -> (&'static str, i64) {
    match (f.from_ms, f.to_ms) {
        (Some(a), Some(b)) if b - a <= HOURLY_MAX_MS => ("hour", HOUR_MS),
        _ => ("day", DAY_MS),
    }
}

/// A WHERE clause and its parameters.
#[derive(Default)]
pub(super) struct Clause {
    pub(super) sql: String,
    pub(super) params: Vec<Sql>,
}

impl Clause {
    pub(super) fn and(&mut self, sql: &str, params: impl IntoIterator<Item = Sql>) {
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        self.sql.push_str(sql);
        self.params.extend(params);
    }

    /// Resource attribute filters on the `resource_id` column of `table`.
    pub(super) fn attrs(&mut self, f: &Filter, column: &str) {
        for (k, v) in &f.attrs {
            self.and(
                &format!(
                    "{column} IN (SELECT resource_id FROM resource_attrs WHERE key = ? AND value = ?)"
                ),
                [Sql::Text(k.clone()), Sql::Text(v.clone())],
            );
        }
    }
}

/// The filter for a rollup or latency table of bucket width `width`.
pub(super) fn rollup_clause(f: &Filter, width: i64) -> Clause {
    let mut c = Clause::default();
    if let Some(from) = f.from_ms {
        c.and(
            "bucket_ms >= ?",
            [Sql::Integer(from.div_euclid(width) * width)],
        );
    }
    if let Some(to) = f.to_ms {
        c.and("bucket_ms < ?", [Sql::Integer(to)]);
    }
    if let Some(u) = &f.user {
        c.and("user = ?", [Sql::Text(u.clone())]);
    }
    if let Some(m) = &f.model {
        // '' rows carry no model (tool calls, sessions, ...): kept.
        c.and("(model = ? OR model = '')", [Sql::Text(m.clone())]);
    }
    c.attrs(f, "resource_id");
    c
}

/// The value at quantile `q` of a histogram given as (bucket, count), sorted.
pub(super) fn quantile(buckets: &[(i64, i64)], q: f64) -> Option<f64> {
    let total: i64 = buckets.iter().map(|b| b.1).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (le, n) in buckets {
        seen += n;
        if seen >= rank {
            return Some((bucket_ms(*le) * 10.0).round() / 10.0);
        }
    }
    None
}

/// How rollup rows are grouped.
#[derive(Clone, Copy)]
pub(super) enum By {
    Total,
    Day,
    DayModel,
    /// The table's own buckets (hour or day).
    Bucket,
}

impl By {
    pub(super) fn sql(self) -> (&'static str, &'static str) {
        match self {
            By::Total => ("0", "''"),
            By::Day => ("bucket_ms / 86400000 * 86400000", "''"),
            By::DayModel => ("bucket_ms / 86400000 * 86400000", "model"),
            By::Bucket => ("bucket_ms", "''"),
        }
    }
}

/// One group of a rollup: sum of `value` and of `n`.
pub(super) struct Sums {
    pub(super) at_ms: i64,
    pub(super) measure: String,
    pub(super) kind: String,
    pub(super) model: String,
    pub(super) value: f64,
    pub(super) n: i64,
}
