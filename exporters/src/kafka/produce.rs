//! The producer: enqueues a batch's messages, waits for every
//! acknowledgement, splits a message the brokers find too large, and sorts
//! failures into retryable and permanent as the OTLP exporters do (a
//! refused size splits, a malformed or unauthorized request is permanent,
//! anything else, an outage or a timeout, is retried by the export task).

use ccpipe_kafka::rdkafka::config::ClientConfig;
use ccpipe_kafka::rdkafka::error::KafkaError;
use ccpipe_kafka::rdkafka::message::{Header, OwnedHeaders};
use ccpipe_kafka::rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use ccpipe_kafka::rdkafka::types::RDKafkaErrorCode;
use ccpipe_kafka::SIGNAL_HEADER;
use ccpipe_pipeline::{telemetry, ExportError, Signal};

use super::KafkaSettings;

/// One Kafka message: an export request of `signal`, with its key.
pub struct Message {
    key: Option<String>,
    signal: Signal,
    bytes: Vec<u8>,
}

impl Message {
    pub fn new(key: Option<String>, signal: Signal, bytes: Vec<u8>) -> Self {
        Message { key, signal, bytes }
    }

    #[cfg(test)]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

pub struct Producer {
    inner: FutureProducer,
    /// To create a fresh producer after one went stale.
    config: ClientConfig,
    /// The last round failed in a way a new producer (a new producer id)
    /// gets past: the brokers lost its idempotence state, or it hit a fatal
    /// error. Replaced before the next round.
    stale: bool,
    exporter: String,
}

/// A message enqueued, and the future of its acknowledgement.
type InFlight = (Message, DeliveryFuture);

impl Producer {
    pub fn new(exporter: &str, settings: &KafkaSettings) -> Result<Producer, CreateError> {
        let mut config = settings.connection.client_config();
        for (key, value) in &settings.producer {
            config.set(*key, value);
        }
        let inner = create(&config)?;
        Ok(Producer {
            inner,
            config,
            stale: false,
            exporter: exporter.to_owned(),
        })
    }

    /// Produces `messages` and waits until the brokers acknowledged all of
    /// them. On a retryable error some may already be in Kafka; the retry
    /// produces them again (at least once, as every exporter).
    pub async fn produce(
        &mut self,
        settings: &KafkaSettings,
        mut messages: Vec<Message>,
    ) -> Result<(), ExportError> {
        if self.stale {
            self.inner = create(&self.config).map_err(ExportError::retryable)?;
            self.stale = false;
            tracing::info!(exporter = %self.exporter, "kafka: replaced the producer after the last failure");
        }
        while !messages.is_empty() {
            let mut in_flight: Vec<InFlight> = Vec::with_capacity(messages.len());
            let mut settled = Settled::default();
            for m in messages.drain(..) {
                let sent = match self.enqueue(settings, &m) {
                    // librdkafka's queue is full: wait for what is in flight.
                    Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                        self.settle(settings, std::mem::take(&mut in_flight), &mut settled)
                            .await;
                        self.enqueue(settings, &m)
                    }
                    other => other,
                };
                match sent {
                    Ok(delivery) => in_flight.push((m, delivery)),
                    Err(e) if too_large(&e) => settled.too_large.push(m),
                    Err(e) => settled.fail_with(&e),
                }
            }
            self.settle(settings, in_flight, &mut settled).await;
            if settled.needs_new_producer {
                self.stale = true;
            }
            if let Some(e) = settled.error {
                return Err(e);
            }
            for m in settled.too_large {
                messages.extend(halves(settings, m)?);
            }
        }
        Ok(())
    }

    fn enqueue(&self, settings: &KafkaSettings, m: &Message) -> Result<DeliveryFuture, KafkaError> {
        let topic = settings.topics.topic(m.signal);
        let headers = OwnedHeaders::new().insert(Header {
            key: SIGNAL_HEADER,
            value: Some(m.signal.as_str()),
        });
        let mut record = FutureRecord::to(topic)
            .payload(m.bytes.as_slice())
            .headers(headers);
        if let Some(k) = &m.key {
            record = record.key(k.as_str());
        }
        self.inner.send_result(record).map_err(|(e, _)| e)
    }

    /// Waits for the acknowledgements of `in_flight`.
    async fn settle(
        &self,
        settings: &KafkaSettings,
        in_flight: Vec<InFlight>,
        settled: &mut Settled,
    ) {
        for (m, delivery) in in_flight {
            match delivery.await {
                Ok(Ok(_)) => {
                    metrics::counter!(
                        telemetry::KAFKA_PRODUCED_MESSAGES,
                        "exporter" => self.exporter.clone(),
                        "topic" => settings.topics.topic(m.signal).to_owned(),
                    )
                    .increment(1);
                }
                Ok(Err((e, _))) if too_large(&e) => settled.too_large.push(m),
                Ok(Err((e, _))) => settled.fail_with(&e),
                Err(_) => settled.fail(ExportError::retryable("the Kafka producer closed")),
            }
        }
    }
}

/// What the acknowledgements of one round said.
#[derive(Default)]
struct Settled {
    /// The first failure; a permanent one wins over a retryable one.
    error: Option<ExportError>,
    too_large: Vec<Message>,
    needs_new_producer: bool,
}

impl Settled {
    fn fail_with(&mut self, e: &KafkaError) {
        self.needs_new_producer |= needs_new_producer(e);
        self.fail(classify(e));
    }

    fn fail(&mut self, e: ExportError) {
        match (&self.error, &e) {
            (None, _) | (Some(ExportError::Retryable { .. }), ExportError::Permanent(_)) => {
                self.error = Some(e)
            }
            _ => {}
        }
    }
}

/// The message's request split in two halves by items, each re-encoded, or
/// a permanent error for a single record over the size limit.
pub(super) fn halves(settings: &KafkaSettings, m: Message) -> Result<Vec<Message>, ExportError> {
    let encoding = settings.topics.encoding(m.signal);
    let mut batch = super::decode(m.signal, encoding, &m.bytes).map_err(|e| {
        ExportError::permanent(format!(
            "cannot split a message the brokers refused as too large: {e}"
        ))
    })?;
    let items = batch.item_count();
    if items <= 1 {
        return Err(ExportError::permanent(format!(
            "a single record of {} bytes is larger than the brokers accept (max_message_bytes: {})",
            m.bytes.len(),
            settings.max_message_bytes
        )));
    }
    let head = batch.split_front(items / 2);
    Ok([head, batch]
        .into_iter()
        .map(|b| Message::new(m.key.clone(), m.signal, super::encode(&b, encoding)))
        .collect())
}

/// librdkafka refused the producer's settings.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the Kafka producer: {0}")]
pub struct CreateError(#[from] KafkaError);

fn create(config: &ClientConfig) -> Result<FutureProducer, CreateError> {
    Ok(config.create()?)
}

/// Failures a producer does not get past by itself: librdkafka keeps
/// retrying with a producer id the brokers no longer know (a broker that
/// lost its state, an expired producer id) until the message times out,
/// and a fatal error ends the producer. A new one starts clean.
pub fn needs_new_producer(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code(e),
        Some(
            C::MessageTimedOut
                | C::Fatal
                | C::UnknownProducerId
                | C::OutOfOrderSequenceNumber
                | C::InvalidProducerEpoch
                | C::InvalidProducerIdMapping
        )
    )
}

fn code(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    e.rdkafka_error_code()
}

fn too_large(e: &KafkaError) -> bool {
    code(e) == Some(RDKafkaErrorCode::MessageSizeTooLarge)
}

/// Retryable unless sending the same message again cannot succeed.
pub fn classify(e: &KafkaError) -> ExportError {
    use RDKafkaErrorCode as C;
    let permanent = matches!(
        code(e),
        Some(
            C::InvalidMessage
                | C::InvalidMessageSize
                | C::InvalidRecord
                | C::InvalidTopic
                | C::InvalidRequiredAcks
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::SaslAuthenticationFailed
                | C::Authentication
                | C::PolicyViolation
        )
    );
    let message = format!("kafka: {e}");
    if permanent {
        ExportError::permanent(message)
    } else {
        ExportError::retryable(message)
    }
}
