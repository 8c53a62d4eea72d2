//! The top-level schema: the four sections, component ids, and the strict
//! `service` section. Component settings stay raw for their crates to parse.

use std::collections::BTreeMap;
use std::sync::Arc;

use figment::value::{Dict, Value};
use serde::Deserialize;

use super::error::{ConfigError, Problem};
use super::source::Origins;
use super::units::Duration;
use super::{AdminEndpoint, ComponentConfig, Config, PipelineConfig, PipelineId, ServiceConfig};
use crate::id::{ComponentId, Kind};

const SECTIONS: [&str; 5] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "service",
];
const DEFAULT_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const DEFAULT_LOG_LEVEL: &str = "info";
/// Where ccpipe serves its own metrics (Prometheus text on /metrics) and its
/// health (/healthz, /readyz) unless the config says otherwise.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:8888";
pub const DEFAULT_HEALTH_ADDRESS: &str = "127.0.0.1:13133";
const METRICS_LEVELS: [&str; 4] = ["none", "basic", "normal", "detailed"];

// Each struct denies unknown fields itself: `#[serde(flatten)]` would
// silently turn that off.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceRaw {
    #[serde(default)]
    pipelines: Option<Dict>,
    #[serde(default)]
    shutdown_timeout: Option<Duration>,
    #[serde(default)]
    telemetry: Option<TelemetryRaw>,
    #[serde(default)]
    health: Option<HealthRaw>,
    #[serde(default)]
    memory_limit_mib: Option<u64>,
}

/// The largest `service.memory_limit_mib`: 1 TiB, so the limit in bytes
/// fits every counter it is compared with.
pub const MAX_MEMORY_LIMIT_MIB: u64 = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryRaw {
    #[serde(default)]
    logs: Option<TelemetryLogsRaw>,
    #[serde(default)]
    metrics: Option<TelemetryMetricsRaw>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryMetricsRaw {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    level: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthRaw {
    #[serde(default)]
    address: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryLogsRaw {
    #[serde(default)]
    level: Option<String>,
}

/// Types the merged, expanded tree, reporting every problem found.
pub(crate) fn decode(root: Dict, origins: &Arc<Origins>) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    for key in root.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
        let message = format!(
            "unknown field `{key}`, expected one of `receivers`, `processors`, `exporters`, `connectors`, `service`"
        );
        problems.push(origins.problem(std::slice::from_ref(key), message));
    }
    let receivers = components(&root, Kind::Receiver, origins, &mut problems);
    let processors = components(&root, Kind::Processor, origins, &mut problems);
    let exporters = components(&root, Kind::Exporter, origins, &mut problems);
    let connectors = components(&root, Kind::Connector, origins, &mut problems);
    let service = service(root.get("service"), origins, &mut problems);
    ConfigError::check(problems)?;
    Ok(Config {
        receivers,
        processors,
        exporters,
        connectors,
        service,
        warnings: Vec::new(),
    })
}

fn components(
    root: &Dict,
    kind: Kind,
    origins: &Arc<Origins>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<ComponentId, ComponentConfig> {
    let section = kind.section();
    let entries = match root.get(section) {
        None | Some(Value::Empty(..)) => return BTreeMap::new(),
        Some(Value::Dict(_, entries)) => entries,
        Some(other) => {
            let message = format!(
                "expected a map from {} ids to their settings, found {}",
                kind.noun(),
                shape(other)
            );
            problems.push(origins.problem(&[section.to_owned()], message));
            return BTreeMap::new();
        }
    };
    let mut out = BTreeMap::new();
    for (key, value) in entries {
        match key.parse::<ComponentId>() {
            Ok(id) => {
                let config = ComponentConfig {
                    id: id.clone(),
                    kind,
                    value: value.clone(),
                    origins: Arc::clone(origins),
                };
                out.insert(id, config);
            }
            Err(e) => problems.push(origins.problem(&[section.to_owned(), key.clone()], e)),
        }
    }
    out
}

fn service(value: Option<&Value>, origins: &Origins, problems: &mut Vec<Problem>) -> ServiceConfig {
    let base = ["service".to_owned()];
    let raw = match value {
        None | Some(Value::Empty(..)) => ServiceRaw::default(),
        Some(value) => ServiceRaw::deserialize(value).unwrap_or_else(|e| {
            problems.extend(origins.figment_problems(&base, e));
            ServiceRaw::default()
        }),
    };
    let mut pipelines = BTreeMap::new();
    for (key, value) in raw.pipelines.unwrap_or_default() {
        let path = ["service".to_owned(), "pipelines".to_owned(), key.clone()];
        let id = match key.parse::<PipelineId>() {
            Ok(id) => id,
            Err(e) => {
                problems.push(origins.problem(&path, e));
                continue;
            }
        };
        // An empty pipeline reads as one with nothing in it, so the reference
        // checks can say what is missing.
        let pipeline = match value {
            Value::Empty(..) => Ok(PipelineConfig::default()),
            value => PipelineConfig::deserialize(&value),
        };
        match pipeline {
            Ok(pipeline) => {
                pipelines.insert(id, pipeline);
            }
            Err(e) => problems.extend(origins.figment_problems(&path, e)),
        }
    }
    let (logs, metrics) = raw.telemetry.map_or((None, None), |t| (t.logs, t.metrics));
    let log_level = logs.and_then(|l| l.level);
    let (metrics_address, metrics_level) = metrics.map_or((None, None), |m| (m.address, m.level));
    let metrics_path = |key: &str| -> Vec<String> {
        ["service", "telemetry", "metrics", key]
            .map(str::to_owned)
            .to_vec()
    };
    let mut metrics = admin_endpoint(
        metrics_address,
        DEFAULT_METRICS_ADDRESS,
        &metrics_path("address"),
        origins,
        problems,
    );
    match metrics_level.as_deref() {
        None => {}
        Some("none") => metrics = None,
        Some(level) if METRICS_LEVELS.contains(&level) => {}
        Some(level) => problems.push(origins.problem(
            &metrics_path("level"),
            format!("unknown level {level:?}, expected none, basic, normal or detailed"),
        )),
    }
    let health = admin_endpoint(
        raw.health.and_then(|h| h.address),
        DEFAULT_HEALTH_ADDRESS,
        &["service", "health", "address"].map(str::to_owned),
        origins,
        problems,
    );
    let memory_limit_mib = raw.memory_limit_mib.filter(|&m| m > 0);
    if memory_limit_mib.is_some_and(|m| m > MAX_MEMORY_LIMIT_MIB) {
        problems.push(origins.problem(
            &["service", "memory_limit_mib"].map(str::to_owned),
            format!("must be at most {MAX_MEMORY_LIMIT_MIB} (1 TiB); 0 turns the limit off"),
        ));
    }
    ServiceConfig {
        metrics,
        health,
        pipelines,
        shutdown_timeout: raw
            .shutdown_timeout
            .map_or(DEFAULT_SHUTDOWN_TIMEOUT, |d| d.0),
        log_level: log_level.unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned()),
        memory_limit_mib,
    }
}

/// An admin listener's address: absent = the default, "" = off, otherwise
/// `ip:port` or `localhost:port` (loopback, like the receivers).
fn admin_endpoint(
    value: Option<String>,
    default: &str,
    path: &[String],
    origins: &Origins,
    problems: &mut Vec<Problem>,
) -> Option<AdminEndpoint> {
    let configured = value.is_some();
    let text = value.unwrap_or_else(|| default.to_owned());
    if text.is_empty() {
        return None;
    }
    let parsed = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)))
            .ok(),
        None => text.parse::<std::net::SocketAddr>().ok(),
    };
    match parsed {
        Some(address) => Some(AdminEndpoint {
            address,
            configured,
        }),
        None => {
            let message = format!(
                "invalid address {text:?}: expected ip:port, e.g. {default}, or \"\" to turn it off"
            );
            problems.push(origins.problem(path, message));
            None
        }
    }
}

fn shape(value: &Value) -> &'static str {
    match value {
        Value::String(..) | Value::Char(..) => "a string",
        Value::Bool(..) => "a boolean",
        Value::Num(..) => "a number",
        Value::Empty(..) => "null",
        Value::Dict(..) => "a map",
        Value::Array(..) => "a list",
    }
}
