//! OTLP requests to rows. One call is one transaction: raw rows, rollups,
//! session totals and cumulative-series state commit together or not at all,
//! so a batch the exporter acknowledges is wholly stored and a failed one
//! leaves nothing behind to double-count on retry.

use std::collections::{BTreeMap, HashMap, HashSet};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, NumberDataPoint};
use opentelemetry_proto::tonic::resource::v1::Resource;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::attrs;
use crate::{Store, StoreError};

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
/// of each cumulative series. Reset when a transaction fails (it may hold
/// ids or values that were rolled back).
#[derive(Default)]
pub(crate) struct State {
    resources: HashMap<String, i64>,
    cumulative: HashMap<String, (u64, f64)>,
}

#[derive(Hash, PartialEq, Eq)]
struct RollupKey {
    hour_ms: i64,
    measure: &'static str,
    kind: String,
    model: String,
    user: String,
    resource_id: i64,
}

#[derive(Hash, PartialEq, Eq, Clone)]
struct LatencyKey {
    bucket_ms: i64,
    what: &'static str,
    name: String,
    model: String,
    user: String,
    resource_id: i64,
}

#[derive(Default)]
struct SessionTally {
    user: String,
    resource_id: i64,
    started_ms: i64,
    ended_ms: i64,
    cost_usd: f64,
    tokens: [f64; 4],
    api_requests: i64,
    tool_calls: i64,
    errors: i64,
}

/// Sums gathered over a whole request, written once per key at the end.
#[derive(Default)]
struct Tally {
    rollup: HashMap<RollupKey, (f64, i64)>,
    latency: HashMap<LatencyKey, Histogram>,
    sessions: HashMap<String, SessionTally>,
    session_models: HashSet<(String, String)>,
}

impl Tally {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        time_ms: i64,
        measure: &'static str,
        kind: &str,
        model: &str,
        user: &str,
        resource_id: i64,
        value: f64,
    ) {
        let key = RollupKey {
            hour_ms: time_ms.div_euclid(HOUR_MS) * HOUR_MS,
            measure,
            kind: kind.to_owned(),
            model: model.to_owned(),
            user: user.to_owned(),
            resource_id,
        };
        let e = self.rollup.entry(key).or_default();
        e.0 += value;
        e.1 += 1;
    }

    fn duration(&mut self, r: &Row<'_>, what: &'static str, name: &str, ms: f64) {
        let key = LatencyKey {
            bucket_ms: r.time_ms.div_euclid(HOUR_MS) * HOUR_MS,
            what,
            name: name.to_owned(),
            model: r.model.clone().unwrap_or_default(),
            user: r.user.to_owned(),
            resource_id: r.resource_id,
        };
        *self
            .latency
            .entry(key)
            .or_default()
            .entry(latency_bucket(ms))
            .or_default() += 1;
    }

    /// The session's row, touched at `time_ms`.
    fn session(&mut self, r: &Row<'_>) -> Option<&mut SessionTally> {
        let id = r.session_id?;
        let s = self
            .sessions
            .entry(id.to_owned())
            .or_insert_with(|| SessionTally {
                user: r.user.to_owned(),
                resource_id: r.resource_id,
                started_ms: r.time_ms,
                ended_ms: r.time_ms,
                ..SessionTally::default()
            });
        s.started_ms = s.started_ms.min(r.time_ms);
        s.ended_ms = s.ended_ms.max(r.time_ms);
        if let Some(m) = &r.model {
            self.session_models.insert((id.to_owned(), m.clone()));
        }
        Some(s)
    }
}

/// Log-scale histogram bucket of a duration: ~5% wide, so p50/p95 read from
/// the buckets are within ~5% of the exact value.
pub fn latency_bucket(ms: f64) -> i64 {
    ((ms.max(0.0) + 1.0).ln() * 20.0).round() as i64
}

/// Counts by [`latency_bucket`].
pub type Histogram = BTreeMap<i64, i64>;

/// A histogram as stored: (bucket u16, count u32) little-endian pairs,
/// buckets ascending. One row per key keeps a year of a tool's durations
/// in a few hundred rows instead of a row per bucket.
pub fn encode_histogram(h: &Histogram) -> Vec<u8> {
    let mut out = Vec::with_capacity(h.len() * 6);
    for (&le, &n) in h {
        out.extend_from_slice(&(le.clamp(0, i64::from(u16::MAX)) as u16).to_le_bytes());
        out.extend_from_slice(&(n.clamp(0, i64::from(u32::MAX)) as u32).to_le_bytes());
    }
    out
}

/// Adds a stored histogram into `into`; a torn trailing pair is ignored.
pub fn merge_histogram(into: &mut Histogram, blob: &[u8]) {
    for pair in blob.chunks_exact(6) {
        let le = u16::from_le_bytes([pair[0], pair[1]]);
        let n = u32::from_le_bytes([pair[2], pair[3], pair[4], pair[5]]);
        *into.entry(i64::from(le)).or_default() += i64::from(n);
    }
}

/// The duration a bucket stands for.
pub fn bucket_ms(le: i64) -> f64 {
    ((le as f64) / 20.0).exp() - 1.0
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
                Data::Logs(r) => logs(&tx, ingest, &mut pending, &mut tally, r)?,
                Data::Metrics(r) => metrics(&tx, ingest, &mut pending, &mut tally, r)?,
                Data::Traces(r) => traces(&tx, ingest, &mut pending, r)?,
            };
            write_tally(&tx, tally)?;
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

fn logs(
    tx: &Transaction<'_>,
    state: &State,
    pending: &mut Pending,
    tally: &mut Tally,
    req: &ExportLogsServiceRequest,
) -> rusqlite::Result<Ingested> {
    let mut n = Ingested::default();
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (time_ms, resource_id, name, session_id, user, model, tool, success,
                             status, duration_ms, cost_usd, prompt, detail, attrs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for rl in &req.resource_logs {
        let resource_id = resource_id(tx, state, pending, rl.resource.as_ref())?;
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                let a = &rec.attributes[..];
                let time_ms = match (rec.time_unix_nano, rec.observed_time_unix_nano) {
                    (t, _) if t > 0 => ns_to_ms(t),
                    (_, t) if t > 0 => ns_to_ms(t),
                    _ => now_ms(),
                };
                let body = match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(Value::StringValue(s)) => Some(s.as_str()),
                    _ => None,
                };
                // Claude Code's event name, else its `claude_code.<name>`
                // body; any other log is a plain `log` (its body is in attrs).
                let name = str_attr(a, "event.name")
                    .or_else(|| body.and_then(|b| b.strip_prefix("claude_code.")))
                    .unwrap_or("log")
                    .to_owned();
                let row = Row {
                    time_ms,
                    resource_id,
                    user: str_attr(a, "user.id").unwrap_or(""),
                    session_id: str_attr(a, "session.id"),
                    model: str_attr(a, "model").map(str::to_owned),
                };
                let tool = str_attr(a, "tool_name");
                let success = attrs::boolean(a, "success");
                let status = attrs::number(a, "status_code").map(|s| s as i64);
                let duration_ms = attrs::number(a, "duration_ms");
                let cost_usd = attrs::number(a, "cost_usd");
                let text_key = match name.as_str() {
                    "user_prompt" => Some("prompt"),
                    "assistant_response" => Some("response"),
                    _ => None,
                };
                let prompt = text_key
                    .and_then(|k| str_attr(a, k))
                    .filter(|t| *t != REDACTED);
                let detail = match name.as_str() {
                    "api_error" => str_attr(a, "error"),
                    "tool_decision" => str_attr(a, "decision"),
                    "tool_result" => str_attr(a, "error"),
                    _ => None,
                };
                let mut obj = attrs::to_json_without(a, IN_COLUMNS);
                if let Some(b) = body {
                    obj.entry("body")
                        .or_insert_with(|| serde_json::Value::String(b.to_owned()));
                }
                insert.execute(params![
                    time_ms,
                    resource_id,
                    name,
                    row.session_id,
                    row.user,
                    row.model,
                    tool,
                    success,
                    status,
                    duration_ms,
                    cost_usd,
                    prompt,
                    detail,
                    serde_json::Value::Object(obj).to_string(),
                ])?;
                n.events += 1;
                tally_event(tally, &row, &name, tool, success, status, duration_ms);
            }
        }
    }
    Ok(n)
}

fn tally_event(
    tally: &mut Tally,
    r: &Row<'_>,
    name: &str,
    tool: Option<&str>,
    success: Option<bool>,
    status: Option<i64>,
    duration_ms: Option<f64>,
) {
    let model = r.model.as_deref().unwrap_or("");
    match name {
        "api_request" => {
            let ms = duration_ms.unwrap_or(0.0);
            tally.add(
                r.time_ms,
                "api_request",
                "",
                model,
                r.user,
                r.resource_id,
                ms,
            );
            if let Some(ms) = duration_ms {
                tally.duration(r, "api", "", ms);
            }
            if let Some(s) = tally.session(r) {
                s.api_requests += 1;
            }
        }
        "api_error" => {
            let kind = status.map_or_else(|| "other".to_owned(), |s| s.to_string());
            tally.add(
                r.time_ms,
                "api_error",
                &kind,
                model,
                r.user,
                r.resource_id,
                1.0,
            );
            if let Some(s) = tally.session(r) {
                s.errors += 1;
            }
        }
        "tool_result" => {
            let tool = tool.unwrap_or("unknown");
            let failed = if success == Some(false) { 1.0 } else { 0.0 };
            // Tool results carry no model: stored under '' (see query::model_clause).
            let r = Row { model: None, ..*r };
            tally.add(
                r.time_ms,
                "tool_call",
                tool,
                "",
                r.user,
                r.resource_id,
                failed,
            );
            if let Some(ms) = duration_ms {
                tally.duration(&r, "tool", tool, ms);
            }
            if let Some(s) = tally.session(&r) {
                s.tool_calls += 1;
            }
        }
        _ => {
            tally.session(r);
        }
    }
}

/// Where each Claude Code metric goes in the rollups; `kind_key` names the
/// point attribute that splits it.
fn measure_of(metric: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match metric {
        "claude_code.cost.usage" => ("cost", None),
        "claude_code.token.usage" => ("tokens", Some("type")),
        "claude_code.session.count" => ("sessions", None),
        "claude_code.active_time.total" => ("active_time", Some("type")),
        "claude_code.lines_of_code.count" => ("lines", Some("type")),
        "claude_code.commit.count" => ("commits", None),
        "claude_code.pull_request.count" => ("pull_requests", None),
        "claude_code.code_edit_tool.decision" => ("edit_decision", Some("decision")),
        _ => return None,
    })
}

fn metrics(
    tx: &Transaction<'_>,
    state: &State,
    pending: &mut Pending,
    tally: &mut Tally,
    req: &ExportMetricsServiceRequest,
) -> rusqlite::Result<Ingested> {
    let mut n = Ingested::default();
    for rm in &req.resource_metrics {
        let resource_id = resource_id(tx, state, pending, rm.resource.as_ref())?;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let measure = measure_of(&m.name);
                match &m.data {
                    Some(MetricData::Sum(sum)) => {
                        let cumulative = sum.aggregation_temporality
                            == AggregationTemporality::Cumulative as i32;
                        for p in &sum.data_points {
                            let value = number(p);
                            let delta = if cumulative {
                                to_delta(tx, state, pending, &m.name, resource_id, p, value)?
                            } else {
                                value
                            };
                            point(tx, tally, &m.name, measure, resource_id, p, delta)?;
                            n.points += 1;
                        }
                    }
                    Some(MetricData::Gauge(g)) => {
                        for p in &g.data_points {
                            point(tx, tally, &m.name, None, resource_id, p, number(p))?;
                            n.points += 1;
                        }
                    }
                    Some(MetricData::Histogram(h)) => {
                        for p in &h.data_points {
                            raw_point(
                                tx,
                                &m.name,
                                resource_id,
                                p.time_unix_nano,
                                &p.attributes,
                                p.sum.unwrap_or(0.0),
                            )?;
                            n.points += 1;
                        }
                    }
                    Some(MetricData::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            raw_point(
                                tx,
                                &m.name,
                                resource_id,
                                p.time_unix_nano,
                                &p.attributes,
                                p.sum.unwrap_or(0.0),
                            )?;
                            n.points += 1;
                        }
                    }
                    Some(MetricData::Summary(s)) => {
                        for p in &s.data_points {
                            raw_point(
                                tx,
                                &m.name,
                                resource_id,
                                p.time_unix_nano,
                                &p.attributes,
                                p.sum,
                            )?;
                            n.points += 1;
                        }
                    }
                    None => {}
                }
            }
        }
    }
    Ok(n)
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(Number::AsDouble(d)) => d,
        Some(Number::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// The increase since the series' last cumulative value. A new series, or
/// one whose start time changed or whose value fell (the sender restarted),
/// counts from zero.
fn to_delta(
    tx: &Transaction<'_>,
    state: &State,
    pending: &mut Pending,
    name: &str,
    resource_id: i64,
    p: &NumberDataPoint,
    value: f64,
) -> rusqlite::Result<f64> {
    let mut a = attrs::to_json(&p.attributes);
    a.sort_keys();
    let series = format!(
        "{name}\u{0}{resource_id}\u{0}{}",
        serde_json::Value::Object(a)
    );
    let last = match pending
        .cumulative
        .get(&series)
        .or_else(|| state.cumulative.get(&series))
    {
        Some(v) => Some(*v),
        None => tx
            .prepare_cached("SELECT start_ns, value FROM cumulative_series WHERE series = ?1")?
            .query_row([&series], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .optional()?,
    };
    let delta = match last {
        Some((start, last)) if start == p.start_time_unix_nano && value >= last => value - last,
        _ => value,
    };
    pending
        .cumulative
        .insert(series, (p.start_time_unix_nano, value));
    Ok(delta)
}

fn raw_point(
    tx: &Transaction<'_>,
    name: &str,
    resource_id: i64,
    time_ns: u64,
    a: &[KeyValue],
    value: f64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO metric_points (time_ms, resource_id, name, session_id, user, value, attrs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        ns_to_ms(time_ns),
        resource_id,
        name,
        str_attr(a, "session.id"),
        str_attr(a, "user.id"),
        value,
        serde_json::Value::Object(attrs::to_json_without(a, IN_COLUMNS)).to_string(),
    ])?;
    Ok(())
}

fn point(
    tx: &Transaction<'_>,
    tally: &mut Tally,
    name: &str,
    measure: Option<(&'static str, Option<&'static str>)>,
    resource_id: i64,
    p: &NumberDataPoint,
    value: f64,
) -> rusqlite::Result<()> {
    let a = &p.attributes[..];
    raw_point(tx, name, resource_id, p.time_unix_nano, a, value)?;
    let Some((measure, kind_key)) = measure else {
        return Ok(());
    };
    let time_ms = ns_to_ms(p.time_unix_nano);
    let row = Row {
        time_ms,
        resource_id,
        user: str_attr(a, "user.id").unwrap_or(""),
        session_id: str_attr(a, "session.id"),
        model: str_attr(a, "model").map(str::to_owned),
    };
    let kind = kind_key.and_then(|k| str_attr(a, k)).unwrap_or("");
    let model = row.model.clone().unwrap_or_default();
    tally.add(time_ms, measure, kind, &model, row.user, resource_id, value);
    if let Some(s) = tally.session(&row) {
        match measure {
            "cost" => s.cost_usd += value,
            "tokens" => {
                let i = match kind {
                    "input" => 0,
                    "output" => 1,
                    "cacheRead" => 2,
                    "cacheCreation" => 3,
                    _ => return Ok(()),
                };
                s.tokens[i] += value;
            }
            _ => {}
        }
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn traces(
    tx: &Transaction<'_>,
    state: &State,
    pending: &mut Pending,
    req: &ExportTraceServiceRequest,
) -> rusqlite::Result<Ingested> {
    let mut n = Ingested::default();
    let mut insert = tx.prepare_cached(
        "INSERT INTO spans (time_ms, end_ms, resource_id, trace_id, span_id, parent_span_id, name,
                            session_id, attrs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for rs in &req.resource_spans {
        let resource_id = resource_id(tx, state, pending, rs.resource.as_ref())?;
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let parent = (!s.parent_span_id.is_empty()).then(|| hex(&s.parent_span_id));
                insert.execute(params![
                    ns_to_ms(s.start_time_unix_nano),
                    ns_to_ms(s.end_time_unix_nano),
                    resource_id,
                    hex(&s.trace_id),
                    hex(&s.span_id),
                    parent,
                    s.name,
                    str_attr(&s.attributes, "session.id"),
                    serde_json::Value::Object(attrs::to_json(&s.attributes)).to_string(),
                ])?;
                n.spans += 1;
            }
        }
    }
    Ok(n)
}

fn write_tally(tx: &Transaction<'_>, tally: Tally) -> rusqlite::Result<()> {
    for table in ["rollup_hour", "rollup_day"] {
        let width = if table == "rollup_hour" {
            HOUR_MS
        } else {
            DAY_MS
        };
        let mut st = tx.prepare_cached(&format!(
            "INSERT INTO {table} (bucket_ms, measure, kind, model, user, resource_id, value, n)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (bucket_ms, measure, kind, model, user, resource_id)
             DO UPDATE SET value = value + excluded.value, n = n + excluded.n"
        ))?;
        for (k, (value, n)) in &tally.rollup {
            st.execute(params![
                k.hour_ms.div_euclid(width) * width,
                k.measure,
                k.kind,
                k.model,
                k.user,
                k.resource_id,
                value,
                n
            ])?;
        }
    }
    for (table, width) in [("latency_hour", HOUR_MS), ("latency_day", DAY_MS)] {
        // Hours of one day share its row: merge them before the row is read.
        let mut rows: HashMap<LatencyKey, Histogram> = HashMap::new();
        for (k, h) in &tally.latency {
            let key = LatencyKey {
                bucket_ms: k.bucket_ms.div_euclid(width) * width,
                ..k.clone()
            };
            let row = rows.entry(key).or_default();
            for (le, n) in h {
                *row.entry(*le).or_default() += n;
            }
        }
        let mut read = tx.prepare_cached(&format!(
            "SELECT histogram FROM {table} WHERE bucket_ms = ?1 AND what = ?2 AND name = ?3
               AND model = ?4 AND user = ?5 AND resource_id = ?6"
        ))?;
        let mut write = tx.prepare_cached(&format!(
            "INSERT OR REPLACE INTO {table} (bucket_ms, what, name, model, user, resource_id, histogram)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ))?;
        for (k, mut h) in rows {
            let key = params![k.bucket_ms, k.what, k.name, k.model, k.user, k.resource_id];
            if let Some(blob) = read.query_row(key, |r| r.get::<_, Vec<u8>>(0)).optional()? {
                merge_histogram(&mut h, &blob);
            }
            write.execute(params![
                k.bucket_ms,
                k.what,
                k.name,
                k.model,
                k.user,
                k.resource_id,
                encode_histogram(&h)
            ])?;
        }
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO sessions (session_id, user, resource_id, started_ms, ended_ms, cost_usd,
                               input, output, cache_read, cache_creation, api_requests,
                               tool_calls, errors)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (session_id) DO UPDATE SET
             user = CASE WHEN user = '' THEN excluded.user ELSE user END,
             started_ms = min(started_ms, excluded.started_ms),
             ended_ms = max(ended_ms, excluded.ended_ms),
             cost_usd = cost_usd + excluded.cost_usd,
             input = input + excluded.input,
             output = output + excluded.output,
             cache_read = cache_read + excluded.cache_read,
             cache_creation = cache_creation + excluded.cache_creation,
             api_requests = api_requests + excluded.api_requests,
             tool_calls = tool_calls + excluded.tool_calls,
             errors = errors + excluded.errors",
    )?;
    for (id, s) in &tally.sessions {
        st.execute(params![
            id,
            s.user,
            s.resource_id,
            s.started_ms,
            s.ended_ms,
            s.cost_usd,
            s.tokens[0].round() as i64,
            s.tokens[1].round() as i64,
            s.tokens[2].round() as i64,
            s.tokens[3].round() as i64,
            s.api_requests,
            s.tool_calls,
            s.errors
        ])?;
    }
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO session_models (session_id, model) VALUES (?1, ?2)",
    )?;
    for (id, model) in &tally.session_models {
        st.execute(params![id, model])?;
    }
    Ok(())
}
