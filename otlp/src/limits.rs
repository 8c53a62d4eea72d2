//! Limits on attributes, against hostile input: how deeply attribute values
//! may nest and how many key-values one attribute set may hold. A request
//! over a limit is refused as a whole, never truncated.
//!
//! Protobuf requests are checked by [`wire::scan_within`](crate::wire::scan_within)
//! without decoding; decoded batches (OTLP/JSON) by [`check`]. Both give the
//! same verdict for the same request, and the same message unless it breaks
//! several limits and its fields are not in prost's (field-number) order.
//!
//! - Depth counts AnyValues: an attribute's value (or a log body) is at
//!   level 1, a value inside its array or kvlist at level 2, and so on.
//! - Counts are per attribute set: the attributes of a resource, a scope, a
//!   log record, a span, a span event, a span link, a data point, an
//!   exemplar, a metric's metadata, and each kvlist value.

use std::fmt;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::records::Records;

/// The limits a receiver enforces; [`Limits::NONE`] enforces nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The deepest AnyValue level allowed (1 = scalars only).
    pub max_attribute_depth: usize,
    /// The most key-values one attribute set may hold.
    pub max_attributes: usize,
}

impl Limits {
    pub const NONE: Limits = Limits {
        max_attribute_depth: usize::MAX,
        max_attributes: usize::MAX,
    };

    fn count(&self, count: usize, at: &'static str, kvlist: bool) -> Result<(), LimitError> {
        if count <= self.max_attributes {
            return Ok(());
        }
        Err(LimitError {
            at,
            exceeded: Exceeded::Attributes {
                count,
                max: self.max_attributes,
                kvlist,
            },
        })
    }

    /// Checks a set of key-values owned directly by a message.
    pub(crate) fn set(&self, count: usize, at: &'static str) -> Result<(), LimitError> {
        self.count(count, at, false)
    }

    /// Checks the key-values of one kvlist value.
    pub(crate) fn kvlist(&self, count: usize, at: &'static str) -> Result<(), LimitError> {
        self.count(count, at, true)
    }

    /// The AnyValue level below `level`, or the depth error.
    pub(crate) fn enter_value(&self, level: usize, at: &'static str) -> Result<usize, LimitError> {
        if level < self.max_attribute_depth {
            return Ok(level + 1);
        }
        Err(LimitError {
            at,
            exceeded: Exceeded::Depth {
                max: self.max_attribute_depth,
            },
        })
    }
}

/// Names of the attribute sets, as error messages give them.
pub(crate) mod at {
    pub const RESOURCE: &str = "resource attributes";
    pub const SCOPE: &str = "scope attributes";
    pub const LOG_RECORD: &str = "log record attributes";
    pub const LOG_BODY: &str = "log record body";
    pub const SPAN: &str = "span attributes";
    pub const SPAN_EVENT: &str = "span event attributes";
    pub const SPAN_LINK: &str = "span link attributes";
    pub const METRIC: &str = "metric metadata";
    pub const DATA_POINT: &str = "data point attributes";
    pub const EXEMPLAR: &str = "exemplar attributes";
}

/// A request over a limit: where, and which limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    /// The attribute set (or log body) at fault, e.g. "log record attributes".
    pub at: &'static str,
    pub exceeded: Exceeded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// `max_attributes`: the set (or a kvlist value in it) held `count`.
    Attributes {
        count: usize,
        max: usize,
        kvlist: bool,
    },
    /// `max_attribute_depth`: a value sat at level `max + 1`.
    Depth { max: usize },
}

impl LimitError {
    /// The message, naming the limit's config key after `key_prefix`
    /// (e.g. `receivers.otlp.limits.`).
    pub fn describe<'a>(&'a self, key_prefix: &'a str) -> impl fmt::Display + 'a {
        Describe(self, key_prefix)
    }
}

struct Describe<'a>(&'a LimitError, &'a str);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Describe(e, prefix) = self;
        write!(f, "{}: ", e.at)?;
        match e.exceeded {
            Exceeded::Attributes { count, max, kvlist } => {
                if kvlist {
                    f.write_str("a kvlist value with ")?;
                }
                write!(
                    f,
                    "{count} key-values, more than {prefix}max_attributes ({max})"
                )
            }
            Exceeded::Depth { max } => write!(
                f,
                "a value nested {} levels deep, more than {prefix}max_attribute_depth ({max})",
                max.saturating_add(1)
            ),
        }
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe("").fmt(f)
    }
}

impl std::error::Error for LimitError {}

/// Checks a decoded batch against `limits`, finding what
/// [`wire::scan_within`](crate::wire::scan_within) finds in the bytes, in the
/// same order: a set's count is checked where its owner ends.
pub fn check(batch: &Records, limits: &Limits) -> Result<(), LimitError> {
    if *limits == Limits::NONE {
        return Ok(());
    }
    let c = Checker(limits);
    match batch {
        Records::Logs(r) => {
            for rl in &r.resource_logs {
                let resource = c.resource(rl.resource.as_ref())?;
                for sl in &rl.scope_logs {
                    let scope = c.scope(sl.scope.as_ref())?;
                    for lr in &sl.log_records {
                        let body = match &lr.body {
                            Some(body) => c.value(body, 0, at::LOG_BODY)?,
                            None => 0,
                        };
                        c.set(&lr.attributes, at::LOG_RECORD)?;
                        limits.kvlist(body, at::LOG_BODY)?;
                    }
                    limits.set(scope, at::SCOPE)?;
                }
                limits.set(resource, at::RESOURCE)?;
            }
        }
        Records::Traces(r) => {
            for rs in &r.resource_spans {
                let resource = c.resource(rs.resource.as_ref())?;
                for ss in &rs.scope_spans {
                    let scope = c.scope(ss.scope.as_ref())?;
                    for span in &ss.spans {
                        let own = c.owned(&span.attributes, 0, at::SPAN)?;
                        for event in &span.events {
                            c.set(&event.attributes, at::SPAN_EVENT)?;
                        }
                        for link in &span.links {
                            c.set(&link.attributes, at::SPAN_LINK)?;
                        }
                        limits.set(own, at::SPAN)?;
                    }
                    limits.set(scope, at::SCOPE)?;
                }
                limits.set(resource, at::RESOURCE)?;
            }
        }
        Records::Metrics(r) => {
            for rm in &r.resource_metrics {
                let resource = c.resource(rm.resource.as_ref())?;
                for sm in &rm.scope_metrics {
                    let scope = c.scope(sm.scope.as_ref())?;
                    for metric in &sm.metrics {
                        c.metric(metric)?;
                    }
                    limits.set(scope, at::SCOPE)?;
                }
                limits.set(resource, at::RESOURCE)?;
            }
        }
    }
    Ok(())
}

struct Checker<'a>(&'a Limits);

impl Checker<'_> {
    /// Checks a resource's values; its count is checked by the caller.
    fn resource(&self, r: Option<&Resource>) -> Result<usize, LimitError> {
        r.map_or(Ok(0), |r| self.owned(&r.attributes, 0, at::RESOURCE))
    }

    fn scope(&self, s: Option<&InstrumentationScope>) -> Result<usize, LimitError> {
        s.map_or(Ok(0), |s| self.owned(&s.attributes, 0, at::SCOPE))
    }

    /// In field-number order, as prost writes them: the data, then metadata.
    fn metric(&self, m: &Metric) -> Result<(), LimitError> {
        // Exemplars (tag 5 or 8) come before a point's attributes (7 or 9),
        // except in exponential histograms (1, then 11).
        macro_rules! points {
            ($points:expr, $exemplars_first:expr) => {
                for p in $points {
                    let mut attributes = 0;
                    if !$exemplars_first {
                        attributes = self.owned(&p.attributes, 0, at::DATA_POINT)?;
                    }
                    for e in &p.exemplars {
                        self.set(&e.filtered_attributes, at::EXEMPLAR)?;
                    }
                    if $exemplars_first {
                        attributes = self.owned(&p.attributes, 0, at::DATA_POINT)?;
                    }
                    self.0.set(attributes, at::DATA_POINT)?;
                }
            };
        }
        match &m.data {
            None => {}
            Some(Data::Gauge(g)) => points!(&g.data_points, true),
            Some(Data::Sum(s)) => points!(&s.data_points, true),
            Some(Data::Histogram(h)) => points!(&h.data_points, true),
            Some(Data::ExponentialHistogram(h)) => points!(&h.data_points, false),
            Some(Data::Summary(s)) => {
                for p in &s.data_points {
                    self.set(&p.attributes, at::DATA_POINT)?;
                }
            }
        }
        self.set(&m.metadata, at::METRIC)
    }

    /// Checks a set of attributes: their values, then their count.
    fn set(&self, kvs: &[KeyValue], at: &'static str) -> Result<(), LimitError> {
        let n = self.owned(kvs, 0, at)?;
        self.0.set(n, at)
    }

    /// Checks the values of key-values at `level` and returns how many there are.
    fn owned(&self, kvs: &[KeyValue], level: usize, at: &'static str) -> Result<usize, LimitError> {
        for kv in kvs {
            if let Some(v) = &kv.value {
                let kvlist = self.value(v, level, at)?;
                self.0.kvlist(kvlist, at)?;
            }
        }
        Ok(kvs.len())
    }

    /// Checks a value one level below `level` (0 for an attribute's own
    /// value) and returns the key-values of its kvlist, for the caller to check.
    fn value(&self, v: &AnyValue, level: usize, at: &'static str) -> Result<usize, LimitError> {
        let level = self.0.enter_value(level, at)?;
        match &v.value {
            Some(Value::ArrayValue(a)) => {
                for x in &a.values {
                    let kvlist = self.value(x, level, at)?;
                    self.0.kvlist(kvlist, at)?;
                }
                Ok(0)
            }
            Some(Value::KvlistValue(l)) => self.owned(&l.values, level, at),
            _ => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests;
