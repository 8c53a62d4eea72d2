//! The `otlp` receiver: OTLP/gRPC and OTLP/HTTP (protobuf or JSON, plain or
//! gzip), each on its own pre-bound port. A request is checked once into a
//! `Batch` (protobuf stays encoded; JSON is transcoded to
//! protobuf, and decoded only when unusual) and handed to the
//! pipelines through [`Sink::deliver`]; a full
//! pipeline is answered with HTTP 503 / gRPC UNAVAILABLE after a short wait.
//! A request whose attributes exceed the `Limits` is refused whole (HTTP
//! 400 / gRPC INVALID_ARGUMENT) before it reaches a pipeline.
//!
//! Layers: `config.rs` turns the YAML into typed settings; `grpc.rs` and
//! `http.rs` serve from a bound listener and a [`Sink`] and know nothing of
//! the config; `sink.rs` hands their batches to the pipelines; this file
//! binds the sockets and runs both servers.

pub mod body;
pub mod config;
pub mod conn;
pub mod decode;
pub mod grpc;
mod grpc_zstd;
pub mod http;
pub mod security;
mod sink;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ReceiverFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::outputs::Outputs;
use ccpipe_pipeline::{
    BoxFuture, BuildError, ComponentId, Kind, Receiver, ReceiverError, ServerError, Shutdown,
};
use tokio::net::TcpListener;

use config::{Endpoint, Host, Settings};
use conn::{Acceptor, Timeouts};
use grpc::GrpcSettings;
use http::HttpSettings;
pub use sink::{Sink, Transport, UNAUTHENTICATED};

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
        let fail = |why: &dyn std::fmt::Display| BuildError::new(Kind::Receiver, id, why);
        // Read the certificates before binding anything.
        let tls = |alpn: &[&[u8]]| match &settings.tls {
            Some(files) => files.server_config(alpn).map(Some).map_err(|e| fail(&e)),
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
                        .map_err(|e| fail(&e))?,
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
                        .map_err(|e| fail(&e))?,
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

/// Why the receiver cannot listen on one of its endpoints.
#[derive(Debug, thiserror::Error)]
enum ListenError {
    #[error("{protocol} endpoint {endpoint}: cannot resolve {name:?}: {error}")]
    Resolve {
        protocol: &'static str,
        endpoint: String,
        name: String,
        error: std::io::Error,
    },
    /// `last`: the last address tried and why it failed (with a hint when
    /// another process holds the port).
    #[error("cannot listen on {protocol} endpoint {endpoint}: {last}")]
    Bind {
        protocol: &'static str,
        endpoint: String,
        last: String,
    },
}

/// Binds `endpoint`, trying each address a host name resolves to.
async fn listen(
    id: &ComponentId,
    protocol: &'static str,
    endpoint: &Endpoint,
    listeners: &Listeners,
    exposed: Option<&str>,
) -> Result<TcpListener, ListenError> {
    let addrs: Vec<SocketAddr> = match &endpoint.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, endpoint.port)],
        // Loopback for sure, whatever /etc/hosts says, and IPv4 like the default.
        Host::Name(name) if name == "localhost" => {
            vec![SocketAddr::from(([127, 0, 0, 1], endpoint.port))]
        }
        Host::Name(name) => tokio::net::lookup_host((name.as_str(), endpoint.port))
            .await
            .map_err(|error| ListenError::Resolve {
                protocol,
                endpoint: endpoint.to_string(),
                name: name.clone(),
                error,
            })?
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
    Err(ListenError::Bind {
        protocol,
        endpoint: endpoint.to_string(),
        last: last_error.unwrap_or_else(|| "the name resolves to no address".to_owned()),
    })
}

impl Receiver for OtlpReceiver {
    fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        let grpc = self.grpc.iter().map(|(l, _)| ("grpc", l));
        let http = self.http.iter().map(|(l, _)| ("http", l));
        grpc.chain(http)
            .filter_map(|(name, l)| l.local_addr().ok().map(|a| (name, a)))
            .collect()
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ReceiverError>> {
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
            let failed: Vec<ServerError> =
                [grpc, http].into_iter().filter_map(Result::err).collect();
            match failed.is_empty() {
                true => Ok(()),
                false => Err(ReceiverError { id, failed }),
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
