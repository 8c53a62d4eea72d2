//! What the API answers about: the endpoint a path names, and the answer
//! (JSON, or a status with a message) that api.rs sends back.

use http::StatusCode;

use super::params;

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
