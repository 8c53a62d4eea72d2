//! Changing an encoded export request without decoding it: the few
//! messages a change touches are handed to a [`Rewrite`] (which may decode,
//! change and re-encode just them), and everything else is copied as bytes,
//! or not copied at all when nothing changed. Decoding a whole request into
//! prost types, and the allocations and frees that come with it, is what
//! this avoids. Processors and the Datadog exporter's enrichment use it.
//!
//! The three signals share one shape (field numbers included): the
//! request's field 1 is a resource-X (`ResourceLogs`, `ResourceMetrics`,
//! `ResourceSpans`), whose field 1 is the `Resource` and field 2 a scope-X,
//! whose field 1 is the `InstrumentationScope` and field 2 a record
//! (`LogRecord`, `Metric`, `Span`).
//!
//! Anything the walk does not expect (groups, a resource or scope given
//! twice, which protobuf merges) is a [`Fallback`]: the caller then takes
//! the decoded path, which is the reference the wire path is tested against.

pub mod proto;

use bytes::Bytes;
use proto::{fields, Splice};

use crate::Encoded;

/// The wire path cannot handle these bytes; take the decoded path instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request needs the decoded path")]
pub struct Fallback;

/// What a change did to one encoded request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rewritten {
    /// The new request; `None`: unchanged, keep the bytes as they are.
    pub bytes: Option<Vec<u8>>,
    /// Items merged away (DELTA sum points made identical by redaction).
    pub items_removed: usize,
}

impl From<Option<Vec<u8>>> for Rewritten {
    /// A change that never removes items.
    fn from(bytes: Option<Vec<u8>>) -> Self {
        Rewritten {
            bytes,
            items_removed: 0,
        }
    }
}

/// Runs `f` on each request of an encoded batch. `Ok(None)`: none changed;
/// else the batch's new requests (unchanged ones shared, not copied).
pub fn each_request(
    encoded: &Encoded,
    mut f: impl FnMut(&[u8]) -> Result<Rewritten, Fallback>,
) -> Result<Option<Encoded>, Fallback> {
    let mut parts: Option<Vec<Bytes>> = None;
    let mut removed = 0;
    for (i, part) in encoded.parts().iter().enumerate() {
        let out = f(part)?;
        removed += out.items_removed;
        match (out.bytes, &mut parts) {
            (Some(new), parts) => parts
                .get_or_insert_with(|| encoded.parts()[..i].to_vec())
                .push(Bytes::from(new)),
            (None, Some(parts)) => parts.push(part.clone()),
            (None, None) => {}
        }
    }
    Ok(parts.map(|p| {
        Encoded::rewritten(
            encoded.signal(),
            p,
            encoded.item_count().saturating_sub(removed),
        )
    }))
}

/// What a change does to the messages of a request. Each returns the
/// message's new body, or `None` when it is unchanged.
pub trait Rewrite {
    /// Whether the walk enters scopes and records (false: only resources).
    const RECORDS: bool;

    /// The resource of one resource-X; `None` when it has none (an
    /// appended `Some` becomes its resource).
    fn resource(&mut self, body: Option<&[u8]>) -> Result<Option<Vec<u8>>, Fallback>;

    fn scope(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Fallback>;

    fn record(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Fallback>;
}

const RESOURCE_X: u32 = 1;
const RESOURCE: u32 = 1;
const SCOPE_X: u32 = 2;
const SCOPE: u32 = 1;
const RECORD: u32 = 2;

/// Runs `r` over the request `bytes`; `None`: nothing changed.
pub fn request<R: Rewrite>(bytes: &[u8], r: &mut R) -> Result<Option<Vec<u8>>, Fallback> {
    let mut out = Splice::new(bytes);
    for f in fields(bytes) {
        let f = f?;
        if let Some(body) = f.len_of(RESOURCE_X) {
            if let Some(new) = resource_x(body, r)? {
                out.replace(&f, RESOURCE_X, &new);
            }
        }
    }
    Ok(out.finish())
}

fn resource_x<R: Rewrite>(bytes: &[u8], r: &mut R) -> Result<Option<Vec<u8>>, Fallback> {
    let mut out = Splice::new(bytes);
    let mut resources = 0;
    for f in fields(bytes) {
        let f = f?;
        if let Some(body) = f.len_of(RESOURCE) {
            // Protobuf merges a resource given twice; the decoded path does that.
            resources += 1;
            if resources > 1 {
                return Err(Fallback);
            }
            if let Some(new) = r.resource(Some(body))? {
                out.replace(&f, RESOURCE, &new);
            }
        } else if let (true, Some(body)) = (R::RECORDS, f.len_of(SCOPE_X)) {
            if let Some(new) = scope_x(body, r)? {
                out.replace(&f, SCOPE_X, &new);
            }
        }
    }
    if resources == 0 {
        if let Some(new) = r.resource(None)? {
            out.append(RESOURCE, &new);
        }
    }
    Ok(out.finish())
}

fn scope_x<R: Rewrite>(bytes: &[u8], r: &mut R) -> Result<Option<Vec<u8>>, Fallback> {
    let mut out = Splice::new(bytes);
    let mut scopes = 0;
    for f in fields(bytes) {
        let f = f?;
        if let Some(body) = f.len_of(SCOPE) {
            scopes += 1;
            if scopes > 1 {
                return Err(Fallback);
            }
            if let Some(new) = r.scope(body)? {
                out.replace(&f, SCOPE, &new);
            }
        } else if let Some(body) = f.len_of(RECORD) {
            if let Some(new) = r.record(body)? {
                out.replace(&f, RECORD, &new);
            }
        }
    }
    Ok(out.finish())
}
