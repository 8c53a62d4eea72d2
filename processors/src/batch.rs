//! `batch`: merges small batches of one signal into larger ones, as the
//! Collector's batch processor does. The merging itself lives in the pipeline
//! core ([`ccpipe_pipeline::batcher`]) because the chain drives its timer;
//! this file is its config and its factory, which builds a
//! [`Stage::Batch`]. It holds records between requests, so a pipeline with a
//! durable queue refuses it at validate (see docs/durability.md).
//!
//! ```yaml
//! processors:
//!   batch:
//!     send_batch_size: 8192      # emit once this many items are pending (0: only on timeout)
//!     send_batch_max_size: 0     # never emit more at once (0: no limit)
//!     timeout: 200ms             # emit what is pending this long after it arrived
//! ```

use ccpipe_pipeline::batcher::{BatchSettings, Batcher};
use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::units::Duration;
use ccpipe_pipeline::config::ComponentConfig;
use ccpipe_pipeline::factory::{ComponentSettings, ProcessorSettings, Typed};
use ccpipe_pipeline::Signal;
use serde::Deserialize;

use crate::Invalid;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    pub send_batch_size: usize,
    pub send_batch_max_size: usize,
    pub timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        let d = BatchSettings::default();
        BatchConfig {
            send_batch_size: d.send_batch_size,
            send_batch_max_size: d.send_batch_max_size,
            timeout: Duration(d.timeout),
        }
    }
}

impl BatchConfig {
    pub fn settings(&self) -> BatchSettings {
        BatchSettings {
            send_batch_size: self.send_batch_size,
            send_batch_max_size: self.send_batch_max_size,
            timeout: self.timeout.0,
        }
    }

    pub fn build(&self) -> Result<Batcher, Invalid> {
        self.validate()?;
        Ok(Batcher::new(self.settings()))
    }
}

/// `batch`: merges requests into larger batches. It holds records between
/// requests, so a pipeline with a durable queue refuses it (see
/// [`ccpipe_pipeline::factory::ProcessorFactory::holds_records`]).
pub type Factory = Typed<BatchConfig>;

impl ComponentSettings for BatchConfig {
    const TYPE: &'static str = "batch";

    fn validate(&self) -> Result<(), Invalid> {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(Invalid::new(
                "send_batch_max_size",
                format!(
                    "must be 0 (no limit) or at least send_batch_size ({}), got {}",
                    self.send_batch_size, self.send_batch_max_size
                ),
            ));
        }
        Ok(())
    }
}

impl ProcessorSettings for BatchConfig {
    const HOLDS_RECORDS: bool = true;

    fn stage(self, _: &ComponentConfig, _: Signal) -> Result<Stage, Invalid> {
        Ok(Stage::Batch(self.build()?))
    }
}
