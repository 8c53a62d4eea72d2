//! The consumer's client context: librdkafka calls it on rebalances and
//! commits, and it turns them into ccpipe's `ccpipe_kafka_*` metrics
//! (names in `ccpipe_pipeline::telemetry`). librdkafka's own log lines reach
//! `tracing` through rdkafka's `tracing` feature.

use std::collections::BTreeMap;

use ccpipe_pipeline::telemetry;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::{ClientContext, TopicPartitionList};

/// A `kafka` receiver's context; `receiver` labels its metrics.
pub struct ConsumerMetrics {
    receiver: String,
}

impl ConsumerMetrics {
    pub fn new(receiver: &str) -> Self {
        ConsumerMetrics {
            receiver: receiver.to_owned(),
        }
    }

    fn rebalance(&self, kind: &'static str) {
        metrics::counter!(telemetry::KAFKA_REBALANCES, "receiver" => self.receiver.clone(), "kind" => kind)
            .increment(1);
    }
}

/// The lag is measured by the receiver itself (receivers/src/kafka/lag.rs):
/// librdkafka's statistics arrive only while the consumer is polled.
impl ClientContext for ConsumerMetrics {}

impl ConsumerContext for ConsumerMetrics {
    /// Before partitions are taken away, commits what the pipelines accepted
    /// of them, so the member that gets them next starts right after it.
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            if tpl.count() > 0 {
                match consumer.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                    Err(e) => tracing::warn!(
                        receiver = %self.receiver,
                        "kafka: committing before handing partitions over failed ({e}); \
                         the next member re-reads from the last commit"
                    ),
                }
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let held = |n: usize| {
            metrics::gauge!(telemetry::KAFKA_ASSIGNED_PARTITIONS, "receiver" => self.receiver.clone())
                .set(n as f64)
        };
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.rebalance("assign");
                held(tpl.count());
                tracing::info!(receiver = %self.receiver, partitions = %describe(tpl), "kafka: partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                self.rebalance("revoke");
                held(0);
                tracing::info!(receiver = %self.receiver, partitions = %describe(tpl), "kafka: partitions revoked");
            }
            Rebalance::Error(e) => {
                self.rebalance("error");
                tracing::warn!(receiver = %self.receiver, "kafka: rebalance failed: {e}");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        let outcome = match result {
            Ok(()) => "ok",
            // An interval with nothing new accepted: nothing was committed.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => return,
            Err(e) => {
                tracing::warn!(receiver = %self.receiver, "kafka: offset commit failed: {e}");
                "failed"
            }
        };
        metrics::counter!(telemetry::KAFKA_COMMITS, "receiver" => self.receiver.clone(), "result" => outcome)
            .increment(1);
    }
}

/// `topic[0,2] other[1]`, for log lines.
fn describe(tpl: &TopicPartitionList) -> String {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for e in tpl.elements() {
        by_topic
            .entry(e.topic().to_owned())
            .or_default()
            .push(e.partition());
    }
    by_topic
        .iter()
        .map(|(t, ps)| {
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{t}[{}]", ps.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
