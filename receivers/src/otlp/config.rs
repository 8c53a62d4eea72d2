//! The `otlp` receiver's settings: the strict YAML schema, its defaults, a
//! pure `validate`, and the conversion into the typed settings the servers
//! take. This is the only file of the receiver that knows the config schema.
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc: { endpoint: 127.0.0.1:4317, max_recv_msg_size_mib: 4, max_concurrent_streams: 100,
//!               read_timeout: 30s, idle_timeout: 5m }
//!       http: { endpoint: 127.0.0.1:4318, max_request_body_size: 20MiB,
//!               logs_url_path: /v1/logs, metrics_url_path: /v1/metrics, traces_url_path: /v1/traces,
//!               read_header_timeout: 30s, read_timeout: 30s, idle_timeout: 1m }
//!     backpressure_wait: 500ms         # then 503 / UNAVAILABLE; at most 60s
//!     max_connections: 1024            # per listener
//!     auth: { bearer_token: ${env:CCPIPE_TOKEN} }
//!     tls: { cert_file: cert.pem, key_file: key.pem, client_ca_file: ca.pem }
//!     limits: { max_attribute_depth: 16, max_attributes: 256 }
//! ```
//! A protocol is enabled when its key is present; `grpc:` with no value
//! enables it with the defaults.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ccpipe_pipeline::config::units::{ByteSize, Duration};
use ccpipe_pipeline::config::Secret;
use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::limits::Limits;
use serde::{Deserialize, Deserializer};

use super::conn::DEFAULT_MAX_CONNECTIONS;
pub use super::decode::{DEFAULT_LIMITS, DEFAULT_MAX_ATTRIBUTES, DEFAULT_MAX_ATTRIBUTE_DEPTH};
use super::grpc::GrpcSettings;
use super::http::HttpSettings;
use super::security::{BearerToken, TlsFiles};

pub const DEFAULT_GRPC_ENDPOINT: &str = "127.0.0.1:4317";
pub const DEFAULT_HTTP_ENDPOINT: &str = "127.0.0.1:4318";
pub const DEFAULT_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
/// The largest gRPC message size accepted in the config, in MiB.
pub const MAX_RECV_MSG_SIZE_MIB_LIMIT: u64 = 4096;
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: u64 = 20 << 20;
/// Long enough that a queue full for a moment (an export, a flush) slows
/// clients down instead of refusing them; short enough that a client whose
/// own timeout is seconds still gets its 503 and retries.
pub const DEFAULT_BACKPRESSURE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
/// The longest `backpressure_wait` accepted: a request holds its connection
/// and its body while it waits, and shutdown waits for it.
pub const MAX_BACKPRESSURE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
pub const DEFAULT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// HTTP clients keep connections open between exports (a few seconds apart).
pub const DEFAULT_HTTP_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// gRPC clients keep one channel open; Claude Code exports metrics once a minute.
pub const DEFAULT_GRPC_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// The deepest `max_attribute_depth` accepted: deeper values would reach the
/// decoders' own recursion limits first (prost's 100 messages, serde_json's
/// 128 objects and arrays) on the longest path, an exemplar's attributes.
pub const MAX_ATTRIBUTE_DEPTH_LIMIT: usize = 24;

/// `receivers.otlp`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    #[serde(default)]
    pub protocols: Protocols,
    /// How long a request waits for room in a full pipeline queue before it
    /// is answered 503 / UNAVAILABLE.
    #[serde(default = "default_backpressure_wait")]
    pub backpressure_wait: Duration,
    /// Connections open at once on each listener; more wait in the backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Clients must send this bearer token.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Serve both protocols over TLS.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Bounds on attributes; a request over them is refused.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `limits`: against hostile input, far above what real clients send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// AnyValue levels: an attribute's value (or a log body) is level 1, a
    /// value in its array or kvlist level 2.
    pub max_attribute_depth: usize,
    /// Key-values in one attribute set (a resource's, a record's, a span's,
    /// one kvlist value's, ...).
    pub max_attributes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_attribute_depth: DEFAULT_MAX_ATTRIBUTE_DEPTH,
            max_attributes: DEFAULT_MAX_ATTRIBUTES,
        }
    }
}

/// `auth`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub bearer_token: Secret,
}

/// `tls`: PEM files; `client_ca_file` turns on mutual TLS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: String,
    pub key_file: String,
    #[serde(default)]
    pub client_ca_file: Option<String>,
}

/// `protocols`: each present key enables that protocol.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    #[serde(default, deserialize_with = "enabled")]
    pub grpc: Option<GrpcConfig>,
    #[serde(default, deserialize_with = "enabled")]
    pub http: Option<HttpConfig>,
}

/// `protocols.grpc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `host:port`; port 0 picks a free port.
    pub endpoint: String,
    /// Largest message accepted, after decompression, in MiB.
    pub max_recv_msg_size_mib: u64,
    /// HTTP/2 streams in flight per connection; 0 lifts the limit. 100 is the
    /// floor RFC 9113 recommends, far above a client's unary export calls.
    pub max_concurrent_streams: u32,
    /// How long a client may take to send its first byte (the HTTP/2
    /// preface) and each request message.
    pub read_timeout: Duration,
    /// A connection silent this long is closed (the client reconnects).
    pub idle_timeout: Duration,
}

/// `protocols.http`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port`; port 0 picks a free port.
    pub endpoint: String,
    /// Largest request body accepted, both as sent and after decompression.
    pub max_request_body_size: ByteSize,
    pub logs_url_path: String,
    pub metrics_url_path: String,
    pub traces_url_path: String,
    /// How long a client may take to send a request's headers (slow clients).
    pub read_header_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub read_timeout: Duration,
    /// A keep-alive connection silent this long is closed.
    pub idle_timeout: Duration,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            endpoint: DEFAULT_GRPC_ENDPOINT.to_owned(),
            max_recv_msg_size_mib: DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            read_timeout: Duration(DEFAULT_READ_TIMEOUT),
            idle_timeout: Duration(DEFAULT_GRPC_IDLE_TIMEOUT),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            endpoint: DEFAULT_HTTP_ENDPOINT.to_owned(),
            max_request_body_size: ByteSize(DEFAULT_MAX_REQUEST_BODY_SIZE),
            logs_url_path: "/v1/logs".to_owned(),
            metrics_url_path: "/v1/metrics".to_owned(),
            traces_url_path: "/v1/traces".to_owned(),
            read_header_timeout: Duration(DEFAULT_READ_TIMEOUT),
            read_timeout: Duration(DEFAULT_READ_TIMEOUT),
            idle_timeout: Duration(DEFAULT_HTTP_IDLE_TIMEOUT),
        }
    }
}

fn default_backpressure_wait() -> Duration {
    Duration(DEFAULT_BACKPRESSURE_WAIT)
}

fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

/// A present key enables its protocol; a null value means "with defaults".
fn enabled<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

pub use ccpipe_pipeline::config::Invalid;

fn invalid(key: &'static str, message: impl fmt::Display) -> Invalid {
    Invalid::new(key, message)
}

/// Everything the receiver needs to bind and serve, resolved from a valid config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub grpc: Option<(Endpoint, GrpcSettings)>,
    pub http: Option<(Endpoint, HttpSettings)>,
    pub backpressure_wait: std::time::Duration,
    pub max_connections: usize,
    pub auth: Option<BearerToken>,
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
}

impl OtlpConfig {
    /// Checks every setting without opening anything; the first problem wins.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.settings().map(drop)
    }

    /// Validates and resolves the typed settings for the servers.
    pub fn settings(&self) -> Result<Settings, Invalid> {
        let Protocols { grpc, http } = &self.protocols;
        if grpc.is_none() && http.is_none() {
            return Err(invalid(
                "protocols",
                "enable at least one protocol: grpc or http",
            ));
        }
        let grpc = grpc.as_ref().map(GrpcConfig::settings).transpose()?;
        let http = http.as_ref().map(HttpConfig::settings).transpose()?;
        if let (Some((g, _)), Some((h, _))) = (&grpc, &http) {
            if g == h && g.port != 0 {
                return Err(invalid(
                    "protocols.http.endpoint",
                    format!("{h} is also the grpc endpoint; use another port"),
                ));
            }
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be greater than 0"));
        }
        if self.backpressure_wait.0 > MAX_BACKPRESSURE_WAIT {
            return Err(invalid("backpressure_wait", "must be at most 60s"));
        }
        let auth = match &self.auth {
            None => None,
            Some(AuthConfig { bearer_token }) => {
                let bearer_token = bearer_token.expose();
                if bearer_token.trim().is_empty() {
                    return Err(invalid(
                        "auth.bearer_token",
                        "must not be empty (is the environment variable set?)",
                    ));
                }
                if bearer_token.trim() != bearer_token
                    || !bearer_token.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(invalid(
                        "auth.bearer_token",
                        "must be printable ASCII without spaces",
                    ));
                }
                Some(BearerToken::new(bearer_token))
            }
        };
        let tls = match &self.tls {
            None => None,
            Some(t) => {
                let files = [
                    ("tls.cert_file", Some(&t.cert_file)),
                    ("tls.key_file", Some(&t.key_file)),
                    ("tls.client_ca_file", t.client_ca_file.as_ref()),
                ];
                for (key, file) in files {
                    if file.is_some_and(|f| f.trim().is_empty()) {
                        return Err(invalid(key, "must not be empty"));
                    }
                }
                Some(TlsFiles {
                    cert_file: t.cert_file.clone().into(),
                    key_file: t.key_file.clone().into(),
                    client_ca_file: t.client_ca_file.clone().map(Into::into),
                })
            }
        };
        Ok(Settings {
            grpc,
            http,
            backpressure_wait: self.backpressure_wait.0,
            max_connections: self.max_connections,
            auth,
            tls,
            limits: self.limits.limits()?,
        })
    }
}

impl LimitsConfig {
    pub(crate) fn limits(&self) -> Result<Limits, Invalid> {
        let depth = self.max_attribute_depth;
        if depth == 0 || depth > MAX_ATTRIBUTE_DEPTH_LIMIT {
            return Err(invalid(
                "limits.max_attribute_depth",
                format!("must be between 1 and {MAX_ATTRIBUTE_DEPTH_LIMIT}, got {depth}"),
            ));
        }
        if self.max_attributes == 0 {
            return Err(invalid("limits.max_attributes", "must be greater than 0"));
        }
        Ok(Limits {
            max_attribute_depth: depth,
            max_attributes: self.max_attributes,
        })
    }
}

impl GrpcConfig {
    fn settings(&self) -> Result<(Endpoint, GrpcSettings), Invalid> {
        let endpoint = self
            .endpoint
            .parse()
            .map_err(|e| invalid("protocols.grpc.endpoint", e))?;
        let mib = self.max_recv_msg_size_mib;
        if mib == 0 || mib > MAX_RECV_MSG_SIZE_MIB_LIMIT {
            return Err(invalid(
                "protocols.grpc.max_recv_msg_size_mib",
                format!("must be between 1 and {MAX_RECV_MSG_SIZE_MIB_LIMIT}, got {mib}"),
            ));
        }
        for (key, d) in [
            ("protocols.grpc.read_timeout", self.read_timeout),
            ("protocols.grpc.idle_timeout", self.idle_timeout),
        ] {
            if d.0.is_zero() {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        let settings = GrpcSettings {
            max_recv_msg_size: usize::try_from(mib << 20).unwrap_or(usize::MAX),
            max_concurrent_streams: match self.max_concurrent_streams {
                0 => None,
                n => Some(n),
            },
            read_timeout: self.read_timeout.0,
            idle_timeout: self.idle_timeout.0,
        };
        Ok((endpoint, settings))
    }
}

impl HttpConfig {
    fn settings(&self) -> Result<(Endpoint, HttpSettings), Invalid> {
        let endpoint = self
            .endpoint
            .parse()
            .map_err(|e| invalid("protocols.http.endpoint", e))?;
        let size = self.max_request_body_size.0;
        let max_request_body_size = match usize::try_from(size) {
            Ok(0) => {
                return Err(invalid(
                    "protocols.http.max_request_body_size",
                    "must be greater than 0",
                ))
            }
            Ok(n) => n,
            Err(_) => {
                return Err(invalid(
                    "protocols.http.max_request_body_size",
                    format!("{size} bytes is too large for this machine"),
                ))
            }
        };
        let paths = [
            ("protocols.http.logs_url_path", &self.logs_url_path),
            ("protocols.http.metrics_url_path", &self.metrics_url_path),
            ("protocols.http.traces_url_path", &self.traces_url_path),
        ];
        for (i, &(key, path)) in paths.iter().enumerate() {
            if !path.starts_with('/') {
                return Err(invalid(key, format!("{path:?} must start with '/'")));
            }
            if path.contains(['?', '#'])
                || path.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(invalid(
                    key,
                    format!("{path:?} must be a plain path, without spaces, '?' or '#'"),
                ));
            }
            if let Some((other, _)) = paths[..i].iter().find(|(_, p)| *p == path) {
                let other = other.rsplit('.').next().unwrap_or(other);
                return Err(invalid(key, format!("{path:?} is already used by {other}")));
            }
        }
        for (key, d) in [
            (
                "protocols.http.read_header_timeout",
                self.read_header_timeout,
            ),
            ("protocols.http.read_timeout", self.read_timeout),
            ("protocols.http.idle_timeout", self.idle_timeout),
        ] {
            if d.0.is_zero() {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        let settings = HttpSettings {
            max_request_body_size,
            logs_path: self.logs_url_path.clone(),
            metrics_path: self.metrics_url_path.clone(),
            traces_path: self.traces_url_path.clone(),
            read_header_timeout: self.read_header_timeout.0,
            read_timeout: self.read_timeout.0,
            idle_timeout: self.idle_timeout.0,
        };
        Ok((endpoint, settings))
    }
}

/// Reads and validates a component's settings, reporting problems with the
/// file, line and key.
pub fn from_component(cfg: &ComponentConfig) -> Result<Settings, ConfigError> {
    let config: OtlpConfig = cfg.parse()?;
    config.settings().map_err(|e| cfg.locate(e))
}

/// Where to listen: `127.0.0.1:4317`, `localhost:4317`, `[::1]:4317`,
/// `0.0.0.0:4317`. Parsing is pure; names other than `localhost` are
/// resolved when the receiver is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Host,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

/// Why a string is not a `host:port` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint {text:?}: {why}; expected host:port, e.g. 127.0.0.1:4317")]
pub struct InvalidEndpoint {
    pub text: String,
    pub why: &'static str,
}

impl FromStr for Endpoint {
    type Err = InvalidEndpoint;

    fn from_str(s: &str) -> Result<Self, InvalidEndpoint> {
        let expected = |why: &'static str| InvalidEndpoint {
            text: s.to_owned(),
            why,
        };
        if s.contains("://") {
            return Err(expected("no scheme is needed"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (ip, port) = rest
                .split_once("]:")
                .ok_or_else(|| expected("missing port after the IPv6 address"))?;
            let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| expected("bad IPv6 address"))?;
            (Host::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = s.rsplit_once(':').ok_or_else(|| expected("missing port"))?;
            if host.contains(':') {
                return Err(expected(
                    "write IPv6 addresses in brackets, as in [::1]:4317",
                ));
            }
            if host.is_empty() {
                return Err(expected("missing host"));
            }
            let host = match host.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) if is_host_name(host) => Host::Name(host.to_ascii_lowercase()),
                Err(_) => return Err(expected("bad host name")),
            };
            (host, port)
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| expected("the port must be a number from 0 to 65535"))?;
        Ok(Endpoint { host, port })
    }
}

/// A DNS name: dot-separated labels of letters, digits and '-'.
fn is_host_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        // "1.2.3" is a typo of an address, not a name.
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(ip) => write!(f, "{ip}:{}", self.port),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}
