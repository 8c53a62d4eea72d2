//! Decoding an OTLP/HTTP body: inflate (with a cap, so a gzip bomb cannot
//! grow past the body limit), then protobuf or JSON into a [`Batch`].

use std::io::Read;

use bytes::Buf;
use ccpipe_pipeline::{otlp_json, Batch, Signal};
use flate2::read::MultiGzDecoder;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

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
    Protobuf(prost::DecodeError),
    #[error("malformed JSON body: {0}")]
    Json(otlp_json::JsonError),
}

/// Decodes one request body of `signal`. `body` may be split in chunks
/// (protobuf and gzip read across them without gathering); `limit` caps the
/// inflated size.
pub fn decode(
    signal: Signal,
    format: Format,
    encoding: Encoding,
    body: impl Buf,
    limit: usize,
) -> Result<Batch, DecodeError> {
    match encoding {
        Encoding::Identity => decode_plain(signal, format, body),
        Encoding::Gzip => {
            let inflated = inflate(body, limit)?;
            decode_plain(signal, format, inflated.as_slice())
        }
    }
}

fn decode_plain(signal: Signal, format: Format, mut body: impl Buf) -> Result<Batch, DecodeError> {
    match format {
        Format::Protobuf => decode_protobuf(signal, body).map_err(DecodeError::Protobuf),
        Format::Json => {
            // The JSON parser wants one slice; a single chunk is not copied.
            let bytes = body.copy_to_bytes(body.remaining());
            otlp_json::decode(signal, &bytes).map_err(DecodeError::Json)
        }
    }
}

pub fn decode_protobuf(signal: Signal, body: impl Buf) -> Result<Batch, prost::DecodeError> {
    Ok(match signal {
        Signal::Logs => Batch::Logs(ExportLogsServiceRequest::decode(body)?),
        Signal::Metrics => Batch::Metrics(ExportMetricsServiceRequest::decode(body)?),
        Signal::Traces => Batch::Traces(ExportTraceServiceRequest::decode(body)?),
    })
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
