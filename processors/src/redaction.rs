//! `redaction`: removes private text and secrets before data leaves the host.
//!
//! ```yaml
//! processors:
//!   redaction:
//!     preset: claude_code        # the content keys of Claude Code (see CLAUDE_CODE_KEYS)
//!     content_keys: [my.prompt]  # more keys treated as content
//!     content: drop              # drop | mask | hash: what happens to content keys
//!     hash_key: ${env:CCPIPE_HASH_KEY}   # HMAC-SHA256 key, required by content: hash
//!     secrets: builtin           # builtin | none: scan every string for secrets
//!     disabled_rules: [email]    # opt out of built-in rules by id
//!     blocked_values: ["(?i)acme-internal-[a-z0-9]+"]   # masked wherever they match
//!     blocked_keys: ["(?i)(password|secret|api[_-]?key)"]  # values of these keys are masked
//!     allowed_keys: []           # when set: every other attribute is removed (fail closed)
//!     summary: silent            # silent | info | debug: redaction.* attributes on the record
//! ```
//!
//! What each record goes through, at every attribute level (resource, scope,
//! log record, data point, exemplar, span, span event, span link):
//! 1. `allowed_keys` (when set) removes every top-level attribute not listed.
//! 2. A content key (preset, `content_keys`, every attribute of a `tool.output`
//!    span event) is dropped, masked to `<REDACTED>` (the marker Claude Code
//!    itself writes when content logging is off, so consumers see one marker),
//!    or replaced by its keyed digest. Numbers and booleans under a content key
//!    are not text and are kept by `mask` and `hash`.
//! 3. A key matching `blocked_keys` gets its textual value replaced by
//!    `<redacted:blocked-key>`; numbers and booleans are kept, so a broad
//!    pattern such as `token` does not wipe `input_tokens` counts.
//! 4. Every other string — attribute values at any depth of arrays and
//!    kvlists, log bodies, span names, span status messages, event names, bytes
//!    that hold UTF-8 — is scanned for secrets ([`crate::secrets`]); a secret is
//!    replaced by `<redacted:KIND>`. Content and blocked keys also apply to keys
//!    nested in kvlists; `allowed_keys` only to the top level.
//!
//! `summary: info` adds `redaction.redacted.count` (attributes removed or
//! replaced because of their key) and `redaction.masked.count` (secrets masked
//! in values) to log records and spans that had any; `debug` adds
//! `redaction.redacted.keys` and `redaction.masked.kinds`. Data points get no
//! summary: their attributes are series identity, and a count would split series.
//! When redaction changes data point attributes, identical points of a DELTA
//! sum are merged ([`crate::points`]).
//!
//! A batch still in request bytes is redacted on them (`on_wire.rs`): a
//! look at each record's bytes that allocates nothing says what the rules
//! would do to it. The rest stay the bytes they were; content keys alone
//! are masked or dropped on the bytes; anything else is decoded, redacted by
//! the code below and re-encoded. The result is the decoded path's, which
//! property tests check (`tests/wire.rs`).
//!
//! Every removal or replacement is also counted in
//! `ccpipe_redaction_masked_total{processor, reason}`, reason one of
//! `content`, `blocked_key`, `not_allowed` (by key) or `secret` (in a value),
//! resource and scope attributes included.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde::Deserialize;

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::ComponentConfig;
use ccpipe_pipeline::config::Secret;
use ccpipe_pipeline::factory::{ComponentSettings, ProcessorSettings, Typed};
use ccpipe_pipeline::{telemetry, Batch, DecodeError, Processor, Records, Signal, Verdict};

use crate::hashing::{self, KeyedHash};
use crate::value::{self, is_textual, KeySet};
use crate::wire::{self, Fallback, Rewritten};
use crate::{compile_regex, points, Invalid};
use blocked::BlockedKeys;
use ccpipe_otlp::rewrite;
use ccpipe_secrets::{Found, Scanner};

mod blocked;
mod on_wire;

/// Attribute keys that hold prompt, response, tool and command text in
/// Claude Code's telemetry ("Where private text lives" in TELEMETRY.md), plus
/// the OpenTelemetry GenAI content attributes newer versions may send.
pub const CLAUDE_CODE_KEYS: &[&str] = &[
    // user_prompt event
    "prompt",
    "prompt_text",
    // assistant_response event
    "response",
    // tool_decision and tool_result events
    "tool_parameters",
    "tool_input",
    // interaction span
    "user_prompt",
    // tool spans and tool.output events
    "full_command",
    "file_path",
    "bash_command",
    // api_error event
    "error",
    // with a real login, on every record
    "user.email",
    // GenAI semantic conventions for content
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
];

/// Span events whose attributes are all content (file contents, diffs,
/// command output).
pub const CLAUDE_CODE_EVENTS: &[&str] = &["tool.output"];

/// What `mask` writes: the marker Claude Code uses for content it did not log.
pub const MASK: &str = "<REDACTED>";

/// What a value under a blocked key becomes.
pub const BLOCKED_KEY_MASK: &str = "<redacted:blocked-key>";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    #[default]
    None,
    ClaudeCode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentAction {
    #[default]
    Drop,
    Mask,
    Hash,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretsMode {
    #[default]
    Builtin,
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Summary {
    #[default]
    Silent,
    Info,
    Debug,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    #[serde(default)]
    pub preset: Preset,
    #[serde(default)]
    pub content: Option<ContentAction>,
    #[serde(default)]
    pub content_keys: Vec<String>,
    #[serde(default)]
    pub hash_key: Option<Secret>,
    #[serde(default)]
    pub secrets: SecretsMode,
    #[serde(default)]
    pub disabled_rules: Vec<String>,
    #[serde(default)]
    pub blocked_values: Vec<String>,
    #[serde(default)]
    pub blocked_keys: Vec<String>,
    #[serde(default)]
    pub allowed_keys: Vec<String>,
    #[serde(default)]
    pub summary: Summary,
}

impl RedactionConfig {
    pub fn build(&self) -> Result<RedactionProcessor, Invalid> {
        let non_empty = |list: &[String], field: &str| {
            list.iter().position(String::is_empty).map_or(Ok(()), |i| {
                Err(Invalid::new(format!("{field}.{i}"), "must not be empty"))
            })
        };
        non_empty(&self.content_keys, "content_keys")?;
        non_empty(&self.allowed_keys, "allowed_keys")?;

        let mut content_keys: Vec<String> = self.content_keys.clone();
        let mut content_events: Vec<String> = Vec::new();
        if self.preset == Preset::ClaudeCode {
            content_keys.extend(CLAUDE_CODE_KEYS.iter().map(|k| k.to_string()));
            content_events.extend(CLAUDE_CODE_EVENTS.iter().map(|k| k.to_string()));
        }
        if self.content.is_some() && content_keys.is_empty() {
            return Err(Invalid::new(
                "content",
                "applies to the keys of a preset or of content_keys, and none are set",
            ));
        }
        if let Some(k) = &self.hash_key {
            hashing::check_key(k.expose()).map_err(|m| Invalid::new("hash_key", m))?;
        }
        let content = match (self.content.unwrap_or_default(), &self.hash_key) {
            (ContentAction::Drop, _) => Content::Drop,
            (ContentAction::Mask, _) => Content::Mask,
            (ContentAction::Hash, Some(k)) => Content::Hash(KeyedHash::new(k.expose())),
            (ContentAction::Hash, None) => {
                return Err(Invalid::new(
                    "hash_key",
                    "is required by content: hash: digests are keyed (HMAC-SHA256) \
                     because plain hashes of prompts, user ids or emails can be reversed by guessing",
                ))
            }
        };

        for (i, id) in self.disabled_rules.iter().enumerate() {
            if self.secrets == SecretsMode::None {
                return Err(Invalid::new(
                    "disabled_rules",
                    "is only used with secrets: builtin",
                ));
            }
            if !Scanner::builtin_ids().any(|b| b == id) {
                let known: Vec<_> = Scanner::builtin_ids().collect();
                return Err(Invalid::new(
                    format!("disabled_rules.{i}"),
                    format!("unknown rule {id:?}; built-in rules: {}", known.join(", ")),
                ));
            }
        }
        let scanner = Scanner::new(
            self.secrets == SecretsMode::Builtin,
            &self.disabled_rules,
            &self.blocked_values,
        )
        .map_err(|e| Invalid::new(e.key, e.message))?;

        for (i, p) in self.blocked_keys.iter().enumerate() {
            compile_regex(p).map_err(|e| Invalid::new(format!("blocked_keys.{i}"), e))?;
        }
        let blocked_keys = match self.blocked_keys.is_empty() {
            true => None,
            false => Some(
                BlockedKeys::new(&self.blocked_keys)
                    .map_err(|e| Invalid::new("blocked_keys", e.to_string()))?,
            ),
        };

        let allowed = match self.allowed_keys.is_empty() {
            true => None,
            false => Some(KeySet::new(&self.allowed_keys)),
        };

        if content_keys.is_empty()
            && scanner.is_none()
            && blocked_keys.is_none()
            && allowed.is_none()
        {
            return Err(Invalid::new(
                "",
                "does nothing: set preset, content_keys, secrets: builtin, blocked_values, \
                 blocked_keys or allowed_keys",
            ));
        }
        Ok(RedactionProcessor {
            id: "redaction".to_owned(),
            content_keys: KeySet::new(content_keys),
            content_events: KeySet::new(content_events),
            content,
            blocked_keys,
            allowed,
            scanner,
            summary: self.summary,
        })
    }
}

#[derive(Debug)]
enum Content {
    Drop,
    Mask,
    Hash(KeyedHash),
}

#[derive(Debug)]
pub struct RedactionProcessor {
    /// The component id, the `processor` label of the metric.
    id: String,
    content_keys: KeySet,
    content_events: KeySet,
    content: Content,
    blocked_keys: Option<BlockedKeys>,
    /// `None`: every key is allowed.
    allowed: Option<KeySet>,
    scanner: Option<Scanner>,
    summary: Summary,
}

/// Why an attribute was removed or replaced because of its key.
#[derive(Debug, Clone, Copy)]
enum Reason {
    Content = 0,
    BlockedKey = 1,
    NotAllowed = 2,
}

/// Redactions of one batch, by reason: the `Reason`s, then secrets.
#[derive(Debug, Default)]
struct Tally([u64; 4]);

impl Tally {
    const LABELS: [&'static str; 4] = ["content", "blocked_key", "not_allowed", "secret"];

    /// Everything counted so far: grows exactly when something was redacted.
    fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    fn add(&mut self, st: &Stats) {
        for (total, n) in self.0.iter_mut().zip(st.by_reason) {
            *total += u64::from(n);
        }
        self.0[3] += u64::from(st.found.count);
    }

    /// Adds the batch's counts to the metric.
    fn flush(&self, processor: &str) {
        for (&n, reason) in self.0.iter().zip(Self::LABELS) {
            if n > 0 {
                metrics::counter!(
                    telemetry::REDACTION_MASKED,
                    "processor" => processor.to_owned(),
                    "reason" => reason
                )
                .increment(n);
            }
        }
    }
}

/// What happened to one record. Allocates only in `debug` mode, and only
/// when something was redacted.
#[derive(Debug, Default)]
struct Stats {
    redacted: u32,
    by_reason: [u32; 3],
    keys: Vec<String>,
    found: Found,
}

impl Stats {
    fn any(&self) -> bool {
        self.redacted > 0 || self.found.count > 0
    }
}

/// A value that already says "nothing here" (Claude Code's marker, or ours).
fn is_marker(v: Option<&AnyValue>) -> bool {
    value::as_str(v) == Some(MASK)
}

impl RedactionProcessor {
    /// Names the processor in its metric (`redaction/pii` and so on).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    fn note_key(&self, st: &mut Stats, key: &str, reason: Reason) {
        st.redacted += 1;
        st.by_reason[reason as usize] += 1;
        if self.summary == Summary::Debug {
            st.keys.push(key.to_owned());
        }
    }

    /// Redacts one attribute list; `top` applies `allowed_keys`,
    /// `all_content` treats every key as content.
    fn list(&self, kvs: &mut Vec<KeyValue>, top: bool, all_content: bool, st: &mut Stats) {
        kvs.retain_mut(|kv| self.one(kv, top, all_content, st));
    }

    /// Redacts one attribute; false: remove it.
    fn one(&self, kv: &mut KeyValue, top: bool, all_content: bool, st: &mut Stats) -> bool {
        if top {
            if let Some(allowed) = &self.allowed {
                if !allowed.contains(&kv.key) {
                    self.note_key(st, &kv.key, Reason::NotAllowed);
                    return false;
                }
            }
        }
        if all_content || self.content_keys.contains(&kv.key) {
            let replace_with = match &self.content {
                Content::Drop => {
                    self.note_key(st, &kv.key, Reason::Content);
                    return false;
                }
                _ if !is_textual(kv.value.as_ref()) || is_marker(kv.value.as_ref()) => return true,
                Content::Mask => MASK.to_owned(),
                Content::Hash(h) => h.value(kv.value.as_ref()),
            };
            kv.value = Some(value::string(replace_with));
            self.note_key(st, &kv.key, Reason::Content);
            return true;
        }
        if let Some(blocked) = &self.blocked_keys {
            if blocked.is_match(&kv.key) {
                if is_textual(kv.value.as_ref())
                    && value::as_str(kv.value.as_ref()) != Some(BLOCKED_KEY_MASK)
                {
                    kv.value = Some(value::string(BLOCKED_KEY_MASK));
                    self.note_key(st, &kv.key, Reason::BlockedKey);
                }
                return true;
            }
        }
        if let Some(v) = kv.value.as_mut() {
            self.value(v, st);
        }
        true
    }

    fn value(&self, v: &mut AnyValue, st: &mut Stats) {
        match &mut v.value {
            Some(Value::StringValue(s)) => self.text(s, st),
            Some(Value::BytesValue(b)) => {
                if let Some(sc) = &self.scanner {
                    sc.redact_bytes(b, &mut st.found);
                }
            }
            Some(Value::ArrayValue(a)) => a.values.iter_mut().for_each(|x| self.value(x, st)),
            Some(Value::KvlistValue(l)) => self.list(&mut l.values, false, false, st),
            _ => {}
        }
    }

    fn text(&self, s: &mut String, st: &mut Stats) {
        if let Some(sc) = &self.scanner {
            sc.redact(s, &mut st.found);
        }
    }

    /// Adds the `redaction.*` attributes for `st` to a log record or span.
    fn summarize(&self, attrs: &mut Vec<KeyValue>, st: Stats, tally: &mut Tally) {
        tally.add(&st);
        if self.summary == Summary::Silent || !st.any() {
            return;
        }
        let int = |k: &str, n: u32| KeyValue {
            key: k.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(i64::from(n))),
            }),
            ..Default::default()
        };
        let text = |k: &str, s: String| KeyValue {
            key: k.to_owned(),
            value: Some(value::string(s)),
            ..Default::default()
        };
        if st.redacted > 0 {
            attrs.push(int("redaction.redacted.count", st.redacted));
        }
        if st.found.count > 0 {
            attrs.push(int("redaction.masked.count", st.found.count));
        }
        if self.summary == Summary::Debug {
            let mut keys = st.keys;
            if !keys.is_empty() {
                keys.sort();
                keys.dedup();
                attrs.push(text("redaction.redacted.keys", keys.join(",")));
            }
            if let (Some(sc), true) = (&self.scanner, st.found.kinds != 0) {
                let kinds: Vec<&str> = (0..sc.kind_count())
                    .filter(|i| st.found.kinds & (1 << i) != 0)
                    .map(|i| sc.kind(i))
                    .collect();
                attrs.push(text("redaction.masked.kinds", kinds.join(",")));
            }
        }
    }

    /// Resource and scope attributes: redacted, but their counts belong to no
    /// record, only to the metric.
    fn shared(&self, attrs: Option<&mut Vec<KeyValue>>, tally: &mut Tally) {
        if let Some(attrs) = attrs {
            let mut st = Stats::default();
            self.list(attrs, true, false, &mut st);
            tally.add(&st);
        }
    }
}

impl RedactionProcessor {
    fn log_record(&self, lr: &mut LogRecord, t: &mut Tally) {
        let mut st = Stats::default();
        self.list(&mut lr.attributes, true, false, &mut st);
        if let Some(body) = &mut lr.body {
            self.value(body, &mut st);
        }
        self.summarize(&mut lr.attributes, st, t);
    }

    fn span(&self, span: &mut Span, t: &mut Tally) {
        let mut st = Stats::default();
        self.list(&mut span.attributes, true, false, &mut st);
        self.text(&mut span.name, &mut st);
        if let Some(status) = &mut span.status {
            self.text(&mut status.message, &mut st);
        }
        for ev in &mut span.events {
            let all = self.content_events.contains(&ev.name);
            self.list(&mut ev.attributes, true, all, &mut st);
            self.text(&mut ev.name, &mut st);
        }
        for link in &mut span.links {
            self.list(&mut link.attributes, true, false, &mut st);
        }
        self.summarize(&mut span.attributes, st, t);
    }

    fn metric(&self, metric: &mut Metric, t: &mut Tally) {
        let mut changed = false;
        points::for_each_attributes(metric, |attrs| {
            let mut st = Stats::default();
            self.list(attrs, true, false, &mut st);
            changed |= st.any();
            t.add(&st);
        });
        points::for_each_exemplar_attributes(metric, |attrs| {
            let mut st = Stats::default();
            self.list(attrs, true, false, &mut st);
            t.add(&st);
        });
        if changed {
            points::merge_delta_sum(metric);
        }
    }

    /// The processor on an encoded export request of `signal`: records,
    /// resources and scopes that no rule can change are copied as bytes;
    /// the others are decoded, redacted as [`Processor::process`] does, and
    /// re-encoded. [`Fallback`]: run the decoded path.
    pub fn process_encoded(&self, signal: Signal, request: &[u8]) -> Result<Rewritten, Fallback> {
        let mut tally = Tally::default();
        let out = self.rewrite_request(signal, request, &mut tally)?;
        tally.flush(&self.id);
        Ok(out)
    }

    /// [`Self::process_encoded`], counting into `tally` (flushed by the
    /// caller only if every request of a batch took the wire path).
    fn rewrite_request(
        &self,
        signal: Signal,
        request: &[u8],
        tally: &mut Tally,
    ) -> Result<Rewritten, Fallback> {
        let mut walk = on_wire::OnRecords::new(self, signal, tally);
        let bytes = rewrite::request(request, &mut walk)?;
        Ok(Rewritten {
            bytes,
            items_removed: walk.items_removed,
        })
    }

    /// The work itself, on decoded records (behaviour as before the
    /// processor contract took a [`Batch`]).
    fn process_records(&mut self, batch: &mut Records) -> Verdict {
        // Counted per batch, so the metric costs nothing per record.
        let mut tally = Tally::default();
        let t = &mut tally;
        match batch {
            Records::Logs(req) => {
                for rl in &mut req.resource_logs {
                    self.shared(rl.resource.as_mut().map(|r| &mut r.attributes), t);
                    for sl in &mut rl.scope_logs {
                        self.shared(sl.scope.as_mut().map(|s| &mut s.attributes), t);
                        sl.log_records
                            .iter_mut()
                            .for_each(|r| self.log_record(r, t));
                    }
                }
            }
            Records::Traces(req) => {
                for rs in &mut req.resource_spans {
                    self.shared(rs.resource.as_mut().map(|r| &mut r.attributes), t);
                    for ss in &mut rs.scope_spans {
                        self.shared(ss.scope.as_mut().map(|s| &mut s.attributes), t);
                        ss.spans.iter_mut().for_each(|s| self.span(s, t));
                    }
                }
            }
            Records::Metrics(req) => {
                for rm in &mut req.resource_metrics {
                    self.shared(rm.resource.as_mut().map(|r| &mut r.attributes), t);
                    for sm in &mut rm.scope_metrics {
                        self.shared(sm.scope.as_mut().map(|s| &mut s.attributes), t);
                        sm.metrics.iter_mut().for_each(|m| self.metric(m, t));
                    }
                }
            }
        }
        tally.flush(&self.id);
        Verdict::Keep
    }
}

impl Processor for RedactionProcessor {
    /// On the request bytes while the batch has them; decoded when it has
    /// none or the wire path cannot take them.
    fn process(&mut self, batch: &mut Batch) -> Result<Verdict, DecodeError> {
        if let Some(encoded) = batch.encoded() {
            let (signal, mut tally) = (batch.signal(), Tally::default());
            let rewritten =
                wire::each_request(encoded, |req| self.rewrite_request(signal, req, &mut tally));
            if let Ok(new) = rewritten {
                tally.flush(&self.id);
                if let Some(new) = new {
                    batch.set_encoded(new);
                }
                return Ok(Verdict::Keep);
            }
        }
        Ok(self.process_records(batch.records_mut()?))
    }
}

/// `redaction`: removes prompt text and secrets.
pub type Factory = Typed<RedactionConfig>;

impl ComponentSettings for RedactionConfig {
    const TYPE: &'static str = "redaction";

    fn validate(&self) -> Result<(), Invalid> {
        self.build().map(drop)
    }
}

impl ProcessorSettings for RedactionConfig {
    fn stage(self, cfg: &ComponentConfig, _: Signal) -> Result<Stage, Invalid> {
        let processor = self.build()?.with_id(cfg.id().to_string());
        Ok(crate::stage(cfg, processor))
    }
}
