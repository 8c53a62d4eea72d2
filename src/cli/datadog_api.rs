//! A small client for Datadog's management API (`https://api.<site>`): JSON
//! requests carrying `DD-API-KEY` and `DD-APPLICATION-KEY`, over the same
//! stack as the agentless exporter (hyper's pooled client, rustls with ring
//! and the Mozilla roots; plain http only for `--api-url` overrides).
//!
//! Neither key ever appears in a message: the headers are marked sensitive
//! and quoted answers are scrubbed.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// Largest answer read (the dashboard list of a big organisation is a few MB).
const MAX_ANSWER: usize = 64 << 20;
const MAX_QUOTE_CHARS: usize = 300;

pub struct Api {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    api_key: HeaderValue,
    app_key: HeaderValue,
    secrets: [String; 2],
    timeout: Duration,
}

/// A non-2xx answer, or no answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: Option<u16>,
    pub message: String,
}

impl Api {
    /// `base` is `https://api.datadoghq.com` or an override, without a
    /// trailing slash.
    pub fn new(base: &str, api_key: &str, app_key: &str, timeout: Duration) -> Result<Api, String> {
        let header = |what: &str, key: &str| {
            let mut v = HeaderValue::from_str(key.trim()).map_err(|_| {
                format!("{what} holds characters that cannot go into an HTTP header")
            })?;
            v.set_sensitive(true);
            Ok::<_, String>(v)
        };
        let api = header("DD_API_KEY", api_key)?;
        let app = header("DD_APP_KEY", app_key)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Api {
            http: HyperClient::builder(TokioExecutor::new()).build(https),
            base: base.trim_end_matches('/').to_owned(),
            api_key: api,
            app_key: app,
            secrets: [api_key.trim().to_owned(), app_key.trim().to_owned()],
            timeout,
        })
    }

    /// Sends one request and parses the JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ApiError> {
        let url = format!("{}{path_and_query}", self.base);
        let what = format!("{method} {url}");
        let fail = |status: Option<u16>, m: String| ApiError {
            status,
            message: self.scrub(&m),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| fail(None, format!("{what}: not a URL: {e}")))?;
        let bytes = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b).expect("a JSON value encodes")),
            None => Bytes::new(),
        };
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("ccpipe/", env!("CARGO_PKG_VERSION")))
            .header("DD-API-KEY", self.api_key.clone())
            .header("DD-APPLICATION-KEY", self.app_key.clone());
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(bytes))
            .map_err(|e| fail(None, format!("{what}: cannot build the request: {e}")))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| fail(None, format!("{what}: {}", error_chain(&e))))?;
            let (parts, body) = response.into_parts();
            let text = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| fail(None, format!("{what}: cannot read the answer: {e}")))?;
            if !parts.status.is_success() {
                let mut m = format!("{what} answered {}", parts.status);
                let q = quote(&text);
                if !q.is_empty() {
                    m.push_str(": ");
                    m.push_str(&q);
                }
                return Err(fail(Some(parts.status.as_u16()), m));
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                return Ok(serde_json::Value::Null);
            }
            serde_json::from_slice(&text).map_err(|e| {
                fail(
                    Some(parts.status.as_u16()),
                    format!("{what}: the answer is not JSON ({e}): {}", quote(&text)),
                )
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(fail(
                None,
                format!("{what}: no answer within {:?}", self.timeout),
            )),
        }
    }

    fn scrub(&self, s: &str) -> String {
        let mut s = s.to_owned();
        for secret in &self.secrets {
            if !secret.is_empty() && s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), "[REDACTED]");
            }
        }
        s
    }
}

/// The answer on one line, shortened.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > MAX_QUOTE_CHARS {
        joined.chars().take(MAX_QUOTE_CHARS).collect::<String>() + "…"
    } else {
        joined
    }
}

/// An error and its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}
