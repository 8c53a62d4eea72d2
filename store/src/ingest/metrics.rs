//! Metric data points to `metric_points` rows (cumulative sums as deltas),
//! and Claude Code's metrics into the rollups.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, NumberDataPoint};
use rusqlite::{params, OptionalExtension, Transaction};

use super::tally::Tally;
use super::{ns_to_ms, resource_id, str_attr, Ingested, Pending, Row, State, IN_COLUMNS};
use crate::attrs;

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

pub(super) fn metrics(
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
                    // Not sent by Claude Code: kept raw, valued by their sum.
                    Some(MetricData::Histogram(h)) => {
                        let points = h.data_points.iter();
                        let raw = points.map(|p| (p.time_unix_nano, &p.attributes, p.sum));
                        n.points += raw_points(tx, &m.name, resource_id, raw)?;
                    }
                    Some(MetricData::ExponentialHistogram(h)) => {
                        let points = h.data_points.iter();
                        let raw = points.map(|p| (p.time_unix_nano, &p.attributes, p.sum));
                        n.points += raw_points(tx, &m.name, resource_id, raw)?;
                    }
                    Some(MetricData::Summary(s)) => {
                        let points = s.data_points.iter();
                        let raw = points.map(|p| (p.time_unix_nano, &p.attributes, Some(p.sum)));
                        n.points += raw_points(tx, &m.name, resource_id, raw)?;
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

/// Stores points of a kind the rollups do not read; returns how many.
fn raw_points<'a>(
    tx: &Transaction<'_>,
    name: &str,
    resource_id: i64,
    points: impl Iterator<Item = (u64, &'a Vec<KeyValue>, Option<f64>)>,
) -> rusqlite::Result<usize> {
    let mut n = 0;
    for (time_ns, attrs, sum) in points {
        raw_point(tx, name, resource_id, time_ns, attrs, sum.unwrap_or(0.0))?;
        n += 1;
    }
    Ok(n)
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
