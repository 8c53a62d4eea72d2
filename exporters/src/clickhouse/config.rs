//! The `clickhouse` exporter's settings, with the Collector's key names
//! where it has them (`endpoint`, `database`, `username`, `password`,
//! `create_schema`, `ttl`, `timeout`, `compression`).

use std::time::Duration;

use ccpipe_pipeline::config::units;
use ccpipe_pipeline::config::Secret;
use http::Uri;
use serde::Deserialize;

use super::schema::Schema;
use crate::common::{Invalid, QueueConfig, RetryConfig};
use crate::tls::{Tls, TlsConfig};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8123";
pub const DEFAULT_DATABASE: &str = "otel";

/// The `clickhouse` exporter's config, as written in YAML. `Debug` never
/// shows the password.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickhouseConfig {
    /// The HTTP interface: `http(s)://host:port`, no path.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Created with `create_schema`; holds the `otel_*` tables.
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default = "default_username")]
    pub username: String,
    /// Usually `${env:CLICKHOUSE_PASSWORD}`; masked by `print-config`.
    #[serde(default)]
    pub password: Secret,
    /// Create the database, tables and views at the first export.
    #[serde(default = "default_true")]
    pub create_schema: bool,
    /// `modern` (the Collector's tables: Map, DateTime64, TTL) or
    /// `compat_18_16` (tables ClickHouse 18.16 can hold).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Drop data older than this (whole days); 0 keeps everything.
    #[serde(default)]
    pub ttl: units::Duration,
    /// For one request, connection included.
    #[serde(default = "default_timeout")]
    pub timeout: units::Duration,
    /// Request bodies: `gzip` (default) or `none`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// For an `https://` endpoint; without it the built-in roots are trusted.
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
}

fn default_endpoint() -> String {
    DEFAULT_ENDPOINT.into()
}

fn default_database() -> String {
    DEFAULT_DATABASE.into()
}

fn default_username() -> String {
    "default".into()
}

fn default_true() -> bool {
    true
}

fn default_schema() -> String {
    "modern".into()
}

fn default_timeout() -> units::Duration {
    units::Duration(Duration::from_secs(10))
}

fn default_compression() -> String {
    "gzip".into()
}

/// What the exporter runs with, once the config is validated. `Debug`
/// never shows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickhouseSettings {
    /// `scheme://authority`, without a trailing slash.
    pub endpoint: String,
    pub database: String,
    pub username: String,
    pub password: Secret,
    pub create_schema: bool,
    pub schema: Schema,
    /// `None`: keep everything.
    pub ttl: Option<Duration>,
    pub timeout: Duration,
    pub gzip: bool,
    pub tls: Tls,
}

impl ClickhouseSettings {
    /// The defaults, for `endpoint` and `database`.
    pub fn new(endpoint: &str, database: &str) -> Self {
        ClickhouseSettings {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            database: database.to_owned(),
            username: default_username(),
            password: Secret::default(),
            create_schema: true,
            schema: Schema::default(),
            ttl: None,
            timeout: default_timeout().0,
            gzip: true,
            tls: Tls::default(),
        }
    }
}

impl ClickhouseConfig {
    /// Checks every setting (no IO) and returns the typed settings.
    pub fn settings(&self) -> Result<ClickhouseSettings, Invalid> {
        let endpoint = endpoint(&self.endpoint)?;
        let tls = self.tls.settings("tls", "tls.ca_file", &endpoint)?;
        if !is_identifier(&self.database) {
            return Err(Invalid::new(
                "database",
                format!(
                    "must be a plain name (letters, digits and '_', not starting with a digit); got {:?}",
                    self.database
                ),
            ));
        }
        if self.username.is_empty() || self.username.contains(':') {
            return Err(Invalid::new(
                "username",
                "must be non-empty and without ':' (HTTP basic auth)",
            ));
        }
        if self.username.chars().any(char::is_control)
            || self.password.expose().chars().any(char::is_control)
        {
            return Err(Invalid::new(
                if self.username.chars().any(char::is_control) {
                    "username"
                } else {
                    "password"
                },
                "must not contain control characters",
            ));
        }
        let gzip = match self.compression.as_str() {
            "gzip" => true,
            "none" => false,
            other => {
                return Err(Invalid::new(
                    "compression",
                    format!("must be one of gzip, none; got {other:?}"),
                ))
            }
        };
        if self.timeout.0.is_zero() {
            return Err(Invalid::new("timeout", "must be greater than 0"));
        }
        let ttl = self.ttl.0;
        if !ttl.is_zero() && ttl < Duration::from_secs(3600) {
            return Err(Invalid::new(
                "ttl",
                format!(
                    "must be 0 (keep everything) or at least 1h; got {}",
                    self.ttl
                ),
            ));
        }
        let schema = Schema::parse(&self.schema).ok_or_else(|| {
            Invalid::new(
                "schema",
                format!(
                    "must be one of {}; got {:?}",
                    Schema::NAMES.join(", "),
                    self.schema
                ),
            )
        })?;
        self.sending_queue.validate()?;
        self.retry_on_failure.validate()?;
        Ok(ClickhouseSettings {
            endpoint,
            database: self.database.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            create_schema: self.create_schema,
            schema,
            ttl: (!ttl.is_zero()).then_some(ttl),
            timeout: self.timeout.0,
            gzip,
            tls,
        })
    }
}

/// `scheme://host:port` of an `http`/`https` URL with no path or query.
fn endpoint(text: &str) -> Result<String, Invalid> {
    crate::common::no_credentials("endpoint", text, "use username and password")?;
    let bad = |why: &str| Invalid::new("endpoint", format!("{why}; got {text:?}"));
    let uri: Uri = text
        .parse()
        .map_err(|_| bad("must be a URL such as http://127.0.0.1:8123"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    let Some(authority) = uri.authority() else {
        return Err(bad("must name a host"));
    };
    if authority.host().is_empty() {
        return Err(bad("must name a host"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("must not have a path or query"));
    }
    Ok(format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        authority
    ))
}

/// A name that needs no quoting in ClickHouse SQL.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}

impl crate::common::ExporterConfig for ClickhouseConfig {
    type Settings = ClickhouseSettings;
    fn settings(&self) -> Result<ClickhouseSettings, crate::common::Invalid> {
        ClickhouseConfig::settings(self)
    }
    fn sending_queue(&self) -> &crate::common::QueueConfig {
        &self.sending_queue
    }
    fn retry_on_failure(&self) -> &crate::common::RetryConfig {
        &self.retry_on_failure
    }
}
