//! Spans to `spans` rows, each with its attributes and its events.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use rusqlite::{params, Transaction};

use super::{ns_to_ms, resource_id, str_attr, Ingested, Pending, State};
use crate::attrs;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The span's events as the `events` column holds them (schema V2); `None`
/// when it has none.
fn events_json(events: &[Event]) -> Option<String> {
    if events.is_empty() {
        return None;
    }
    let list = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "time_ms": ns_to_ms(e.time_unix_nano),
                "name": e.name,
                "attrs": serde_json::Value::Object(attrs::to_json(&e.attributes)),
            })
        })
        .collect();
    Some(serde_json::Value::Array(list).to_string())
}

pub(super) fn traces(
    tx: &Transaction<'_>,
    state: &State,
    pending: &mut Pending,
    req: &ExportTraceServiceRequest,
) -> rusqlite::Result<Ingested> {
    let mut n = Ingested::default();
    let mut insert = tx.prepare_cached(
        "INSERT INTO spans (time_ms, end_ms, resource_id, trace_id, span_id, parent_span_id, name,
                            session_id, attrs, events)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for rs in &req.resource_spans {
        let resource_id = resource_id(tx, state, pending, rs.resource.as_ref())?;
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let parent = (!s.parent_span_id.is_empty()).then(|| hex(&s.parent_span_id));
                insert.execute(params![
                    ns_to_ms(s.start_time_unix_nano),
                    ns_to_ms(s.end_time_unix_nano),
                    resource_id,
                    hex(&s.trace_id),
                    hex(&s.span_id),
                    parent,
                    s.name,
                    str_attr(&s.attributes, "session.id"),
                    serde_json::Value::Object(attrs::to_json(&s.attributes)).to_string(),
                    events_json(&s.events),
                ])?;
                n.spans += 1;
            }
        }
    }
    Ok(n)
}
