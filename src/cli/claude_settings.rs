//! `ccpipe claude-settings`: the `env` block of Claude Code's `settings.json`
//! that sends its telemetry to this ccpipe.
//!
//! The protocol and endpoint come from the loaded config's `otlp` receiver
//! (gRPC when it listens on gRPC, else HTTP; `--protocol` chooses), or from
//! `--endpoint URL` for a remote gateway (see [`super::gateway`]); an
//! endpoint bound to every interface (`0.0.0.0`, `::`) is reached through the
//! loopback address. Only the signals the config's pipelines take from that
//! receiver are turned on: anything else would be answered 404.
//!
//! Printing is the default (`--shell` prints `export` lines); `--write PATH`
//! merges the block into a settings file and `--managed` into the managed
//! settings file of a fleet rollout (see [`super::settings_file`]); `--check
//! PATH` lists what a file gets wrong (see [`super::settings_check`]) and
//! sends one empty OTLP request where it points (see [`super::settings_probe`]).

use std::path::PathBuf;
use std::process::ExitCode;

use ccpipe_pipeline::config::Config;

use super::listen::signals_of_any_otlp;
use super::listen::Listen;
use super::otel_env::*;
use super::{gateway, settings_check, settings_file, settings_probe};

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
    /// on gRPC, else http/protobuf; http/protobuf with --endpoint].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// A remote gateway's OTLP URL (https://otel.example.com) instead of this
    /// config's receiver; the config, if given, says which signals it takes.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The environment variable holding the gateway's bearer token (sent as
    /// Authorization=Bearer …; the token is never a flag, to keep it out of
    /// shell history).
    #[arg(long, value_name = "VAR")]
    pub bearer_token_env: Option<String>,
    /// An extra header for every export, e.g. x-tenant=acme; repeatable
    /// (goes into OTEL_EXPORTER_OTLP_HEADERS).
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// A resource attribute for every record, e.g. team=platform,
    /// department=eng, cost_center=42, repository=acme/api; repeatable
    /// (goes into OTEL_RESOURCE_ATTRIBUTES).
    #[arg(long = "resource", value_name = "KEY=VALUE", value_parser = parse_resource)]
    pub resources: Vec<(String, String)>,
    /// How often metrics are exported (OTEL_METRIC_EXPORT_INTERVAL), e.g. 60s.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub metrics_interval: Option<u64>,
    /// How often events are exported (OTEL_LOGS_EXPORT_INTERVAL), e.g. 5s.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub logs_interval: Option<u64>,
    /// How often spans are exported (OTEL_TRACES_EXPORT_INTERVAL), e.g. 5s.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub traces_interval: Option<u64>,
    /// Which ids metrics carry: session_id, version or account_uuid =true or
    /// =false (OTEL_METRICS_INCLUDE_*); repeatable.
    #[arg(long = "metrics-include", value_name = "KEY=BOOL", value_parser = parse_include)]
    pub metrics_include: Vec<(String, String)>,
    /// Private text in the events: off, prompts (prompt text), or full
    /// (prompts, tool parameters and tool input). Without it, --write keeps
    /// a file's existing choice and sets off where there is none.
    #[arg(long, value_enum)]
    pub content: Option<Content>,
    /// Leave traces out (no OTEL_TRACES_EXPORTER / CLAUDE_CODE_ENHANCED_TELEMETRY_BETA).
    #[arg(long)]
    pub no_traces: bool,
    /// The otlp receiver to point at, when the config has several.
    #[arg(long, value_name = "ID", conflicts_with = "endpoint")]
    pub receiver: Option<String>,
    /// Merge the block into this settings.json (a backup goes to PATH.bak).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["check", "shell"])]
    pub write: Option<PathBuf>,
    /// Merge the block into the managed settings file of a fleet rollout
    /// (Linux /etc/claude-code/managed-settings.json; --write PATH writes that
    /// content elsewhere, e.g. for an MDM package). Content flags only with --content.
    #[arg(long, conflicts_with_all = ["check", "shell"])]
    pub managed: bool,
    /// Print `export KEY='value'` lines for a shell instead of JSON.
    #[arg(long, conflicts_with = "check")]
    pub shell: bool,
    /// Explain what this settings.json gets wrong, then send one empty OTLP
    /// request where it points and say how that went; exit 1 on any problem.
    #[arg(long, value_name = "PATH")]
    pub check: Option<PathBuf>,
}

/// `--header k=v`: a value may not hold `,` (the list separator).
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = parse_resource(s)?;
    if v.contains(',') {
        return Err(format!("the value of {k} may not hold ','"));
    }
    Ok((k, v))
}

/// `--metrics-interval 60s`: milliseconds, as Claude Code reads them.
pub fn parse_interval(s: &str) -> Result<u64, String> {
    let d: ccpipe_pipeline::config::units::Duration = s.parse().map_err(|e| format!("{e}"))?;
    let ms = d.0.as_millis();
    if ms < 1000 {
        return Err(format!(
            "{s:?} is under a second; Claude Code would export constantly"
        ));
    }
    u64::try_from(ms).map_err(|_| format!("{s:?} is too long"))
}

/// `--metrics-include session_id=false`.
pub fn parse_include(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=true|false"))?;
    let var = match k.trim() {
        "session_id" => "OTEL_METRICS_INCLUDE_SESSION_ID",
        "version" => "OTEL_METRICS_INCLUDE_VERSION",
        "account_uuid" => "OTEL_METRICS_INCLUDE_ACCOUNT_UUID",
        other => {
            return Err(format!(
                "{other:?}: expected session_id, version or account_uuid"
            ))
        }
    };
    match v.trim() {
        "true" | "false" => Ok((var.to_owned(), v.trim().to_owned())),
        other => Err(format!("{other:?}: expected true or false")),
    }
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

/// What the generated block holds.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub protocol: Protocol,
    /// The signals turned on: those the config takes, less `--no-traces`.
    pub signals: Vec<Signal>,
    /// `None`: keep a file's choice (off where it has none).
    pub content: Option<Content>,
    /// Writing the managed settings: without `--content`, leave the content
    /// flags to each user.
    pub managed: bool,
    pub resources: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// `(variable, value)`: export intervals and `OTEL_METRICS_INCLUDE_*`.
    pub extra: Vec<(String, String)>,
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
        let signals: Vec<Signal> = listen
            .signals
            .iter()
            .copied()
            .filter(|s| *s != Signal::Traces || !args.no_traces)
            .collect();
        if signals.is_empty() {
            return Err(format!(
                "no pipeline takes data from receiver {:?}: add it to a pipeline's receivers",
                listen.receiver
            ));
        }
        let mut extra = Vec::new();
        for (signal, interval) in [
            (Signal::Metrics, args.metrics_interval),
            (Signal::Logs, args.logs_interval),
            (Signal::Traces, args.traces_interval),
        ] {
            if let Some(ms) = interval {
                extra.push((signal.interval_var().to_owned(), ms.to_string()));
            }
        }
        extra.extend(args.metrics_include.iter().cloned());
        Ok(Wanted {
            protocol,
            signals,
            content: args.content,
            managed: args.managed,
            resources: args.resources.clone(),
            headers: args.headers.clone(),
            extra,
        })
    }

    fn takes(&self, s: Signal) -> bool {
        self.signals.contains(&s)
    }

    /// The env block, in the order it is printed and added.
    pub fn env(&self, listen: &Listen) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
        put(ENABLE_TELEMETRY, "1");
        for s in Signal::ALL.into_iter().filter(|s| self.takes(*s)) {
            put(&s.exporter_var(), "otlp");
        }
        if self.takes(Signal::Traces) {
            put(ENHANCED_BETA, "1");
        }
        put(PROTOCOL, self.protocol.as_str());
        let endpoint = listen
            .endpoint_for(self.protocol)
            .expect("checked in from_args");
        let base = listen.url(endpoint);
        put(ENDPOINT, &base);
        let mut headers: Vec<String> = Vec::new();
        if let Some(token) = &listen.token {
            // The form Claude Code's documentation shows; the SDK trims and
            // splits on the first '='.
            headers.push(format!("Authorization=Bearer {}", token.expose()));
        }
        headers.extend(self.headers.iter().map(|(k, v)| format!("{k}={v}")));
        if !headers.is_empty() {
            put(HEADERS, &headers.join(","));
        }
        if !self.protocol.is_grpc() {
            // Paths other than /v1/<signal> need the per-signal variables,
            // which are used as they are.
            for s in Signal::ALL.into_iter().filter(|s| self.takes(*s)) {
                let path = listen.http_path(s).expect("http is enabled");
                if path != s.default_path() {
                    put(&s.endpoint_var(), &format!("{base}{path}"));
                }
            }
        }
        let flags = match self.content {
            Some(Content::Full) => Some(("1", "1")),
            Some(Content::Prompts) => Some(("1", "0")),
            Some(Content::Off) => Some(("0", "0")),
            None if self.managed => None,
            None => Some(("0", "0")),
        };
        if let Some((prompts, details)) = flags {
            put(LOG_USER_PROMPTS, prompts);
            put(LOG_TOOL_DETAILS, details);
            put(LOG_TOOL_CONTENT, details);
        }
        for (k, v) in &self.extra {
            put(k, v);
        }
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

    /// Keys whose value in an existing file wins over the block's: the
    /// content flags, unless `--content` was given.
    pub fn keep_existing(&self) -> Vec<&'static str> {
        if self.content.is_some() {
            Vec::new()
        } else {
            CONTENT_FLAGS.to_vec()
        }
    }

    /// Keys to take out of an existing file: the exporters of signals this
    /// ccpipe does not take (they would be answered 404 / UNIMPLEMENTED).
    pub fn unwanted(&self) -> Vec<String> {
        let mut out: Vec<String> = Signal::ALL
            .into_iter()
            .filter(|s| !self.takes(*s))
            .map(Signal::exporter_var)
            .collect();
        if !self.takes(Signal::Traces) {
            out.push(ENHANCED_BETA.to_owned());
        }
        out
    }
}

/// Where Claude Code is to send: the config's receiver, or `--endpoint`.
fn target(args: &Args, config: &Config) -> Result<Listen, String> {
    let Some(url) = &args.endpoint else {
        return Listen::from_config(config, args.receiver.as_deref());
    };
    let token = match &args.bearer_token_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => {
                return Err(format!(
                    "--bearer-token-env {var}: the variable is not set or empty"
                ))
            }
        },
    };
    let protocol = args.protocol.unwrap_or(Protocol::HttpProtobuf);
    gateway::listen(url, protocol, token, signals_of_any_otlp(config))
}

/// Runs `ccpipe claude-settings`.
pub fn run(args: Args, config: &Config) -> ExitCode {
    if args.bearer_token_env.is_some() && args.endpoint.is_none() {
        return fail("--bearer-token-env goes with --endpoint; a local receiver's token comes from its auth.bearer_token");
    }
    let listen = match target(&args, config) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    if let Some(path) = &args.check {
        return check(path, &listen);
    }
    let wanted = match Wanted::from_args(&args, &listen) {
        Ok(w) => w,
        Err(e) => return fail(&e),
    };
    let env = wanted.env(&listen);
    let path = match (&args.write, args.managed) {
        (Some(p), _) => p.clone(),
        (None, true) => settings_file::managed_path(),
        (None, false) => {
            print_block(&env, args.shell);
            for n in listen.notes() {
                eprintln!("note: {n}");
            }
            return ExitCode::SUCCESS;
        }
    };
    let merge = settings_file::Merge {
        wanted: &env,
        keep_existing: &wanted.keep_existing(),
        unwanted: &wanted.unwanted(),
    };
    match settings_file::write(&path, &merge, &listen) {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// The block as settings.json's `{"env": …}`, or as `export` lines.
fn print_block(env: &[(String, String)], shell: bool) {
    if shell {
        for (k, v) in env {
            println!("export {k}={}", shell_quote(v));
        }
        return;
    }
    let mut block = serde_json::Map::new();
    for (k, v) in env {
        block.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    let mut doc = serde_json::Map::new();
    doc.insert("env".into(), serde_json::Value::Object(block));
    println!(
        "{}",
        serde_json::to_string_pretty(&doc).expect("strings only")
    );
}

/// `'value'` for a POSIX shell (a `'` becomes `'\''`).
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// `--check PATH`: the file, then one request where it points.
fn check(path: &std::path::Path, listen: &Listen) -> ExitCode {
    let (report, env) = match settings_file::read(path) {
        Ok(Some(doc)) => (
            settings_check::check_document(&doc.value, listen),
            doc.value.get("env").cloned(),
        ),
        Ok(None) => (
            settings_check::Report::problem(format!(
                "{} does not exist; create it with `ccpipe claude-settings --write {}`",
                path.display(),
                path.display()
            )),
            None,
        ),
        Err(e) => (settings_check::Report::problem(e), None),
    };
    print!("{}", report.render(path, listen));
    let mut ok = report.problems.is_empty();
    if let Some(serde_json::Value::Object(env)) = env {
        let targets = settings_probe::targets(&env);
        if !targets.is_empty() {
            let outcomes = settings_probe::probe(&targets);
            for o in &outcomes {
                println!("{}", o.line());
            }
            ok &= outcomes.iter().all(|o| o.ok);
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("ccpipe claude-settings: {message}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::listen::client_url;

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
