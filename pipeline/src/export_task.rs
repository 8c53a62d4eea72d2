//! The task that owns one exporter's queue: it exports batch after batch,
//! retries retryable failures with exponential backoff and jitter, counts
//! and logs what it delivers and what it gives up on, and shuts the exporter
//! down once the queue is closed and drained.

use std::time::{Duration, Instant};

use crate::channel::QueueReceiver;
use crate::component::{ExportError, Exporter};
use crate::telemetry;
use crate::wal::BacklogProbe;
use crate::Batch;
use crate::Shutdown;

/// The Collector's `retry_on_failure` settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub enabled: bool,
    pub initial_interval: Duration,
    pub max_interval: Duration,
    /// Give up on a batch after retrying this long; zero = never give up.
    pub max_elapsed_time: Duration,
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
            multiplier: 1.5,
        }
    }
}

/// What an export task did, reported when it ends.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExportStats {
    pub batches: u64,
    pub items_sent: u64,
    pub items_failed: u64,
}

/// An exporter with the queue and retry settings its export task should use.
pub struct BuiltExporter {
    pub exporter: Box<dyn Exporter>,
    /// Capacity of its queue, in batches.
    pub queue_size: usize,
    pub retry: RetryPolicy,
    /// `sending_queue.storage` is set: the queue is a log on disk.
    pub durable: Option<crate::wal::WalConfig>,
}

/// One exporter's task over its queue `Q`. Over an in-memory queue (the
/// default) it drains the queue itself ([`ExportTask::run`]); over a log on
/// disk it only delivers and keeps the gauges, and [`crate::wal`]'s export
/// loop reads the log. The two are different types, so neither can be run
/// as the other.
pub struct ExportTask<Q = QueueReceiver<Batch>> {
    pub(crate) id: String,
    pub(crate) exporter: Box<dyn Exporter>,
    queue: Q,
    gauges: QueueGauges,
    retry: RetryPolicy,
    /// Fires when the shutdown deadline passed: stop retrying, count the rest as lost.
    pub(crate) abort: Shutdown,
}

/// Where an export task's batches wait, as its gauges read it.
pub trait QueueDepth: Send {
    /// Batches (or records) waiting, and their bytes.
    fn depth(&self) -> (f64, f64);
    /// The bound in batches, if counted so, and in bytes, if any.
    fn capacity(&self) -> (Option<f64>, Option<f64>);
}

impl QueueDepth for QueueReceiver<Batch> {
    fn depth(&self) -> (f64, f64) {
        (self.len() as f64, self.bytes_waiting() as f64)
    }

    fn capacity(&self) -> (Option<f64>, Option<f64>) {
        (
            Some(QueueReceiver::capacity(self) as f64),
            self.byte_limit().map(|b| b as f64),
        )
    }
}

impl QueueDepth for BacklogProbe {
    fn depth(&self) -> (f64, f64) {
        let b = self.read();
        (b.records as f64, b.bytes as f64)
    }

    fn capacity(&self) -> (Option<f64>, Option<f64>) {
        (None, Some(self.read().max_bytes as f64))
    }
}

/// The gauges of one exporter's queue. They are set when the task takes a
/// batch, when a batch is done, at each retry, and once a second while an
/// export or a retry backoff lasts; never per record or per enqueue.
struct QueueGauges {
    size: metrics::Gauge,
    bytes: metrics::Gauge,
}

/// How often the gauges are refreshed while one export takes long.
const GAUGE_REFRESH: Duration = Duration::from_secs(1);

/// Ticks every [`GAUGE_REFRESH`], the first one after a full period.
fn gauge_ticks() -> tokio::time::Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + GAUGE_REFRESH, GAUGE_REFRESH)
}

impl QueueGauges {
    fn new(exporter: &str) -> Self {
        QueueGauges {
            size: metrics::gauge!(telemetry::EXPORTER_QUEUE_SIZE, "exporter" => exporter.to_owned()),
            bytes: metrics::gauge!(telemetry::EXPORTER_QUEUE_BYTES, "exporter" => exporter.to_owned()),
        }
    }

    /// Reads the queue (a counter or two under a lock) and sets the gauges.
    fn refresh(&self, queue: &impl QueueDepth) {
        let (size, bytes) = queue.depth();
        self.size.set(size);
        self.bytes.set(bytes);
    }
}

impl ExportTask {
    pub fn new(
        id: impl Into<String>,
        exporter: Box<dyn Exporter>,
        queue: QueueReceiver<Batch>,
        retry: RetryPolicy,
        abort: Shutdown,
    ) -> Self {
        ExportTask::over(id.into(), exporter, queue, retry, abort)
    }
}

impl<Q: QueueDepth> ExportTask<Q> {
    /// A task over `queue`; a durable one is made by [`crate::wal`].
    pub(crate) fn over(
        id: String,
        exporter: Box<dyn Exporter>,
        queue: Q,
        retry: RetryPolicy,
        abort: Shutdown,
    ) -> Self {
        let gauges = QueueGauges::new(&id);
        ExportTask {
            id,
            exporter,
            queue,
            gauges,
            retry,
            abort,
        }
    }

    /// Sets the queue gauges from the queue as it is now.
    pub(crate) fn refresh_gauges(&self) {
        self.gauges.refresh(&self.queue);
    }

    /// Sets the byte bound gauge (and, for an in-memory queue, the count bound).
    pub(crate) fn set_capacity_gauges(&self) {
        let (count, bytes) = self.queue.capacity();
        if let Some(c) = count {
            metrics::gauge!(telemetry::EXPORTER_QUEUE_CAPACITY, "exporter" => self.id.clone())
                .set(c);
        }
        if let Some(b) = bytes {
            metrics::gauge!(telemetry::EXPORTER_QUEUE_CAPACITY_BYTES, "exporter" => self.id.clone())
                .set(b);
        }
    }
}

impl ExportTask {
    /// Exports the in-memory queue until it is closed and drained (or the
    /// shutdown deadline passes), then shuts the exporter down.
    pub async fn run(mut self) -> ExportStats {
        let mut stats = ExportStats::default();
        let mut jitter = Jitter::seeded();
        self.set_capacity_gauges();
        loop {
            let batch = tokio::select! {
                biased;
                _ = self.abort.cancelled() => break,
                b = self.queue.recv() => match b {
                    Some(b) => b,
                    None => break,
                },
            };
            self.refresh_gauges();
            stats.batches += 1;
            let items = batch.item_count() as u64;
            let signal = batch.signal();
            match self.deliver(batch, &mut jitter).await {
                Ok(()) => {
                    stats.items_sent += items;
                    metrics::counter!(telemetry::exporter_sent(signal), "exporter" => self.id.clone())
                        .increment(items);
                }
                Err(reason) => {
                    stats.items_failed += items;
                    metrics::counter!(telemetry::exporter_send_failed(signal), "exporter" => self.id.clone(), "reason" => reason)
                        .increment(items);
                }
            }
            self.refresh_gauges();
        }
        // Aborted with data still queued: it is lost; say how much.
        let mut lost = 0u64;
        while let Some(b) = self.queue.try_recv() {
            let items = b.item_count() as u64;
            lost += items;
            metrics::counter!(telemetry::exporter_send_failed(b.signal()), "exporter" => self.id.clone(), "reason" => "shutdown")
                .increment(items);
        }
        self.refresh_gauges();
        if lost > 0 {
            stats.items_failed += lost;
            tracing::error!(exporter = %self.id, items = lost, "shutdown deadline passed; {lost} queued items were not exported");
        }
        if let Err(e) = self.exporter.shutdown().await {
            tracing::error!(exporter = %self.id, error = %e, "exporter shutdown failed");
        }
        stats
    }
}

impl<Q: QueueDepth> ExportTask<Q> {
    /// Exports one batch, retrying as the policy allows. On failure returns the
    /// reason label under which the items are counted.
    pub(crate) async fn deliver(
        &mut self,
        batch: Batch,
        jitter: &mut Jitter,
    ) -> Result<(), &'static str> {
        let started = Instant::now();
        let mut interval = self.retry.initial_interval;
        loop {
            let items = batch.item_count();
            let attempt = {
                let export = self.exporter.export(batch.clone());
                tokio::pin!(export);
                let mut refresh = gauge_ticks();
                loop {
                    tokio::select! {
                        r = &mut export => break r,
                        // The queue grows behind a slow export: show it.
                        _ = refresh.tick() => self.gauges.refresh(&self.queue),
                        _ = self.abort.cancelled() => {
                            tracing::error!(exporter = %self.id, items, "shutdown deadline passed during export; dropping {items} {}", batch.signal().item_noun());
                            return Err("shutdown");
                        }
                    }
                }
            };
            let err = match attempt {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let (message, asked) = match err {
                ExportError::Permanent(m) => {
                    tracing::error!(exporter = %self.id, items, error = %m, "export failed permanently; dropping {items} {}", batch.signal().item_noun());
                    return Err("permanent");
                }
                ExportError::Retryable {
                    message,
                    retry_after,
                } => (message, retry_after),
            };
            let elapsed = started.elapsed();
            let max = self.retry.max_elapsed_time;
            if !self.retry.enabled || (!max.is_zero() && elapsed >= max) {
                tracing::error!(exporter = %self.id, items, error = %message, "export failed after {:?} of retries; dropping {items} {}", elapsed, batch.signal().item_noun());
                return Err("retries_exhausted");
            }
            // A destination's Retry-After is honoured, but never below the
            // backoff: `Retry-After: 0` must not turn into a busy loop.
            let backoff = jitter.apply(interval);
            let wait = asked.map_or(backoff, |asked| asked.max(backoff));
            tracing::warn!(exporter = %self.id, items, error = %message, "export failed; retrying in {:?}", wait);
            metrics::counter!(telemetry::EXPORTER_RETRIES, "exporter" => self.id.clone())
                .increment(1);
            // The queue grows while a batch is retried: show it.
            self.refresh_gauges();
            let backoff = tokio::time::sleep(wait);
            tokio::pin!(backoff);
            let mut refresh = gauge_ticks();
            loop {
                tokio::select! {
                    _ = &mut backoff => break,
                    _ = refresh.tick() => self.refresh_gauges(),
                    _ = self.abort.cancelled() => {
                        tracing::error!(exporter = %self.id, items, "shutdown deadline passed while retrying; dropping {items} {}", batch.signal().item_noun());
                        return Err("shutdown");
                    }
                }
            }
            interval = grow(interval, self.retry.multiplier, self.retry.max_interval);
        }
    }
}

/// Runs an export task's future and fires `failed` if the task stops before
/// it finishes: a panic (tokio catches it and drops the task) or an abort.
/// The service then stops taking data rather than acknowledging requests
/// into a queue that nobody reads any more. Once shutdown has begun the
/// service cancels `failed` itself, which silences the alarm.
pub async fn watched<F>(exporter: String, failed: Shutdown, task: F) -> ExportStats
where
    F: std::future::Future<Output = ExportStats>,
{
    let mut alarm = Alarm {
        exporter,
        failed,
        armed: true,
    };
    let stats = task.await;
    alarm.armed = false;
    stats
}

/// Fires its token when dropped armed: the task it guards never finished.
struct Alarm {
    exporter: String,
    failed: Shutdown,
    armed: bool,
}

impl Drop for Alarm {
    fn drop(&mut self) {
        if self.armed && !self.failed.is_cancelled() {
            tracing::error!(exporter = %self.exporter, "export task stopped before it finished (panicked); ccpipe stops accepting data and shuts down");
            self.failed.cancel();
        }
    }
}

/// The next backoff interval: `interval × multiplier`, at most `max`. Never
/// panics, whatever the multiplier (`Duration::mul_f64` does on overflow).
fn grow(interval: Duration, multiplier: f64, max: Duration) -> Duration {
    Duration::try_from_secs_f64(interval.as_secs_f64() * multiplier)
        .unwrap_or(max)
        .min(max)
}

/// ±20% randomisation of backoff intervals so many exporters do not retry in
/// lockstep; a tiny xorshift is plenty for that.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Jitter(nanos | 1)
    }

    fn apply(&mut self, d: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let unit = (self.0 >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
        Duration::try_from_secs_f64(d.as_secs_f64() * (0.8 + 0.4 * unit)).unwrap_or(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::export_queue;
    use crate::component::BoxFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fails the first `fail` calls with `err`, then succeeds.
    struct Flaky {
        calls: Arc<AtomicUsize>,
        fail: usize,
        permanent: bool,
        shutdowns: Arc<AtomicUsize>,
    }

    impl Exporter for Flaky {
        fn export(&mut self, _b: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let fail = n < self.fail;
            let permanent = self.permanent;
            Box::pin(async move {
                match (fail, permanent) {
                    (false, _) => Ok(()),
                    (true, true) => Err(ExportError::permanent("bad request")),
                    (true, false) => Err(ExportError::retryable("unavailable")),
                }
            })
        }
        fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
            self.shutdowns.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        }
    }

    use crate::records::Records;
    use std::sync::Arc;

    fn one_log() -> Batch {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        Batch::from(Records::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord::default()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }))
    }

    fn fast_retry(max_elapsed_ms: u64) -> RetryPolicy {
        RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(2),
            max_elapsed_time: Duration::from_millis(max_elapsed_ms),
            multiplier: 2.0,
        }
    }

    async fn run_case(
        fail: usize,
        permanent: bool,
        retry: RetryPolicy,
    ) -> (ExportStats, usize, usize) {
        let calls = Arc::new(AtomicUsize::new(0));
        let shutdowns = Arc::new(AtomicUsize::new(0));
        let exporter = Flaky {
            calls: calls.clone(),
            fail,
            permanent,
            shutdowns: shutdowns.clone(),
        };
        let (tx, rx) = export_queue(4);
        let task = ExportTask::new("test", Box::new(exporter), rx, retry, Shutdown::new());
        let handle = tokio::spawn(task.run());
        tokio::task::spawn_blocking(move || {
            tx.send_blocking(one_log()).unwrap();
            tx.send_blocking(one_log()).unwrap();
        })
        .await
        .unwrap();
        let stats = handle.await.unwrap();
        (
            stats,
            calls.load(Ordering::SeqCst),
            shutdowns.load(Ordering::SeqCst),
        )
    }

    #[tokio::test]
    async fn retries_until_success() {
        let (stats, calls, shutdowns) = run_case(3, false, fast_retry(10_000)).await;
        assert_eq!(
            stats,
            ExportStats {
                batches: 2,
                items_sent: 2,
                items_failed: 0
            }
        );
        assert_eq!(calls, 5, "3 failures + 2 successes");
        assert_eq!(shutdowns, 1);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let (stats, calls, _) = run_case(1, true, fast_retry(10_000)).await;
        assert_eq!(
            stats,
            ExportStats {
                batches: 2,
                items_sent: 1,
                items_failed: 1
            }
        );
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    async fn retries_stop_after_max_elapsed() {
        let (stats, _, _) = run_case(usize::MAX, false, fast_retry(20)).await;
        assert_eq!(
            stats,
            ExportStats {
                batches: 2,
                items_sent: 0,
                items_failed: 2
            }
        );
    }

    #[tokio::test]
    async fn disabled_retry_drops_at_once() {
        let mut p = fast_retry(10_000);
        p.enabled = false;
        let (stats, calls, _) = run_case(1, false, p).await;
        assert_eq!(stats.items_failed, 1);
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    async fn abort_ends_retrying_and_counts_queue() {
        let calls = Arc::new(AtomicUsize::new(0));
        let exporter = Flaky {
            calls: calls.clone(),
            fail: usize::MAX,
            permanent: false,
            shutdowns: Arc::new(AtomicUsize::new(0)),
        };
        let (tx, rx) = export_queue(4);
        let abort = Shutdown::new();
        let task = ExportTask::new("test", Box::new(exporter), rx, fast_retry(0), abort.clone());
        let handle = tokio::spawn(task.run());
        let tx = tokio::task::spawn_blocking(move || {
            tx.send_blocking(one_log()).unwrap();
            tx.send_blocking(one_log()).unwrap();
            tx
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            calls.load(Ordering::SeqCst) > 1,
            "kept retrying with max_elapsed_time 0"
        );
        abort.cancel();
        let stats = handle.await.unwrap();
        drop(tx);
        assert_eq!(stats.items_sent, 0);
        assert_eq!(
            stats.items_failed, 2,
            "the retried batch and the queued one"
        );
    }

    #[test]
    fn backoff_growth_saturates_instead_of_panicking() {
        let max = Duration::from_secs(30);
        let one = Duration::from_secs(1);
        assert_eq!(grow(one, 1.5, max), Duration::from_millis(1500));
        assert_eq!(grow(one, 1e308, max), max);
        assert_eq!(grow(Duration::MAX, 2.0, Duration::MAX), Duration::MAX);
        assert_eq!(grow(one, f64::INFINITY, max), max);
    }

    /// Fails every call with `Retry-After: 0`.
    struct AsksForZero(Arc<AtomicUsize>);

    impl Exporter for AsksForZero {
        fn export(&mut self, _b: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                Err(ExportError::Retryable {
                    message: "throttled".into(),
                    retry_after: Some(Duration::ZERO),
                })
            })
        }
        fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn a_panicking_task_fires_the_alarm() {
        let failed = Shutdown::new();
        let task = watched("boom".into(), failed.clone(), async { panic!("boom") });
        assert!(tokio::spawn(task).await.is_err());
        assert!(failed.is_cancelled(), "a panic must be seen");
        let quiet = Shutdown::new();
        let done = watched("ok".into(), quiet.clone(), async { ExportStats::default() });
        tokio::spawn(done).await.unwrap();
        assert!(!quiet.is_cancelled(), "a task that finished is no failure");
    }

    #[tokio::test]
    async fn retry_after_zero_waits_the_backoff() {
        let calls = Arc::new(AtomicUsize::new(0));
        let retry = RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(50),
            max_interval: Duration::from_millis(50),
            max_elapsed_time: Duration::from_millis(500),
            multiplier: 1.0,
        };
        let (tx, rx) = export_queue(4);
        let task = ExportTask::new(
            "zero",
            Box::new(AsksForZero(calls.clone())),
            rx,
            retry,
            Shutdown::new(),
        );
        // Queued (and the queue closed) from a plain thread, before the task runs.
        std::thread::spawn(move || tx.send_blocking(one_log()).ok().unwrap())
            .join()
            .unwrap();
        let handle = tokio::spawn(task.run());
        let stats = handle.await.unwrap();
        assert_eq!(stats.items_failed, 1);
        let calls = calls.load(Ordering::SeqCst);
        // One try per ~50 ms of backoff for 500 ms: about 10, not the
        // hundreds of thousands a zero wait gives (a count, not a timing).
        assert!(
            (2..=100).contains(&calls),
            "{calls} calls in 500 ms of backoff"
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let mut j = Jitter::seeded();
        for _ in 0..1000 {
            let d = j.apply(Duration::from_millis(1000));
            assert!(
                d >= Duration::from_millis(800) && d <= Duration::from_millis(1200),
                "{d:?}"
            );
        }
    }
}
