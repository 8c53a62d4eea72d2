//! The effective configuration as YAML for `ccpipe print-config`, with the
//! values of secret-looking keys replaced so the output can be shared.

use serde_yaml::{Mapping, Value as Y};

use super::units::Duration;
use super::Config;

const REDACTED: &str = "[REDACTED]";
/// `key` alone is the Datadog `api.key`; in a list item it names an attribute
/// (`actions: [{ key: deployment.environment.name, ... }]`) and is shown.
const SECRET_KEYS: [&str; 7] = [
    "key",
    "api_key",
    "token",
    "bearer_token",
    "password",
    "secret",
    "authorization",
];
// Also hides `client_secret`, `access_token`, `private_key` and the like.
const SECRET_SUFFIXES: [&str; 4] = ["_key", "_token", "_password", "_secret"];
/// URL query parameters that carry credentials besides the keys above
/// (`?sig=` of signed URLs, `?apikey=`, `?dd-api-key=`, ...).
const SECRET_QUERY_NAMES: [&str; 7] = [
    "sig",
    "signature",
    "apikey",
    "api-key",
    "dd-api-key",
    "auth",
    "credential",
];

pub(crate) fn to_masked_yaml(config: &Config) -> String {
    let mut root = Mapping::new();
    let sections = [
        ("receivers", &config.receivers),
        ("processors", &config.processors),
        ("exporters", &config.exporters),
        ("connectors", &config.connectors),
    ];
    for (name, components) in sections {
        if name == "connectors" && components.is_empty() {
            continue;
        }
        let mut section = Mapping::new();
        for (id, component) in components {
            section.insert(id.to_string().into(), masked_value(&component.value));
        }
        root.insert(name.into(), section.into());
    }
    root.insert("service".into(), service(config));
    let mut root = Y::Mapping(root);
    mask(&mut root, false, false);
    serde_yaml::to_string(&root).unwrap_or_else(|e| format!("# cannot print the config: {e}\n"))
}

/// One component's raw settings as YAML with its secrets masked; for
/// `print-config` and for `ComponentConfig`'s `Debug`.
pub(crate) fn masked_value(value: &figment::value::Value) -> Y {
    let mut value = serde_yaml::to_value(value).unwrap_or(Y::Null);
    mask(&mut value, false, false);
    value
}

fn service(config: &Config) -> Y {
    let service = &config.service;
    let mut pipelines = Mapping::new();
    for (id, pipeline) in &service.pipelines {
        let value = serde_yaml::to_value(pipeline).unwrap_or(Y::Null);
        pipelines.insert(id.to_string().into(), value);
    }
    let mut logs = Mapping::new();
    logs.insert("level".into(), service.log_level.as_str().into());
    let mut telemetry = Mapping::new();
    telemetry.insert("logs".into(), logs.into());
    let address = |a: Option<super::AdminEndpoint>| {
        let mut m = Mapping::new();
        let text = a.map_or_else(String::new, |a| a.address.to_string());
        m.insert("address".into(), text.into());
        m
    };
    telemetry.insert("metrics".into(), address(service.metrics).into());
    let mut out = Mapping::new();
    let timeout = Duration(service.shutdown_timeout).to_string();
    out.insert("shutdown_timeout".into(), timeout.into());
    out.insert("telemetry".into(), telemetry.into());
    out.insert("health".into(), address(service.health).into());
    if let Some(mib) = service.memory_limit_mib {
        out.insert("memory_limit_mib".into(), mib.into());
    }
    if let Some(view) = &service.view {
        let mut value = serde_yaml::to_value(view.value()).unwrap_or(Y::Null);
        mask(&mut value, false, false);
        out.insert("view".into(), value);
    }
    out.insert("pipelines".into(), pipelines.into());
    out.into()
}

/// Replaces every non-null scalar under a secret-looking key, every header
/// value, and the password of a URL anywhere, keeping the keys so the shape
/// stays visible. `item` says `value` is an element of a list.
fn mask(value: &mut Y, secret: bool, item: bool) {
    match value {
        Y::Mapping(map) => {
            for (key, v) in map.iter_mut() {
                let hide = secret
                    || key
                        .as_str()
                        .is_some_and(|k| is_secret_key(k) && !(item && k == "key"));
                mask(v, hide, false);
            }
        }
        Y::Sequence(items) => items.iter_mut().for_each(|v| mask(v, secret, true)),
        Y::Tagged(tagged) => mask(&mut tagged.value, secret, item),
        Y::Null => {}
        scalar if secret => *scalar = REDACTED.into(),
        Y::String(text) => {
            if let Some(masked) = mask_url_secrets(text) {
                *text = masked;
            }
        }
        _ => {}
    }
}

/// `text` with the secrets of every URL in it replaced: the password of
/// `scheme://user:password@host` and the values of query parameters such as
/// `api_key`, `token` or `sig`; `None` when there is none. For config values
/// and for URLs in log lines alike.
pub fn mask_url_secrets(text: &str) -> Option<String> {
    let passwords = mask_url_passwords(text);
    let text = passwords.as_deref().unwrap_or(text);
    mask_query_secrets(text).or(passwords)
}

/// `text` with the value of every secret-named query parameter of a URL in
/// it replaced; `None` when there is none.
fn mask_query_secrets(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let url_len = rest[at..]
            .find([' ', '"', '\'', '\n'])
            .map_or(rest.len(), |n| at + n);
        let (url, after) = rest.split_at(url_len);
        match url.split_once('?') {
            None => out.push_str(url),
            Some((base, query)) => {
                let (query, fragment) = query
                    .split_once('#')
                    .map_or((query, None), |(q, f)| (q, Some(f)));
                out.push_str(base);
                out.push('?');
                for (i, param) in query.split('&').enumerate() {
                    if i > 0 {
                        out.push('&');
                    }
                    match param.split_once('=') {
                        Some((name, value)) if !value.is_empty() && is_secret_query_name(name) => {
                            out.push_str(name);
                            out.push('=');
                            out.push_str(REDACTED);
                            changed = true;
                        }
                        _ => out.push_str(param),
                    }
                }
                if let Some(f) = fragment {
                    out.push('#');
                    out.push_str(f);
                }
            }
        }
        rest = after;
    }
    out.push_str(rest);
    changed.then_some(out)
}

fn is_secret_query_name(name: &str) -> bool {
    is_secret_key(name) || SECRET_QUERY_NAMES.contains(&name.to_ascii_lowercase().as_str())
}

/// `text` with the password of every `scheme://user:password@host` in it
/// replaced; `None` when there is none.
fn mask_url_passwords(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_len = tail.find(['/', '?', '#', ' ']).unwrap_or(tail.len());
        let authority = &tail[..authority_len];
        match authority.rfind('@').and_then(|a| {
            let colon = authority[..a].find(':')?;
            Some((colon, a))
        }) {
            Some((colon, a)) => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
                out.push_str(&authority[a..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_len..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "headers"
        || SECRET_KEYS.contains(&key.as_str())
        || SECRET_SUFFIXES.iter().any(|s| key.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::{mask_url_passwords, mask_url_secrets};

    #[test]
    fn secret_query_parameters_are_masked() {
        let cases = [
            (
                "https://h/v1/logs?api_key=abc123&region=eu",
                Some("https://h/v1/logs?api_key=[REDACTED]&region=eu"),
            ),
            (
                "https://h/x?sig=s1g&token=t0k&Key=k&dd-api-key=d#frag",
                Some("https://h/x?sig=[REDACTED]&token=[REDACTED]&Key=[REDACTED]&dd-api-key=[REDACTED]#frag"),
            ),
            (
                "https://u:pw@h/x?apikey=z",
                Some("https://u:[REDACTED]@h/x?apikey=[REDACTED]"),
            ),
            ("https://h/x?region=eu&keys=", None),
            ("https://h/x?monkey=banana", None),
            ("no url?api_key=1", None),
        ];
        for (text, want) in cases {
            assert_eq!(mask_url_secrets(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn url_passwords_are_masked_wherever_they_are() {
        let cases = [
            (
                "https://user:hunter2@h:4318/v1",
                Some("https://user:[REDACTED]@h:4318/v1"),
            ),
            ("http://:pw@h", Some("http://:[REDACTED]@h")),
            (
                "a http://u:p@x and ftp://v:q@y/z",
                Some("a http://u:[REDACTED]@x and ftp://v:[REDACTED]@y/z"),
            ),
            ("https://user@h/path:x@y", None),
            ("https://h:4318/a@b", None),
            ("no url: at all @", None),
            ("https://", None),
        ];
        for (text, want) in cases {
            assert_eq!(mask_url_passwords(text).as_deref(), want, "{text}");
        }
    }
}
