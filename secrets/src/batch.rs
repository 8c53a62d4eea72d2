//! The scanner over every string of a decoded batch that can hold a secret:
//! attribute values at any depth (resource, scope, record, data point,
//! exemplar, span, span event and link), log bodies, span names, span status
//! messages, span event names, and bytes values that hold UTF-8 text. Keys,
//! ids and metric names are not scanned. This is what the `redaction`
//! processor's `secrets: builtin` covers with no other rule set.

use ccpipe_otlp::{points, Records};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, Metric};

use crate::{Found, Scanner};

/// Whether some string of `batch` may hold a secret: when false, [`mask`]
/// would change nothing, so a caller can use the batch as it is instead of
/// copying it first.
pub fn may_hold_secret(scanner: &Scanner, batch: &Records) -> bool {
    any_scanned(batch, |s| scanner.may_match(s))
}

/// Whether `hit` is true of some string [`mask`] scans (bytes that are
/// not UTF-8 are never scanned).
pub(crate) fn any_scanned(batch: &Records, hit: impl Fn(&str) -> bool) -> bool {
    let value = |v: &AnyValue| any_text(v, &hit);
    let list = |kvs: &[KeyValue]| kvs.iter().any(|kv| kv.value.as_ref().is_some_and(value));
    let attrs = |a: Option<&Vec<KeyValue>>| a.is_some_and(|a| list(a));
    match batch {
        Records::Logs(r) => r.resource_logs.iter().any(|rl| {
            attrs(rl.resource.as_ref().map(|x| &x.attributes))
                || rl.scope_logs.iter().any(|sl| {
                    attrs(sl.scope.as_ref().map(|x| &x.attributes))
                        || sl
                            .log_records
                            .iter()
                            .any(|lr| list(&lr.attributes) || lr.body.as_ref().is_some_and(value))
                })
        }),
        Records::Traces(r) => r.resource_spans.iter().any(|rs| {
            attrs(rs.resource.as_ref().map(|x| &x.attributes))
                || rs.scope_spans.iter().any(|ss| {
                    attrs(ss.scope.as_ref().map(|x| &x.attributes))
                        || ss.spans.iter().any(|sp| {
                            list(&sp.attributes)
                                || hit(&sp.name)
                                || sp.status.as_ref().is_some_and(|s| hit(&s.message))
                                || sp
                                    .events
                                    .iter()
                                    .any(|e| list(&e.attributes) || hit(&e.name))
                                || sp.links.iter().any(|l| list(&l.attributes))
                        })
                })
        }),
        Records::Metrics(r) => r.resource_metrics.iter().any(|rm| {
            attrs(rm.resource.as_ref().map(|x| &x.attributes))
                || rm.scope_metrics.iter().any(|sm| {
                    attrs(sm.scope.as_ref().map(|x| &x.attributes))
                        || sm.metrics.iter().any(|m| {
                            let mut any = false;
                            each_point_attributes(m, |a| any = any || list(a));
                            any
                        })
                })
        }),
    }
}

fn any_text(v: &AnyValue, hit: &impl Fn(&str) -> bool) -> bool {
    match &v.value {
        Some(Value::StringValue(s)) => hit(s),
        Some(Value::BytesValue(b)) => std::str::from_utf8(b).is_ok_and(hit),
        Some(Value::ArrayValue(a)) => a.values.iter().any(|x| any_text(x, hit)),
        Some(Value::KvlistValue(l)) => l
            .values
            .iter()
            .any(|kv| kv.value.as_ref().is_some_and(|x| any_text(x, hit))),
        _ => false,
    }
}

/// Calls `f` with the attributes of every data point of `m` and of their
/// exemplars.
fn each_point_attributes(m: &Metric, mut f: impl FnMut(&[KeyValue])) {
    fn with_exemplars(a: &[KeyValue], ex: &[Exemplar], f: &mut impl FnMut(&[KeyValue])) {
        f(a);
        ex.iter().for_each(|e| f(&e.filtered_attributes));
    }
    match &m.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter()
            .for_each(|p| with_exemplars(&p.attributes, &p.exemplars, &mut f)),
        Some(Data::Sum(s)) => s
            .data_points
            .iter()
            .for_each(|p| with_exemplars(&p.attributes, &p.exemplars, &mut f)),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter()
            .for_each(|p| with_exemplars(&p.attributes, &p.exemplars, &mut f)),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter()
            .for_each(|p| with_exemplars(&p.attributes, &p.exemplars, &mut f)),
        Some(Data::Summary(s)) => s.data_points.iter().for_each(|p| f(&p.attributes)),
        None => {}
    }
}

/// Masks every secret in `batch` in place, as a `redaction` processor
/// with only `secrets: builtin` does; returns what was found.
pub fn mask(scanner: &Scanner, batch: &mut Records) -> Found {
    let mut found = Found::default();
    let st = &mut found;
    let list = |kvs: &mut Vec<KeyValue>, st: &mut Found| {
        kvs.iter_mut()
            .filter_map(|kv| kv.value.as_mut())
            .for_each(|v| mask_value(scanner, v, st))
    };
    match batch {
        Records::Logs(r) => {
            for rl in &mut r.resource_logs {
                rl.resource
                    .iter_mut()
                    .for_each(|x| list(&mut x.attributes, st));
                for sl in &mut rl.scope_logs {
                    sl.scope
                        .iter_mut()
                        .for_each(|x| list(&mut x.attributes, st));
                    for lr in &mut sl.log_records {
                        list(&mut lr.attributes, st);
                        lr.body.iter_mut().for_each(|b| mask_value(scanner, b, st));
                    }
                }
            }
        }
        Records::Traces(r) => {
            for rs in &mut r.resource_spans {
                rs.resource
                    .iter_mut()
                    .for_each(|x| list(&mut x.attributes, st));
                for ss in &mut rs.scope_spans {
                    ss.scope
                        .iter_mut()
                        .for_each(|x| list(&mut x.attributes, st));
                    for sp in &mut ss.spans {
                        list(&mut sp.attributes, st);
                        scanner.redact(&mut sp.name, st);
                        if let Some(s) = &mut sp.status {
                            scanner.redact(&mut s.message, st);
                        }
                        for e in &mut sp.events {
                            list(&mut e.attributes, st);
                            scanner.redact(&mut e.name, st);
                        }
                        sp.links
                            .iter_mut()
                            .for_each(|l| list(&mut l.attributes, st));
                    }
                }
            }
        }
        Records::Metrics(r) => {
            for rm in &mut r.resource_metrics {
                rm.resource
                    .iter_mut()
                    .for_each(|x| list(&mut x.attributes, st));
                for sm in &mut rm.scope_metrics {
                    sm.scope
                        .iter_mut()
                        .for_each(|x| list(&mut x.attributes, st));
                    for m in &mut sm.metrics {
                        // As the redaction processor: points made identical
                        // by masking their attributes merge (DELTA sums).
                        let before = st.count;
                        points::for_each_attributes(m, |a| list(a, st));
                        let changed = st.count != before;
                        points::for_each_exemplar_attributes(m, |a| list(a, st));
                        if changed {
                            points::merge_delta_sum(m);
                        }
                    }
                }
            }
        }
    }
    found
}

fn mask_value(scanner: &Scanner, v: &mut AnyValue, st: &mut Found) {
    match &mut v.value {
        Some(Value::StringValue(s)) => {
            scanner.redact(s, st);
        }
        Some(Value::BytesValue(b)) => {
            scanner.redact_bytes(b, st);
        }
        Some(Value::ArrayValue(a)) => a.values.iter_mut().for_each(|x| mask_value(scanner, x, st)),
        Some(Value::KvlistValue(l)) => l
            .values
            .iter_mut()
            .filter_map(|kv| kv.value.as_mut())
            .for_each(|x| mask_value(scanner, x, st)),
        _ => {}
    }
}
