//! What ccpipe's own HTTP endpoints answer, and the refusals they share;
//! apart from the server in `admin.rs` so that the endpoints
//! (health, metrics) do not import the server that runs them.

use http::{Method, StatusCode};

/// What an endpoint answers: status, content type, body.
pub type Answer = (StatusCode, &'static str, String);

pub const TEXT: &str = "text/plain; charset=utf-8";

/// 405 for anything but GET and HEAD, 404 for unknown paths.
pub fn not_served(method: &Method, path: &str, paths: &str) -> Option<Answer> {
    if method != Method::GET && method != Method::HEAD {
        return Some((
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            format!("{method} is not allowed; use GET\n"),
        ));
    }
    if !paths.split(' ').any(|p| p == path) {
        return Some((
            StatusCode::NOT_FOUND,
            TEXT,
            format!("unknown path {path:?}; try {paths}\n"),
        ));
    }
    None
}
