//! OTLP over gRPC: one unary `Export` call per payload, through tonic's
//! generic client with a codec that writes the payload's bytes as they are
//! (still-encoded parts) or encodes the shared batch in place.

use std::marker::PhantomData;

use bytes::BufMut;
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{ExportError, Records, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::Status;

use super::status::{classify_status, Failure};
use super::{Compression, OtlpClient};

impl OtlpClient {
    pub(super) async fn send_grpc(&self, payload: &Batch) -> Result<(), Failure> {
        let channel = self.channel.clone().expect("connected before sending");
        let (rejected, message) = match payload.signal() {
            Signal::Logs => {
                let r: ExportLogsServiceResponse =
                    self.unary(channel, payload, "logs.v1.LogsService").await?;
                let p = r.partial_success.unwrap_or_default();
                (p.rejected_log_records, p.error_message)
            }
            Signal::Metrics => {
                let r: ExportMetricsServiceResponse = self
                    .unary(channel, payload, "metrics.v1.MetricsService")
                    .await?;
                let p = r.partial_success.unwrap_or_default();
                (p.rejected_data_points, p.error_message)
            }
            Signal::Traces => {
                let r: ExportTraceServiceResponse = self
                    .unary(channel, payload, "trace.v1.TraceService")
                    .await?;
                let p = r.partial_success.unwrap_or_default();
                (p.rejected_spans, p.error_message)
            }
        };
        self.partial_success(payload.signal(), payload.item_count(), rejected, &message);
        Ok(())
    }

    /// One unary `Export` call; `service` is the part after
    /// `opentelemetry.proto.collector.`. The generic client encodes straight
    /// from the shared payload, where the generated clients would need a copy.
    async fn unary<R>(&self, channel: Channel, payload: &Batch, service: &str) -> Result<R, Failure>
    where
        R: Message + Default + Send + 'static,
    {
        let settings = &self.settings;
        let mut grpc = tonic::client::Grpc::new(channel);
        if settings.compression == Compression::Gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc = grpc.accept_compressed(CompressionEncoding::Gzip);
        grpc.ready().await.map_err(|e| {
            ExportError::retryable(format!(
                "cannot reach {} at {}: {}",
                settings.peer,
                settings.target.url(payload.signal()),
                super::status::error_chain(&e)
            ))
        })?;
        let path = format!("/opentelemetry.proto.collector.{service}/Export");
        let path = http::uri::PathAndQuery::try_from(path).expect("a valid path");
        let mut request = tonic::Request::new(payload.clone());
        if !settings.headers.is_empty() {
            *request.metadata_mut() = MetadataMap::from_headers(settings.headers.clone());
        }
        request.set_timeout(settings.timeout);
        match grpc
            .unary(request, path, RequestCodec::<R>(PhantomData))
            .await
        {
            Ok(r) => Ok(r.into_inner()),
            // The channel connects lazily, so a destination that is down
            // fails here rather than in `ready`, with the transport error as
            // the status's source: say where, as `ready` does.
            Err(status) => match std::error::Error::source(&status) {
                Some(cause) => {
                    let at = format!(
                        "cannot reach {} at {}",
                        settings.peer,
                        settings.target.url(payload.signal())
                    );
                    Err(classify_status(&status).unanswered(&at, cause))
                }
                None => Err(classify_status(&status)),
            },
        }
    }
}

/// Writes the payload as its export request; decodes the answer `R`.
struct RequestCodec<R>(PhantomData<R>);

impl<R: Message + Default + Send + 'static> Codec for RequestCodec<R> {
    type Encode = Batch;
    type Decode = R;
    type Encoder = RequestEncoder;
    type Decoder = AnswerDecoder<R>;

    fn encoder(&mut self) -> RequestEncoder {
        RequestEncoder
    }

    fn decoder(&mut self) -> AnswerDecoder<R> {
        AnswerDecoder(PhantomData)
    }
}

struct RequestEncoder;

impl Encoder for RequestEncoder {
    type Item = Batch;
    type Error = Status;

    fn encode(&mut self, item: Batch, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // The bytes as received: their concatenation is one request.
        if let Some(e) = item.encoded() {
            for part in e.parts() {
                dst.put_slice(part);
            }
            return Ok(());
        }
        let batch = item
            .records()
            .map_err(|e| Status::internal(e.to_string()))?;
        match batch {
            Records::Logs(r) => r.encode(dst),
            Records::Metrics(r) => r.encode(dst),
            Records::Traces(r) => r.encode(dst),
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
            .map_err(|e| Status::internal(format!("cannot decode the answer: {e}")))
    }
}
