//! Config tables over `testdata/<type>/*.yaml`. The first line of each file
//! says what to expect: `# ok`, `# error: <key>: <message>` (the exact
//! validation error) or `# error-contains: <text>` (serde's wording). Each
//! file is embedded in a whole config, loaded by the pipeline's loader and
//! checked through the registry, as `ccpipe validate` does.

use std::path::PathBuf;

use ccpipe_pipeline::config::load_str;
use ccpipe_pipeline::{ComponentId, Signal};

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::connector::BuiltConnector;
use ccpipe_pipeline::{factory, BuildError};

use crate::FACTORIES;

fn validate(cfg: &ComponentConfig) -> Result<(), ConfigError> {
    factory::lookup(FACTORIES, cfg)?.validate(cfg)
}

fn build(cfg: &ComponentConfig) -> Result<BuiltConnector, BuildError> {
    factory::lookup(FACTORIES, cfg)?.build(cfg)
}

fn supports(cfg: &ComponentConfig, from: Signal, to: Signal) -> Result<bool, ConfigError> {
    Ok(factory::lookup(FACTORIES, cfg)?
        .pairs()
        .contains(&(from, to)))
}

fn wrap(ty: &str, settings: &str) -> String {
    let indented: String = settings
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("    {l}\n"))
        .collect();
    let to = if ty == "langfuse_traces" {
        "traces"
    } else {
        "metrics"
    };
    format!(
        "receivers:\n  otlp:\nexporters:\n  debug:\nconnectors:\n  {ty}:\n{indented}service:\n  pipelines:\n    logs: {{ receivers: [otlp], exporters: [{ty}] }}\n    {to}: {{ receivers: [{ty}], exporters: [debug] }}\n"
    )
}

#[test]
fn config_tables() {
    for ty in FACTORIES.iter().map(|f| f.type_name()) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(ty);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= 5, "{}", dir.display());
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let first = text.lines().next().unwrap_or_default();
            let yaml = wrap(ty, &text);
            let config = load_str(&name, &yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
            let cfg = &config.connectors[&ty.parse::<ComponentId>().unwrap()];
            let got = validate(cfg);
            if first == "# ok" || first.starts_with("# ok:") {
                got.unwrap_or_else(|e| panic!("{name}: {e}"));
                build(cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
            } else if let Some(m) = first.strip_prefix("# error: ") {
                let err = got.expect_err(&name).to_string();
                let (key, message) = m.split_once(": ").unwrap();
                assert!(
                    err.ends_with(&format!("connectors.{ty}.{key}: {message}")),
                    "{name}: {err}"
                );
                assert!(build(cfg).is_err(), "{name}");
            } else if let Some(m) = first.strip_prefix("# error-contains: ") {
                let err = got.expect_err(&name).to_string();
                assert!(err.contains(m), "{name}: {err}");
            } else {
                panic!("{name}: the first line must say what to expect");
            }
        }
    }
}

#[test]
fn unknown_types_and_signal_pairs() {
    let config = load_str("t.yaml", &wrap("spanmetrics", "")).unwrap();
    let cfg = &config.connectors[&"spanmetrics".parse::<ComponentId>().unwrap()];
    assert!(validate(cfg).unwrap_err().to_string().ends_with(
        "connectors.spanmetrics: unknown connector type \"spanmetrics\"; known types: claude_code_metrics, langfuse_traces"
    ));

    let config = load_str("t.yaml", &wrap("claude_code_metrics", "")).unwrap();
    let cfg = &config.connectors[&"claude_code_metrics".parse::<ComponentId>().unwrap()];
    assert!(supports(cfg, Signal::Logs, Signal::Metrics).unwrap());
    assert!(!supports(cfg, Signal::Metrics, Signal::Metrics).unwrap());
    assert!(!supports(cfg, Signal::Logs, Signal::Logs).unwrap());
    assert_eq!(build(cfg).unwrap().consumes, Signal::Logs);

    let config = load_str("t.yaml", &wrap("langfuse_traces", "")).unwrap();
    let cfg = &config.connectors[&"langfuse_traces".parse::<ComponentId>().unwrap()];
    assert!(supports(cfg, Signal::Logs, Signal::Traces).unwrap());
    assert!(!supports(cfg, Signal::Logs, Signal::Metrics).unwrap());
    assert!(!supports(cfg, Signal::Traces, Signal::Traces).unwrap());
    let built = build(cfg).unwrap();
    assert_eq!(built.consumes, Signal::Logs);
    assert_eq!(built.interval, std::time::Duration::from_secs(1));
}
