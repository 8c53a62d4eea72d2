//! A session's spans with their events, for its page.

use super::{SessionSpan, SpanEvent, SESSION_EVENTS_MAX};
use crate::{Store, StoreError};

impl Store {
    /// The spans of session `id`, earliest first (at most
    /// [`SESSION_EVENTS_MAX`]), each with its events.
    pub(super) fn session_spans(&self, id: &str) -> Result<Vec<SessionSpan>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT time_ms, end_ms, name, span_id, parent_span_id, events
                 FROM spans WHERE session_id = ?1
                 ORDER BY time_ms, rowid LIMIT ?2",
            )
            .map_err(|e| self.sql_error(e))?;
        let rows = st
            .query_map(rusqlite::params![id, SESSION_EVENTS_MAX as i64], |r| {
                let events: Option<String> = r.get(5)?;
                Ok(SessionSpan {
                    time_ms: r.get(0)?,
                    end_ms: r.get(1)?,
                    name: r.get(2)?,
                    span_id: r.get(3)?,
                    parent_span_id: r.get(4)?,
                    // Written by ingest as this list; a row that does not
                    // read back shows as a span without events.
                    events: events
                        .and_then(|e| serde_json::from_str::<Vec<SpanEvent>>(&e).ok())
                        .unwrap_or_default(),
                })
            })
            .map_err(|e| self.sql_error(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.sql_error(e))
    }
}
