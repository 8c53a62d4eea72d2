//! The page, its script and styles, and the vendored uPlot, compiled into
//! the binary so the view works offline. Each answer carries an ETag (a
//! digest of the bytes) and `no-cache`: browsers revalidate and get 304
//! until a new ccpipe ships new files.

use sha2::{Digest, Sha256};

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// Quoted, as the header carries it.
    pub etag: String,
}

const FILES: [(&str, &str, &[u8]); 5] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("page/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("page/app.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_bytes!("page/app.css"),
    ),
    (
        "/assets/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("page/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "/assets/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("page/vendor/uplot/uPlot.min.css"),
    ),
];

/// Every asset, with its ETag computed once.
pub fn all() -> Vec<Asset> {
    FILES
        .iter()
        .map(|&(path, content_type, body)| {
            let digest = Sha256::digest(body);
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            Asset {
                path,
                content_type,
                body,
                etag: format!("\"{hex}\""),
            }
        })
        .collect()
}

/// `/index.html` is the page too.
pub fn find<'a>(assets: &'a [Asset], path: &str) -> Option<&'a Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    assets.iter().find(|a| a.path == path)
}
