//! `langfuse_traces`: traces built from Claude Code's events (log records),
//! one trace per `prompt.id`, with the attributes Langfuse reads from OTLP
//! spans (its OpenTelemetry property mapping).
//!
//! | event | span | Langfuse observation |
//! |---|---|---|
//! | `user_prompt` | `claude_code.interaction`, the root | span; trace name, input (the prompt text when the event has it) |
//! | `api_request` | `claude_code.api_request` | generation: model, token usage, cost |
//! | `tool_result` | `claude_code.tool_result` | tool: duration, success |
//! | `tool_decision` | `claude_code.tool_decision` | tool: decision, zero length |
//! | `api_error` | `claude_code.api_error` | span, status ERROR with the message |
//!
//! Ids are derived from the events, not drawn: the trace id is a hash of
//! `prompt.id`, the root span id a hash of `prompt.id` alone, the others of
//! `prompt.id` and `event.sequence`, so a replay yields the same ids. A trace
//! is sent once `wait` has passed since its last event (late events), all
//! pending traces on shutdown; at most `max_traces` are held, the oldest
//! sent early beyond that (counted).

use std::collections::HashMap;
use std::time::{Duration as StdDuration, Instant, UNIX_EPOCH};

use ccpipe_pipeline::config::units::Duration;
use ccpipe_pipeline::config::Invalid;
use ccpipe_pipeline::connector::{Aggregate, BuiltConnector};
use ccpipe_pipeline::factory::{ComponentSettings, ConnectorSettings, Typed};
use ccpipe_pipeline::records::Records;
use ccpipe_pipeline::{telemetry, Signal};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use serde::Deserialize;

use crate::attributes::{event_name, find, number, text};

/// The root span's name (and the Langfuse trace name).
pub const ROOT_NAME: &str = "claude_code.interaction";
const SCOPE: &str = "ccpipe/langfuse_traces";
const DEFAULT_WAIT: StdDuration = StdDuration::from_secs(30);
const DEFAULT_MAX_TRACES: usize = 1000;
/// Pending traces are checked this often (or every `wait`, if shorter).
const CHECK_EVERY: StdDuration = StdDuration::from_secs(1);

/// `connectors.langfuse_traces`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How long after a trace's last event it is sent; default 30s.
    #[serde(default = "default_wait")]
    pub wait: Duration,
    /// Traces held at once; beyond it the oldest is sent early. Default 1000.
    #[serde(default = "default_max_traces")]
    pub max_traces: usize,
}

fn default_wait() -> Duration {
    Duration(DEFAULT_WAIT)
}

fn default_max_traces() -> usize {
    DEFAULT_MAX_TRACES
}

impl Config {
    pub fn build(self, id: &str) -> BuiltConnector {
        BuiltConnector {
            aggregate: Box::new(LangfuseTraces::new(id, self.wait.0, self.max_traces)),
            interval: self.wait.0.min(CHECK_EVERY),
            consumes: Signal::Logs,
        }
    }
}

/// One event of a pending trace.
struct Event {
    resource: Vec<KeyValue>,
    record: LogRecord,
}

/// The events of one `prompt.id` not yet sent.
struct Pending {
    events: Vec<Event>,
    /// When its last event arrived.
    last: Instant,
    /// Arrival order of its first event, for choosing the oldest.
    order: u64,
}

/// The state of one connector: traces waiting for late events.
pub struct LangfuseTraces {
    id: String,
    wait: StdDuration,
    max_traces: usize,
    pending: HashMap<String, Pending>,
    /// Traces sent early to stay within `max_traces`, at the next `take`.
    evicted: Vec<(String, Pending)>,
    next_order: u64,
    early: metrics::Counter,
}

impl LangfuseTraces {
    pub fn new(id: &str, wait: StdDuration, max_traces: usize) -> Self {
        LangfuseTraces {
            id: id.to_owned(),
            wait,
            max_traces,
            pending: HashMap::new(),
            evicted: Vec::new(),
            next_order: 0,
            early: metrics::counter!(telemetry::CONNECTOR_EARLY_TRACES, "connector" => id.to_owned()),
        }
    }

    /// Traces waiting to be sent.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds the events of `batch` as if they arrived at `now`.
    pub fn consume_at(&mut self, batch: &Records, now: Instant) {
        let Records::Logs(request) = batch else {
            return;
        };
        for rl in &request.resource_logs {
            let resource = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                if !matches!(
                    event_name(record),
                    Some(
                        "user_prompt"
                            | "api_request"
                            | "api_error"
                            | "tool_result"
                            | "tool_decision"
                    )
                ) {
                    continue;
                }
                let Some(Value::StringValue(prompt)) = find(&record.attributes, "prompt.id") else {
                    continue;
                };
                if !self.pending.contains_key(prompt) && self.pending.len() >= self.max_traces {
                    if let Some(oldest) = self
                        .pending
                        .iter()
                        .min_by_key(|(_, p)| p.order)
                        .map(|(k, _)| k.clone())
                    {
                        let p = self.pending.remove(&oldest).expect("just found");
                        self.early.increment(1);
                        self.evicted.push((oldest, p));
                    }
                }
                let order = self.next_order;
                let entry = self
                    .pending
                    .entry(prompt.clone())
                    .or_insert_with(|| Pending {
                        events: Vec::new(),
                        last: now,
                        order,
                    });
                if entry.order == order {
                    self.next_order += 1;
                }
                entry.last = now;
                entry.events.push(Event {
                    resource: resource.to_vec(),
                    record: record.clone(),
                });
            }
        }
    }

    /// The traces whose last event is at least `wait` before `now`, and
    /// those sent early for room; `None` when there are none.
    pub fn take_at(&mut self, now: Instant) -> Option<Records> {
        let mut done = std::mem::take(&mut self.evicted);
        let ready: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last) >= self.wait)
            .map(|(k, _)| k.clone())
            .collect();
        for k in ready {
            let p = self.pending.remove(&k).expect("listed above");
            done.push((k, p));
        }
        self.emit(done)
    }

    fn emit(&self, mut done: Vec<(String, Pending)>) -> Option<Records> {
        if done.is_empty() {
            return None;
        }
        done.sort_by_key(|(_, p)| p.order);
        tracing::debug!(connector = %self.id, traces = done.len(), "traces done");
        Some(Records::Traces(ExportTraceServiceRequest {
            resource_spans: done.into_iter().map(|(k, p)| trace(&k, p.events)).collect(),
        }))
    }
}

impl Aggregate for LangfuseTraces {
    fn consume(&mut self, batch: &Records) {
        self.consume_at(batch, Instant::now());
    }

    fn take(&mut self) -> Option<Records> {
        self.take_at(Instant::now())
    }

    fn flush(&mut self) -> Option<Records> {
        let mut all = std::mem::take(&mut self.evicted);
        all.extend(self.pending.drain());
        self.emit(all)
    }
}

/// The 16-byte trace id of `prompt_id`.
pub fn trace_id(prompt_id: &str) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&nonzero(fnv(&[b"trace", prompt_id.as_bytes()])).to_be_bytes());
    id.extend_from_slice(&fnv(&[b"trace2", prompt_id.as_bytes()]).to_be_bytes());
    id
}

/// The 8-byte id of the root span of `prompt_id`.
pub fn root_span_id(prompt_id: &str) -> Vec<u8> {
    nonzero(fnv(&[b"root", prompt_id.as_bytes()]))
        .to_be_bytes()
        .to_vec()
}

/// The 8-byte id of the span of one event: `prompt.id` and `event.sequence`
/// (or, without a sequence, the event's name and time).
fn span_id(prompt_id: &str, record: &LogRecord) -> Vec<u8> {
    let identity = match find(&record.attributes, "event.sequence") {
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::StringValue(s)) => s.clone(),
        _ => format!(
            "{}@{}",
            event_name(record).unwrap_or_default(),
            record.time_unix_nano.max(record.observed_time_unix_nano)
        ),
    };
    nonzero(fnv(&[
        b"span",
        prompt_id.as_bytes(),
        b"\0",
        identity.as_bytes(),
    ]))
    .to_be_bytes()
    .to_vec()
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike std's hasher).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// All-zero ids are invalid in OTLP.
fn nonzero(h: u64) -> u64 {
    if h == 0 {
        1
    } else {
        h
    }
}

/// One `ResourceSpans` for the events of one `prompt.id`.
fn trace(prompt_id: &str, mut events: Vec<Event>) -> ResourceSpans {
    events.sort_by_key(|e| (nanos(&e.record), sequence(&e.record)));
    let trace_id = trace_id(prompt_id);
    let root_id = root_span_id(prompt_id);
    let mut spans = Vec::with_capacity(events.len());
    let mut root: Option<Span> = None;
    for e in &events {
        let r = &e.record;
        let a = &r.attributes;
        let name = event_name(r).unwrap_or_default();
        let at = nanos(r);
        let ms = number(a, "duration_ms").unwrap_or(0.0);
        let start = at.saturating_sub((ms * 1e6) as u64);
        let mut s = Span {
            trace_id: trace_id.clone(),
            span_id: span_id(prompt_id, r),
            parent_span_id: root_id.clone(),
            name: format!("claude_code.{name}"),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: at,
            ..Default::default()
        };
        let mut attrs = vec![
            kv("prompt.id", Value::StringValue(prompt_id.to_owned())),
            copy(a, "session.id", "session.id"),
            copy(a, "user.id", "user.id"),
            copy(a, "event.sequence", "event.sequence"),
        ];
        match name {
            "user_prompt" => {
                s.span_id = root_id.clone();
                s.parent_span_id = Vec::new();
                s.name = ROOT_NAME.to_owned();
                attrs.push(kv("langfuse.trace.name", str_value(ROOT_NAME)));
                attrs.push(kv("langfuse.observation.type", str_value("span")));
                if let Some(len) = number(a, "prompt_length") {
                    attrs.push(kv("prompt_length", Value::IntValue(len as i64)));
                }
                let text = find(a, "prompt").or_else(|| find(a, "prompt_text"));
                if let Some(Value::StringValue(t)) = text {
                    attrs.push(kv("langfuse.trace.input", Value::StringValue(t.clone())));
                    attrs.push(kv(
                        "langfuse.observation.input",
                        Value::StringValue(t.clone()),
                    ));
                }
            }
            "api_request" => {
                let input = number(a, "input_tokens").unwrap_or(0.0) as i64;
                let output = number(a, "output_tokens").unwrap_or(0.0) as i64;
                let cache_read = number(a, "cache_read_tokens").unwrap_or(0.0) as i64;
                let cache_creation = number(a, "cache_creation_tokens").unwrap_or(0.0) as i64;
                let cost = number(a, "cost_usd").unwrap_or(0.0);
                attrs.push(kv("langfuse.observation.type", str_value("generation")));
                attrs.push(copy(a, "model", "gen_ai.request.model"));
                attrs.push(copy(a, "model", "gen_ai.response.model"));
                attrs.push(copy(a, "model", "langfuse.observation.model.name"));
                attrs.push(kv("gen_ai.system", str_value("anthropic")));
                attrs.push(kv("gen_ai.usage.input_tokens", Value::IntValue(input)));
                attrs.push(kv("gen_ai.usage.output_tokens", Value::IntValue(output)));
                attrs.push(kv(
                    "gen_ai.usage.cache_read_input_tokens",
                    Value::IntValue(cache_read),
                ));
                attrs.push(kv(
                    "gen_ai.usage.cache_creation_input_tokens",
                    Value::IntValue(cache_creation),
                ));
                attrs.push(kv("gen_ai.usage.cost", Value::DoubleValue(cost)));
                attrs.push(kv(
                    "langfuse.observation.usage_details",
                    Value::StringValue(format!(
                        "{{\"input\":{input},\"output\":{output},\"cache_read_input_tokens\":{cache_read},\"cache_creation_input_tokens\":{cache_creation}}}"
                    )),
                ));
                attrs.push(kv(
                    "langfuse.observation.cost_details",
                    Value::StringValue(format!("{{\"total\":{cost}}}")),
                ));
                attrs.push(copy(a, "duration_ms", "duration_ms"));
                attrs.push(copy(a, "ttft_ms", "ttft_ms"));
                attrs.push(copy(a, "request_id", "request_id"));
            }
            "tool_result" | "tool_decision" => {
                attrs.push(kv("langfuse.observation.type", str_value("tool")));
                attrs.push(copy(a, "tool_name", "tool_name"));
                attrs.push(copy(a, "tool_name", "gen_ai.tool.name"));
                attrs.push(copy(a, "tool_use_id", "gen_ai.tool.call.id"));
                attrs.push(copy(a, "decision", "decision"));
                attrs.push(copy(a, "source", "source"));
                if let Some(tool) = find(a, "tool_name").and_then(text) {
                    s.name = format!("claude_code.{name} {tool}");
                }
                if name == "tool_result" {
                    attrs.push(copy(a, "duration_ms", "duration_ms"));
                    let ok = find(a, "success").and_then(text);
                    if let Some(ok) = &ok {
                        attrs.push(kv("success", Value::BoolValue(ok == "true")));
                    }
                    if ok.as_deref() == Some("false") {
                        attrs.push(kv("langfuse.observation.level", str_value("WARNING")));
                    }
                    attrs.push(copy(a, "error", "langfuse.observation.status_message"));
                } else {
                    s.start_time_unix_nano = at;
                    if find(a, "decision").and_then(text).as_deref() == Some("reject") {
                        attrs.push(kv("langfuse.observation.level", str_value("WARNING")));
                    }
                }
            }
            "api_error" => {
                let message = find(a, "error").and_then(text).unwrap_or_default();
                attrs.push(kv("langfuse.observation.type", str_value("span")));
                attrs.push(kv("langfuse.observation.level", str_value("ERROR")));
                attrs.push(kv(
                    "langfuse.observation.status_message",
                    Value::StringValue(message.clone()),
                ));
                attrs.push(copy(a, "model", "gen_ai.request.model"));
                attrs.push(copy(a, "status_code", "http.response.status_code"));
                attrs.push(copy(a, "attempt", "attempt"));
                attrs.push(copy(a, "duration_ms", "duration_ms"));
                s.status = Some(Status {
                    message,
                    code: status::StatusCode::Error as i32,
                });
            }
            _ => unreachable!("only these events are kept"),
        }
        s.attributes = attrs.into_iter().filter(|k| k.value.is_some()).collect();
        if name == "user_prompt" && root.is_none() {
            root = Some(s);
        } else if name == "user_prompt" {
            // A second user_prompt for the same prompt.id (a replay): one root.
            continue;
        } else {
            spans.push(s);
        }
    }
    if let Some(mut r) = root {
        let end = spans
            .iter()
            .map(|s| s.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        r.end_time_unix_nano = r.end_time_unix_nano.max(end);
        spans.insert(0, r);
    }
    let resource = events
        .first()
        .map(|e| e.resource.clone())
        .unwrap_or_default();
    ResourceSpans {
        resource: Some(Resource {
            attributes: resource,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: SCOPE.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..Default::default()
            }),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The event's time: `event.timestamp` (RFC 3339), else the record's.
fn nanos(record: &LogRecord) -> u64 {
    if let Some(Value::StringValue(t)) = find(&record.attributes, "event.timestamp") {
        if let Ok(at) = humantime::parse_rfc3339_weak(t.trim()) {
            if let Ok(d) = at.duration_since(UNIX_EPOCH) {
                return d.as_nanos() as u64;
            }
        }
    }
    match record.time_unix_nano {
        0 => record.observed_time_unix_nano,
        t => t,
    }
}

fn sequence(record: &LogRecord) -> i64 {
    match find(&record.attributes, "event.sequence") {
        Some(Value::IntValue(i)) => *i,
        Some(Value::StringValue(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn str_value(s: &str) -> Value {
    Value::StringValue(s.to_owned())
}

/// `from` of `attrs` as `to`; a `KeyValue` without a value (dropped later)
/// when absent.
fn copy(attrs: &[KeyValue], from: &str, to: &str) -> KeyValue {
    KeyValue {
        key: to.to_owned(),
        value: find(attrs, from).map(|v| AnyValue {
            value: Some(v.clone()),
        }),
        ..Default::default()
    }
}

/// `langfuse_traces`: one trace per prompt from Claude Code events (logs → traces).
pub type Factory = Typed<Config>;

impl ComponentSettings for Config {
    const TYPE: &'static str = "langfuse_traces";

    /// Pure checks; an error names the key it is about.
    fn validate(&self) -> Result<(), Invalid> {
        if self.wait.0.is_zero() {
            return Err(Invalid::new("wait", "must be greater than 0"));
        }
        if self.max_traces == 0 {
            return Err(Invalid::new("max_traces", "must be at least 1"));
        }
        Ok(())
    }
}

impl ConnectorSettings for Config {
    const PAIRS: &'static [(Signal, Signal)] = &[(Signal::Logs, Signal::Traces)];

    fn connector(self, id: &str) -> BuiltConnector {
        self.build(id)
    }
}

#[cfg(test)]
mod tests;
