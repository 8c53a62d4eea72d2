//! Agent mode: OTLP to a Datadog Agent's intake, over gRPC or HTTP/protobuf,
//! gzip-compressed by default. Plain HTTP only: the Agent is local.
//!
//! One call sends a batch once and classifies the outcome; the export task
//! owns the retries. The one thing handled here is a destination saying the
//! request is too large (HTTP 413, gRPC "larger than max"): the batch is cut
//! in half and both halves are sent, down to single items.
//!
//! | answer | result |
//! |---|---|
//! | gRPC OK, HTTP 2xx | sent; a partial success is logged and counted |
//! | gRPC UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, CANCELLED, OUT_OF_RANGE, DATA_LOSS | retryable, after RetryInfo's delay when given |
//! | HTTP 429, 502, 503, 504 | retryable, after Retry-After when given |
//! | no connection, timeout, broken response | retryable |
//! | HTTP 413, gRPC RESOURCE_EXHAUSTED "larger than max" | split in half; permanent for one item |
//! | other gRPC codes (INVALID_ARGUMENT, …), HTTP 400 and other statuses | permanent, with the reason |

use std::io::Write;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ccpipe_pipeline::{Batch, BoxFuture, ExportError, Signal};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::config::{AgentSettings, Compression, Protocol};

/// Items the destination rejected in a partial-success answer. Labels:
/// exporter, signal. (Kept here for now; belongs in pipeline telemetry.rs.)
pub const EXPORTER_REJECTED_ITEMS: &str = "ccpipe_exporter_rejected_items_total";

/// The longest Retry-After / RetryInfo delay honoured: a broken or hostile
/// answer must not park the queue for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The largest answer body read (errors and partial-success messages).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// How one attempt went wrong.
enum Failure {
    /// The destination refused the size of the request: split and resend.
    TooLarge(String),
    Error(ExportError),
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Self {
        Failure::Error(e)
    }
}

pub struct AgentExporter {
    id: String,
    settings: AgentSettings,
    timeout: Duration,
    /// Connected lazily on the first export (needs the runtime).
    channel: Option<Channel>,
    http: Option<Client<HttpConnector, Full<Bytes>>>,
}

impl AgentExporter {
    /// No IO: the connection is made on the first export and re-made as needed.
    pub fn new(id: impl Into<String>, settings: AgentSettings, timeout: Duration) -> Self {
        AgentExporter {
            id: id.into(),
            settings,
            timeout,
            channel: None,
            http: None,
        }
    }

    /// Sends `batch`, splitting it when it is too large.
    pub fn send(&mut self, batch: Arc<Batch>) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            self.connect()?;
            let this: &AgentExporter = self;
            this.send_splitting(batch).await
        })
    }

    fn connect(&mut self) -> Result<(), ExportError> {
        match self.settings.protocol {
            Protocol::Grpc if self.channel.is_none() => {
                let endpoint = Endpoint::from_shared(self.settings.endpoint.clone())
                    .map_err(|e| ExportError::permanent(format!("bad endpoint: {e}")))?
                    .connect_timeout(self.timeout)
                    .tcp_nodelay(true);
                self.channel = Some(endpoint.connect_lazy());
            }
            Protocol::HttpProtobuf if self.http.is_none() => {
                let mut connector = HttpConnector::new();
                connector.set_connect_timeout(Some(self.timeout));
                connector.set_nodelay(true);
                self.http = Some(Client::builder(TokioExecutor::new()).build(connector));
            }
            _ => {}
        }
        Ok(())
    }

    fn send_splitting(&self, batch: Arc<Batch>) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let reason = match self.send_once(&batch).await {
                Ok(()) => return Ok(()),
                Err(Failure::Error(e)) => return Err(e),
                Err(Failure::TooLarge(reason)) => reason,
            };
            let items = batch.item_count();
            if items <= 1 {
                return Err(ExportError::permanent(format!(
                    "a single {} is too large for the Agent: {reason}",
                    singular(batch.signal())
                )));
            }
            tracing::debug!(exporter = %self.id, items, "request too large ({reason}); sending it in two halves");
            let mut back = (*batch).clone();
            drop(batch);
            let front = back.split_front(items / 2);
            // A half refused for good does not stop the other half.
            let first = self.send_splitting(Arc::new(front)).await;
            if let Err(ExportError::Retryable { .. }) = first {
                return first;
            }
            let second = self.send_splitting(Arc::new(back)).await;
            match (first, second) {
                (Err(e), Ok(())) => Err(e),
                (_, second) => second,
            }
        })
    }

    async fn send_once(&self, batch: &Arc<Batch>) -> Result<(), Failure> {
        let attempt = async {
            match self.settings.protocol {
                Protocol::Grpc => self.send_grpc(batch).await,
                Protocol::HttpProtobuf => self.send_http(batch).await,
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(ExportError::retryable(format!(
                "the Agent at {} did not answer within {:?}",
                self.settings.endpoint, self.timeout
            ))
            .into()),
        }
    }

    async fn send_grpc(&self, batch: &Arc<Batch>) -> Result<(), Failure> {
        let channel = self.channel.clone().expect("connected before sending");
        let (rejected, message) = match batch.signal() {
            Signal::Logs => {
                let r: ExportLogsServiceResponse =
                    self.unary(channel, batch, "logs.v1.LogsService").await?;
                let p = r.partial_success.unwrap_or_default();
                (p.rejected_log_records, p.error_message)
            }
            Signal::Metrics => {
                let r: ExportMetricsServiceResponse = self
                    .unary(channel, batch, "metrics.v1.MetricsService")
                    .await?;
                let p = r.partial_success.unwrap_or_default();
                (p.rejected_data_points, p.error_message)
            }
            Signal::Traces => {
                let r: ExportTraceServiceResponse =
                    self.unary(channel, batch, "trace.v1.TraceService").await?;
                let p = r.partial_success.unwrap_or_default();
                (p.rejected_spans, p.error_message)
            }
        };
        self.partial_success(batch.signal(), rejected, &message);
        Ok(())
    }

    /// One unary `Export` call; `service` is the part after
    /// `opentelemetry.proto.collector.`. The generic client encodes straight
    /// from the shared batch, where the generated clients would need a copy.
    async fn unary<R>(
        &self,
        channel: Channel,
        batch: &Arc<Batch>,
        service: &str,
    ) -> Result<R, Failure>
    where
        R: Message + Default + Send + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(channel);
        if self.settings.compression == Compression::Gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc = grpc.accept_compressed(CompressionEncoding::Gzip);
        grpc.ready().await.map_err(|e| {
            ExportError::retryable(format!(
                "cannot reach the Agent at {}: {e}",
                self.settings.endpoint
            ))
        })?;
        let path = format!("/opentelemetry.proto.collector.{service}/Export");
        let path = http::uri::PathAndQuery::try_from(path).expect("a valid path");
        let mut request = tonic::Request::new(Arc::clone(batch));
        request.set_timeout(self.timeout);
        match grpc
            .unary(request, path, BatchCodec::<R>(PhantomData))
            .await
        {
            Ok(r) => Ok(r.into_inner()),
            Err(status) => Err(classify_status(&status)),
        }
    }

    async fn send_http(&self, batch: &Arc<Batch>) -> Result<(), Failure> {
        let client = self.http.as_ref().expect("connected before sending");
        let signal = batch.signal();
        let raw = encode(batch);
        let mut request = http::Request::post(format!("{}/v1/{signal}", self.settings.endpoint))
            .header(http::header::CONTENT_TYPE, "application/x-protobuf");
        let body = match self.settings.compression {
            Compression::Gzip => {
                request = request.header(http::header::CONTENT_ENCODING, "gzip");
                gzip(&raw)
            }
            Compression::None => raw,
        };
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ExportError::permanent(format!("cannot build the request: {e}")))?;
        let response = client.request(request).await.map_err(|e| {
            ExportError::retryable(format!(
                "cannot reach the Agent at {}: {}",
                self.settings.endpoint,
                error_chain(&e)
            ))
        })?;
        let status = response.status();
        let protobuf = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/x-protobuf"));
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| ExportError::retryable(format!("the Agent's answer broke off: {e}")))?;
        if status.is_success() {
            let (rejected, message) = match signal {
                Signal::Logs => ExportLogsServiceResponse::decode(body)
                    .map(|r| r.partial_success.unwrap_or_default())
                    .map(|p| (p.rejected_log_records, p.error_message)),
                Signal::Metrics => ExportMetricsServiceResponse::decode(body)
                    .map(|r| r.partial_success.unwrap_or_default())
                    .map(|p| (p.rejected_data_points, p.error_message)),
                Signal::Traces => ExportTraceServiceResponse::decode(body)
                    .map(|r| r.partial_success.unwrap_or_default())
                    .map(|p| (p.rejected_spans, p.error_message)),
            }
            // An answer that is not OTLP protobuf (an empty `{}`) is a full success.
            .unwrap_or_default();
            self.partial_success(signal, rejected, &message);
            return Ok(());
        }
        let reason = format!("HTTP {status}: {}", error_text(&body, protobuf));
        Err(match status.as_u16() {
            429 | 502 | 503 | 504 => Failure::Error(ExportError::Retryable {
                message: reason,
                retry_after,
            }),
            413 => Failure::TooLarge(reason),
            _ => Failure::Error(ExportError::Permanent(reason)),
        })
    }

    /// Logs once per answer and counts the items the Agent turned away.
    fn partial_success(&self, signal: Signal, rejected: i64, message: &str) {
        if rejected > 0 {
            tracing::warn!(exporter = %self.id, rejected, "the Agent rejected {rejected} {}: {message}", signal.item_noun());
            metrics::counter!(EXPORTER_REJECTED_ITEMS, "exporter" => self.id.clone(), "signal" => signal.as_str())
                .increment(rejected as u64);
        } else if !message.is_empty() {
            tracing::warn!(exporter = %self.id, "the Agent accepted the {signal} with a warning: {message}");
        }
    }
}

fn singular(signal: Signal) -> &'static str {
    match signal {
        Signal::Logs => "log record",
        Signal::Metrics => "data point",
        Signal::Traces => "span",
    }
}

/// The OTLP rule: transient codes retry (RESOURCE_EXHAUSTED too: the Agent
/// uses it for backpressure), the rest cannot succeed by resending.
fn classify_status(status: &Status) -> Failure {
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

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// An error body as text: the message of a protobuf `google.rpc.Status`
/// (what OTLP receivers send), else the start of the body.
fn error_text(body: &[u8], protobuf: bool) -> String {
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

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn encode(batch: &Batch) -> Vec<u8> {
    match batch {
        Batch::Logs(r) => r.encode_to_vec(),
        Batch::Metrics(r) => r.encode_to_vec(),
        Batch::Traces(r) => r.encode_to_vec(),
    }
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    enc.write_all(raw).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// Encodes the shared batch as its export request; decodes the answer `R`.
struct BatchCodec<R>(PhantomData<R>);

impl<R: Message + Default + Send + 'static> Codec for BatchCodec<R> {
    type Encode = Arc<Batch>;
    type Decode = R;
    type Encoder = BatchEncoder;
    type Decoder = AnswerDecoder<R>;

    fn encoder(&mut self) -> BatchEncoder {
        BatchEncoder
    }

    fn decoder(&mut self) -> AnswerDecoder<R> {
        AnswerDecoder(PhantomData)
    }
}

struct BatchEncoder;

impl Encoder for BatchEncoder {
    type Item = Arc<Batch>;
    type Error = Status;

    fn encode(&mut self, item: Arc<Batch>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        match &*item {
            Batch::Logs(r) => r.encode(dst),
            Batch::Metrics(r) => r.encode(dst),
            Batch::Traces(r) => r.encode(dst),
        }
        .map_err(|e| Status::internal(format!("cannot encode the request: {e}")))
    }
}

struct AnswerDecoder<R>(PhantomData<R>);

impl<R: Message + Default> Decoder for AnswerDecoder<R> {
    type Item = R;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        R::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("cannot decode the Agent's answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

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
