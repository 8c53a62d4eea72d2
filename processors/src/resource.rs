//! `resource`: tags (or trims) the resource of every batch, for all three
//! signals, with the actions of [`crate::actions`].
//!
//! A batch still in request bytes is changed on them: only each `Resource`
//! message is decoded, changed and re-encoded.
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
use prost::Message;
use serde::Deserialize;

use crate::actions::{ActionConfig, Actions};
use crate::wire::{self, Fallback, Rewritten};
use crate::Invalid;
use ccpipe_otlp::rewrite::{self, Rewrite};

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
    /// Applies the actions to one resource; true if it changed.
    fn apply(&self, resource: &mut Option<Resource>) -> bool {
        match resource {
            Some(r) => self.actions.apply(&mut r.attributes),
            None => {
                // Only materialise a resource if an action added something.
                let mut attrs: Vec<KeyValue> = Vec::new();
                let added = self.actions.apply(&mut attrs);
                if added {
                    *resource = Some(Resource {
                        attributes: attrs,
                        ..Default::default()
                    });
                }
                added
            }
        }
    }

    /// The processor on an encoded export request (any signal): only each
    /// `Resource` message is decoded, changed and re-encoded; the records
    /// are copied as bytes. `Ok(None)`: nothing changed.
    pub fn process_encoded(&self, request: &[u8]) -> Result<Option<Vec<u8>>, Fallback> {
        rewrite::request(request, &mut OnResources(self))
    }
}

/// The wire walk's view of the processor: resources only.
struct OnResources<'a>(&'a ResourceProcessor);

impl Rewrite for OnResources<'_> {
    const RECORDS: bool = false;

    fn resource(&mut self, body: Option<&[u8]>) -> Result<Option<Vec<u8>>, Fallback> {
        let mut resource = match body {
            Some(b) => Some(Resource::decode(b).map_err(|_| Fallback)?),
            None => None,
        };
        Ok(match (self.0.apply(&mut resource), resource) {
            (true, Some(r)) => Some(r.encode_to_vec()),
            _ => None,
        })
    }

    fn scope(&mut self, _: &[u8]) -> Result<Option<Vec<u8>>, Fallback> {
        Ok(None)
    }

    fn record(&mut self, _: &[u8]) -> Result<Option<Vec<u8>>, Fallback> {
        Ok(None)
    }
}

impl ResourceProcessor {
    /// The work itself, on decoded records (behaviour as before the
    /// processor contract took a [`Batch`]).
    fn process_records(&mut self, batch: &mut Records) -> Verdict {
        match batch {
            Records::Logs(r) => r.resource_logs.iter_mut().for_each(|x| {
                self.apply(&mut x.resource);
            }),
            Records::Metrics(r) => r.resource_metrics.iter_mut().for_each(|x| {
                self.apply(&mut x.resource);
            }),
            Records::Traces(r) => r.resource_spans.iter_mut().for_each(|x| {
                self.apply(&mut x.resource);
            }),
        }
        Verdict::Keep
    }
}

impl Processor for ResourceProcessor {
    /// On the request bytes while the batch has them; decoded when it has
    /// none or the wire path cannot take them.
    fn process(&mut self, batch: &mut Batch) -> Result<Verdict, DecodeError> {
        if let Some(encoded) = batch.encoded() {
            let rewritten = wire::each_request(encoded, |req| {
                self.process_encoded(req).map(Rewritten::from)
            });
            if let Ok(new) = rewritten {
                if let Some(new) = new {
                    batch.set_encoded(new);
                }
                return Ok(Verdict::Keep);
            }
        }
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
