//! The config file, in the OpenTelemetry Collector's YAML shape: `receivers`,
//! `processors`, `exporters`, `connectors` and `service.pipelines`. It is loaded with
//! figment from files and `CCPIPE_…` overrides (see [`load`]),
//! `${env:VAR}`-expanded, and checked strictly.
//!
//! Component sections stay raw here: each component crate types and checks
//! its own settings with [`ComponentConfig::parse`] and reports problems with
//! [`ComponentConfig::error`], so this crate names no component.

mod decode;
mod error;
mod expand;
mod invalid;
mod load;
mod locate;
mod mask;
mod references;
mod secret;
mod section;
mod source;
pub mod units;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use figment::value::{Dict, Tag, Value};

use crate::id::{ComponentId, IdError, Kind};
use crate::Signal;
use locate::KeyPath;
use source::Origins;

pub use decode::{DEFAULT_HEALTH_ADDRESS, DEFAULT_METRICS_ADDRESS};
pub use error::ConfigError;
pub use invalid::Invalid;
pub use load::{load, load_str};
pub use mask::mask_url_secrets;
pub use secret::Secret;
pub use section::ServiceSection;

/// The configuration used when no `--config` is given: OTLP in on
/// 127.0.0.1:4317 (gRPC) and :4318 (HTTP), batched, printed and written to a
/// JSONL file, for all three signals.
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");

/// A loaded, expanded and reference-checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub receivers: BTreeMap<ComponentId, ComponentConfig>,
    pub processors: BTreeMap<ComponentId, ComponentConfig>,
    pub exporters: BTreeMap<ComponentId, ComponentConfig>,
    /// `connectors`: each is an exporter of some pipelines and a receiver of
    /// others (docs/claude_code_metrics.md).
    pub connectors: BTreeMap<ComponentId, ComponentConfig>,
    pub service: ServiceConfig,
    /// Things that are allowed but probably mistakes, e.g.
    /// `exporter "file/raw" is configured but used by no pipeline`.
    pub warnings: Vec<String>,
}

/// The `service` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub pipelines: BTreeMap<PipelineId, PipelineConfig>,
    /// `service.shutdown_timeout`, default 10s.
    pub shutdown_timeout: std::time::Duration,
    /// `service.telemetry.logs.level`, a tracing `EnvFilter` directive; default "info".
    pub log_level: String,
    /// `service.telemetry.metrics.address`: ccpipe's own metrics in Prometheus
    /// text on `/metrics`; default 127.0.0.1:8888; `None` when `address: ""`
    /// or `level: none`.
    pub metrics: Option<AdminEndpoint>,
    /// `service.health.address`: `/healthz` and `/readyz`; default
    /// 127.0.0.1:13133; `None` when `address: ""`.
    pub health: Option<AdminEndpoint>,
    /// `service.memory_limit_mib`: what all queues and the request bodies
    /// being read together may hold, by their byte estimates, before
    /// receivers answer 503; `None` (absent or 0) leaves only the per-queue
    /// budgets. At most 1048576 (1 TiB).
    pub memory_limit_mib: Option<u64>,
    /// `service.view`, kept raw: the binary's web view types and checks it.
    pub view: Option<ServiceSection>,
}

/// Where one of ccpipe's own HTTP endpoints (metrics, health) listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminEndpoint {
    pub address: std::net::SocketAddr,
    /// Set in the config, rather than the default: failing to listen there is
    /// then an error, while a taken default port (a second ccpipe on the same
    /// machine) only warns.
    pub configured: bool,
}

/// A pipeline id: `logs`, `metrics/local`, `traces/datadog`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    pub signal: Signal,
    pub name: Option<String>,
}

/// Why a string is not a pipeline id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineIdError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("unknown signal {0:?}, expected logs, metrics or traces")]
    UnknownSignal(String),
}

impl TryFrom<&ComponentId> for PipelineId {
    type Error = PipelineIdError;

    fn try_from(id: &ComponentId) -> Result<Self, PipelineIdError> {
        let signal = Signal::from_type(id.type_name())
            .ok_or_else(|| PipelineIdError::UnknownSignal(id.type_name().to_owned()))?;
        Ok(PipelineId {
            signal,
            name: id.name().map(str::to_owned),
        })
    }
}

impl FromStr for PipelineId {
    type Err = PipelineIdError;

    fn from_str(s: &str) -> Result<Self, PipelineIdError> {
        PipelineId::try_from(&s.parse::<ComponentId>()?)
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{name}", self.signal),
            None => write!(f, "{}", self.signal),
        }
    }
}

/// One pipeline: which receivers feed it, the processors in order, and the
/// exporters it fans out to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(default)]
    pub receivers: Vec<ComponentId>,
    #[serde(default)]
    pub processors: Vec<ComponentId>,
    #[serde(default)]
    pub exporters: Vec<ComponentId>,
}

/// The raw settings of one component (after merging and expansion), and
/// where they were defined, so its crate can type them and report errors
/// that name the file, line and key. Its `Debug` masks secret-looking values
/// as `print-config` does: the raw YAML still holds every password and key.
#[derive(Clone)]
pub struct ComponentConfig {
    id: ComponentId,
    kind: Kind,
    value: Value,
    origins: Arc<Origins>,
}

impl ComponentConfig {
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Deserializes into a component's strict (`#[serde(deny_unknown_fields)]`)
    /// config struct. An empty value (`file:`) reads like `{}`, so defaults apply.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let empty = Value::Dict(Tag::Default, Dict::new());
        let value = match &self.value {
            Value::Empty(..) => &empty,
            value => value,
        };
        T::deserialize(value).map_err(|e| self.origins.figment_error(&self.path(""), e))
    }

    /// A validation error about `key` (dotted, relative to this component;
    /// "" is the component itself), naming the file, line and full key path.
    pub fn error(&self, key: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError::one(self.origins.problem(&self.path(key), message))
    }

    /// A settings problem found by the component, located at its key.
    pub fn locate(&self, e: Invalid) -> ConfigError {
        self.error(&e.key, e.message)
    }

    fn path(&self, key: &str) -> KeyPath {
        let mut path: KeyPath = self.kind.section().split('.').map(str::to_owned).collect();
        path.push(self.id.to_string());
        path.extend(key.split('.').filter(|k| !k.is_empty()).map(str::to_owned));
        path
    }
}

impl fmt::Debug for ComponentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentConfig")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("value", &mask::masked_value(&self.value))
            .field("origins", &self.origins)
            .finish()
    }
}

impl Config {
    /// The effective configuration after merging and expansion, as YAML, with
    /// the values of secret-looking keys shown as "[REDACTED]"; for
    /// `ccpipe print-config`.
    pub fn to_masked_yaml(&self) -> String {
        mask::to_masked_yaml(self)
    }
}
