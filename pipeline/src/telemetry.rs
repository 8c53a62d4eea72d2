//! Names of ccpipe's own metrics, in one place. Recorded through the `metrics`
//! facade; exposing them (Prometheus endpoint) comes with the reliability work.

/// Items a receiver accepted into at least one pipeline. Labels: receiver, signal, transport.
pub const RECEIVER_ACCEPTED_ITEMS: &str = "ccpipe_receiver_accepted_items_total";
/// Items a receiver refused (backpressure, bad input, no pipeline). Labels: receiver, signal, reason.
pub const RECEIVER_REFUSED_ITEMS: &str = "ccpipe_receiver_refused_items_total";
/// Items a processor dropped on purpose. Labels: processor, pipeline, signal.
pub const PROCESSOR_DROPPED_ITEMS: &str = "ccpipe_processor_dropped_items_total";
/// Items an exporter delivered. Labels: exporter, signal.
pub const EXPORTER_SENT_ITEMS: &str = "ccpipe_exporter_sent_items_total";
/// Items an exporter gave up on. Labels: exporter, signal, reason (permanent | retries_exhausted | shutdown).
pub const EXPORTER_FAILED_ITEMS: &str = "ccpipe_exporter_failed_items_total";
/// Export attempts that failed and will be retried. Labels: exporter.
pub const EXPORTER_RETRIES: &str = "ccpipe_exporter_retries_total";
