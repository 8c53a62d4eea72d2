//! [`Records`]: the decoded form of a [`Batch`](crate::Batch), OTLP logs,
//! metrics or traces as the prost request types, and [`Signal`].

use std::fmt;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Logs,
    Metrics,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Logs, Signal::Metrics, Signal::Traces];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }

    /// What one item of this signal is called in messages.
    pub fn item_noun(self) -> &'static str {
        match self {
            Signal::Logs => "log records",
            Signal::Metrics => "data points",
            Signal::Traces => "spans",
        }
    }

    /// Parses a pipeline id's type (`logs` in `logs/datadog`).
    pub fn from_type(s: &str) -> Option<Signal> {
        match s {
            "logs" => Some(Signal::Logs),
            "metrics" => Some(Signal::Metrics),
            "traces" => Some(Signal::Traces),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decoded records of one batch: one export request's worth, or several
/// merged by the batcher. Reached through [`Batch::records`](crate::Batch::records).
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Traces(ExportTraceServiceRequest),
}

impl Records {
    pub fn signal(&self) -> Signal {
        match self {
            Records::Logs(_) => Signal::Logs,
            Records::Metrics(_) => Signal::Metrics,
            Records::Traces(_) => Signal::Traces,
        }
    }

    /// An empty batch of `signal`.
    pub fn empty(signal: Signal) -> Records {
        match signal {
            Signal::Logs => Records::Logs(Default::default()),
            Signal::Metrics => Records::Metrics(Default::default()),
            Signal::Traces => Records::Traces(Default::default()),
        }
    }

    /// Items as the Collector counts them: log records, metric data points, spans.
    /// The resource attributes of each resource group, in order (empty for
    /// a group without a resource).
    pub fn resource_attributes(&self) -> Vec<&[KeyValue]> {
        fn of(resource: &Option<Resource>) -> &[KeyValue] {
            resource.as_ref().map_or(&[], |r| r.attributes.as_slice())
        }
        match self {
            Records::Logs(r) => r.resource_logs.iter().map(|x| of(&x.resource)).collect(),
            Records::Metrics(r) => r.resource_metrics.iter().map(|x| of(&x.resource)).collect(),
            Records::Traces(r) => r.resource_spans.iter().map(|x| of(&x.resource)).collect(),
        }
    }

    pub fn item_count(&self) -> usize {
        match self {
            Records::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
            Records::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(data_point_count)
                .sum(),
            Records::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.item_count() == 0
    }

    /// Appends `other` after this batch's contents, keeping the order of both.
    ///
    /// # Panics
    /// If the signals differ: a pipeline carries one signal, so that is a bug.
    pub fn append(&mut self, other: Records) {
        match (self, other) {
            (Records::Logs(a), Records::Logs(b)) => a.resource_logs.extend(b.resource_logs),
            (Records::Metrics(a), Records::Metrics(b)) => {
                a.resource_metrics.extend(b.resource_metrics)
            }
            (Records::Traces(a), Records::Traces(b)) => a.resource_spans.extend(b.resource_spans),
            (a, b) => panic!("appended a {} batch to a {} batch", b.signal(), a.signal()),
        }
    }

    /// Removes resources, scopes and metrics left with no items (after a
    /// processor dropped records), so exporters never see empty shells.
    pub fn prune_empty(&mut self) {
        match self {
            Records::Logs(r) => r.resource_logs.retain_mut(|rl| {
                rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
                !rl.scope_logs.is_empty()
            }),
            Records::Metrics(r) => r.resource_metrics.retain_mut(|rm| {
                rm.scope_metrics.retain_mut(|sm| {
                    sm.metrics.retain(|m| data_point_count(m) > 0);
                    !sm.metrics.is_empty()
                });
                !rm.scope_metrics.is_empty()
            }),
            Records::Traces(r) => r.resource_spans.retain_mut(|rs| {
                rs.scope_spans.retain(|ss| !ss.spans.is_empty());
                !rs.scope_spans.is_empty()
            }),
        }
    }

    /// Size of these records as protobuf.
    pub fn encoded_len(&self) -> usize {
        match self {
            Records::Logs(r) => r.encoded_len(),
            Records::Metrics(r) => r.encoded_len(),
            Records::Traces(r) => r.encoded_len(),
        }
    }

    /// Splits off the first `n` items into a new batch and leaves the rest in
    /// `self`. Resources and scopes that straddle the cut are copied into both
    /// halves; item order is kept.
    pub fn split_front(&mut self, n: usize) -> Records {
        match self {
            Records::Logs(r) => Records::Logs(ExportLogsServiceRequest {
                resource_logs: split_nested(&mut r.resource_logs, n, |rl, n| {
                    let (scopes, taken) = split_nested(&mut rl.scope_logs, n, |sl, n| {
                        let head = take_front(&mut sl.log_records, n);
                        let taken = head.len();
                        let mut s = shell(sl, |s| std::mem::take(&mut s.log_records));
                        s.log_records = head;
                        (s, taken)
                    });
                    let mut out = shell(rl, |r| std::mem::take(&mut r.scope_logs));
                    out.scope_logs = scopes;
                    (out, taken)
                })
                .0,
            }),
            Records::Traces(r) => Records::Traces(ExportTraceServiceRequest {
                resource_spans: split_nested(&mut r.resource_spans, n, |rs, n| {
                    let (scopes, taken) = split_nested(&mut rs.scope_spans, n, |ss, n| {
                        let head = take_front(&mut ss.spans, n);
                        let taken = head.len();
                        let mut s = shell(ss, |s| std::mem::take(&mut s.spans));
                        s.spans = head;
                        (s, taken)
                    });
                    let mut out = shell(rs, |r| std::mem::take(&mut r.scope_spans));
                    out.scope_spans = scopes;
                    (out, taken)
                })
                .0,
            }),
            Records::Metrics(r) => Records::Metrics(ExportMetricsServiceRequest {
                resource_metrics: split_nested(&mut r.resource_metrics, n, |rm, n| {
                    let (scopes, taken) = split_nested(&mut rm.scope_metrics, n, |sm, n| {
                        let (metrics, taken) = split_nested(&mut sm.metrics, n, split_metric_front);
                        let mut s = shell(sm, |s| std::mem::take(&mut s.metrics));
                        s.metrics = metrics;
                        (s, taken)
                    });
                    let mut out = shell(rm, |r| std::mem::take(&mut r.scope_metrics));
                    out.scope_metrics = scopes;
                    (out, taken)
                })
                .0,
            }),
        }
    }
}

/// Number of data points in one metric.
pub fn data_point_count(m: &Metric) -> usize {
    match &m.data {
        Some(MetricData::Gauge(g)) => g.data_points.len(),
        Some(MetricData::Sum(s)) => s.data_points.len(),
        Some(MetricData::Histogram(h)) => h.data_points.len(),
        Some(MetricData::ExponentialHistogram(h)) => h.data_points.len(),
        Some(MetricData::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn split_metric_front(m: &mut Metric, n: usize) -> (Metric, usize) {
    fn take<T>(v: &mut Vec<T>, n: usize) -> (Vec<T>, usize) {
        let head = take_front(v, n);
        let len = head.len();
        (head, len)
    }
    let mut head = shell(m, |m| m.data.take());
    let taken;
    head.data = match &mut m.data {
        Some(MetricData::Gauge(g)) => {
            let (points, t) = take(&mut g.data_points, n);
            taken = t;
            Some(MetricData::Gauge(
                opentelemetry_proto::tonic::metrics::v1::Gauge {
                    data_points: points,
                },
            ))
        }
        Some(MetricData::Sum(s)) => {
            let (points, t) = take(&mut s.data_points, n);
            taken = t;
            Some(MetricData::Sum(
                opentelemetry_proto::tonic::metrics::v1::Sum {
                    data_points: points,
                    aggregation_temporality: s.aggregation_temporality,
                    is_monotonic: s.is_monotonic,
                },
            ))
        }
        Some(MetricData::Histogram(h)) => {
            let (points, t) = take(&mut h.data_points, n);
            taken = t;
            Some(MetricData::Histogram(
                opentelemetry_proto::tonic::metrics::v1::Histogram {
                    data_points: points,
                    aggregation_temporality: h.aggregation_temporality,
                },
            ))
        }
        Some(MetricData::ExponentialHistogram(h)) => {
            let (points, t) = take(&mut h.data_points, n);
            taken = t;
            Some(MetricData::ExponentialHistogram(
                opentelemetry_proto::tonic::metrics::v1::ExponentialHistogram {
                    data_points: points,
                    aggregation_temporality: h.aggregation_temporality,
                },
            ))
        }
        Some(MetricData::Summary(s)) => {
            let (points, t) = take(&mut s.data_points, n);
            taken = t;
            Some(MetricData::Summary(
                opentelemetry_proto::tonic::metrics::v1::Summary {
                    data_points: points,
                },
            ))
        }
        None => {
            taken = 0;
            None
        }
    };
    (head, taken)
}

/// Clones `item` without the (possibly large) children that `take_children`
/// moves out first; the children are put back afterwards.
fn shell<T: Clone, C>(item: &mut T, take_children: impl Fn(&mut T) -> C) -> T
where
    C: Restore<T>,
{
    let children = take_children(item);
    let copy = item.clone();
    children.restore(item);
    copy
}

/// Puts moved-out children back; implemented for the child containers used above.
trait Restore<T> {
    fn restore(self, into: &mut T);
}

macro_rules! restore_field {
    ($parent:ty, $field:ident, $child:ty) => {
        impl Restore<$parent> for $child {
            fn restore(self, into: &mut $parent) {
                into.$field = self;
            }
        }
    };
}

use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::metrics::v1 as metrics;
use opentelemetry_proto::tonic::trace::v1 as trace;
restore_field!(logs::ResourceLogs, scope_logs, Vec<logs::ScopeLogs>);
restore_field!(logs::ScopeLogs, log_records, Vec<logs::LogRecord>);
restore_field!(trace::ResourceSpans, scope_spans, Vec<trace::ScopeSpans>);
restore_field!(trace::ScopeSpans, spans, Vec<trace::Span>);
restore_field!(
    metrics::ResourceMetrics,
    scope_metrics,
    Vec<metrics::ScopeMetrics>
);
restore_field!(metrics::ScopeMetrics, metrics, Vec<metrics::Metric>);
restore_field!(metrics::Metric, data, Option<MetricData>);

/// Moves the first `n` elements out of `v`, keeping the order of both parts.
fn take_front<T>(v: &mut Vec<T>, n: usize) -> Vec<T> {
    if n >= v.len() {
        std::mem::take(v)
    } else {
        let tail = v.split_off(n);
        std::mem::replace(v, tail)
    }
}

/// Takes up to `n` items from the front of a list of containers. Containers
/// taken whole are moved; the one straddling the cut is split by `split_one`,
/// which returns the front part and how many items it holds.
fn split_nested<T>(
    v: &mut Vec<T>,
    n: usize,
    mut split_one: impl FnMut(&mut T, usize) -> (T, usize),
) -> (Vec<T>, usize)
where
    T: ItemCount,
{
    let mut taken = 0;
    let mut whole = 0;
    for item in v.iter() {
        let c = item.items();
        if taken + c > n {
            break;
        }
        taken += c;
        whole += 1;
    }
    let mut head = take_front(v, whole);
    if taken < n {
        if let Some(first) = v.first_mut() {
            let (part, t) = split_one(first, n - taken);
            taken += t;
            head.push(part);
        }
    }
    (head, taken)
}

/// Items held below one level of the OTLP tree.
trait ItemCount {
    fn items(&self) -> usize;
}

impl ItemCount for logs::ResourceLogs {
    fn items(&self) -> usize {
        self.scope_logs.iter().map(ItemCount::items).sum()
    }
}
impl ItemCount for logs::ScopeLogs {
    fn items(&self) -> usize {
        self.log_records.len()
    }
}
impl ItemCount for trace::ResourceSpans {
    fn items(&self) -> usize {
        self.scope_spans.iter().map(ItemCount::items).sum()
    }
}
impl ItemCount for trace::ScopeSpans {
    fn items(&self) -> usize {
        self.spans.len()
    }
}
impl ItemCount for metrics::ResourceMetrics {
    fn items(&self) -> usize {
        self.scope_metrics.iter().map(ItemCount::items).sum()
    }
}
impl ItemCount for metrics::ScopeMetrics {
    fn items(&self) -> usize {
        self.metrics.iter().map(data_point_count).sum()
    }
}
impl ItemCount for metrics::Metric {
    fn items(&self) -> usize {
        data_point_count(self)
    }
}
