//! `claude_code_metrics`: counters and histograms derived from Claude Code's
//! events (log records), aggregated per interval with delta temporality.
//!
//! | event | metrics (labels) |
//! |---|---|
//! | `tool_result` | `claude_code.tool.calls` (`tool_name`, `success`, `decision`), `claude_code.tool.duration` ms (`tool_name`) |
//! | `api_request` | `claude_code.api.requests`, `claude_code.api.duration` ms, `claude_code.api.ttft` ms (`model`) |
//! | `api_error` | `claude_code.api.errors` (`model`, `status_code`) |
//! | `user_prompt` | `claude_code.prompts`, `claude_code.prompt.length` (characters) |
//!
//! Cardinality is bounded: only those label keys (when the event has them),
//! `service.name` from the resource, and the configured `dimensions`; and at
//! most `max_series` series per interval, after which events go to one
//! overflow series per metric (`otel.metric.overflow=true`) and are counted.

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use ccpipe_pipeline::config::units::Duration;
use ccpipe_pipeline::config::Invalid;
use ccpipe_pipeline::connector::{Aggregate, BuiltConnector};
use ccpipe_pipeline::factory::{ComponentSettings, ConnectorSettings, Typed};
use ccpipe_pipeline::records::Records;
use ccpipe_pipeline::{telemetry, Signal};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;

use crate::attributes::{event_name, find, number, text as label};

/// Upper bounds of the millisecond histograms: 5ms to 5min.
pub const MS_BOUNDS: &[f64] = &[
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
    60_000.0, 120_000.0, 300_000.0,
];
/// Upper bounds of the prompt length histogram, in characters.
pub const LENGTH_BOUNDS: &[f64] = &[
    10.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 50_000.0,
];
/// The label of the series that takes events beyond `max_series`.
pub const OVERFLOW_KEY: &str = "otel.metric.overflow";
const SCOPE: &str = "ccpipe/claude_code_metrics";
const DEFAULT_INTERVAL: StdDuration = StdDuration::from_secs(10);
const DEFAULT_MAX_SERIES: usize = 1000;

/// `connectors.claude_code_metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How often the interval's metrics are sent on; default 10s.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Extra label keys, looked up on the event, then on its resource
    /// (e.g. `user.id`, `session.id`, `terminal.type`); none by default.
    #[serde(default)]
    pub dimensions: Vec<String>,
    /// Series per interval, over all metrics, before the overflow series; default 1000.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_interval() -> Duration {
    Duration(DEFAULT_INTERVAL)
}

fn default_max_series() -> usize {
    DEFAULT_MAX_SERIES
}

impl Config {
    pub fn build(self, id: &str) -> BuiltConnector {
        BuiltConnector {
            aggregate: Box::new(ClaudeCodeMetrics::new(id, self.dimensions, self.max_series)),
            interval: self.interval.0,
            consumes: Signal::Logs,
        }
    }
}

/// Keys that are labels already (the per-metric keys and `service.name`).
const BUILT_IN_LABELS: &[&str] = &[
    "tool_name",
    "success",
    "decision",
    "model",
    "status_code",
    "service.name",
];

/// The metrics this connector makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    ToolCalls,
    ToolDuration,
    ApiRequests,
    ApiDuration,
    ApiTtft,
    ApiErrors,
    Prompts,
    PromptLength,
}

impl Kind {
    /// Name, unit, description, histogram bounds (`None` for a counter).
    fn describe(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static [f64]>,
    ) {
        match self {
            Kind::ToolCalls => (
                "claude_code.tool.calls",
                "",
                "Tool calls (tool_result events)",
                None,
            ),
            Kind::ToolDuration => (
                "claude_code.tool.duration",
                "ms",
                "Tool execution time",
                Some(MS_BOUNDS),
            ),
            Kind::ApiRequests => (
                "claude_code.api.requests",
                "",
                "API requests (api_request events)",
                None,
            ),
            Kind::ApiDuration => (
                "claude_code.api.duration",
                "ms",
                "API request duration",
                Some(MS_BOUNDS),
            ),
            Kind::ApiTtft => (
                "claude_code.api.ttft",
                "ms",
                "API time to first token",
                Some(MS_BOUNDS),
            ),
            Kind::ApiErrors => (
                "claude_code.api.errors",
                "",
                "API errors (api_error events)",
                None,
            ),
            Kind::Prompts => (
                "claude_code.prompts",
                "",
                "User prompts (user_prompt events)",
                None,
            ),
            Kind::PromptLength => (
                "claude_code.prompt.length",
                "",
                "User prompt length in characters",
                Some(LENGTH_BOUNDS),
            ),
        }
    }
}

type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    /// `service.name` when the resource has one.
    resource: Labels,
    kind: Kind,
    labels: Labels,
}

#[derive(Debug, Clone)]
enum Point {
    Count(u64),
    Histogram {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        buckets: Vec<u64>,
    },
}

/// The aggregation state of one connector: one interval's series.
pub struct ClaudeCodeMetrics {
    id: String,
    dimensions: Vec<String>,
    max_series: usize,
    series: BTreeMap<SeriesKey, Point>,
    /// Series in `series` that are not overflow series.
    regular: usize,
    /// Start of the current interval (ns since the epoch).
    start: u64,
    overflow: metrics::Counter,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl ClaudeCodeMetrics {
    pub fn new(id: &str, dimensions: Vec<String>, max_series: usize) -> Self {
        ClaudeCodeMetrics {
            id: id.to_owned(),
            dimensions,
            max_series,
            series: BTreeMap::new(),
            regular: 0,
            start: now_nanos(),
            overflow: metrics::counter!(telemetry::CONNECTOR_OVERFLOW_EVENTS, "connector" => id.to_owned()),
        }
    }

    fn record(&mut self, resource: &[KeyValue], record: &LogRecord) {
        let Some(event) = event_name(record) else {
            return;
        };
        let attrs = &record.attributes;
        let labels = |keys: &[&str]| -> Labels {
            keys.iter()
                .filter_map(|k| find(attrs, k).and_then(label).map(|v| ((*k).to_owned(), v)))
                .collect()
        };
        let add = |this: &mut Self, kind: Kind, labels: Labels, value: Option<f64>| {
            this.add(resource, attrs, kind, labels, value);
        };
        match event {
            "tool_result" => {
                add(
                    self,
                    Kind::ToolCalls,
                    labels(&["tool_name", "success", "decision"]),
                    None,
                );
                if let Some(ms) = number(attrs, "duration_ms") {
                    add(self, Kind::ToolDuration, labels(&["tool_name"]), Some(ms));
                }
            }
            "api_request" => {
                add(self, Kind::ApiRequests, labels(&["model"]), None);
                if let Some(ms) = number(attrs, "duration_ms") {
                    add(self, Kind::ApiDuration, labels(&["model"]), Some(ms));
                }
                if let Some(ms) = number(attrs, "ttft_ms") {
                    add(self, Kind::ApiTtft, labels(&["model"]), Some(ms));
                }
            }
            "api_error" => add(
                self,
                Kind::ApiErrors,
                labels(&["model", "status_code"]),
                None,
            ),
            "user_prompt" => {
                add(self, Kind::Prompts, Labels::new(), None);
                if let Some(len) = number(attrs, "prompt_length") {
                    add(self, Kind::PromptLength, Labels::new(), Some(len));
                }
            }
            _ => {}
        }
    }

    /// Adds one event to its series: a count, or an observation when `value`.
    fn add(
        &mut self,
        resource: &[KeyValue],
        attrs: &[KeyValue],
        kind: Kind,
        mut labels: Labels,
        value: Option<f64>,
    ) {
        for key in &self.dimensions {
            if let Some(v) = find(attrs, key)
                .or_else(|| find(resource, key))
                .and_then(label)
            {
                labels.push((key.clone(), v));
            }
        }
        let resource = find(resource, "service.name")
            .and_then(label)
            .map(|v| vec![("service.name".to_owned(), v)])
            .unwrap_or_default();
        let mut key = SeriesKey {
            resource,
            kind,
            labels,
        };
        if !self.series.contains_key(&key) {
            if self.regular >= self.max_series {
                key.labels = vec![(OVERFLOW_KEY.to_owned(), "true".to_owned())];
                self.overflow.increment(1);
            } else {
                self.regular += 1;
            }
        }
        let bounds = kind.describe().3;
        let point = self.series.entry(key).or_insert_with(|| match bounds {
            None => Point::Count(0),
            Some(b) => Point::Histogram {
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                buckets: vec![0; b.len() + 1],
            },
        });
        match point {
            Point::Count(n) => *n += 1,
            Point::Histogram {
                count,
                sum,
                min,
                max,
                buckets,
            } => {
                let v = value.unwrap_or(0.0);
                *count += 1;
                *sum += v;
                *min = min.min(v);
                *max = max.max(v);
                // Explicit buckets: bucket i holds bounds[i-1] < v <= bounds[i].
                let i = bounds.unwrap_or(&[]).partition_point(|b| *b < v);
                buckets[i] += 1;
            }
        }
    }
}

impl Aggregate for ClaudeCodeMetrics {
    fn consume(&mut self, batch: &Records) {
        let Records::Logs(request) = batch else {
            return;
        };
        for rl in &request.resource_logs {
            let resource = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                self.record(resource, record);
            }
        }
    }

    fn take(&mut self) -> Option<Records> {
        let end = now_nanos();
        let start = std::mem::replace(&mut self.start, end);
        if self.series.is_empty() {
            return None;
        }
        self.regular = 0;
        let series = std::mem::take(&mut self.series);
        tracing::debug!(connector = %self.id, series = series.len(), "interval done");
        Some(Records::Metrics(to_request(series, start, end)))
    }
}

/// One `ResourceMetrics` per resource, one metric per kind, one point per series.
fn to_request(
    series: BTreeMap<SeriesKey, Point>,
    start: u64,
    end: u64,
) -> ExportMetricsServiceRequest {
    let mut resources: Vec<ResourceMetrics> = Vec::new();
    let mut current: Option<(Labels, Kind)> = None;
    for (key, point) in series {
        if current.as_ref().map(|(r, _)| r) != Some(&key.resource) {
            resources.push(ResourceMetrics {
                resource: Some(Resource {
                    attributes: key_values(&key.resource),
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: SCOPE.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            });
            current = None;
        }
        let metrics = &mut resources.last_mut().expect("pushed above").scope_metrics[0].metrics;
        if current.as_ref().map(|(_, k)| *k) != Some(key.kind) {
            metrics.push(new_metric(key.kind));
        }
        current = Some((key.resource.clone(), key.kind));
        let attributes = key_values(&key.labels);
        match (metrics.last_mut().and_then(|m| m.data.as_mut()), point) {
            (Some(metric::Data::Sum(sum)), Point::Count(n)) => {
                sum.data_points.push(NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: end,
                    value: Some(number_data_point::Value::AsInt(n as i64)),
                    ..Default::default()
                })
            }
            (
                Some(metric::Data::Histogram(h)),
                Point::Histogram {
                    count,
                    sum,
                    min,
                    max,
                    buckets,
                },
            ) => h.data_points.push(HistogramDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: end,
                count,
                sum: Some(sum),
                min: Some(min),
                max: Some(max),
                bucket_counts: buckets,
                explicit_bounds: key.kind.describe().3.unwrap_or(&[]).to_vec(),
                ..Default::default()
            }),
            _ => unreachable!("a kind's point matches its metric type"),
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: resources,
    }
}

fn new_metric(kind: Kind) -> Metric {
    let (name, unit, description, bounds) = kind.describe();
    let delta = AggregationTemporality::Delta as i32;
    let data = match bounds {
        None => metric::Data::Sum(Sum {
            data_points: Vec::new(),
            aggregation_temporality: delta,
            is_monotonic: true,
        }),
        Some(_) => metric::Data::Histogram(Histogram {
            data_points: Vec::new(),
            aggregation_temporality: delta,
        }),
    };
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        description: description.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn key_values(labels: &Labels) -> Vec<KeyValue> {
    labels
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.clone())),
            }),
            ..Default::default()
        })
        .collect()
}

/// `claude_code_metrics`: counters and histograms from Claude Code events (logs → metrics).
pub type Factory = Typed<Config>;

impl ComponentSettings for Config {
    const TYPE: &'static str = "claude_code_metrics";

    /// Pure checks; an error names the key it is about.
    fn validate(&self) -> Result<(), Invalid> {
        if self.interval.0.is_zero() {
            return Err(Invalid::new("interval", "must be greater than 0"));
        }
        if self.max_series == 0 {
            return Err(Invalid::new("max_series", "must be at least 1"));
        }
        for (i, key) in self.dimensions.iter().enumerate() {
            if key.is_empty() {
                return Err(Invalid::new("dimensions", "keys must not be empty"));
            }
            if self.dimensions[..i].contains(key) {
                return Err(Invalid::new(
                    "dimensions",
                    format!("{key:?} is listed twice"),
                ));
            }
            if BUILT_IN_LABELS.contains(&key.as_str()) || key == OVERFLOW_KEY {
                return Err(Invalid::new(
                    "dimensions",
                    format!("{key:?} is already a label"),
                ));
            }
        }
        Ok(())
    }
}

impl ConnectorSettings for Config {
    const PAIRS: &'static [(Signal, Signal)] = &[(Signal::Logs, Signal::Metrics)];

    fn connector(self, id: &str) -> BuiltConnector {
        self.build(id)
    }
}

#[cfg(test)]
mod tests;
