//! What each query returns, in the JSON shapes of the view's API
//! (docs/view.md lists them).

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
    #[serde(rename = "cacheRead")]
    pub cache_read: i64,
    #[serde(rename = "cacheCreation")]
    pub cache_creation: i64,
}

impl Tokens {
    pub(super) fn add(&mut self, kind: &str, v: f64) {
        let v = v.round() as i64;
        match kind {
            "input" => self.input += v,
            "output" => self.output += v,
            "cacheRead" => self.cache_read += v,
            "cacheCreation" => self.cache_creation += v,
            _ => {}
        }
    }

    pub fn total(&self) -> i64 {
        self.input + self.output + self.cache_read + self.cache_creation
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub cost_usd: f64,
    pub tokens: Tokens,
    pub sessions: i64,
    pub active_time_s: f64,
    pub api_requests: i64,
    pub api_errors: i64,
    pub tool_calls: i64,
    pub tool_failures: i64,
    pub lines_added: i64,
    pub lines_removed: i64,
    pub commits: i64,
    pub pull_requests: i64,
    /// accepts / (accepts + rejects); `None` without decisions.
    pub edit_accept_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyCost {
    pub day: String,
    pub model: String,
    pub cost_usd: f64,
    pub tokens: Tokens,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailySessions {
    pub day: String,
    pub sessions: i64,
    pub active_time_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolStats {
    pub tool: String,
    pub calls: i64,
    pub failures: i64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiBucket {
    pub bucket_ms: i64,
    pub requests: i64,
    pub errors_by_status: BTreeMap<String, i64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DailyCode {
    pub day: String,
    pub lines_added: i64,
    pub lines_removed: i64,
    pub commits: i64,
    pub pull_requests: i64,
    pub accepts: i64,
    pub rejects: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRow {
    pub session_id: String,
    pub user: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub cost_usd: f64,
    pub tokens: Tokens,
    pub api_requests: i64,
    pub tool_calls: i64,
    /// API errors.
    pub errors: i64,
    /// The models the session used, for `ccpipe usage session`.
    pub models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionDetail {
    pub session_id: String,
    pub user: String,
    /// The resource attributes of the session's sender.
    pub attrs: serde_json::Map<String, serde_json::Value>,
    pub events: Vec<TimelineEvent>,
    /// The session's spans (Claude Code sends them with
    /// `CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1`), by start time.
    pub spans: Vec<SessionSpan>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSpan {
    pub time_ms: i64,
    pub end_ms: i64,
    pub name: String,
    pub span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    pub events: Vec<SpanEvent>,
}

/// One event of a span, as stored (schema V2).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SpanEvent {
    pub time_ms: i64,
    pub name: String,
    pub attrs: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    pub time_ms: i64,
    /// prompt | api_request | api_error | tool_result | tool_decision
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// The prompt's text, only when it was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Filters {
    pub users: Vec<String>,
    pub models: Vec<String>,
    pub attrs: BTreeMap<String, Vec<String>>,
}
