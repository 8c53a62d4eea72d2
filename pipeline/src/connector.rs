//! A connector: the exporter of some pipelines and the receiver of others
//! (the Collector's `connectors:` section). Its exporter side is an ordinary
//! [`Exporter`], so it gets an export queue and task like any exporter; it
//! feeds an [`Aggregate`]. Every `interval`, and once more on shutdown
//! ([`Aggregate::flush`]), the aggregate is taken and handed to the
//! downstream pipelines' [`Outputs`] as a receiver would, waiting while they
//! are full (backpressure).
//!
//! Shutdown order, which [`ConnectorExporter::shutdown`] keeps: the upstream
//! pipeline's chain ends, so the connector's queue closes; its export task
//! drains it and calls `shutdown`, which stops the ticker, sends the last
//! interval, and only then drops the `Outputs`. The downstream pipelines'
//! inputs close after that, so their chains and exporters see the flush.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::component::{BoxFuture, ComponentId, ExportError, Exporter};
use crate::outputs::{Outputs, Refused};
use crate::records::{Records, Signal};
use crate::Batch;
use crate::{telemetry, Shutdown};

/// A connector's state between emissions: it takes batches in and gives out
/// what it made of them since the last [`take`](Self::take).
pub trait Aggregate: Send + 'static {
    /// Adds a batch of the consumed signal.
    fn consume(&mut self, batch: &Records);

    /// What was aggregated since the last call, leaving the state empty;
    /// `None` when there is nothing to send.
    fn take(&mut self) -> Option<Records>;

    /// Everything still held, on shutdown (after the last `consume`). For
    /// aggregates that hold some state back at `take` (e.g. until it is
    /// complete); by default the same as `take`.
    fn flush(&mut self) -> Option<Records> {
        self.take()
    }
}

/// A connector built from its config, ready to [`start`].
pub struct BuiltConnector {
    pub aggregate: Box<dyn Aggregate>,
    /// How often the aggregate is taken and sent on.
    pub interval: Duration,
    /// The signal its exporter side takes.
    pub consumes: Signal,
}

/// How long one hand-off to a full downstream pipeline waits before the
/// connector logs and tries again (it never drops for being busy).
const SEND_WAIT: Duration = Duration::from_secs(1);

/// Starts the receiver side (a ticker task sending on `outputs`) and returns
/// the exporter side. Must be called inside the tokio runtime.
pub fn start(id: &ComponentId, built: BuiltConnector, outputs: Outputs) -> ConnectorExporter {
    let state = Arc::new(Mutex::new(built.aggregate));
    let stop = Shutdown::new();
    let gone = Shutdown::new();
    let sender = Emitter {
        id: id.to_string(),
        outputs,
        gone: gone.clone(),
    };
    let ticker = tokio::spawn(tick(
        Arc::clone(&state),
        sender.clone(),
        built.interval,
        stop.clone(),
    ));
    ConnectorExporter {
        consumes: built.consumes,
        state,
        ticker: Some((stop, ticker)),
        sender: Some(sender),
        gone,
    }
}

/// The exporter side of a connector.
pub struct ConnectorExporter {
    consumes: Signal,
    state: Arc<Mutex<Box<dyn Aggregate>>>,
    ticker: Option<(Shutdown, JoinHandle<()>)>,
    sender: Option<Emitter>,
    /// Fires when this side is dropped (the export task was aborted): the
    /// ticker stops waiting on downstream pipelines.
    gone: Shutdown,
}

impl Drop for ConnectorExporter {
    fn drop(&mut self) {
        self.gone.cancel();
        if let Some((stop, _)) = &self.ticker {
            stop.cancel();
        }
    }
}

impl Exporter for ConnectorExporter {
    fn signals(&self) -> &'static [Signal] {
        match self.consumes {
            Signal::Logs => &[Signal::Logs],
            Signal::Metrics => &[Signal::Metrics],
            Signal::Traces => &[Signal::Traces],
        }
    }

    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        let result = batch.records().map(|b| lock(&self.state).consume(b));
        Box::pin(async { Ok(result?) })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            if let Some((stop, ticker)) = self.ticker.take() {
                stop.cancel();
                // The ticker finishes the send it is in, then drops its outputs.
                let _ = ticker.await;
            }
            let last = lock(&self.state).flush();
            if let Some(sender) = self.sender.take() {
                if let Some(batch) = last {
                    sender.send(batch).await;
                }
                // Dropping the last `Outputs` closes the downstream inputs.
            }
            Ok(())
        })
    }
}

fn lock(state: &Mutex<Box<dyn Aggregate>>) -> std::sync::MutexGuard<'_, Box<dyn Aggregate>> {
    // A panic inside `consume` leaves a state that is still a valid aggregate.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn tick(
    state: Arc<Mutex<Box<dyn Aggregate>>>,
    sender: Emitter,
    interval: Duration,
    stop: Shutdown,
) {
    let start = tokio::time::Instant::now() + interval;
    let mut ticks = tokio::time::interval_at(start, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let taken = lock(&state).take();
        if let Some(batch) = taken {
            sender.send(batch).await;
        }
    }
}

/// The receiver side: hands produced batches to the downstream pipelines.
#[derive(Clone)]
struct Emitter {
    id: String,
    outputs: Outputs,
    gone: Shutdown,
}

impl Emitter {
    /// Sends `batch`, retrying while the downstream pipelines are busy; gives
    /// up (counted and logged) only when they are closed or the connector
    /// was dropped.
    async fn send(&self, batch: Records) {
        let signal = batch.signal();
        let items = batch.item_count() as u64;
        // Built once: each retry hands over the same shared batch.
        let batch = Batch::from(batch);
        let mut waited = false;
        let reason = loop {
            if self.gone.is_cancelled() {
                break Refused::ShuttingDown;
            }
            match self.outputs.send(batch.clone(), SEND_WAIT).await {
                Ok(()) => {
                    metrics::counter!(telemetry::receiver_accepted(signal), "receiver" => self.id.clone(), "transport" => "connector")
                        .increment(items);
                    return;
                }
                Err(Refused::Busy(pipeline)) => {
                    if !waited {
                        tracing::warn!(connector = %self.id, pipeline, "downstream pipeline is busy; waiting");
                        waited = true;
                    }
                }
                Err(other) => break other,
            }
        };
        metrics::counter!(telemetry::receiver_refused(signal), "receiver" => self.id.clone(), "transport" => "connector", "reason" => "closed")
            .increment(items);
        tracing::error!(connector = %self.id, items, "dropped what the connector produced: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{self, Receiver, RecvTimeoutError, Sender};
    use crate::outputs::PipelineInput;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};

    /// Counts consumed batches; takes them as one metric named by the count.
    struct Counting(usize);

    impl Aggregate for Counting {
        fn consume(&mut self, _: &Records) {
            self.0 += 1;
        }

        fn take(&mut self) -> Option<Records> {
            if self.0 == 0 {
                return None;
            }
            let metric = Metric {
                name: format!("batches.{}", std::mem::take(&mut self.0)),
                ..Default::default()
            };
            Some(Records::Metrics(ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![metric],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }))
        }
    }

    fn connector(
        interval: Duration,
        capacity: usize,
    ) -> (ConnectorExporter, Sender<Batch>, Receiver<Batch>) {
        let (tx, rx) = channel::bounded(capacity);
        let mut outputs = Outputs::default();
        outputs.add(
            Signal::Metrics,
            PipelineInput {
                pipeline: "metrics".into(),
                sender: tx.clone(),
                durable: None,
            },
        );
        let built = BuiltConnector {
            aggregate: Box::new(Counting(0)),
            interval,
            consumes: Signal::Logs,
        };
        let id: ComponentId = "counting".parse().unwrap();
        (start(&id, built, outputs), tx, rx)
    }

    fn logs() -> Batch {
        Batch::from(Records::Logs(ExportLogsServiceRequest::default()))
    }

    fn name(p: Batch) -> String {
        let Ok(Records::Metrics(r)) = p.records() else {
            panic!("not metrics: {p:?}");
        };
        r.resource_metrics[0].scope_metrics[0].metrics[0]
            .name
            .clone()
    }

    /// The next value, or `None` once every sender is gone; at most 10s.
    async fn recv(rx: &Receiver<Batch>) -> Option<Batch> {
        for _ in 0..2000 {
            match rx.recv_deadline(Some(std::time::Instant::now())) {
                Ok(v) => return Some(v),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
            }
        }
        panic!("nothing received and the queue is still open");
    }

    #[tokio::test]
    async fn shutdown_sends_the_last_interval_before_closing_downstream() {
        let (mut c, tx, rx) = connector(Duration::from_secs(3600), 4);
        drop(tx);
        assert_eq!(c.signals(), &[Signal::Logs]);
        for _ in 0..3 {
            c.export(logs()).await.unwrap();
        }
        assert!(rx.try_recv().is_none(), "nothing before the interval");
        c.shutdown().await.unwrap();
        // The connector held the last sender: the pipeline's input closes
        // after the flush, so its chain sees it before it ends.
        assert_eq!(
            name(recv(&rx).await.expect("flushed on shutdown")),
            "batches.3"
        );
        assert!(recv(&rx).await.is_none());
    }

    #[tokio::test]
    async fn each_interval_is_sent_without_waiting_for_shutdown() {
        let (mut c, tx, rx) = connector(Duration::from_millis(20), 4);
        drop(tx);
        c.export(logs()).await.unwrap();
        c.export(logs()).await.unwrap();
        assert_eq!(name(recv(&rx).await.unwrap()), "batches.2");
        c.export(logs()).await.unwrap();
        assert_eq!(name(recv(&rx).await.unwrap()), "batches.1");
        c.shutdown().await.unwrap();
        assert!(recv(&rx).await.is_none(), "nothing left, closed");
    }

    #[tokio::test]
    async fn a_full_pipeline_is_waited_on_not_dropped() {
        let (mut c, tx, rx) = connector(Duration::from_secs(3600), 1);
        c.export(logs()).await.unwrap();
        let filler = Batch::from(Records::Logs(ExportLogsServiceRequest::default()));
        assert!(tx.try_send(filler).is_ok());
        drop(tx);
        let shutdown = tokio::spawn(async move { c.shutdown().await });
        // Longer than one hand-off wait: the send retries rather than gives up.
        tokio::time::sleep(SEND_WAIT + Duration::from_millis(200)).await;
        assert!(!shutdown.is_finished(), "gave up on a busy pipeline");
        assert_eq!(recv(&rx).await.map(|b| b.signal()), Some(Signal::Logs));
        assert_eq!(name(recv(&rx).await.unwrap()), "batches.1");
        shutdown.await.unwrap().unwrap();
        assert!(recv(&rx).await.is_none());
    }

    #[tokio::test]
    async fn shutdown_with_nothing_consumed_sends_nothing_and_twice_is_fine() {
        let (mut c, tx, rx) = connector(Duration::from_secs(3600), 4);
        drop(tx);
        c.shutdown().await.unwrap();
        c.shutdown().await.unwrap();
        assert!(recv(&rx).await.is_none());
    }
}
