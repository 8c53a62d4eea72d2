//! The `otlp` receiver: OTLP/gRPC and OTLP/HTTP (protobuf or JSON, plain or
//! gzip), each on its own pre-bound port. A request is checked once into a
//! [`Payload`] (protobuf stays encoded; JSON is decoded) and handed to the
//! pipelines through [`Sink::deliver`]; a full
//! pipeline is answered with HTTP 503 / gRPC UNAVAILABLE after a short wait.
//! A request whose attributes exceed the [`Limits`] is refused whole (HTTP
//! 400 / gRPC INVALID_ARGUMENT) before it reaches a pipeline.
//!
//! Layers: `config.rs` turns the YAML into typed settings; `grpc.rs` and
//! `http.rs` serve from a bound listener and a [`Sink`] and know nothing of
//! the config; this file binds the sockets and runs both servers.

pub mod body;
pub mod config;
pub mod conn;
pub mod decode;
pub mod grpc;
mod grpc_zstd;
pub mod http;
pub mod security;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ReceiverFactory;
use ccpipe_pipeline::limits::{LimitError, Limits};
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::outputs::{Outputs, Refused};
use ccpipe_pipeline::payload::Payload;
use ccpipe_pipeline::telemetry;
use ccpipe_pipeline::{BoxFuture, BuildError, ComponentId, Kind, Receiver, Shutdown, Signal};
use metrics::SharedString;
use tokio::net::TcpListener;

use config::{Endpoint, Host, Settings};
use conn::{Acceptor, Timeouts};
use grpc::GrpcSettings;
use http::HttpSettings;
use security::BearerToken;

/// Which server a batch came in through (the `transport` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

/// Where both servers hand their batches: the receiver's pipelines, how long
/// to wait for room in them, and the accepted/refused counters.
pub struct Sink {
    receiver: SharedString,
    outputs: Outputs,
    wait: Duration,
    auth: Option<BearerToken>,
    limits: Limits,
}

/// The message of a 401 / UNAUTHENTICATED answer. It never says what the
/// client sent.
pub const UNAUTHENTICATED: &str = "missing or invalid bearer token";

impl Sink {
    pub fn new(receiver: &ComponentId, outputs: Outputs, backpressure_wait: Duration) -> Sink {
        Sink {
            receiver: SharedString::from_shared(Arc::from(receiver.to_string())),
            outputs,
            wait: backpressure_wait,
            auth: None,
            limits: config::DEFAULT_LIMITS,
        }
    }

    /// Refuses requests whose attributes exceed `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Sink {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `body`, counted against `service.memory_limit_mib` while it is read
    /// and decoded, and failing if not received `within`.
    pub fn meter<B>(&self, body: B, within: Option<Duration>) -> body::Metered<B> {
        body::Metered::new(body, self.outputs.memory_limit(), within)
    }

    /// Counts a request refused before its body could be decoded (its items
    /// are unknown), so the refusal shows in ccpipe's own metrics.
    pub fn refused_unread(&self, transport: Transport, reason: &'static str) {
        metrics::counter!(
            telemetry::RECEIVER_REFUSED_UNREAD,
            "receiver" => self.receiver.clone(),
            "transport" => transport.as_str(),
            "reason" => reason,
        )
        .increment(1);
    }

    /// Whether a body of `len` bytes would fit the memory limit now.
    pub fn has_room_for(&self, len: u64) -> bool {
        self.outputs
            .memory_limit()
            .is_none_or(|limit| limit.admits(usize::try_from(len).unwrap_or(usize::MAX)))
    }

    /// Counts a request over the limits, with its `items`, as refused, and
    /// returns the message for the client, naming the config key.
    pub fn over_limits(
        &self,
        signal: Signal,
        transport: Transport,
        items: usize,
        error: &LimitError,
    ) -> String {
        self.count_refused(signal, transport, "attribute_limits", items as u64);
        let prefix = format!("receivers.{}.limits.", self.receiver);
        let message = error.describe(&prefix).to_string();
        message
    }

    /// Requires `Authorization: Bearer <token>` on every request.
    pub fn with_auth(mut self, token: Option<BearerToken>) -> Sink {
        self.auth = token;
        self
    }

    /// True when no token is required or `authorization` carries it; a
    /// refusal is counted.
    pub fn admits(
        &self,
        authorization: Option<&::http::HeaderValue>,
        transport: Transport,
    ) -> bool {
        let Some(token) = &self.auth else {
            return true;
        };
        if token.admits(authorization) {
            return true;
        }
        metrics::counter!(
            telemetry::RECEIVER_UNAUTHENTICATED,
            "receiver" => self.receiver.clone(),
            "transport" => transport.as_str(),
        )
        .increment(1);
        false
    }

    /// Sends one decoded request to every pipeline of its signal, counting
    /// its items as accepted or refused. A request with no items is answered
    /// as accepted without bothering the pipelines.
    pub async fn deliver(&self, batch: Payload, transport: Transport) -> Result<(), Refused> {
        let signal = batch.signal();
        let items = batch.item_count() as u64;
        if items == 0 {
            return match self.outputs.accepts(signal) {
                true => Ok(()),
                false => Err(Refused::NoPipeline(signal)),
            };
        }
        let result = self.outputs.send(batch, self.wait).await;
        match &result {
            Ok(()) => metrics::counter!(
                telemetry::receiver_accepted(signal),
                "receiver" => self.receiver.clone(),
                "transport" => transport.as_str(),
            )
            .increment(items),
            Err(refused) => self.count_refused(signal, transport, refusal_reason(refused), items),
        }
        result
    }

    fn count_refused(
        &self,
        signal: Signal,
        transport: Transport,
        reason: &'static str,
        items: u64,
    ) {
        metrics::counter!(
            telemetry::receiver_refused(signal),
            "receiver" => self.receiver.clone(),
            "transport" => transport.as_str(),
            "reason" => reason,
        )
        .increment(items);
    }
}

/// The `reason` label of a refusal.
fn refusal_reason(refused: &Refused) -> &'static str {
    match refused {
        Refused::NoPipeline(_) => "no_pipeline",
        Refused::Busy(_) => "busy",
        Refused::ShuttingDown => "shutting_down",
        Refused::MemoryLimit => "memory_limit",
    }
}

/// The receiver once its sockets are bound.
pub struct OtlpReceiver {
    id: ComponentId,
    grpc: Option<(Acceptor, GrpcSettings)>,
    http: Option<(Acceptor, HttpSettings)>,
    sink: Arc<Sink>,
}

impl OtlpReceiver {
    /// Binds the enabled protocols' endpoints.
    /// Sockets come from `listeners`, which hands back the ones a previous
    /// graph bound at the same address (see [`Listeners`]).
    pub async fn bind(
        id: &ComponentId,
        settings: Settings,
        outputs: Outputs,
        listeners: &Listeners,
    ) -> Result<OtlpReceiver, BuildError> {
        let fail = |msg: String| BuildError::new(Kind::Receiver, id, msg);
        // Read the certificates before binding anything.
        let tls = |alpn: &[&[u8]]| match &settings.tls {
            Some(files) => files.server_config(alpn).map(Some).map_err(fail),
            None => Ok(None),
        };
        let grpc_tls = tls(&[b"h2"])?;
        let http_tls = tls(&[b"h2", b"http/1.1"])?;
        let exposed = match (settings.tls.is_some(), settings.auth.is_some()) {
            (true, true) => None,
            (true, false) => Some("without authentication"),
            (false, true) => Some("without TLS: the bearer token crosses the network in clear"),
            (false, false) => Some("without TLS or authentication"),
        };
        let max = settings.max_connections;
        let grpc = match settings.grpc {
            Some((endpoint, s)) => Some((
                Acceptor::new(
                    listen(id, "grpc", &endpoint, listeners, exposed)
                        .await
                        .map_err(fail)?,
                    grpc_tls,
                    max,
                )
                .with_timeouts(Timeouts {
                    first_byte: s.read_timeout,
                    idle: s.idle_timeout,
                }),
                s,
            )),
            None => None,
        };
        let http = match settings.http {
            Some((endpoint, s)) => Some((
                Acceptor::new(
                    listen(id, "http", &endpoint, listeners, exposed)
                        .await
                        .map_err(fail)?,
                    http_tls,
                    max,
                )
                .with_timeouts(Timeouts {
                    first_byte: s.read_header_timeout,
                    idle: s.idle_timeout,
                }),
                s,
            )),
            None => None,
        };
        let sink = Sink::new(id, outputs, settings.backpressure_wait)
            .with_auth(settings.auth)
            .with_limits(settings.limits);
        Ok(OtlpReceiver {
            id: id.clone(),
            grpc,
            http,
            sink: Arc::new(sink),
        })
    }
}

/// Binds `endpoint`, trying each address a host name resolves to.
async fn listen(
    id: &ComponentId,
    protocol: &str,
    endpoint: &Endpoint,
    listeners: &Listeners,
    exposed: Option<&str>,
) -> Result<TcpListener, String> {
    let addrs: Vec<SocketAddr> = match &endpoint.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, endpoint.port)],
        // Loopback for sure, whatever /etc/hosts says, and IPv4 like the default.
        Host::Name(name) if name == "localhost" => {
            vec![SocketAddr::from(([127, 0, 0, 1], endpoint.port))]
        }
        Host::Name(name) => tokio::net::lookup_host((name.as_str(), endpoint.port))
            .await
            .map_err(|e| format!("{protocol} endpoint {endpoint}: cannot resolve {name:?}: {e}"))?
            .collect(),
    };
    let mut last_error = None;
    for addr in addrs {
        match listeners.bind(&format!("{id}/{protocol}"), addr) {
            Ok(listener) => {
                match exposed {
                    Some(without) if !addr.ip().is_loopback() => tracing::warn!(
                        receiver = %id,
                        protocol,
                        address = %addr,
                        "listening on a non-loopback address: reachable from the network, {without}"
                    ),
                    _ => {}
                }
                return Ok(listener);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let key = format!("receivers.{id}.protocols.{protocol}.endpoint");
                let hint = ccpipe_pipeline::port_holder::in_use_hint(addr.port(), &key);
                last_error = Some(format!("{addr}: {e}; {hint}"));
            }
            Err(e) => last_error = Some(format!("{addr}: {e}")),
        }
    }
    Err(format!(
        "cannot listen on {protocol} endpoint {endpoint}: {}",
        last_error.unwrap_or_else(|| "the name resolves to no address".to_owned())
    ))
}

impl Receiver for OtlpReceiver {
    fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        let grpc = self.grpc.iter().map(|(l, _)| ("grpc", l));
        let http = self.http.iter().map(|(l, _)| ("http", l));
        grpc.chain(http)
            .filter_map(|(name, l)| l.local_addr().ok().map(|a| (name, a)))
            .collect()
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), String>> {
        let OtlpReceiver {
            id,
            grpc,
            http,
            sink,
        } = *self;
        Box::pin(async move {
            // If one server fails, stop the other too and report the failure.
            let stop = shutdown.child_token();
            let grpc = async {
                let Some((listener, settings)) = grpc else {
                    return Ok(());
                };
                let result = grpc::serve(listener, settings, sink.clone(), stop.clone()).await;
                if result.is_err() {
                    stop.cancel();
                }
                result
            };
            let http = async {
                let Some((listener, settings)) = http else {
                    return Ok(());
                };
                let result = http::serve(listener, settings, sink.clone(), stop.clone()).await;
                if result.is_err() {
                    stop.cancel();
                }
                result
            };
            let (grpc, http) = tokio::join!(grpc, http);
            let errors: Vec<String> = [grpc, http].into_iter().filter_map(Result::err).collect();
            match errors.is_empty() {
                true => Ok(()),
                false => Err(format!("receiver \"{id}\": {}", errors.join("; "))),
            }
        })
    }
}

/// `otlp`: OTLP over gRPC and HTTP (protobuf and JSON), as Claude Code sends it.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "otlp"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        config::from_component(cfg).map(drop)
    }
}

impl ReceiverFactory for Factory {
    fn build<'a>(
        &'a self,
        cfg: &'a ComponentConfig,
        outputs: Outputs,
        listeners: &'a Listeners,
    ) -> BoxFuture<'a, Result<Box<dyn Receiver>, BuildError>> {
        Box::pin(async move {
            let settings = config::from_component(cfg)?;
            let receiver = OtlpReceiver::bind(cfg.id(), settings, outputs, listeners).await?;
            Ok(Box::new(receiver) as Box<dyn Receiver>)
        })
    }
}
