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

use std::collections::BTreeMap;

use rusqlite::types::Value as Sql;
use serde::Serialize;

use crate::ingest::{bucket_ms, merge_histogram, Histogram, DAY_MS, HOUR_MS};
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
    #[serde(rename = "cacheRead")]
    pub cache_read: i64,
    #[serde(rename = "cacheCreation")]
    pub cache_creation: i64,
}

impl Tokens {
    fn add(&mut self, kind: &str, v: f64) {
        let v = v.round() as i64;
        match kind {
            "input" => self.input += v,
            "output" => self.output += v,
            "cacheRead" => self.cache_read += v,
            "cacheCreation" => self.cache_creation += v,
            _ => {}
        }
    }

    pub fn total(&self) -> i64 {
        self.input + self.output + self.cache_read + self.cache_creation
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub cost_usd: f64,
    pub tokens: Tokens,
    pub sessions: i64,
    pub active_time_s: f64,
    pub api_requests: i64,
    pub api_errors: i64,
    pub tool_calls: i64,
    pub tool_failures: i64,
    pub lines_added: i64,
    pub lines_removed: i64,
    pub commits: i64,
    pub pull_requests: i64,
    /// accepts / (accepts + rejects); `None` without decisions.
    pub edit_accept_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyCost {
    pub day: String,
    pub model: String,
    pub cost_usd: f64,
    pub tokens: Tokens,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailySessions {
    pub day: String,
    pub sessions: i64,
    pub active_time_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolStats {
    pub tool: String,
    pub calls: i64,
    pub failures: i64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiBucket {
    pub bucket_ms: i64,
    pub requests: i64,
    pub errors_by_status: BTreeMap<String, i64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DailyCode {
    pub day: String,
    pub lines_added: i64,
    pub lines_removed: i64,
    pub commits: i64,
    pub pull_requests: i64,
    pub accepts: i64,
    pub rejects: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRow {
    pub session_id: String,
    pub user: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub cost_usd: f64,
    pub tokens: Tokens,
    pub api_requests: i64,
    pub tool_calls: i64,
    /// API errors.
    pub errors: i64,
    /// The models the session used, for `ccpipe usage session`.
    pub models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionDetail {
    pub session_id: String,
    pub user: String,
    /// The resource attributes of the session's sender.
    pub attrs: serde_json::Map<String, serde_json::Value>,
    pub events: Vec<TimelineEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    pub time_ms: i64,
    /// prompt | api_request | api_error | tool_result | tool_decision
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// The prompt's text, only when it was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Filters {
    pub users: Vec<String>,
    pub models: Vec<String>,
    pub attrs: BTreeMap<String, Vec<String>>,
}

/// The most events a session page lists (the earliest ones).
pub const SESSION_EVENTS_MAX: usize = 10_000;

/// Which rollup tables answer a filter's range.
fn grain(f: &Filter) -> (&'static str, i64) {
    match (f.from_ms, f.to_ms) {
        (Some(a), Some(b)) if b - a <= HOURLY_MAX_MS => ("hour", HOUR_MS),
        _ => ("day", DAY_MS),
    }
}

/// A WHERE clause and its parameters.
#[derive(Default)]
struct Clause {
    sql: String,
    params: Vec<Sql>,
}

impl Clause {
    fn and(&mut self, sql: &str, params: impl IntoIterator<Item = Sql>) {
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        self.sql.push_str(sql);
        self.params.extend(params);
    }

    /// Resource attribute filters on the `resource_id` column of `table`.
    fn attrs(&mut self, f: &Filter, column: &str) {
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
fn rollup_clause(f: &Filter, width: i64) -> Clause {
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
fn quantile(buckets: &[(i64, i64)], q: f64) -> Option<f64> {
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

/// The UTC day (`YYYY-MM-DD`) of a time in Unix milliseconds.
pub fn day_of(ms: i64) -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = ms.div_euclid(DAY_MS) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Milliseconds of a `YYYY-MM-DD` day's start (UTC); `None` if malformed.
pub fn day_start_ms(day: &str) -> Option<i64> {
    let mut it = day.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || day.len() != 10 {
        return None;
    }
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = days * DAY_MS;
    (day_of(ms) == day).then_some(ms)
}

/// How rollup rows are grouped.
#[derive(Clone, Copy)]
enum By {
    Total,
    Day,
    DayModel,
    /// The table's own buckets (hour or day).
    Bucket,
}

impl By {
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            By::Total => ("0", "''"),
            By::Day => ("bucket_ms / 86400000 * 86400000", "''"),
            By::DayModel => ("bucket_ms / 86400000 * 86400000", "model"),
            By::Bucket => ("bucket_ms", "''"),
        }
    }
}

/// One group of a rollup: sum of `value` and of `n`.
struct Sums {
    at_ms: i64,
    measure: String,
    kind: String,
    model: String,
    value: f64,
    n: i64,
}

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
        let sql = format!(
            "SELECT s.session_id, s.user, s.started_ms, s.ended_ms, s.cost_usd, s.input, s.output,
                    s.cache_read, s.cache_creation, s.api_requests, s.tool_calls, s.errors,
                    (SELECT group_concat(model, char(31)) FROM session_models m
                      WHERE m.session_id = s.session_id)
             FROM sessions s{} ORDER BY {order} LIMIT {limit}",
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
