//! The JSON API (docs/view.md): one path per panel, each answered by one
//! query of the store, run on a blocking thread with at most
//! [`MAX_CONCURRENT_QUERIES`] at a time so a burst of requests cannot take
//! every thread.

use std::path::PathBuf;
use std::sync::Arc;

use http::StatusCode;
use tokio::sync::Semaphore;

use super::params::{self, Params};
use super::queries;

const MAX_CONCURRENT_QUERIES: usize = 4;
/// Session ids are UUIDs; anything much longer is not one.
const MAX_SESSION_ID: usize = 256;

/// One API path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Summary,
    Daily,
    SessionsDaily,
    Tools,
    ApiRequests,
    Code,
    TopSessions,
    Session(String),
    Filters,
}

pub const PATHS: &str = "summary, daily, sessions_daily, tools, api_requests, code, top_sessions, session/{id}, filters";

impl Endpoint {
    /// The endpoint for a path below `/api/`.
    pub fn parse(rest: &str) -> Result<Endpoint, String> {
        Ok(match rest {
            "summary" => Endpoint::Summary,
            "daily" => Endpoint::Daily,
            "sessions_daily" => Endpoint::SessionsDaily,
            "tools" => Endpoint::Tools,
            "api_requests" => Endpoint::ApiRequests,
            "code" => Endpoint::Code,
            "top_sessions" => Endpoint::TopSessions,
            "filters" => Endpoint::Filters,
            other => {
                let id = other
                    .strip_prefix("session/")
                    .and_then(params::decode)
                    .filter(|id| !id.is_empty() && id.len() <= MAX_SESSION_ID)
                    .ok_or_else(|| format!("unknown API path /api/{other}; try {PATHS}"))?;
                Endpoint::Session(id)
            }
        })
    }
}

/// An answer to one API request.
#[derive(Debug)]
pub enum Answer {
    Json(Vec<u8>),
    Error(StatusCode, String),
}

pub struct Api {
    /// The sqlite exporter's database.
    db: PathBuf,
    slots: Arc<Semaphore>,
}

impl Api {
    pub fn new(db: PathBuf) -> Api {
        Api {
            db,
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT_QUERIES)),
        }
    }

    pub async fn answer(&self, rest: &str, query: Option<&str>) -> Answer {
        let endpoint = match Endpoint::parse(rest) {
            Ok(e) => e,
            Err(message) => return Answer::Error(StatusCode::NOT_FOUND, message),
        };
        let params: Params = match params::parse(query) {
            Ok(p) => p,
            Err(message) => return Answer::Error(StatusCode::BAD_REQUEST, message),
        };
        let Ok(_slot) = self.slots.clone().acquire_owned().await else {
            return Answer::Error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
        };
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || queries::run(&db, &endpoint, &params)).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(error = %e, "view: a query panicked");
                Answer::Error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the query failed; see ccpipe's log".into(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_endpoints() {
        assert_eq!(Endpoint::parse("summary"), Ok(Endpoint::Summary));
        assert_eq!(Endpoint::parse("top_sessions"), Ok(Endpoint::TopSessions));
        assert_eq!(
            Endpoint::parse("session/3a5af7e6-3a4d"),
            Ok(Endpoint::Session("3a5af7e6-3a4d".into()))
        );
        assert_eq!(
            Endpoint::parse("session/a%20b"),
            Ok(Endpoint::Session("a b".into()))
        );
        for bad in [
            "",
            "summary/",
            "session/",
            "session/%zz",
            "sessions",
            "../etc",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(err.contains("unknown API path"), "{bad}: {err}");
        }
        assert!(Endpoint::parse(&format!("session/{}", "x".repeat(300))).is_err());
    }
}
