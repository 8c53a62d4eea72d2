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

use ccpipe_pipeline::config::Secret;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::Full;

use super::config::ClickhouseSettings;
use crate::http_client::{self, HttpsClient, NoAnswer};

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
    http: HttpsClient,
    endpoint: String,
    /// Basic auth, marked sensitive: hyper and `Debug` never show it.
    auth: HeaderValue,
    password: Secret,
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

/// Why the ClickHouse client cannot be set up (no IO has happened yet).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the credentials cannot go into an HTTP header")]
    CredentialsNotAHeader,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
}

impl Client {
    /// Does no IO: connections are made by the first request.
    pub fn new(settings: &ClickhouseSettings) -> Result<Client, ClientError> {
        use base64::Engine;
        let credentials = format!("{}:{}", settings.username, settings.password.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let auth = http_client::sensitive_header(&format!("Basic {encoded}"))
            .ok_or(ClientError::CredentialsNotAHeader)?;
        Ok(Client {
            // ClickHouse closes idle connections after 3 s (keep_alive_timeout).
            http: http_client::build(
                settings.timeout,
                Some(Duration::from_secs(2)),
                &settings.tls,
            )?,
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
            (http_client::gzip(&rows), true)
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
            .header(USER_AGENT, http_client::USER_AGENT)
            .header(AUTHORIZATION, self.auth.clone());
        if gzipped {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| SendError::Permanent(format!("cannot build a request to {uri}: {e}")))?;
        let endpoint = &self.endpoint;
        let result = match http_client::send(&self.http, request, self.timeout, MAX_ANSWER).await {
            Err(NoAnswer::Unreachable(why)) => Err(SendError::Retryable(format!(
                "{what}: cannot reach {endpoint}: {why}"
            ))),
            Err(NoAnswer::Timeout) => Err(SendError::Retryable(format!(
                "{what}: no answer from {endpoint} within {:?}",
                self.timeout
            ))),
            Ok(answer) if answer.status.is_success() => answer.body.map_err(|e| {
                SendError::Retryable(format!("{what}: reading the answer from {endpoint}: {e}"))
            }),
            Ok(answer) => Err(classify(
                answer.status,
                &answer.body.unwrap_or_default(),
                what,
                endpoint,
            )),
        };
        result.map_err(|e| match e {
            SendError::Retryable(m) => {
                SendError::Retryable(http_client::scrub(&m, self.password.expose()))
            }
            SendError::Permanent(m) => {
                SendError::Permanent(http_client::scrub(&m, self.password.expose()))
            }
        })
    }
}

/// What a non-2xx answer means for this request.
pub fn classify(status: StatusCode, body: &[u8], what: &str, endpoint: &str) -> SendError {
    let message = http_client::answered(
        &format!("{what}: {endpoint}"),
        status,
        body,
        MAX_QUOTE_CHARS,
    );
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

/// The start of a statement, for messages (`CREATE TABLE IF NOT EXISTS otel.otel_logs`).
fn first_words(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(6).collect();
    let mut s = words.join(" ");
    if let Some(i) = s.find('(') {
        s.truncate(i);
    }
    s.trim_end().to_owned()
}
