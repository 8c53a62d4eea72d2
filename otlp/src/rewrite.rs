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
use proto::{fields, Field};

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
///
/// The new request is written once: the walk notes which runs of the
/// original and which new bytes make it up (the lengths of the messages
/// around a change follow from them), and only then copies them into one
/// buffer of the right size. Rebuilding each enclosing message in turn
/// copied most of a request three times (`memmove` was 8 % of the chain).
pub fn request<R: Rewrite>(bytes: &[u8], r: &mut R) -> Result<Option<Vec<u8>>, Fallback> {
    let mut out = Pieces::new(bytes);
    let mut body = Body::new(&out, bytes);
    for f in fields(bytes) {
        let f = f?;
        if let Some(inner) = f.len_of(RESOURCE_X) {
            body.nested(&mut out, &f, RESOURCE_X, |out| resource_x(out, inner, r))?;
        }
    }
    Ok(body.finish(&mut out).map(|len| out.write(len)))
}

fn resource_x<R: Rewrite>(
    out: &mut Pieces<'_>,
    bytes: &[u8],
    r: &mut R,
) -> Result<Option<usize>, Fallback> {
    let mut body = Body::new(out, bytes);
    let mut resources = 0;
    for f in fields(bytes) {
        let f = f?;
        if let Some(inner) = f.len_of(RESOURCE) {
            // Protobuf merges a resource given twice; the decoded path does that.
            resources += 1;
            if resources > 1 {
                return Err(Fallback);
            }
            if let Some(new) = r.resource(Some(inner))? {
                body.replace(out, &f, RESOURCE, &new);
            }
        } else if let (true, Some(inner)) = (R::RECORDS, f.len_of(SCOPE_X)) {
            body.nested(out, &f, SCOPE_X, |out| scope_x(out, inner, r))?;
        }
    }
    if resources == 0 {
        if let Some(new) = r.resource(None)? {
            body.append(out, RESOURCE, &new);
        }
    }
    Ok(body.finish(out))
}

fn scope_x<R: Rewrite>(
    out: &mut Pieces<'_>,
    bytes: &[u8],
    r: &mut R,
) -> Result<Option<usize>, Fallback> {
    let mut body = Body::new(out, bytes);
    let mut scopes = 0;
    for f in fields(bytes) {
        let f = f?;
        if let Some(inner) = f.len_of(SCOPE) {
            scopes += 1;
            if scopes > 1 {
                return Err(Fallback);
            }
            if let Some(new) = r.scope(inner)? {
                body.replace(out, &f, SCOPE, &new);
            }
        } else if let Some(inner) = f.len_of(RECORD) {
            if let Some(new) = r.record(inner)? {
                body.replace(out, &f, RECORD, &new);
            }
        }
    }
    Ok(body.finish(out))
}

/// A run of the new request: bytes of the original, or of `Pieces::new`.
#[derive(Debug, Clone, Copy)]
enum Piece {
    Old(usize, usize),
    New(usize, usize),
}

/// The new request as it is worked out: runs in output order.
struct Pieces<'a> {
    /// The original request; every message walked is a slice of it.
    src: &'a [u8],
    /// Bytes written anew: replaced messages and the keys and lengths
    /// of fields around them.
    new: Vec<u8>,
    runs: Vec<Piece>,
}

impl<'a> Pieces<'a> {
    fn new(src: &'a [u8]) -> Self {
        Pieces {
            src,
            new: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Where `part`, a slice of the original, starts in it.
    fn offset(&self, part: &[u8]) -> usize {
        part.as_ptr() as usize - self.src.as_ptr() as usize
    }

    /// Adds the original's bytes `from..to`; returns how many.
    fn old(&mut self, from: usize, to: usize) -> usize {
        if to > from {
            self.runs.push(Piece::Old(from, to));
        }
        to - from
    }

    /// Adds `bytes`; returns how many.
    fn add(&mut self, bytes: &[u8]) -> usize {
        let at = self.new.len();
        self.new.extend_from_slice(bytes);
        self.runs.push(Piece::New(at, self.new.len()));
        bytes.len()
    }

    /// The key and length of a length-delimited field `tag` of `len` bytes.
    fn header(&mut self, tag: u32, len: usize) -> Piece {
        let at = self.new.len();
        proto::put_varint(&mut self.new, (u64::from(tag) << 3) | u64::from(proto::LEN));
        proto::put_varint(&mut self.new, len as u64);
        Piece::New(at, self.new.len())
    }

    /// The request of `len` bytes the runs make up.
    fn write(self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        for run in &self.runs {
            out.extend_from_slice(match *run {
                Piece::Old(from, to) => &self.src[from..to],
                Piece::New(from, to) => &self.new[from..to],
            });
        }
        debug_assert_eq!(out.len(), len);
        out
    }
}

fn piece_len(p: Piece) -> usize {
    match p {
        Piece::Old(from, to) | Piece::New(from, to) => to - from,
    }
}

/// One message body of the original being rebuilt into [`Pieces`]: until
/// a field of it changes it adds nothing; after, the unchanged runs
/// between changes are added as they are.
struct Body {
    /// Where it starts and ends in the original, and how far its runs are added.
    start: usize,
    end: usize,
    copied: usize,
    /// Its new length so far; `None`: unchanged.
    len: Option<usize>,
}

impl Body {
    fn new(out: &Pieces<'_>, body: &[u8]) -> Body {
        let start = out.offset(body);
        Body {
            start,
            end: start + body.len(),
            copied: start,
            len: None,
        }
    }

    /// Adds the runs up to `field` (one of this body's) and skips it.
    fn up_to(&mut self, out: &mut Pieces<'_>, field: &Field<'_>) -> usize {
        let n = out.old(self.copied, self.start + field.start);
        self.copied = self.start + field.end;
        n
    }

    /// Replaces `field` by a length-delimited field `tag` holding `body`.
    fn replace(&mut self, out: &mut Pieces<'_>, field: &Field<'_>, tag: u32, body: &[u8]) {
        let mut n = self.up_to(out, field);
        let header = out.header(tag, body.len());
        out.runs.push(header);
        n += piece_len(header) + out.add(body);
        *self.len.get_or_insert(0) += n;
    }

    /// Replaces `field` by a field `tag` whose body `inner` adds to `out`
    /// (`Some(its length)`), or keeps it when `inner` changes nothing.
    fn nested(
        &mut self,
        out: &mut Pieces<'_>,
        field: &Field<'_>,
        tag: u32,
        inner: impl FnOnce(&mut Pieces<'_>) -> Result<Option<usize>, Fallback>,
    ) -> Result<(), Fallback> {
        let (mark, copied) = (out.runs.len(), self.copied);
        let run = self.up_to(out, field);
        // The header's place; its length is known once `inner` is done.
        let slot = out.runs.len();
        out.runs.push(Piece::New(0, 0));
        match inner(out)? {
            None => {
                out.runs.truncate(mark);
                self.copied = copied;
            }
            Some(len) => {
                let header = out.header(tag, len);
                out.runs[slot] = header;
                *self.len.get_or_insert(0) += run + piece_len(header) + len;
            }
        }
        Ok(())
    }

    /// Adds a length-delimited field at the end.
    fn append(&mut self, out: &mut Pieces<'_>, tag: u32, body: &[u8]) {
        let mut n = out.old(self.copied, self.end);
        self.copied = self.end;
        let header = out.header(tag, body.len());
        out.runs.push(header);
        n += piece_len(header) + out.add(body);
        *self.len.get_or_insert(0) += n;
    }

    /// Its new length, the rest of it added; `None` when nothing changed.
    fn finish(self, out: &mut Pieces<'_>) -> Option<usize> {
        let len = self.len?;
        Some(len + out.old(self.copied, self.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message;

    fn body(lr: &LogRecord) -> &str {
        match lr.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s,
            _ => "",
        }
    }

    fn record(text: &str) -> LogRecord {
        LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(text.into())),
            }),
            ..Default::default()
        }
    }

    /// Lengthens the bodies that say "grow" past 127 bytes (their
    /// enclosing lengths take a byte more), empties those that say
    /// "shrink", names every scope "s" and gives a resource to each
    /// resource-logs without one.
    struct Change;

    impl Change {
        fn on(lr: &mut LogRecord) -> bool {
            let new = match body(lr) {
                "grow" => "g".repeat(300),
                "shrink" => String::new(),
                _ => return false,
            };
            *lr = record(&new);
            true
        }
    }

    impl Rewrite for Change {
        const RECORDS: bool = true;

        fn resource(&mut self, body: Option<&[u8]>) -> Result<Option<Vec<u8>>, Fallback> {
            Ok(body.is_none().then(|| {
                Resource {
                    dropped_attributes_count: 7,
                    ..Default::default()
                }
                .encode_to_vec()
            }))
        }

        fn scope(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Fallback> {
            let mut s = InstrumentationScope::decode(body).map_err(|_| Fallback)?;
            Ok((s.name != "s").then(|| {
                s.name = "s".into();
                s.encode_to_vec()
            }))
        }

        fn record(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Fallback> {
            let mut lr = LogRecord::decode(body).map_err(|_| Fallback)?;
            Ok(Change::on(&mut lr).then(|| lr.encode_to_vec()))
        }
    }

    /// What `Change` does, on decoded records.
    fn changed(mut req: ExportLogsServiceRequest) -> ExportLogsServiceRequest {
        for rl in &mut req.resource_logs {
            rl.resource.get_or_insert(Resource {
                dropped_attributes_count: 7,
                ..Default::default()
            });
            for sl in &mut rl.scope_logs {
                if let Some(s) = &mut sl.scope {
                    s.name = "s".into();
                }
                sl.log_records.iter_mut().for_each(|lr| {
                    Change::on(lr);
                });
            }
        }
        req
    }

    /// Resource-logs (with a resource?) of scope-logs (with a scope?) of
    /// records with these bodies.
    type Shape<'a> = &'a [(bool, &'a [(bool, &'a [&'a str])])];

    fn request(shape: Shape<'_>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: shape
                .iter()
                .map(|(resource, scopes)| ResourceLogs {
                    resource: resource.then(Resource::default),
                    scope_logs: scopes
                        .iter()
                        .map(|(scope, records)| ScopeLogs {
                            scope: scope.then(|| InstrumentationScope {
                                name: "scope".into(),
                                ..Default::default()
                            }),
                            log_records: records.iter().map(|t| record(t)).collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn the_one_copy_writer_equals_changing_the_decoded_request() {
        let cases: &[Shape<'_>] = &[
            &[],
            &[(true, &[(false, &["keep", "keep"])])],
            &[(true, &[(false, &["keep", "grow", "keep", "shrink"])])],
            &[(false, &[(true, &["keep"]), (false, &["grow"])])],
            &[
                (true, &[(false, &["keep"]), (false, &["keep"])]),
                (true, &[(false, &["keep"]), (false, &["shrink", "grow"])]),
                (false, &[]),
                (true, &[(true, &[]), (false, &["x".repeat(200).leak()])]),
            ],
        ];
        for (i, shape) in cases.iter().enumerate() {
            let req = request(shape);
            let bytes = req.encode_to_vec();
            let got = super::request(&bytes, &mut Change).unwrap();
            let want = changed(req.clone());
            match got {
                None => assert_eq!(want, req, "case {i}: a change was missed"),
                Some(new) => {
                    assert_ne!(want, req, "case {i}: rewritten, nothing to change");
                    let got = ExportLogsServiceRequest::decode(&new[..]).unwrap();
                    assert_eq!(got, want, "case {i}");
                    assert_eq!(
                        crate::wire::scan(crate::Signal::Logs, &new),
                        Ok(want
                            .resource_logs
                            .iter()
                            .flat_map(|r| &r.scope_logs)
                            .map(|s| s.log_records.len())
                            .sum())
                    );
                }
            }
        }
    }
}
