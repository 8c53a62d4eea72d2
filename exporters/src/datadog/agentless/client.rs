//! The HTTPS client for the intake, over the shared stack in
//! [`crate::http_client`] (plain http allowed for endpoint overrides:
//! proxies, tests). Each request carries the API key in
//! `DD-API-KEY`, a gzipped JSON body, and is bounded by the timeout.
//!
//! Answers are classified here: 2xx is success; 408, 429, 5xx, timeouts and
//! connection errors may succeed later (Retry-After, in seconds or as an HTTP
//! date, else `X-RateLimit-Reset` on a 429, is honoured up to
//! [`MAX_RETRY_AFTER`]); every other status is a rejection carrying the
//! intake's message. No message ever holds the API key.

use ccpipe_pipeline::config::Secret;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::Full;

use super::AgentlessError;
pub use crate::http_client::MAX_RETRY_AFTER;
use crate::http_client::{self, HttpsClient, NoAnswer};

/// How much of an answer is read and quoted.
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
    http: HttpsClient,
    /// Marked sensitive: hyper and `Debug` never show it.
    api_key: HeaderValue,
    /// The key as text, only to scrub it from quoted answers.
    secret: Secret,
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
    pub fn new(api_key: &str, timeout: Duration) -> Result<Client, AgentlessError> {
        let key = http_client::sensitive_header(api_key).ok_or(AgentlessError::KeyNotAHeader)?;
        Ok(Client {
            http: http_client::build(timeout, Some(Duration::from_secs(30)), &Default::default())?,
            api_key: key,
            secret: Secret::new(api_key),
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
            .header(USER_AGENT, http_client::USER_AGENT)
            .header("DD-API-KEY", self.api_key.clone())
            .body(Full::new(gzipped))
            .map_err(|e| SendError::Rejected {
                status: 0,
                message: format!("cannot build a request to {uri}: {e}"),
            })?;
        let answer = http_client::send(&self.http, request, self.timeout, MAX_ERROR_BODY)
            .await
            .map_err(|e| SendError::Retryable {
                message: match e {
                    NoAnswer::Unreachable(why) => self.scrub(&format!("cannot reach {uri}: {why}")),
                    NoAnswer::Timeout => format!("no answer from {uri} within {:?}", self.timeout),
                },
                retry_after: None,
            })?;
        if answer.status.is_success() {
            // The series intake lists points it dropped under "errors".
            if let Ok(b) = &answer.body {
                if has_errors(b) {
                    tracing::warn!(url = %uri, "datadog intake accepted the request with errors: {}", self.scrub(&http_client::quote(b, MAX_QUOTE_CHARS)));
                }
            }
            return Ok(());
        }
        let text = answer.body.unwrap_or_default();
        Err(classify(
            answer.status,
            &answer.headers,
            &text,
            uri,
            self.secret.expose(),
        ))
    }

    fn scrub(&self, s: &str) -> String {
        http_client::scrub(s, self.secret.expose())
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
    let message = http_client::answered(&uri.to_string(), status, body, MAX_QUOTE_CHARS);
    let message = http_client::scrub(&message, secret);
    let code = status.as_u16();
    if code == 408 || code == 429 || status.is_server_error() {
        let mut retry_after = http_client::retry_after(headers);
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

/// Whether a success answer lists errors (`{"errors":["…"]}`).
fn has_errors(body: &[u8]) -> bool {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    compact.windows(11).any(|w| w == b"\"errors\":[\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::RETRY_AFTER;

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
        assert!(has_errors(br#"{"errors": ["Point too old"]}"#));
        assert!(!has_errors(br#"{"errors":[]}"#));
    }
}
