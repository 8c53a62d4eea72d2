//! The `kafka` exporter's settings, with the Collector's names:
//!
//! ```yaml
//! exporters:
//!   kafka:
//!     brokers: [127.0.0.1:9092]
//!     client_id: ccpipe
//!     topic: telemetry              # optional: one topic for all signals
//!     encoding: otlp_proto          # or otlp_json
//!     logs: { topic: otlp_logs, encoding: otlp_proto }   # per signal
//!     key_attribute: session.id       # optional: an attribute, see below
//!     compression: zstd             # none | gzip | lz4 | zstd
//!     required_acks: all            # all | 1 | 0
//!     idempotent: true
//!     max_message_bytes: 1MiB
//!     timeout: 30s
//!     tls: { ca_file: ca.pem }
//!     auth: { sasl: { mechanism: SCRAM-SHA-512, username: u, password: ${env:P} } }
//!     sending_queue: { storage: /var/lib/ccpipe/kafka }
//!     retry_on_failure: { enabled: true }
//! ```
//! `key_attribute` names an attribute looked up on the resource first and
//! then on each record (Claude Code puts `session.id` on every record, not
//! on the resource); records are grouped into one message per key value.

use ccpipe_kafka::{AuthConfig, Connection, Encoding, SignalTopic, TlsConfig, Topics};
use ccpipe_pipeline::config::units::{ByteSize, Duration};
use serde::Deserialize;

use crate::common::{Invalid, QueueConfig, RetryConfig};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    #[serde(default)]
    pub brokers: Vec<String>,
    #[serde(default = "default_client_id")]
    pub client_id: String,
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
    pub key_attribute: Option<String>,
    #[serde(default)]
    pub compression: CompressionConfig,
    #[serde(default)]
    pub required_acks: Acks,
    #[serde(default = "default_true")]
    pub idempotent: bool,
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: ByteSize,
    /// How long a message may take to be acknowledged, retries included.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
}

/// `compression`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressionConfig {
    #[default]
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl CompressionConfig {
    fn as_str(self) -> &'static str {
        match self {
            CompressionConfig::None => "none",
            CompressionConfig::Gzip => "gzip",
            CompressionConfig::Lz4 => "lz4",
            CompressionConfig::Zstd => "zstd",
        }
    }
}

/// `required_acks`: `all` (every in-sync replica), `1` (the leader) or `0`
/// (none: nothing acknowledged, so nothing is known delivered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Acks {
    #[default]
    #[serde(rename = "all", alias = "-1")]
    All,
    #[serde(rename = "1")]
    Leader,
    #[serde(rename = "0")]
    None,
}

impl Acks {
    fn as_str(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::Leader => "1",
            Acks::None => "0",
        }
    }
}

fn default_client_id() -> String {
    "ccpipe".into()
}
fn default_true() -> bool {
    true
}
/// Kafka's own default `message.max.bytes` (brokers refuse larger messages
/// unless configured otherwise).
fn default_max_message_bytes() -> ByteSize {
    ByteSize(1_000_000)
}
fn default_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(30))
}

/// The largest `max_message_bytes` librdkafka takes.
const MAX_MESSAGE_BYTES_LIMIT: u64 = 1_000_000_000;

/// Checked settings, ready for [`super::KafkaExporter::new`].
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub connection: Connection,
    pub topics: Topics,
    pub key_attribute: Option<String>,
    /// librdkafka producer properties beyond the connection's.
    pub producer: Vec<(&'static str, String)>,
    pub timeout: std::time::Duration,
    pub max_message_bytes: usize,
}

impl KafkaConfig {
    pub fn settings(&self) -> Result<KafkaSettings, Invalid> {
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
        if let Some(key) = &self.key_attribute {
            if key.trim().is_empty() {
                return Err(Invalid::new(
                    "key_attribute",
                    "must name an attribute (e.g. session.id); leave it out for no key",
                ));
            }
        }
        if self.idempotent && self.required_acks != Acks::All {
            return Err(Invalid::new(
                "required_acks",
                "an idempotent producer needs required_acks: all (or set idempotent: false)",
            ));
        }
        let max = self.max_message_bytes.0;
        if !(1000..=MAX_MESSAGE_BYTES_LIMIT).contains(&max) {
            return Err(Invalid::new(
                "max_message_bytes",
                format!("must be from 1000 to {MAX_MESSAGE_BYTES_LIMIT}"),
            ));
        }
        let timeout = self.timeout.0;
        if timeout < std::time::Duration::from_millis(100)
            || timeout > std::time::Duration::from_secs(3600)
        {
            return Err(Invalid::new("timeout", "must be from 100ms to 1h"));
        }
        self.sending_queue.validate()?;
        self.retry_on_failure.validate()?;
        let producer = vec![
            ("acks", self.required_acks.as_str().to_owned()),
            ("enable.idempotence", self.idempotent.to_string()),
            ("compression.type", self.compression.as_str().to_owned()),
            ("message.max.bytes", max.to_string()),
            ("message.timeout.ms", timeout.as_millis().to_string()),
            // Small batches of messages go out together without waiting long.
            ("linger.ms", "5".to_owned()),
        ];
        Ok(KafkaSettings {
            connection,
            topics,
            key_attribute: self.key_attribute.as_ref().map(|k| k.trim().to_owned()),
            producer,
            timeout,
            max_message_bytes: max as usize,
        })
    }
}

impl crate::common::ExporterConfig for KafkaConfig {
    type Settings = KafkaSettings;
    fn settings(&self) -> Result<KafkaSettings, Invalid> {
        KafkaConfig::settings(self)
    }
    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }
    fn retry_on_failure(&self) -> &RetryConfig {
        &self.retry_on_failure
    }
}
