//! Reference checks, in one place and in the Collector's words: every
//! pipeline names configured components, has a receiver and an exporter, and
//! lists each component once. Components no pipeline uses are only warnings.

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::source::Origins;
use super::{ComponentConfig, Config, PipelineConfig};
use crate::component::{ComponentId, Kind};

const KINDS: [Kind; 3] = [Kind::Receiver, Kind::Processor, Kind::Exporter];

/// Checks `config`'s pipelines; on success returns the warnings.
pub(crate) fn check(config: &Config, origins: &Origins) -> Result<Vec<String>, ConfigError> {
    let mut problems = Vec::new();
    let pipelines = &config.service.pipelines;
    if pipelines.is_empty() {
        let path = ["service".to_owned(), "pipelines".to_owned()];
        problems.push(origins.problem(&path, "service must have at least one pipeline"));
    }
    for (id, pipeline) in pipelines {
        for kind in KINDS {
            let listed = members(pipeline, kind);
            let base = ["service", "pipelines", &id.to_string(), kind.section()].map(str::to_owned);
            if listed.is_empty() && kind != Kind::Processor {
                let message = format!("pipeline \"{id}\" must have at least one {}", kind.noun());
                problems.push(origins.problem(&base, message));
            }
            for (i, member) in listed.iter().enumerate() {
                let mut path = base.to_vec();
                path.push(i.to_string());
                let noun = kind.noun();
                if !configured(config, kind).contains_key(member) {
                    let message = format!(
                        "pipeline \"{id}\" references {noun} \"{member}\" which is not configured"
                    );
                    problems.push(origins.problem(&path, message));
                } else if listed[..i].contains(member) {
                    let message =
                        format!("pipeline \"{id}\" references {noun} \"{member}\" multiple times");
                    problems.push(origins.problem(&path, message));
                }
            }
        }
    }
    ConfigError::check(problems)?;
    Ok(unused(config))
}

fn unused(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for kind in KINDS {
        for id in configured(config, kind).keys() {
            let used = config
                .service
                .pipelines
                .values()
                .any(|p| members(p, kind).contains(id));
            if !used {
                warnings.push(format!(
                    "{} \"{id}\" is configured but used by no pipeline",
                    kind.noun()
                ));
            }
        }
    }
    warnings
}

// `KINDS` never holds `Kind::Pipeline`; it shares an arm to keep the match total.
fn members(pipeline: &PipelineConfig, kind: Kind) -> &[ComponentId] {
    match kind {
        Kind::Receiver => &pipeline.receivers,
        Kind::Processor => &pipeline.processors,
        Kind::Exporter | Kind::Pipeline => &pipeline.exporters,
    }
}

fn configured(config: &Config, kind: Kind) -> &BTreeMap<ComponentId, ComponentConfig> {
    match kind {
        Kind::Receiver => &config.receivers,
        Kind::Processor => &config.processors,
        Kind::Exporter | Kind::Pipeline => &config.exporters,
    }
}
