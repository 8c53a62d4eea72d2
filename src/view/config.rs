//! `service.view`: where the web view listens, which sqlite exporter's
//! database it reads, and the bearer token it asks for. Checked without
//! opening anything (`ccpipe validate`).

use std::net::SocketAddr;

use ccpipe_pipeline::config::{Config, ConfigError, Secret, ServiceSection};
use ccpipe_pipeline::ComponentId;
use serde::Deserialize;

/// Where the view listens when `service.view` is present without `endpoint`.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:4319";
/// The exporter type whose database the view reads.
const STORE_TYPE: &str = "sqlite";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    store: Option<String>,
    #[serde(default)]
    auth: Option<AuthRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthRaw {
    bearer_token_env: String,
}

/// A checked `service.view`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewConfig {
    pub endpoint: SocketAddr,
    /// `endpoint` was written in the config: failing to listen there is an
    /// error, while a taken default port (a second ccpipe) only warns.
    pub endpoint_configured: bool,
    /// The sqlite exporter whose database is shown.
    pub store: ComponentId,
    /// Requests to `/api/` must carry `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
}

/// The view `config` asks for: `None` when `service.view` is absent or
/// `enabled: false`. Reads the token's environment variable; opens nothing.
pub fn from_config(config: &Config) -> Result<Option<ViewConfig>, ConfigError> {
    from_env(config, |name| std::env::var(name).ok())
}

/// [`from_config`] with the environment passed in (tests).
pub fn from_env(
    config: &Config,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ViewConfig>, ConfigError> {
    let Some(section) = &config.service.view else {
        return Ok(None);
    };
    let raw: Raw = section.parse()?;
    if raw.enabled == Some(false) {
        return Ok(None);
    }
    let endpoint = endpoint(section, raw.endpoint.as_deref());
    let store = store(section, config, raw.store.as_deref());
    let token = match &raw.auth {
        None => Ok(None),
        Some(auth) => token(section, &auth.bearer_token_env, &env).map(Some),
    };
    let exposed = match (&endpoint, &token) {
        (Ok(endpoint), Ok(None)) if !endpoint.ip().is_loopback() => Err(section.error(
            "endpoint",
            format!(
                "{endpoint} is reachable from other machines and the view can show prompts: \
                 set auth.bearer_token_env, or listen on 127.0.0.1"
            ),
        )),
        _ => Ok(()),
    };
    match (endpoint, store, token, exposed) {
        (Ok(endpoint), Ok(store), Ok(token), Ok(())) => Ok(Some(ViewConfig {
            endpoint,
            endpoint_configured: raw.endpoint.is_some(),
            store,
            token,
        })),
        (endpoint, store, token, exposed) => {
            let errors = [endpoint.err(), store.err(), token.err(), exposed.err()];
            let joined = ConfigError::join(errors.into_iter().flatten()).err();
            Err(joined.unwrap_or_else(|| ConfigError::new("service.view: invalid")))
        }
    }
}

/// `ip:port` or `localhost:port`, like the other endpoints.
fn endpoint(section: &ServiceSection, text: Option<&str>) -> Result<SocketAddr, ConfigError> {
    let text = text.unwrap_or(DEFAULT_ENDPOINT);
    let parsed = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
        None => text.parse().ok(),
    };
    parsed.ok_or_else(|| {
        section.error(
            "endpoint",
            format!("invalid address {text:?}: expected ip:port, e.g. {DEFAULT_ENDPOINT}"),
        )
    })
}

/// The named sqlite exporter, or the only one when none is named.
fn store(
    section: &ServiceSection,
    config: &Config,
    named: Option<&str>,
) -> Result<ComponentId, ConfigError> {
    let stores: Vec<&ComponentId> = config
        .exporters
        .keys()
        .filter(|id| id.type_name() == STORE_TYPE)
        .collect();
    let list = || {
        let names: Vec<String> = stores.iter().map(|id| format!("\"{id}\"")).collect();
        match names.is_empty() {
            true => "none is configured; add one under exporters (docs/view.md)".to_owned(),
            false => format!("configured: {}", names.join(", ")),
        }
    };
    let Some(named) = named else {
        return match stores.as_slice() {
            [only] => Ok((*only).clone()),
            _ => Err(section.error(
                "store",
                format!(
                    "name the sqlite exporter whose database the view shows; {}",
                    list()
                ),
            )),
        };
    };
    match named.parse::<ComponentId>() {
        Ok(id) if stores.contains(&&id) => Ok(id),
        Ok(id) if config.exporters.contains_key(&id) => Err(section.error(
            "store",
            format!("exporter \"{id}\" is not a sqlite exporter; {}", list()),
        )),
        Ok(id) => Err(section.error(
            "store",
            format!(
                "names exporter \"{id}\", which is not configured; {}",
                list()
            ),
        )),
        Err(e) => Err(section.error("store", e)),
    }
}

fn token(
    section: &ServiceSection,
    var: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Secret, ConfigError> {
    let key = "auth.bearer_token_env";
    if var.is_empty() {
        return Err(section.error(key, "name the environment variable that holds the token"));
    }
    match env(var) {
        None => Err(section.error(key, format!("environment variable {var} is not set"))),
        Some(value) if value.trim().is_empty() => {
            Err(section.error(key, format!("environment variable {var} is empty")))
        }
        Some(value) => Ok(Secret::new(value.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str) -> Config {
        let path = format!("{}/src/view/testdata/{file}", env!("CARGO_MANIFEST_DIR"));
        let yaml = std::fs::read_to_string(&path).unwrap();
        ccpipe_pipeline::config::load_str(file, &yaml).expect("loads")
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "VIEW_TEST_TOKEN" => Some(" s3cret \n".into()),
            "VIEW_TEST_EMPTY" => Some("  ".into()),
            _ => None,
        }
    }

    fn check(file: &str) -> Result<Option<ViewConfig>, String> {
        from_env(&load(file), env).map_err(|e| e.to_string())
    }

    #[test]
    fn good_configs() {
        let sqlite: ComponentId = "sqlite".parse().unwrap();
        let local = |addr: &str, configured: bool| ViewConfig {
            endpoint: addr.parse().unwrap(),
            endpoint_configured: configured,
            store: sqlite.clone(),
            token: None,
        };
        assert_eq!(
            check("ok-default.yaml"),
            Ok(Some(local("127.0.0.1:4319", false)))
        );
        assert_eq!(
            check("ok-empty.yaml"),
            Ok(Some(local("127.0.0.1:4319", false)))
        );
        assert_eq!(
            check("ok-localhost.yaml"),
            Ok(Some(local("127.0.0.1:0", true)))
        );
        assert_eq!(check("ok-disabled.yaml"), Ok(None));
        assert_eq!(
            check("ok-token-anywhere.yaml"),
            Ok(Some(ViewConfig {
                endpoint: "0.0.0.0:4319".parse().unwrap(),
                endpoint_configured: true,
                store: sqlite.clone(),
                token: Some(Secret::new("s3cret")),
            }))
        );
        let yaml = "receivers: {otlp: {protocols: {http: {}}}}\nexporters: {debug: {}}\nservice: {pipelines: {logs: {receivers: [otlp], exporters: [debug]}}}";
        let without = ccpipe_pipeline::config::load_str("none.yaml", yaml).unwrap();
        assert_eq!(from_env(&without, env).map_err(|e| e.to_string()), Ok(None));
    }

    #[test]
    fn bad_configs_name_file_line_and_key() {
        let cases = [
            (
                "exposed-without-auth.yaml",
                "exposed-without-auth.yaml:10: service.view.endpoint: 0.0.0.0:4319 is reachable from other machines and the view can show prompts: set auth.bearer_token_env, or listen on 127.0.0.1",
            ),
            (
                "bad-endpoint.yaml",
                "bad-endpoint.yaml:10: service.view.endpoint: invalid address \"http://127.0.0.1:4319\": expected ip:port, e.g. 127.0.0.1:4319",
            ),
            (
                "store-not-configured.yaml",
                "store-not-configured.yaml:10: service.view.store: names exporter \"sqlite/team\", which is not configured; configured: \"sqlite\"",
            ),
            (
                "store-not-sqlite.yaml",
                "store-not-sqlite.yaml:10: service.view.store: exporter \"debug\" is not a sqlite exporter; configured: \"sqlite\"",
            ),
            (
                "token-unset.yaml",
                "token-unset.yaml:10: service.view.auth.bearer_token_env: environment variable VIEW_TEST_UNSET is not set",
            ),
            (
                "token-empty.yaml",
                "token-empty.yaml:10: service.view.auth.bearer_token_env: environment variable VIEW_TEST_EMPTY is empty",
            ),
            (
                "typo.yaml",
                "typo.yaml:10: service.view.endpont: unknown field `endpont`, expected one of `enabled`, `endpoint`, `store`, `auth`",
            ),
            (
                "no-store.yaml",
                "no-store.yaml:8: service.view.store: name the sqlite exporter whose database the view shows; none is configured; add one under exporters (docs/view.md)",
            ),
            (
                "two-stores.yaml",
                "two-stores.yaml:9: service.view.store: name the sqlite exporter whose database the view shows; configured: \"sqlite/a\", \"sqlite/b\"",
            ),
        ];
        for (file, want) in cases {
            assert_eq!(check(file), Err(want.to_owned()), "{file}");
        }
    }
}
