//! The one file that names the store: the database the view reads, and
//! each API endpoint answered by its query, as JSON.

use std::path::{Path, PathBuf};

use ccpipe_exporters::sqlite::SqliteConfig;
use ccpipe_pipeline::config::Config;
use ccpipe_pipeline::ComponentId;
use ccpipe_store::{Store, StoreError};
use http::StatusCode;
use serde::Serialize;

use super::endpoint::{Answer, Endpoint};
use super::params::Params;

pub use ccpipe_store::Filter;

/// The database file of the sqlite exporter `id`.
pub fn database_path(config: &Config, id: &ComponentId) -> Result<PathBuf, String> {
    let cfg = config
        .exporters
        .get(id)
        .ok_or_else(|| format!("service.view.store: exporter \"{id}\" is not configured"))?;
    let store: SqliteConfig = cfg.parse().map_err(|e| e.to_string())?;
    // The exporter's own reading of its settings (defaults included).
    let settings = store.settings().map_err(|e| cfg.locate(e).to_string())?;
    Ok(settings.path)
}

/// Runs the query of `endpoint` on a read-only connection (a new one per
/// request: the exporter may replace or re-create the file).
pub fn run(db: &Path, endpoint: &Endpoint, params: &Params) -> Answer {
    let store = match Store::open_read_only(db) {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    let f = &params.filter;
    let json = match endpoint {
        Endpoint::Summary => to_json(store.summary(f)),
        Endpoint::Daily => to_json(store.daily(f)),
        Endpoint::SessionsDaily => to_json(store.sessions_daily(f)),
        Endpoint::Tools => to_json(store.tools(f)),
        Endpoint::ApiRequests => to_json(store.api_requests(f)),
        Endpoint::Code => to_json(store.code(f)),
        Endpoint::TopSessions => to_json(store.top_sessions(f, params.limit)),
        Endpoint::Filters => to_json(store.filters(f)),
        Endpoint::Session(id) => match store.session(id) {
            Ok(None) => {
                return Answer::Error(StatusCode::NOT_FOUND, format!("no session {id:?} stored"))
            }
            found => to_json(found),
        },
    };
    match json {
        Ok(body) => Answer::Json(body),
        Err(e) => failed(&e),
    }
}

fn to_json<T: Serialize>(result: Result<T, StoreError>) -> Result<Vec<u8>, StoreError> {
    // Serializing these plain structs cannot fail; NaN would become null.
    result.map(|v| serde_json::to_vec(&v).unwrap_or_else(|_| b"null".to_vec()))
}

/// A database that cannot be opened is unavailable (503, with the store's
/// advice); a query that fails is our error (500).
fn failed(e: &StoreError) -> Answer {
    let status = match e {
        StoreError::Open { .. } | StoreError::Unusable { .. } | StoreError::NewerSchema { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    tracing::warn!(error = %e, "view: query failed");
    Answer::Error(status, e.to_string())
}
