//! The series the `prometheus` exporter serves, updated from OTLP metrics:
//! delta sums and histograms are added up into cumulative ones per series
//! (the start time kept, a cumulative input that goes down or restarts is a
//! reset), gauges and cumulative inputs replace the value. Series not updated
//! for `metric_expiration` are removed; at most `max_series` are kept, and
//! points that would need more are refused and counted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, NumberDataPoint};

use super::names::{label_name, metric_name_with, Suffix};

/// Label pairs, sorted by name, names unique.
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Histogram {
        bounds: Vec<f64>,
        /// Per bucket (not cumulative), `bounds.len() + 1` of them.
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Series {
    pub value: Value,
    /// Start of the cumulative value (unix ns).
    pub start_unix_nano: u64,
    /// Time of the newest point taken (unix ns).
    pub time_unix_nano: u64,
    updated: Instant,
}

#[derive(Debug, Clone)]
pub struct Family {
    pub kind: Kind,
    pub help: String,
    pub series: BTreeMap<Labels, Series>,
}

/// Why data points were not taken.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refused {
    /// A new series would pass `max_series`.
    pub over_limit: usize,
    /// Older than the series' newest point, a name already used by another
    /// type, an unspecified temporality.
    pub out_of_order_or_conflicting: usize,
    /// Exponential histograms (no Prometheus text form without native histograms).
    pub unsupported: usize,
}

impl Refused {
    pub fn total(&self) -> usize {
        self.over_limit + self.out_of_order_or_conflicting + self.unsupported
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub namespace: Option<String>,
    /// `add_metric_suffixes`: unit and `_ratio` suffixes in names.
    pub add_suffixes: bool,
    pub resource_labels: bool,
    pub expiration: Duration,
    pub max_series: usize,
}

pub struct Store {
    settings: StoreSettings,
    families: BTreeMap<String, Family>,
    series: usize,
}

/// One incoming point, reduced to what the store needs.
struct Point {
    start: u64,
    time: u64,
    value: Value,
    /// Add to the series (delta) rather than replace it.
    delta: bool,
}

impl Store {
    pub fn new(settings: StoreSettings) -> Self {
        Store {
            settings,
            families: BTreeMap::new(),
            series: 0,
        }
    }

    pub fn families(&self) -> &BTreeMap<String, Family> {
        &self.families
    }

    pub fn series_count(&self) -> usize {
        self.series
    }

    /// Takes every data point of `request`; says what it refused.
    pub fn ingest(&mut self, request: &ExportMetricsServiceRequest, now: Instant) -> Refused {
        let mut refused = Refused::default();
        for rm in &request.resource_metrics {
            let resource: &[KeyValue] = match (&rm.resource, self.settings.resource_labels) {
                (Some(r), true) => &r.attributes,
                _ => &[],
            };
            for sm in &rm.scope_metrics {
                for metric in &sm.metrics {
                    let Some(data) = &metric.data else { continue };
                    let (kind, suffix, points) = match data {
                        Data::Gauge(g) => {
                            (Kind::Gauge, Suffix::Gauge, numbers(&g.data_points, false))
                        }
                        Data::Sum(s) => {
                            let temporality = s.aggregation_temporality;
                            if temporality == AggregationTemporality::Unspecified as i32 {
                                refused.out_of_order_or_conflicting += s.data_points.len();
                                continue;
                            }
                            let delta = temporality == AggregationTemporality::Delta as i32;
                            let points = numbers(&s.data_points, delta);
                            if s.is_monotonic {
                                (Kind::Counter, Suffix::Counter, points)
                            } else {
                                (Kind::Gauge, Suffix::Other, points)
                            }
                        }
                        Data::Histogram(h) => {
                            let temporality = h.aggregation_temporality;
                            if temporality == AggregationTemporality::Unspecified as i32 {
                                refused.out_of_order_or_conflicting += h.data_points.len();
                                continue;
                            }
                            let delta = temporality == AggregationTemporality::Delta as i32;
                            let points = h
                                .data_points
                                .iter()
                                .map(|p| {
                                    let point = Point {
                                        start: p.start_time_unix_nano,
                                        time: p.time_unix_nano,
                                        value: Value::Histogram {
                                            bounds: p.explicit_bounds.clone(),
                                            counts: bucket_counts(
                                                &p.bucket_counts,
                                                p.explicit_bounds.len(),
                                                p.count,
                                            ),
                                            sum: p.sum.unwrap_or(0.0),
                                            count: p.count,
                                        },
                                        delta,
                                    };
                                    (&p.attributes[..], point)
                                })
                                .collect();
                            (Kind::Histogram, Suffix::Other, points)
                        }
                        Data::Summary(s) => {
                            let points = s
                                .data_points
                                .iter()
                                .map(|p| {
                                    let point = Point {
                                        start: p.start_time_unix_nano,
                                        time: p.time_unix_nano,
                                        value: Value::Summary {
                                            quantiles: p
                                                .quantile_values
                                                .iter()
                                                .map(|q| (q.quantile, q.value))
                                                .collect(),
                                            sum: p.sum,
                                            count: p.count,
                                        },
                                        delta: false,
                                    };
                                    (&p.attributes[..], point)
                                })
                                .collect();
                            (Kind::Summary, Suffix::Other, points)
                        }
                        Data::ExponentialHistogram(h) => {
                            refused.unsupported += h.data_points.len();
                            continue;
                        }
                    };
                    let name = metric_name_with(
                        &metric.name,
                        &metric.unit,
                        suffix,
                        self.settings.namespace.as_deref(),
                        self.settings.add_suffixes,
                    );
                    for (attributes, point) in points {
                        let labels = labels(attributes, resource);
                        self.take(
                            &name,
                            kind,
                            &metric.description,
                            labels,
                            point,
                            now,
                            &mut refused,
                        );
                    }
                }
            }
        }
        refused
    }

    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        labels: Labels,
        point: Point,
        now: Instant,
        refused: &mut Refused,
    ) {
        let family = match self.families.get_mut(name) {
            Some(f) if f.kind != kind => {
                refused.out_of_order_or_conflicting += 1;
                return;
            }
            Some(f) => f,
            None => {
                if self.series >= self.settings.max_series {
                    refused.over_limit += 1;
                    return;
                }
                self.families
                    .entry(name.to_owned())
                    .or_insert_with(|| Family {
                        kind,
                        help: help.to_owned(),
                        series: BTreeMap::new(),
                    })
            }
        };
        let Some(series) = family.series.get_mut(&labels) else {
            if self.series >= self.settings.max_series {
                refused.over_limit += 1;
                return;
            }
            let start = if point.start == 0 {
                point.time
            } else {
                point.start
            };
            family.series.insert(
                labels,
                Series {
                    value: point.value,
                    start_unix_nano: start,
                    time_unix_nano: point.time,
                    updated: now,
                },
            );
            self.series += 1;
            return;
        };
        if point.time < series.time_unix_nano {
            refused.out_of_order_or_conflicting += 1;
            return;
        }
        if point.delta {
            if !add(&mut series.value, &point.value) {
                // Histogram bounds changed: start over from this point.
                series.value = point.value;
                series.start_unix_nano = point.start;
            }
        } else {
            if point.start != 0 && point.start != series.start_unix_nano
                || decreased(&series.value, &point.value)
            {
                series.start_unix_nano = if point.start == 0 {
                    point.time
                } else {
                    point.start
                };
            }
            series.value = point.value;
        }
        series.time_unix_nano = point.time;
        series.updated = now;
    }

    /// Removes series not updated for `metric_expiration`.
    pub fn expire(&mut self, now: Instant) {
        let ttl = self.settings.expiration;
        let mut removed = 0;
        self.families.retain(|_, f| {
            let before = f.series.len();
            f.series
                .retain(|_, s| now.saturating_duration_since(s.updated) < ttl);
            removed += before - f.series.len();
            !f.series.is_empty()
        });
        self.series -= removed;
    }
}

fn numbers(points: &[NumberDataPoint], delta: bool) -> Vec<(&[KeyValue], Point)> {
    points
        .iter()
        .map(|p| {
            let v = match p.value {
                Some(NumberValue::AsDouble(d)) => d,
                Some(NumberValue::AsInt(i)) => i as f64,
                None => 0.0,
            };
            let point = Point {
                start: p.start_time_unix_nano,
                time: p.time_unix_nano,
                value: Value::Number(v),
                delta,
            };
            (&p.attributes[..], point)
        })
        .collect()
}

/// OTLP allows no bucket counts (count only): everything in +Inf.
fn bucket_counts(counts: &[u64], bounds: usize, count: u64) -> Vec<u64> {
    if counts.len() == bounds + 1 {
        return counts.to_vec();
    }
    let mut out = vec![0; bounds + 1];
    out[bounds] = count;
    out
}

/// Adds a delta to a series; false when the shapes differ.
fn add(into: &mut Value, delta: &Value) -> bool {
    match (into, delta) {
        (Value::Number(a), Value::Number(b)) => {
            *a += b;
            true
        }
        (
            Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
            Value::Histogram {
                bounds: b2,
                counts: c2,
                sum: s2,
                count: n2,
            },
        ) if bounds == b2 => {
            counts.iter_mut().zip(c2).for_each(|(a, b)| *a += b);
            *sum += s2;
            *count += n2;
            true
        }
        _ => false,
    }
}

/// A cumulative value that went down: the source restarted.
fn decreased(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Number(a), Value::Number(b)) => b < a,
        (Value::Histogram { count: a, .. }, Value::Histogram { count: b, .. }) => b < a,
        (Value::Summary { count: a, .. }, Value::Summary { count: b, .. }) => b < a,
        _ => false,
    }
}

/// Point attributes, then resource attributes (a point's own value wins),
/// with names sanitised; values of names that collide after sanitising are
/// joined with `;` in the order of their original keys.
fn labels(attributes: &[KeyValue], resource: &[KeyValue]) -> Labels {
    let mut by_name: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
    for kv in attributes {
        let value = label_value(kv.value.as_ref());
        by_name
            .entry(label_name(&kv.key))
            .or_default()
            .push((&kv.key, value));
    }
    for kv in resource {
        let name = label_name(&kv.key);
        if by_name.contains_key(&name) {
            continue;
        }
        let value = label_value(kv.value.as_ref());
        by_name.entry(name).or_default().push((&kv.key, value));
    }
    by_name
        .into_iter()
        .map(|(name, mut values)| {
            values.sort_by(|a, b| a.0.cmp(b.0));
            let joined = values
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(";");
            (name, joined)
        })
        .collect()
}

fn label_value(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(AnyValueKind::StringValue(s)) => s.clone(),
        Some(AnyValueKind::BoolValue(b)) => b.to_string(),
        Some(AnyValueKind::IntValue(i)) => i.to_string(),
        // An index into a profiles dictionary, which metrics do not have.
        Some(AnyValueKind::StringValueStrindex(i)) => i.to_string(),
        Some(AnyValueKind::DoubleValue(d)) => d.to_string(),
        Some(AnyValueKind::BytesValue(b)) => {
            let mut out = Vec::new();
            crate::text::write_hex(b, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
        Some(AnyValueKind::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| label_value(Some(v))).collect();
            format!("[{}]", items.join(","))
        }
        Some(AnyValueKind::KvlistValue(l)) => {
            let items: Vec<String> = l
                .values
                .iter()
                .map(|kv| format!("{}={}", kv.key, label_value(kv.value.as_ref())))
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}
