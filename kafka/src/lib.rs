//! What the `kafka` receiver and exporter share: the connection settings
//! (brokers, TLS, SASL) turned into librdkafka's, the topics and encodings
//! per signal with the Collector's defaults, and the client context that
//! routes librdkafka's logs and statistics into ccpipe's.
//!
//! The client is librdkafka through `rdkafka` (see docs/scale.md for why);
//! only this crate and the two components name it.

pub mod connection;
pub mod context;
pub mod topics;

pub use connection::{AuthConfig, Connection, SaslConfig, SaslMechanism, TlsConfig};
pub use topics::{Encoding, SignalTopic, Topics, SIGNAL_HEADER};

/// A setting that failed validation: the key path inside the component
/// (`auth.sasl.mechanism`) and what is wrong with it; the registries turn it
/// into a `ConfigError` located in the config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Invalid {
    pub key: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(key: &'static str, message: impl std::fmt::Display) -> Self {
        Invalid {
            key,
            message: message.to_string(),
        }
    }
}

/// Re-exported so the components name one version of the client.
pub use rdkafka;
