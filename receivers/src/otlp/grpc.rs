//! OTLP/gRPC: the three `Export` services on one pre-bound listener.
//!
//! The service glue is written here rather than taken from the generated
//! `*_service_server` modules, for three reasons: a malformed message is
//! answered INVALID_ARGUMENT (tonic's prost codec says INTERNAL), an
//! over-size message RESOURCE_EXHAUSTED (tonic says OUT_OF_RANGE, which OTLP
//! clients treat as retryable), and every answer carries
//! `grpc-accept-encoding: gzip,zstd,deflate,identity` (tonic only sends it with an
//! "unsupported encoding" error). grpc-js splits that header on bare commas
//! and stops compressing when its encoding is missing from the list, so the
//! value must have no spaces.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ccpipe_pipeline::outputs::Refused;
use ccpipe_pipeline::wire::{self, ScanError};
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::Encoded;
use ccpipe_pipeline::ServerError;
use ccpipe_pipeline::{BoxFuture, Shutdown, Signal};
use http::HeaderValue;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::body::Body;
use tonic::codec::{CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use super::body::BodyError;
use super::conn::{Acceptor, Conn};
use super::grpc_zstd;
use super::sink::{Sink, Transport, INTAKE_BYTES, UNAUTHENTICATED};
use http_body_util::BodyExt;

/// What the gRPC server needs beyond its listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcSettings {
    /// Largest message accepted, after decompression, in bytes.
    pub max_recv_msg_size: usize,
    /// HTTP/2 streams per connection; `None` leaves the server's default.
    pub max_concurrent_streams: Option<u32>,
    /// How long a client may take to send its HTTP/2 preface (its first
    /// byte) and each request message.
    pub read_timeout: Duration,
    /// How long a connection may stay silent between requests.
    pub idle_timeout: Duration,
}

/// The value of `grpc-accept-encoding` on every answer.
pub const ACCEPT_ENCODING: &str = "gzip,zstd,deflate,identity";

/// Serves the logs, metrics and traces `Export` services on `listener` until
/// `shutdown` fires, then lets in-flight calls finish.
pub async fn serve(
    listener: impl Into<Acceptor>,
    settings: GrpcSettings,
    sink: Arc<Sink>,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let max = (settings.max_recv_msg_size, settings.read_timeout);
    let incoming = incoming(listener.into(), shutdown.clone());
    tonic::transport::Server::builder()
        .max_concurrent_streams(settings.max_concurrent_streams)
        .add_service(ExportService::<ExportLogsServiceRequest>::new(
            sink.clone(),
            max,
        ))
        .add_service(ExportService::<ExportMetricsServiceRequest>::new(
            sink.clone(),
            max,
        ))
        .add_service(ExportService::<ExportTraceServiceRequest>::new(sink, max))
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
        .map_err(|e| ServerError {
            server: "gRPC",
            source: Box::new(e),
        })
}

/// The connections for tonic: accepted under the connection limit and
/// handshaken (TLS) in their own tasks, so one slow client does not hold up
/// the others. Ends when `shutdown` fires, closing the port.
fn incoming(acceptor: Acceptor, shutdown: Shutdown) -> ReceiverStream<std::io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(pending) = acceptor.accept("grpc", &shutdown).await {
            let tx = tx.clone();
            tokio::spawn(async move {
                match pending.establish().await {
                    Ok(conn) => {
                        let _ = tx.send(Ok(conn)).await;
                    }
                    Err(e) => tracing::debug!(error = %e, "OTLP/gRPC: TLS handshake failed"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// One OTLP export request type and its service.
pub trait ExportRequest: prost::Message + Default + Send + 'static {
    type Response: prost::Message + Default + Send + 'static;
    /// The gRPC service name, e.g. `opentelemetry.proto.collector.logs.v1.LogsService`.
    const SERVICE: &'static str;
    /// The method path, `/{SERVICE}/Export`.
    const PATH: &'static str;
    const SIGNAL: Signal;
}

macro_rules! export_request {
    ($req:ty, $resp:ty, $service:literal, $variant:ident) => {
        impl ExportRequest for $req {
            type Response = $resp;
            const SERVICE: &'static str = $service;
            const PATH: &'static str = concat!("/", $service, "/Export");
            const SIGNAL: Signal = Signal::$variant;
        }
    };
}

export_request!(
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    "opentelemetry.proto.collector.logs.v1.LogsService",
    Logs
);
export_request!(
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Metrics
);
export_request!(
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    "opentelemetry.proto.collector.trace.v1.TraceService",
    Traces
);

/// The service of one request type; tonic's router sends it every path
/// under `/{SERVICE}/`.
struct ExportService<R> {
    sink: Arc<Sink>,
    /// The largest message, and how long it may take to arrive.
    max: (usize, Duration),
    _request: PhantomData<fn() -> R>,
}

impl<R> ExportService<R> {
    fn new(sink: Arc<Sink>, max: (usize, Duration)) -> Self {
        ExportService {
            sink,
            max,
            _request: PhantomData,
        }
    }
}

impl<R> Clone for ExportService<R> {
    fn clone(&self) -> Self {
        ExportService::new(self.sink.clone(), self.max)
    }
}

impl<R: ExportRequest> NamedService for ExportService<R> {
    const NAME: &'static str = R::SERVICE;
}

impl<R: ExportRequest> tonic::codegen::Service<http::Request<Body>> for ExportService<R> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let sink = self.sink.clone();
        let (max, within) = self.max;
        // The message counts against the memory limit while it is read, and
        // a stalled one fails after read_timeout instead of holding its buffer.
        let counted = sink.clone();
        let req = req.map(|body| {
            Body::new(sink.meter(body, Some(within)).map_err(move |e| {
                if let Some(reason) = unread_reason(&e) {
                    counted.refused_unread(Transport::Grpc, reason);
                }
                body_status(e)
            }))
        });
        Box::pin(async move {
            let mut response = if !sink.admits(req.headers().get("authorization"), Transport::Grpc)
            {
                Status::unauthenticated(UNAUTHENTICATED).into_http()
            } else if req.uri().path() == R::PATH {
                // Read the message only once it has its intake share and the
                // pipelines have room for it (or the wait is over), as the
                // HTTP server does: under overload it waits in h2's
                // flow-control window (hyper's 1 MiB per connection) instead
                // of being copied, checked and queued behind the others.
                // Without the share every stream's decoded message could wait
                // beside a full queue: 32 of them, 3 MB, in the benchmark.
                let deadline = sink.deadline();
                let announced = content_length(req.headers());
                let share = announced.map_or(UNANNOUNCED_SHARE, |len| len as u64);
                let intake = sink.intake(share, deadline).await;
                let weight = announced.unwrap_or(1);
                sink.wait_for_room(R::SIGNAL, weight, deadline).await;
                let mut grpc = Grpc::new(ProstCodec::<R>(sink.clone(), PhantomData))
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Deflate)
                    .max_decoding_message_size(max);
                // zstd is ours: tonic's decoder cannot bound its window.
                let req = match grpc_zstd::is_zstd(req.headers()) {
                    true => grpc_zstd::decompressed(req, max),
                    false => req,
                };
                let answer = grpc
                    .unary(Export::<R>(sink, deadline, PhantomData), req)
                    .await;
                // Held until the batch is queued or refused, as over HTTP.
                drop(intake);
                answer
            } else {
                Status::unimplemented(format!("unknown method {}", req.uri().path())).into_http()
            };
            let headers = response.headers_mut();
            // A too-large message is a trailers-only answer from tonic's decoder.
            if headers.get("grpc-status") == Some(&code_value(Code::OutOfRange)) {
                headers.insert("grpc-status", code_value(Code::ResourceExhausted));
            }
            headers.insert(
                "grpc-accept-encoding",
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
            Ok(response)
        })
    }
}

/// A body that could not be read, as the client's status: over the memory
/// limit is UNAVAILABLE (retry later), a stall DEADLINE_EXCEEDED.
/// The `reason` label of a message refused while it was read, if it was.
fn unread_reason(e: &BodyError) -> Option<&'static str> {
    match e {
        BodyError::OverMemory => Some("memory_limit"),
        BodyError::Timeout => Some("read_timeout"),
        BodyError::Read(_) => None,
    }
}

fn body_status(e: BodyError) -> Status {
    match e {
        BodyError::OverMemory => Status::unavailable(e.to_string()),
        BodyError::Timeout => {
            Status::deadline_exceeded(format!("{e} (protocols.grpc.read_timeout)"))
        }
        BodyError::Read(e) => Status::from_error(e),
    }
}

/// The message's size when the client announced it (gRPC clients seldom
/// do; the wait is then for room for anything).
fn content_length(headers: &http::HeaderMap) -> Option<usize> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
}

/// The intake share of a message of unannounced size: an eighth of
/// [`INTAKE_BYTES`], so eight such messages are read and decoded at a time
/// (one core gains nothing from more; a 100-record Claude Code request is
/// about 90 KB).
const UNANNOUNCED_SHARE: u64 = (INTAKE_BYTES / 8) as u64;

fn code_value(code: Code) -> HeaderValue {
    HeaderValue::from(code as i32)
}

/// The handler: hand the checked request to the pipelines, waiting for
/// room until the deadline the wait before reading it began.
struct Export<R>(Arc<Sink>, Instant, PhantomData<fn() -> R>);

impl<R: ExportRequest> UnaryService<Batch> for Export<R> {
    type Response = R::Response;
    type Future = BoxFuture<'static, Result<tonic::Response<R::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<Batch>) -> Self::Future {
        let (sink, deadline) = (self.0.clone(), self.1);
        Box::pin(async move {
            let batch = request.into_inner();
            match sink.deliver_by(batch, Transport::Grpc, deadline).await {
                Ok(()) => Ok(tonic::Response::new(R::Response::default())),
                Err(refused) => Err(refused_status(&refused)),
            }
        })
    }
}

/// Backpressure and shutdown are UNAVAILABLE (retry later); a signal no
/// pipeline takes is UNIMPLEMENTED.
pub fn refused_status(refused: &Refused) -> Status {
    match refused {
        Refused::NoPipeline(_) => Status::unimplemented(refused.to_string()),
        Refused::Busy(_) | Refused::ShuttingDown | Refused::MemoryLimit => {
            Status::unavailable(refused.to_string())
        }
    }
}

/// Requests are checked (not decoded) into an encoded [`Batch`]; responses
/// are prost-encoded. A malformed request, or one over the sink's limits, is
/// INVALID_ARGUMENT.
struct ProstCodec<R>(Arc<Sink>, PhantomData<fn() -> R>);

impl<R: ExportRequest> tonic::codec::Codec for ProstCodec<R> {
    type Encode = R::Response;
    type Decode = Batch;
    type Encoder = ProstEncoder<R::Response>;
    type Decoder = CheckDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckDecoder(self.0.clone(), PhantomData)
    }
}

struct ProstEncoder<M>(PhantomData<fn(M)>);

impl<M: prost::Message> Encoder for ProstEncoder<M> {
    type Item = M;
    type Error = Status;

    fn encode(&mut self, item: M, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the response: {e}")))
    }
}

struct CheckDecoder<R>(Arc<Sink>, PhantomData<fn() -> R>);

impl<R: ExportRequest> Decoder for CheckDecoder<R> {
    type Item = Batch;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Batch>, Status> {
        let bytes = super::decode::exact_copy(src);
        match Encoded::within(R::SIGNAL, bytes.clone(), self.0.limits()) {
            Ok(e) => Ok(Some(Batch::from(e))),
            Err(ScanError::Malformed(e)) => Err(Status::invalid_argument(format!(
                "malformed protobuf message: {e}"
            ))),
            Err(ScanError::Limit(e)) => {
                // Only a refused request pays for counting its items.
                let items = wire::scan(R::SIGNAL, &bytes).unwrap_or(0);
                let sink = &self.0;
                let msg = sink.over_limits(R::SIGNAL, Transport::Grpc, items, &e);
                Err(Status::invalid_argument(msg))
            }
        }
    }
}
