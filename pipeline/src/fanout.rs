//! After the last processor, a batch goes to one bounded queue per exporter.
//! It is shared behind an `Arc`, never copied per exporter, and decoded at
//! most once, only if some exporter needs it decoded. A full queue blocks the
//! chain thread (backpressure), so only that exporter's backlog, not its
//! data, is lost to the others.

use std::sync::Arc;

use crate::channel::QueueSender;
use crate::payload::{Payload, Shared};

/// Sending side of one exporter's queue.
#[derive(Clone)]
pub struct ExporterInput {
    pub exporter: String,
    pub sender: QueueSender<Shared>,
    /// The exporter takes still-encoded protobuf (see `Exporter::accepts_encoded`).
    pub accepts_encoded: bool,
}

pub struct Fanout {
    pipeline: String,
    targets: Vec<ExporterInput>,
    all_accept_encoded: bool,
}

impl Fanout {
    pub fn new(pipeline: impl Into<String>, targets: Vec<ExporterInput>) -> Self {
        let all_accept_encoded = targets.iter().all(|t| t.accepts_encoded);
        Fanout {
            pipeline: pipeline.into(),
            targets,
            all_accept_encoded,
        }
    }

    /// Delivers `payload` to every exporter queue, blocking while one is full.
    pub fn send(&self, payload: Payload) {
        let items = payload.item_count();
        let signal = payload.signal();
        let (encoded, decoded) = match payload {
            Payload::Decoded(b) => (None, Some(Arc::new(b))),
            Payload::Encoded(e) if self.all_accept_encoded => (Some(Arc::new(e)), None),
            Payload::Encoded(e) => match e.decode() {
                Ok(b) => (Some(Arc::new(e)), Some(Arc::new(b))),
                Err(err) => {
                    self.lost(None, items, signal, &format!("cannot decode: {err}"));
                    return;
                }
            },
        };
        for target in &self.targets {
            let shared = match (&encoded, &decoded) {
                (Some(e), _) if target.accepts_encoded => Shared::Encoded(Arc::clone(e)),
                (_, Some(b)) => Shared::Decoded(Arc::clone(b)),
                (Some(e), None) => Shared::Encoded(Arc::clone(e)),
                (None, None) => unreachable!("a payload is encoded or decoded"),
            };
            if target.sender.send_blocking(shared).is_err() {
                // Export tasks outlive the chains that feed them; reaching this
                // means an export task died. Say so loudly and count the loss.
                self.lost(
                    Some(&target.exporter),
                    items,
                    signal,
                    "exporter queue closed",
                );
            }
        }
    }

    fn lost(&self, exporter: Option<&str>, items: usize, signal: crate::Signal, why: &str) {
        let exporter = exporter.unwrap_or("all");
        tracing::error!(pipeline = %self.pipeline, exporter, items, "{why}; {items} {} lost", signal.item_noun());
        metrics::counter!(
            crate::telemetry::EXPORTER_FAILED_ITEMS,
            "exporter" => exporter.to_owned(),
            "signal" => signal.as_str(),
            "reason" => "queue_closed"
        )
        .increment(items as u64);
    }
}
