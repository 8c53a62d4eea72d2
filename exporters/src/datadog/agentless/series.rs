//! Metrics as Datadog series (`POST /api/v2/series`): one series entry per
//! data point, each encoded on its own so the splitter can pack them.
//!
//! Mapping:
//! - delta monotonic sums → `type: 1` (count), with `interval` in whole
//!   seconds (at least 1) from the point's start and end time when both are known;
//! - gauges, cumulative sums and non-monotonic sums → `type: 3` (gauge);
//! - histograms and exponential histograms → `<name>.count` and
//!   `<name>.sum` (when the point has a sum), counts when delta, gauges when
//!   cumulative; buckets, min and max are not sent;
//! - summaries → `<name>.count` and `<name>.sum` gauges;
//! - points whose value is NaN or infinite are left out (the intake refuses them).
//!
//! Tags: every data-point attribute as `key:value`, then `service:`, `env:`,
//! `version:` and the user tags of the resource (see [`super::tags`]), all
//! normalised, without duplicates. The host (`datadog.host.name`, else
//! `host.name`) goes into `resources` as `{"type":"host","name":…}`. Units
//! Datadog knows (`s` → `second`, `USD` → `dollar`, …) are sent; others are not.

use ccpipe_pipeline::otlp_json::write_json_string;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality,
};

use super::tags::{push_attribute_tags, push_unique, ResourceInfo};
use crate::text::{write_int, write_json_f64};

/// Datadog's metric types in the v2 series API.
pub const COUNT: u8 = 1;
pub const GAUGE: u8 = 3;

/// Encodes every data point of `req` as one series entry; returns the
/// entries and how many points were left out (non-finite values).
pub fn encode(req: &ExportMetricsServiceRequest, now_secs: i64) -> (Vec<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut skipped = 0;
    for rm in &req.resource_metrics {
        let res = ResourceInfo::from_resource(rm.resource.as_ref());
        let base = Base {
            tags: res.metric_tags(),
            host: res.host.as_deref(),
            now_secs,
        };
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let name = metric_name(&m.name);
                let unit = datadog_unit(&m.unit);
                let mut emit = |suffix: &str, p: Point<'_>| {
                    if !p.value.is_finite() {
                        skipped += 1;
                        return;
                    }
                    let mut full = name.clone();
                    full.push_str(suffix);
                    let unit = if suffix == ".count" { None } else { unit };
                    out.push(base.entry(&full, unit, &p));
                };
                match &m.data {
                    Some(Data::Gauge(g)) => {
                        for dp in &g.data_points {
                            emit("", Point::number(dp.value, GAUGE, dp));
                        }
                    }
                    Some(Data::Sum(s)) => {
                        let delta =
                            s.aggregation_temporality == AggregationTemporality::Delta as i32;
                        let kind = if delta && s.is_monotonic {
                            COUNT
                        } else {
                            GAUGE
                        };
                        for dp in &s.data_points {
                            emit("", Point::number(dp.value, kind, dp));
                        }
                    }
                    Some(Data::Histogram(h)) => {
                        let kind = kind_of(h.aggregation_temporality);
                        for dp in &h.data_points {
                            let p = |value| {
                                Point::new(
                                    value,
                                    kind,
                                    &dp.attributes,
                                    dp.start_time_unix_nano,
                                    dp.time_unix_nano,
                                )
                            };
                            emit(".count", p(dp.count as f64));
                            if let Some(sum) = dp.sum {
                                emit(".sum", p(sum));
                            }
                        }
                    }
                    Some(Data::ExponentialHistogram(h)) => {
                        let kind = kind_of(h.aggregation_temporality);
                        for dp in &h.data_points {
                            let p = |value| {
                                Point::new(
                                    value,
                                    kind,
                                    &dp.attributes,
                                    dp.start_time_unix_nano,
                                    dp.time_unix_nano,
                                )
                            };
                            emit(".count", p(dp.count as f64));
                            if let Some(sum) = dp.sum {
                                emit(".sum", p(sum));
                            }
                        }
                    }
                    Some(Data::Summary(s)) => {
                        for dp in &s.data_points {
                            let p = |value| {
                                Point::new(
                                    value,
                                    GAUGE,
                                    &dp.attributes,
                                    dp.start_time_unix_nano,
                                    dp.time_unix_nano,
                                )
                            };
                            emit(".count", p(dp.count as f64));
                            emit(".sum", p(dp.sum));
                        }
                    }
                    None => {}
                }
            }
        }
    }
    (out, skipped)
}

/// Histograms: counts when delta, gauges when cumulative.
fn kind_of(temporality: i32) -> u8 {
    if temporality == AggregationTemporality::Delta as i32 {
        COUNT
    } else {
        GAUGE
    }
}

/// One value to send, with what it needs from its data point.
struct Point<'a> {
    value: f64,
    kind: u8,
    attributes: &'a [KeyValue],
    start_nanos: u64,
    time_nanos: u64,
}

impl<'a> Point<'a> {
    fn new(
        value: f64,
        kind: u8,
        attributes: &'a [KeyValue],
        start_nanos: u64,
        time_nanos: u64,
    ) -> Self {
        Point {
            value,
            kind,
            attributes,
            start_nanos,
            time_nanos,
        }
    }

    fn number(
        value: Option<number_data_point::Value>,
        kind: u8,
        dp: &'a opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
    ) -> Self {
        let value = match value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => f64::NAN,
        };
        Point::new(
            value,
            kind,
            &dp.attributes,
            dp.start_time_unix_nano,
            dp.time_unix_nano,
        )
    }
}

/// What every series of one resource shares.
struct Base<'a> {
    tags: Vec<String>,
    host: Option<&'a str>,
    now_secs: i64,
}

impl Base<'_> {
    fn entry(&self, name: &str, unit: Option<&str>, p: &Point<'_>) -> Vec<u8> {
        let mut tags = Vec::with_capacity(p.attributes.len() + self.tags.len());
        push_attribute_tags(&mut tags, p.attributes);
        for t in &self.tags {
            push_unique(&mut tags, Some(t.clone()));
        }
        let timestamp = if p.time_nanos > 0 {
            (p.time_nanos / 1_000_000_000) as i64
        } else {
            self.now_secs
        };
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"metric\":");
        write_json_string(name, &mut out);
        out.extend_from_slice(b",\"type\":");
        write_int(p.kind, &mut out);
        if p.kind == COUNT && p.start_nanos > 0 && p.time_nanos > p.start_nanos {
            // Whole seconds, at least one (short sessions flush sub-second windows).
            let secs = ((p.time_nanos - p.start_nanos + 500_000_000) / 1_000_000_000).max(1);
            out.extend_from_slice(b",\"interval\":");
            write_int(secs, &mut out);
        }
        out.extend_from_slice(b",\"points\":[{\"timestamp\":");
        write_int(timestamp, &mut out);
        out.extend_from_slice(b",\"value\":");
        write_json_f64(p.value, &mut out);
        out.extend_from_slice(b"}],\"tags\":[");
        for (i, t) in tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_string(t, &mut out);
        }
        out.push(b']');
        if let Some(unit) = unit {
            out.extend_from_slice(b",\"unit\":");
            write_json_string(unit, &mut out);
        }
        if let Some(host) = self.host {
            out.extend_from_slice(b",\"resources\":[{\"type\":\"host\",\"name\":");
            write_json_string(host, &mut out);
            out.extend_from_slice(b"}]");
        }
        out.push(b'}');
        out
    }
}

/// A metric name as Datadog accepts it: ASCII letters, digits, `_` and `.`
/// (anything else becomes `_`), starting with a letter, at most 200 characters.
pub fn metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' => out.push(c),
            _ if out.is_empty() => {}
            '0'..='9' | '_' | '.' => out.push(c),
            _ => out.push('_'),
        }
        if out.len() >= 200 {
            break;
        }
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    out
}

/// The Datadog unit name for an OpenTelemetry (UCUM) unit, when there is one.
pub fn datadog_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "ns" => "nanosecond",
        "us" | "μs" => "microsecond",
        "ms" => "millisecond",
        "s" => "second",
        "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "bit" => "bit",
        "By" => "byte",
        "KiBy" => "kibibyte",
        "MiBy" => "mebibyte",
        "GiBy" => "gibibyte",
        "TiBy" => "tebibyte",
        "%" => "percent",
        "USD" => "dollar",
        _ => return None,
    })
}
