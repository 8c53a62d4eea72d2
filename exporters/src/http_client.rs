//! The HTTP(S) client stack the ClickHouse exporter, the agentless Datadog
//! exporter and `ccpipe datadog …` share: hyper's pooled client over rustls
//! (ring; Mozilla roots through webpki-roots, or `tls` settings), plain http allowed for
//! endpoint overrides (proxies, tests); one request sent under a timeout
//! with its answer read up to a limit; and the helpers that turn answers
//! into messages (quoted, with secrets scrubbed) and delays (Retry-After).
//!
//! What each user sends and how it classifies an answer stays with it.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use crate::tls::{self, Tls};

/// The pooled client: https or plain http, HTTP/1.1.
pub type HttpsClient = HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("ccpipe/", env!("CARGO_PKG_VERSION"));

/// The longest Retry-After / RetryInfo delay honoured: a broken or hostile
/// answer must not park the queue for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Builds the client; reads `tls.ca_file` but does no network IO
/// (connections are made by the first request). `pool_idle_timeout` is
/// hyper's default (90 s) when `None`.
pub fn build(
    connect_timeout: Duration,
    pool_idle_timeout: Option<Duration>,
    tls: &Tls,
) -> Result<HttpsClient, tls::TlsSetupError> {
    let config = tls::client_config(tls)?.map(std::sync::Arc::new);
    let https = tls::connector(config, false, connect_timeout)?;
    let mut builder = HyperClient::builder(TokioExecutor::new());
    if let Some(idle) = pool_idle_timeout {
        builder.pool_idle_timeout(idle);
    }
    Ok(builder.build(https))
}

/// A header value holding a secret: hyper and `Debug` never show it. `None`
/// if `value` cannot go into an HTTP header.
pub fn sensitive_header(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// `data` gzipped (fast level), as request bodies are sent.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// An answer of any status, its body read up to the limit.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body, or why reading it failed (too long, broken off).
    pub body: Result<Bytes, String>,
}

/// Why no answer came.
#[derive(Debug)]
pub enum NoAnswer {
    /// No connection or no response: the error and its causes, `a: b: c`.
    Unreachable(String),
    /// Nothing complete within the timeout.
    Timeout,
}

/// Sends `request` and reads the answer's body (at most `max_body` bytes),
/// all within `timeout`.
pub async fn send(
    client: &HttpsClient,
    request: Request<Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
) -> Result<Answer, NoAnswer> {
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| NoAnswer::Unreachable(error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| e.to_string());
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(NoAnswer::Timeout))
}

/// `{who} answered {status}`, then `: ` and the body quoted when it has any
/// text.
pub fn answered(who: &str, status: StatusCode, body: &[u8], max_quote_chars: usize) -> String {
    let quote = quote(body, max_quote_chars);
    let mut message = format!("{who} answered {status}");
    if !quote.is_empty() {
        message.push_str(": ");
        message.push_str(&quote);
    }
    message
}

/// An answer's text on one line, cut after `max_chars` characters.
pub fn quote(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > max_chars {
        joined.chars().take(max_chars).collect::<String>() + "…"
    } else {
        joined
    }
}

/// `s` with every occurrence of `secret` replaced.
pub fn scrub(s: &str, secret: &str) -> String {
    if secret.is_empty() || !s.contains(secret) {
        s.to_owned()
    } else {
        s.replace(secret, "[REDACTED]")
    }
}

/// An error and its causes, `a: b: c` (a cause already in the text is not
/// repeated).
pub fn error_chain(e: &dyn std::error::Error) -> String {
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

/// The delay a `Retry-After` header asks for, at most [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// `Retry-After`: delay-seconds or an HTTP date, at most [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 12 ", now),
            Some(Duration::from_secs(12))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn quotes_and_scrubbing() {
        let long = "word ".repeat(200);
        let q = quote(long.as_bytes(), 300);
        assert!(q.chars().count() == 301 && q.ends_with('…'));
        assert_eq!(quote(b" a \n b ", 300), "a b");
        assert_eq!(
            answered("x", StatusCode::BAD_REQUEST, b" no ", 300),
            "x answered 400 Bad Request: no"
        );
        assert_eq!(
            answered("x", StatusCode::BAD_REQUEST, b"", 300),
            "x answered 400 Bad Request"
        );
        assert_eq!(scrub("key=abc abc", "abc"), "key=[REDACTED] [REDACTED]");
    }
}
