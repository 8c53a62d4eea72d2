//! Processors on the encoded request (see `ccpipe_otlp::rewrite`): what a
//! processor's wire path returns.

pub use ccpipe_otlp::rewrite::Fallback;

/// What a processor did to an encoded request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rewritten {
    /// The new request; `None`: unchanged, keep the bytes as they are.
    pub bytes: Option<Vec<u8>>,
    /// Items merged away (DELTA sum points made identical by redaction).
    pub items_removed: usize,
}
