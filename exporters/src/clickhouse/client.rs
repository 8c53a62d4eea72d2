//! ClickHouse's HTTP interface: statements as POST bodies, inserts as
//! `POST /?query=INSERT INTO db.table FORMAT JSONEachRow` with the rows
//! (gzipped, `Content-Encoding: gzip`) as the body, HTTP basic auth.
//!
//! Answers are classified here. ClickHouse 18.16 answers most failures with
//! 500 whatever their cause, so the `Code: N` at the start of its message
//! decides: codes that mean "this request can never succeed" (syntax, unknown
//! table or column, unparsable row, wrong password, read-only user…) are
//! permanent, like 400/401/403/404; everything else that is 5xx (memory
//! limit, too many parts, timeouts), 408, 429, timeouts and connection errors
//! may succeed later. No message ever holds the password.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use super::config::ClickhouseSettings;

/// The most of an answer that is read (query results are small here).
const MAX_ANSWER: usize = 16 << 20;
const MAX_QUOTE_CHARS: usize = 400;

/// ClickHouse error codes after which the same request cannot succeed.
const PERMANENT_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    16,  // NO_SUCH_COLUMN_IN_TABLE
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    43,  // ILLEGAL_TYPE_OF_ARGUMENT
    44,  // ILLEGAL_COLUMN
    46,  // UNKNOWN_FUNCTION
    47,  // UNKNOWN_IDENTIFIER
    50,  // UNKNOWN_TYPE
    53,  // TYPE_MISMATCH
    60,  // UNKNOWN_TABLE
    62,  // SYNTAX_ERROR
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    81,  // UNKNOWN_DATABASE
    117, // INCORRECT_DATA (unknown field in JSONEachRow)
    164, // READONLY
    190, // SIZES_OF_ARRAYS_DOESNT_MATCH
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    194, // REQUIRED_PASSWORD
    195, // IP_ADDRESS_NOT_ALLOWED
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
];

/// Why a request did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Trying again later may work.
    Retryable(String),
    /// ClickHouse refused this request; sending it again cannot help.
    Permanent(String),
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Retryable(m) | SendError::Permanent(m) => m,
        }
    }
}

pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    /// Basic auth, marked sensitive: hyper and `Debug` never show it.
    auth: HeaderValue,
    password: String,
    timeout: Duration,
    gzip: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("auth", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Does no IO: connections are made by the first request.
    pub fn new(settings: &ClickhouseSettings) -> Result<Client, String> {
        use base64::Engine;
        let credentials = format!("{}:{}", settings.username, settings.password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut auth = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| "the credentials cannot go into an HTTP header".to_owned())?;
        auth.set_sensitive(true);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // ClickHouse closes idle connections after 3 s (keep_alive_timeout).
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(2))
            .build(https);
        Ok(Client {
            http,
            endpoint: settings.endpoint.clone(),
            auth,
            password: settings.password.clone(),
            timeout: settings.timeout,
            gzip: settings.gzip,
        })
    }

    /// Runs one statement and returns its answer (a query's rows in the
    /// format the statement names).
    pub async fn execute(&self, sql: &str) -> Result<Bytes, SendError> {
        let what = first_words(sql);
        self.post("/".to_owned(), Bytes::from(sql.to_owned()), false, &what)
            .await
    }

    /// Inserts JSONEachRow `rows` into `table` (`db.name`).
    pub async fn insert(&self, table: &str, rows: Vec<u8>) -> Result<(), SendError> {
        let path = format!("/?query=INSERT%20INTO%20{table}%20FORMAT%20JSONEachRow");
        let (body, gzipped) = if self.gzip {
            (gzip(&rows), true)
        } else {
            (rows, false)
        };
        let what = format!("INSERT INTO {table}");
        self.post(path, Bytes::from(body), gzipped, &what)
            .await
            .map(drop)
    }

    async fn post(
        &self,
        path: String,
        body: Bytes,
        gzipped: bool,
        what: &str,
    ) -> Result<Bytes, SendError> {
        let uri = format!("{}{path}", self.endpoint);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(USER_AGENT, concat!("ccpipe/", env!("CARGO_PKG_VERSION")))
            .header(AUTHORIZATION, self.auth.clone());
        if gzipped {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| SendError::Permanent(format!("cannot build a request to {uri}: {e}")))?;
        let endpoint = &self.endpoint;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| {
                SendError::Retryable(format!(
                    "{what}: cannot reach {endpoint}: {}",
                    error_chain(&e)
                ))
            })?;
            let (parts, body) = response.into_parts();
            let answer = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map(|b| b.to_bytes());
            if parts.status.is_success() {
                return answer.map_err(|e| {
                    SendError::Retryable(format!("{what}: reading the answer from {endpoint}: {e}"))
                });
            }
            let text = answer.unwrap_or_default();
            Err(classify(parts.status, &text, what, endpoint))
        };
        let result = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Retryable(format!(
                "{what}: no answer from {endpoint} within {:?}",
                self.timeout
            ))),
        };
        result.map_err(|e| match e {
            SendError::Retryable(m) => SendError::Retryable(scrub(&m, &self.password)),
            SendError::Permanent(m) => SendError::Permanent(scrub(&m, &self.password)),
        })
    }
}

/// What a non-2xx answer means for this request.
pub fn classify(status: StatusCode, body: &[u8], what: &str, endpoint: &str) -> SendError {
    let quote = quote(body);
    let mut message = format!("{what}: {endpoint} answered {status}");
    if !quote.is_empty() {
        message.push_str(": ");
        message.push_str(&quote);
    }
    let code = status.as_u16();
    let permanent_code = error_code(body).is_some_and(|c| PERMANENT_CODES.contains(&c));
    if code == 408 || code == 429 {
        SendError::Retryable(message)
    } else if permanent_code || status.is_client_error() {
        SendError::Permanent(message)
    } else {
        SendError::Retryable(message)
    }
}

/// The N of a ClickHouse message that starts `Code: N,`.
pub fn error_code(body: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(body.get(..64.min(body.len()))?).ok()?;
    let rest = text.trim_start().strip_prefix("Code:")?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// The start of a statement, for messages (`CREATE TABLE IF NOT EXISTS otel.otel_logs`).
fn first_words(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(6).collect();
    let mut s = words.join(" ");
    if let Some(i) = s.find('(') {
        s.truncate(i);
    }
    s.trim_end().to_owned()
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

fn scrub(s: &str, secret: &str) -> String {
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
