//! Runs a [`BlockingExporter`] (file, stdout) on a thread of its own and
//! presents it as an async [`Exporter`], so blocking writes never stall the
//! runtime's I/O threads. The thread also flushes on the exporter's interval.

use std::thread::JoinHandle;
use std::time::Instant;

use crate::channel::{self, RecvTimeoutError, ReplySender};
use crate::component::{BlockingExporter, BoxFuture, ExportError, Exporter};
use crate::{Batch, Form};

enum Job {
    Export(Batch, ReplySender<Result<(), ExportError>>),
    Shutdown(ReplySender<Result<(), ExportError>>),
}

struct ThreadExporter {
    jobs: channel::Sender<Job>,
    prefers: Form,
    thread: Option<JoinHandle<()>>,
}

/// Starts `exporter` on a thread named `export-<id>`.
pub fn spawn(id: &str, exporter: impl BlockingExporter) -> std::io::Result<Box<dyn Exporter>> {
    // The export task awaits each reply before sending the next job, so one
    // slot (plus the shutdown job) is all the queue ever holds.
    let (jobs, rx) = channel::bounded(2);
    let prefers = exporter.prefers();
    let thread = std::thread::Builder::new()
        .name(format!("export-{id}"))
        .spawn(move || work(exporter, rx))?;
    Ok(Box::new(ThreadExporter {
        jobs,
        prefers,
        thread: Some(thread),
    }))
}

fn work(mut exporter: impl BlockingExporter, jobs: channel::Receiver<Job>) {
    let interval = exporter.flush_interval();
    let mut dirty_since: Option<Instant> = None;
    loop {
        let deadline = dirty_since.zip(interval).map(|(t, i)| t + i);
        match jobs.recv_deadline(deadline) {
            Ok(Job::Export(batch, reply)) => {
                let result = exporter.export(&batch);
                reply.send(after_export(
                    &mut exporter,
                    result,
                    interval,
                    &mut dirty_since,
                ));
            }
            Ok(Job::Shutdown(reply)) => {
                reply.send(exporter.flush());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                // Exported data stays buffered in the exporter on failure and
                // is written by a later flush; only report here.
                match exporter.flush() {
                    Ok(()) => dirty_since = None,
                    Err(e) => {
                        tracing::error!(error = %e, "periodic flush failed; will retry");
                        dirty_since = Some(Instant::now());
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(e) = exporter.flush() {
                    tracing::error!(error = %e, "final flush failed");
                }
                return;
            }
        }
    }
}

/// Flushes at once when the exporter has no interval, else marks it dirty.
fn after_export(
    exporter: &mut impl BlockingExporter,
    result: Result<(), ExportError>,
    interval: Option<std::time::Duration>,
    dirty_since: &mut Option<Instant>,
) -> Result<(), ExportError> {
    result?;
    if interval.is_none() {
        return exporter.flush();
    }
    if dirty_since.is_none() {
        *dirty_since = Some(Instant::now());
    }
    Ok(())
}

impl ThreadExporter {
    async fn call(
        &self,
        make: impl FnOnce(ReplySender<Result<(), ExportError>>) -> Job,
    ) -> Result<(), ExportError> {
        let (tx, rx) = channel::reply();
        if self.jobs.try_send(make(tx)).is_err() {
            return Err(ExportError::permanent("exporter thread is gone"));
        }
        rx.recv().await.unwrap_or_else(|| {
            Err(ExportError::permanent(
                "exporter thread stopped without answering",
            ))
        })
    }
}

impl Exporter for ThreadExporter {
    fn prefers(&self) -> Form {
        self.prefers
    }

    fn export(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move { self.call(|reply| Job::Export(batch, reply)).await })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let result = self.call(Job::Shutdown).await;
            if let Some(t) = self.thread.take() {
                // The thread returned right after answering; joining is instant.
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
            result
        })
    }
}

impl Drop for ThreadExporter {
    fn drop(&mut self) {
        // Dropping `jobs` disconnects the thread, which flushes and exits.
        self.thread.take();
    }
}
