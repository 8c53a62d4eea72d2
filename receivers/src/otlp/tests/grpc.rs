//! OTLP/gRPC: error statuses, size limits, backpressure, unknown methods.

use std::io::Write;
use std::marker::PhantomData;
use std::time::Duration;

use bytes::{Buf, BufMut};
use ccpipe_pipeline::telemetry::receiver_refused;
use ccpipe_pipeline::Signal;
use flate2::write::GzEncoder;
use flate2::Compression;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::Code;

use super::captures::{assert_accept_encoding, channel};
use super::{counter, outputs, record_metrics, sink, start_grpc, Running};
use crate::otlp::grpc::GrpcSettings;
use crate::otlp::sink::INTAKE_BYTES;

const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/claude-code/captures"
);

fn logs_request() -> ExportLogsServiceRequest {
    let bin = std::fs::read(format!("{CAPTURES}/grpc/otlp/0002-grpc-logs.bin")).unwrap();
    ExportLogsServiceRequest::decode(&bin[..]).unwrap()
}

fn traces_request() -> ExportTraceServiceRequest {
    let bin = std::fs::read(format!("{CAPTURES}/grpc/otlp/0003-grpc-traces.bin")).unwrap();
    ExportTraceServiceRequest::decode(&bin[..]).unwrap()
}

async fn server(
    name: &str,
    max_recv_msg_size: usize,
    signals: &[Signal],
    capacity: usize,
) -> (Running, super::Queues) {
    let (outputs, queues) = outputs(signals, capacity);
    let settings = GrpcSettings {
        max_recv_msg_size,
        max_concurrent_streams: Some(8),
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
    };
    let server = start_grpc(settings, sink(name, outputs, Duration::from_millis(50))).await;
    (server, queues)
}

/// Sends raw bytes as the message, for bodies no generated client would send.
#[derive(Clone, Default)]
struct RawCodec;

struct Raw<T>(PhantomData<T>);

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw<Vec<u8>>;
    type Decoder = Raw<Vec<u8>>;

    fn encoder(&mut self) -> Self::Encoder {
        Raw(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        Raw(PhantomData)
    }
}

impl Encoder for Raw<Vec<u8>> {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw<Vec<u8>> {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

async fn raw_call(
    channel: Channel,
    path: &'static str,
    body: Vec<u8>,
) -> Result<tonic::Response<Vec<u8>>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
}

const LOGS_EXPORT: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

#[tokio::test]
async fn malformed_message_is_invalid_argument() {
    let (server, queues) = server("grpc-malformed", 4 << 20, &Signal::ALL, 4).await;
    let channel = channel(server.addr).await;
    let status = raw_call(
        channel.clone(),
        LOGS_EXPORT,
        b"\x0a\xff\xff\xff\xff".to_vec(),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with("malformed protobuf message: "),
        "{}",
        status.message()
    );
    assert_accept_encoding(status.metadata());
    assert!(queues.all_empty());

    // The connection still serves good requests.
    let response = raw_call(channel, LOGS_EXPORT, logs_request().encode_to_vec())
        .await
        .unwrap();
    assert!(
        response.get_ref().is_empty(),
        "an empty ExportLogsServiceResponse"
    );
    assert_eq!(queues.take(Signal::Logs).item_count(), 10);
    server.stop().await;
}

#[tokio::test]
async fn oversize_message_is_resource_exhausted() {
    // The request is about 8 KB, under 2 KB gzipped.
    let (server, queues) = server("grpc-oversize", 4096, &Signal::ALL, 4).await;
    let mut client = LogsServiceClient::new(channel(server.addr).await);
    let len = logs_request().encoded_len();
    assert!(len > 4096);
    // tonic itself says OUT_OF_RANGE here; the receiver answers like grpc-go.
    let status = client.export(logs_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.message(),
        format!(
            "Error, decoded message length too large: found {len} bytes, the limit is: 4096 bytes"
        )
    );
    // Compressed below the limit but larger once inflated.
    let mut client = client.send_compressed(CompressionEncoding::Gzip);
    let status = client.export(logs_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.message(),
        "Error decompressing: size limit, of 4096 bytes, exceeded while decompressing message"
    );
    assert!(queues.all_empty());
    server.stop().await;
}

/// Each encoding tonic clients send is accepted, and inflating past the
/// limit is RESOURCE_EXHAUSTED for each, as for gzip.
#[tokio::test]
async fn gzip_zstd_and_deflate_messages_are_accepted_within_the_limit() {
    let encodings = [
        CompressionEncoding::Gzip,
        CompressionEncoding::Zstd,
        CompressionEncoding::Deflate,
    ];
    let (server, queues) = server("grpc-encodings", 64 << 10, &Signal::ALL, 4).await;
    // 1 MiB of one letter in a log body: a few KiB compressed, 16 times the limit.
    let mut bomb = logs_request();
    let record = &mut bomb.resource_logs[0].scope_logs[0].log_records[0];
    record.body = Some(AnyValue {
        value: Some(any_value::Value::StringValue("a".repeat(1 << 20))),
    });
    for encoding in encodings {
        let mut client =
            TraceServiceClient::new(channel(server.addr).await).send_compressed(encoding);
        let request = traces_request();
        assert!(request.encoded_len() < 64 << 10);
        let spans: usize = (request.resource_spans.iter())
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let response = client.export(request).await;
        assert!(response.is_ok(), "{encoding:?}: {response:?}");
        let got = queues.take(Signal::Traces).item_count();
        assert_eq!(got, spans, "{encoding:?}");

        let mut client =
            LogsServiceClient::new(channel(server.addr).await).send_compressed(encoding);
        let status = client.export(bomb.clone()).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{encoding:?}: {status:?}"
        );
        assert_accept_encoding(status.metadata());
        assert!(queues.all_empty(), "{encoding:?}");
    }
    server.stop().await;
}

/// What a raw gRPC call was answered: grpc-status, grpc-message (decoded)
/// and the response headers' grpc-accept-encoding.
struct RawAnswer {
    code: String,
    message: String,
    accept_encoding: String,
}

/// One raw gRPC call to the logs service with `body` as the request body.
async fn raw_export(addr: std::net::SocketAddr, encoding: &str, body: Vec<u8>) -> RawAnswer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let request = http::Request::post(format!("http://{addr}{LOGS_EXPORT}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-encoding", encoding)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let text = |headers: &http::HeaderMap, name: &str| {
        (headers.get(name))
            .map_or("", |v| v.to_str().unwrap())
            .to_owned()
    };
    let accept_encoding = text(response.headers(), "grpc-accept-encoding");
    let mut headers = response.headers().clone();
    if headers.get("grpc-status").is_none() {
        let collected = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        headers = collected.trailers().cloned().unwrap_or_default();
    }
    RawAnswer {
        code: text(&headers, "grpc-status"),
        message: percent_decoded(&text(&headers, "grpc-message")),
        accept_encoding,
    }
}

/// grpc-message is percent-encoded.
fn percent_decoded(text: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).unwrap()
}

/// A gRPC message: the compressed flag, the length, the bytes.
fn grpc_message(compressed: bool, bytes: &[u8]) -> Vec<u8> {
    let mut frame = vec![u8::from(compressed)];
    frame.extend((bytes.len() as u32).to_be_bytes());
    frame.extend(bytes);
    frame
}

/// zstd over gRPC is decompressed by the receiver itself: a frame asking for
/// a 128 MiB window is refused before any is reserved, a bomb stops at the
/// limit, a length over the limit is refused unread, and a good message
/// arrives.
#[tokio::test]
async fn zstd_messages_are_bounded_in_window_and_size() {
    let (server, queues) = server("grpc-zstd", 64 << 10, &Signal::ALL, 4).await;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.long_distance_matching(true).unwrap();
    encoder.window_log(27).unwrap();
    encoder.include_contentsize(false).unwrap();
    encoder.write_all(&logs_request().encode_to_vec()).unwrap();
    let wide = encoder.finish().unwrap();
    let answer = raw_export(server.addr, "zstd", grpc_message(true, &wide)).await;
    let message = answer.message;
    assert_eq!(answer.code, "3", "INVALID_ARGUMENT: {message}");
    assert!(message.starts_with("malformed zstd body: "), "{message}");

    let bomb = zstd::encode_all(&vec![0u8; 8 << 20][..], 3).unwrap();
    let answer = raw_export(server.addr, "zstd", grpc_message(true, &bomb)).await;
    assert_eq!(answer.code, "8", "RESOURCE_EXHAUSTED: {}", answer.message);

    let mut huge = grpc_message(true, b"x");
    huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
    let answer = raw_export(server.addr, "zstd", huge).await;
    assert_eq!(answer.code, "8", "RESOURCE_EXHAUSTED: {}", answer.message);
    assert!(queues.all_empty());

    let good = zstd::encode_all(&logs_request().encode_to_vec()[..], 3).unwrap();
    let answer = raw_export(server.addr, "ZSTD", grpc_message(true, &good)).await;
    assert_eq!(answer.code, "0", "{}", answer.message);
    assert_eq!(queues.take(Signal::Logs).item_count(), 10);
    server.stop().await;
}

#[tokio::test]
async fn gzip_bomb_is_resource_exhausted() {
    let (server, queues) = server("grpc-bomb", 4 << 20, &Signal::ALL, 4).await;
    // An 8 MiB message of zeros, sent pre-compressed with the gRPC framing's
    // compressed flag, through a raw HTTP/2 request.
    let mut zipped = GzEncoder::new(Vec::new(), Compression::default());
    zipped.write_all(&vec![0u8; 8 << 20]).unwrap();
    let zipped = zipped.finish().unwrap();
    let answer = raw_export(server.addr, "gzip", grpc_message(true, &zipped)).await;
    assert_eq!(answer.code, "8", "RESOURCE_EXHAUSTED: {}", answer.message);
    assert_eq!(answer.accept_encoding, "gzip,zstd,deflate,identity");
    assert!(queues.all_empty());
    server.stop().await;
}

#[tokio::test]
async fn signal_without_a_pipeline_is_unimplemented() {
    record_metrics();
    let (server, queues) = server("grpc-no-traces", 4 << 20, &[Signal::Logs], 4).await;
    let mut client = TraceServiceClient::new(channel(server.addr).await);
    let status = client.export(traces_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        status.message(),
        "no pipeline takes traces from this receiver"
    );
    assert_accept_encoding(status.metadata());
    let labels = [
        ("receiver", "otlp/grpc-no-traces"),
        ("reason", "no_pipeline"),
    ];
    assert_eq!(counter(receiver_refused(Signal::Traces), &labels), 12);
    assert!(queues.all_empty());
    server.stop().await;
}

/// gRPC too: a call that meets a full byte budget waits for room and
/// succeeds once the chain takes what filled it.
// Two workers: a sender that spun instead of waiting would still let the test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_budget_that_frees_within_the_wait_accepts_the_call() {
    let request = logs_request();
    // Room left after the first call, but not enough for a second.
    let budget = request.encoded_len() + 1;
    let (outputs, queues) = super::outputs_in_bytes(&Signal::ALL, budget);
    let settings = GrpcSettings {
        max_recv_msg_size: 4 << 20,
        max_concurrent_streams: Some(8),
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
    };
    let server = start_grpc(settings, sink("grpc-frees", outputs, super::STEP)).await;
    let mut client = LogsServiceClient::new(channel(server.addr).await);
    client.export(request.clone()).await.unwrap();
    let waiting = tokio::spawn(async move { client.export(request).await.map(drop) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the call waits for room");
    assert_eq!(queues.rx[&Signal::Logs].len(), 1, "and is not queued yet");
    queues.take(Signal::Logs);
    let answer = tokio::time::timeout(super::STEP, waiting)
        .await
        .expect("answered once there is room")
        .unwrap();
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(queues.take(Signal::Logs).item_count(), 10);
    server.stop().await;
}

#[tokio::test]
async fn full_queue_is_unavailable() {
    record_metrics();
    let (server, queues) = server("grpc-busy", 4 << 20, &Signal::ALL, 1).await;
    let mut client = LogsServiceClient::new(channel(server.addr).await);
    client.export(logs_request()).await.unwrap();
    let status = client.export(logs_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "pipeline \"logs\" is busy; retry later");
    let labels = [
        ("receiver", "otlp/grpc-busy"),
        ("reason", "busy"),
        ("transport", "grpc"),
    ];
    assert_eq!(counter(receiver_refused(Signal::Logs), &labels), 10);
    queues.take(Signal::Logs);
    client
        .export(logs_request())
        .await
        .expect("accepted once there is room");
    server.stop().await;
}

#[tokio::test]
async fn unknown_method_and_service_are_unimplemented() {
    let (server, _queues) = server("grpc-unknown", 4 << 20, &Signal::ALL, 4).await;
    let channel = channel(server.addr).await;
    let status = raw_call(
        channel.clone(),
        "/opentelemetry.proto.collector.logs.v1.LogsService/Nope",
        vec![],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let status = raw_call(
        channel,
        "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
        vec![],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    server.stop().await;
}

/// A message takes its intake share before it is read and keeps it until
/// its batch is queued: with the queue full, eight messages of unannounced
/// size hold the whole intake and the others wait for a share, unread and
/// undecoded (without the share, every stream's decoded message waited
/// beside the full queue). Each batch the chain takes lets one more in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_hold_their_intake_share_until_their_batch_is_queued() {
    let (outputs, queues) = outputs(&Signal::ALL, 1);
    let sink = sink("grpc-intake", outputs, Duration::from_secs(10));
    let settings = GrpcSettings {
        max_recv_msg_size: 4 << 20,
        max_concurrent_streams: Some(8),
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
    };
    let server = start_grpc(settings, sink.clone()).await;
    let mut first = LogsServiceClient::new(channel(server.addr).await);
    first.export(logs_request()).await.unwrap();
    let mut waiting = Vec::new();
    for _ in 0..10 {
        let mut client = LogsServiceClient::new(channel(server.addr).await);
        waiting.push(tokio::spawn(async move {
            client.export(logs_request()).await.map(|_| ())
        }));
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while sink.intake_held() < INTAKE_BYTES && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sink.intake_held(),
        INTAKE_BYTES,
        "eight shares taken, no more"
    );
    assert_eq!(queues.rx[&Signal::Logs].len(), 1, "nothing queued past it");
    for _ in 0..11 {
        assert_eq!(queues.take(Signal::Logs).item_count(), 10);
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while queues.rx[&Signal::Logs].is_empty() && tokio::time::Instant::now() < until {
            if waiting.iter().all(|w| w.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for answered in waiting {
        answered
            .await
            .unwrap()
            .expect("accepted once there was room");
    }
    assert_eq!(sink.intake_held(), 0, "every share given back");
    server.stop().await;
}
