//! The variables Claude Code's OpenTelemetry exporters read, and the
//! signal and protocol names they use: the vocabulary shared by
//! `claude-settings` and its `--write` / `--check` helpers.

use serde_json::Value;

pub const ENABLE_TELEMETRY: &str = "CLAUDE_CODE_ENABLE_TELEMETRY";
pub const ENHANCED_BETA: &str = "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA";
pub const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
pub const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
pub const HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
pub const LOG_USER_PROMPTS: &str = "OTEL_LOG_USER_PROMPTS";
pub const LOG_TOOL_DETAILS: &str = "OTEL_LOG_TOOL_DETAILS";
pub const LOG_TOOL_CONTENT: &str = "OTEL_LOG_TOOL_CONTENT";
/// The three content flags: a user's choice that `--write` keeps unless
/// `--content` is given.
pub const CONTENT_FLAGS: [&str; 3] = [LOG_USER_PROMPTS, LOG_TOOL_DETAILS, LOG_TOOL_CONTENT];

/// The three signals, as named in the per-signal OTEL_* variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Metrics,
    Logs,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Logs, Signal::Traces];

    pub fn of(s: ccpipe_pipeline::Signal) -> Signal {
        match s {
            ccpipe_pipeline::Signal::Metrics => Signal::Metrics,
            ccpipe_pipeline::Signal::Logs => Signal::Logs,
            ccpipe_pipeline::Signal::Traces => Signal::Traces,
        }
    }

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

    /// `OTEL_METRIC_EXPORT_INTERVAL`, … (milliseconds; metrics is singular).
    pub fn interval_var(self) -> &'static str {
        match self {
            Signal::Metrics => "OTEL_METRIC_EXPORT_INTERVAL",
            Signal::Logs => "OTEL_LOGS_EXPORT_INTERVAL",
            Signal::Traces => "OTEL_TRACES_EXPORT_INTERVAL",
        }
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

/// How a JSON value is named in messages ("a string", "an object", …).
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An env value as the user wrote it: strings without their quotes.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
