//! The `kafka` exporter: OTLP batches to Kafka topics, one export request
//! per message, in the Collector's `otlp_proto` or `otlp_json`, so a
//! Collector's kafka receiver reads them as well as ours.
//!
//! Without a `key_attribute`, protobuf requests still encoded as received are
//! produced as those bytes, never decoded. With one, the batch is grouped by
//! key ([`key::split`]) so each message carries a single key and a whole
//! session lands in one partition. Every message waits for the brokers'
//! acknowledgement (acks=all, idempotent by default) before the export
//! returns, so a batch leaves the `sending_queue` only once it is in Kafka.
//!
//! `config.rs`: settings; `factory.rs`: the factory; `key.rs`: grouping by
//! key; `produce.rs`: the producer and how its errors are classified.

pub mod config;
mod factory;
pub mod key;
mod produce;

#[cfg(test)]
mod tests;

use ccpipe_kafka::Encoding;
use ccpipe_pipeline::Encoded;
use ccpipe_pipeline::{otlp_json, Batch, BoxFuture, ExportError, Exporter, Form, Records, Signal};

pub use config::{KafkaConfig, KafkaSettings};
pub use factory::Factory;
use produce::{Message, Producer};

pub struct KafkaExporter {
    producer: Producer,
    settings: KafkaSettings,
}

impl KafkaExporter {
    /// Creates the producer (reading any TLS files); it connects on the
    /// first message.
    pub fn new(id: &str, settings: KafkaSettings) -> Result<Self, produce::CreateError> {
        let producer = Producer::new(id, &settings)?;
        Ok(KafkaExporter { producer, settings })
    }

    /// The messages of a decoded batch: one, or one per key value.
    fn messages(&self, batch: &Records) -> Vec<Message> {
        let signal = batch.signal();
        let encoding = self.settings.topics.encoding(signal);
        match &self.settings.key_attribute {
            None => vec![Message::new(None, signal, encode(batch, encoding))],
            Some(key) => key::split(batch, key)
                .into_iter()
                .map(|(k, part)| Message::new(k, signal, encode(&part, encoding)))
                .collect(),
        }
    }

    /// The message of a still-encoded request (no key is configured).
    fn encoded_message(&self, batch: &Encoded) -> Result<Message, ExportError> {
        let signal = batch.signal();
        let bytes = match self.settings.topics.encoding(signal) {
            Encoding::OtlpProto => batch.parts().concat(),
            Encoding::OtlpJson => {
                let mut out = Vec::new();
                if otlp_json::transcode(batch, &mut out).is_err() {
                    // What the transcoder does not write itself, the decoded
                    // batch's encoder does.
                    out.clear();
                    let decoded = batch.decode().map_err(|e| {
                        ExportError::permanent(format!("a validated request failed to decode: {e}"))
                    })?;
                    otlp_json::encode(&decoded, &mut out);
                }
                out
            }
        };
        Ok(Message::new(None, signal, bytes))
    }
}

/// One export request of `batch` in `encoding`.
fn encode(batch: &Records, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::OtlpProto => ccpipe_pipeline::encode::encode(batch),
        Encoding::OtlpJson => {
            let mut out = Vec::new();
            otlp_json::encode(batch, &mut out);
            out
        }
    }
}

/// Why a message's own bytes did not decode again (a bug: ccpipe wrote them).
#[derive(Debug, thiserror::Error)]
enum RedecodeError {
    #[error(transparent)]
    Wire(#[from] ccpipe_pipeline::wire::WireError),
    #[error(transparent)]
    Proto(#[from] prost::DecodeError),
    #[error(transparent)]
    Json(#[from] otlp_json::JsonError),
}

/// A message's request decoded again, to split one the brokers found too large.
fn decode(signal: Signal, encoding: Encoding, bytes: &[u8]) -> Result<Records, RedecodeError> {
    Ok(match encoding {
        Encoding::OtlpProto => Encoded::new(signal, bytes.to_vec().into())?.decode()?,
        Encoding::OtlpJson => otlp_json::decode(signal, bytes)?,
    })
}

impl Exporter for KafkaExporter {
    /// Encoded requests pass through unless they must be grouped by key.
    fn prefers(&self) -> Form {
        match self.settings.key_attribute {
            None => Form::Encoded,
            Some(_) => Form::Decoded,
        }
    }

    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let messages = match (batch.encoded(), &self.settings.key_attribute) {
                (Some(encoded), None) => vec![self.encoded_message(encoded)?],
                _ => {
                    let decoded = batch.records().map_err(ExportError::permanent)?;
                    self.messages(decoded)
                }
            };
            self.producer.produce(&self.settings, messages).await
        })
    }

    /// Every export waited for its acknowledgements: nothing is buffered.
    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }
}
