//! OTLP/HTTP: `POST` of protobuf or JSON export requests, plain or gzip, on
//! HTTP/1.1 (keep-alive) and HTTP/2 prior knowledge on the same port.
//!
//! Every answer is short and immediate: 200 with an empty export response in
//! the request's encoding; otherwise a `google.rpc.Status` (code, message) in
//! that encoding, or plain text when the content type was unusable. Bodies
//! are capped as sent (by `content-length`, then while reading) and after
//! decompression. An HTTP/1 connection stays usable after a 4xx whenever the
//! request body could be read to its end.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use super::body::BodyError;
use super::conn::Acceptor;
use super::decode::{self, DecodeError, Encoding, Format};
use super::sink::{Sink, Transport, UNAUTHENTICATED};
use bytes::Bytes;
use ccpipe_pipeline::outputs::Refused;
use ccpipe_pipeline::{ServerError, Shutdown, Signal};
use http::header::{
    ALLOW, AUTHORIZATION, CONNECTION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;

/// What the HTTP server needs beyond its listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Largest body accepted, as sent and after decompression, in bytes.
    pub max_request_body_size: usize,
    pub logs_path: String,
    pub metrics_path: String,
    pub traces_path: String,
    /// How long a client may take to send a request's headers (HTTP/1),
    /// and its first byte after connecting.
    pub read_header_timeout: Duration,
    /// How long a connection may stay silent between requests.
    pub idle_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub read_timeout: Duration,
}

impl HttpSettings {
    fn route(&self, path: &str) -> Option<Signal> {
        if path == self.logs_path {
            Some(Signal::Logs)
        } else if path == self.metrics_path {
            Some(Signal::Metrics)
        } else if path == self.traces_path {
            Some(Signal::Traces)
        } else {
            None
        }
    }
}

/// Bodies larger than this (estimated after inflating) are decoded on the
/// blocking pool, so a big request does not stall other connections.
const INLINE_DECODE_MAX: usize = 128 * 1024;
/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";
/// HTTP/2 streams per connection on the HTTP port.
const MAX_CONCURRENT_STREAMS: u32 = 100;
/// The most an HTTP/1 connection's read buffer grows to (hyper's default is
/// ~400 KiB; 64 KiB until session 6): 32 busy connections' buffers held
/// 3.5 MB at 64 KiB (heaptrack, bench/README.md). A body is read in chunks
/// of at most this and copied into one allocation as they come
/// (`read_body`); request headers must fit in it (hyper answers 431
/// otherwise; 16 KiB is twice what common proxies allow).
const HTTP1_READ_BUFFER: usize = 16 << 10;

/// Serves OTLP/HTTP on `listener` until `shutdown` fires, then stops
/// accepting and lets in-flight requests finish (idle connections close).
pub async fn serve(
    listener: impl Into<Acceptor>,
    settings: HttpSettings,
    sink: Arc<Sink>,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let acceptor: Acceptor = listener.into();
    let header_read_timeout = settings.read_header_timeout;
    let handler = Arc::new(Handler { settings, sink });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(HTTP1_READ_BUFFER)
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    while let Some(incoming) = acceptor.accept("http", &shutdown).await {
        let handler = handler.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match incoming.establish().await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::debug!(error = %e, "OTLP/HTTP: TLS handshake failed");
                    return;
                }
            };
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler.answer(req).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "OTLP/HTTP connection ended with an error");
            }
        });
    }
    // Close the port now, then wait for the open connections.
    drop(acceptor);
    graceful.shutdown().await;
    Ok(())
}

struct Handler {
    settings: HttpSettings,
    sink: Arc<Sink>,
}

impl Handler {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let http1 = parts.version < Version::HTTP_2;
        let reply = self.handle(&parts.method, parts.uri.path(), &parts.headers, body, http1);
        reply.await.into_response(http1)
    }

    async fn handle(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: Incoming,
        http1: bool,
    ) -> Reply {
        let limit = self.settings.max_request_body_size;
        let within = self.settings.read_timeout;
        if !self
            .sink
            .admits(headers.get(AUTHORIZATION), Transport::Http)
        {
            let mut reply = Reply::error(
                content_type(headers),
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                UNAUTHENTICATED,
            );
            reply.www_authenticate = true;
            return reply.after_draining(body, limit, within, http1).await;
        }
        let Some(signal) = self.settings.route(path) else {
            let s = &self.settings;
            let msg = format!(
                "unknown path {path:?}; OTLP/HTTP is served on {}, {} and {}",
                s.logs_path, s.metrics_path, s.traces_path
            );
            let reply = Reply::error(None, StatusCode::NOT_FOUND, Code::NotFound, msg);
            return reply.after_draining(body, limit, within, http1).await;
        };
        if method != Method::POST {
            let mut reply = Reply::error(
                None,
                StatusCode::METHOD_NOT_ALLOWED,
                Code::Unimplemented,
                format!("{method} is not allowed on {path}; use POST"),
            );
            reply.allow_post = true;
            return reply.after_draining(body, limit, within, http1).await;
        }
        let Some(format) = content_type(headers) else {
            let reply = Reply::error(
                None,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                "unsupported content-type; use application/x-protobuf or application/json",
            );
            return reply.after_draining(body, limit, within, http1).await;
        };
        let Some(encoding) = content_encoding(headers) else {
            let reply = Reply::error(
                Some(format),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                "unsupported content-encoding; use gzip, zstd, deflate or identity",
            );
            return reply.after_draining(body, limit, within, http1).await;
        };
        // Bodies in flight count against the memory limit until decoded.
        if !self.sink.has_room_for(body.size_hint().lower()) {
            self.sink.refused_unread(Transport::Http, "memory_limit");
            return Reply::refused(format, &Refused::MemoryLimit).closing();
        }
        // Read the body only once it has its intake share and the pipelines
        // have room for it (or the wait is over): under overload it stays in
        // the kernel meanwhile. Share first: looking for room first let every
        // connection through while the queue had a free slot, each then read
        // and decoded in turn to wait beside the full queue (2.5 MB of the
        // datadog chain's 8 MB heap peak over HTTP/JSON at 32 connections).
        let sent = body.size_hint().lower();
        let deadline = self.sink.deadline();
        let intake = self.sink.intake(sent, deadline).await;
        let weight = expected_weight(sent, format, encoding, limit);
        self.sink.wait_for_room(signal, weight, deadline).await;
        let body = self.sink.meter(body, None);
        let held = body.held();
        let raw = match read_body(body, limit, within).await {
            Ok(raw) => raw,
            Err(ReadError::OverMemory) => {
                self.sink.refused_unread(Transport::Http, "memory_limit");
                return Reply::refused(format, &Refused::MemoryLimit).closing();
            }
            Err(ReadError::TooLarge) => {
                self.sink.refused_unread(Transport::Http, "too_large");
                let msg = format!("the body is larger than max_request_body_size ({limit} bytes)");
                return Reply::error(
                    Some(format),
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Code::ResourceExhausted,
                    msg,
                )
                .closing();
            }
            Err(ReadError::Timeout) => {
                self.sink.refused_unread(Transport::Http, "read_timeout");
                let msg = "the body was not received in time";
                return Reply::error(
                    Some(format),
                    StatusCode::REQUEST_TIMEOUT,
                    Code::DeadlineExceeded,
                    msg,
                )
                .closing();
            }
            Err(ReadError::Io(e)) => {
                let msg = format!("cannot read the body: {e}");
                return Reply::error(
                    Some(format),
                    StatusCode::BAD_REQUEST,
                    Code::InvalidArgument,
                    msg,
                )
                .closing();
            }
        };
        // Compressed protobuf inflates about 5-10x: count compressed bytes 8 times.
        let work_estimate = match encoding {
            Encoding::Identity => raw.len(),
            Encoding::Gzip | Encoding::Deflate | Encoding::Zstd => raw.len().saturating_mul(8),
        };
        let limits = *self.sink.limits();
        let decoded = if work_estimate <= INLINE_DECODE_MAX {
            decode::decode_read(signal, format, encoding, raw, limit, &limits)
        } else {
            let work = move || decode::decode_read(signal, format, encoding, raw, limit, &limits);
            match tokio::task::spawn_blocking(work).await {
                Ok(decoded) => decoded,
                Err(e) => {
                    let msg = format!("cannot decode the body: {e}");
                    return Reply::error(
                        Some(format),
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Code::Internal,
                        msg,
                    );
                }
            }
        };
        // Decoded: the memory limit counts the batch in the queues from here.
        drop(held);
        let batch = match decoded {
            Ok(batch) => batch,
            Err(e @ DecodeError::TooLarge { .. }) => {
                return Reply::error(
                    Some(format),
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Code::ResourceExhausted,
                    e,
                )
            }
            Err(DecodeError::OverLimits { error, items }) => {
                let msg = self
                    .sink
                    .over_limits(signal, Transport::Http, items, &error);
                return Reply::error(
                    Some(format),
                    StatusCode::BAD_REQUEST,
                    Code::InvalidArgument,
                    msg,
                );
            }
            Err(e) => {
                return Reply::error(
                    Some(format),
                    StatusCode::BAD_REQUEST,
                    Code::InvalidArgument,
                    e,
                )
            }
        };
        let delivered = self.sink.deliver_by(batch, Transport::Http, deadline).await;
        // Held until the batch is in the queues (or refused), so a decoded
        // batch that still waits for room counts against the share too.
        drop(intake);
        match delivered {
            Ok(()) => Reply::ok(format),
            Err(refused) => Reply::refused(format, &refused),
        }
    }
}

/// The media type of `content-type`, ignoring parameters such as `charset`.
fn content_type(headers: &HeaderMap) -> Option<Format> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim();
    if media.eq_ignore_ascii_case("application/x-protobuf") {
        Some(Format::Protobuf)
    } else if media.eq_ignore_ascii_case("application/json") {
        Some(Format::Json)
    } else {
        None
    }
}

/// `content-encoding`: absent or identity, gzip, deflate or zstd.
fn content_encoding(headers: &HeaderMap) -> Option<Encoding> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Some(Encoding::Identity);
    };
    let value = value.to_str().ok()?.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("identity") {
        Some(Encoding::Identity)
    } else if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
        Some(Encoding::Gzip)
    } else if value.eq_ignore_ascii_case("deflate") {
        Some(Encoding::Deflate)
    } else if value.eq_ignore_ascii_case("zstd") {
        Some(Encoding::Zstd)
    } else {
        None
    }
}

enum ReadError {
    TooLarge,
    Timeout,
    OverMemory,
    Io(String),
}

/// What a request body of `sent` bytes (its `content-length`; 0 when not
/// given) is expected to weigh in the pipeline queues: protobuf as sent,
/// JSON transcoded to protobuf (Claude Code's come out at 0.52-0.53 of
/// their JSON), a compressed body inflated about 5 times; never more than
/// the body limit.
fn expected_weight(sent: u64, format: Format, encoding: Encoding, limit: usize) -> usize {
    let sent = usize::try_from(sent).unwrap_or(usize::MAX);
    let inflated = match encoding {
        Encoding::Identity => sent,
        Encoding::Gzip | Encoding::Deflate | Encoding::Zstd => sent.saturating_mul(5),
    };
    let weight = match format {
        Format::Protobuf => inflated,
        Format::Json => inflated / 16 * 9,
    };
    weight.min(limit)
}

/// Reads the whole body, up to `limit` bytes, into one allocation of its
/// `content-length`. A `content-length` over the limit is refused before
/// reading anything. Each chunk is copied as it arrives and let go, so
/// hyper reuses its read buffer and the body is never held twice (as its
/// chunks and as the contiguous copy decoding needs).
async fn read_body<B>(body: B, limit: usize, within: Duration) -> Result<Bytes, ReadError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let sent = body.size_hint().lower();
    if sent > limit as u64 {
        return Err(ReadError::TooLarge);
    }
    let mut out = Vec::with_capacity(usize::try_from(sent).unwrap_or(limit).min(limit));
    let read = copy_frames(body, limit, &mut out);
    match tokio::time::timeout(within, read).await {
        Err(_) => return Err(ReadError::Timeout),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
    }
    // A body without a content-length grew by doubling; it waits in queues
    // that weigh only its length.
    if out.capacity() - out.len() > out.len() / 8 {
        out.shrink_to_fit();
    }
    Ok(Bytes::from(out))
}

/// Appends the data frames of `body` to `out`, failing past `limit` bytes.
async fn copy_frames<B>(body: B, limit: usize, out: &mut Vec<u8>) -> Result<(), ReadError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let e: Box<dyn std::error::Error + Send + Sync> = e.into();
            match e.downcast_ref() {
                Some(BodyError::OverMemory) => ReadError::OverMemory,
                _ => ReadError::Io(e.to_string()),
            }
        })?;
        if let Some(data) = frame.data_ref() {
            if data.len() > limit - out.len() {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(data);
        }
    }
    Ok(())
}

/// Reads and discards the body of a refused HTTP/1 request so the connection
/// can serve the next one. `false` when that is not possible in time and
/// within `limit` bytes: the connection must then close.
async fn drain(mut body: Incoming, limit: usize, within: Duration) -> bool {
    if body.is_end_stream() {
        return true;
    }
    if body.size_hint().lower() > limit as u64 {
        return false;
    }
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = 0usize;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(None) => return true,
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, Bytes::len);
                if seen > limit {
                    return false;
                }
            }
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
}

/// gRPC status codes used in the `google.rpc.Status` of error answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(serde::Serialize)]
struct JsonStatus<'a> {
    code: i32,
    message: &'a str,
}

/// An answer, before it is encoded.
struct Reply {
    status: StatusCode,
    /// The request's encoding, when it was usable; errors are plain text otherwise.
    format: Option<Format>,
    /// `None` for success.
    error: Option<(Code, String)>,
    allow_post: bool,
    retry_after: bool,
    www_authenticate: bool,
    close: bool,
}

impl Reply {
    fn ok(format: Format) -> Reply {
        Reply {
            status: StatusCode::OK,
            format: Some(format),
            error: None,
            allow_post: false,
            retry_after: false,
            www_authenticate: false,
            close: false,
        }
    }

    fn error(
        format: Option<Format>,
        status: StatusCode,
        code: Code,
        message: impl std::fmt::Display,
    ) -> Reply {
        Reply {
            status,
            format,
            error: Some((code, message.to_string())),
            allow_post: false,
            retry_after: false,
            www_authenticate: false,
            close: false,
        }
    }

    fn refused(format: Format, refused: &Refused) -> Reply {
        match refused {
            Refused::NoPipeline(_) => Reply::error(
                Some(format),
                StatusCode::NOT_FOUND,
                Code::Unimplemented,
                refused,
            ),
            Refused::Busy(_) | Refused::ShuttingDown | Refused::MemoryLimit => Reply {
                retry_after: true,
                ..Reply::error(
                    Some(format),
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::Unavailable,
                    refused,
                )
            },
        }
    }

    /// Asks for the connection to close after this answer.
    fn closing(mut self) -> Reply {
        self.close = true;
        self
    }

    /// Drains the unread request body first (HTTP/1 only), or closes.
    async fn after_draining(
        self,
        body: Incoming,
        limit: usize,
        within: Duration,
        http1: bool,
    ) -> Reply {
        if http1 && !drain(body, limit, within).await {
            return self.closing();
        }
        self
    }

    fn into_response(self, http1: bool) -> Response<Full<Bytes>> {
        let (content_type, body) = match (&self.error, self.format) {
            (None, Some(Format::Protobuf)) => (Format::Protobuf.content_type(), Bytes::new()),
            (None, _) => (Format::Json.content_type(), Bytes::from_static(b"{}")),
            (Some((code, message)), Some(Format::Protobuf)) => {
                let status = RpcStatus {
                    code: *code as i32,
                    message: message.clone(),
                };
                (
                    Format::Protobuf.content_type(),
                    Bytes::from(prost::Message::encode_to_vec(&status)),
                )
            }
            (Some((code, message)), Some(Format::Json)) => {
                let status = JsonStatus {
                    code: *code as i32,
                    message,
                };
                let json = serde_json::to_vec(&status).unwrap_or_default();
                (Format::Json.content_type(), Bytes::from(json))
            }
            (Some((_, message)), None) => (
                "text/plain; charset=utf-8",
                Bytes::from(format!("{message}\n")),
            ),
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if self.allow_post {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        if self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        if self.www_authenticate {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.close && http1 {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
