//! Reference checks, in one place and in the Collector's words: every
//! pipeline names configured components, has a receiver and an exporter, and
//! lists each component once; a connector is used on both sides. Components
//! no pipeline uses are only warnings.

use std::collections::BTreeMap;

use super::error::{ConfigError, Problem};
use super::source::Origins;
use super::{ComponentConfig, Config, PipelineConfig};
use crate::id::{ComponentId, Kind};

const KINDS: [Kind; 3] = [Kind::Receiver, Kind::Processor, Kind::Exporter];
/// What the unused-component warnings look at.
const CONFIGURED: [Kind; 4] = [
    Kind::Receiver,
    Kind::Processor,
    Kind::Exporter,
    Kind::Connector,
];

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
                if !configured(config, kind).contains_key(member)
                    && !is_connector(config, kind, member)
                {
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
    connectors(config, origins, &mut problems);
    ConfigError::check(problems)?;
    Ok(unused(config))
}

/// A connector named in a receivers or exporters list.
fn is_connector(config: &Config, kind: Kind, id: &ComponentId) -> bool {
    matches!(kind, Kind::Receiver | Kind::Exporter) && config.connectors.contains_key(id)
}

/// Each connector id is unambiguous, and a connector that some pipeline
/// exports to feeds some pipeline, and the other way round. Which signals it
/// may join is its crate's business (checked when the service validates).
fn connectors(config: &Config, origins: &Origins, problems: &mut Vec<Problem>) {
    for id in config.connectors.keys() {
        for kind in [Kind::Receiver, Kind::Exporter] {
            if configured(config, kind).contains_key(id) {
                let path = ["connectors".to_owned(), id.to_string()];
                let message = format!(
                    "ambiguous ID: Found both \"{id}\" {noun} and \"{id}\" connector. Change one of the components' IDs to eliminate ambiguity (e.g. rename \"{id}\" connector to \"{id}/connector\")",
                    noun = kind.noun()
                );
                problems.push(origins.problem(&path, message));
            }
        }
        let pipelines = &config.service.pipelines;
        let exported_by = pipelines.iter().find(|(_, p)| p.exporters.contains(id));
        let received_by = pipelines.iter().find(|(_, p)| p.receivers.contains(id));
        let message = match (exported_by, received_by) {
            (Some((pid, _)), None) => format!(
                "connector \"{id}\" used as exporter in {pid} pipeline but not used in any supported receiver pipeline"
            ),
            (None, Some((pid, _))) => format!(
                "connector \"{id}\" used as receiver in {pid} pipeline but not used in any supported exporter pipeline"
            ),
            _ => continue,
        };
        let path = ["connectors".to_owned(), id.to_string()];
        problems.push(origins.problem(&path, message));
    }
}

fn unused(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for kind in CONFIGURED {
        for id in configured(config, kind).keys() {
            let used = config.service.pipelines.values().any(|p| {
                let listed = |kind| members(p, kind).contains(id);
                match kind {
                    Kind::Connector => listed(Kind::Receiver) || listed(Kind::Exporter),
                    _ => listed(kind),
                }
            });
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

// Never asked for `Kind::Connector` or `Kind::Pipeline` (connectors are
// listed as receivers and exporters); they share an arm to keep the match total.
fn members(pipeline: &PipelineConfig, kind: Kind) -> &[ComponentId] {
    match kind {
        Kind::Receiver => &pipeline.receivers,
        Kind::Processor => &pipeline.processors,
        Kind::Exporter | Kind::Connector | Kind::Pipeline => &pipeline.exporters,
    }
}

// Never asked for `Kind::Pipeline`; it shares an arm to keep the match total.
fn configured(config: &Config, kind: Kind) -> &BTreeMap<ComponentId, ComponentConfig> {
    match kind {
        Kind::Receiver => &config.receivers,
        Kind::Processor => &config.processors,
        Kind::Exporter | Kind::Pipeline => &config.exporters,
        Kind::Connector => &config.connectors,
    }
}
