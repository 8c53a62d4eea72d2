//! Processors on the encoded request: the protobuf bytes a client sent are
//! walked, the few messages a processor changes are decoded, changed and
//! re-encoded, and everything else is copied as bytes (or not copied at all
//! when nothing changed). Decoding a whole request into prost types, and the
//! allocations and frees that come with it, is what this avoids.
//!
//! [`proto`] reads and writes protobuf fields; [`rewrite`] walks an export
//! request (the three signals share its shape: request → resource-X →
//! scope-X → record) and splices in what a [`rewrite::Rewrite`] returns.
//! Anything the walk does not expect (groups, a resource given twice) is a
//! [`Fallback`]: the caller then runs the decoded path, which is the
//! reference the wire path is tested against.

pub(crate) mod proto;
pub(crate) mod rewrite;

/// The wire path cannot handle these bytes; run the decoded path instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback;

/// What a processor did to an encoded request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rewritten {
    /// The new request; `None`: unchanged, keep the bytes as they are.
    pub bytes: Option<Vec<u8>>,
    /// Items merged away (DELTA sum points made identical by redaction).
    pub items_removed: usize,
}
