//! ccpipe's own HTTP endpoints, beside the pipelines: Prometheus metrics on
//! `service.telemetry.metrics.address` and health on `service.health.address`.
//! Each is a tiny HTTP/1.1 server on a bound listener that answers GET from a
//! plain function; they run until the process ends, so `/readyz` can say
//! "draining" while the pipelines shut down.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::config::{AdminEndpoint, ServiceConfig};
use http::{header, Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::answer::Answer;
use crate::health::{self, Readiness};
use crate::self_metrics;

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A configured admin address that cannot be bound; `hint` says who holds
/// the port when it is taken, and which key to change.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on the {what} endpoint {address}: {source}{hint}")]
pub struct BindError {
    pub what: &'static str,
    pub address: SocketAddr,
    pub source: std::io::Error,
    pub hint: String,
}

/// The addresses the endpoints listen on, for the startup banner.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub metrics: Option<SocketAddr>,
    pub health: Option<SocketAddr>,
}

impl Listening {
    /// Lines for the startup banner, under the listeners.
    pub fn banner(&self) -> String {
        let mut s = String::new();
        if let Some(a) = self.metrics {
            s.push_str(&format!("  metrics:   http://{a}/metrics\n"));
        }
        if let Some(a) = self.health {
            s.push_str(&format!("  health:    http://{a}/healthz, /readyz\n"));
        }
        s
    }
}

/// Binds and serves the endpoints `service` asks for (installing the metrics
/// recorder first). A configured address that cannot be bound is an error;
/// a taken default address only warns, so a second ccpipe on one machine
/// still runs.
pub async fn start(service: &ServiceConfig, readiness: Readiness) -> Result<Listening, BindError> {
    let mut listening = Listening::default();
    if let Some(endpoint) = service.metrics {
        let handle = self_metrics::install();
        if let Some(listener) = bind("metrics", endpoint).await? {
            listening.metrics = listener.local_addr().ok();
            let handle = handle.clone();
            spawn(listener, move |method, path| {
                self_metrics::answer(&handle, method, path)
            });
        }
    }
    if let Some(endpoint) = service.health {
        if let Some(listener) = bind("health", endpoint).await? {
            listening.health = listener.local_addr().ok();
            spawn(listener, move |method, path| {
                health::answer(&readiness, method, path)
            });
        }
    }
    Ok(listening)
}

async fn bind(
    what: &'static str,
    endpoint: AdminEndpoint,
) -> Result<Option<TcpListener>, BindError> {
    match TcpListener::bind(endpoint.address).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if endpoint.configured => {
            let mut hint = String::new();
            if e.kind() == std::io::ErrorKind::AddrInUse {
                let key = match what {
                    "metrics" => "service.telemetry.metrics.address",
                    _ => "service.health.address",
                };
                let holder =
                    ccpipe_pipeline::port_holder::in_use_hint(endpoint.address.port(), key);
                hint = format!("; {holder}");
            }
            Err(BindError {
                what,
                address: endpoint.address,
                source: e,
                hint,
            })
        }
        Err(e) => {
            tracing::warn!(
                address = %endpoint.address,
                "the {what} endpoint is off: cannot listen on its default address: {e}"
            );
            Ok(None)
        }
    }
}

/// Serves `answer` on `listener` in a background task.
pub fn spawn<F>(listener: TcpListener, answer: F)
where
    F: Fn(&Method, &str) -> Answer + Send + Sync + 'static,
{
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!(error = %e, "admin endpoint: cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (status, content_type, body) = answer(req.method(), req.uri().path());
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = status;
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static(content_type),
                    );
                    async move { Ok::<_, Infallible>(response) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "admin endpoint connection ended with an error");
                }
            });
        }
    });
}
