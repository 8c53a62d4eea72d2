//! `ccpipe datadog dashboard push`: creates the Claude Code dashboard in
//! Datadog, or updates the one with the same title, so running it again
//! changes that same dashboard instead of adding copies.
//!
//! - The dashboard is `configs/dashboards/datadog-claude-code.json` (built
//!   into the binary) or `--file PATH`.
//! - The API is `https://api.<DD_SITE>` (default `datadoghq.com`), or
//!   `--api-url` (proxies, tests); keys from `DD_API_KEY` and `DD_APP_KEY`.
//! - `GET /api/v1/dashboard` (paged) finds dashboards by title; one match is
//!   updated with `PUT /api/v1/dashboard/<id>`, none means `POST
//!   /api/v1/dashboard`, several is an error (which one would be meant?).
//! - `--dry-run` sends nothing and says what would be done.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use http::Method;
use serde_json::Value;

use super::datadog_api::{Api, ApiError};

/// The shipped dashboard.
pub const DASHBOARD: &str = include_str!("../../configs/dashboards/datadog-claude-code.json");

const PAGE: usize = 100;
/// Bound on list pages read (100 000 dashboards).
const MAX_PAGES: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Fields of an exported dashboard that the API sets itself.
const READ_ONLY: &[&str] = &[
    "id",
    "url",
    "created_at",
    "modified_at",
    "author_handle",
    "author_name",
];

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Say what would be done; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A dashboard JSON file instead of the built-in Claude Code dashboard.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// The API's base URL instead of https://api.<DD_SITE>.
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
}

/// Runs the command; prints the outcome.
pub fn push_command(args: &PushArgs) -> ExitCode {
    match push(args, &|k| std::env::var(k).ok()) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ccpipe datadog dashboard push: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A dashboard ready to send.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub title: String,
    pub body: Value,
}

/// Parses and checks a dashboard definition, dropping read-only fields.
pub fn parse_dashboard(text: &str, origin: &str) -> Result<Dashboard, String> {
    let mut body: Value =
        serde_json::from_str(text).map_err(|e| format!("{origin} is not valid JSON: {e}"))?;
    let obj = body
        .as_object_mut()
        .ok_or_else(|| format!("{origin}: a dashboard is a JSON object"))?;
    for key in READ_ONLY {
        obj.shift_remove(*key);
    }
    let title = match obj.get("title") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        _ => return Err(format!("{origin}: \"title\" must be a non-empty string")),
    };
    if !matches!(obj.get("layout_type"), Some(Value::String(l)) if l == "ordered" || l == "free") {
        return Err(format!(
            "{origin}: \"layout_type\" must be \"ordered\" or \"free\""
        ));
    }
    if !matches!(obj.get("widgets"), Some(Value::Array(_))) {
        return Err(format!("{origin}: \"widgets\" must be an array"));
    }
    Ok(Dashboard { title, body })
}

/// `https://api.<site>` for a Datadog site name.
pub fn api_base(site: &str) -> Result<String, String> {
    let site = site.trim();
    let ok = site.contains('.')
        && !site.starts_with(['.', '-'])
        && !site.ends_with(['.', '-'])
        && site
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !ok {
        return Err(format!(
            "DD_SITE {site:?} is not a Datadog site such as datadoghq.com, datadoghq.eu or \
             us5.datadoghq.com (no scheme, no path)"
        ));
    }
    Ok(format!("https://api.{site}"))
}

/// Where the web UI of a site lives: `app.datadoghq.com`, `us5.datadoghq.com`.
fn app_host(site: &str) -> String {
    if site.split('.').count() == 2 {
        format!("app.{site}")
    } else {
        site.to_owned()
    }
}

/// Pushes per `args`, reading the environment through `env`.
pub fn push(args: &PushArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let dashboard = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            parse_dashboard(&text, &path.display().to_string())?
        }
        None => parse_dashboard(DASHBOARD, "the built-in dashboard")?,
    };
    let site = env("DD_SITE")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "datadoghq.com".to_owned());
    let base = match &args.api_url {
        Some(url) => {
            let uri: http::Uri = url
                .parse()
                .map_err(|e| format!("--api-url {url:?} is not a URL: {e}"))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
                return Err(format!(
                    "--api-url {url:?} must be an http:// or https:// URL with a host"
                ));
            }
            url.trim_end_matches('/').to_owned()
        }
        None => api_base(&site)?,
    };
    let widgets = dashboard.body["widgets"].as_array().map_or(0, Vec::len);
    if args.dry_run {
        return Ok(format!(
            "dry run, nothing sent: would look for a dashboard titled {:?} with GET {base}/api/v1/dashboard, \
             then update it (PUT {base}/api/v1/dashboard/<id>) or, if there is none, create it \
             (POST {base}/api/v1/dashboard); {widgets} widgets{}",
            dashboard.title,
            missing_keys(env)
                .map(|m| format!("; note: {m}"))
                .unwrap_or_default()
        ));
    }
    if let Some(m) = missing_keys(env) {
        return Err(m);
    }
    let api_key = env("DD_API_KEY").unwrap_or_default();
    let app_key = env("DD_APP_KEY").unwrap_or_default();
    let api = Api::new(&base, &api_key, &app_key, TIMEOUT)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let explain =
        |e: ApiError| match e.status {
            Some(401 | 403) => format!(
            "{}\nCheck that DD_API_KEY and DD_APP_KEY are valid keys of the organisation on {} \
             (DD_SITE), and that the application key may read and write dashboards \
             (scopes dashboards_read, dashboards_write).",
            e.message,
            if args.api_url.is_some() { base.as_str() } else { site.as_str() }
        ),
            _ => e.message,
        };
    let (verb, answer) = runtime.block_on(async {
        let matches = find_by_title(&api, &dashboard.title).await.map_err(explain)?;
        match matches.as_slice() {
            [] => api
                .call(Method::POST, "/api/v1/dashboard", Some(&dashboard.body))
                .await
                .map(|a| ("created", a))
                .map_err(explain),
            [id] => api
                .call(
                    Method::PUT,
                    &format!("/api/v1/dashboard/{}", path_segment(id)),
                    Some(&dashboard.body),
                )
                .await
                .map(|a| ("updated", a))
                .map_err(explain),
            many => Err(format!(
                "{} dashboards are titled {:?} (ids {}); delete or rename the extra ones, then push again",
                many.len(),
                dashboard.title,
                many.join(", ")
            )),
        }
    })?;
    let id = answer["id"].as_str().unwrap_or("?");
    let link = match answer["url"].as_str() {
        Some(u) if args.api_url.is_none() && u.starts_with('/') => {
            format!("https://{}{u}", app_host(site.trim()))
        }
        Some(u) => u.to_owned(),
        None => String::new(),
    };
    Ok(format!(
        "{verb} dashboard {:?} (id {id}){}",
        dashboard.title,
        if link.is_empty() {
            String::new()
        } else {
            format!(": {link}")
        }
    ))
}

fn missing_keys(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let missing: Vec<&str> = ["DD_API_KEY", "DD_APP_KEY"]
        .into_iter()
        .filter(|k| env(k).is_none_or(|v| v.trim().is_empty()))
        .collect();
    match missing.as_slice() {
        [] => None,
        m => Some(format!(
            "{} not set (an API key, and an application key that may write dashboards)",
            if m.len() == 1 {
                format!("{} is", m[0])
            } else {
                format!("{} are", m.join(" and "))
            }
        )),
    }
}

/// Ids of the dashboards titled `title`, reading the list page by page.
async fn find_by_title(api: &Api, title: &str) -> Result<Vec<String>, ApiError> {
    let mut ids = Vec::new();
    for page in 0..MAX_PAGES {
        let list = api
            .call(
                Method::GET,
                &format!("/api/v1/dashboard?count={PAGE}&start={}", page * PAGE),
                None,
            )
            .await?;
        let Some(entries) = list["dashboards"].as_array() else {
            return Err(ApiError {
                status: None,
                message: "the dashboard list has no \"dashboards\" array".into(),
            });
        };
        for d in entries {
            if d["title"].as_str() == Some(title) {
                if let Some(id) = d["id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
        }
        if entries.len() < PAGE {
            break;
        }
    }
    Ok(ids)
}

/// A dashboard id as one path segment (ids are `abc-def-ghi`; anything else
/// is escaped rather than trusted).
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_dashboard_parses() {
        let d = parse_dashboard(DASHBOARD, "built-in").unwrap();
        assert_eq!(d.title, "Claude Code (ccpipe)");
    }

    #[test]
    fn read_only_fields_are_dropped_and_shape_checked() {
        let d = parse_dashboard(
            r#"{"id":"abc-def-ghi","url":"/x","title":"T","layout_type":"ordered","widgets":[]}"#,
            "f",
        )
        .unwrap();
        assert_eq!(
            d.body.to_string(),
            r#"{"title":"T","layout_type":"ordered","widgets":[]}"#
        );
        assert_eq!(
            parse_dashboard("[]", "f").unwrap_err(),
            "f: a dashboard is a JSON object"
        );
        assert_eq!(
            parse_dashboard(r#"{"title":"","layout_type":"ordered","widgets":[]}"#, "f")
                .unwrap_err(),
            "f: \"title\" must be a non-empty string"
        );
        assert_eq!(
            parse_dashboard(r#"{"title":"T","layout_type":"grid","widgets":[]}"#, "f").unwrap_err(),
            "f: \"layout_type\" must be \"ordered\" or \"free\""
        );
    }

    #[test]
    fn sites_and_hosts() {
        assert_eq!(
            api_base("datadoghq.eu").unwrap(),
            "https://api.datadoghq.eu"
        );
        assert_eq!(
            api_base(" us5.datadoghq.com ").unwrap(),
            "https://api.us5.datadoghq.com"
        );
        assert!(api_base("https://datadoghq.com").is_err());
        assert!(api_base("datadoghq").is_err());
        assert_eq!(app_host("datadoghq.com"), "app.datadoghq.com");
        assert_eq!(app_host("us3.datadoghq.com"), "us3.datadoghq.com");
        assert_eq!(path_segment("abc-def-ghi"), "abc-def-ghi");
        assert_eq!(path_segment("a/../b"), "a%2F%2E%2E%2Fb");
    }

    #[test]
    fn missing_keys_are_named() {
        let none = |_: &str| None;
        assert_eq!(
            missing_keys(&none).unwrap(),
            "DD_API_KEY and DD_APP_KEY are not set (an API key, and an application key that may write dashboards)"
        );
        let api_only = |k: &str| (k == "DD_API_KEY").then(|| "x".to_owned());
        assert!(missing_keys(&api_only)
            .unwrap()
            .starts_with("DD_APP_KEY is not set"));
    }
}
