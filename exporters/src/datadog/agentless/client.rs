//! The HTTPS client for the intake: rustls (ring, Mozilla roots through
//! webpki-roots) under hyper's pooled client; plain http is allowed too for
//! endpoint overrides (proxies, tests). Each request carries the API key in
//! `DD-API-KEY`, a gzipped JSON body, and is bounded by the timeout.
//!
//! Answers are classified here: 2xx is success; 408, 429, 5xx, timeouts and
//! connection errors may succeed later (Retry-After, in seconds or as an HTTP
//! date, else `X-RateLimit-Reset` on a 429, is honoured up to
//! [`MAX_RETRY_AFTER`]); every other status is a rejection carrying the
//! intake's message. No message ever holds the API key.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT,
};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// Longest wait taken from a Retry-After answer.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How much of an error answer is read and quoted.
const MAX_ERROR_BODY: usize = 64 * 1024;
const MAX_QUOTE_CHARS: usize = 300;

/// Why a request did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Trying again later may work.
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The intake refused this body; sending it again cannot help.
    Rejected { status: u16, message: String },
}

pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Marked sensitive: hyper and `Debug` never show it.
    api_key: HeaderValue,
    /// The key as text, only to scrub it from quoted answers.
    secret: String,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(api_key: &str, timeout: Duration) -> Result<Client, String> {
        let mut key = HeaderValue::from_str(api_key).map_err(|_| {
            "the API key holds characters that cannot go into an HTTP header".to_owned()
        })?;
        key.set_sensitive(true);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Client {
            http,
            api_key: key,
            secret: api_key.to_owned(),
            timeout,
        })
    }

    /// POSTs one gzipped JSON body to `uri`.
    pub async fn post(&self, uri: &Uri, gzipped: Bytes) -> Result<(), SendError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .header(USER_AGENT, concat!("ccpipe/", env!("CARGO_PKG_VERSION")))
            .header("DD-API-KEY", self.api_key.clone())
            .body(Full::new(gzipped))
            .map_err(|e| SendError::Rejected {
                status: 0,
                message: format!("cannot build a request to {uri}: {e}"),
            })?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| SendError::Retryable {
                    message: self.scrub(&format!("cannot reach {uri}: {}", error_chain(&e))),
                    retry_after: None,
                })?;
            let (parts, body) = response.into_parts();
            if parts.status.is_success() {
                // Read the (small) answer so the connection can be reused; the
                // series intake lists points it dropped under "errors".
                if let Ok(b) = Limited::new(body, MAX_ERROR_BODY).collect().await {
                    let b = b.to_bytes();
                    if has_errors(&b) {
                        tracing::warn!(url = %uri, "datadog intake accepted the request with errors: {}", self.scrub(&quote(&b)));
                    }
                }
                return Ok(());
            }
            let text = match Limited::new(body, MAX_ERROR_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            };
            Err(classify(
                parts.status,
                &parts.headers,
                &text,
                uri,
                &self.secret,
            ))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Retryable {
                message: format!("no answer from {uri} within {:?}", self.timeout),
                retry_after: None,
            }),
        }
    }

    fn scrub(&self, s: &str) -> String {
        scrub(s, &self.secret)
    }
}

/// What a non-2xx answer means for this body.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    uri: &Uri,
    secret: &str,
) -> SendError {
    let quote = quote(body);
    let mut message = format!("{uri} answered {status}");
    if !quote.is_empty() {
        message.push_str(": ");
        message.push_str(&quote);
    }
    let message = scrub(&message, secret);
    let code = status.as_u16();
    if code == 408 || code == 429 || status.is_server_error() {
        let mut retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        if retry_after.is_none() && code == 429 {
            retry_after = headers
                .get("x-ratelimit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
        }
        SendError::Retryable {
            message,
            retry_after: retry_after.map(|d| d.min(MAX_RETRY_AFTER)),
        }
    } else {
        SendError::Rejected {
            status: code,
            message,
        }
    }
}

/// `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Whether a success answer lists errors (`{"errors":["…"]}`).
fn has_errors(body: &[u8]) -> bool {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    compact.windows(11).any(|w| w == b"\"errors\":[\"")
}

/// The answer's text on one line, shortened.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > MAX_QUOTE_CHARS {
            let cut: String = out.chars().take(MAX_QUOTE_CHARS).collect();
            return cut + "…";
        }
    }
    out
}

/// `s` with every occurrence of the key replaced.
pub fn scrub(s: &str, secret: &str) -> String {
    if secret.is_empty() || !s.contains(secret) {
        s.to_owned()
    } else {
        s.replace(secret, "[REDACTED]")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        let later = SystemTime::now() + Duration::from_secs(90);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(
            d > Duration::from_secs(80) && d <= Duration::from_secs(90),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn classification_and_quotes() {
        let uri: Uri = "http://127.0.0.1:1/api/v2/series".parse().unwrap();
        let h = HeaderMap::new();
        for (code, retryable) in [
            (408, true),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (504, true),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (413, false),
        ] {
            let e = classify(StatusCode::from_u16(code).unwrap(), &h, b"{}", &uri, "k");
            assert_eq!(
                matches!(e, SendError::Retryable { .. }),
                retryable,
                "{code}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        let e = classify(StatusCode::SERVICE_UNAVAILABLE, &h, b"", &uri, "k");
        assert_eq!(
            e,
            SendError::Retryable {
                message: format!("{uri} answered 503 Service Unavailable"),
                retry_after: Some(MAX_RETRY_AFTER)
            }
        );
        let long = "word ".repeat(200);
        let q = quote(long.as_bytes());
        assert!(q.chars().count() <= MAX_QUOTE_CHARS + 1 && q.ends_with('…'));
        assert!(has_errors(br#"{"errors": ["Point too old"]}"#));
        assert!(!has_errors(br#"{"errors":[]}"#));
        assert_eq!(scrub("key=abc abc", "abc"), "key=[REDACTED] [REDACTED]");
    }
}
