//! Fake OTLP destinations for the exporters' tests: a tonic gRPC server
//! (scripted answers, calls recorded with their metadata) and a hyper
//! OTLP/HTTP receiver (a responder decides each status; bodies recorded as
//! sent and uncompressed), both on 127.0.0.1:0 and stopped when dropped.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::Records;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Status};

use crate::otlp_client::{ProtoAny, ProtoDuration, RetryInfo, RpcStatus, RETRY_INFO_TYPE};

// ---------------------------------------------------------------- gRPC

#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Ok,
    Fail(Code, &'static str, Option<Duration>),
    /// Accepted, with this many items rejected.
    Partial(i64, &'static str),
}

#[derive(Debug, Clone)]
pub(crate) struct GrpcCall {
    pub(crate) encoding: Option<String>,
    pub(crate) metadata: tonic::metadata::MetadataMap,
    pub(crate) batch: Records,
}

#[derive(Default)]
pub(crate) struct GrpcState {
    script: VecDeque<Answer>,
    calls: Vec<GrpcCall>,
}

#[derive(Clone, Default)]
pub(crate) struct FakeGrpc(Arc<Mutex<GrpcState>>);

impl FakeGrpc {
    fn answer(&self, request: &tonic::metadata::MetadataMap, batch: Records) -> Answer {
        let mut s = self.0.lock().unwrap();
        s.calls.push(GrpcCall {
            encoding: request
                .get("grpc-encoding")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            metadata: request.clone(),
            batch,
        });
        s.script.pop_front().unwrap_or(Answer::Ok)
    }

    pub(crate) fn script(&self, answers: &[Answer]) {
        self.0
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().cloned());
    }

    pub(crate) fn calls(&self) -> Vec<GrpcCall> {
        self.0.lock().unwrap().calls.clone()
    }
}

pub(crate) fn status(code: Code, message: &str, retry: Option<Duration>) -> Status {
    let Some(d) = retry else {
        return Status::new(code, message);
    };
    let details = RpcStatus {
        code: code as i32,
        message: message.into(),
        details: vec![ProtoAny {
            type_url: RETRY_INFO_TYPE.into(),
            value: RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: d.as_secs() as i64,
                    nanos: d.subsec_nanos() as i32,
                }),
            }
            .encode_to_vec(),
        }],
    };
    Status::with_details(code, message, details.encode_to_vec().into())
}

#[tonic::async_trait]
impl LogsService for FakeGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, Status> {
        let (meta, _, req) = request.into_parts();
        match self.answer(&meta, Records::Logs(req)) {
            Answer::Ok => Ok(tonic::Response::new(Default::default())),
            Answer::Fail(c, m, d) => Err(status(c, m, d)),
            Answer::Partial(n, m) => Ok(tonic::Response::new(ExportLogsServiceResponse {
                partial_success: Some(ExportLogsPartialSuccess {
                    rejected_log_records: n,
                    error_message: m.into(),
                }),
            })),
        }
    }
}

#[tonic::async_trait]
impl MetricsService for FakeGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, Status> {
        let (meta, _, req) = request.into_parts();
        match self.answer(&meta, Records::Metrics(req)) {
            Answer::Fail(c, m, d) => Err(status(c, m, d)),
            _ => Ok(tonic::Response::new(Default::default())),
        }
    }
}

#[tonic::async_trait]
impl TraceService for FakeGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let (meta, _, req) = request.into_parts();
        match self.answer(&meta, Records::Traces(req)) {
            Answer::Fail(c, m, d) => Err(status(c, m, d)),
            _ => Ok(tonic::Response::new(Default::default())),
        }
    }
}

/// A running fake Agent; stopped when dropped.
pub(crate) struct Running<T> {
    pub(crate) fake: T,
    pub(crate) endpoint: String,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn start_grpc() -> Running<FakeGrpc> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let fake = FakeGrpc::default();
    let server = tonic::transport::Server::builder()
        .add_service(
            LogsServiceServer::new(fake.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            MetricsServiceServer::new(fake.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            TraceServiceServer::new(fake.clone()).accept_compressed(CompressionEncoding::Gzip),
        );
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let task = tokio::spawn(async move {
        let _ = server.serve_with_incoming(incoming).await;
    });
    Running {
        fake,
        endpoint,
        task,
    }
}

// ---------------------------------------------------------------- HTTP

#[derive(Debug, Clone)]
pub(crate) struct HttpCall {
    pub(crate) path: String,
    pub(crate) headers: http::HeaderMap,
    /// The body as sent (gzip when compressed).
    pub(crate) wire: Vec<u8>,
    /// The body uncompressed: the protobuf request as sent.
    pub(crate) raw: Vec<u8>,
    pub(crate) batch: Records,
}

/// Decides the status and Retry-After for a call, given the calls so far.
pub(crate) type Responder = dyn Fn(&HttpCall, usize) -> (u16, Option<&'static str>) + Send + Sync;

#[derive(Clone)]
pub(crate) struct FakeHttp {
    calls: Arc<Mutex<Vec<HttpCall>>>,
    respond: Arc<Responder>,
}

impl FakeHttp {
    pub(crate) fn calls(&self) -> Vec<HttpCall> {
        self.calls.lock().unwrap().clone()
    }
}

pub(crate) async fn start_http(
    respond: impl Fn(&HttpCall, usize) -> (u16, Option<&'static str>) + Send + Sync + 'static,
) -> Running<FakeHttp> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let fake = FakeHttp {
        calls: Arc::default(),
        respond: Arc::new(respond),
    };
    let server = fake.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let fake = server.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle_http(fake.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Running {
        fake,
        endpoint,
        task,
    }
}

async fn handle_http(
    fake: FakeHttp,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let wire = body.collect().await.unwrap().to_bytes().to_vec();
    let gzipped = parts
        .headers
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let raw = if gzipped { gunzip(&wire) } else { wire.clone() };
    let path = parts.uri.path().to_owned();
    // By the path's end: `/v1/logs`, `/otlp/v1/logs`, a custom `/in/logs`.
    let batch = match path.rsplit('/').next().unwrap_or_default() {
        "logs" => Records::Logs(ExportLogsServiceRequest::decode(&raw[..]).unwrap()),
        "metrics" => Records::Metrics(ExportMetricsServiceRequest::decode(&raw[..]).unwrap()),
        "traces" => Records::Traces(ExportTraceServiceRequest::decode(&raw[..]).unwrap()),
        other => panic!("unexpected path {other}"),
    };
    let call = HttpCall {
        path,
        headers: parts.headers,
        wire,
        raw,
        batch,
    };
    let (code, retry_after) = {
        let mut calls = fake.calls.lock().unwrap();
        let answer = (fake.respond)(&call, calls.len());
        calls.push(call);
        answer
    };
    let mut response = http::Response::builder()
        .status(code)
        .header("content-type", "application/x-protobuf");
    if let Some(r) = retry_after {
        response = response.header("retry-after", r);
    }
    Ok(response.body(Full::new(Bytes::new())).unwrap())
}

pub(crate) fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("the body is gzip");
    out
}
