//! The `otlp` (gRPC) and `otlp_http` exporters' settings, with the
//! Collector's names: `endpoint`, per-signal endpoints for HTTP, `headers`,
//! `compression`, `timeout`, `tls`, `retry_on_failure`, `sending_queue`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ccpipe_pipeline::config::units;
use ccpipe_pipeline::config::Secret;
use ccpipe_pipeline::Signal;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::common::{Invalid, QueueConfig, RetryConfig};
use crate::otlp_client::{ClientSettings, Compression, Protocol, Target, Tls};

/// Both exporters' config, as written in YAML. The per-signal endpoints are
/// for `otlp_http` only; `otlp` refuses them with a clear message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// gRPC: `https://host:port`, `http://host:port`, or `host:port` (TLS
    /// unless `tls.insecure`). HTTP: the base URL; `/v1/<signal>` is appended.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    /// Sent with every request; values may use `${env:VAR}`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// `gzip` (default) or `none`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// For one request, connection included.
    #[serde(default = "default_timeout")]
    pub timeout: units::Duration,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub sending_queue: QueueConfig,
}

/// `tls`: for https:// endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Plain-text gRPC for an endpoint written `host:port` (the Collector's key).
    pub insecure: bool,
    /// PEM certificates to trust instead of the built-in (Mozilla) roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

fn default_compression() -> String {
    "gzip".into()
}

/// The Collector's default for its OTLP exporters.
fn default_timeout() -> units::Duration {
    units::Duration(Duration::from_secs(5))
}

const SIGNAL_KEYS: [(&str, Signal); 3] = [
    ("logs_endpoint", Signal::Logs),
    ("metrics_endpoint", Signal::Metrics),
    ("traces_endpoint", Signal::Traces),
];

impl OtlpConfig {
    /// Checks every setting (no IO) and returns the client's settings.
    pub fn settings(&self, protocol: Protocol) -> Result<ClientSettings, Invalid> {
        let compression = match self.compression.as_str() {
            "gzip" => Compression::Gzip,
            "none" => Compression::None,
            "zstd" => {
                return Err(Invalid::new(
                    "compression",
                    "zstd is not supported; use gzip or none",
                ))
            }
            other => {
                return Err(Invalid::new(
                    "compression",
                    format!("must be one of gzip, none; got {other:?}"),
                ))
            }
        };
        if self.timeout.0.is_zero() {
            return Err(Invalid::new("timeout", "must be greater than 0"));
        }
        let target = match protocol {
            Protocol::Grpc => self.grpc_target()?,
            Protocol::HttpProtobuf => self.http_target()?,
        };
        let headers = headers(&self.headers, protocol)?;
        self.sending_queue.validate()?;
        self.retry_on_failure.validate()?;
        Ok(ClientSettings {
            target,
            compression,
            timeout: self.timeout.0,
            headers,
            tls: Tls {
                ca_file: self.tls.ca_file.clone(),
                insecure_skip_verify: self.tls.insecure_skip_verify,
            },
            peer: "the OTLP destination",
        })
    }

    /// Why an `otlp_http` exporter cannot take `signal`: no endpoint for it.
    pub fn unsupported(&self, signal: Signal) -> Option<String> {
        if self.endpoint.is_some() {
            return None;
        }
        let (key, _) = SIGNAL_KEYS.iter().find(|(_, s)| *s == signal)?;
        let set = match signal {
            Signal::Logs => &self.logs_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Traces => &self.traces_endpoint,
        };
        set.is_none()
            .then(|| format!("it has no endpoint for {signal}; set endpoint or {key}"))
    }

    fn grpc_target(&self) -> Result<Target, Invalid> {
        for (key, _) in SIGNAL_KEYS {
            let set = match key {
                "logs_endpoint" => &self.logs_endpoint,
                "metrics_endpoint" => &self.metrics_endpoint,
                _ => &self.traces_endpoint,
            };
            if set.is_some() {
                return Err(Invalid::new(
                    "endpoint",
                    format!("{key} is for otlp_http; the otlp (gRPC) exporter takes one endpoint"),
                ));
            }
        }
        let Some(endpoint) = self.endpoint.as_deref().map(str::trim) else {
            return Err(Invalid::new(
                "endpoint",
                "required, e.g. https://collector.example.com:4317",
            ));
        };
        let url = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            let scheme = if self.tls.insecure { "http" } else { "https" };
            format!("{scheme}://{endpoint}")
        };
        let uri = check_url("endpoint", &url, endpoint)?;
        if uri.port_u16().is_none() {
            return Err(Invalid::new(
                "endpoint",
                format!("needs a port, e.g. collector:4317; got {endpoint:?}"),
            ));
        }
        if !uri.path().trim_end_matches('/').is_empty() {
            return Err(Invalid::new(
                "endpoint",
                format!("a gRPC endpoint has no path; use scheme://host:port (got {endpoint:?})"),
            ));
        }
        Ok(Target::Grpc(url.trim_end_matches('/').to_owned()))
    }

    fn http_target(&self) -> Result<Target, Invalid> {
        let base = match self.endpoint.as_deref().map(str::trim) {
            Some(e) => {
                check_url("endpoint", e, e)?;
                Some(e.trim_end_matches('/'))
            }
            None => None,
        };
        let mut urls = Vec::with_capacity(3);
        for (key, signal) in SIGNAL_KEYS {
            let own = match signal {
                Signal::Logs => &self.logs_endpoint,
                Signal::Metrics => &self.metrics_endpoint,
                Signal::Traces => &self.traces_endpoint,
            };
            let url = match (own.as_deref().map(str::trim), base) {
                (Some(url), _) => {
                    check_url(key, url, url)?;
                    url.to_owned()
                }
                (None, Some(base)) => format!("{base}/v1/{signal}"),
                // No endpoint for this signal: `unsupported` refuses it in a pipeline.
                (None, None) => String::new(),
            };
            urls.push(url);
        }
        if urls.iter().all(String::is_empty) {
            return Err(Invalid::new(
                "endpoint",
                "required (or logs_endpoint, metrics_endpoint, traces_endpoint), e.g. https://collector.example.com:4318",
            ));
        }
        let [logs, metrics, traces]: [String; 3] = urls.try_into().expect("three signals");
        Ok(Target::Http {
            logs,
            metrics,
            traces,
        })
    }
}

/// An http(s) URL with a host; `written` is what the user wrote.
fn check_url(key: &'static str, url: &str, written: &str) -> Result<http::Uri, Invalid> {
    let bad = || {
        Invalid::new(
            key,
            format!("must be an http:// or https:// URL with a host; got {written:?}"),
        )
    };
    crate::common::no_credentials(key, url, "send them in headers, e.g. authorization")?;
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(uri)
}

/// Header names and values as HTTP allows them (gRPC metadata: lower case);
/// the values are marked sensitive so `Debug` never shows them. Headers with
/// an empty value are left out.
fn headers(map: &BTreeMap<String, Secret>, protocol: Protocol) -> Result<HeaderMap, Invalid> {
    let mut out = HeaderMap::new();
    for (name, value) in map {
        // An unset `${env:VAR:-}` leaves an empty value: nothing to send.
        if value.is_empty() {
            continue;
        }
        let header = match protocol {
            Protocol::Grpc => HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            Protocol::HttpProtobuf => HeaderName::from_bytes(name.as_bytes()),
        }
        .map_err(|_| Invalid::new("headers", format!("{name:?} is not a valid header name")))?;
        if protocol == Protocol::Grpc && header.as_str().ends_with("-bin") {
            return Err(Invalid::new(
                "headers",
                format!("{name:?}: binary (-bin) metadata is not supported"),
            ));
        }
        let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
            Invalid::new(
                "headers",
                format!("the value of {name:?} holds characters that cannot go into a header"),
            )
        })?;
        value.set_sensitive(true);
        out.insert(header, value);
    }
    Ok(out)
}
