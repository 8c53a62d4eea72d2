//! How an OTLP destination's answer is read: gRPC status codes and HTTP
//! statuses sorted into retryable, permanent and too-large, the delays a
//! destination asks for (RetryInfo, Retry-After), and error bodies as text.

use std::io::Write;
use std::time::Duration;

use ccpipe_pipeline::ExportError;
use prost::Message;
use tonic::{Code, Status};

pub use crate::http_client::{parse_retry_after, MAX_RETRY_AFTER};

/// The largest answer body read (errors and partial-success messages).
pub(super) const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// How one attempt went wrong.
pub(super) enum Failure {
    /// The destination refused the size of the request: split and resend.
    TooLarge(String),
    Error(ExportError),
}

impl Failure {
    /// The same failure for a call that got no answer: `at` says where it
    /// was going, and the transport's root cause ("Connection refused")
    /// follows the message unless the message already says it.
    pub(super) fn unanswered(self, at: &str, cause: &dyn std::error::Error) -> Failure {
        let mut root = cause;
        while let Some(next) = root.source() {
            root = next;
        }
        let root = root.to_string();
        let reword = |message: String| match message.contains(&root) {
            true => format!("{at}: {message}"),
            false => format!("{at}: {message}: {root}"),
        };
        match self {
            Failure::TooLarge(m) => Failure::TooLarge(reword(m)),
            Failure::Error(ExportError::Retryable {
                message,
                retry_after,
            }) => Failure::Error(ExportError::Retryable {
                message: reword(message),
                retry_after,
            }),
            Failure::Error(ExportError::Permanent(m)) => {
                Failure::Error(ExportError::Permanent(reword(m)))
            }
        }
    }
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Self {
        Failure::Error(e)
    }
}

/// An HTTP answer that is not a success: 429 and 502-504 retry (after
/// Retry-After), 413 splits, anything else is permanent.
pub(super) fn classify_http(status: u16, reason: String, retry_after: Option<Duration>) -> Failure {
    match status {
        429 | 502 | 503 | 504 => Failure::Error(ExportError::Retryable {
            message: reason,
            retry_after,
        }),
        413 => Failure::TooLarge(reason),
        _ => Failure::Error(ExportError::Permanent(reason)),
    }
}

/// The OTLP rule: transient codes retry (RESOURCE_EXHAUSTED too: the Agent
/// uses it for backpressure), the rest cannot succeed by resending.
pub(super) fn classify_status(status: &Status) -> Failure {
    let reason = format!("gRPC {:?}: {}", status.code(), status.message());
    match status.code() {
        Code::ResourceExhausted if status.message().contains("larger than max") => {
            Failure::TooLarge(reason)
        }
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Cancelled
        | Code::OutOfRange
        | Code::DataLoss => Failure::Error(ExportError::Retryable {
            message: reason,
            retry_after: retry_info(status.details()),
        }),
        _ => Failure::Error(ExportError::Permanent(reason)),
    }
}

/// `google.rpc.Status`, as sent in `grpc-status-details-bin` and as the
/// body of OTLP/HTTP errors.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[cfg(test)]
pub(crate) const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The delay in a `google.rpc.RetryInfo` detail, if the status carries one.
fn retry_info(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let any = status
        .details
        .iter()
        .find(|a| a.type_url.ends_with("google.rpc.RetryInfo"))?;
    let d = RetryInfo::decode(&any.value[..]).ok()?.retry_delay?;
    let d = Duration::new(u64::try_from(d.seconds).ok()?, u32::try_from(d.nanos).ok()?);
    Some(d.min(MAX_RETRY_AFTER))
}

/// An error body as text: the message of a protobuf `google.rpc.Status`
/// (what OTLP receivers send), else the start of the body.
pub(super) fn error_text(body: &[u8], protobuf: bool) -> String {
    if protobuf {
        if let Ok(s) = RpcStatus::decode(body) {
            if !s.message.is_empty() {
                return s.message;
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None if text.is_empty() => "(no body)".into(),
        None => text.to_owned(),
    }
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(super) fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(len / 4 + 64),
        flate2::Compression::fast(),
    );
    for part in parts {
        enc.write_all(part).expect("writing to memory");
    }
    enc.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(f: Failure) -> String {
        match f {
            Failure::TooLarge(m) => format!("too large: {m}"),
            Failure::Error(ExportError::Retryable {
                message,
                retry_after,
            }) => {
                format!("retryable {retry_after:?}: {message}")
            }
            Failure::Error(ExportError::Permanent(m)) => format!("permanent: {m}"),
        }
    }

    #[test]
    fn grpc_codes_are_classified() {
        let details = RpcStatus {
            code: Code::Unavailable as i32,
            message: "busy".into(),
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE.into(),
                value: RetryInfo {
                    retry_delay: Some(ProtoDuration {
                        seconds: 2,
                        nanos: 500_000_000,
                    }),
                }
                .encode_to_vec(),
            }],
        }
        .encode_to_vec();
        let with_info = Status::with_details(Code::Unavailable, "busy", details.into());
        assert_eq!(
            kind(classify_status(&with_info)),
            "retryable Some(2.5s): gRPC Unavailable: busy"
        );
        assert_eq!(
            kind(classify_status(&Status::resource_exhausted("slow down"))),
            "retryable None: gRPC ResourceExhausted: slow down"
        );
        assert_eq!(
            kind(classify_status(&Status::resource_exhausted(
                "grpc: received message larger than max (9 vs. 4)"
            ))),
            "too large: gRPC ResourceExhausted: grpc: received message larger than max (9 vs. 4)"
        );
        assert_eq!(
            kind(classify_status(&Status::invalid_argument("bad span id"))),
            "permanent: gRPC InvalidArgument: bad span id"
        );
        assert_eq!(
            kind(classify_status(&Status::unauthenticated("who"))),
            "permanent: gRPC Unauthenticated: who"
        );
    }

    #[test]
    fn error_bodies_are_readable() {
        let status = RpcStatus {
            code: 3,
            message: "field 7 is bad".into(),
            details: vec![],
        };
        assert_eq!(error_text(&status.encode_to_vec(), true), "field 7 is bad");
        assert_eq!(error_text(b"  plain words\n", false), "plain words");
        assert_eq!(error_text(b"", false), "(no body)");
        assert_eq!(
            error_text("x".repeat(300).as_bytes(), false)
                .chars()
                .count(),
            201
        );
    }
}
