//! The questions the web view and `ccpipe usage` ask, answered from the
//! rollups (and, for sessions, from the session rows and raw events).
//!
//! Time bounds: `from_ms` inclusive, `to_ms` exclusive. Sums come from
//! hourly rollups when both bounds are set and at most [`HOURLY_MAX_MS`]
//! apart, else from daily ones, so a bound cuts at the start of its hour
//! (or UTC day). Without bounds every sum is exact. Tool calls, sessions,
//! active time, commits, pull requests and edit decisions carry no model:
//! a model filter narrows cost, tokens, lines and API requests, and leaves
//! those as they are.

mod days;
mod shapes;
mod spans;
mod sql;

use std::collections::BTreeMap;

use rusqlite::types::Value as Sql;

pub use days::{day_of, day_start_ms};
pub use shapes::*;
use sql::{grain, quantile, rollup_clause, By, Clause, Sums};

use crate::ingest::{merge_histogram, Histogram, DAY_MS};
use crate::{Store, StoreError};

/// Ranges up to this long are answered from hourly rollups (and
/// [`Store::api_requests`] buckets by hour).
pub const HOURLY_MAX_MS: i64 = 3 * DAY_MS;

/// What every query narrows by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub user: Option<String>,
    pub model: Option<String>,
    /// Resource attribute = value, all of which must hold.
    pub attrs: Vec<(String, String)>,
}

/// The most events (and, apart, spans) a session page lists: the earliest.
pub const SESSION_EVENTS_MAX: usize = 10_000;

impl Store {
    fn sql(&self, e: rusqlite::Error) -> StoreError {
        self.sql_error(e)
    }

    /// The sums of `measures` in the filter's range, grouped `by`.
    fn rollup(&self, f: &Filter, measures: &[&str], by: By) -> Result<Vec<Sums>, StoreError> {
        let (table, width) = grain(f);
        let mut c = rollup_clause(f, width);
        let marks = vec!["?"; measures.len()].join(", ");
        c.and(
            &format!("measure IN ({marks})"),
            measures.iter().map(|m| Sql::Text((*m).to_owned())),
        );
        let (at, model) = by.sql();
        let sql = format!(
            "SELECT {at} AS at, measure, kind, {model} AS m, sum(value), sum(n)
             FROM rollup_{table}{} GROUP BY at, measure, kind, m ORDER BY at, m",
            c.sql
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(c.params.iter()), |r| {
                Ok(Sums {
                    at_ms: r.get(0)?,
                    measure: r.get(1)?,
                    kind: r.get(2)?,
                    model: r.get(3)?,
                    value: r.get(4)?,
                    n: r.get(5)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Duration histograms of `what` (tool | api): (group, [(bucket, count)]).
    fn latency(
        &self,
        f: &Filter,
        what: &str,
        group: &str,
    ) -> Result<BTreeMap<String, Vec<(i64, i64)>>, StoreError> {
        let (table, width) = grain(f);
        let mut c = rollup_clause(f, width);
        c.and("what = ?", [Sql::Text(what.to_owned())]);
        let sql = format!(
            "SELECT CAST({group} AS TEXT), histogram FROM latency_{table}{}",
            c.sql
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        let mut merged: BTreeMap<String, Histogram> = BTreeMap::new();
        let rows = st
            .query_map(rusqlite::params_from_iter(c.params.iter()), |r| {
                Ok((r.get::<_, String>(0)?, r.get_ref(1)?.as_blob()?.to_vec()))
            })
            .map_err(|e| self.sql(e))?;
        for row in rows {
            let (key, blob) = row.map_err(|e| self.sql(e))?;
            merge_histogram(merged.entry(key).or_default(), &blob);
        }
        Ok(merged
            .into_iter()
            .map(|(k, h)| (k, h.into_iter().collect()))
            .collect())
    }

    /// `GET /api/summary`.
    pub fn summary(&self, f: &Filter) -> Result<Summary, StoreError> {
        let mut s = Summary::default();
        let (mut accepts, mut rejects) = (0.0, 0.0);
        for r in self.rollup(f, &ALL_MEASURES, By::Total)? {
            let v = r.value;
            match (r.measure.as_str(), r.kind.as_str()) {
                ("cost", _) => s.cost_usd += v,
                ("tokens", kind) => s.tokens.add(kind, v),
                ("sessions", _) => s.sessions += v.round() as i64,
                ("active_time", _) => s.active_time_s += v,
                ("api_request", _) => s.api_requests += r.n,
                ("api_error", _) => s.api_errors += r.n,
                ("tool_call", _) => {
                    s.tool_calls += r.n;
                    s.tool_failures += v.round() as i64;
                }
                ("lines", "added") => s.lines_added += v.round() as i64,
                ("lines", "removed") => s.lines_removed += v.round() as i64,
                ("commits", _) => s.commits += v.round() as i64,
                ("pull_requests", _) => s.pull_requests += v.round() as i64,
                ("edit_decision", "accept") => accepts += v,
                ("edit_decision", "reject") => rejects += v,
                _ => {}
            }
        }
        s.edit_accept_rate = (accepts + rejects > 0.0).then(|| accepts / (accepts + rejects));
        Ok(s)
    }

    /// `GET /api/daily`: cost and tokens per UTC day and model.
    pub fn daily(&self, f: &Filter) -> Result<Vec<DailyCost>, StoreError> {
        let mut out: BTreeMap<(i64, String), DailyCost> = BTreeMap::new();
        for r in self.rollup(f, &["cost", "tokens"], By::DayModel)? {
            let row = out
                .entry((r.at_ms, r.model.clone()))
                .or_insert_with(|| DailyCost {
                    day: day_of(r.at_ms),
                    model: r.model,
                    cost_usd: 0.0,
                    tokens: Tokens::default(),
                });
            match r.measure.as_str() {
                "cost" => row.cost_usd += r.value,
                _ => row.tokens.add(&r.kind, r.value),
            }
        }
        Ok(out.into_values().collect())
    }

    /// `GET /api/sessions_daily`: sessions started (the session.count metric)
    /// and active time per UTC day.
    pub fn sessions_daily(&self, f: &Filter) -> Result<Vec<DailySessions>, StoreError> {
        let mut out: BTreeMap<i64, DailySessions> = BTreeMap::new();
        for r in self.rollup(f, &["sessions", "active_time"], By::Day)? {
            let row = out.entry(r.at_ms).or_insert_with(|| DailySessions {
                day: day_of(r.at_ms),
                sessions: 0,
                active_time_s: 0.0,
            });
            match r.measure.as_str() {
                "sessions" => row.sessions += r.value.round() as i64,
                _ => row.active_time_s += r.value,
            }
        }
        Ok(out.into_values().collect())
    }

    /// `GET /api/tools`: calls, failures and duration quantiles per tool,
    /// most called first.
    pub fn tools(&self, f: &Filter) -> Result<Vec<ToolStats>, StoreError> {
        let mut calls: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for r in self.rollup(f, &["tool_call"], By::Total)? {
            let e = calls.entry(r.kind).or_default();
            e.0 += r.n;
            e.1 += r.value.round() as i64;
        }
        let hist = self.latency(f, "tool", "name")?;
        let mut out: Vec<ToolStats> = calls
            .into_iter()
            .map(|(tool, (calls, failures))| {
                let h = hist.get(&tool).map_or(&[][..], Vec::as_slice);
                ToolStats {
                    p50_ms: quantile(h, 0.5),
                    p95_ms: quantile(h, 0.95),
                    tool,
                    calls,
                    failures,
                }
            })
            .collect();
        out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
        Ok(out)
    }

    /// `GET /api/api_requests`: requests, errors by status and latency per
    /// hour (ranges up to three days) or UTC day.
    pub fn api_requests(&self, f: &Filter) -> Result<Vec<ApiBucket>, StoreError> {
        let mut out: BTreeMap<i64, ApiBucket> = BTreeMap::new();
        let bucket = |at_ms: i64| ApiBucket {
            bucket_ms: at_ms,
            requests: 0,
            errors_by_status: BTreeMap::new(),
            p50_ms: None,
            p95_ms: None,
        };
        for r in self.rollup(f, &["api_request", "api_error"], By::Bucket)? {
            let b = out.entry(r.at_ms).or_insert_with(|| bucket(r.at_ms));
            match r.measure.as_str() {
                "api_request" => b.requests += r.n,
                _ => *b.errors_by_status.entry(r.kind).or_default() += r.n,
            }
        }
        for (at, h) in self.latency(f, "api", "bucket_ms")? {
            let at: i64 = at.parse().unwrap_or_default();
            let b = out.entry(at).or_insert_with(|| bucket(at));
            b.p50_ms = quantile(&h, 0.5);
            b.p95_ms = quantile(&h, 0.95);
        }
        Ok(out.into_values().collect())
    }

    /// `GET /api/code`: lines, commits, pull requests and edit decisions per UTC day.
    pub fn code(&self, f: &Filter) -> Result<Vec<DailyCode>, StoreError> {
        let mut out: BTreeMap<i64, DailyCode> = BTreeMap::new();
        let measures = ["lines", "commits", "pull_requests", "edit_decision"];
        for r in self.rollup(f, &measures, By::Day)? {
            let d = out.entry(r.at_ms).or_insert_with(|| DailyCode {
                day: day_of(r.at_ms),
                ..DailyCode::default()
            });
            let v = r.value.round() as i64;
            match (r.measure.as_str(), r.kind.as_str()) {
                ("lines", "added") => d.lines_added += v,
                ("lines", "removed") => d.lines_removed += v,
                ("commits", _) => d.commits += v,
                ("pull_requests", _) => d.pull_requests += v,
                ("edit_decision", "accept") => d.accepts += v,
                ("edit_decision", "reject") => d.rejects += v,
                _ => {}
            }
        }
        Ok(out.into_values().collect())
    }

    /// `GET /api/top_sessions`: the `limit` costliest sessions that overlap
    /// the range.
    pub fn top_sessions(&self, f: &Filter, limit: usize) -> Result<Vec<SessionRow>, StoreError> {
        self.sessions(f, "s.cost_usd DESC, s.session_id", limit)
    }

    /// Every session that overlaps the range, earliest first (`ccpipe usage session`).
    pub fn sessions_by_start(&self, f: &Filter) -> Result<Vec<SessionRow>, StoreError> {
        self.sessions(f, "s.started_ms, s.session_id", usize::MAX)
    }

    fn sessions(
        &self,
        f: &Filter,
        order: &str,
        limit: usize,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let mut c = Clause::default();
        if let Some(from) = f.from_ms {
            c.and("s.ended_ms >= ?", [Sql::Integer(from)]);
        }
        if let Some(to) = f.to_ms {
            c.and("s.started_ms < ?", [Sql::Integer(to)]);
        }
        if let Some(u) = &f.user {
            c.and("s.user = ?", [Sql::Text(u.clone())]);
        }
        if let Some(m) = &f.model {
            c.and(
                "s.session_id IN (SELECT session_id FROM session_models WHERE model = ?)",
                [Sql::Text(m.clone())],
            );
        }
        c.attrs(f, "s.resource_id");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The models are looked up for the chosen rows only: in the select
        // list of the sorted query SQLite would run it for every session.
        let sql = format!(
            "SELECT s.session_id, s.user, s.started_ms, s.ended_ms, s.cost_usd, s.input, s.output,
                    s.cache_read, s.cache_creation, s.api_requests, s.tool_calls, s.errors,
                    (SELECT group_concat(model, char(31)) FROM session_models m
                      WHERE m.session_id = s.session_id)
             FROM (SELECT * FROM sessions s{} ORDER BY {order} LIMIT {limit}) s
             ORDER BY {order}",
            c.sql
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(c.params.iter()), |r| {
                let models: Option<String> = r.get(12)?;
                let mut models: Vec<String> = models
                    .map(|m| m.split('\u{1f}').map(str::to_owned).collect())
                    .unwrap_or_default();
                models.sort();
                Ok(SessionRow {
                    session_id: r.get(0)?,
                    user: r.get(1)?,
                    started_ms: r.get(2)?,
                    ended_ms: r.get(3)?,
                    cost_usd: r.get(4)?,
                    tokens: Tokens {
                        input: r.get(5)?,
                        output: r.get(6)?,
                        cache_read: r.get(7)?,
                        cache_creation: r.get(8)?,
                    },
                    api_requests: r.get(9)?,
                    tool_calls: r.get(10)?,
                    errors: r.get(11)?,
                    models,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// `GET /api/session/{id}`: the session's timeline; `None` if unknown.
    pub fn session(&self, id: &str) -> Result<Option<SessionDetail>, StoreError> {
        use rusqlite::OptionalExtension;
        let head = self
            .conn
            .prepare_cached(
                "SELECT s.user, r.attrs FROM sessions s LEFT JOIN resources r ON r.id = s.resource_id
                 WHERE s.session_id = ?1",
            )
            .and_then(|mut st| {
                st.query_row([id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .optional()
            })
            .map_err(|e| self.sql(e))?;
        let Some((user, attrs)) = head else {
            return Ok(None);
        };
        let attrs = attrs
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default();
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT time_ms, name, model, cost_usd, duration_ms, tool, success, status, prompt, detail
                 FROM events WHERE session_id = ?1
                   AND name IN ('user_prompt', 'api_request', 'api_error', 'tool_result', 'tool_decision')
                 ORDER BY time_ms, rowid LIMIT ?2",
            )
            .map_err(|e| self.sql(e))?;
        let rows = st
            .query_map(rusqlite::params![id, SESSION_EVENTS_MAX as i64], |r| {
                let name: String = r.get(1)?;
                Ok(TimelineEvent {
                    time_ms: r.get(0)?,
                    kind: if name == "user_prompt" {
                        "prompt".into()
                    } else {
                        name
                    },
                    model: r.get(2)?,
                    cost_usd: r.get(3)?,
                    duration_ms: r.get(4)?,
                    tool: r.get(5)?,
                    success: r.get(6)?,
                    status: r.get(7)?,
                    prompt: r.get(8)?,
                    detail: r.get(9)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        let events = rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))?;
        Ok(Some(SessionDetail {
            session_id: id.to_owned(),
            user,
            attrs,
            events,
            spans: self.session_spans(id)?,
        }))
    }

    /// `GET /api/filters`: every user, model and resource attribute value
    /// stored. The filter is not applied: a menu never hides its own
    /// alternatives.
    pub fn filters(&self, _f: &Filter) -> Result<Filters, StoreError> {
        let list = |sql: &str| -> Result<Vec<String>, StoreError> {
            let mut st = self.conn.prepare_cached(sql).map_err(|e| self.sql(e))?;
            let rows = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| self.sql(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
        };
        let mut out = Filters {
            users: list("SELECT DISTINCT user FROM sessions WHERE user != '' ORDER BY user")?,
            models: list("SELECT DISTINCT model FROM session_models ORDER BY model")?,
            attrs: BTreeMap::new(),
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT key, value FROM resource_attrs GROUP BY key, value ORDER BY key, value",
            )
            .map_err(|e| self.sql(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.sql(e))?;
        for row in rows {
            let (k, v) = row.map_err(|e| self.sql(e))?;
            out.attrs.entry(k).or_default().push(v);
        }
        Ok(out)
    }
}

const ALL_MEASURES: [&str; 11] = [
    "cost",
    "tokens",
    "sessions",
    "active_time",
    "api_request",
    "api_error",
    "tool_call",
    "lines",
    "commits",
    "pull_requests",
    "edit_decision",
];
