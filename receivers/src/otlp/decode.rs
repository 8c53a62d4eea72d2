//! Decoding an OTLP/HTTP body: decompress (with a cap, so a gzip, deflate or
//! zstd bomb cannot grow past the body limit), then a protobuf check or a JSON decode into a
//! [`Batch`], refusing attributes over the [`Limits`].

use std::io::Read;

use bytes::Buf;
use bytes::Bytes;
use ccpipe_pipeline::limits::{LimitError, Limits};
use ccpipe_pipeline::wire::{self, ScanError, WireError};
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::Encoded;
use ccpipe_pipeline::{otlp_json, Signal};
use flate2::read::{MultiGzDecoder, ZlibDecoder};

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
    /// HTTP's `deflate`: a zlib stream (RFC 9110), as the Collector reads it.
    Deflate,
    Zstd,
}

impl Encoding {
    /// The `content-encoding` token, as errors name it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Zstd => "zstd",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the decompressed body is larger than max_request_body_size ({limit} bytes)")]
    TooLarge { limit: usize },
    #[error("malformed {} body: {error}", encoding.name())]
    Compressed {
        encoding: Encoding,
        error: std::io::Error,
    },
    #[error("malformed protobuf body: {0}")]
    Protobuf(WireError),
    #[error("malformed JSON body: {0}")]
    Json(otlp_json::JsonError),
    /// serde_json's recursion limit, said plainly.
    #[error(
        "malformed JSON body: line {line} column {column}: objects and arrays nested more than \
         {JSON_NESTING_LIMIT} deep"
    )]
    JsonTooDeep { line: usize, column: usize },
    /// Well-formed, but over a limit; `items` is what the request held.
    #[error("{error}")]
    OverLimits { error: LimitError, items: usize },
}

/// How deeply serde_json lets objects and arrays nest (its recursion limit
/// of 128 counts the one that fails).
pub const JSON_NESTING_LIMIT: usize = 127;

pub const DEFAULT_MAX_ATTRIBUTE_DEPTH: usize = 16;
pub const DEFAULT_MAX_ATTRIBUTES: usize = 256;
/// The limits the receiver enforces when `limits` is not set.
pub const DEFAULT_LIMITS: Limits = Limits {
    max_attribute_depth: DEFAULT_MAX_ATTRIBUTE_DEPTH,
    max_attributes: DEFAULT_MAX_ATTRIBUTES,
};

/// [`decode_within`] with the receiver's default limits.
pub fn decode(
    signal: Signal,
    format: Format,
    encoding: Encoding,
    body: impl Buf,
    limit: usize,
) -> Result<Batch, DecodeError> {
    decode_within(signal, format, encoding, body, limit, &DEFAULT_LIMITS)
}

/// The body in an allocation of exactly its size. A body that arrived in
/// one chunk is a slice of the connection's read buffer (hyper's grows to
/// ~400 KiB; tonic's to the largest message), and kept as it came it would
/// pin that whole buffer for as long as the request waits in queues and
/// batches, while the queues weigh only its length: that was most of the
/// peak resident set under load (heaptrack, bench/README.md). The copy
/// costs well under 0.1 µs per record.
pub(crate) fn exact_copy(mut body: impl Buf) -> Bytes {
    let mut exact = Vec::with_capacity(body.remaining());
    while body.has_remaining() {
        let chunk = body.chunk();
        exact.extend_from_slice(chunk);
        let n = chunk.len();
        body.advance(n);
    }
    Bytes::from(exact)
}

/// Checks one request body of `signal` into a [`Batch`]: protobuf is
/// validated and kept encoded (decoded later only if a stage needs it), JSON
/// is transcoded to protobuf and kept encoded too, or decoded when unusual.
/// `body` may be split in chunks; `limit` caps the inflated size;
/// attributes over `limits` refuse the request.
pub fn decode_within(
    signal: Signal,
    format: Format,
    encoding: Encoding,
    body: impl Buf,
    limit: usize,
    limits: &Limits,
) -> Result<Batch, DecodeError> {
    let bytes = match encoding {
        Encoding::Identity => exact_copy(body),
        compressed => Bytes::from(decompress(compressed, body, limit)?),
    };
    check(signal, format, bytes, limits)
}

/// [`decode_within`] for a body read into an allocation of its own size
/// (the HTTP server's): kept as it is, without a second copy.
pub(crate) fn decode_read(
    signal: Signal,
    format: Format,
    encoding: Encoding,
    body: Bytes,
    limit: usize,
    limits: &Limits,
) -> Result<Batch, DecodeError> {
    let bytes = match encoding {
        Encoding::Identity => body,
        compressed => Bytes::from(decompress(compressed, body, limit)?),
    };
    check(signal, format, bytes, limits)
}

/// The body's bytes, inflated, checked into a [`Batch`].
fn check(
    signal: Signal,
    format: Format,
    bytes: Bytes,
    limits: &Limits,
) -> Result<Batch, DecodeError> {
    match format {
        Format::Protobuf => match Encoded::within(signal, bytes.clone(), limits) {
            Ok(encoded) => Ok(Batch::from(encoded)),
            Err(ScanError::Malformed(e)) => Err(DecodeError::Protobuf(e)),
            // Only a refused request pays for counting its items.
            Err(ScanError::Limit(error)) => Err(DecodeError::OverLimits {
                error,
                items: wire::scan(signal, &bytes).unwrap_or(0),
            }),
        },
        Format::Json => {
            // Kept encoded as protobuf when it transcodes (items and limits
            // counted as it writes, as the scan above would find them);
            // decoded otherwise, and also when over the limits, so the error
            // is the decoded batch's.
            if let Ok(encoded) = otlp_json::to_encoded(signal, &bytes, limits) {
                return Ok(Batch::from(encoded));
            }
            let payload = otlp_json::decode(signal, &bytes)
                .map(Batch::from)
                .map_err(json_error)?;
            match payload.check_limits(limits) {
                Ok(()) => Ok(payload),
                Err(error) => Err(DecodeError::OverLimits {
                    error,
                    items: payload.item_count(),
                }),
            }
        }
    }
}

fn json_error(e: otlp_json::JsonError) -> DecodeError {
    match e.reason() {
        "recursion limit exceeded" => DecodeError::JsonTooDeep {
            line: e.line(),
            column: e.column(),
        },
        _ => DecodeError::Json(e),
    }
}

/// The largest zstd window a body may ask for (log2): 8 MiB. Encoders use at
/// most that for the levels up to 19 (OTLP clients use the default, 3), and
/// the decoder allocates the window before it writes a byte, so without this a
/// tiny frame could reserve zstd's own default maximum of 128 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Decompresses a gzip (one or more members), deflate or zstd body, reading at
/// most `limit + 1` bytes of output so memory stays bounded by the limit.
/// gRPC's zstd messages come here too (`grpc_zstd`).
pub(super) fn decompress(
    encoding: Encoding,
    body: impl Buf,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    // Protobuf compresses about 5:1; start there and let the Vec grow.
    let guess = body.remaining().saturating_mul(5).min(limit);
    let mut out = Vec::with_capacity(guess);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let malformed = |error| DecodeError::Compressed { encoding, error };
    let reader = body.reader();
    let read = match encoding {
        Encoding::Identity => reader.take(cap).read_to_end(&mut out),
        Encoding::Gzip => MultiGzDecoder::new(reader).take(cap).read_to_end(&mut out),
        Encoding::Deflate => ZlibDecoder::new(reader).take(cap).read_to_end(&mut out),
        Encoding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(reader).map_err(malformed)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(malformed)?;
            decoder.take(cap).read_to_end(&mut out)
        }
    };
    read.map_err(malformed)?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    // The Vec grew by doubling; the request keeps its allocation for as long
    // as it waits in queues, which weigh only its length.
    if out.capacity() - out.len() > out.len() / 8 {
        out.shrink_to_fit();
    }
    Ok(out)
}
