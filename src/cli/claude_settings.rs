//! `ccpipe claude-settings`: the `env` block of Claude Code's `settings.json`
//! that sends its telemetry to this ccpipe.
//!
//! The protocol and endpoint come from the loaded config's `otlp` receiver
//! (gRPC when it listens on gRPC, else HTTP; `--protocol` chooses); an
//! endpoint bound to every interface (`0.0.0.0`, `::`) is reached through the
//! loopback address. Printing is the default; `--write PATH` merges the block
//! into a settings file (see [`super::settings_file`]) and `--check PATH`
//! lists what a file gets wrong (see [`super::settings_check`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use ccpipe_pipeline::config::Config;
use ccpipe_receivers::otlp::config::{self as otlp, Endpoint, Host};

use super::{settings_check, settings_file};

pub const ENABLE_TELEMETRY: &str = "CLAUDE_CODE_ENABLE_TELEMETRY";
pub const ENHANCED_BETA: &str = "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA";
pub const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
pub const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
pub const HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
pub const LOG_USER_PROMPTS: &str = "OTEL_LOG_USER_PROMPTS";
pub const LOG_TOOL_DETAILS: &str = "OTEL_LOG_TOOL_DETAILS";
pub const LOG_TOOL_CONTENT: &str = "OTEL_LOG_TOOL_CONTENT";

/// The three signals, as named in the per-signal OTEL_* variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Metrics,
    Logs,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Logs, Signal::Traces];

    pub fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }

    fn upper(self) -> &'static str {
        match self {
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
            Signal::Traces => "TRACES",
        }
    }

    /// `OTEL_METRICS_EXPORTER`, …
    pub fn exporter_var(self) -> String {
        format!("OTEL_{}_EXPORTER", self.upper())
    }

    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, …
    pub fn endpoint_var(self) -> String {
        format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", self.upper())
    }

    /// `OTEL_EXPORTER_OTLP_METRICS_HEADERS`, …
    pub fn headers_var(self) -> String {
        format!("OTEL_EXPORTER_OTLP_{}_HEADERS", self.upper())
    }

    /// `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, …
    pub fn protocol_var(self) -> String {
        format!("OTEL_EXPORTER_OTLP_{}_PROTOCOL", self.upper())
    }

    /// The path an OTLP/HTTP exporter appends to the general endpoint.
    pub fn default_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
            Signal::Traces => "/v1/traces",
        }
    }
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    #[value(name = "grpc")]
    Grpc,
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    #[value(name = "http/json")]
    HttpJson,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        match s.trim() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            _ => None,
        }
    }

    pub fn is_grpc(self) -> bool {
        self == Protocol::Grpc
    }
}

/// Which private text Claude Code puts into its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Content {
    /// No prompt text, no tool parameters or input.
    #[default]
    Off,
    /// Prompt text only.
    Prompts,
    /// Prompts, tool parameters and tool input/output.
    Full,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// OTLP protocol for Claude Code [default: grpc when the receiver listens
    /// on gRPC, else http/protobuf].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// A resource attribute for every record, e.g. team=platform; repeatable
    /// (goes into OTEL_RESOURCE_ATTRIBUTES).
    #[arg(long = "resource", value_name = "KEY=VALUE", value_parser = parse_resource)]
    pub resources: Vec<(String, String)>,
    /// Private text in the events: off, prompts (prompt text), or full
    /// (prompts, tool parameters and tool input).
    #[arg(long, value_enum, default_value_t = Content::Off)]
    pub content: Content,
    /// Leave traces out (no OTEL_TRACES_EXPORTER / CLAUDE_CODE_ENHANCED_TELEMETRY_BETA).
    #[arg(long)]
    pub no_traces: bool,
    /// The otlp receiver to point at, when the config has several.
    #[arg(long, value_name = "ID")]
    pub receiver: Option<String>,
    /// Merge the block into this settings.json (a backup goes to PATH.bak).
    #[arg(long, value_name = "PATH", conflicts_with = "check")]
    pub write: Option<PathBuf>,
    /// Explain what this settings.json gets wrong; exit 1 when anything is.
    #[arg(long, value_name = "PATH")]
    pub check: Option<PathBuf>,
}

/// `--resource k=v`.
pub fn parse_resource(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    if let Some(c) = k
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, ',' | '=' | ';' | '"' | '\\' | '%'))
    {
        return Err(format!("the key {k:?} may not hold {c:?}"));
    }
    Ok((k.to_owned(), v.trim().to_owned()))
}

/// `OTEL_RESOURCE_ATTRIBUTES` values are percent-encoded (W3C Baggage
/// octets); `=` and `%` are encoded too, as the SDK splits on `=`.
pub fn encode_resource_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        let plain = matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C | 0x3E..=0x5B | 0x5D..=0x7E)
            && b != b'%';
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where the chosen otlp receiver listens.
#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    /// The receiver's id, for messages.
    pub receiver: String,
    pub grpc: Option<Endpoint>,
    /// The HTTP endpoint and its paths for metrics, logs, traces.
    pub http: Option<(Endpoint, [String; 3])>,
    /// Both protocols are served over TLS.
    pub tls: bool,
    /// Clients must show a certificate (`tls.client_ca_file`).
    pub mtls: bool,
    /// The bearer token clients must send (`auth.bearer_token`).
    pub token: Option<String>,
}

impl Listen {
    /// The otlp receiver of `config` (`--receiver` picks one by id; else the
    /// one named `otlp`, else the only one).
    pub fn from_config(config: &Config, wanted: Option<&str>) -> Result<Listen, String> {
        let otlps: Vec<_> = config
            .receivers
            .iter()
            .filter(|(id, _)| id.type_name() == "otlp")
            .collect();
        let (id, cfg) = match wanted {
            Some(w) => otlps
                .iter()
                .find(|(id, _)| id.to_string() == w)
                .copied()
                .ok_or_else(|| {
                    format!(
                        "the config has no otlp receiver {w:?}; it has: {}",
                        list(otlps.iter().map(|(id, _)| id.to_string()))
                    )
                })?,
            None => match otlps.as_slice() {
                [] => return Err("the config has no otlp receiver to point Claude Code at".into()),
                [one] => *one,
                many => many
                    .iter()
                    .find(|(id, _)| id.name().is_none())
                    .copied()
                    .ok_or_else(|| {
                        format!(
                            "the config has several otlp receivers ({}); choose one with --receiver",
                            list(many.iter().map(|(id, _)| id.to_string()))
                        )
                    })?,
            },
        };
        let settings = otlp::from_component(cfg).map_err(|e| e.to_string())?;
        let raw: otlp::OtlpConfig = cfg.parse().map_err(|e| e.to_string())?;
        let listen = Listen {
            tls: settings.tls.is_some(),
            mtls: settings
                .tls
                .as_ref()
                .is_some_and(|t| t.client_ca_file.is_some()),
            token: raw.auth.map(|a| a.bearer_token),
            receiver: id.to_string(),
            grpc: settings.grpc.map(|(e, _)| e),
            http: settings.http.map(|(e, h)| {
                (
                    e,
                    [
                        h.metrics_path.clone(),
                        h.logs_path.clone(),
                        h.traces_path.clone(),
                    ],
                )
            }),
        };
        for e in listen.grpc.iter().chain(listen.http.iter().map(|(e, _)| e)) {
            if e.port == 0 {
                return Err(format!(
                    "receiver {:?} listens on {e}: port 0 is chosen at start, so Claude Code \
                     cannot be pointed at it; set a fixed port",
                    listen.receiver
                ));
            }
        }
        Ok(listen)
    }

    /// The URL path this ccpipe takes `signal` on over HTTP.
    pub fn http_path(&self, signal: Signal) -> Option<&str> {
        let (_, paths) = self.http.as_ref()?;
        Some(match signal {
            Signal::Metrics => &paths[0],
            Signal::Logs => &paths[1],
            Signal::Traces => &paths[2],
        })
    }

    /// `http(s)://host:port` for a client of `e`.
    pub fn url(&self, e: &Endpoint) -> String {
        client_url(e, self.tls)
    }

    /// What the generated block cannot set itself, for the user to add.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.tls {
            notes.push(
                "the receiver serves TLS: if its certificate is not signed by a public CA, also set \
                 OTEL_EXPORTER_OTLP_CERTIFICATE to the CA certificate's path"
                    .to_owned(),
            );
        }
        if self.mtls {
            notes.push(
                "the receiver asks for client certificates: also set \
                 OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
                    .to_owned(),
            );
        }
        notes
    }

    /// The endpoint serving `protocol`, if any.
    pub fn endpoint_for(&self, protocol: Protocol) -> Option<&Endpoint> {
        if protocol.is_grpc() {
            self.grpc.as_ref()
        } else {
            self.http.as_ref().map(|(e, _)| e)
        }
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// `http(s)://host:port` for a client of `e`: an address bound to every
/// interface becomes the loopback address.
pub fn client_url(e: &Endpoint, tls: bool) -> String {
    let host = match &e.host {
        Host::Ip(IpAddr::V4(ip)) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        Host::Ip(IpAddr::V6(ip)) if ip.is_unspecified() => format!("[{}]", Ipv6Addr::LOCALHOST),
        Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        Host::Ip(ip) => ip.to_string(),
        Host::Name(n) => n.clone(),
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", e.port)
}

/// What the generated block holds.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub protocol: Protocol,
    pub traces: bool,
    pub content: Content,
    pub resources: Vec<(String, String)>,
}

impl Wanted {
    pub fn from_args(args: &Args, listen: &Listen) -> Result<Wanted, String> {
        let protocol = match args.protocol {
            Some(p) => p,
            None if listen.grpc.is_some() => Protocol::Grpc,
            None => Protocol::HttpProtobuf,
        };
        if listen.endpoint_for(protocol).is_none() {
            let has = if protocol.is_grpc() { "gRPC" } else { "HTTP" };
            return Err(format!(
                "receiver {:?} does not listen on {has}; use another --protocol or enable \
                 protocols.{} in the config",
                listen.receiver,
                if protocol.is_grpc() { "grpc" } else { "http" }
            ));
        }
        Ok(Wanted {
            protocol,
            traces: !args.no_traces,
            content: args.content,
            resources: args.resources.clone(),
        })
    }

    /// The env block, in the order it is printed and added.
    pub fn env(&self, listen: &Listen) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
        put(ENABLE_TELEMETRY, "1");
        put("OTEL_METRICS_EXPORTER", "otlp");
        put("OTEL_LOGS_EXPORTER", "otlp");
        if self.traces {
            put("OTEL_TRACES_EXPORTER", "otlp");
            put(ENHANCED_BETA, "1");
        }
        put(PROTOCOL, self.protocol.as_str());
        let endpoint = listen
            .endpoint_for(self.protocol)
            .expect("checked in from_args");
        let base = listen.url(endpoint);
        put(ENDPOINT, &base);
        if let Some(token) = &listen.token {
            // The form Claude Code's documentation shows; the SDK trims and
            // splits on the first '='.
            put(HEADERS, &format!("Authorization=Bearer {token}"));
        }
        if !self.protocol.is_grpc() {
            // Paths other than /v1/<signal> need the per-signal variables,
            // which are used as they are.
            for s in Signal::ALL {
                if s == Signal::Traces && !self.traces {
                    continue;
                }
                let path = listen.http_path(s).expect("http is enabled");
                if path != s.default_path() {
                    put(&s.endpoint_var(), &format!("{base}{path}"));
                }
            }
        }
        let (prompts, details) = match self.content {
            Content::Off => ("0", "0"),
            Content::Prompts => ("1", "0"),
            Content::Full => ("1", "1"),
        };
        put(LOG_USER_PROMPTS, prompts);
        put(LOG_TOOL_DETAILS, details);
        put(LOG_TOOL_CONTENT, details);
        if !self.resources.is_empty() {
            let pairs: Vec<String> = self
                .resources
                .iter()
                .map(|(k, v)| format!("{k}={}", encode_resource_value(v)))
                .collect();
            put(RESOURCE_ATTRIBUTES, &pairs.join(","));
        }
        env
    }
}

/// Runs `ccpipe claude-settings`.
pub fn run(args: Args, config: &Config) -> ExitCode {
    let listen = match Listen::from_config(config, args.receiver.as_deref()) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    if let Some(path) = &args.check {
        let report = match settings_file::read(path) {
            Ok(Some(doc)) => settings_check::check_document(&doc.value, &listen),
            Ok(None) => settings_check::Report::problem(format!(
                "{} does not exist; create it with `ccpipe claude-settings --write {}`",
                path.display(),
                path.display()
            )),
            Err(e) => settings_check::Report::problem(e),
        };
        print!("{}", report.render(path, &listen));
        return if report.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let wanted = match Wanted::from_args(&args, &listen) {
        Ok(w) => w,
        Err(e) => return fail(&e),
    };
    let env = wanted.env(&listen);
    match &args.write {
        None => {
            let mut block = serde_json::Map::new();
            for (k, v) in env {
                block.insert(k, serde_json::Value::String(v));
            }
            let mut doc = serde_json::Map::new();
            doc.insert("env".into(), serde_json::Value::Object(block));
            let text = serde_json::to_string_pretty(&doc).expect("strings only");
            println!("{text}");
            for n in listen.notes() {
                eprintln!("note: {n}");
            }
            ExitCode::SUCCESS
        }
        Some(path) => match settings_file::write(path, &env, &listen) {
            Ok(summary) => {
                print!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("ccpipe claude-settings: {message}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_values_are_percent_encoded() {
        assert_eq!(encode_resource_value("platform"), "platform");
        assert_eq!(encode_resource_value("a b,c=d%"), "a%20b%2Cc%3Dd%25");
        assert_eq!(encode_resource_value("é"), "%C3%A9");
        assert_eq!(encode_resource_value("x/y:z@w"), "x/y:z@w");
    }

    #[test]
    fn resource_flags_are_checked() {
        assert_eq!(
            parse_resource("team=platform eng"),
            Ok(("team".into(), "platform eng".into()))
        );
        assert_eq!(parse_resource("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(
            parse_resource("team"),
            Err("\"team\" is not KEY=VALUE".into())
        );
        assert_eq!(parse_resource("=x"), Err("\"=x\" has an empty key".into()));
        assert_eq!(
            parse_resource("a,b=x"),
            Err("the key \"a,b\" may not hold ','".into())
        );
    }

    #[test]
    fn unspecified_addresses_become_loopback() {
        let url = |s: &str| client_url(&s.parse().unwrap(), false);
        assert_eq!(url("0.0.0.0:4317"), "http://127.0.0.1:4317");
        assert_eq!(url("[::]:4318"), "http://[::1]:4318");
        assert_eq!(url("[::1]:4318"), "http://[::1]:4318");
        assert_eq!(url("localhost:4317"), "http://localhost:4317");
        assert_eq!(url("10.1.2.3:4317"), "http://10.1.2.3:4317");
        assert_eq!(
            client_url(&"0.0.0.0:4317".parse().unwrap(), true),
            "https://127.0.0.1:4317"
        );
    }
}
