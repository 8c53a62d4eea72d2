//! The `kafka` receiver's settings, with the Collector's names:
//!
//! ```yaml
//! receivers:
//!   kafka:
//!     brokers: [127.0.0.1:9092]
//!     client_id: ccpipe
//!     group_id: ccpipe              # every gateway replica: the same group
//!     topic: telemetry              # optional: one topic for all signals
//!     encoding: otlp_proto          # or otlp_json
//!     logs: { topic: otlp_logs, encoding: otlp_proto }   # per signal
//!     initial_offset: earliest      # where a new group starts: earliest | latest
//!     session_timeout: 10s
//!     heartbeat_interval: 3s
//!     backpressure_wait: 100ms      # each try to hand a message to a full pipeline
//!     limits: { max_attribute_depth: 16, max_attributes: 256 }
//!     tls: { ca_file: ca.pem }
//!     auth: { sasl: { mechanism: SCRAM-SHA-512, username: u, password: ${env:P} } }
//! ```

use ccpipe_kafka::{AuthConfig, Connection, Encoding, SignalTopic, TlsConfig, Topics};
use ccpipe_pipeline::config::units::Duration;
use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::limits::Limits;
use serde::Deserialize;

use crate::otlp::config::LimitsConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    #[serde(default)]
    pub brokers: Vec<String>,
    #[serde(default = "default_id")]
    pub client_id: String,
    #[serde(default = "default_id")]
    pub group_id: String,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub encoding: Option<Encoding>,
    #[serde(default)]
    pub logs: SignalTopic,
    #[serde(default)]
    pub metrics: SignalTopic,
    #[serde(default)]
    pub traces: SignalTopic,
    #[serde(default)]
    pub initial_offset: InitialOffset,
    #[serde(default = "default_session_timeout")]
    pub session_timeout: Duration,
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval: Duration,
    #[serde(default = "default_backpressure_wait")]
    pub backpressure_wait: Duration,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
}

/// `initial_offset`: where a group with no committed offset starts. The
/// Collector defaults to `latest`; ccpipe to `earliest`, so a new gateway
/// group reads what the edges produced before it first ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialOffset {
    #[default]
    Earliest,
    Latest,
}

fn default_id() -> String {
    "ccpipe".into()
}
fn default_session_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(10))
}
fn default_heartbeat_interval() -> Duration {
    Duration(std::time::Duration::from_secs(3))
}
fn default_backpressure_wait() -> Duration {
    Duration(crate::otlp::config::DEFAULT_BACKPRESSURE_WAIT)
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: Connection,
    pub topics: Topics,
    /// librdkafka consumer properties beyond the connection's.
    pub consumer: Vec<(&'static str, String)>,
    pub backpressure_wait: std::time::Duration,
    pub limits: Limits,
}

impl KafkaConfig {
    pub fn settings(&self) -> Result<Settings, ccpipe_kafka::Invalid> {
        use ccpipe_kafka::Invalid;
        let connection = Connection::new(
            &self.brokers,
            &self.client_id,
            self.tls.as_ref(),
            &self.auth,
        )?;
        let topics = Topics::new(
            self.topic.as_deref(),
            self.encoding,
            &self.logs,
            &self.metrics,
            &self.traces,
        )?;
        if self.group_id.trim().is_empty() {
            return Err(Invalid::new("group_id", "must not be empty"));
        }
        let session = self.session_timeout.0;
        let heartbeat = self.heartbeat_interval.0;
        let secs = std::time::Duration::from_secs;
        if !(secs(1)..=secs(3600)).contains(&session) {
            return Err(Invalid::new("session_timeout", "must be from 1s to 1h"));
        }
        if heartbeat.is_zero() || heartbeat >= session {
            return Err(Invalid::new(
                "heartbeat_interval",
                format!(
                    "must be greater than 0 and less than session_timeout ({})",
                    self.session_timeout
                ),
            ));
        }
        let wait = self.backpressure_wait.0;
        if wait.is_zero() || wait > secs(60) {
            return Err(Invalid::new("backpressure_wait", "must be from 1ms to 60s"));
        }
        let limits = self
            .limits
            .limits()
            .map_err(|e| Invalid::new(e.key, e.message))?;
        let offset = match self.initial_offset {
            InitialOffset::Earliest => "earliest",
            InitialOffset::Latest => "latest",
        };
        let consumer = vec![
            ("group.id", self.group_id.trim().to_owned()),
            ("auto.offset.reset", offset.to_owned()),
            ("session.timeout.ms", session.as_millis().to_string()),
            ("heartbeat.interval.ms", heartbeat.as_millis().to_string()),
            // Offsets are stored by the receiver once the pipelines accepted
            // a message, and only stored offsets are committed (every
            // second, on a rebalance, and on shutdown).
            ("enable.auto.commit", "true".to_owned()),
            ("auto.commit.interval.ms", "1000".to_owned()),
            ("enable.auto.offset.store", "false".to_owned()),
            // Prefetch is bounded: while the pipelines refuse, fetching stops
            // once this much waits in memory.
            ("queued.max.messages.kbytes", "16384".to_owned()),
            ("enable.partition.eof", "false".to_owned()),
        ];
        Ok(Settings {
            connection,
            topics,
            consumer,
            backpressure_wait: wait,
            limits,
        })
    }
}

/// Parses and checks `cfg`, errors located at their key.
pub fn from_component(cfg: &ComponentConfig) -> Result<Settings, ConfigError> {
    let config: KafkaConfig = cfg.parse()?;
    config.settings().map_err(|e| cfg.locate(e))
}
