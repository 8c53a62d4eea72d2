//! `ccpipe_kafka_consumer_lag`: per topic, the messages of the partitions
//! this member holds that the pipelines have not accepted yet (the broker's
//! high watermark minus the committed offset). Measured on its own thread
//! every few seconds rather than from librdkafka's statistics, which are
//! delivered only while the receiver polls: a receiver waiting on a full
//! pipeline does not poll, and that is when the lag matters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ccpipe_kafka::context::ConsumerMetrics;
use ccpipe_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use ccpipe_kafka::rdkafka::error::KafkaResult;
use ccpipe_kafka::rdkafka::Offset;
use ccpipe_pipeline::{telemetry, Shutdown};

/// How often the lag is measured.
const EVERY: Duration = Duration::from_secs(5);
/// How long one broker request of a measurement may take.
const REQUEST: Duration = Duration::from_secs(5);

/// Measures the lag of `topics` every [`EVERY`] until `shutdown`; a topic
/// of which this member holds no partition reads 0.
pub async fn watch(
    consumer: Arc<StreamConsumer<ConsumerMetrics>>,
    receiver: String,
    topics: Vec<String>,
    shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        let c = consumer.clone();
        match tokio::task::spawn_blocking(move || measure(&c)).await {
            Ok(Ok(lag)) => {
                for topic in &topics {
                    let n = lag.get(topic).copied().unwrap_or(0);
                    metrics::gauge!(telemetry::KAFKA_CONSUMER_LAG, "receiver" => receiver.clone(), "topic" => topic.clone())
                        .set(n as f64);
                }
            }
            // The broker is away or the group rebalancing: the next round.
            Ok(Err(e)) => tracing::debug!(receiver, "kafka: lag not measured: {e}"),
            Err(_) => return,
        }
    }
}

/// Per topic of the current assignment: high watermark minus the committed
/// offset, or minus the low watermark where nothing is committed yet.
fn measure(consumer: &StreamConsumer<ConsumerMetrics>) -> KafkaResult<BTreeMap<String, i64>> {
    let assigned = consumer.assignment()?;
    let committed = consumer.committed_offsets(assigned, REQUEST)?;
    let mut lag: BTreeMap<String, i64> = BTreeMap::new();
    for p in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(p.topic(), p.partition(), REQUEST)?;
        let from = match p.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        *lag.entry(p.topic().to_owned()).or_default() += (high - from).max(0);
    }
    Ok(lag)
}
