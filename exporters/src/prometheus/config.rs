//! The `prometheus` exporter's settings, with the Collector's names.

use std::net::SocketAddr;
use std::time::Duration;

use ccpipe_pipeline::config::units;
use serde::Deserialize;

use super::store::StoreSettings;
use crate::common::Invalid;

/// Where `/metrics` is served when `endpoint` is not set: loopback only.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:8889";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// `host:port` to serve `/metrics` on; `0.0.0.0:8889` for every interface.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Put before every metric name (`namespace_…`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The Collector's option: `false` leaves the unit and `_ratio` off the
    /// names (`claude_code_cost_usage_total`); counters keep `_total`.
    #[serde(default = "default_true")]
    pub add_metric_suffixes: bool,
    #[serde(default)]
    pub resource_to_telemetry_conversion: ResourceConversion,
    /// Series not updated for this long disappear.
    #[serde(default = "default_expiration")]
    pub metric_expiration: units::Duration,
    /// The most series kept; points of further series are refused and counted.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

/// `resource_to_telemetry_conversion`: resource attributes as labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceConversion {
    pub enabled: bool,
}

fn default_endpoint() -> String {
    DEFAULT_ENDPOINT.into()
}

fn default_true() -> bool {
    true
}

fn default_expiration() -> units::Duration {
    units::Duration(Duration::from_secs(300))
}

fn default_max_series() -> usize {
    10_000
}

/// What the exporter runs with, once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusSettings {
    pub endpoint: SocketAddr,
    pub store: StoreSettings,
}

impl PrometheusConfig {
    /// Checks every setting (no IO) and returns the typed settings.
    pub fn settings(&self) -> Result<PrometheusSettings, Invalid> {
        let endpoint = parse_endpoint(&self.endpoint).ok_or_else(|| {
            Invalid::new(
                "endpoint",
                format!(
                    "must be host:port with an IP address or localhost, e.g. {DEFAULT_ENDPOINT}; got {:?}",
                    self.endpoint
                ),
            )
        })?;
        let namespace = self.namespace.as_deref().map(str::trim);
        if namespace == Some("") {
            return Err(Invalid::new("namespace", "must not be empty when set"));
        }
        if self.metric_expiration.0.is_zero() {
            return Err(Invalid::new("metric_expiration", "must be greater than 0"));
        }
        if self.max_series == 0 {
            return Err(Invalid::new("max_series", "must be at least 1"));
        }
        Ok(PrometheusSettings {
            endpoint,
            store: StoreSettings {
                namespace: namespace.map(str::to_owned),
                add_suffixes: self.add_metric_suffixes,
                resource_labels: self.resource_to_telemetry_conversion.enabled,
                expiration: self.metric_expiration.0,
                max_series: self.max_series,
            },
        })
    }
}

fn parse_endpoint(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(addr) = s.parse() {
        return Some(addr);
    }
    let port = s.strip_prefix("localhost:")?.parse::<u16>().ok()?;
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}
