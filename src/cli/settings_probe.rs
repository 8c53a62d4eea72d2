//! `claude-settings --check`'s connection test: for each signal a settings
//! file exports, one empty OTLP request (no records, so nothing shows up in
//! any backend) to where Claude Code would send it, with the file's headers,
//! and the answer in plain words.
//!
//! Endpoints resolve as Claude Code's exporters resolve them: a per-signal
//! variable is used as it is, the general endpoint gets `/v1/<signal>` over
//! HTTP. `http/json` files are probed with protobuf at the same URL (the
//! path and the credentials are what can be wrong).

use std::path::PathBuf;
use std::time::Duration;

use ccpipe_exporters::otlp_client::{ClientSettings, Compression, OtlpClient, Target, Tls};
use ccpipe_exporters::tls::TlsSetupError;
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{ExportError, Records};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::otel_env::{Protocol, Signal, ENDPOINT, HEADERS, PROTOCOL};

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);
const CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";

/// Where one signal goes, as Claude Code would send it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTarget {
    pub signal: Signal,
    pub protocol: Protocol,
    /// The full URL (HTTP) or `scheme://host:port` (gRPC).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub ca_file: Option<PathBuf>,
}

/// The signals `env` exports over OTLP, with their resolved destinations.
/// A signal without a protocol or endpoint is left out (the file check
/// already says so).
pub fn targets(env: &Map<String, Value>) -> Vec<ProbeTarget> {
    let get = |k: &str| {
        env.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let mut out = Vec::new();
    for s in Signal::ALL {
        let exported =
            get(&s.exporter_var()).is_some_and(|v| v.split(',').any(|e| e.trim() == "otlp"));
        if !exported {
            continue;
        }
        let Some(protocol) = get(&s.protocol_var())
            .or_else(|| get(PROTOCOL))
            .and_then(Protocol::parse)
        else {
            continue;
        };
        let url = match (get(&s.endpoint_var()), get(ENDPOINT)) {
            (Some(own), _) => own.to_owned(),
            (None, Some(general)) if protocol.is_grpc() => general.to_owned(),
            (None, Some(general)) => {
                format!("{}{}", general.trim_end_matches('/'), s.default_path())
            }
            (None, None) => continue,
        };
        let headers = get(&s.headers_var()).or_else(|| get(HEADERS)).unwrap_or("");
        let ca_file = get(&format!(
            "OTEL_EXPORTER_OTLP_{}_CERTIFICATE",
            s.name().to_uppercase()
        ))
        .or_else(|| get(CERTIFICATE))
        .map(PathBuf::from);
        out.push(ProbeTarget {
            signal: s,
            protocol,
            url,
            headers: parse_headers(headers),
            ca_file,
        });
    }
    out
}

/// `k=v,k2=v2` as the SDK reads it (values percent-decoded).
fn parse_headers(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|h| h.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), percent_decode(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What one request found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub target: ProbeTarget,
    pub ok: bool,
    /// The diagnosis, in plain words.
    pub words: String,
}

impl Outcome {
    pub fn line(&self) -> String {
        format!(
            "connection: {} to {} ({}): {}{}",
            self.target.signal.name(),
            self.target.url,
            self.target.protocol.as_str(),
            if self.ok { "OK, " } else { "FAILED: " },
            self.words
        )
    }
}

/// Sends one empty request per target, one after the other.
pub fn probe(targets: &[ProbeTarget]) -> Vec<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    targets
        .iter()
        .map(|t| {
            let result = runtime.block_on(send(t));
            let (ok, words) = match result {
                Ok(()) => (true, "it accepted an empty OTLP request".to_owned()),
                Err(e) => (false, diagnose(t, &e)),
            };
            Outcome {
                target: t.clone(),
                ok,
                words,
            }
        })
        .collect()
}

/// Why a probe could not even be sent, or the destination's answer.
enum ProbeError {
    Setup(String),
    Tls(TlsSetupError),
    Export(ExportError),
}

async fn send(t: &ProbeTarget) -> Result<(), ProbeError> {
    let mut headers = HeaderMap::new();
    for (k, v) in &t.headers {
        let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| ProbeError::Setup(format!("the header name {k:?} is not valid")))?;
        let mut value = HeaderValue::from_str(v)
            .map_err(|_| ProbeError::Setup(format!("the value of header {k} is not valid")))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let target = if t.protocol.is_grpc() {
        Target::Grpc(t.url.trim_end_matches('/').to_owned())
    } else {
        Target::Http {
            logs: t.url.clone(),
            metrics: t.url.clone(),
            traces: t.url.clone(),
        }
    };
    let settings = ClientSettings {
        target,
        compression: Compression::None,
        timeout: TIMEOUT,
        headers,
        tls: Tls {
            ca_file: t.ca_file.clone(),
            insecure_skip_verify: false,
        },
        peer: "the endpoint",
    };
    let mut client =
        OtlpClient::new("claude-settings --check", settings).map_err(ProbeError::Tls)?;
    let signal = match t.signal {
        Signal::Metrics => ccpipe_pipeline::Signal::Metrics,
        Signal::Logs => ccpipe_pipeline::Signal::Logs,
        Signal::Traces => ccpipe_pipeline::Signal::Traces,
    };
    client
        .send(Batch::from(Records::empty(signal)))
        .await
        .map_err(ProbeError::Export)
}

/// The answer (or its absence) in words a user can act on.
fn diagnose(t: &ProbeTarget, e: &ProbeError) -> String {
    let message = match e {
        ProbeError::Setup(m) => return m.clone(),
        ProbeError::Tls(e) => return e.to_string(),
        ProbeError::Export(e) => e.to_string(),
    };
    let lower = message.to_ascii_lowercase();
    let sent_auth = t
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    let code = http_status(&message);
    let grpc = |name: &str| message.contains(&format!("gRPC {name}"));
    let what = if code == Some(401) || grpc("Unauthenticated") {
        if sent_auth {
            "the endpoint refused the credentials (401 / UNAUTHENTICATED): the token in \
             OTEL_EXPORTER_OTLP_HEADERS is wrong or expired"
                .to_owned()
        } else {
            "the endpoint wants credentials (401 / UNAUTHENTICATED): set \
             OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer <token>\""
                .to_owned()
        }
    } else if code == Some(403) || grpc("PermissionDenied") {
        "the endpoint knows the credentials but does not allow them to send (403 / \
         PERMISSION_DENIED)"
            .to_owned()
    } else if code == Some(404) || code == Some(405) || grpc("Unimplemented") {
        format!(
            "nothing takes {} there (404 / UNIMPLEMENTED): a wrong path, an HTTP protocol on a \
             gRPC port (or the reverse), or the receiving config has no {} pipeline",
            t.signal.name(),
            t.signal.name()
        )
    } else if code == Some(415) {
        "the endpoint does not take OTLP protobuf (415): is it an OTLP endpoint?".to_owned()
    } else if matches!(code, Some(429 | 502 | 503 | 504)) || grpc("Unavailable") {
        "the endpoint is there but busy or not ready (429/5xx / UNAVAILABLE): Claude Code \
         retries; if it lasts, look at the gateway"
            .to_owned()
    } else if lower.contains("connection refused") {
        format!(
            "nothing listens at {}: start ccpipe (or the gateway), or fix the endpoint; Claude \
             Code drops what it cannot send",
            host_port(&t.url)
        )
    } else if lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve") {
        format!("the host of {} does not resolve", t.url)
    } else if lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("tls")
    {
        "TLS failed: the server's certificate is not trusted here; set \
         OTEL_EXPORTER_OTLP_CERTIFICATE to the CA certificate's path (or use the right host name)"
            .to_owned()
    } else if lower.contains("did not answer within") {
        format!(
            "no answer within {TIMEOUT:?}: a firewall drops the connection, or it is not an OTLP \
             endpoint"
        )
    } else if code.is_some() {
        "the endpoint refused the request".to_owned()
    } else if t.protocol.is_grpc() {
        "the connection failed: an HTTP/1 server on a gRPC endpoint? (use http/protobuf with \
         its HTTP port)"
            .to_owned()
    } else {
        "the connection failed".to_owned()
    };
    format!("{what} [{message}]")
}

/// The status of an "HTTP 404 Not Found: …" message.
fn http_status(message: &str) -> Option<u16> {
    message.split("HTTP ").nth(1)?.get(..3)?.parse().ok()
}

fn host_port(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect()
    }

    #[test]
    fn targets_resolve_like_the_sdk() {
        let t = targets(&env(&[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://gw.example.com/otlp/",
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "https://logs.example.com/in",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "Authorization=Bearer%20abc, x-team=a",
            ),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
        ]));
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].url, "https://gw.example.com/otlp/v1/metrics");
        assert_eq!(t[1].url, "https://logs.example.com/in");
        assert_eq!(
            t[0].headers,
            [
                ("Authorization".to_owned(), "Bearer abc".to_owned()),
                ("x-team".to_owned(), "a".to_owned())
            ]
        );
        assert_eq!(t[0].ca_file, Some(PathBuf::from("/etc/ca.pem")));
        let grpc = targets(&env(&[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ]));
        assert_eq!(grpc[0].url, "http://127.0.0.1:4317");
        assert!(targets(&env(&[("OTEL_METRICS_EXPORTER", "otlp")])).is_empty());
    }

    #[test]
    fn answers_become_words() {
        let t = ProbeTarget {
            signal: Signal::Traces,
            protocol: Protocol::HttpProtobuf,
            url: "http://127.0.0.1:9/v1/traces".into(),
            headers: vec![],
            ca_file: None,
        };
        let words = |m: &str| diagnose(&t, &ProbeError::Export(ExportError::permanent(m)));
        assert!(
            words("HTTP 401 Unauthorized: no token").starts_with("the endpoint wants credentials")
        );
        assert!(words("HTTP 404 Not Found: ").starts_with("nothing takes traces there"));
        assert!(words("cannot reach the endpoint at http://127.0.0.1:9/v1/traces: Connection refused (os error 111)")
            .starts_with("nothing listens at 127.0.0.1:9"));
        assert_eq!(http_status("HTTP 503 Service Unavailable: x"), Some(503));
        assert_eq!(http_status("gRPC Unavailable: x"), None);
        assert_eq!(percent_decode("a%2Cb%zz%"), "a,b%zz%");
    }
}
