//! The `kafka` receiver: a member of a consumer group reading OTLP export
//! requests (`otlp_proto` or `otlp_json`, as the Collector's kafka exporter
//! writes them) and handing them to its pipelines like the OTLP receiver.
//!
//! At least once: a message's offset is stored only after the pipelines
//! accepted it ([`Outputs::send`] returns once it is queued, and for a
//! pipeline with a durable exporter once it is in the write-ahead log), and
//! only stored offsets are committed. Messages are handled one at a time in
//! partition order, so a stored offset never passes one not yet accepted.
//! While a pipeline is full the receiver waits and stops polling, so
//! fetching stops once librdkafka's bounded prefetch is full. A message that
//! is not OTLP is counted (`ccpipe_kafka_poison_messages_total`), logged and
//! skipped. `config.rs` holds the settings.

pub mod config;
mod lag;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ccpipe_kafka::context::ConsumerMetrics;
use ccpipe_kafka::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use ccpipe_kafka::rdkafka::error::KafkaError;
use ccpipe_kafka::rdkafka::message::{BorrowedMessage, Headers, Message};
use ccpipe_kafka::rdkafka::types::RDKafkaErrorCode;
use ccpipe_kafka::{Encoding, SIGNAL_HEADER};
use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::factory::ReceiverFactory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::outputs::{Outputs, Refused};
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{
    telemetry, BoxFuture, BuildError, ComponentId, Kind, Receiver, ReceiverError, ServerError,
    Shutdown, Signal,
};

use crate::otlp::decode::{self, Format};
use config::Settings;

/// The `transport` label of this receiver's accepted/refused counters.
const TRANSPORT: &str = "kafka";

pub struct KafkaReceiver {
    id: String,
    /// The same id, typed, for the error `run` returns.
    component: ComponentId,
    /// Shared with the lag watcher ([`lag::watch`]).
    consumer: Arc<StreamConsumer<ConsumerMetrics>>,
    settings: Settings,
    outputs: Outputs,
    /// The topics of the signals some pipeline takes.
    topics: Vec<String>,
}

impl KafkaReceiver {
    /// Creates the consumer (reading any TLS files); it joins the group when run.
    pub fn new(id: &ComponentId, settings: Settings, outputs: Outputs) -> Result<Self, BuildError> {
        let mut topics: Vec<String> = Signal::ALL
            .into_iter()
            .filter(|s| outputs.accepts(*s))
            .map(|s| settings.topics.topic(s).to_owned())
            .collect();
        topics.dedup();
        topics.sort();
        topics.dedup();
        let mut config = settings.connection.client_config();
        for (key, value) in &settings.consumer {
            config.set(*key, value);
        }
        let consumer = config
            .create_with_context(ConsumerMetrics::new(&id.to_string()))
            .map_err(|e| {
                BuildError::new(
                    Kind::Receiver,
                    id,
                    format!("cannot create the Kafka consumer: {e}"),
                )
            })?;
        Ok(KafkaReceiver {
            id: id.to_string(),
            component: id.clone(),
            consumer: Arc::new(consumer),
            settings,
            outputs,
            topics,
        })
    }

    async fn serve(self, shutdown: Shutdown) -> Result<(), String> {
        if self.topics.is_empty() {
            return Ok(());
        }
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        self.consumer.subscribe(&topics).map_err(|e| {
            format!(
                "receiver {:?}: cannot subscribe to {topics:?}: {e}",
                self.id
            )
        })?;
        tracing::info!(receiver = %self.id, topics = ?topics, "kafka: joining the consumer group");
        let watcher = tokio::spawn(lag::watch(
            self.consumer.clone(),
            self.id.clone(),
            self.topics.clone(),
            shutdown.clone(),
        ));
        let mut failures = Failures::default();
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = self.consumer.recv() => m,
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    // The broker is away, a partition moved, ...: librdkafka
                    // reconnects by itself; say so once, and do not spin.
                    failures.note(&self.id, &e);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            };
            failures.clear(&self.id);
            match self.handle(&message, &shutdown).await {
                Handled::Done => {
                    if let Err(e) = self.consumer.store_offset_from_message(&message) {
                        // The partition was taken away meanwhile: its next
                        // owner reads the message again (counted as duplicates
                        // downstream, never lost).
                        tracing::debug!(receiver = %self.id, "kafka: offset not stored: {e}");
                    }
                }
                Handled::ShuttingDown => break,
            }
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(receiver = %self.id, "kafka: final offset commit failed: {e}"),
        }
        watcher.abort();
        Ok(())
    }

    /// Decodes one message and hands it to the pipelines, waiting while they are full.
    async fn handle(&self, m: &BorrowedMessage<'_>, shutdown: &Shutdown) -> Handled {
        let payload = match self.decode(m) {
            Ok(Some(p)) => p,
            Ok(None) => return Handled::Done,
            Err(reason) => {
                self.poison(m, reason);
                return Handled::Done;
            }
        };
        let signal = payload.signal();
        let items = payload.item_count() as u64;
        let mut backoff = Duration::from_millis(10);
        loop {
            match self
                .outputs
                .send(payload.clone(), self.settings.backpressure_wait)
                .await
            {
                Ok(()) => {
                    metrics::counter!(
                        telemetry::receiver_accepted(signal),
                        "receiver" => self.id.clone(),
                        "transport" => TRANSPORT,
                    )
                    .increment(items);
                    return Handled::Done;
                }
                Err(Refused::ShuttingDown) => return Handled::ShuttingDown,
                Err(Refused::NoPipeline(_)) => {
                    self.poison(m, Poison::NoPipeline);
                    return Handled::Done;
                }
                Err(Refused::Busy(_) | Refused::MemoryLimit) => {
                    metrics::counter!(telemetry::KAFKA_BACKPRESSURE_WAITS, "receiver" => self.id.clone())
                        .increment(1);
                    tokio::select! {
                        _ = shutdown.cancelled() => return Handled::ShuttingDown,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// The message's request; `None` for an empty one (nothing to deliver).
    fn decode(&self, m: &BorrowedMessage<'_>) -> Result<Option<Batch>, Poison> {
        let signal = self.signal_of(m)?;
        let Some(bytes) = m.payload().filter(|b| !b.is_empty()) else {
            return Ok(None);
        };
        let format = match self.settings.topics.encoding(signal) {
            Encoding::OtlpProto => Format::Protobuf,
            Encoding::OtlpJson => Format::Json,
        };
        let payload = decode::decode_within(
            signal,
            format,
            decode::Encoding::Identity,
            // Copied once, into an allocation of its size, by the decoder.
            bytes,
            usize::MAX,
            &self.settings.limits,
        )
        .map_err(|e| Poison::Malformed(e.to_string()))?;
        Ok((payload.item_count() > 0).then_some(payload))
    }

    /// The topic's signal, or on a topic several signals share, the header's.
    fn signal_of(&self, m: &BorrowedMessage<'_>) -> Result<Signal, Poison> {
        let signals = self.settings.topics.signals_of(m.topic());
        if let [one] = signals[..] {
            return Ok(one);
        }
        let named = m.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == SIGNAL_HEADER)
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(Signal::from_type)
        });
        match named {
            Some(s) if signals.contains(&s) => Ok(s),
            _ => Err(Poison::NoSignal),
        }
    }

    fn poison(&self, m: &BorrowedMessage<'_>, why: Poison) {
        metrics::counter!(
            telemetry::KAFKA_POISON_MESSAGES,
            "receiver" => self.id.clone(),
            "topic" => m.topic().to_owned(),
            "reason" => why.label(),
        )
        .increment(1);
        tracing::warn!(
            receiver = %self.id,
            "kafka: skipped the message at {}[{}]@{}: {}",
            m.topic(),
            m.partition(),
            m.offset(),
            why
        );
    }
}

enum Handled {
    /// Accepted, or skipped: its offset may be stored.
    Done,
    ShuttingDown,
}

/// Why a message is skipped.
#[derive(Debug, thiserror::Error)]
enum Poison {
    #[error("not an OTLP export request: {0}")]
    Malformed(String),
    #[error(
        "its topic carries several signals and its {SIGNAL_HEADER:?} header names none of them"
    )]
    NoSignal,
    #[error("no pipeline takes its signal")]
    NoPipeline,
}

impl Poison {
    fn label(&self) -> &'static str {
        match self {
            Poison::Malformed(_) => "malformed",
            Poison::NoSignal => "no_signal",
            Poison::NoPipeline => "no_pipeline",
        }
    }
}

/// Consumer errors, logged when they start and when they end, not per poll.
#[derive(Default)]
struct Failures {
    current: Option<String>,
}

impl Failures {
    fn note(&mut self, receiver: &str, e: &KafkaError) {
        let text = e.to_string();
        if self.current.as_deref() != Some(&text) {
            tracing::warn!(receiver, "kafka: {text}; retrying");
            self.current = Some(text);
        }
    }

    fn clear(&mut self, receiver: &str) {
        if self.current.take().is_some() {
            tracing::info!(receiver, "kafka: consuming again");
        }
    }
}

impl Receiver for KafkaReceiver {
    /// It listens on nothing: it connects out to the brokers.
    fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        Vec::new()
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ReceiverError>> {
        Box::pin(async move {
            let id = self.component.clone();
            self.serve(shutdown).await.map_err(|e| ReceiverError {
                id,
                failed: vec![ServerError {
                    server: "Kafka consumer",
                    source: e.into(),
                }],
            })
        })
    }
}

/// `kafka`: OTLP export requests from Kafka topics, as a consumer group member.
pub struct Factory;

impl ccpipe_pipeline::factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "kafka"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        config::from_component(cfg).map(drop)
    }
}

impl ReceiverFactory for Factory {
    fn build<'a>(
        &'a self,
        cfg: &'a ComponentConfig,
        outputs: Outputs,
        _: &'a Listeners,
    ) -> BoxFuture<'a, Result<Box<dyn Receiver>, BuildError>> {
        Box::pin(async move {
            let settings = config::from_component(cfg)?;
            let receiver = KafkaReceiver::new(cfg.id(), settings, outputs)?;
            Ok(Box::new(receiver) as Box<dyn Receiver>)
        })
    }
}
