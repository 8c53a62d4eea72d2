//! Loading: read each file, merge them with figment, apply `CCPIPE_…`
//! overrides, expand `${env:…}`, then type the result and check references.

use std::path::PathBuf;
use std::sync::Arc;

use figment::providers::{Data, Env, Format, Yaml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};

use super::error::{describe, ConfigError, Problem};
use super::expand::expand_tree;
use super::locate::{KeyIndex, KeyPath};
use super::source::{Origin, Origins};
use super::{decode, references, Config, DEFAULT_CONFIG};

const ENV_PREFIX: &str = "CCPIPE_";
const DEFAULT_NAME: &str = "<built-in default>";

/// Loads and checks the configuration from `paths` in order, or
/// [`DEFAULT_CONFIG`] (named "<built-in default>" in errors) when `paths` is
/// empty.
///
/// Later files merge over earlier ones: maps merge key by key, lists (such as
/// a pipeline's exporters) are replaced whole. Environment variables then
/// override single keys: `CCPIPE_` and the key path in capitals with `__`
/// between keys, e.g. `CCPIPE_EXPORTERS__FILE__PATH=/tmp/x` or
/// `CCPIPE_SERVICE__SHUTDOWN_TIMEOUT=30s`. Keys are lowercased and cannot hold
/// '/', so ids such as `file/raw` cannot be addressed from the environment.
/// Variables without `__` (such as `CCPIPE_CONFIG`) are not overrides and are
/// left alone.
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigError> {
    load_with_env_prefix(paths, ENV_PREFIX)
}

/// Loads one YAML text as if it were a file called `name`; for tests.
pub fn load_str(name: &str, yaml: &str) -> Result<Config, ConfigError> {
    build(vec![(name.to_owned(), yaml.to_owned())], ENV_PREFIX)
}

/// [`load`] with another override prefix, so tests can set overrides without
/// changing what every other test in the process loads.
pub(crate) fn load_with_env_prefix(paths: &[PathBuf], prefix: &str) -> Result<Config, ConfigError> {
    if paths.is_empty() {
        return build(
            vec![(DEFAULT_NAME.to_owned(), DEFAULT_CONFIG.to_owned())],
            prefix,
        );
    }
    let mut texts = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => texts.push((name, text)),
            Err(e) => problems.push(whole_file(name, format!("cannot read config file: {e}"))),
        }
    }
    ConfigError::check(problems)?;
    build(texts, prefix)
}

/// Merges the named YAML texts and the environment overrides into a `Config`.
fn build(texts: Vec<(String, String)>, env_prefix: &str) -> Result<Config, ConfigError> {
    let mut origins = Origins::default();
    let mut figment = Figment::new();
    let mut problems = Vec::new();
    for (name, text) in texts {
        // Indexing first gives syntax errors with the parser's line and column.
        match KeyIndex::parse(&text) {
            Ok(index) => {
                if !index.is_empty() {
                    let yaml = Yaml::string(&text);
                    figment = figment.merge(Named(name.clone(), yaml));
                }
                origins.push(Origin::File { name, index });
            }
            Err(e) => problems.push(Problem {
                origin: name,
                line: Some(e.line),
                column: e.column,
                path: e.path,
                message: e.message,
            }),
        }
    }
    ConfigError::check(problems)?;

    let env = Env::prefixed(env_prefix)
        .filter(|key| key.as_str().contains("__"))
        .split("__");
    let vars = env
        .iter()
        .map(|(key, _)| override_var(env_prefix, key.as_str()))
        .collect();
    origins.push(Origin::Env { vars });
    let origins = Arc::new(origins);
    let mut root: Dict = figment
        .merge(env)
        .extract()
        .map_err(|e| provider_error(e, &origins))?;

    let lookup = |name: &str| std::env::var(name).ok();
    let mut failures = Vec::new();
    for (key, value) in root.iter_mut() {
        expand_tree(value, &mut vec![key.clone()], &lookup, &mut failures);
    }
    let problems = failures
        .into_iter()
        .map(|(path, m)| origins.problem(&path, m));
    ConfigError::check(problems.collect())?;

    let mut config = decode::decode(root, &origins)?;
    config.warnings = references::check(&config, &origins)?;
    Ok(config)
}

/// The key path an override sets and the variable's name, e.g.
/// `exporters.file.path` → `CCPIPE_EXPORTERS__FILE__PATH`.
fn override_var(prefix: &str, key: &str) -> (KeyPath, String) {
    let path = key.split('.').map(str::to_owned).collect();
    let name = format!("{prefix}{}", key.to_ascii_uppercase().replace('.', "__"));
    (path, name)
}

/// Errors figment reports while reading a source (YAML the position parser
/// accepted but serde_yaml did not): its message carries the line.
fn provider_error(err: figment::Error, origins: &Origins) -> ConfigError {
    let problems = err.into_iter().map(|e| match &e.metadata {
        Some(md) => whole_file(md.name.to_string(), describe(&e.kind)),
        None => origins.problem(&e.path, describe(&e.kind)),
    });
    ConfigError::many(problems.collect())
}

fn whole_file(origin: String, message: String) -> Problem {
    Problem {
        origin,
        line: None,
        column: None,
        path: String::new(),
        message,
    }
}

/// A YAML source named as the user knows it (the path given, or
/// "<built-in default>") rather than figment's "YAML source string".
struct Named(String, Data<Yaml>);

impl Provider for Named {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.0.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.1.data()
    }
}
