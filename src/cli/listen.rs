//! Where the chosen otlp receiver (or a remote gateway) listens, read from
//! the loaded config: what `claude-settings` points Claude Code at and what
//! `--check` compares a settings file with.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ccpipe_pipeline::config::{Config, Secret};
use ccpipe_receivers::otlp::config::{self as otlp, Endpoint, Host};

use super::otel_env::{Protocol, Signal};

/// Where the chosen otlp receiver listens.
#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    /// The receiver's id, for messages.
    pub receiver: String,
    pub grpc: Option<Endpoint>,
    /// The HTTP endpoint and its paths for metrics, logs, traces.
    pub http: Option<(Endpoint, [String; 3])>,
    /// Both protocols are served over TLS.
    pub tls: bool,
    /// Clients must show a certificate (`tls.client_ca_file`).
    pub mtls: bool,
    /// The bearer token clients must send (`auth.bearer_token`).
    pub token: Option<Secret>,
    /// The signals whose pipelines take data from this receiver.
    pub signals: Vec<Signal>,
}

impl Listen {
    /// The otlp receiver of `config` (`--receiver` picks one by id; else the
    /// one named `otlp`, else the only one).
    pub fn from_config(config: &Config, wanted: Option<&str>) -> Result<Listen, String> {
        let otlps: Vec<_> = config
            .receivers
            .iter()
            .filter(|(id, _)| id.type_name() == "otlp")
            .collect();
        let (id, cfg) = match wanted {
            Some(w) => otlps
                .iter()
                .find(|(id, _)| id.to_string() == w)
                .copied()
                .ok_or_else(|| {
                    format!(
                        "the config has no otlp receiver {w:?}; it has: {}",
                        list(otlps.iter().map(|(id, _)| id.to_string()))
                    )
                })?,
            None => match otlps.as_slice() {
                [] => return Err("the config has no otlp receiver to point Claude Code at".into()),
                [one] => *one,
                many => many
                    .iter()
                    .find(|(id, _)| id.name().is_none())
                    .copied()
                    .ok_or_else(|| {
                        format!(
                            "the config has several otlp receivers ({}); choose one with --receiver",
                            list(many.iter().map(|(id, _)| id.to_string()))
                        )
                    })?,
            },
        };
        let settings = otlp::from_component(cfg).map_err(|e| e.to_string())?;
        let raw: otlp::OtlpConfig = cfg.parse().map_err(|e| e.to_string())?;
        let listen = Listen {
            tls: settings.tls.is_some(),
            mtls: settings
                .tls
                .as_ref()
                .is_some_and(|t| t.client_ca_file.is_some()),
            token: raw.auth.map(|a| a.bearer_token),
            signals: signals_of(config, &id.to_string()),
            receiver: id.to_string(),
            grpc: settings.grpc.map(|(e, _)| e),
            http: settings.http.map(|(e, h)| {
                (
                    e,
                    [
                        h.metrics_path.clone(),
                        h.logs_path.clone(),
                        h.traces_path.clone(),
                    ],
                )
            }),
        };
        for e in listen.grpc.iter().chain(listen.http.iter().map(|(e, _)| e)) {
            if e.port == 0 {
                return Err(format!(
                    "receiver {:?} listens on {e}: port 0 is chosen at start, so Claude Code \
                     cannot be pointed at it; set a fixed port",
                    listen.receiver
                ));
            }
        }
        Ok(listen)
    }

    /// The URL path this ccpipe takes `signal` on over HTTP.
    pub fn http_path(&self, signal: Signal) -> Option<&str> {
        let (_, paths) = self.http.as_ref()?;
        Some(match signal {
            Signal::Metrics => &paths[0],
            Signal::Logs => &paths[1],
            Signal::Traces => &paths[2],
        })
    }

    /// `http(s)://host:port` for a client of `e`.
    pub fn url(&self, e: &Endpoint) -> String {
        client_url(e, self.tls)
    }

    fn is_gateway(&self) -> bool {
        self.receiver.starts_with("--endpoint")
    }

    /// "this ccpipe", or the gateway, in messages.
    pub fn what(&self) -> String {
        if self.is_gateway() {
            "the gateway".to_owned()
        } else {
            "this ccpipe".to_owned()
        }
    }

    /// Where the data goes, for the OK line of `--check`.
    pub fn described(&self) -> String {
        if self.is_gateway() {
            format!("the gateway ({})", self.receiver)
        } else {
            format!("this ccpipe (receiver {:?})", self.receiver)
        }
    }

    /// Why `signal` is not taken, in messages.
    pub fn pipelines_hint(&self, signal: Signal) -> String {
        if self.is_gateway() {
            format!("no otlp receiver is in a {} pipeline", signal.name())
        } else {
            format!(
                "receiver {:?} is in no {} pipeline",
                self.receiver,
                signal.name()
            )
        }
    }

    /// What the generated block cannot set itself, for the user to add.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.tls {
            notes.push(
                "the receiver serves TLS: if its certificate is not signed by a public CA, also set \
                 OTEL_EXPORTER_OTLP_CERTIFICATE to the CA certificate's path"
                    .to_owned(),
            );
        }
        if self.mtls {
            notes.push(
                "the receiver asks for client certificates: also set \
                 OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
                    .to_owned(),
            );
        }
        notes
    }

    /// The endpoint serving `protocol`, if any.
    pub fn endpoint_for(&self, protocol: Protocol) -> Option<&Endpoint> {
        if protocol.is_grpc() {
            self.grpc.as_ref()
        } else {
            self.http.as_ref().map(|(e, _)| e)
        }
    }
}

/// The signals of the pipelines that list `receiver`, in [`Signal::ALL`] order.
pub fn signals_of(config: &Config, receiver: &str) -> Vec<Signal> {
    let taken: Vec<Signal> = config
        .service
        .pipelines
        .iter()
        .filter(|(_, p)| p.receivers.iter().any(|r| r.to_string() == receiver))
        .map(|(id, _)| Signal::of(id.signal))
        .collect();
    Signal::ALL
        .into_iter()
        .filter(|s| taken.contains(s))
        .collect()
}

/// The signals the config takes through any otlp receiver (for a gateway
/// whose config is given with `--endpoint`).
pub fn signals_of_any_otlp(config: &Config) -> Vec<Signal> {
    let mut all = Vec::new();
    for id in config
        .receivers
        .keys()
        .filter(|id| id.type_name() == "otlp")
    {
        all.extend(signals_of(config, &id.to_string()));
    }
    Signal::ALL
        .into_iter()
        .filter(|s| all.contains(s))
        .collect()
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// `http(s)://host:port` for a client of `e`: an address bound to every
/// interface becomes the loopback address.
pub fn client_url(e: &Endpoint, tls: bool) -> String {
    let host = match &e.host {
        Host::Ip(IpAddr::V4(ip)) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        Host::Ip(IpAddr::V6(ip)) if ip.is_unspecified() => format!("[{}]", Ipv6Addr::LOCALHOST),
        Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        Host::Ip(ip) => ip.to_string(),
        Host::Name(n) => n.clone(),
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", e.port)
}
