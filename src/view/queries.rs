//! PROVISIONAL until the store's query layer is merged.
use std::path::{Path, PathBuf};

use ccpipe_pipeline::config::Config;
use ccpipe_pipeline::ComponentId;
use http::StatusCode;

use super::api::{Answer, Endpoint};
use super::params::Params;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub user: Option<String>,
    pub model: Option<String>,
    pub attrs: Vec<(String, String)>,
}

pub fn database_path(_config: &Config, _id: &ComponentId) -> Result<PathBuf, String> {
    Ok(PathBuf::from("ccpipe-data/ccpipe.db"))
}

pub fn run(_db: &Path, _endpoint: &Endpoint, _params: &Params) -> Answer {
    Answer::Error(StatusCode::SERVICE_UNAVAILABLE, "no store yet".into())
}
