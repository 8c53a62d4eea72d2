//! What the `kafka` receiver and exporter share: the connection settings
//! (brokers, TLS, SASL) turned into librdkafka's, the topics and encodings
//! per signal with the Collector's defaults, and the client context that
//! routes librdkafka's logs and statistics into ccpipe's.
//!
//! The client is librdkafka through `rdkafka` (see docs/scale.md for why);
//! only this crate and the two components name it.

pub mod connection;
pub mod context;
#[doc(hidden)]
pub mod testing;
pub mod topics;

pub use connection::{AuthConfig, Connection, SaslConfig, SaslMechanism, TlsConfig};
pub use topics::{Encoding, SignalTopic, Topics, SIGNAL_HEADER};

/// A setting that failed validation, located by the registries at its key.
pub use ccpipe_pipeline::config::Invalid;

/// Re-exported so the components name one version of the client.
pub use rdkafka;
