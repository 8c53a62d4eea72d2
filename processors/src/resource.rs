//! `resource`: tags (or trims) the resource of every batch, for all three
//! signals, with the actions of [`crate::actions`].
//!
//! ```yaml
//! processors:
//!   resource:
//!     hash_key: ${env:CCPIPE_HASH_KEY}        # only needed by `hash`
//!     attributes:
//!       - { key: deployment.environment.name, value: "${env:DEPLOY_ENV:-dev}", action: upsert }
//!       - { key: team, value: platform, action: insert }
//!       - { key: os.version, action: delete }
//!       - { key: service.namespace, from_attribute: team, action: upsert }
//! ```

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::ComponentConfig;
use ccpipe_pipeline::config::Secret;
use ccpipe_pipeline::factory::{ComponentSettings, ProcessorSettings, Typed};
use ccpipe_pipeline::{Batch, DecodeError, Processor, Records, Signal, Verdict};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;

use crate::actions::{ActionConfig, Actions};
use crate::Invalid;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    #[serde(default)]
    pub attributes: Vec<ActionConfig>,
    #[serde(default)]
    pub hash_key: Option<Secret>,
}

impl ResourceConfig {
    pub fn build(&self) -> Result<ResourceProcessor, Invalid> {
        Ok(ResourceProcessor {
            actions: Actions::compile(
                &self.attributes,
                self.hash_key.as_ref().map(Secret::expose),
                "attributes",
            )?,
        })
    }
}

#[derive(Debug)]
pub struct ResourceProcessor {
    actions: Actions,
}

impl ResourceProcessor {
    fn apply(&self, resource: &mut Option<Resource>) {
        match resource {
            Some(r) => {
                self.actions.apply(&mut r.attributes);
            }
            None => {
                // Only materialise a resource if an action added something.
                let mut attrs: Vec<KeyValue> = Vec::new();
                if self.actions.apply(&mut attrs) {
                    *resource = Some(Resource {
                        attributes: attrs,
                        ..Default::default()
                    });
                }
            }
        }
    }
}

impl ResourceProcessor {
    /// The work itself, on decoded records (behaviour as before the
    /// processor contract took a [`Batch`]).
    fn process_records(&mut self, batch: &mut Records) -> Verdict {
        match batch {
            Records::Logs(r) => r
                .resource_logs
                .iter_mut()
                .for_each(|x| self.apply(&mut x.resource)),
            Records::Metrics(r) => r
                .resource_metrics
                .iter_mut()
                .for_each(|x| self.apply(&mut x.resource)),
            Records::Traces(r) => r
                .resource_spans
                .iter_mut()
                .for_each(|x| self.apply(&mut x.resource)),
        }
        Verdict::Keep
    }
}

impl Processor for ResourceProcessor {
    fn process(&mut self, batch: &mut Batch) -> Result<Verdict, DecodeError> {
        Ok(self.process_records(batch.records_mut()?))
    }
}

/// `resource`: actions on resource attributes.
pub type Factory = Typed<ResourceConfig>;

impl ComponentSettings for ResourceConfig {
    const TYPE: &'static str = "resource";

    fn validate(&self) -> Result<(), Invalid> {
        self.build().map(drop)
    }
}

impl ProcessorSettings for ResourceConfig {
    fn stage(self, cfg: &ComponentConfig, _: Signal) -> Result<Stage, Invalid> {
        Ok(crate::stage(cfg, self.build()?))
    }
}
