//! Encoding a decoded [`Records`] as one export request, with every length
//! computed once, and each resource optionally replaced on the way out.
//!
//! prost's `encode_to_vec` writes a nested message's length before its
//! contents, and computes that length by walking the whole subtree; so the
//! records of a request are walked once per level above them (request,
//! resource group, scope group, record: four times) before they are written.
//! Here the outer three levels are written by hand: each item's length is
//! computed once, summed upward, and the item is then written by prost's
//! `encode_raw`. The bytes are the same as `encode_to_vec`'s (tests hold them
//! equal on every capture and on random batches).
//!
//! `with_resources` lets an exporter change resources (the Datadog exporter's
//! env, service and tags) without copying the batch: only the small
//! `Resource` of each group is cloned and changed, the rest is encoded from
//! the shared batch as it is.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::encoding::{encode_varint, encoded_len_varint};
use prost::Message;

use crate::records::Records;
use crate::Encoded;

/// The request's bytes, equal to `encode_to_vec` of the batch.
pub fn encode(batch: &Records) -> Vec<u8> {
    with_resources(batch, |r| r.map(Cow::Borrowed))
}

/// The request's bytes with each group's resource replaced by what `resource`
/// returns for it (`None`: the group has no resource field). Equal to
/// changing the resources of a copy and calling `encode_to_vec`.
pub fn with_resources<'a>(
    batch: &'a Records,
    mut resource: impl FnMut(Option<&'a Resource>) -> Option<Cow<'a, Resource>>,
) -> Vec<u8> {
    match batch {
        Records::Logs(r) => encode_groups(&r.resource_logs, &mut resource),
        Records::Metrics(r) => encode_groups(&r.resource_metrics, &mut resource),
        Records::Traces(r) => encode_groups(&r.resource_spans, &mut resource),
    }
}

/// [`with_resources`] as an [`Encoded`] payload: the bytes come from a
/// decoded batch, so they need no scan, and its item count is the batch's.
pub fn to_encoded<'a>(
    batch: &'a Records,
    resource: impl FnMut(Option<&'a Resource>) -> Option<Cow<'a, Resource>>,
) -> Encoded {
    let bytes = with_resources(batch, resource);
    Encoded::counted(batch.signal(), bytes.into(), batch.item_count())
}

/// `ResourceLogs`, `ResourceMetrics` and `ResourceSpans`: resource = 1,
/// scope groups = 2, schema_url = 3.
trait Group {
    type Scope: ScopeGroup;
    fn resource(&self) -> Option<&Resource>;
    fn scopes(&self) -> &[Self::Scope];
    fn schema_url(&self) -> &str;
}

/// `ScopeLogs`, `ScopeMetrics` and `ScopeSpans`: scope = 1, items = 2,
/// schema_url = 3.
trait ScopeGroup {
    type Item: Message;
    fn scope(&self) -> Option<&InstrumentationScope>;
    fn items(&self) -> &[Self::Item];
    fn schema_url(&self) -> &str;
}

macro_rules! groups {
    ($group:ty, $scopes:ident, $scope:ty, $items:ident, $item:ty) => {
        impl Group for $group {
            type Scope = $scope;
            fn resource(&self) -> Option<&Resource> {
                self.resource.as_ref()
            }
            fn scopes(&self) -> &[$scope] {
                &self.$scopes
            }
            fn schema_url(&self) -> &str {
                &self.schema_url
            }
        }
        impl ScopeGroup for $scope {
            type Item = $item;
            fn scope(&self) -> Option<&InstrumentationScope> {
                self.scope.as_ref()
            }
            fn items(&self) -> &[$item] {
                &self.$items
            }
            fn schema_url(&self) -> &str {
                &self.schema_url
            }
        }
    };
}

groups!(
    ResourceLogs,
    scope_logs,
    ScopeLogs,
    log_records,
    opentelemetry_proto::tonic::logs::v1::LogRecord
);
groups!(
    ResourceMetrics,
    scope_metrics,
    ScopeMetrics,
    metrics,
    opentelemetry_proto::tonic::metrics::v1::Metric
);
groups!(
    ResourceSpans,
    scope_spans,
    ScopeSpans,
    spans,
    opentelemetry_proto::tonic::trace::v1::Span
);

/// Keys of fields 1, 2 and 3 with wire type 2 (length-delimited).
const FIELD_1: u8 = 0x0a;
const FIELD_2: u8 = 0x12;
const FIELD_3: u8 = 0x1a;

/// A length-delimited field of `len` content bytes, key included (keys here
/// are one byte).
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// A proto3 string field: absent when empty.
fn string_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        field_len(s.len())
    }
}

fn put_field_head(out: &mut Vec<u8>, key: u8, len: usize) {
    out.push(key);
    encode_varint(len as u64, out);
}

fn put_string(out: &mut Vec<u8>, key: u8, s: &str) {
    if !s.is_empty() {
        put_field_head(out, key, s.len());
        out.extend_from_slice(s.as_bytes());
    }
}

/// Sizes first (each item's once), then one write into a buffer of exactly
/// the right capacity.
fn encode_groups<'a, G: Group>(
    groups: &'a [G],
    resource: &mut impl FnMut(Option<&'a Resource>) -> Option<Cow<'a, Resource>>,
) -> Vec<u8> {
    // Lengths in the order they are written: per group its content length,
    // its resource's, then per scope group its content length and its
    // scope's, then each item's.
    let mut lens: Vec<usize> = Vec::new();
    let mut resources: Vec<Option<Cow<'a, Resource>>> = Vec::with_capacity(groups.len());
    let mut total = 0;
    for g in groups {
        let at = lens.len();
        lens.extend([0, 0]);
        let r = resource(g.resource());
        let mut group_len = 0;
        if let Some(r) = &r {
            let len = r.encoded_len();
            lens[at + 1] = len;
            group_len += field_len(len);
        }
        resources.push(r);
        for s in g.scopes() {
            let at = lens.len();
            lens.extend([0, 0]);
            let mut scope_len = 0;
            if let Some(scope) = s.scope() {
                let len = scope.encoded_len();
                lens[at + 1] = len;
                scope_len += field_len(len);
            }
            for item in s.items() {
                let len = item.encoded_len();
                lens.push(len);
                scope_len += field_len(len);
            }
            scope_len += string_len(s.schema_url());
            lens[at] = scope_len;
            group_len += field_len(scope_len);
        }
        group_len += string_len(g.schema_url());
        lens[at] = group_len;
        total += field_len(group_len);
    }

    let mut out = Vec::with_capacity(total);
    let mut lens = lens.into_iter();
    let mut next = || lens.next().expect("a length for every message");
    for (g, r) in groups.iter().zip(&resources) {
        put_field_head(&mut out, FIELD_1, next());
        let resource_len = next();
        if let Some(r) = r {
            put_field_head(&mut out, FIELD_1, resource_len);
            r.encode_raw(&mut out);
        }
        for s in g.scopes() {
            put_field_head(&mut out, FIELD_2, next());
            let scope_len = next();
            if let Some(scope) = s.scope() {
                put_field_head(&mut out, FIELD_1, scope_len);
                scope.encode_raw(&mut out);
            }
            for item in s.items() {
                put_field_head(&mut out, FIELD_2, next());
                item.encode_raw(&mut out);
            }
            put_string(&mut out, FIELD_3, s.schema_url());
        }
        put_string(&mut out, FIELD_3, g.schema_url());
    }
    debug_assert_eq!(out.len(), total, "the lengths summed are the bytes written");
    out
}

#[cfg(test)]
mod tests;
