//! A small client for Datadog's management API (`https://api.<site>`): JSON
//! requests carrying `DD-API-KEY` and `DD-APPLICATION-KEY`, over the
//! exporters' shared stack ([`ccpipe_exporters::http_client`]: hyper's pooled
//! client, rustls with ring and the Mozilla roots; plain http only for
//! `--api-url` overrides).
//!
//! Neither key ever appears in a message: the headers are marked sensitive
//! and quoted answers are scrubbed.

use std::time::Duration;

use bytes::Bytes;
use ccpipe_exporters::http_client::{self, HttpsClient, NoAnswer};
use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::Full;

/// Largest answer read (the dashboard list of a big organisation is a few MB).
const MAX_ANSWER: usize = 64 << 20;
const MAX_QUOTE_CHARS: usize = 300;

pub struct Api {
    http: HttpsClient,
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
            http_client::sensitive_header(key.trim()).ok_or_else(|| {
                format!("{what} holds characters that cannot go into an HTTP header")
            })
        };
        let api = header("DD_API_KEY", api_key)?;
        let app = header("DD_APP_KEY", app_key)?;
        Ok(Api {
            http: http_client::build(timeout, None, &Default::default())
                .map_err(|e| e.to_string())?,
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
            .header(USER_AGENT, http_client::USER_AGENT)
            .header("DD-API-KEY", self.api_key.clone())
            .header("DD-APPLICATION-KEY", self.app_key.clone());
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(bytes))
            .map_err(|e| fail(None, format!("{what}: cannot build the request: {e}")))?;
        let answer = http_client::send(&self.http, request, self.timeout, MAX_ANSWER)
            .await
            .map_err(|e| match e {
                NoAnswer::Unreachable(why) => fail(None, format!("{what}: {why}")),
                NoAnswer::Timeout => {
                    fail(None, format!("{what}: no answer within {:?}", self.timeout))
                }
            })?;
        let status = answer.status;
        let text = answer
            .body
            .map_err(|e| fail(None, format!("{what}: cannot read the answer: {e}")))?;
        if !status.is_success() {
            let m = http_client::answered(&what, status, &text, MAX_QUOTE_CHARS);
            return Err(fail(Some(status.as_u16()), m));
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&text).map_err(|e| {
            fail(
                Some(status.as_u16()),
                format!(
                    "{what}: the answer is not JSON ({e}): {}",
                    http_client::quote(&text, MAX_QUOTE_CHARS)
                ),
            )
        })
    }

    fn scrub(&self, s: &str) -> String {
        self.secrets
            .iter()
            .fold(s.to_owned(), |s, secret| http_client::scrub(&s, secret))
    }
}
