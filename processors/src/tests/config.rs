//! Config tables over `testdata/<type>/*.yaml`. The first line of each file
//! says what to expect:
//! - `# ok` (anything may follow),
//! - `# error: <key>: <message>`, the exact validation error,
//! - `# error-contains: <text>`, for errors worded by serde (typos, unknown variants).
//!
//! Each file is checked twice: parsed alone with serde_yaml into the typed
//! config, and embedded in a whole ccpipe config loaded by the pipeline's
//! loader, then validated through the registry, as `ccpipe validate` would.

use std::path::PathBuf;

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::{load_str, Config};
use ccpipe_pipeline::factory::ComponentSettings;
use ccpipe_pipeline::{ComponentId, Signal};

use crate::{
    attributes, batch, filter, redaction, resource, resourcedetection, Invalid, FACTORIES,
};
use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::{factory, BuildError};

/// Validates `cfg` through the registry, as the service does.
fn validate(cfg: &ComponentConfig) -> Result<(), ConfigError> {
    factory::lookup(FACTORIES, cfg)?.validate(cfg)
}

/// Builds `cfg` through the registry, as the service does.
fn build(cfg: &ComponentConfig, signal: Signal) -> Result<Stage, BuildError> {
    factory::lookup(FACTORIES, cfg)?.build(cfg, signal)
}

#[derive(Debug)]
enum Expect {
    Ok,
    Error(String),
    Contains(String),
}

#[derive(Debug)]
enum Failure {
    Invalid(Invalid),
    Serde(String),
}

fn expectation(text: &str, file: &str) -> Expect {
    let first = text.lines().next().unwrap_or_default();
    if first == "# ok" || first.starts_with("# ok:") {
        Expect::Ok
    } else if let Some(m) = first.strip_prefix("# error: ") {
        Expect::Error(m.to_owned())
    } else if let Some(m) = first.strip_prefix("# error-contains: ") {
        Expect::Contains(m.to_owned())
    } else {
        panic!("{file}: the first line must be `# ok`, `# error: …` or `# error-contains: …`")
    }
}

/// Parses with serde_yaml and runs the config's pure `validate()`.
fn validate_alone(ty: &str, yaml: &str) -> Result<(), Failure> {
    fn check<T: serde::de::DeserializeOwned>(
        yaml: &str,
        validate: impl Fn(&T) -> Result<(), Invalid>,
    ) -> Result<(), Failure> {
        let has_content = yaml
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let cfg: T = serde_yaml::from_str(if has_content { yaml } else { "{}" })
            .map_err(|e| Failure::Serde(e.to_string()))?;
        validate(&cfg).map_err(Failure::Invalid)
    }
    match ty {
        "batch" => check(yaml, batch::BatchConfig::validate),
        "resource" => check(yaml, resource::ResourceConfig::validate),
        "resourcedetection" => check(yaml, resourcedetection::ResourceDetectionConfig::validate),
        "attributes" => check(yaml, attributes::AttributesConfig::validate),
        "filter" => check(yaml, filter::FilterConfig::validate),
        "redaction" => check(yaml, redaction::RedactionConfig::validate),
        other => panic!("no testdata runner for {other}"),
    }
}

/// A whole ccpipe config with the file's content as processor `id`.
fn whole_config(id: &str, body: &str, signal: &str) -> String {
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "receivers:\n  otlp: {{}}\nprocessors:\n  {id}:\n{indented}exporters:\n  debug: {{}}\n\
         service:\n  pipelines:\n    {signal}:\n      receivers: [otlp]\n      processors: [{id}]\n      exporters: [debug]\n"
    )
}

fn load(name: &str, id: &str, body: &str) -> Config {
    let yaml = whole_config(id, body, "logs");
    load_str(name, &yaml)
        .unwrap_or_else(|e| panic!("{name}: the loader refused the wrapper config: {e}\n{yaml}"))
}

fn testdata(ty: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(ty);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = format!("{ty}/{}", p.file_name().unwrap().to_string_lossy());
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn testdata_tables() {
    let mut cases = 0;
    for ty in FACTORIES.iter().map(|f| f.type_name()) {
        let files = testdata(ty);
        assert!(
            files
                .iter()
                .any(|(_, t)| matches!(expectation(t, ""), Expect::Ok)),
            "{ty}: no ok case"
        );
        assert!(
            files
                .iter()
                .any(|(_, t)| matches!(expectation(t, ""), Expect::Error(_))),
            "{ty}: no error case"
        );
        assert!(
            files.iter().any(|(_, t)| expectation(t, "").is_typo()),
            "{ty}: no typo case"
        );
        for (name, text) in files {
            cases += 1;
            let expect = expectation(&text, &name);
            let alone = validate_alone(ty, &text);
            let id = format!("{ty}/case");
            let cfg = load(&name, &id, &text);
            let component = &cfg.processors[&id.parse::<ComponentId>().unwrap()];
            let via_registry = validate(component).map_err(|e| e.to_string());
            match (&expect, &alone) {
                (Expect::Ok, Ok(())) => {
                    assert_eq!(via_registry, Ok(()), "{name} via the registry");
                    for signal in Signal::ALL {
                        build(component, signal)
                            .unwrap_or_else(|e| panic!("{name}: build for {signal}: {e}"));
                    }
                }
                (Expect::Error(want), Err(Failure::Invalid(got))) => {
                    assert_eq!(&got.to_string(), want, "{name}");
                    // The loader's error names the file, line and full key path.
                    let path = match got.key.as_str() {
                        "" => format!("processors.{id}"),
                        key => format!("processors.{id}.{key}"),
                    };
                    let full = via_registry.expect_err(&name);
                    assert!(full.starts_with(&format!("{name}:")), "{name}: {full}");
                    assert!(
                        full.ends_with(&format!("{path}: {}", got.message)),
                        "{name}: {full}"
                    );
                    let built = build(component, Signal::Logs).err().map(|e| e.to_string());
                    assert_eq!(
                        built,
                        Some(full),
                        "{name}: build reports what validate reports"
                    );
                }
                (Expect::Contains(want), Err(Failure::Serde(got))) => {
                    assert!(got.contains(want.as_str()), "{name}: {got}");
                    let full = via_registry.expect_err(&name);
                    assert!(
                        full.contains(want.as_str()),
                        "{name} via the registry: {full}"
                    );
                }
                _ => panic!("{name}: expected {expect:?}, got {alone:?}"),
            }
        }
    }
    assert!(cases >= 40, "only {cases} cases");
}

impl Expect {
    fn is_typo(&self) -> bool {
        matches!(self, Expect::Contains(m) if m.starts_with("unknown field"))
    }
}

#[test]
fn unknown_types_name_the_known_ones() {
    let cfg = load("unknown.yaml", "transform/x", "");
    let component = &cfg.processors[&"transform/x".parse::<ComponentId>().unwrap()];
    // Every registered type, in the registry's order.
    let known: Vec<&str> = FACTORIES.iter().map(|f| f.type_name()).collect();
    assert_eq!(known[..2], ["batch", "resource"]);
    let want = format!(
        "processors.transform/x: unknown processor type \"transform\"; known types: {}",
        known.join(", ")
    );
    let err = validate(component).unwrap_err().to_string();
    assert!(err.ends_with(&want), "{err}");
    let err = build(component, Signal::Logs).err().unwrap().to_string();
    assert!(err.ends_with(&want), "{err}");
}

#[test]
fn build_makes_the_right_stages() {
    let cfg = load(
        "b.yaml",
        "batch/x",
        "send_batch_size: 10\nsend_batch_max_size: 20\ntimeout: 1s",
    );
    let component = &cfg.processors[&"batch/x".parse::<ComponentId>().unwrap()];
    match build(component, Signal::Traces).unwrap() {
        Stage::Batch(b) => {
            let s = b.settings();
            assert_eq!(
                (s.send_batch_size, s.send_batch_max_size, s.timeout),
                (10, 20, std::time::Duration::from_secs(1))
            );
        }
        Stage::Process { .. } => panic!("batch must be a batch stage"),
    }
    let cfg = load("r.yaml", "redaction/prompts", "preset: claude_code");
    let component = &cfg.processors[&"redaction/prompts".parse::<ComponentId>().unwrap()];
    match build(component, Signal::Logs).unwrap() {
        Stage::Process { id, .. } => assert_eq!(id, "redaction/prompts"),
        Stage::Batch(_) => panic!("redaction is a processor stage"),
    }
    let defaults: batch::BatchConfig = super::parse("");
    assert_eq!(
        defaults.settings(),
        ccpipe_pipeline::batcher::BatchSettings::default()
    );
}

#[test]
fn env_references_reach_the_processor_expanded() {
    // `${env:…}` is expanded by the loader, so typed values and hash keys can
    // come from the environment; a default applies when the variable is unset.
    let body = "attributes:\n  - { key: deployment.environment.name, value: \"${env:CCPIPE_PROCESSORS_TEST_UNSET:-dev}\", action: upsert }";
    let cfg = load("env.yaml", "resource", body);
    let component = &cfg.processors[&"resource".parse::<ComponentId>().unwrap()];
    let parsed: resource::ResourceConfig = component.parse().unwrap();
    assert_eq!(
        parsed.attributes[0].value,
        Some(crate::ConfigValue::String("dev".into()))
    );
}

#[test]
fn example_config_loads_and_every_processor_validates_and_builds() {
    // The shipped example: every processor in it must also build, per signal.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/redaction.yaml");
    let cfg = ccpipe_pipeline::config::load(std::slice::from_ref(&path))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(cfg.processors.len(), 5);
    for (pid, pipeline) in &cfg.service.pipelines {
        for id in &pipeline.processors {
            let component = &cfg.processors[id];
            validate(component).unwrap_or_else(|e| panic!("{id}: {e}"));
            build(component, pid.signal).unwrap_or_else(|e| panic!("{id} in {pid}: {e}"));
        }
    }
}

#[test]
fn typed_values_survive_the_loader() {
    let body = "attributes:\n  - { key: a, value: 3, action: insert }\n  - { key: b, value: 0.25, action: insert }\n  - { key: c, value: false, action: insert }\n  - { key: d, value: \"3\", action: insert }";
    let cfg = load("typed.yaml", "resource", body);
    let component = &cfg.processors[&"resource".parse::<ComponentId>().unwrap()];
    let parsed: resource::ResourceConfig = component.parse().unwrap();
    let values: Vec<_> = parsed
        .attributes
        .iter()
        .map(|a| a.value.clone().unwrap())
        .collect();
    use crate::ConfigValue::*;
    assert_eq!(
        values,
        vec![Int(3), Double(0.25), Bool(false), String("3".into())]
    );
}
