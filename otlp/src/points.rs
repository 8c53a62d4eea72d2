//! Metric data points of every type, seen through their attributes, and the
//! merge that keeps delta sums correct after attributes changed.
//!
//! Deleting or masking an attribute can make two series of one metric
//! identical (`claude_code.token.usage` without `type`). For a DELTA sum the
//! right answer is one point holding the sum of both, which is what this module
//! does. Other kinds are left alone, because no merge is right for all of
//! them: a gauge's points cannot be added, and summing CUMULATIVE series only
//! works while every one of them is reported in every interval (a series that
//! pauses would look like a counter reset). Users who change the attributes of
//! such metrics should scope the processor with `include: { metric_names: … }`.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, NumberDataPoint};

/// Calls `f` with the attributes of every data point of `metric`.
pub fn for_each_attributes(metric: &mut Metric, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match &mut metric.data {
        Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter_mut().for_each(|p| f(&mut p.attributes))
        }
        Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        None => {}
    }
}

/// Calls `f` with the filtered attributes of every exemplar of `metric`.
pub fn for_each_exemplar_attributes(metric: &mut Metric, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    let mut each = |ex: &mut Vec<opentelemetry_proto::tonic::metrics::v1::Exemplar>| {
        ex.iter_mut().for_each(|e| f(&mut e.filtered_attributes))
    };
    match &mut metric.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter_mut()
            .for_each(|p| each(&mut p.exemplars)),
        Some(Data::Sum(s)) => s
            .data_points
            .iter_mut()
            .for_each(|p| each(&mut p.exemplars)),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter_mut()
            .for_each(|p| each(&mut p.exemplars)),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter_mut()
            .for_each(|p| each(&mut p.exemplars)),
        Some(Data::Summary(_)) | None => {}
    }
}

/// Keeps the data points for which `keep(attributes)` is true.
pub fn retain(metric: &mut Metric, mut keep: impl FnMut(&[KeyValue]) -> bool) {
    match &mut metric.data {
        Some(Data::Gauge(g)) => g.data_points.retain(|p| keep(&p.attributes)),
        Some(Data::Sum(s)) => s.data_points.retain(|p| keep(&p.attributes)),
        Some(Data::Histogram(h)) => h.data_points.retain(|p| keep(&p.attributes)),
        Some(Data::ExponentialHistogram(h)) => h.data_points.retain(|p| keep(&p.attributes)),
        Some(Data::Summary(s)) => s.data_points.retain(|p| keep(&p.attributes)),
        None => {}
    }
}

/// Merges the points of a DELTA sum that now describe the same series (same
/// attribute set, same start and end time, same flags) into one, adding their
/// values and keeping their exemplars. Returns how many points were merged
/// away. Does nothing for other metric kinds (see the module docs).
pub fn merge_delta_sum(metric: &mut Metric) -> usize {
    let Some(Data::Sum(sum)) = &mut metric.data else {
        return 0;
    };
    if sum.aggregation_temporality != AggregationTemporality::Delta as i32
        || sum.data_points.len() < 2
    {
        return 0;
    }
    let points = std::mem::take(&mut sum.data_points);
    let total = points.len();
    let mut kept: Vec<NumberDataPoint> = Vec::with_capacity(total);
    let mut by_print: HashMap<u64, Vec<usize>> = HashMap::with_capacity(total);
    for p in points {
        let print = fingerprint(&p);
        let candidates = by_print.entry(print).or_default();
        match candidates
            .iter()
            .copied()
            .find(|&i| same_series(&kept[i], &p))
        {
            Some(i) => add(&mut kept[i], p),
            None => {
                candidates.push(kept.len());
                kept.push(p);
            }
        }
    }
    let merged = total - kept.len();
    sum.data_points = kept;
    merged
}

fn same_series(a: &NumberDataPoint, b: &NumberDataPoint) -> bool {
    a.start_time_unix_nano == b.start_time_unix_nano
        && a.time_unix_nano == b.time_unix_nano
        && a.flags == b.flags
        && same_attributes(&a.attributes, &b.attributes)
}

/// Attribute lists equal as sets (order does not matter).
pub fn same_attributes(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|x| b.iter().any(|y| y.key == x.key && y.value == x.value))
}

fn add(into: &mut NumberDataPoint, other: NumberDataPoint) {
    into.value = match (into.value.take(), other.value) {
        (Some(Number::AsInt(a)), Some(Number::AsInt(b))) => Some(Number::AsInt(a.wrapping_add(b))),
        (Some(a), Some(b)) => Some(Number::AsDouble(as_f64(a) + as_f64(b))),
        (a, b) => a.or(b),
    };
    into.exemplars.extend(other.exemplars);
}

fn as_f64(n: Number) -> f64 {
    match n {
        Number::AsInt(i) => i as f64,
        Number::AsDouble(d) => d,
    }
}

/// A hash of the series identity that ignores attribute order.
fn fingerprint(p: &NumberDataPoint) -> u64 {
    let mut attrs = 0u64;
    for kv in &p.attributes {
        let mut h = DefaultHasher::new();
        kv.key.hash(&mut h);
        hash_value(kv.value.as_ref(), &mut h);
        attrs = attrs.wrapping_add(h.finish());
    }
    let mut h = DefaultHasher::new();
    (p.start_time_unix_nano, p.time_unix_nano, p.flags, attrs).hash(&mut h);
    h.finish()
}

fn hash_value(v: Option<&AnyValue>, h: &mut DefaultHasher) {
    match v.and_then(|v| v.value.as_ref()) {
        None => 0u8.hash(h),
        Some(Value::StringValue(s)) => (1u8, s).hash(h),
        Some(Value::BoolValue(b)) => (2u8, b).hash(h),
        Some(Value::IntValue(i)) => (3u8, i).hash(h),
        Some(Value::DoubleValue(d)) => (4u8, d.to_bits()).hash(h),
        Some(Value::ArrayValue(a)) => {
            (5u8, a.values.len()).hash(h);
            a.values.iter().for_each(|v| hash_value(Some(v), h));
        }
        Some(Value::KvlistValue(l)) => {
            (6u8, l.values.len()).hash(h);
            for kv in &l.values {
                kv.key.hash(h);
                hash_value(kv.value.as_ref(), h);
            }
        }
        Some(Value::BytesValue(b)) => (7u8, b).hash(h),
        Some(Value::StringValueStrindex(i)) => (8u8, i).hash(h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{Exemplar, Gauge, Sum};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn point(attrs: &[(&str, &str)], t: u64, v: Number) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
            start_time_unix_nano: t,
            time_unix_nano: t + 10,
            value: Some(v),
            ..Default::default()
        }
    }

    fn sum(temporality: AggregationTemporality, points: Vec<NumberDataPoint>) -> Metric {
        Metric {
            name: "m".into(),
            data: Some(Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: temporality as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        }
    }

    fn values(m: &Metric) -> Vec<(Vec<KeyValue>, Option<Number>, usize)> {
        let Some(Data::Sum(s)) = &m.data else {
            panic!()
        };
        s.data_points
            .iter()
            .map(|p| (p.attributes.clone(), p.value, p.exemplars.len()))
            .collect()
    }

    #[test]
    fn merges_identical_delta_points_in_any_attribute_order() {
        let mut with_exemplar = point(&[("model", "a")], 0, Number::AsDouble(1.5));
        with_exemplar.exemplars.push(Exemplar::default());
        let mut m = sum(
            AggregationTemporality::Delta,
            vec![
                with_exemplar,
                point(&[("model", "b")], 0, Number::AsDouble(10.0)),
                point(&[("model", "a")], 0, Number::AsDouble(2.0)),
                point(&[("model", "a"), ("x", "1")], 0, Number::AsDouble(100.0)),
                point(&[("x", "1"), ("model", "a")], 0, Number::AsDouble(200.0)),
                // another interval: a different point of the same series, kept
                point(&[("model", "a")], 50, Number::AsDouble(4.0)),
            ],
        );
        assert_eq!(merge_delta_sum(&mut m), 2);
        assert_eq!(
            values(&m),
            vec![
                (vec![kv("model", "a")], Some(Number::AsDouble(3.5)), 1),
                (vec![kv("model", "b")], Some(Number::AsDouble(10.0)), 0),
                (
                    vec![kv("model", "a"), kv("x", "1")],
                    Some(Number::AsDouble(300.0)),
                    0
                ),
                (vec![kv("model", "a")], Some(Number::AsDouble(4.0)), 0),
            ]
        );
    }

    #[test]
    fn ints_stay_ints_and_mixed_become_doubles() {
        let mut m = sum(
            AggregationTemporality::Delta,
            vec![
                point(&[], 0, Number::AsInt(2)),
                point(&[], 0, Number::AsInt(3)),
                point(&[("k", "v")], 0, Number::AsInt(1)),
                point(&[("k", "v")], 0, Number::AsDouble(0.5)),
            ],
        );
        assert_eq!(merge_delta_sum(&mut m), 2);
        let v: Vec<_> = values(&m).into_iter().map(|x| x.1).collect();
        assert_eq!(v, vec![Some(Number::AsInt(5)), Some(Number::AsDouble(1.5))]);
    }

    #[test]
    fn leaves_cumulative_sums_and_gauges_alone() {
        let pts = || {
            vec![
                point(&[], 0, Number::AsInt(2)),
                point(&[], 0, Number::AsInt(3)),
            ]
        };
        let mut c = sum(AggregationTemporality::Cumulative, pts());
        assert_eq!(merge_delta_sum(&mut c), 0);
        assert_eq!(values(&c).len(), 2);
        let mut g = Metric {
            data: Some(Data::Gauge(Gauge { data_points: pts() })),
            ..Default::default()
        };
        assert_eq!(merge_delta_sum(&mut g), 0);
    }
}
