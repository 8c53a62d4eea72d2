//! Reload: on SIGHUP (or `ccpipe reload`) the config files are read again,
//! validated and built into a new graph, which replaces the running one.
//!
//! - The new graph binds its receivers through the running pool's
//!   [`successor`](Listeners::successor): a listening socket whose address
//!   did not change is the same socket, never closed, so clients see no
//!   refused connection.
//! - The old graph stops through the normal staged shutdown: its receivers
//!   finish the requests in flight, its pipelines and exporters drain
//!   everything they accepted (within `service.shutdown_timeout`), while the
//!   new graph already serves.
//! - A config that does not load, validate or build (a port taken, a file
//!   that cannot be opened) changes nothing: the error is logged with its
//!   file, line and key and the running graph goes on.
//!
//! - The web view (`service.view`) is bound the same way, before the graph is
//!   built, and replaced with it: a new endpoint, token or store, or the view
//!   turned on or off, takes effect; an endpoint that cannot be bound fails
//!   the reload like a receiver's.
//!
//! The process-wide settings (`service.telemetry`, `service.health`) keep the
//! values they had at start; a reload that changes them says so.

use std::path::PathBuf;

use ccpipe_pipeline::config::{self, Config};
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::Shutdown;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::service::{self, RunSummary, Service};
use crate::view;

type RunResult = Result<RunSummary, String>;

/// The running graph and what is needed to build the next one.
pub struct Supervisor {
    files: Vec<PathBuf>,
    config: Config,
    listeners: Listeners,
    /// The web view as the running config has it.
    view: Option<view::Running>,
}

/// One graph running under its own shutdown token (a child of the process's).
struct Generation {
    shutdown: Shutdown,
    task: JoinHandle<RunResult>,
}

impl Generation {
    fn start(service: Service, process: &Shutdown) -> Generation {
        let shutdown = process.child_token();
        let task = tokio::spawn(service.run(shutdown.clone()));
        Generation { shutdown, task }
    }
}

impl Supervisor {
    /// `service` was built from `config` (loaded from `files`) with
    /// `listeners`, which `view` was bound through too.
    pub fn new(
        files: Vec<PathBuf>,
        config: Config,
        listeners: Listeners,
        view: Option<view::Running>,
    ) -> Supervisor {
        Supervisor {
            files,
            config,
            listeners,
            view,
        }
    }

    /// Runs `service` and its successors until `shutdown` fires or the
    /// running graph fails; each message on `reloads` is one reload. Returns
    /// the sum over every graph, once all of them have drained.
    pub async fn run(
        mut self,
        service: Service,
        shutdown: Shutdown,
        mut reloads: mpsc::UnboundedReceiver<()>,
    ) -> RunResult {
        let mut current = Generation::start(service, &shutdown);
        let mut draining: JoinSet<RunResult> = JoinSet::new();
        let mut total = RunSummary::default();
        let mut failure = None;
        let last = loop {
            tokio::select! {
                done = &mut current.task => break done,
                Some(()) = reloads.recv() => {
                    if let Some(next) = self.reload(&shutdown).await {
                        let old = std::mem::replace(&mut current, Generation::start(next, &shutdown));
                        old.shutdown.cancel();
                        draining.spawn(async move { flatten(old.task.await) });
                    }
                }
                Some(done) = draining.join_next() => {
                    add(&mut total, &mut failure, flatten(done), "the previous config");
                }
            }
        };
        // The running graph ended: shutdown, or one of its receivers failed.
        shutdown.cancel();
        add(
            &mut total,
            &mut failure,
            flatten(last),
            "the running config",
        );
        while let Some(done) = draining.join_next().await {
            add(
                &mut total,
                &mut failure,
                flatten(done),
                "the previous config",
            );
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(total),
        }
    }

    /// Loads, validates and builds the config again. `None` (with the reason
    /// logged) leaves the running graph as it is.
    async fn reload(&mut self, process: &Shutdown) -> Option<Service> {
        tracing::info!("SIGHUP received: reloading the config");
        let keep = "the previous config keeps running";
        let config = match config::load(&self.files) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("reload failed, {keep}: invalid config:\n{e}");
                return None;
            }
        };
        if let Err(errors) = service::validate(&config) {
            tracing::error!(
                "reload failed, {keep}: invalid config:\n{}",
                errors.join("\n")
            );
            return None;
        }
        let next = match self.listeners.successor() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("reload failed, {keep}: cannot share the listening sockets: {e}");
                return None;
            }
        };
        let view = match view::bind(&config, &next) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("reload failed, {keep}: {e}");
                return None;
            }
        };
        let service = match Service::build_with(&config, &next).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("reload failed, {keep}: {e}");
                return None;
            }
        };
        let view = match view.map(|v| v.serve(process.child_token())).transpose() {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("reload failed, {keep}: the view: {e}");
                return None;
            }
        };
        if let Some(old) = self.view.take() {
            old.stop();
        }
        match &view {
            Some(v) => tracing::info!(address = %v.addr, "view: serving the reloaded config"),
            None => tracing::info!("view: off in the reloaded config"),
        }
        self.view = view;
        next.release_unclaimed();
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
        for what in restart_only_changes(&self.config, &config) {
            tracing::warn!("{what} changed: it takes effect when ccpipe restarts");
        }
        let kept = next.reused();
        tracing::info!(
            pipelines = config.service.pipelines.len(),
            sockets_kept_open = ?kept,
            "config reloaded; the previous pipelines drain in the background"
        );
        // The admin endpoints are the process's and do not change on reload.
        eprint!(
            "{}",
            crate::banner::render(
                &self.files,
                &config,
                &service,
                &view::banner(self.view.as_ref())
            )
        );
        // Dropping the old pool closes its copies of the sockets the new graph
        // did not take; the old receivers close theirs as they stop.
        self.listeners = next;
        self.config = config;
        Some(service)
    }
}

/// The `service` settings that belong to the process, not to a graph.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.service, &new.service);
    let mut changed = Vec::new();
    if o.log_level != n.log_level {
        changed.push("service.telemetry.logs.level");
    }
    if o.metrics != n.metrics {
        changed.push("service.telemetry.metrics");
    }
    if o.health != n.health {
        changed.push("service.health");
    }
    changed
}

fn flatten(joined: Result<RunResult, tokio::task::JoinError>) -> RunResult {
    joined.unwrap_or_else(|e| Err(format!("the service task panicked: {e}")))
}

fn add(total: &mut RunSummary, failure: &mut Option<String>, result: RunResult, which: &str) {
    match result {
        Ok(s) => {
            total.items_sent += s.items_sent;
            total.items_failed += s.items_failed;
        }
        Err(e) => {
            tracing::error!("{which} stopped with an error: {e}");
            failure.get_or_insert(e);
        }
    }
}
