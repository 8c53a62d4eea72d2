//! Where both servers hand their batches: the receiver's pipelines, the wait
//! for room in them, the bearer-token check and the accepted/refused
//! counters. Apart from `otlp.rs` so that `grpc.rs` and `http.rs` need not
//! import the module that starts them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ccpipe_pipeline::limits::{LimitError, Limits};
use ccpipe_pipeline::outputs::{Outputs, Refused};
use ccpipe_pipeline::telemetry;
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{ComponentId, Signal};
use metrics::SharedString;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::body;
use super::decode::DEFAULT_LIMITS;
use super::security::BearerToken;

/// Which server a batch came in through (the `transport` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

/// Where both servers hand their batches: the receiver's pipelines, how long
/// to wait for room in them, and the accepted/refused counters.
pub struct Sink {
    receiver: SharedString,
    outputs: Outputs,
    wait: Duration,
    auth: Option<BearerToken>,
    limits: Limits,
    intake: Arc<Semaphore>,
}

/// The bytes of request bodies one receiver reads, decodes and hands to
/// its pipelines at a time (by `content-length`). 32 busy connections each
/// reading a 162 KB JSON body held 5 MB of half-read bodies and their
/// transcodes at once, where one core gains nothing from more than a few
/// bodies in progress: a body waits for its share before it is read (in
/// the kernel's socket buffers, not the heap), in arrival order. A body
/// larger than this has it all.
/// 512 KiB (1 MiB in session 6) still lets three such bodies or ten 50 KB
/// protobuf ones in at once.
pub const INTAKE_BYTES: usize = 512 << 10;

/// A share of [`INTAKE_BYTES`], held until the body's batch is in the
/// pipelines' queues (or refused).
pub struct Intake {
    _permit: Option<OwnedSemaphorePermit>,
}

/// The message of a 401 / UNAUTHENTICATED answer. It never says what the
/// client sent.
pub const UNAUTHENTICATED: &str = "missing or invalid bearer token";

impl Sink {
    pub fn new(receiver: &ComponentId, outputs: Outputs, backpressure_wait: Duration) -> Sink {
        Sink {
            receiver: SharedString::from_shared(Arc::from(receiver.to_string())),
            outputs,
            wait: backpressure_wait,
            auth: None,
            limits: DEFAULT_LIMITS,
            intake: Arc::new(Semaphore::new(INTAKE_BYTES)),
        }
    }

    /// Waits until `sent` bytes of body may be read (see [`INTAKE_BYTES`]),
    /// or `deadline` passes: the body is then read anyway, so a client that
    /// holds its share by sending slowly delays others by at most
    /// `backpressure_wait` and refuses nobody.
    pub async fn intake(&self, sent: u64, deadline: Instant) -> Intake {
        let share = usize::try_from(sent)
            .unwrap_or(INTAKE_BYTES)
            .min(INTAKE_BYTES);
        let Ok(share) = u32::try_from(share) else {
            return Intake { _permit: None };
        };
        let acquire = self.intake.clone().acquire_many_owned(share);
        let permit = tokio::time::timeout_at(deadline.into(), acquire).await;
        Intake {
            _permit: permit.ok().and_then(Result::ok),
        }
    }

    /// The bytes of [`INTAKE_BYTES`] held by requests now.
    #[cfg(test)]
    pub(crate) fn intake_held(&self) -> usize {
        INTAKE_BYTES - self.intake.available_permits()
    }

    /// Refuses requests whose attributes exceed `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Sink {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `body`, counted against `service.memory_limit_mib` while it is read
    /// and decoded, and failing if not received `within`.
    pub fn meter<B>(&self, body: B, within: Option<Duration>) -> body::Metered<B> {
        body::Metered::new(body, self.outputs.memory_limit(), within)
    }

    /// Counts a request refused before its body could be decoded (its items
    /// are unknown), so the refusal shows in ccpipe's own metrics.
    pub fn refused_unread(&self, transport: Transport, reason: &'static str) {
        metrics::counter!(
            telemetry::RECEIVER_REFUSED_UNREAD,
            "receiver" => self.receiver.clone(),
            "transport" => transport.as_str(),
            "reason" => reason,
        )
        .increment(1);
    }

    /// Whether a body of `len` bytes would fit the memory limit now.
    pub fn has_room_for(&self, len: u64) -> bool {
        self.outputs
            .memory_limit()
            .is_none_or(|limit| limit.admits(usize::try_from(len).unwrap_or(usize::MAX)))
    }

    /// Counts a request over the limits, with its `items`, as refused, and
    /// returns the message for the client, naming the config key.
    pub fn over_limits(
        &self,
        signal: Signal,
        transport: Transport,
        items: usize,
        error: &LimitError,
    ) -> String {
        self.count_refused(signal, transport, "attribute_limits", items as u64);
        let prefix = format!("receivers.{}.limits.", self.receiver);
        let message = error.describe(&prefix).to_string();
        message
    }

    /// Requires `Authorization: Bearer <token>` on every request.
    pub fn with_auth(mut self, token: Option<BearerToken>) -> Sink {
        self.auth = token;
        self
    }

    /// True when no token is required or `authorization` carries it; a
    /// refusal is counted.
    pub fn admits(
        &self,
        authorization: Option<&::http::HeaderValue>,
        transport: Transport,
    ) -> bool {
        let Some(token) = &self.auth else {
            return true;
        };
        if token.admits(authorization) {
            return true;
        }
        metrics::counter!(
            telemetry::RECEIVER_UNAUTHENTICATED,
            "receiver" => self.receiver.clone(),
            "transport" => transport.as_str(),
        )
        .increment(1);
        false
    }

    /// When a request arriving now stops waiting for room or for its
    /// intake share: `backpressure_wait` from now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.wait
    }

    /// Waits, until `deadline` at the latest, until the pipelines of
    /// `signal` have room for a request expected to weigh `cost` bytes.
    /// Called before a body is read: under overload the waiting bodies stay
    /// in the kernel's socket buffers instead of the heap. When the wait
    /// ends without room the body is read anyway and the delivery refuses
    /// it, counting its items, as before.
    pub async fn wait_for_room(&self, signal: Signal, cost: usize, deadline: Instant) {
        self.outputs.wait_for_room(signal, cost, deadline).await;
    }

    /// Sends one decoded request to every pipeline of its signal, counting
    /// its items as accepted or refused. A request with no items is answered
    /// as accepted without bothering the pipelines.
    pub async fn deliver(&self, batch: Batch, transport: Transport) -> Result<(), Refused> {
        self.deliver_by(batch, transport, Instant::now() + self.wait)
            .await
    }

    /// [`deliver`](Self::deliver), waiting for room until `deadline`.
    pub async fn deliver_by(
        &self,
        batch: Batch,
        transport: Transport,
        deadline: Instant,
    ) -> Result<(), Refused> {
        let signal = batch.signal();
        let items = batch.item_count() as u64;
        if items == 0 {
            return match self.outputs.accepts(signal) {
                true => Ok(()),
                false => Err(Refused::NoPipeline(signal)),
            };
        }
        let result = self.outputs.send_by(batch, deadline).await;
        match &result {
            Ok(()) => metrics::counter!(
                telemetry::receiver_accepted(signal),
                "receiver" => self.receiver.clone(),
                "transport" => transport.as_str(),
            )
            .increment(items),
            Err(refused) => self.count_refused(signal, transport, refusal_reason(refused), items),
        }
        result
    }

    fn count_refused(
        &self,
        signal: Signal,
        transport: Transport,
        reason: &'static str,
        items: u64,
    ) {
        metrics::counter!(
            telemetry::receiver_refused(signal),
            "receiver" => self.receiver.clone(),
            "transport" => transport.as_str(),
            "reason" => reason,
        )
        .increment(items);
    }
}

/// The `reason` label of a refusal.
fn refusal_reason(refused: &Refused) -> &'static str {
    match refused {
        Refused::NoPipeline(_) => "no_pipeline",
        Refused::Busy(_) => "busy",
        Refused::ShuttingDown => "shutting_down",
        Refused::MemoryLimit => "memory_limit",
    }
}
