//! `filter`: drops whole records (log records, metric data points, spans)
//! chosen by `include` / `exclude` ([`crate::matcher`]), per signal, in the
//! shape of the Collector's filter processor.
//!
//! ```yaml
//! processors:
//!   filter/noise:
//!     logs:    { exclude: { match_type: strict, event_names: [plugin_loaded, managed_settings_resolved] } }
//!     metrics: { exclude: { match_type: regexp, metric_names: ["claude_code\\.active_time\\..*"] } }
//!     traces:  { include: { match_type: strict, span_names: [claude_code.interaction, claude_code.llm_request] } }
//! ```
//!
//! A record is kept if it matches `include` (when given) and does not match
//! `exclude` (when given). A pipeline whose signal has no section passes
//! everything through. Resources, scopes and metrics left empty are removed;
//! the chain counts what was dropped (`ccpipe_processor_dropped_items_total`).

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::ComponentConfig;
use ccpipe_pipeline::factory::{ComponentSettings, ProcessorSettings, Typed};
use ccpipe_pipeline::{Batch, DecodeError, Processor, Records, Signal, Verdict};
use serde::Deserialize;

use crate::attributes::resource_attrs;
use crate::matcher::{MatchConfig, Selector};
use crate::{points, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    #[serde(default)]
    pub logs: Option<SignalFilter>,
    #[serde(default)]
    pub metrics: Option<SignalFilter>,
    #[serde(default)]
    pub traces: Option<SignalFilter>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalFilter {
    #[serde(default)]
    pub include: Option<MatchConfig>,
    #[serde(default)]
    pub exclude: Option<MatchConfig>,
}

impl FilterConfig {
    fn section(&self, signal: Signal) -> Option<&SignalFilter> {
        match signal {
            Signal::Logs => self.logs.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Traces => self.traces.as_ref(),
        }
    }

    pub fn build(&self, signal: Signal) -> Result<FilterProcessor, Invalid> {
        let selector = match self.section(signal) {
            Some(f) => Some(Selector::compile(
                f.include.as_ref(),
                f.exclude.as_ref(),
                signal,
                signal.as_str(),
            )?),
            None => None,
        };
        Ok(FilterProcessor { selector })
    }
}

#[derive(Debug)]
pub struct FilterProcessor {
    /// `None`: this pipeline's signal has no section; pass everything.
    selector: Option<Selector>,
}

impl FilterProcessor {
    /// The work itself, on decoded records (behaviour as before the
    /// processor contract took a [`Batch`]).
    fn process_records(&mut self, batch: &mut Records) -> Verdict {
        let Some(sel) = &self.selector else {
            return Verdict::Keep;
        };
        let before = batch.item_count();
        match batch {
            Records::Logs(req) => {
                for rl in &mut req.resource_logs {
                    let p = sel.resource(sel.start(), resource_attrs(&rl.resource));
                    for sl in &mut rl.scope_logs {
                        if p.hopeless() {
                            sl.log_records.clear();
                            continue;
                        }
                        sl.log_records.retain(|lr| {
                            sel.attributes(sel.event(p, lr), &lr.attributes).selected()
                        });
                    }
                }
            }
            Records::Traces(req) => {
                for rs in &mut req.resource_spans {
                    let p = sel.resource(sel.start(), resource_attrs(&rs.resource));
                    for ss in &mut rs.scope_spans {
                        if p.hopeless() {
                            ss.spans.clear();
                            continue;
                        }
                        ss.spans.retain(|span| {
                            sel.attributes(sel.name(p, &span.name), &span.attributes)
                                .selected()
                        });
                    }
                }
            }
            Records::Metrics(req) => {
                for rm in &mut req.resource_metrics {
                    let p = sel.resource(sel.start(), resource_attrs(&rm.resource));
                    for metric in rm.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
                        let pm = sel.name(p, &metric.name);
                        points::retain(metric, |attrs| {
                            !pm.hopeless() && sel.attributes(pm, attrs).selected()
                        });
                    }
                }
            }
        }
        if batch.item_count() < before {
            batch.prune_empty();
        }
        Verdict::Keep
    }
}

impl Processor for FilterProcessor {
    fn process(&mut self, batch: &mut Batch) -> Result<Verdict, DecodeError> {
        Ok(self.process_records(batch.records_mut()?))
    }
}

/// `filter`: drops records chosen by include/exclude.
pub type Factory = Typed<FilterConfig>;

impl ComponentSettings for FilterConfig {
    const TYPE: &'static str = "filter";

    fn validate(&self) -> Result<(), Invalid> {
        if Signal::ALL.iter().all(|&s| self.section(s).is_none()) {
            return Err(Invalid::new(
                "",
                "has no logs, metrics or traces section, so it would drop nothing",
            ));
        }
        for s in Signal::ALL {
            let Some(f) = self.section(s) else { continue };
            if f.include.is_none() && f.exclude.is_none() {
                return Err(Invalid::new(s.as_str(), "needs include, exclude or both"));
            }
            for (block, m) in [("include", &f.include), ("exclude", &f.exclude)] {
                let Some(m) = m else { continue };
                for other in Signal::ALL.into_iter().filter(|&o| o != s) {
                    let (field, list) = m.names_for(other);
                    if !list.is_empty() {
                        let (own, _) = m.names_for(s);
                        return Err(Invalid::new(
                            format!("{s}.{block}.{field}"),
                            format!("does not apply to {s}; use {own}"),
                        ));
                    }
                }
            }
            self.build(s)?;
        }
        Ok(())
    }
}

impl ProcessorSettings for FilterConfig {
    fn stage(self, cfg: &ComponentConfig, signal: Signal) -> Result<Stage, Invalid> {
        Ok(crate::stage(cfg, self.build(signal)?))
    }
}
