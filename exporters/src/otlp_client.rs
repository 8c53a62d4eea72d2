//! An OTLP client over gRPC or HTTP/protobuf, gzip-compressed by default,
//! with TLS (rustls, ring) for https:// endpoints. The `otlp` and
//! `otlp_http` exporters and the Datadog exporter's Agent mode send through
//! it.
//!
//! One call sends a payload once and classifies the outcome; the export task
//! owns the retries. A payload still encoded as received is sent as those
//! bytes (compressed if configured), never decoded and re-encoded. The one
//! thing handled here is a destination saying the request is too large
//! (HTTP 413, gRPC "larger than max"): the payload is cut in half and both
//! halves are sent, down to single items.
//!
//! | answer | result |
//! |---|---|
//! | gRPC OK, HTTP 2xx | sent; a partial success is logged and counted |
//! | gRPC UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, CANCELLED, OUT_OF_RANGE, DATA_LOSS | retryable, after RetryInfo's delay when given |
//! | HTTP 429, 502, 503, 504 | retryable, after Retry-After when given |
//! | no connection, timeout, broken response | retryable |
//! | HTTP 413, gRPC RESOURCE_EXHAUSTED "larger than max" | split in half; permanent for one item |
//! | other gRPC codes (INVALID_ARGUMENT, …), HTTP 400 and other statuses | permanent, with the reason |

mod grpc;
mod http;
mod status;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{BoxFuture, ExportError, Signal};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use tonic::transport::Channel;

pub use crate::tls::Tls;
use crate::tls::{self, TlsSetupError};
use status::Failure;
pub use status::{parse_retry_after, MAX_RETRY_AFTER};
#[cfg(test)]
pub(crate) use status::{ProtoAny, ProtoDuration, RetryInfo, RpcStatus, RETRY_INFO_TYPE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    None,
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `scheme://host:port`; the path is the OTLP service's.
    Grpc(String),
    /// One full URL per signal.
    Http {
        logs: String,
        metrics: String,
        traces: String,
    },
}

impl Target {
    pub fn protocol(&self) -> Protocol {
        match self {
            Target::Grpc(_) => Protocol::Grpc,
            Target::Http { .. } => Protocol::HttpProtobuf,
        }
    }

    /// The URL requests of `signal` go to.
    pub fn url(&self, signal: Signal) -> &str {
        match self {
            Target::Grpc(url) => url,
            Target::Http {
                logs,
                metrics,
                traces,
            } => match signal {
                Signal::Logs => logs,
                Signal::Metrics => metrics,
                Signal::Traces => traces,
            },
        }
    }
}

/// What a client runs with, once validated. `Debug` shows header names only
/// (their values are marked sensitive).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    pub target: Target,
    pub compression: Compression,
    /// For one request, connection included.
    pub timeout: Duration,
    /// Sent with every request (gRPC metadata or HTTP headers).
    pub headers: ::http::HeaderMap,
    pub tls: Tls,
    /// Who answers, in messages: "the Agent", "the OTLP destination".
    pub peer: &'static str,
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct OtlpClient {
    id: String,
    settings: ClientSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Connected lazily on the first send (needs the runtime).
    channel: Option<Channel>,
    http: Option<HttpClient>,
}

impl OtlpClient {
    /// Reads the CA file, if any; connections are made on the first send.
    pub fn new(id: impl Into<String>, settings: ClientSettings) -> Result<Self, TlsSetupError> {
        let tls = tls::client_config(&settings.tls)?.map(Arc::new);
        Ok(OtlpClient {
            id: id.into(),
            settings,
            tls,
            channel: None,
            http: None,
        })
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Sends `payload`, splitting it when the destination finds it too large.
    pub fn send(&mut self, payload: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            self.connect()?;
            let this: &OtlpClient = self;
            this.send_splitting(payload).await
        })
    }

    fn connect(&mut self) -> Result<(), ExportError> {
        let timeout = self.settings.timeout;
        match &self.settings.target {
            Target::Grpc(url) if self.channel.is_none() => {
                let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
                    .map_err(|e| ExportError::permanent(format!("bad endpoint: {e}")))?
                    .connect_timeout(timeout);
                let connector = tls::connector(self.tls.clone(), true, timeout)
                    .map_err(ExportError::permanent)?;
                self.channel = Some(endpoint.connect_with_connector_lazy(connector));
            }
            Target::Http { .. } if self.http.is_none() => {
                let connector = tls::connector(self.tls.clone(), false, timeout)
                    .map_err(ExportError::permanent)?;
                self.http = Some(
                    Client::builder(hyper_util::rt::TokioExecutor::new())
                        .pool_idle_timeout(Duration::from_secs(30))
                        .build(connector),
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn send_splitting(&self, payload: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let reason = match self.send_once(&payload).await {
                Ok(()) => return Ok(()),
                Err(Failure::Error(e)) => return Err(e),
                Err(Failure::TooLarge(reason)) => reason,
            };
            let items = payload.item_count();
            if items <= 1 {
                return Err(ExportError::permanent(format!(
                    "a single {} is too large for {}: {reason}",
                    singular(payload.signal()),
                    self.settings.peer
                )));
            }
            tracing::debug!(exporter = %self.id, items, "request too large ({reason}); sending it in two halves");
            let (front, back) = halves(payload)?;
            // A half refused for good does not stop the other half.
            let first = self.send_splitting(front).await;
            if let Err(ExportError::Retryable { .. }) = first {
                return first;
            }
            let second = self.send_splitting(back).await;
            match (first, second) {
                (Err(e), Ok(())) => Err(e),
                (_, second) => second,
            }
        })
    }

    async fn send_once(&self, payload: &Batch) -> Result<(), Failure> {
        let attempt = async {
            match self.settings.target.protocol() {
                Protocol::Grpc => self.send_grpc(payload).await,
                Protocol::HttpProtobuf => self.send_http(payload).await,
            }
        };
        match tokio::time::timeout(self.settings.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(ExportError::retryable(format!(
                "{} at {} did not answer within {:?}",
                self.settings.peer,
                self.settings.target.url(payload.signal()),
                self.settings.timeout
            ))
            .into()),
        }
    }

    /// Logs once per answer and counts the items the destination turned away.
    /// Logs and counts a partial success. The count is clamped to the
    /// `sent` items: a destination cannot reject more than it was sent.
    fn partial_success(&self, signal: Signal, sent: usize, rejected: i64, message: &str) {
        let peer = self.settings.peer;
        let claimed = rejected;
        let rejected = rejected.clamp(0, i64::try_from(sent).unwrap_or(i64::MAX));
        if claimed != rejected {
            tracing::warn!(exporter = %self.id, claimed, sent, "{peer} claimed {claimed} rejected {} of the {sent} sent; counting {rejected}", signal.item_noun());
        }
        if rejected > 0 {
            tracing::warn!(exporter = %self.id, rejected, "{peer} rejected {rejected} {}: {message}", signal.item_noun());
            metrics::counter!(ccpipe_pipeline::telemetry::exporter_rejected(signal), "exporter" => self.id.clone())
                .increment(rejected as u64);
        } else if !message.is_empty() {
            tracing::warn!(exporter = %self.id, "{peer} accepted the {signal} with a warning: {message}");
        }
    }
}

/// Cuts a batch in two at half its items: on a request boundary it stays
/// encoded, inside a request it is decoded.
fn halves(mut back: Batch) -> Result<(Batch, Batch), ExportError> {
    let front = back.split_front(back.item_count() / 2)?;
    Ok((front, back))
}

fn singular(signal: Signal) -> &'static str {
    match signal {
        Signal::Logs => "log record",
        Signal::Metrics => "data point",
        Signal::Traces => "span",
    }
}

/// The request bytes as parts whose concatenation is one export request:
/// the received parts when still encoded, else one fresh encoding.
fn request_parts(payload: &Batch) -> Result<Vec<Bytes>, ExportError> {
    Ok(match payload.encoded() {
        Some(e) => e.parts().to_vec(),
        None => vec![Bytes::from(ccpipe_pipeline::encode::encode(
            payload.records()?,
        ))],
    })
}
