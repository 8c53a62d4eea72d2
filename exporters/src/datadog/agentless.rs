//! Agentless mode of the `datadog` exporter: logs and metrics straight to
//! Datadog's public intake APIs, without an Agent.
//!
//! - Metrics → `POST https://api.<site>/api/v2/series` (see [`series`]).
//! - Logs → `POST https://http-intake.logs.<site>/api/v2/logs` (see [`logs`]).
//! - Traces are not taken: they need the Agent.
//!
//! Bodies are JSON, gzipped, with the key in `DD-API-KEY` (see [`client`]).
//! One batch becomes as many requests as the intake limits need (see
//! [`split`]): series bodies at most 3.2 MB uncompressed (the intake takes 5 MB)
//! and 512 kB compressed; logs bodies at most 1000 entries and 5 MB
//! uncompressed, each entry at most 1 MB (longer ones are truncated).
//!
//! When one request of a batch fails with a retryable error, the requests
//! already accepted are remembered: the export task's retry of that same
//! batch sends only the rest, so nothing arrives twice. A 400 or 413 on one
//! request does not stop the others of the batch; 401, 403 and other
//! rejections do (every request would get the same answer).
//!
//! The API key never appears in a message, a log line or `Debug` output.

pub mod client;
pub mod logs;
pub mod series;
pub mod split;
pub mod tags;

#[cfg(test)]
mod fake_intake;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ccpipe_pipeline::config::Secret;
use ccpipe_pipeline::{Batch, BoxFuture, ExportError, Exporter, Records, Signal};
use http::Uri;

use client::{Client, SendError};
use split::{Framing, Limits, Payload};

/// Series bodies: the intake takes 5 MB uncompressed and 512 kB compressed;
/// the uncompressed limit keeps a margin, as the Datadog Agent does.
pub const SERIES_LIMITS: Limits = Limits {
    framing: Framing::Series,
    max_entries: usize::MAX,
    max_bytes: 3_200_000,
    max_compressed: Some(512_000),
};

/// Logs bodies: at most 1000 entries and 5 MB uncompressed.
pub const LOGS_LIMITS: Limits = Limits {
    framing: Framing::Array,
    max_entries: 1000,
    max_bytes: 5_000_000,
    max_compressed: None,
};

/// How to reach the intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentlessSettings {
    pub api_key: Secret,
    /// `datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`, …
    pub site: String,
    /// Full URL replacing `https://api.<site>/api/v2/series`.
    pub metrics_endpoint: Option<String>,
    /// Full URL replacing `https://http-intake.logs.<site>/api/v2/logs`.
    pub logs_endpoint: Option<String>,
    /// Bound on each request, connecting included.
    pub timeout: Duration,
}

impl AgentlessSettings {
    /// Where series go: the override, else `https://api.<site>/api/v2/series`.
    pub fn metrics_url(&self) -> String {
        match &self.metrics_endpoint {
            Some(e) => e.clone(),
            None => format!("https://api.{}/api/v2/series", self.site.trim()),
        }
    }

    /// Where logs go: the override, else `https://http-intake.logs.<site>/api/v2/logs`.
    pub fn logs_url(&self) -> String {
        match &self.logs_endpoint {
            Some(e) => e.clone(),
            None => format!("https://http-intake.logs.{}/api/v2/logs", self.site.trim()),
        }
    }

    /// Checks the settings without touching the network.
    pub fn validate(&self) -> Result<(Uri, Uri), AgentlessError> {
        if self.api_key.expose().trim().is_empty() {
            return Err(AgentlessError::EmptyApiKey);
        }
        if self.metrics_endpoint.is_none() || self.logs_endpoint.is_none() {
            let site = self.site.trim();
            let ok = !site.is_empty()
                && site.contains('.')
                && !site.starts_with(['.', '-'])
                && !site.ends_with(['.', '-'])
                && site
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !ok {
                return Err(AgentlessError::NotASite(site.to_owned()));
            }
        }
        if self.timeout.is_zero() {
            return Err(AgentlessError::ZeroTimeout);
        }
        Ok((
            parse_url("metrics_endpoint", &self.metrics_url())?,
            parse_url("logs_endpoint", &self.logs_url())?,
        ))
    }
}

/// Why agentless settings are refused or its client cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AgentlessError {
    #[error("the API key is empty")]
    EmptyApiKey,
    #[error("site {0:?} is not a Datadog site name such as datadoghq.com or datadoghq.eu (no scheme, no path)")]
    NotASite(String),
    #[error("timeout must be more than zero")]
    ZeroTimeout,
    #[error("{what} {url:?} is not a URL: {error}")]
    NotAUrl {
        what: &'static str,
        url: String,
        error: http::uri::InvalidUri,
    },
    #[error("{what} {url:?} must be an http:// or https:// URL with a host")]
    NotHttp { what: &'static str, url: String },
    #[error("the API key holds characters that cannot go into an HTTP header")]
    KeyNotAHeader,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
}

fn parse_url(what: &'static str, url: &str) -> Result<Uri, AgentlessError> {
    let uri: Uri = url.parse().map_err(|error| AgentlessError::NotAUrl {
        what,
        url: url.to_owned(),
        error,
    })?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(uri),
        _ => Err(AgentlessError::NotHttp {
            what,
            url: url.to_owned(),
        }),
    }
}

/// Sends logs and metrics to Datadog's intake APIs.
pub struct AgentlessExporter {
    client: Arc<Client>,
    metrics_uri: Uri,
    logs_uri: Uri,
    /// The batch being sent, its bodies and how many were accepted, kept
    /// while a retryable failure leaves some unsent.
    pending: Option<Pending>,
}

impl fmt::Debug for AgentlessExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentlessExporter")
            .field("metrics_uri", &self.metrics_uri)
            .field("logs_uri", &self.logs_uri)
            .finish_non_exhaustive()
    }
}

struct Pending {
    batch: Batch,
    payloads: Vec<Payload>,
    /// Bodies before this index were answered (accepted or rejected).
    next: usize,
    /// Rejections so far (400/413), reported when the batch is done.
    rejected: Vec<String>,
}

impl AgentlessExporter {
    pub fn new(settings: AgentlessSettings) -> Result<Self, AgentlessError> {
        let (metrics_uri, logs_uri) = settings.validate()?;
        let client = Client::new(settings.api_key.expose(), settings.timeout)?;
        Ok(AgentlessExporter {
            client: Arc::new(client),
            metrics_uri,
            logs_uri,
            pending: None,
        })
    }

    async fn send(&mut self, batch: Batch) -> Result<(), ExportError> {
        let uri = match batch.signal() {
            Signal::Metrics => self.metrics_uri.clone(),
            Signal::Logs => self.logs_uri.clone(),
            Signal::Traces => {
                return Err(ExportError::permanent(
                    "the datadog exporter sends no traces in agentless mode; use Agent mode",
                ))
            }
        };
        let resume = matches!(&self.pending, Some(p) if p.batch.ptr_eq(&batch));
        if !resume {
            self.pending = None;
            let encoded = batch.clone();
            let payloads = tokio::task::spawn_blocking(move || encoded.records().map(encode))
                .await
                .map_err(|e| ExportError::permanent(format!("encoding failed: {e}")))??;
            self.pending = Some(Pending {
                batch,
                payloads,
                next: 0,
                rejected: Vec::new(),
            });
        }
        let pending = self.pending.as_mut().expect("set above");
        let total = pending.payloads.len();
        while pending.next < total {
            let payload = &pending.payloads[pending.next];
            let what = request_label(pending.next, total, payload.entries);
            match self.client.post(&uri, payload.gzipped.clone()).await {
                Ok(()) => {
                    tracing::debug!(
                        url = %uri,
                        entries = payload.entries,
                        bytes = payload.gzipped.len(),
                        "datadog intake accepted {what}"
                    );
                    pending.next += 1;
                }
                Err(SendError::Retryable {
                    message,
                    retry_after,
                }) => {
                    return Err(ExportError::Retryable {
                        message: format!("{what}: {message}"),
                        retry_after,
                    });
                }
                Err(SendError::Rejected { status, message }) if status == 400 || status == 413 => {
                    tracing::warn!(url = %uri, "datadog intake rejected {what}: {message}");
                    pending.rejected.push(format!("{what}: {message}"));
                    pending.next += 1;
                }
                Err(SendError::Rejected { message, .. }) => {
                    self.pending = None;
                    return Err(ExportError::permanent(format!("{what}: {message}")));
                }
            }
        }
        let done = self.pending.take().expect("set above");
        match done.rejected.len() {
            0 => Ok(()),
            n => Err(ExportError::permanent(format!(
                "{n} of {total} requests rejected; {}",
                done.rejected.join("; ")
            ))),
        }
    }
}

fn request_label(i: usize, total: usize, entries: usize) -> String {
    if total == 1 {
        format!("a request of {entries} {}", entries_noun(entries))
    } else {
        format!(
            "request {} of {total} ({entries} {})",
            i + 1,
            entries_noun(entries)
        )
    }
}

fn entries_noun(n: usize) -> &'static str {
    if n == 1 {
        "entry"
    } else {
        "entries"
    }
}

/// The request bodies for one batch.
fn encode(batch: &Records) -> Vec<Payload> {
    match batch {
        Records::Metrics(req) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let (entries, skipped) = series::encode(req, now);
            if skipped > 0 {
                tracing::warn!(
                    points = skipped,
                    "left out {skipped} data points with a NaN or infinite value"
                );
            }
            bodies(&entries, &SERIES_LIMITS)
        }
        Records::Logs(req) => {
            let (entries, truncated) = logs::encode(req);
            if truncated > 0 {
                tracing::warn!(
                    records = truncated,
                    "truncated {truncated} log records over the intake's 1 MB limit"
                );
            }
            bodies(&entries, &LOGS_LIMITS)
        }
        Records::Traces(_) => Vec::new(),
    }
}

fn bodies(entries: &[Vec<u8>], limits: &Limits) -> Vec<Payload> {
    let (payloads, oversized) = split::payloads(entries, limits);
    if oversized > 0 {
        tracing::warn!(
            entries = oversized,
            "left out {oversized} entries larger than a whole request may be"
        );
    }
    payloads
}

impl Exporter for AgentlessExporter {
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Logs, Signal::Metrics]
    }

    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(self.send(batch))
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        // Nothing is buffered between exports.
        self.pending = None;
        Box::pin(async { Ok(()) })
    }
}
