//! What the ClickHouse tests check, whatever the server: the totals the
//! captures should leave in the tables (counts, metric sums, event cost),
//! and the queries docs/clickhouse.md documents. tests/clickhouse.rs runs
//! them on the real 18.16 server, tests/clickhouse_modern.rs on chDB.

use std::collections::BTreeMap;
use std::path::Path;

use ccpipe_exporters::clickhouse::Table;
use ccpipe_pipeline::records::Records;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use super::{point_value, Capture};

/// What was sent, reckoned from the decoded captures.
#[derive(Debug, Default)]
pub struct Expected {
    pub log_records: usize,
    pub spans: usize,
    /// (table, metric name) → (data points, sum of values)
    pub points: BTreeMap<(&'static str, String), (usize, f64)>,
    /// `cost_usd` of the `api_request` events.
    pub event_cost: f64,
    pub api_requests: usize,
    pub tool_results: usize,
}

pub fn expected(captures: &[Capture]) -> Expected {
    let mut e = Expected::default();
    for c in captures {
        match &c.expected {
            Records::Logs(r) => {
                for rec in r
                    .resource_logs
                    .iter()
                    .flat_map(|rl| &rl.scope_logs)
                    .flat_map(|sl| &sl.log_records)
                {
                    e.log_records += 1;
                    let attr = |k: &str| {
                        rec.attributes
                            .iter()
                            .find(|kv| kv.key == k)
                            .and_then(|kv| kv.value.as_ref()?.value.clone())
                    };
                    match attr("event.name") {
                        Some(Value::StringValue(n)) if n == "api_request" => {
                            e.api_requests += 1;
                            match attr("cost_usd") {
                                Some(Value::DoubleValue(d)) => e.event_cost += d,
                                other => panic!("api_request cost_usd is {other:?}"),
                            }
                        }
                        Some(Value::StringValue(n)) if n == "tool_result" => e.tool_results += 1,
                        _ => {}
                    }
                }
            }
            Records::Traces(_) => e.spans += c.items,
            Records::Metrics(r) => {
                for m in r
                    .resource_metrics
                    .iter()
                    .flat_map(|rm| &rm.scope_metrics)
                    .flat_map(|sm| &sm.metrics)
                {
                    let (table, values): (Table, Vec<f64>) = match &m.data {
                        Some(Data::Sum(s)) => (
                            Table::MetricsSum,
                            s.data_points.iter().map(|p| point_value(p.value)).collect(),
                        ),
                        Some(Data::Gauge(g)) => (
                            Table::MetricsGauge,
                            g.data_points.iter().map(|p| point_value(p.value)).collect(),
                        ),
                        Some(Data::Histogram(h)) => (
                            Table::MetricsHistogram,
                            h.data_points.iter().map(|p| p.sum.unwrap_or(0.0)).collect(),
                        ),
                        other => panic!("Claude Code sent an unexpected metric type: {other:?}"),
                    };
                    let entry = e.points.entry((table.name(), m.name.clone())).or_default();
                    entry.0 += values.len();
                    entry.1 += values.iter().sum::<f64>();
                }
            }
        }
    }
    e
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Counts and sums selected from database `db` equal what was sent;
/// `select` answers a query in TabSeparated, trimmed.
pub fn check_tables(
    select: &mut dyn FnMut(&str) -> String,
    db: &str,
    want: &Expected,
    variant: &str,
) {
    let count = |t: &str| format!("SELECT count() FROM {db}.{t}");
    let logs: usize = select(&count("otel_logs")).parse().unwrap();
    assert_eq!(logs, want.log_records, "{variant}: log records");
    let spans: usize = select(&count("otel_traces")).parse().unwrap();
    assert_eq!(spans, want.spans, "{variant}: spans");

    for table in [
        "otel_metrics_sum",
        "otel_metrics_gauge",
        "otel_metrics_histogram",
    ] {
        let value = if table == "otel_metrics_histogram" {
            "Sum"
        } else {
            "Value"
        };
        let rows = select(&format!(
            "SELECT MetricName, count(), sum({value}) FROM {db}.{table} \
                 GROUP BY MetricName ORDER BY MetricName"
        ));
        let got: Vec<(String, usize, f64)> = rows
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (
                    f[0].to_owned(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                )
            })
            .collect();
        let expected: Vec<(String, usize, f64)> = want
            .points
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|((_, name), (n, sum))| (name.clone(), *n, *sum))
            .collect();
        assert_eq!(
            got.len(),
            expected.len(),
            "{variant}: {table} metrics: {got:?}"
        );
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!((&g.0, g.1), (&e.0, e.1), "{variant}: {table} data points");
            assert!(
                close(g.2, e.2),
                "{variant}: {table} {} sum {} != {}",
                g.0,
                g.2,
                e.2
            );
        }
    }

    // Total cost, from the events (through the view) and from the metric.
    let cost: f64 = select(&format!(
        "SELECT sum(CostUsd) FROM {db}.claude_code_api_requests"
    ))
    .parse()
    .unwrap();
    assert!(
        want.event_cost > 0.0,
        "{variant}: the captures cost something"
    );
    assert!(
        close(cost, want.event_cost),
        "{variant}: cost {cost} != {}",
        want.event_cost
    );
    let n: usize = select(&count("claude_code_api_requests")).parse().unwrap();
    assert_eq!(n, want.api_requests, "{variant}: api_request events");
    let n: usize = select(&count("claude_code_tool_results")).parse().unwrap();
    assert_eq!(n, want.tool_results, "{variant}: tool_result events");
    let metric_cost = want
        .points
        .get(&("otel_metrics_sum", "claude_code.cost.usage".to_owned()))
        .map(|p| p.1)
        .expect("a cost metric");
    let got: f64 = select(&format!(
        "SELECT sum(Value) FROM {db}.otel_metrics_sum WHERE MetricName = 'claude_code.cost.usage'"
    ))
    .parse()
    .unwrap();
    assert!(close(got, metric_cost), "{variant}: metric cost");
}

/// The ```sql blocks of docs/clickhouse.md, for database `otel`.
pub fn documented_queries() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/clickhouse.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim()) {
            (None, "```sql") => current = Some(String::new()),
            (Some(q), "```") => {
                out.push(q.trim().trim_end_matches(';').to_owned());
                current = None;
            }
            (Some(q), _) => {
                q.push_str(line);
                q.push('\n');
            }
            _ => {}
        }
    }
    assert!(out.len() >= 3, "docs/clickhouse.md has its queries");
    out
}
