//! Names of ccpipe's own metrics, in one place, after the OpenTelemetry
//! Collector's (`otelcol_receiver_accepted_log_records` and so on), with the
//! Prometheus `_total` suffix on counters. Recorded through the `metrics`
//! facade; the binary serves them in Prometheus text on
//! `service.telemetry.metrics.address`.
//!
//! Item counters come in three names, one per signal, chosen with the
//! functions below: log records, metric data points, spans.

use crate::Signal;

/// One counter name per signal: logs, metrics, traces.
type PerSignal = [&'static str; 3];

fn pick(names: &PerSignal, signal: Signal) -> &'static str {
    match signal {
        Signal::Logs => names[0],
        Signal::Metrics => names[1],
        Signal::Traces => names[2],
    }
}

const RECEIVER_ACCEPTED: PerSignal = [
    "ccpipe_receiver_accepted_log_records_total",
    "ccpipe_receiver_accepted_metric_points_total",
    "ccpipe_receiver_accepted_spans_total",
];
const RECEIVER_REFUSED: PerSignal = [
    "ccpipe_receiver_refused_log_records_total",
    "ccpipe_receiver_refused_metric_points_total",
    "ccpipe_receiver_refused_spans_total",
];
const PROCESSOR_DROPPED: PerSignal = [
    "ccpipe_processor_dropped_log_records_total",
    "ccpipe_processor_dropped_metric_points_total",
    "ccpipe_processor_dropped_spans_total",
];
const EXPORTER_SENT: PerSignal = [
    "ccpipe_exporter_sent_log_records_total",
    "ccpipe_exporter_sent_metric_points_total",
    "ccpipe_exporter_sent_spans_total",
];
const EXPORTER_SEND_FAILED: PerSignal = [
    "ccpipe_exporter_send_failed_log_records_total",
    "ccpipe_exporter_send_failed_metric_points_total",
    "ccpipe_exporter_send_failed_spans_total",
];
const EXPORTER_REJECTED: PerSignal = [
    "ccpipe_exporter_rejected_log_records_total",
    "ccpipe_exporter_rejected_metric_points_total",
    "ccpipe_exporter_rejected_spans_total",
];

/// Items a receiver accepted into its pipelines. Labels: receiver, transport.
pub fn receiver_accepted(signal: Signal) -> &'static str {
    pick(&RECEIVER_ACCEPTED, signal)
}

/// Items a receiver refused (backpressure, shutdown, no pipeline, over the
/// attribute limits). Labels: receiver, transport, reason.
pub fn receiver_refused(signal: Signal) -> &'static str {
    pick(&RECEIVER_REFUSED, signal)
}

/// Items a processor dropped on purpose (or could not decode). Labels:
/// processor, pipeline.
pub fn processor_dropped(signal: Signal) -> &'static str {
    pick(&PROCESSOR_DROPPED, signal)
}

/// Items an exporter delivered. Labels: exporter.
pub fn exporter_sent(signal: Signal) -> &'static str {
    pick(&EXPORTER_SENT, signal)
}

/// Items an exporter gave up on. Labels: exporter, reason (permanent |
/// retries_exhausted | shutdown | queue_closed).
pub fn exporter_send_failed(signal: Signal) -> &'static str {
    pick(&EXPORTER_SEND_FAILED, signal)
}

/// Items the destination accepted the request for but rejected in a
/// partial-success answer. Labels: exporter.
pub fn exporter_rejected(signal: Signal) -> &'static str {
    pick(&EXPORTER_REJECTED, signal)
}

/// Items an exporter gave up on where the signal is not at hand (e.g. records
/// dropped from a durable queue); prefer [`exporter_send_failed`]. Labels:
/// exporter, signal ("any"), reason.
pub const EXPORTER_FAILED_ITEMS: &str = "ccpipe_exporter_send_failed_items_total";
/// Export attempts that failed and will be retried. Labels: exporter.
pub const EXPORTER_RETRIES: &str = "ccpipe_exporter_retries_total";
/// Batches (in-memory queue) or records (durable queue) waiting in an
/// exporter's queue, the one being exported included for a durable queue
/// (gauge). Labels: exporter.
pub const EXPORTER_QUEUE_SIZE: &str = "ccpipe_exporter_queue_size";
/// How many batches an exporter's in-memory queue holds at most (gauge; a
/// durable queue is bounded in bytes only). Labels: exporter.
pub const EXPORTER_QUEUE_CAPACITY: &str = "ccpipe_exporter_queue_capacity";
/// Bytes waiting in an exporter's queue: the estimated memory of the queued
/// batches, or the bytes of the records on disk not yet exported (gauge).
/// Labels: exporter.
pub const EXPORTER_QUEUE_BYTES: &str = "ccpipe_exporter_queue_bytes";
/// The byte bound of an exporter's queue: its memory budget, or a durable
/// queue's `max_size` (gauge). Labels: exporter.
pub const EXPORTER_QUEUE_CAPACITY_BYTES: &str = "ccpipe_exporter_queue_capacity_bytes";
/// Records a durable queue found damaged or missing on disk and skipped
/// (their items cannot be read); a damaged stretch counts as one record, a
/// missing segment as the records it held. Labels: exporter.
pub const EXPORTER_QUEUE_CORRUPT_RECORDS: &str = "ccpipe_exporter_queue_corrupt_records_total";
/// Bytes of the damaged stretches a durable queue skipped (missing segments
/// add none: their size is unknown). Labels: exporter.
pub const EXPORTER_QUEUE_CORRUPT_BYTES: &str = "ccpipe_exporter_queue_corrupt_bytes_total";
/// Attributes a redaction processor removed or replaced, and secrets it
/// masked in values. Labels: processor, reason (content | blocked_key |
/// not_allowed | secret).
pub const REDACTION_MASKED: &str = "ccpipe_redaction_masked_total";
/// Always 1; the labels say what runs. Labels: version.
pub const BUILD_INFO: &str = "ccpipe_build_info";
/// HTTP requests refused before decoding because their credentials were
/// missing or wrong. Labels: receiver, transport.
pub const RECEIVER_UNAUTHENTICATED: &str = "ccpipe_receiver_unauthenticated_requests_total";
/// Requests refused while their body was still being read, so their items
/// are unknown: `memory_limit` (bodies in flight reached
/// `service.memory_limit_mib`), `too_large` (over the body size limit) or
/// `read_timeout` (not received in time). Labels: receiver, transport, reason.
pub const RECEIVER_REFUSED_UNREAD: &str = "ccpipe_receiver_refused_unread_requests_total";
/// Events a connector folded into its overflow series because an interval
/// already had its maximum of series (`max_series`). Labels: connector.
pub const CONNECTOR_OVERFLOW_EVENTS: &str = "ccpipe_connector_overflow_events_total";
/// Traces a connector sent before their wait was over because it already
/// held its maximum (`max_traces`). Labels: connector.
pub const CONNECTOR_EARLY_TRACES: &str = "ccpipe_connector_early_traces_total";

/// Messages a `kafka` receiver skipped, committing past them: not OTLP in
/// the topic's encoding or over the attribute limits (`malformed`), on a
/// topic several signals share without a signal header (`no_signal`), or of
/// a signal no pipeline takes (`no_pipeline`). Labels: receiver, topic,
/// reason.
pub const KAFKA_POISON_MESSAGES: &str = "ccpipe_kafka_poison_messages_total";
/// Offset commits of a `kafka` receiver's consumer group, by result (ok |
/// failed); only offsets of messages the pipelines accepted are committed.
/// Labels: receiver, result.
pub const KAFKA_COMMITS: &str = "ccpipe_kafka_offset_commits_total";
/// Partition assignments and revocations a `kafka` receiver went through.
/// Labels: receiver, kind (assign | revoke | error).
pub const KAFKA_REBALANCES: &str = "ccpipe_kafka_rebalances_total";
/// Messages in the partitions a `kafka` receiver holds that its pipelines
/// have not accepted yet (high watermark minus committed offset), per topic
/// (gauge, measured every 5 s). Labels: receiver, topic.
pub const KAFKA_CONSUMER_LAG: &str = "ccpipe_kafka_consumer_lag";
/// Partitions a `kafka` receiver holds now (gauge). Labels: receiver.
pub const KAFKA_ASSIGNED_PARTITIONS: &str = "ccpipe_kafka_assigned_partitions";
/// Times a `kafka` receiver waited because its pipelines refused a message
/// (full queue); it stops fetching meanwhile. Labels: receiver.
pub const KAFKA_BACKPRESSURE_WAITS: &str = "ccpipe_kafka_backpressure_waits_total";
/// Messages a `kafka` exporter produced, acknowledged by the brokers.
/// Labels: exporter, topic.
pub const KAFKA_PRODUCED_MESSAGES: &str = "ccpipe_kafka_produced_messages_total";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_has_its_own_name() {
        for names in [
            receiver_accepted as fn(Signal) -> &'static str,
            receiver_refused,
            processor_dropped,
            exporter_sent,
            exporter_send_failed,
            exporter_rejected,
        ] {
            let [logs, metrics, traces] = Signal::ALL.map(names);
            assert!(logs.contains("_log_records_"), "{logs}");
            assert!(metrics.contains("_metric_points_"), "{metrics}");
            assert!(traces.contains("_spans_"), "{traces}");
            assert!(logs.starts_with("ccpipe_") && logs.ends_with("_total"));
        }
    }
}
