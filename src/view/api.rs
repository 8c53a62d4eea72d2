//! The JSON API (docs/view.md): one path per panel, each answered by one
//! query of the store, run on a blocking thread with at most
//! [`MAX_CONCURRENT_QUERIES`] at a time so a burst of requests cannot take
//! every thread.

use std::path::PathBuf;
use std::sync::Arc;

use http::StatusCode;
use tokio::sync::Semaphore;

use super::endpoint::{Answer, Endpoint};
use super::params::{self, Params};
use super::queries;

const MAX_CONCURRENT_QUERIES: usize = 4;

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
