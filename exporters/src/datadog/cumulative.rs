//! `metrics.cumulative_to_delta`: Datadog counts are deltas, and Claude Code
//! sends delta sums unless a user asked for cumulative temporality. This
//! turns cumulative monotonic sums and cumulative explicit-bucket histograms
//! into deltas, per series, so any ccpipe replica can serve any client as long
//! as one client's series always reaches the same replica.
//!
//! A series is the resource attributes + scope name and version + metric name
//! + data-point attributes (attribute order does not matter), hashed.
//!
//! - First point of a series: with a `start_time_unix_nano` it is already the
//!   delta over `[start, time]` and is sent as is; without one (0) nothing is
//!   known about where it started, so it is dropped and remembered, and the
//!   next point is sent as the difference.
//! - Later points: value − previous value over `[previous time, time]`.
//! - Reset: the value (a histogram's count or any bucket) went down, the
//!   start time changed, the number type or the bucket bounds changed. The
//!   point is sent as is, as a fresh start.
//! - A point not newer than the last one of its series (a repeat, out of
//!   order) is dropped.
//! - Histograms lose `min` and `max`: they cannot be known for the interval.
//! - Non-monotonic sums, gauges, delta data, exponential histograms and
//!   summaries pass untouched.
//!
//! The state is bounded: series not seen for an hour are forgotten, and at
//! [`MAX_SERIES`] the least recently seen eighth is evicted (an evicted series
//! restarts by the first-point rule).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use ccpipe_pipeline::Records;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, HistogramDataPoint, NumberDataPoint,
};
use prost::Message;

/// Series remembered at most.
pub const MAX_SERIES: usize = 100_000;
/// A series not seen for this long is forgotten.
pub const SERIES_TTL: Duration = Duration::from_secs(3600);
/// Expired series are looked for at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const DELTA: i32 = AggregationTemporality::Delta as i32;
/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;

#[derive(Debug, Clone, PartialEq)]
enum Last {
    Double(f64),
    Int(i64),
    Histogram {
        count: u64,
        sum: Option<f64>,
        buckets: Vec<u64>,
        bounds: Vec<f64>,
    },
}

#[derive(Debug)]
struct Series {
    start: u64,
    time: u64,
    last: Last,
    seen: Instant,
}

pub struct CumulativeToDelta {
    series: HashMap<u64, Series>,
    max_series: usize,
    ttl: Duration,
    last_sweep: Option<Instant>,
    warned_full: bool,
    /// Scratch space for hashing attribute values.
    buf: Vec<u8>,
}

impl Default for CumulativeToDelta {
    fn default() -> Self {
        CumulativeToDelta::new(MAX_SERIES, SERIES_TTL)
    }
}

impl CumulativeToDelta {
    pub fn new(max_series: usize, ttl: Duration) -> Self {
        CumulativeToDelta {
            series: HashMap::new(),
            max_series: max_series.max(8),
            ttl,
            last_sweep: None,
            warned_full: false,
            buf: Vec::new(),
        }
    }

    /// Series currently remembered.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Whether `batch` has anything to convert (so nothing is copied otherwise).
    pub fn applies(batch: &Records) -> bool {
        let Records::Metrics(r) = batch else {
            return false;
        };
        r.resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .any(|m| match &m.data {
                Some(Data::Sum(s)) => s.is_monotonic && s.aggregation_temporality == CUMULATIVE,
                Some(Data::Histogram(h)) => h.aggregation_temporality == CUMULATIVE,
                _ => false,
            })
    }

    /// Converts in place and removes what was dropped (and emptied metrics).
    pub fn convert(&mut self, batch: &mut Records, now: Instant) {
        let Records::Metrics(r) = batch else {
            return;
        };
        self.sweep(now);
        for rm in &mut r.resource_metrics {
            let mut h = DefaultHasher::new();
            let attrs = rm.resource.as_ref().map(|r| r.attributes.as_slice());
            hash_attrs(&mut h, attrs.unwrap_or_default(), &mut self.buf);
            let resource = h.finish();
            for sm in &mut rm.scope_metrics {
                let mut h = DefaultHasher::new();
                resource.hash(&mut h);
                if let Some(scope) = &sm.scope {
                    scope.name.hash(&mut h);
                    scope.version.hash(&mut h);
                }
                let scope = h.finish();
                for m in &mut sm.metrics {
                    let mut h = DefaultHasher::new();
                    scope.hash(&mut h);
                    m.name.hash(&mut h);
                    let metric = h.finish();
                    match &mut m.data {
                        Some(Data::Sum(s))
                            if s.is_monotonic && s.aggregation_temporality == CUMULATIVE =>
                        {
                            s.data_points.retain_mut(|p| {
                                let key = self.key(metric, &p.attributes);
                                self.number(key, p, now)
                            });
                            s.aggregation_temporality = DELTA;
                        }
                        Some(Data::Histogram(hist))
                            if hist.aggregation_temporality == CUMULATIVE =>
                        {
                            hist.data_points.retain_mut(|p| {
                                let key = self.key(metric, &p.attributes);
                                self.histogram(key, p, now)
                            });
                            hist.aggregation_temporality = DELTA;
                        }
                        _ => {}
                    }
                }
            }
        }
        batch.prune_empty();
    }

    fn key(&mut self, metric: u64, attrs: &[KeyValue]) -> u64 {
        let mut h = DefaultHasher::new();
        metric.hash(&mut h);
        hash_attrs(&mut h, attrs, &mut self.buf);
        h.finish()
    }

    /// Turns one cumulative sum point into a delta; false = drop it.
    fn number(&mut self, key: u64, p: &mut NumberDataPoint, now: Instant) -> bool {
        if p.flags & NO_RECORDED_VALUE != 0 {
            return true;
        }
        let value = match p.value {
            Some(Value::AsDouble(v)) => Last::Double(v),
            Some(Value::AsInt(v)) => Last::Int(v),
            None => return true,
        };
        let Some(prev) = self.series.get_mut(&key) else {
            self.remember(key, p.start_time_unix_nano, p.time_unix_nano, value, now);
            return p.start_time_unix_nano > 0;
        };
        prev.seen = now;
        let same_start = p.start_time_unix_nano == 0 || p.start_time_unix_nano == prev.start;
        if same_start && p.time_unix_nano <= prev.time {
            return false;
        }
        let delta = match (&prev.last, &value) {
            (Last::Double(a), Last::Double(b)) if same_start && b >= a => {
                Some(Value::AsDouble(b - a))
            }
            (Last::Int(a), Last::Int(b)) if same_start && b >= a => Some(Value::AsInt(b - a)),
            _ => None,
        };
        let fresh_start = if p.start_time_unix_nano == 0 {
            prev.time
        } else {
            p.start_time_unix_nano
        };
        match delta {
            Some(d) => {
                p.value = Some(d);
                p.start_time_unix_nano = prev.time;
            }
            // A reset: the value as it is, from its own start.
            None => {
                prev.start = p.start_time_unix_nano;
                p.start_time_unix_nano = fresh_start;
            }
        }
        prev.time = p.time_unix_nano;
        prev.last = value;
        true
    }

    /// Turns one cumulative histogram point into a delta; false = drop it.
    fn histogram(&mut self, key: u64, p: &mut HistogramDataPoint, now: Instant) -> bool {
        if p.flags & NO_RECORDED_VALUE != 0 {
            return true;
        }
        let value = Last::Histogram {
            count: p.count,
            sum: p.sum,
            buckets: p.bucket_counts.clone(),
            bounds: p.explicit_bounds.clone(),
        };
        let Some(prev) = self.series.get_mut(&key) else {
            self.remember(key, p.start_time_unix_nano, p.time_unix_nano, value, now);
            // min and max are over the whole cumulative interval: keep them
            // only when this point is sent as is from its own start.
            return p.start_time_unix_nano > 0;
        };
        prev.seen = now;
        let same_start = p.start_time_unix_nano == 0 || p.start_time_unix_nano == prev.start;
        if same_start && p.time_unix_nano <= prev.time {
            return false;
        }
        let monotonic = match &prev.last {
            Last::Histogram {
                count,
                buckets,
                bounds,
                ..
            } => {
                same_start
                    && p.count >= *count
                    && *bounds == p.explicit_bounds
                    && buckets.len() == p.bucket_counts.len()
                    && buckets.iter().zip(&p.bucket_counts).all(|(a, b)| b >= a)
            }
            _ => false,
        };
        if monotonic {
            if let Last::Histogram {
                count,
                sum,
                buckets,
                ..
            } = &prev.last
            {
                p.count -= count;
                p.sum = match (p.sum, sum) {
                    (Some(now), Some(before)) => Some(now - before),
                    _ => None,
                };
                for (b, before) in p.bucket_counts.iter_mut().zip(buckets) {
                    *b -= before;
                }
                p.min = None;
                p.max = None;
            }
            p.start_time_unix_nano = prev.time;
        } else {
            prev.start = p.start_time_unix_nano;
            if p.start_time_unix_nano == 0 {
                p.start_time_unix_nano = prev.time;
            }
        }
        prev.time = p.time_unix_nano;
        prev.last = value;
        true
    }

    fn remember(&mut self, key: u64, start: u64, time: u64, last: Last, now: Instant) {
        if self.series.len() >= self.max_series {
            self.evict(now);
        }
        self.series.insert(
            key,
            Series {
                start,
                time,
                last,
                seen: now,
            },
        );
    }

    /// Forgets series not seen for the TTL, at most once per `SWEEP_EVERY`.
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        self.last_sweep = Some(now);
        let ttl = self.ttl;
        self.series
            .retain(|_, s| now.saturating_duration_since(s.seen) < ttl);
    }

    /// Full: forget the expired series, else the least recently seen eighth.
    fn evict(&mut self, now: Instant) {
        self.last_sweep = None;
        self.sweep(now);
        if self.series.len() < self.max_series {
            return;
        }
        if !self.warned_full {
            self.warned_full = true;
            tracing::warn!(
                series = self.series.len(),
                "cumulative_to_delta tracks {} series, its limit; forgetting the least recently seen (they restart as new series)",
                self.max_series
            );
        }
        let mut seen: Vec<Instant> = self.series.values().map(|s| s.seen).collect();
        let nth = seen.len() / 8;
        let (_, cut, _) = seen.select_nth_unstable(nth);
        let cut = *cut;
        self.series.retain(|_, s| s.seen > cut);
    }
}

/// Hashes attributes independently of their order.
fn hash_attrs(h: &mut DefaultHasher, attrs: &[KeyValue], buf: &mut Vec<u8>) {
    let mut each: Vec<u64> = attrs
        .iter()
        .map(|kv| {
            let mut one = DefaultHasher::new();
            kv.key.hash(&mut one);
            buf.clear();
            if let Some(v) = &kv.value {
                v.encode(buf).expect("a Vec grows");
            }
            buf.hash(&mut one);
            one.finish()
        })
        .collect();
    each.sort_unstable();
    each.hash(h);
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum,
    };

    fn attr(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    /// (attrs, start, time, value)
    type Pt<'a> = (&'a [(&'a str, &'a str)], u64, u64, f64);

    fn point((attrs, start, time, v): Pt) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attrs.iter().map(|(k, v)| attr(k, v)).collect(),
            start_time_unix_nano: start,
            time_unix_nano: time,
            value: Some(Value::AsDouble(v)),
            ..Default::default()
        }
    }

    fn batch(metrics: Vec<Metric>) -> Records {
        Records::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    fn sum(name: &str, monotonic: bool, temporality: i32, pts: &[Pt]) -> Metric {
        Metric {
            name: name.into(),
            data: Some(Data::Sum(Sum {
                data_points: pts.iter().copied().map(point).collect(),
                aggregation_temporality: temporality,
                is_monotonic: monotonic,
            })),
            ..Default::default()
        }
    }

    /// A metric's name, temporality (0 for gauges) and (start, time, value) points.
    type Points = (String, i32, Vec<(u64, u64, f64)>);

    fn points(b: &Records) -> Vec<Points> {
        let Records::Metrics(r) = b else { panic!() };
        r.resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| match &m.data {
                Some(Data::Sum(s)) => (
                    m.name.clone(),
                    s.aggregation_temporality,
                    s.data_points
                        .iter()
                        .map(|p| {
                            let Some(Value::AsDouble(v)) = p.value else {
                                panic!()
                            };
                            (p.start_time_unix_nano, p.time_unix_nano, v)
                        })
                        .collect(),
                ),
                Some(Data::Gauge(g)) => (
                    m.name.clone(),
                    0,
                    g.data_points
                        .iter()
                        .map(|p| {
                            let Some(Value::AsDouble(v)) = p.value else {
                                panic!()
                            };
                            (p.start_time_unix_nano, p.time_unix_nano, v)
                        })
                        .collect(),
                ),
                _ => panic!(),
            })
            .collect()
    }

    const A: &[(&str, &str)] = &[("type", "input"), ("model", "m")];
    /// The same series, attributes in another order.
    const A2: &[(&str, &str)] = &[("model", "m"), ("type", "input")];
    const B: &[(&str, &str)] = &[("type", "output"), ("model", "m")];

    #[test]
    fn converts_a_series_with_a_reset() {
        let mut c = CumulativeToDelta::default();
        let t0 = Instant::now();
        let mut run = |pts: &[Pt]| {
            let mut b = batch(vec![sum("tokens", true, CUMULATIVE, pts)]);
            assert!(CumulativeToDelta::applies(&b));
            c.convert(&mut b, t0);
            points(&b)
        };
        // First points: A has a start time (sent as is), B has none (dropped, remembered).
        assert_eq!(
            run(&[(A, 100, 200, 10.0), (B, 0, 200, 5.0)]),
            vec![("tokens".into(), DELTA, vec![(100, 200, 10.0)])]
        );
        // Deltas over [previous time, time]; attribute order does not matter.
        assert_eq!(
            run(&[(A2, 100, 300, 25.0), (B, 0, 300, 7.0)]),
            vec![(
                "tokens".into(),
                DELTA,
                vec![(200, 300, 15.0), (200, 300, 2.0)]
            )]
        );
        // A repeat is dropped; the metric left empty disappears.
        assert_eq!(run(&[(A, 100, 300, 25.0)]), vec![]);
        // Reset: the value went down (process restarted, new start time).
        assert_eq!(
            run(&[(A, 350, 400, 4.0)]),
            vec![("tokens".into(), DELTA, vec![(350, 400, 4.0)])]
        );
        assert_eq!(
            run(&[(A, 350, 500, 6.0)]),
            vec![("tokens".into(), DELTA, vec![(400, 500, 2.0)])]
        );
        // Reset by start time alone, even with a larger value.
        assert_eq!(
            run(&[(A, 450, 600, 50.0)]),
            vec![("tokens".into(), DELTA, vec![(450, 600, 50.0)])]
        );
        // Reset without start times: value down, sent as is from the last time.
        assert_eq!(
            run(&[(B, 0, 400, 1.0)]),
            vec![("tokens".into(), DELTA, vec![(300, 400, 1.0)])]
        );
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn other_metrics_pass_untouched() {
        let gauge = Metric {
            name: "g".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![point((A, 0, 10, 3.0))],
            })),
            ..Default::default()
        };
        let input = batch(vec![
            sum("updown", false, CUMULATIVE, &[(A, 1, 10, 3.0)]),
            sum("delta", true, DELTA, &[(A, 1, 10, 3.0)]),
            gauge,
        ]);
        assert!(!CumulativeToDelta::applies(&input));
        let mut b = input.clone();
        CumulativeToDelta::default().convert(&mut b, Instant::now());
        assert_eq!(b, input);
    }

    #[test]
    fn histograms_become_deltas() {
        let hist = |start, time, count, sum, buckets: &[u64]| Metric {
            name: "latency".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count,
                    sum: Some(sum),
                    bucket_counts: buckets.to_vec(),
                    explicit_bounds: vec![10.0],
                    min: Some(1.0),
                    max: Some(50.0),
                    ..Default::default()
                }],
                aggregation_temporality: CUMULATIVE,
            })),
            ..Default::default()
        };
        let get = |b: &Records| {
            let Records::Metrics(r) = b else { panic!() };
            let Some(Data::Histogram(h)) = &r.resource_metrics[0].scope_metrics[0].metrics[0].data
            else {
                panic!()
            };
            assert_eq!(h.aggregation_temporality, DELTA);
            let p = &h.data_points[0];
            (
                p.start_time_unix_nano,
                p.count,
                p.sum,
                p.bucket_counts.clone(),
                p.max,
            )
        };
        let mut c = CumulativeToDelta::default();
        let now = Instant::now();
        let mut b = batch(vec![hist(1, 10, 3, 30.0, &[2, 1])]);
        c.convert(&mut b, now);
        assert_eq!(get(&b), (1, 3, Some(30.0), vec![2, 1], Some(50.0)));
        let mut b = batch(vec![hist(1, 20, 5, 45.0, &[3, 2])]);
        c.convert(&mut b, now);
        assert_eq!(get(&b), (10, 2, Some(15.0), vec![1, 1], None));
        // Reset: a bucket went down.
        let mut b = batch(vec![hist(25, 30, 1, 4.0, &[1, 0])]);
        c.convert(&mut b, now);
        assert_eq!(get(&b), (25, 1, Some(4.0), vec![1, 0], Some(50.0)));
    }

    #[test]
    fn state_is_bounded() {
        let mut c = CumulativeToDelta::new(16, Duration::from_secs(3600));
        let t0 = Instant::now();
        for i in 0..40u64 {
            let name = format!("m{i}");
            let mut b = batch(vec![sum(&name, true, CUMULATIVE, &[(A, 1, 10, 1.0)])]);
            c.convert(&mut b, t0 + Duration::from_millis(i));
            assert!(c.len() <= 16, "{}", c.len());
        }
        // Not seen for the TTL: forgotten at the next sweep.
        let mut b = batch(vec![sum("late", true, CUMULATIVE, &[(A, 1, 10, 1.0)])]);
        c.convert(&mut b, t0 + Duration::from_secs(3601));
        assert_eq!(c.len(), 1);
    }
}
