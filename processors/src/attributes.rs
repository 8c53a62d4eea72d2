//! `attributes`: the actions of [`crate::actions`] on the attributes of log
//! records, metric data points and spans, optionally scoped by
//! `include` / `exclude` ([`crate::matcher`]).
//!
//! ```yaml
//! processors:
//!   attributes/trim:
//!     hash_key: ${env:CCPIPE_HASH_KEY}
//!     actions:
//!       - { key: terminal.type, action: delete }
//!       - { pattern: "^anthropic\\..*", action: delete }
//!       - { key: user.id, action: hash }
//!     include: { match_type: strict, event_names: [api_request, tool_result] }
//! ```
//!
//! When actions change the attributes of a DELTA sum's points, points that
//! became the same series are merged (values added), so no duplicate series
//! leaves the processor; see [`crate::points`] for why other kinds are not.

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::ComponentConfig;
use ccpipe_pipeline::config::Secret;
use ccpipe_pipeline::factory::{ComponentSettings, ProcessorSettings, Typed};
use ccpipe_pipeline::{Batch, DecodeError, Processor, Records, Signal, Verdict};
use serde::Deserialize;

use crate::actions::{ActionConfig, Actions};
use crate::matcher::{MatchConfig, Selector};
use crate::{points, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
    #[serde(default)]
    pub include: Option<MatchConfig>,
    #[serde(default)]
    pub exclude: Option<MatchConfig>,
    #[serde(default)]
    pub hash_key: Option<Secret>,
}

impl AttributesConfig {
    pub fn build(&self, signal: Signal) -> Result<AttributesProcessor, Invalid> {
        Ok(AttributesProcessor {
            actions: Actions::compile(
                &self.actions,
                self.hash_key.as_ref().map(Secret::expose),
                "actions",
            )?,
            selector: Selector::compile(self.include.as_ref(), self.exclude.as_ref(), signal, "")?,
        })
    }
}

#[derive(Debug)]
pub struct AttributesProcessor {
    actions: Actions,
    selector: Selector,
}

impl AttributesProcessor {
    /// The work itself, on decoded records (behaviour as before the
    /// processor contract took a [`Batch`]).
    fn process_records(&mut self, batch: &mut Records) -> Verdict {
        let sel = &self.selector;
        let all = sel.selects_all();
        match batch {
            Records::Logs(req) => {
                for rl in &mut req.resource_logs {
                    let p = sel.resource(sel.start(), resource_attrs(&rl.resource));
                    if p.hopeless() {
                        continue;
                    }
                    for lr in rl.scope_logs.iter_mut().flat_map(|s| &mut s.log_records) {
                        if all || sel.attributes(sel.event(p, lr), &lr.attributes).selected() {
                            self.actions.apply(&mut lr.attributes);
                        }
                    }
                }
            }
            Records::Traces(req) => {
                for rs in &mut req.resource_spans {
                    let p = sel.resource(sel.start(), resource_attrs(&rs.resource));
                    if p.hopeless() {
                        continue;
                    }
                    for span in rs.scope_spans.iter_mut().flat_map(|s| &mut s.spans) {
                        if all
                            || sel
                                .attributes(sel.name(p, &span.name), &span.attributes)
                                .selected()
                        {
                            self.actions.apply(&mut span.attributes);
                        }
                    }
                }
            }
            Records::Metrics(req) => {
                for rm in &mut req.resource_metrics {
                    let p = sel.resource(sel.start(), resource_attrs(&rm.resource));
                    if p.hopeless() {
                        continue;
                    }
                    for metric in rm.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
                        let pm = sel.name(p, &metric.name);
                        if pm.hopeless() {
                            continue;
                        }
                        let mut changed = false;
                        points::for_each_attributes(metric, |attrs| {
                            if all || sel.attributes(pm, attrs).selected() {
                                changed |= self.actions.apply(attrs);
                            }
                        });
                        if changed {
                            points::merge_delta_sum(metric);
                        }
                    }
                }
            }
        }
        Verdict::Keep
    }
}

impl Processor for AttributesProcessor {
    fn process(&mut self, batch: &mut Batch) -> Result<Verdict, DecodeError> {
        Ok(self.process_records(batch.records_mut()?))
    }
}

pub(crate) fn resource_attrs(
    r: &Option<opentelemetry_proto::tonic::resource::v1::Resource>,
) -> &[opentelemetry_proto::tonic::common::v1::KeyValue] {
    r.as_ref().map_or(&[], |r| &r.attributes)
}

/// `attributes`: actions on record, data point and span attributes.
pub type Factory = Typed<AttributesConfig>;

impl ComponentSettings for AttributesConfig {
    const TYPE: &'static str = "attributes";

    fn validate(&self) -> Result<(), Invalid> {
        Signal::ALL
            .into_iter()
            .try_for_each(|s| self.build(s).map(drop))
    }
}

impl ProcessorSettings for AttributesConfig {
    fn stage(self, cfg: &ComponentConfig, signal: Signal) -> Result<Stage, Invalid> {
        Ok(crate::stage(cfg, self.build(signal)?))
    }
}
