//! Sums gathered over one request, then written once per key: rollups,
//! duration histograms, session totals.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{params, OptionalExtension, Transaction};

use super::{Row, DAY_MS, HOUR_MS};

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
pub(super) struct SessionTally {
    user: String,
    resource_id: i64,
    started_ms: i64,
    ended_ms: i64,
    pub(super) cost_usd: f64,
    pub(super) tokens: [f64; 4],
    pub(super) api_requests: i64,
    pub(super) tool_calls: i64,
    pub(super) errors: i64,
}

/// Sums gathered over a whole request, written once per key at the end.
#[derive(Default)]
pub(super) struct Tally {
    rollup: HashMap<RollupKey, (f64, i64)>,
    latency: HashMap<LatencyKey, Histogram>,
    sessions: HashMap<String, SessionTally>,
    session_models: HashSet<(String, String)>,
}

impl Tally {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add(
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

    pub(super) fn duration(&mut self, r: &Row<'_>, what: &'static str, name: &str, ms: f64) {
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
    pub(super) fn session(&mut self, r: &Row<'_>) -> Option<&mut SessionTally> {
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

pub(super) fn write_tally(tx: &Transaction<'_>, tally: Tally) -> rusqlite::Result<()> {
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
