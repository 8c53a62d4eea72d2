//! Grouping a batch by its message key: the value of one attribute, looked
//! up on the resource first and then on each record (log record, span, data
//! point), so each message holds one key and lands in one partition. Items
//! without the attribute form the message with no key.
//!
//! Resources, scopes and metrics are copied (without their items) into each
//! group that has items under them; item order within a group is kept.

use std::collections::HashMap;

use ccpipe_pipeline::Records;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum, Summary,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// A message key (`None`: the attribute is absent).
pub type Key = Option<String>;

/// The string form of attribute `key` in `attrs`, if present and scalar.
fn attribute(attrs: &[KeyValue], key: &str) -> Key {
    let kv = attrs.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn resource_key(resource: Option<&Resource>, key: &str) -> Key {
    resource.and_then(|r| attribute(&r.attributes, key))
}

/// Where in the input (resource, scope) a group's last item came from.
type Position = Option<(usize, usize)>;

/// Output groups in first-seen key order, with the position the last item
/// of each group came from, so consecutive items share their shells.
struct Groups<R> {
    index: HashMap<Key, usize>,
    out: Vec<(Key, R, Position)>,
}

impl<R: Default> Groups<R> {
    fn new() -> Self {
        Groups {
            index: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// The group of `key`, and whether its last item came from another
    /// resource (`new_resource`) or scope (`new_scope`) than (`ri`, `si`).
    fn slot(&mut self, key: Key, ri: usize, si: usize) -> (&mut R, bool, bool) {
        let at = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.index.insert(key.clone(), self.out.len());
                self.out.push((key, R::default(), None));
                self.out.len() - 1
            }
        };
        let (_, group, last) = &mut self.out[at];
        let new_resource = last.is_none_or(|(r, _)| r != ri);
        let new_scope = new_resource || last.is_none_or(|(_, s)| s != si);
        *last = Some((ri, si));
        (group, new_resource, new_scope)
    }

    fn finish(self) -> Vec<(Key, R)> {
        self.out.into_iter().map(|(k, r, _)| (k, r)).collect()
    }
}

/// Logs and traces have the same shape: resource → scope → items.
macro_rules! split_items {
    ($req:expr, $key:expr, $Req:ident, $resources:ident, $scopes:ident, $items:ident) => {{
        let mut groups: Groups<$Req> = Groups::new();
        for (ri, r) in $req.$resources.iter().enumerate() {
            let rkey = resource_key(r.resource.as_ref(), $key);
            for (si, s) in r.$scopes.iter().enumerate() {
                for item in &s.$items {
                    let k = rkey.clone().or_else(|| attribute(&item.attributes, $key));
                    let (group, new_resource, new_scope) = groups.slot(k, ri, si);
                    if new_resource {
                        group.$resources.push(r.shell());
                    }
                    let last = group.$resources.last_mut().expect("pushed above");
                    if new_scope {
                        last.$scopes.push(s.shell());
                    }
                    let scope = last.$scopes.last_mut().expect("pushed above");
                    scope.$items.push(item.clone());
                }
            }
        }
        groups.finish()
    }};
}

use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::trace::v1 as trace;

/// A copy of a container without its (possibly large) children. Every
/// field is listed, so a field added to the protocol fails to compile here.
trait Shell {
    fn shell(&self) -> Self;
}

macro_rules! shell {
    ($t:ty, $children:ident, $($field:ident),*) => {
        impl Shell for $t {
            fn shell(&self) -> Self {
                Self { $children: Vec::new(), $($field: self.$field.clone()),* }
            }
        }
    };
}

shell!(logs::ResourceLogs, scope_logs, resource, schema_url);
shell!(logs::ScopeLogs, log_records, scope, schema_url);
shell!(trace::ResourceSpans, scope_spans, resource, schema_url);
shell!(trace::ScopeSpans, spans, scope, schema_url);
shell!(ResourceMetrics, scope_metrics, resource, schema_url);
shell!(ScopeMetrics, metrics, scope, schema_url);

/// Splits `batch` into one batch per value of attribute `key`.
pub fn split(batch: &Records, key: &str) -> Vec<(Key, Records)> {
    match batch {
        Records::Logs(req) => split_items!(
            req,
            key,
            ExportLogsServiceRequest,
            resource_logs,
            scope_logs,
            log_records
        )
        .into_iter()
        .map(|(k, r)| (k, Records::Logs(r)))
        .collect(),
        Records::Traces(req) => split_items!(
            req,
            key,
            ExportTraceServiceRequest,
            resource_spans,
            scope_spans,
            spans
        )
        .into_iter()
        .map(|(k, r)| (k, Records::Traces(r)))
        .collect(),
        Records::Metrics(req) => split_metrics(req, key)
            .into_iter()
            .map(|(k, r)| (k, Records::Metrics(r)))
            .collect(),
    }
}

/// Metrics: the items are data points, so each metric is split by the key
/// of its points, and each part goes to its group under a copy of the
/// metric's name, unit and type.
fn split_metrics(
    req: &ExportMetricsServiceRequest,
    key: &str,
) -> Vec<(Key, ExportMetricsServiceRequest)> {
    let mut groups: Groups<ExportMetricsServiceRequest> = Groups::new();
    for (ri, r) in req.resource_metrics.iter().enumerate() {
        let rkey = resource_key(r.resource.as_ref(), key);
        for (si, s) in r.scope_metrics.iter().enumerate() {
            for metric in &s.metrics {
                for (k, part) in split_metric(metric, rkey.as_ref(), key) {
                    let (group, new_resource, new_scope) = groups.slot(k, ri, si);
                    if new_resource {
                        group.resource_metrics.push(r.shell());
                    }
                    let last = group.resource_metrics.last_mut().expect("pushed above");
                    if new_scope {
                        last.scope_metrics.push(s.shell());
                    }
                    let scope = last.scope_metrics.last_mut().expect("pushed above");
                    scope.metrics.push(part);
                }
            }
        }
    }
    groups.finish()
}

/// Splits one metric's data points by key, in first-seen key order.
fn split_metric(metric: &Metric, rkey: Option<&String>, key: &str) -> Vec<(Key, Metric)> {
    fn by_key<P: Clone>(
        points: &[P],
        attrs: impl Fn(&P) -> &[KeyValue],
        rkey: Option<&String>,
        key: &str,
    ) -> Vec<(Key, Vec<P>)> {
        let mut out: Vec<(Key, Vec<P>)> = Vec::new();
        for p in points {
            let k = rkey.cloned().or_else(|| attribute(attrs(p), key));
            match out.iter_mut().find(|(have, _)| *have == k) {
                Some((_, v)) => v.push(p.clone()),
                None => out.push((k, vec![p.clone()])),
            }
        }
        out
    }
    let with = |data: Data| Metric {
        name: metric.name.clone(),
        description: metric.description.clone(),
        unit: metric.unit.clone(),
        metadata: metric.metadata.clone(),
        data: Some(data),
    };
    match &metric.data {
        None => Vec::new(),
        Some(Data::Gauge(g)) => by_key(&g.data_points, |p| &p.attributes, rkey, key)
            .into_iter()
            .map(|(k, data_points)| (k, with(Data::Gauge(Gauge { data_points }))))
            .collect(),
        Some(Data::Sum(s)) => by_key(&s.data_points, |p| &p.attributes, rkey, key)
            .into_iter()
            .map(|(k, data_points)| {
                let sum = Sum {
                    data_points,
                    aggregation_temporality: s.aggregation_temporality,
                    is_monotonic: s.is_monotonic,
                };
                (k, with(Data::Sum(sum)))
            })
            .collect(),
        Some(Data::Histogram(h)) => by_key(&h.data_points, |p| &p.attributes, rkey, key)
            .into_iter()
            .map(|(k, data_points)| {
                let h = Histogram {
                    data_points,
                    aggregation_temporality: h.aggregation_temporality,
                };
                (k, with(Data::Histogram(h)))
            })
            .collect(),
        Some(Data::ExponentialHistogram(h)) => by_key(&h.data_points, |p| &p.attributes, rkey, key)
            .into_iter()
            .map(|(k, data_points)| {
                let h = ExponentialHistogram {
                    data_points,
                    aggregation_temporality: h.aggregation_temporality,
                };
                (k, with(Data::ExponentialHistogram(h)))
            })
            .collect(),
        Some(Data::Summary(s)) => by_key(&s.data_points, |p| &p.attributes, rkey, key)
            .into_iter()
            .map(|(k, data_points)| (k, with(Data::Summary(Summary { data_points }))))
            .collect(),
    }
}
