//! Log records: Claude Code's events (and any other log) to `events` rows.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use rusqlite::{params, Transaction};

use super::tally::Tally;
use super::{now_ms, ns_to_ms, resource_id, str_attr, Ingested, Pending, Row, State};
use super::{IN_COLUMNS, REDACTED};
use crate::attrs;

pub(super) fn logs(
    tx: &Transaction<'_>,
    state: &State,
    pending: &mut Pending,
    tally: &mut Tally,
    req: &ExportLogsServiceRequest,
) -> rusqlite::Result<Ingested> {
    let mut n = Ingested::default();
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (time_ms, resource_id, name, session_id, user, model, tool, success,
                             status, duration_ms, cost_usd, prompt, detail, attrs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for rl in &req.resource_logs {
        let resource_id = resource_id(tx, state, pending, rl.resource.as_ref())?;
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                let a = &rec.attributes[..];
                let time_ms = match (rec.time_unix_nano, rec.observed_time_unix_nano) {
                    (t, _) if t > 0 => ns_to_ms(t),
                    (_, t) if t > 0 => ns_to_ms(t),
                    _ => now_ms(),
                };
                let body = match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(Value::StringValue(s)) => Some(s.as_str()),
                    _ => None,
                };
                // Claude Code's event name, else its `claude_code.<name>`
                // body; any other log is a plain `log` (its body is in attrs).
                let name = str_attr(a, "event.name")
                    .or_else(|| body.and_then(|b| b.strip_prefix("claude_code.")))
                    .unwrap_or("log")
                    .to_owned();
                let row = Row {
                    time_ms,
                    resource_id,
                    user: str_attr(a, "user.id").unwrap_or(""),
                    session_id: str_attr(a, "session.id"),
                    model: str_attr(a, "model").map(str::to_owned),
                };
                let tool = str_attr(a, "tool_name");
                let success = attrs::boolean(a, "success");
                let status = attrs::number(a, "status_code").map(|s| s as i64);
                let duration_ms = attrs::number(a, "duration_ms");
                let cost_usd = attrs::number(a, "cost_usd");
                let text_key = match name.as_str() {
                    "user_prompt" => Some("prompt"),
                    "assistant_response" => Some("response"),
                    _ => None,
                };
                let prompt = text_key
                    .and_then(|k| str_attr(a, k))
                    .filter(|t| *t != REDACTED);
                let detail = match name.as_str() {
                    "api_error" => str_attr(a, "error"),
                    "tool_decision" => str_attr(a, "decision"),
                    "tool_result" => str_attr(a, "error"),
                    _ => None,
                };
                let mut obj = attrs::to_json_without(a, IN_COLUMNS);
                if let Some(b) = body {
                    obj.entry("body")
                        .or_insert_with(|| serde_json::Value::String(b.to_owned()));
                }
                insert.execute(params![
                    time_ms,
                    resource_id,
                    name,
                    row.session_id,
                    row.user,
                    row.model,
                    tool,
                    success,
                    status,
                    duration_ms,
                    cost_usd,
                    prompt,
                    detail,
                    serde_json::Value::Object(obj).to_string(),
                ])?;
                n.events += 1;
                tally_event(tally, &row, &name, tool, success, status, duration_ms);
            }
        }
    }
    Ok(n)
}

fn tally_event(
    tally: &mut Tally,
    r: &Row<'_>,
    name: &str,
    tool: Option<&str>,
    success: Option<bool>,
    status: Option<i64>,
    duration_ms: Option<f64>,
) {
    let model = r.model.as_deref().unwrap_or("");
    match name {
        "api_request" => {
            let ms = duration_ms.unwrap_or(0.0);
            tally.add(
                r.time_ms,
                "api_request",
                "",
                model,
                r.user,
                r.resource_id,
                ms,
            );
            if let Some(ms) = duration_ms {
                tally.duration(r, "api", "", ms);
            }
            if let Some(s) = tally.session(r) {
                s.api_requests += 1;
            }
        }
        "api_error" => {
            let kind = status.map_or_else(|| "other".to_owned(), |s| s.to_string());
            tally.add(
                r.time_ms,
                "api_error",
                &kind,
                model,
                r.user,
                r.resource_id,
                1.0,
            );
            if let Some(s) = tally.session(r) {
                s.errors += 1;
            }
        }
        "tool_result" => {
            let tool = tool.unwrap_or("unknown");
            let failed = if success == Some(false) { 1.0 } else { 0.0 };
            // Tool results carry no model: stored under '' (see query::model_clause).
            let r = Row { model: None, ..*r };
            tally.add(
                r.time_ms,
                "tool_call",
                tool,
                "",
                r.user,
                r.resource_id,
                failed,
            );
            if let Some(ms) = duration_ms {
                tally.duration(&r, "tool", tool, ms);
            }
            if let Some(s) = tally.session(&r) {
                s.tool_calls += 1;
            }
        }
        _ => {
            tally.session(r);
        }
    }
}
