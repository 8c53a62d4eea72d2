//! `claude-settings --check`: what keeps a settings file from sending Claude
//! Code's telemetry to this ccpipe.
//!
//! The usual pitfalls: telemetry off, exporters not `otlp`, no endpoint or
//! no protocol, the gRPC port with an HTTP protocol (or the reverse), an
//! endpoint that points elsewhere, and traces asked for without the beta
//! flag. Per-signal variables (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, …) are
//! resolved as Claude Code's OTLP exporters do: a per-signal endpoint is used
//! as it is, the general one gets `/v1/<signal>` appended over HTTP.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use ccpipe_receivers::otlp::config::{Endpoint, Host};
use serde_json::{Map, Value};

use super::listen::Listen;
use super::otel_env::{
    kind, show, Protocol, Signal, ENABLE_TELEMETRY, ENDPOINT, ENHANCED_BETA, HEADERS, PROTOCOL,
};

/// What a check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Things that keep data from arriving here.
    pub problems: Vec<String>,
    /// Worth knowing, not wrong.
    pub notes: Vec<String>,
    /// The signals that do arrive, when there are no problems.
    pub signals: Vec<&'static str>,
}

impl Report {
    pub fn problem(p: impl Into<String>) -> Report {
        Report {
            problems: vec![p.into()],
            ..Report::default()
        }
    }

    fn add(&mut self, p: String) {
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }

    fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    pub fn render(&self, path: &Path, listen: &Listen) -> String {
        let mut out = String::new();
        if self.problems.is_empty() {
            let _ = writeln!(
                out,
                "OK: {} sends {} to {}",
                path.display(),
                self.signals.join(", "),
                listen.described()
            );
        } else {
            let _ = writeln!(
                out,
                "{}: {} problem{} keep{} Claude Code's telemetry from reaching {}:",
                path.display(),
                self.problems.len(),
                if self.problems.len() == 1 { "" } else { "s" },
                if self.problems.len() == 1 { "s" } else { "" },
                listen.what(),
            );
            for p in &self.problems {
                let _ = writeln!(out, "  - {p}");
            }
            let _ = writeln!(
                out,
                "fix with: ccpipe claude-settings --write {}",
                path.display()
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

/// Checks a whole settings document.
pub fn check_document(doc: &Map<String, Value>, listen: &Listen) -> Report {
    match doc.get("env") {
        None => Report::problem(
            "there is no \"env\" block: Claude Code reads its telemetry settings from it",
        ),
        Some(Value::Object(env)) => check_env(env, listen),
        Some(other) => Report::problem(format!("\"env\" is {}, not an object", kind(other))),
    }
}

fn truthy(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

fn has_otlp(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.split(',').any(|e| e.trim() == "otlp"))
}

/// Checks the `env` object.
pub fn check_env(env: &Map<String, Value>, listen: &Listen) -> Report {
    let mut r = Report::default();
    for (k, v) in env {
        if !v.is_string() && (k.starts_with("OTEL_") || k.starts_with("CLAUDE_CODE_")) {
            r.add(format!(
                "{k} is {}; values in \"env\" must be strings (write \"{}\")",
                kind(v),
                show(v)
            ));
        }
    }
    let get = |k: &str| env.get(k).and_then(Value::as_str);

    match get(ENABLE_TELEMETRY) {
        None => r.add(format!(
            "{ENABLE_TELEMETRY} is not set: Claude Code sends no telemetry (set it to \"1\")"
        )),
        v if !truthy(v) => r.add(format!(
            "{ENABLE_TELEMETRY} is {:?}: telemetry is off (set it to \"1\")",
            v.unwrap_or_default()
        )),
        _ => {}
    }

    let mut active = Vec::new();
    for s in Signal::ALL {
        let var = s.exporter_var();
        let value = get(&var);
        if !listen.signals.contains(&s) {
            if has_otlp(value) {
                r.add(format!(
                    "{var} is \"otlp\", but {} takes no {} ({}): Claude Code would get 404s \
                     (UNIMPLEMENTED over gRPC); remove it",
                    listen.what(),
                    s.name(),
                    listen.pipelines_hint(s)
                ));
            }
            continue;
        }
        match (s, value) {
            (Signal::Traces, Some(v)) if has_otlp(Some(v)) => {
                if truthy(get(ENHANCED_BETA)) {
                    active.push(Signal::Traces);
                } else {
                    r.add(format!(
                        "{var} is \"otlp\" but {ENHANCED_BETA} is not \"1\": Claude Code \
                         sends no traces without it"
                    ));
                }
            }
            (Signal::Traces, None) => r.note(format!(
                "traces are off ({var} is not set); `ccpipe claude-settings --write` turns them on"
            )),
            (Signal::Traces, Some(v)) => {
                r.note(format!("traces do not go out over OTLP ({var} is {v:?})"))
            }
            (_, None) => r.add(format!(
                "{var} is not set: no {} are exported (set it to \"otlp\")",
                s.name()
            )),
            (_, Some(v)) if !has_otlp(Some(v)) => r.add(format!(
                "{var} is {v:?}: {} do not go out over OTLP (set it to \"otlp\")",
                s.name()
            )),
            (_, Some(_)) => active.push(s),
        }
    }

    // Metrics and logs are checked even when their exporter is off: the
    // list then holds everything to fix at once.
    for s in Signal::ALL {
        let taken = listen.signals.contains(&s);
        if taken && (s != Signal::Traces || active.contains(&s)) {
            check_signal(&mut r, env, s, listen);
        }
    }
    if r.problems.is_empty() {
        r.signals = active.iter().map(|s| s.name()).collect();
    }
    r
}

/// Where one signal goes, compared with where this ccpipe listens.
fn check_signal(r: &mut Report, env: &Map<String, Value>, s: Signal, listen: &Listen) {
    let get = |k: &str| env.get(k).and_then(Value::as_str).map(str::trim);
    let suggestion = suggest(listen);
    let protocol_var = s.protocol_var();
    let (pvar, pval) = match get(&protocol_var) {
        Some(v) => (protocol_var, v),
        None => match get(PROTOCOL) {
            Some(v) => (PROTOCOL.to_owned(), v),
            None => {
                r.add(format!(
                    "{PROTOCOL} is not set: Claude Code needs it to export (here: {suggestion})"
                ));
                return;
            }
        },
    };
    let Some(protocol) = Protocol::parse(pval) else {
        r.add(format!(
            "{pvar} is {pval:?}: not grpc, http/protobuf or http/json (here: {suggestion})"
        ));
        return;
    };
    let endpoint_var = s.endpoint_var();
    let (evar, eval, per_signal) = match get(&endpoint_var) {
        Some(v) => (endpoint_var, v, true),
        None => match get(ENDPOINT) {
            Some(v) => (ENDPOINT.to_owned(), v, false),
            None => {
                r.add(format!(
                    "{ENDPOINT} is not set: Claude Code does not know where to send (here: {suggestion})"
                ));
                return;
            }
        },
    };
    let Some(url) = Url::parse(eval) else {
        r.add(format!(
            "{evar} is {eval:?}: not an http:// or https:// URL (here: {suggestion})"
        ));
        return;
    };
    let Some(expected) = listen.endpoint_for(protocol) else {
        let (name, other) = if protocol.is_grpc() {
            ("gRPC", "http/protobuf")
        } else {
            ("HTTP", "grpc")
        };
        r.add(format!(
            "{pvar} is {:?} but this ccpipe takes no {name} (receiver {:?}); use {other}: {suggestion}",
            protocol.as_str(),
            listen.receiver
        ));
        return;
    };
    let other = if protocol.is_grpc() {
        listen
            .http
            .as_ref()
            .map(|(e, _)| (e, "HTTP", "http/protobuf"))
    } else {
        listen.grpc.as_ref().map(|e| (e, "gRPC", "grpc"))
    };
    if let Some((other_ep, other_name, other_protocol)) = other {
        if url.port == other_ep.port
            && host_matches(&url.host, other_ep)
            && url.port != expected.port
        {
            r.add(format!(
                "port/protocol mismatch: {evar} is {eval:?}, this ccpipe's {other_name} port, but \
                 {pvar} is {:?}; use {pvar}={other_protocol}, or {evar}={}",
                protocol.as_str(),
                listen.url(expected)
            ));
            return;
        }
    }
    if url.port != expected.port || !host_matches(&url.host, expected) {
        r.add(format!(
            "{evar} is {eval:?}, which is not {} (it takes {} on {})",
            listen.what(),
            protocol.as_str(),
            listen.url(expected)
        ));
        return;
    }
    if url.https != listen.tls {
        r.add(if listen.tls {
            format!("{evar} is {eval:?}: plain http, but this ccpipe's receiver takes https")
        } else {
            format!("{evar} is {eval:?}: https, but this ccpipe's receiver takes plain http")
        });
        return;
    }
    if let Some(token) = &listen.token {
        let header_var = s.headers_var();
        let (hvar, headers) = match get(&header_var) {
            Some(h) => (header_var, Some(h)),
            None => (HEADERS.to_owned(), get(HEADERS)),
        };
        if !carries_token(headers.unwrap_or(""), token.expose()) {
            r.add(format!(
                "{} requires a bearer token, and {hvar} does not carry it: set \
                 {hvar}=\"Authorization=Bearer <auth.bearer_token of the config>\"",
                listen.what()
            ));
        }
    }
    if !protocol.is_grpc() {
        let path = if per_signal {
            url.path.clone()
        } else {
            format!("{}{}", url.path.trim_end_matches('/'), s.default_path())
        };
        let want = listen.http_path(s).unwrap_or(s.default_path());
        if path != want {
            r.add(format!(
                "{} go to the path {path:?} ({evar} is {eval:?}), but {} takes them on {want:?}",
                s.name(),
                listen.what()
            ));
        }
    }
}

/// Whether `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,…`) holds `Authorization=Bearer <token>`.
fn carries_token(headers: &str, token: &str) -> bool {
    headers.split(',').any(|h| {
        let Some((k, v)) = h.split_once('=') else {
            return false;
        };
        let v = v.trim().replace("%20", " ");
        k.trim().eq_ignore_ascii_case("authorization")
            && v.split_once(' ').is_some_and(|(scheme, t)| {
                scheme.eq_ignore_ascii_case("bearer") && t.trim() == token
            })
    })
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL=… OTEL_EXPORTER_OTLP_ENDPOINT=…` for this ccpipe.
fn suggest(listen: &Listen) -> String {
    let protocol = if listen.grpc.is_some() {
        Protocol::Grpc
    } else {
        Protocol::HttpProtobuf
    };
    let e = listen.endpoint_for(protocol).expect("one is enabled");
    format!(
        "{PROTOCOL}={} {ENDPOINT}={}",
        protocol.as_str(),
        listen.url(e)
    )
}

/// The parts of an endpoint URL that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

impl Url {
    fn parse(s: &str) -> Option<Url> {
        let uri: http::Uri = s.parse().ok()?;
        let https = match uri.scheme_str()? {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        let authority = uri.authority()?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(Url {
            https,
            host,
            port,
            path: uri.path().to_owned(),
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a client connecting to `host` reaches a server bound to `e`.
fn host_matches(host: &str, e: &Endpoint) -> bool {
    match &e.host {
        Host::Ip(ip) if ip.is_unspecified() => true,
        Host::Ip(ip) if ip.is_loopback() => is_loopback(host),
        Host::Name(n) if n == "localhost" => is_loopback(host),
        Host::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
        Host::Name(n) => host == n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> Listen {
        Listen {
            receiver: "otlp".into(),
            grpc: Some("127.0.0.1:4317".parse().unwrap()),
            http: Some((
                "127.0.0.1:4318".parse().unwrap(),
                ["/v1/metrics".into(), "/v1/logs".into(), "/v1/traces".into()],
            )),
            tls: false,
            mtls: false,
            token: None,
            signals: Signal::ALL.to_vec(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect()
    }

    const GOOD: &[(&str, &str)] = &[
        ("CLAUDE_CODE_ENABLE_TELEMETRY", "1"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "1"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317"),
    ];

    fn with(over: &[(&str, &str)]) -> Map<String, Value> {
        let mut e = env(GOOD);
        for (k, v) in over {
            if v.is_empty() {
                e.shift_remove(*k);
            } else {
                e.insert((*k).into(), Value::String((*v).into()));
            }
        }
        e
    }

    #[test]
    fn a_good_block_passes() {
        let r = check_env(&env(GOOD), &listen());
        assert_eq!(r.problems, Vec::<String>::new());
        assert_eq!(r.signals, ["metrics", "logs", "traces"]);
    }

    #[test]
    fn each_pitfall_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("CLAUDE_CODE_ENABLE_TELEMETRY", "0")], "CLAUDE_CODE_ENABLE_TELEMETRY is \"0\": telemetry is off (set it to \"1\")"),
            (&[("CLAUDE_CODE_ENABLE_TELEMETRY", "")], "CLAUDE_CODE_ENABLE_TELEMETRY is not set: Claude Code sends no telemetry (set it to \"1\")"),
            (&[("OTEL_LOGS_EXPORTER", "console")], "OTEL_LOGS_EXPORTER is \"console\": logs do not go out over OTLP (set it to \"otlp\")"),
            (&[("OTEL_METRICS_EXPORTER", "")], "OTEL_METRICS_EXPORTER is not set: no metrics are exported (set it to \"otlp\")"),
            (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "")], "OTEL_EXPORTER_OTLP_PROTOCOL is not set: Claude Code needs it to export (here: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317)"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")], "OTEL_EXPORTER_OTLP_ENDPOINT is not set: Claude Code does not know where to send (here: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317)"),
            (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")], "port/protocol mismatch: OTEL_EXPORTER_OTLP_ENDPOINT is \"http://localhost:4317\", this ccpipe's gRPC port, but OTEL_EXPORTER_OTLP_PROTOCOL is \"http/protobuf\"; use OTEL_EXPORTER_OTLP_PROTOCOL=grpc, or OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")], "port/protocol mismatch: OTEL_EXPORTER_OTLP_ENDPOINT is \"http://127.0.0.1:4318\", this ccpipe's HTTP port, but OTEL_EXPORTER_OTLP_PROTOCOL is \"grpc\"; use OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, or OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4317")], "OTEL_EXPORTER_OTLP_ENDPOINT is \"http://collector.example:4317\", which is not this ccpipe (it takes grpc on http://127.0.0.1:4317)"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9999")], "OTEL_EXPORTER_OTLP_ENDPOINT is \"http://127.0.0.1:9999\", which is not this ccpipe (it takes grpc on http://127.0.0.1:4317)"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")], "OTEL_EXPORTER_OTLP_ENDPOINT is \"localhost:4317\": not an http:// or https:// URL (here: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317)"),
            (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http")], "OTEL_EXPORTER_OTLP_PROTOCOL is \"http\": not grpc, http/protobuf or http/json (here: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317)"),
            (&[("CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "")], "OTEL_TRACES_EXPORTER is \"otlp\" but CLAUDE_CODE_ENHANCED_TELEMETRY_BETA is not \"1\": Claude Code sends no traces without it"),
            (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/v1/logs")], "metrics go to the path \"/v1/logs/v1/metrics\" (OTEL_EXPORTER_OTLP_ENDPOINT is \"http://127.0.0.1:4318/v1/logs\"), but this ccpipe takes them on \"/v1/metrics\""),
            (&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:5555")], "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is \"http://127.0.0.1:5555\", which is not this ccpipe (it takes grpc on http://127.0.0.1:4317)"),
        ];
        for (over, want) in cases {
            let r = check_env(&with(over), &listen());
            assert_eq!(
                r.problems.first().map(String::as_str),
                Some(*want),
                "{over:?}: {:?}",
                r.problems
            );
        }
    }

    #[test]
    fn http_and_per_signal_endpoints_resolve_like_the_sdk() {
        let ok = with(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1]:4318/"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://127.0.0.1:4318/v1/logs",
            ),
        ]);
        assert_eq!(check_env(&ok, &listen()).problems, Vec::<String>::new());
        let bad = with(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:4318"),
        ]);
        assert_eq!(
            check_env(&bad, &listen()).problems,
            ["logs go to the path \"/\" (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is \"http://127.0.0.1:4318\"), but this ccpipe takes them on \"/v1/logs\""]
        );
    }

    #[test]
    fn tls_and_bearer_token() {
        let mut secured = listen();
        secured.tls = true;
        secured.token = Some("s3cret".into());
        let https = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://localhost:4317"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-team=a,Authorization=Bearer s3cret",
            ),
        ]);
        assert_eq!(check_env(&https, &secured).problems, Vec::<String>::new());
        let r = check_env(&env(GOOD), &secured);
        assert_eq!(
            r.problems,
            ["OTEL_EXPORTER_OTLP_ENDPOINT is \"http://localhost:4317\": plain http, but this ccpipe's receiver takes https"]
        );
        let wrong = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://localhost:4317"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer other"),
        ]);
        let r = check_env(&wrong, &secured);
        assert_eq!(
            r.problems,
            ["this ccpipe requires a bearer token, and OTEL_EXPORTER_OTLP_HEADERS does not carry it: set OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer <auth.bearer_token of the config>\""]
        );
        assert!(!r.problems[0].contains("s3cret"));
        assert!(carries_token("Authorization=Bearer%20s3cret", "s3cret"));
    }

    #[test]
    fn a_gateway_is_named_as_such() {
        let gateway = Listen {
            receiver: "--endpoint http://gw:4317".into(),
            grpc: Some("gw:4317".parse().unwrap()),
            http: None,
            signals: vec![Signal::Metrics, Signal::Logs],
            ..listen()
        };
        let r = check_env(&env(GOOD), &gateway);
        assert_eq!(
            r.problems,
            [
                "OTEL_TRACES_EXPORTER is \"otlp\", but the gateway takes no traces (no otlp receiver is in a traces pipeline): Claude Code would get 404s (UNIMPLEMENTED over gRPC); remove it",
                "OTEL_EXPORTER_OTLP_ENDPOINT is \"http://localhost:4317\", which is not the gateway (it takes grpc on http://gw:4317)"
            ]
        );
    }

    #[test]
    fn signals_without_a_pipeline_are_problems() {
        let mut metrics_and_logs = listen();
        metrics_and_logs.signals = vec![Signal::Metrics, Signal::Logs];
        let r = check_env(&env(GOOD), &metrics_and_logs);
        assert_eq!(
            r.problems,
            ["OTEL_TRACES_EXPORTER is \"otlp\", but this ccpipe takes no traces (receiver \"otlp\" is in no traces pipeline): Claude Code would get 404s (UNIMPLEMENTED over gRPC); remove it"]
        );
        let r = check_env(&with(&[("OTEL_TRACES_EXPORTER", "")]), &metrics_and_logs);
        assert!(r.problems.is_empty() && r.notes.is_empty(), "{r:?}");
        assert_eq!(r.signals, ["metrics", "logs"]);
    }

    #[test]
    fn non_string_values_and_wildcard_binds() {
        let mut e = env(GOOD);
        e.insert("CLAUDE_CODE_ENABLE_TELEMETRY".into(), Value::from(1));
        let r = check_env(&e, &listen());
        assert_eq!(r.problems[0], "CLAUDE_CODE_ENABLE_TELEMETRY is a number; values in \"env\" must be strings (write \"1\")");
        let mut any = listen();
        any.grpc = Some("0.0.0.0:4317".parse().unwrap());
        let remote = with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://build-box:4317")]);
        assert!(check_env(&remote, &any).problems.is_empty());
        let r = check_env(&with(&[("OTEL_TRACES_EXPORTER", "")]), &listen());
        assert!(r.problems.is_empty());
        assert_eq!(r.signals, ["metrics", "logs"]);
        assert_eq!(r.notes.len(), 1);
    }
}
