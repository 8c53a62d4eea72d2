//! Decoding an OTLP/HTTP body: inflate (with a cap, so a gzip bomb cannot
//! grow past the body limit), then a protobuf check or a JSON decode into a
//! [`Payload`].

use std::io::Read;

use bytes::Buf;
use bytes::Bytes;
use ccpipe_pipeline::payload::{Encoded, Payload};
use ccpipe_pipeline::wire::WireError;
use ccpipe_pipeline::{otlp_json, Signal};
use flate2::read::MultiGzDecoder;

/// The body's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// The body's `content-encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the decompressed body is larger than max_request_body_size ({limit} bytes)")]
    TooLarge { limit: usize },
    #[error("malformed gzip body: {0}")]
    Gzip(std::io::Error),
    #[error("malformed protobuf body: {0}")]
    Protobuf(WireError),
    #[error("malformed JSON body: {0}")]
    Json(otlp_json::JsonError),
}

/// Checks one request body of `signal` into a [`Payload`]: protobuf is
/// validated and kept encoded (decoded later only if a stage needs it), JSON
/// is decoded. `body` may be split in chunks; `limit` caps the inflated size.
pub fn decode(
    signal: Signal,
    format: Format,
    encoding: Encoding,
    mut body: impl Buf,
    limit: usize,
) -> Result<Payload, DecodeError> {
    let bytes = match encoding {
        // A body that arrived in one chunk is not copied.
        Encoding::Identity => body.copy_to_bytes(body.remaining()),
        Encoding::Gzip => Bytes::from(inflate(body, limit)?),
    };
    match format {
        Format::Protobuf => Ok(Payload::Encoded(
            Encoded::new(signal, bytes).map_err(DecodeError::Protobuf)?,
        )),
        Format::Json => Ok(Payload::Decoded(
            otlp_json::decode(signal, &bytes).map_err(DecodeError::Json)?,
        )),
    }
}

/// Inflates a gzip body (one or more members), reading at most `limit + 1`
/// bytes of output so memory stays bounded by the limit.
fn inflate(body: impl Buf, limit: usize) -> Result<Vec<u8>, DecodeError> {
    // Protobuf compresses about 5:1; start there and let the Vec grow.
    let guess = body.remaining().saturating_mul(5).min(limit);
    let mut out = Vec::with_capacity(guess);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(body.reader())
        .take(cap)
        .read_to_end(&mut out)
        .map_err(DecodeError::Gzip)?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}
