//! `resourcedetection`: tags every batch's resource with where ccpipe runs,
//! as the Collector's processor of that name does with its `env` and
//! `system` detectors. Claude Code sends no `host.name` (unless
//! `OTEL_RESOURCE_INCLUDE_HOST=true`), and Datadog maps telemetry to hosts
//! by it; a sidecar beside the CLI knows the host.
//!
//! ```yaml
//! processors:
//!   resourcedetection:
//!     detectors: [env, system]   # earlier detectors win for the same key
//!     override: false            # keep what the client sent (default true, as the Collector)
//!     system:
//!       hostname_sources: [os]   # the only source ccpipe has
//! ```
//!
//! - `env`: the pairs of ccpipe's own `OTEL_RESOURCE_ATTRIBUTES`
//!   (`k=v,k2=v2`, values percent-decoded). A malformed value stops the build
//!   with the pair it could not read, rather than tagging with half of it.
//! - `system`: `host.name` (the kernel's node name) and `os.type`.
//!
//! Detection runs once, when the pipeline is built (and again on reload);
//! each batch then gets the detected attributes by `upsert` (`override:
//! true`) or `insert` (`override: false`), through the `resource`
//! processor's actions.

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::ComponentConfig;
use ccpipe_pipeline::factory::{ComponentSettings, ProcessorSettings, Typed};
use ccpipe_pipeline::{Batch, DecodeError, Processor, Signal, Verdict};
use serde::Deserialize;

use crate::actions::{ActionConfig, ActionKind};
use crate::resource::{ResourceConfig, ResourceProcessor};
use crate::value::ConfigValue;
use crate::Invalid;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDetectionConfig {
    #[serde(default)]
    pub detectors: Vec<Detector>,
    /// Replace attributes the client already set (the Collector's default).
    #[serde(default = "yes", rename = "override")]
    pub override_existing: bool,
    #[serde(default)]
    pub system: SystemConfig,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    Env,
    System,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    #[serde(default = "os_only")]
    pub hostname_sources: Vec<HostnameSource>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            hostname_sources: os_only(),
        }
    }
}

fn os_only() -> Vec<HostnameSource> {
    vec![HostnameSource::Os]
}

/// Where `host.name` comes from. The Collector also has `dns`, `cname` and
/// `lookup` (name service queries); ccpipe reads the kernel's name only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostnameSource {
    Os,
}

/// What the process can see of its environment, so tests need not change
/// the real one.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
    fn node_name(&self) -> String;
}

/// The running process's environment.
pub struct ThisProcess;

impl Environment for ThisProcess {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn node_name(&self) -> String {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }
}

impl ResourceDetectionConfig {
    /// Runs the detectors in `env` and builds the processor that adds what
    /// they found.
    pub fn build_in(&self, env: &dyn Environment) -> Result<ResourceDetectionProcessor, Invalid> {
        self.validate()?;
        let detected = self.detect(env)?;
        if detected.is_empty() {
            tracing::warn!(
                "resourcedetection: the detectors found nothing; batches pass unchanged"
            );
            return Ok(ResourceDetectionProcessor { tagging: None });
        }
        let found: Vec<String> = detected.iter().map(|(k, v)| format!("{k}={v}")).collect();
        tracing::info!("resourcedetection: {}", found.join(", "));
        let action = if self.override_existing {
            ActionKind::Upsert
        } else {
            ActionKind::Insert
        };
        let attributes = detected
            .into_iter()
            .map(|(key, value)| ActionConfig {
                key: Some(key),
                pattern: None,
                value: Some(ConfigValue::String(value)),
                from_attribute: None,
                action,
            })
            .collect();
        let tagging = ResourceConfig {
            attributes,
            hash_key: None,
        }
        .build()?;
        Ok(ResourceDetectionProcessor {
            tagging: Some(tagging),
        })
    }

    /// The detected attributes, the first detector's value winning for a key
    /// two of them set.
    pub fn detect(&self, env: &dyn Environment) -> Result<Vec<(String, String)>, Invalid> {
        let mut found: Vec<(String, String)> = Vec::new();
        for detector in &self.detectors {
            let pairs = match detector {
                Detector::Env => from_env(env)?,
                Detector::System => vec![
                    ("host.name".to_owned(), env.node_name()),
                    ("os.type".to_owned(), os_type().to_owned()),
                ],
            };
            for (key, value) in pairs {
                if !found.iter().any(|(k, _)| *k == key) {
                    found.push((key, value));
                }
            }
        }
        Ok(found)
    }
}

/// Adds the detected attributes; nothing when nothing was detected.
#[derive(Debug)]
pub struct ResourceDetectionProcessor {
    tagging: Option<ResourceProcessor>,
}

impl Processor for ResourceDetectionProcessor {
    fn process(&mut self, batch: &mut Batch) -> Result<Verdict, DecodeError> {
        match &mut self.tagging {
            Some(tagging) => tagging.process(batch),
            None => Ok(Verdict::Keep),
        }
    }
}

/// The variable the `env` detector reads, as the OpenTelemetry SDKs do.
pub const RESOURCE_ATTRIBUTES_VAR: &str = "OTEL_RESOURCE_ATTRIBUTES";

fn from_env(env: &dyn Environment) -> Result<Vec<(String, String)>, Invalid> {
    let Some(text) = env.var(RESOURCE_ATTRIBUTES_VAR) else {
        return Ok(Vec::new());
    };
    parse_resource_attributes(&text).map_err(|why| {
        Invalid::new(
            "detectors",
            format!("env: {RESOURCE_ATTRIBUTES_VAR} is not `key=value,…`: {why}"),
        )
    })
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: comma-separated `key=value` pairs,
/// blanks around each trimmed, values percent-decoded (the SDK
/// specification's W3C Baggage octet rules). Empty entries are skipped.
pub fn parse_resource_attributes(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for entry in text.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!("{entry:?} has no `=`"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("{entry:?} has an empty key"));
        }
        let value = percent_decode(value.trim())
            .ok_or_else(|| format!("the value of {key:?} is not valid percent-encoded UTF-8"))?;
        pairs.push((key.to_owned(), value));
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `os.type` as the semantic conventions spell it.
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// `resourcedetection`: where ccpipe runs, on every resource.
pub type Factory = Typed<ResourceDetectionConfig>;

impl ComponentSettings for ResourceDetectionConfig {
    const TYPE: &'static str = "resourcedetection";

    fn validate(&self) -> Result<(), Invalid> {
        if self.detectors.is_empty() {
            return Err(Invalid::new(
                "detectors",
                "list at least one detector (env, system)",
            ));
        }
        if self.system.hostname_sources.is_empty() {
            return Err(Invalid::new(
                "system.hostname_sources",
                "list at least one source (os)",
            ));
        }
        Ok(())
    }
}

impl ProcessorSettings for ResourceDetectionConfig {
    fn stage(self, cfg: &ComponentConfig, _: Signal) -> Result<Stage, Invalid> {
        Ok(crate::stage(cfg, self.build_in(&ThisProcess)?))
    }
}
