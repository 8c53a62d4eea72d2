//! The `datadog` exporter's settings: Agent mode (OTLP to a local Datadog
//! Agent, the default) or agentless mode (`api`: Datadog's HTTP intake).

use std::collections::BTreeMap;
use std::time::Duration;

use ccpipe_pipeline::config::units;
use ccpipe_pipeline::config::Secret;
use serde::Deserialize;

use crate::common::{Invalid, QueueConfig, RetryConfig};
pub use crate::otlp_client::{Compression, Protocol, Tls};
use crate::tls::TlsConfig;

/// Datadog sites an API key can belong to.
pub const SITES: &[&str] = &[
    "datadoghq.com",
    "datadoghq.eu",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "ap1.datadoghq.com",
    "ddog-gov.com",
];

/// The Agent's OTLP gRPC intake when `agent.endpoint` is not set.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// The Agent's OTLP/HTTP intake when `agent.endpoint` is not set.
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";

/// The `datadog` exporter's config, as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatadogConfig {
    /// Agent mode settings; neither `agent` nor `api` means Agent mode with defaults.
    #[serde(default)]
    pub agent: Option<AgentConfig>,
    /// Agentless mode: send to Datadog's intake with an API key.
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// Sets `deployment.environment.name` (and `deployment.environment`).
    #[serde(default)]
    pub env: Option<String>,
    /// `service.name` when a resource has none (or always, with `override`).
    #[serde(default = "default_service")]
    pub service: String,
    #[serde(default, rename = "override")]
    pub override_service: bool,
    /// Sets `datadog.host.name`; empty = not set.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Added to every resource as attributes.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// For one request, connection included.
    #[serde(default = "default_timeout")]
    pub timeout: units::Duration,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `agent`: where the Agent's OTLP intake listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Default `http://localhost:4317` (grpc) or `:4318` (http/protobuf).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `grpc` (default) or `http/protobuf`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// `gzip` (default) or `none`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// For an `https://` endpoint (an Agent on another host, or behind a
    /// TLS-terminating proxy).
    #[serde(default)]
    pub tls: TlsConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            endpoint: None,
            protocol: default_protocol(),
            compression: default_compression(),
            tls: TlsConfig::default(),
        }
    }
}

/// `api`: agentless mode. `Debug` never shows the key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default)]
    pub key: Secret,
    #[serde(default = "default_site")]
    pub site: String,
    /// Full URL overrides of the intake (proxies, tests).
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    #[serde(default)]
    pub logs_endpoint: Option<String>,
}

/// `metrics`: how metrics are changed before sending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Convert cumulative monotonic sums and histograms to delta per series.
    pub cumulative_to_delta: bool,
}

fn default_service() -> String {
    "claude-code".into()
}

fn default_timeout() -> units::Duration {
    units::Duration(Duration::from_secs(10))
}

fn default_protocol() -> String {
    "grpc".into()
}

fn default_compression() -> String {
    "gzip".into()
}

fn default_site() -> String {
    "datadoghq.com".into()
}

/// Agent mode, validated. The endpoint is `scheme://host:port` with no path
/// for gRPC; for HTTP a path prefix is kept and `/v1/<signal>` appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    pub endpoint: String,
    pub protocol: Protocol,
    pub compression: Compression,
    pub tls: Tls,
}

/// Agentless mode, validated. `Debug` never shows the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    pub key: Secret,
    pub site: String,
    pub metrics_endpoint: Option<String>,
    pub logs_endpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Agent(AgentSettings),
    Api(ApiSettings),
}

/// The resource attributes every batch gets; see `enrich.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrichSettings {
    pub env: Option<String>,
    pub service: String,
    pub override_service: bool,
    pub hostname: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// What the exporter runs with, once the config is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatadogSettings {
    pub mode: Mode,
    pub enrich: EnrichSettings,
    pub timeout: Duration,
    pub cumulative_to_delta: bool,
}

impl DatadogConfig {
    /// Checks every setting (no IO) and returns the typed settings.
    pub fn settings(&self) -> Result<DatadogSettings, Invalid> {
        let mode = match (&self.agent, &self.api) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    "api",
                    "agent and api are mutually exclusive: use agent to send through a Datadog Agent, or api to send to Datadog directly",
                ))
            }
            (None, Some(api)) => Mode::Api(api.settings()?),
            (agent, None) => Mode::Agent(agent.clone().unwrap_or_default().settings()?),
        };
        if self.service.trim().is_empty() {
            return Err(Invalid::new("service", "must not be empty"));
        }
        for key in self.tags.keys() {
            if key.trim().is_empty() {
                return Err(Invalid::new("tags", "a tag name must not be empty"));
            }
        }
        if self.timeout.0.is_zero() {
            return Err(Invalid::new("timeout", "must be greater than 0"));
        }
        self.sending_queue.validate()?;
        self.retry_on_failure.validate()?;
        let non_empty = |v: &Option<String>| v.as_ref().filter(|s| !s.trim().is_empty()).cloned();
        Ok(DatadogSettings {
            mode,
            enrich: EnrichSettings {
                env: non_empty(&self.env),
                service: self.service.clone(),
                override_service: self.override_service,
                hostname: non_empty(&self.hostname),
                tags: self
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
            timeout: self.timeout.0,
            cumulative_to_delta: self.metrics.cumulative_to_delta,
        })
    }
}

impl DatadogConfig {
    /// Why this config cannot take `signal`, for the service's pipeline check
    /// (which today says only "does not support traces").
    pub fn unsupported(&self, signal: ccpipe_pipeline::Signal) -> Option<&'static str> {
        (self.api.is_some() && signal == ccpipe_pipeline::Signal::Traces).then_some(
            "agentless mode (api) sends logs and metrics only; use Agent mode (agent) for traces",
        )
    }
}

impl AgentConfig {
    fn settings(&self) -> Result<AgentSettings, Invalid> {
        let protocol = match self.protocol.as_str() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" => Protocol::HttpProtobuf,
            other => {
                return Err(Invalid::new(
                    "agent.protocol",
                    format!("must be one of grpc, http/protobuf; got {other:?}"),
                ))
            }
        };
        let compression = match self.compression.as_str() {
            "gzip" => Compression::Gzip,
            "none" => Compression::None,
            other => {
                return Err(Invalid::new(
                    "agent.compression",
                    format!("must be one of gzip, none; got {other:?}"),
                ))
            }
        };
        let endpoint = match &self.endpoint {
            Some(e) => e.trim().to_owned(),
            None => match protocol {
                Protocol::Grpc => DEFAULT_GRPC_ENDPOINT.to_owned(),
                Protocol::HttpProtobuf => DEFAULT_HTTP_ENDPOINT.to_owned(),
            },
        };
        let uri = check_url("agent.endpoint", &endpoint, true)?;
        let tls = self
            .tls
            .settings("agent.tls", "agent.tls.ca_file", &endpoint)?;
        let path = uri.path().trim_end_matches('/');
        if protocol == Protocol::Grpc && !path.is_empty() {
            return Err(Invalid::new(
                "agent.endpoint",
                format!("a gRPC endpoint has no path; use scheme://host:port (got {endpoint:?})"),
            ));
        }
        Ok(AgentSettings {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            protocol,
            compression,
            tls,
        })
    }
}

impl ApiConfig {
    fn settings(&self) -> Result<ApiSettings, Invalid> {
        if self.key.expose().trim().is_empty() {
            return Err(Invalid::new("api.key", "must not be empty"));
        }
        if !SITES.contains(&self.site.as_str()) {
            return Err(Invalid::new(
                "api.site",
                format!(
                    "unknown site {:?}; expected one of {}",
                    self.site,
                    SITES.join(", ")
                ),
            ));
        }
        for (key, url) in [
            ("api.metrics_endpoint", &self.metrics_endpoint),
            ("api.logs_endpoint", &self.logs_endpoint),
        ] {
            if let Some(url) = url {
                check_url(key, url, false)?;
            }
        }
        Ok(ApiSettings {
            key: Secret::new(self.key.expose().trim()),
            site: self.site.clone(),
            metrics_endpoint: self.metrics_endpoint.clone(),
            logs_endpoint: self.logs_endpoint.clone(),
        })
    }
}

/// An http(s) URL with a host (and, with `need_port`, an explicit port).
fn check_url(key: &'static str, url: &str, need_port: bool) -> Result<http::Uri, Invalid> {
    let what = if need_port {
        "an http:// or https:// URL with a host and a port, e.g. http://localhost:4317"
    } else {
        "an http:// or https:// URL with a host"
    };
    crate::common::no_credentials(key, url, "the Agent takes none, the intake takes api.key")?;
    let bad = || Invalid::new(key, format!("must be {what}; got {url:?}"));
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if !scheme_ok || !host_ok || (need_port && uri.port_u16().is_none()) {
        return Err(bad());
    }
    Ok(uri)
}

impl crate::common::ExporterConfig for DatadogConfig {
    type Settings = DatadogSettings;
    fn settings(&self) -> Result<DatadogSettings, crate::common::Invalid> {
        DatadogConfig::settings(self)
    }
    fn sending_queue(&self) -> &crate::common::QueueConfig {
        &self.sending_queue
    }
    fn retry_on_failure(&self) -> &crate::common::RetryConfig {
        &self.retry_on_failure
    }
}
