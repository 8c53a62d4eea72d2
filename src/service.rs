//! Builds the running graph from a validated config, runs it, and shuts it
//! down in stages: receivers stop first (finishing in-flight requests), then
//! each chain drains and flushes its batcher, then each export task drains its
//! queue and flushes its exporter. Exporters start before receivers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ccpipe_pipeline::chain::{Chain, Stage};
use ccpipe_pipeline::channel::{self, QueueSender};
use ccpipe_pipeline::config::{Config, PipelineId};
use ccpipe_pipeline::export_task::{self, ExportStats, ExportTask};
use ccpipe_pipeline::factory;
use ccpipe_pipeline::fanout::{ExporterInput, Fanout};
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::outputs::{Outputs, PipelineInput};
use ccpipe_pipeline::wal::{self, ack::ack_queue, WalWriter};
use ccpipe_pipeline::{Batch, Form};
use ccpipe_pipeline::{BoxFuture, BuildError, ComponentId, Kind, Receiver, Shutdown};
use tokio::task::JoinHandle;

/// Capacity of each pipeline's input queue, in requests and in bytes (as
/// received, or ~3x that once decoded). Small on purpose: the queue is a
/// hand-off, not a buffer; exporter queues hold the backlog. 512 KiB (1 MiB
/// in session 6, 2 before) is about 6 requests of 100 Claude Code records:
/// under overload it is full, so every MiB here is a MiB of resident set,
/// and a chain thread that finds it empty was starved by the receivers'
/// CPU, not by a short queue.
const PIPELINE_QUEUE: usize = 64;
const PIPELINE_QUEUE_BYTES: usize = 512 << 10;

/// Bytes each exporter's queue may hold besides its count limit, so a slow
/// exporter backpressures long before memory grows (batches of thousands of
/// decoded records are tens of MB each). One full batch of
/// `MAX_BATCH_BYTES` (1 MiB; 2 MiB in session 6, two batches before): with
/// the pipeline queue, the batch being filled and the one being exported,
/// about 3.5 MiB of requests are held under sustained overload, and the
/// exporter still has the next batch ready when an export ends
/// (bench/README.md, "peak RSS at 32 connections").
const EXPORT_QUEUE_BYTES: usize = 1 << 20;
// The batch processor cuts batches to fit the exporter queue.
const _: () = assert!(ccpipe_pipeline::batcher::MAX_BATCH_BYTES <= EXPORT_QUEUE_BYTES);

/// How long export tasks get to finish after the shutdown deadline aborted them.
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// A graph whose exporters and chains run and whose receivers have bound
/// their sockets, ready to [`run`](Service::run).
pub struct Service {
    receivers: Vec<(ComponentId, Box<dyn Receiver>)>,
    chains: Vec<(PipelineId, std::thread::JoinHandle<()>)>,
    export_tasks: Vec<(ComponentId, JoinHandle<ExportStats>)>,
    shutdown_timeout: Duration,
    abort: Shutdown,
    /// Fires when an export task stops before shutdown (a panic).
    failed: Shutdown,
    /// Durable export tasks wait for these before reading their queues, so
    /// a graph that is built but never run takes no queue over.
    queue_starts: Vec<wal::Start>,
}

/// What the service delivered, summed over exporters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    pub items_sent: u64,
    pub items_failed: u64,
}

/// Every component named by a pipeline, checked without opening anything.
pub fn validate(config: &Config) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    for cfg in config.receivers.values() {
        if let Err(e) = factory::validate(ccpipe_receivers::FACTORIES, cfg) {
            errors.push(e.to_string());
        }
    }
    for cfg in config.processors.values() {
        if let Err(e) = factory::validate(ccpipe_processors::FACTORIES, cfg) {
            errors.push(e.to_string());
        }
    }
    for cfg in config.exporters.values() {
        if let Err(e) = factory::validate(ccpipe_exporters::FACTORIES, cfg) {
            errors.push(e.to_string());
        }
    }
    errors.extend(
        factory::held_before_durable_queues(
            config,
            ccpipe_processors::FACTORIES,
            ccpipe_exporters::FACTORIES,
        )
        .iter()
        .map(ToString::to_string),
    );
    errors.extend(connector_signals(config));
    if let Err(e) = crate::view::validate(config) {
        errors.push(e);
    }
    errors.extend(shared_queue_dirs(config));
    for (pid, p) in &config.service.pipelines {
        for id in p
            .exporters
            .iter()
            .filter(|id| config.exporters.contains_key(*id))
        {
            let cfg = &config.exporters[id];
            let unsupported = factory::lookup(ccpipe_exporters::FACTORIES, cfg)
                .and_then(|f| f.unsupported(cfg, pid.signal));
            if let Ok(Some(why)) = unsupported {
                errors.push(format!(
                    "pipeline \"{pid}\" uses exporter \"{id}\", which cannot take {}: {why}",
                    pid.signal
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Each durable queue directory belongs to one exporter: two exporters on
/// one log would each export half of the other's records (the run-time lock
/// in `wal::owner` backs this up).
fn shared_queue_dirs(config: &Config) -> Vec<String> {
    let mut used: Vec<&ComponentId> = config
        .service
        .pipelines
        .values()
        .flat_map(|p| &p.exporters)
        .filter(|id| config.exporters.contains_key(*id))
        .collect();
    used.sort();
    used.dedup();
    let mut seen: Vec<(std::path::PathBuf, &ComponentId)> = Vec::new();
    let mut errors = Vec::new();
    for id in used {
        let cfg = &config.exporters[id];
        let storage =
            factory::lookup(ccpipe_exporters::FACTORIES, cfg).map(|f| f.queue_storage(cfg));
        let Ok(Some(dir)) = storage else {
            continue;
        };
        let key = same_dir_key(&dir);
        match seen.iter().find(|(k, _)| *k == key) {
            Some((_, first)) => {
                let key_of = |id: &ComponentId| {
                    let e = config.exporters[id].error("sending_queue.storage", "");
                    e.to_string().trim_end_matches([':', ' ']).to_owned()
                };
                errors.push(
                    cfg.error(
                        "sending_queue.storage",
                        format!(
                            "queue directory {} is also the queue of exporter \"{first}\" ({}); each exporter needs its own directory",
                            dir.display(),
                            key_of(first)
                        ),
                    )
                    .to_string(),
                );
            }
            None => seen.push((key, id)),
        }
    }
    errors
}

/// `dir` made absolute with `.` and `..` resolved, and symbolic links too
/// when it exists, so two spellings of one directory compare equal.
fn same_dir_key(dir: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let mut out = std::path::PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.canonicalize().unwrap_or(out)
}

/// Each connector joins signals it supports, in the Collector's words: every
/// pipeline exporting to it has a receiving pipeline it can feed, and the other
/// way round.
fn connector_signals(config: &Config) -> Vec<String> {
    let mut errors = Vec::new();
    for (id, cfg) in &config.connectors {
        if let Err(e) = factory::validate(ccpipe_connectors::FACTORIES, cfg) {
            errors.push(e.to_string());
            continue;
        }
        let pipelines = &config.service.pipelines;
        let side = |exporter: bool| -> Vec<&PipelineId> {
            let listed = |p: &ccpipe_pipeline::config::PipelineConfig| match exporter {
                true => p.exporters.contains(id),
                false => p.receivers.contains(id),
            };
            pipelines
                .iter()
                .filter(|(_, p)| listed(p))
                .map(|(pid, _)| pid)
                .collect()
        };
        let (from, to) = (side(true), side(false));
        let ok = |f: &PipelineId, t: &PipelineId| {
            factory::lookup(ccpipe_connectors::FACTORIES, cfg)
                .is_ok_and(|c| c.pairs().contains(&(f.signal, t.signal)))
        };
        for f in &from {
            if !to.iter().any(|t| ok(f, t)) {
                errors.push(format!("connector \"{id}\" used as exporter in {f} pipeline but not used in any supported receiver pipeline"));
            }
        }
        for t in &to {
            if !from.iter().any(|f| ok(f, t)) {
                errors.push(format!("connector \"{id}\" used as receiver in {t} pipeline but not used in any supported exporter pipeline"));
            }
        }
    }
    errors
}

/// Cancels the export tasks' alarm token when dropped before [`built`]: a
/// graph that failed to build drops its tasks on purpose.
///
/// [`built`]: SilenceUnlessBuilt::built
struct SilenceUnlessBuilt(Option<Shutdown>);

impl SilenceUnlessBuilt {
    fn built(mut self) {
        self.0 = None;
    }
}

impl Drop for SilenceUnlessBuilt {
    fn drop(&mut self) {
        if let Some(failed) = self.0.take() {
            failed.cancel();
        }
    }
}

impl Service {
    /// Starts exporters and chains and binds the receivers. Must be called
    /// inside the tokio runtime.
    pub async fn build(config: &Config) -> Result<Service, BuildError> {
        Service::build_with(config, &Listeners::new()).await
    }

    /// [`build`](Self::build), binding listening sockets (receivers', the
    /// `prometheus` exporter's) through `listeners`: on reload, the successor
    /// of the running graph's pool, so unchanged addresses keep their sockets.
    pub async fn build_with(config: &Config, listeners: &Listeners) -> Result<Service, BuildError> {
        let abort = Shutdown::new();
        let failed = Shutdown::new();
        // A build that fails part-way drops the export tasks it started: that
        // is no panic, so their alarms are silenced until the build succeeds.
        let silenced = SilenceUnlessBuilt(Some(failed.clone()));
        // Every export task runs watched: one that panics stops the service.
        let spawn = |id: &ComponentId, run: BoxFuture<'static, ExportStats>| {
            tokio::spawn(export_task::watched(id.to_string(), failed.clone(), run))
        };
        // This graph's claim on its queue directories (see wal::owner).
        let owner = wal::Owner::next();
        let mut queue_starts = Vec::new();
        let used = |kind: Kind| -> Vec<ComponentId> {
            let mut ids: Vec<ComponentId> = config
                .service
                .pipelines
                .values()
                .flat_map(|p| match kind {
                    Kind::Receiver => p.receivers.clone(),
                    Kind::Processor => p.processors.clone(),
                    _ => p.exporters.clone(),
                })
                .collect();
            ids.retain(|id| !config.connectors.contains_key(id));
            ids.sort();
            ids.dedup();
            ids
        };

        // One count of what all queues hold, when service.memory_limit_mib is set.
        let memory_limit = config
            .service
            .memory_limit_mib
            .map(|mib| channel::MemoryLimit::new(usize::try_from(mib << 20).unwrap_or(usize::MAX)));

        // 1. Exporters and their export tasks.
        let mut exporter_inputs: BTreeMap<ComponentId, (QueueSender<Batch>, Form)> =
            BTreeMap::new();
        let mut durable_inputs: BTreeMap<ComponentId, WalWriter> = BTreeMap::new();
        let mut export_tasks = Vec::new();
        for id in used(Kind::Exporter) {
            let cfg = &config.exporters[&id];
            let mut built =
                factory::lookup(ccpipe_exporters::FACTORIES, cfg)?.build(cfg, listeners)?;
            let signals = built.exporter.signals();
            for (pid, p) in &config.service.pipelines {
                if p.exporters.contains(&id) && !signals.contains(&pid.signal) {
                    return Err(BuildError::new(
                        Kind::Exporter,
                        &id,
                        format!(
                            "does not support {} (used by pipeline \"{pid}\")",
                            pid.signal
                        ),
                    ));
                }
            }
            if let Some(wal) = built.durable.take() {
                // The queue is a log on disk (docs/durability.md).
                let (writer, mut reader) =
                    wal::open_as(owner, &id.to_string(), wal).map_err(|e| {
                        BuildError::new(Kind::Exporter, &id, format!("sending_queue.storage: {e}"))
                    })?;
                queue_starts.push(reader.gate());
                let task = wal::DurableExportTask::new(
                    id.to_string(),
                    built.exporter,
                    reader,
                    built.retry,
                    abort.clone(),
                );
                export_tasks.push((id.clone(), spawn(&id, Box::pin(task.run()))));
                durable_inputs.insert(id, writer);
                continue;
            }
            let prefers = built.exporter.prefers();
            let (tx, rx) = match &memory_limit {
                Some(total) => {
                    channel::export_queue_bytes_within(built.queue_size, EXPORT_QUEUE_BYTES, total)
                }
                None => channel::export_queue_bytes(built.queue_size, EXPORT_QUEUE_BYTES),
            };
            metrics::gauge!(ccpipe_pipeline::telemetry::EXPORTER_QUEUE_CAPACITY, "exporter" => id.to_string())
                .set(built.queue_size as f64);
            let task = ExportTask::new(
                id.to_string(),
                built.exporter,
                rx,
                built.retry,
                abort.clone(),
            );
            export_tasks.push((id.clone(), spawn(&id, Box::pin(task.run()))));
            exporter_inputs.insert(id, (tx, prefers));
        }

        // Connector queues now; their tasks start once the pipelines they feed exist.
        let mut connector_inputs = Vec::new();
        let fed = |id: &ComponentId| {
            config
                .service
                .pipelines
                .values()
                .any(|p| p.exporters.contains(id))
        };
        for id in config.connectors.keys().filter(|id| fed(id)) {
            let (tx, rx) = channel::export_queue_bytes(PIPELINE_QUEUE, EXPORT_QUEUE_BYTES);
            exporter_inputs.insert(id.clone(), (tx, Form::Decoded));
            connector_inputs.push((id.clone(), rx));
        }

        // 2. One chain per pipeline, each with its own processor instances.
        let mut outputs: BTreeMap<ComponentId, Outputs> = BTreeMap::new();
        let mut chains = Vec::new();
        for (pid, p) in &config.service.pipelines {
            let mut stages: Vec<Stage> = Vec::with_capacity(p.processors.len());
            for id in &p.processors {
                let cfg = &config.processors[id];
                stages.push(
                    factory::lookup(ccpipe_processors::FACTORIES, cfg)?.build(cfg, pid.signal)?,
                );
            }
            let durable: Vec<(String, WalWriter)> = p
                .exporters
                .iter()
                .filter_map(|id| durable_inputs.get(id).map(|w| (id.to_string(), w.clone())))
                .collect();
            let targets = p
                .exporters
                .iter()
                .filter(|id| exporter_inputs.contains_key(*id))
                .map(|id| ExporterInput {
                    exporter: id.to_string(),
                    sender: exporter_inputs[id].0.clone(),
                    prefers: exporter_inputs[id].1,
                })
                .collect();
            let (tx, rx) = match &memory_limit {
                Some(total) => {
                    channel::bounded_bytes_within(PIPELINE_QUEUE, PIPELINE_QUEUE_BYTES, total)
                }
                None => channel::bounded_bytes(PIPELINE_QUEUE, PIPELINE_QUEUE_BYTES),
            };
            let (acks, chain) = match durable.is_empty() {
                true => (
                    None,
                    Chain::new(
                        pid.to_string(),
                        stages,
                        Fanout::new(pid.to_string(), targets),
                    ),
                ),
                false => {
                    let (acks, ack_rx) = ack_queue();
                    let fanout = Fanout::new(pid.to_string(), targets).with_durable(durable);
                    let chain = Chain::new(pid.to_string(), stages, fanout)
                        .durable(ack_rx)
                        .map_err(|e| BuildError {
                            message: e.to_string(),
                        })?;
                    (Some(acks), chain)
                }
            };
            let handle = chain.spawn(rx).map_err(|e| BuildError {
                message: format!("pipeline \"{pid}\": cannot start its thread: {e}"),
            })?;
            chains.push((pid.clone(), handle));
            for rid in &p.receivers {
                outputs.entry(rid.clone()).or_default().add(
                    pid.signal,
                    PipelineInput {
                        pipeline: pid.to_string(),
                        sender: tx.clone(),
                        durable: acks.clone(),
                    },
                );
            }
        }
        // 2b. Connectors: their exporter side runs behind an export task fed
        // by the upstream fan-outs; their receiver side holds the downstream
        // pipelines' senders until it has flushed on shutdown.
        for (id, queue) in connector_inputs {
            let cfg = &config.connectors[&id];
            let built = factory::lookup(ccpipe_connectors::FACTORIES, cfg)?.build(cfg)?;
            let out = outputs.remove(&id).unwrap_or_default();
            let exporter = ccpipe_pipeline::connector::start(&id, built, out);
            let task = ExportTask::new(
                id.to_string(),
                Box::new(exporter),
                queue,
                Default::default(),
                abort.clone(),
            );
            export_tasks.push((id.clone(), spawn(&id, Box::pin(task.run()))));
        }

        // Only the chains' fan-outs hold exporter senders now, and only the
        // receivers and connectors will hold pipeline senders: closing
        // cascades on shutdown.
        drop(exporter_inputs);
        drop(durable_inputs);

        // 3. Receivers last, so nothing is accepted before it can be delivered.
        let mut receivers = Vec::new();
        for id in used(Kind::Receiver) {
            let mut out = outputs.remove(&id).unwrap_or_default();
            if let Some(total) = &memory_limit {
                out.limit_memory(total.clone());
            }
            let cfg = &config.receivers[&id];
            let receiver = factory::lookup(ccpipe_receivers::FACTORIES, cfg)?
                .build(cfg, out, listeners)
                .await?;
            receivers.push((id, receiver));
        }

        silenced.built();
        Ok(Service {
            receivers,
            chains,
            export_tasks,
            shutdown_timeout: config.service.shutdown_timeout,
            abort,
            failed,
            queue_starts,
        })
    }

    /// Listening addresses, by receiver and protocol.
    pub fn local_addrs(&self) -> Vec<(ComponentId, &'static str, SocketAddr)> {
        self.receivers
            .iter()
            .flat_map(|(id, r)| {
                r.local_addrs()
                    .into_iter()
                    .map(move |(proto, addr)| (id.clone(), proto, addr))
            })
            .collect()
    }

    /// Runs until `shutdown` fires (or a receiver fails), then shuts down in
    /// stages within `service.shutdown_timeout`.
    pub async fn run(self, shutdown: Shutdown) -> Result<RunSummary, String> {
        let Service {
            receivers,
            chains,
            export_tasks,
            shutdown_timeout,
            abort,
            failed,
            queue_starts,
        } = self;
        for start in queue_starts {
            start.go();
        }

        let mut receiver_tasks = tokio::task::JoinSet::new();
        for (id, r) in receivers {
            let token = shutdown.clone();
            receiver_tasks.spawn(async move { (id, r.run(token).await) });
        }

        let mut failure: Option<String> = None;
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {}
            // Accepting data that no exporter will send is worse than stopping.
            _ = failed.cancelled() => {
                let f = "an export task panicked (see above); stopping so no more data is accepted".to_owned();
                tracing::error!("{f}");
                failure = Some(f);
                shutdown.cancel();
            }
            Some(done) = receiver_tasks.join_next() => {
                // A receiver returning on its own, before shutdown, is a failure.
                if !shutdown.is_cancelled() {
                    let f = match done {
                        Ok((id, Err(e))) => format!("receiver \"{id}\" failed: {e}"),
                        Ok((id, Ok(()))) => format!("receiver \"{id}\" stopped unexpectedly"),
                        Err(e) => format!("a receiver task panicked: {e}"),
                    };
                    tracing::error!("{f}");
                    failure = Some(f);
                    shutdown.cancel();
                }
            }
        }
        tracing::info!("shutting down: receivers stop accepting, queues drain");
        // From here an export task that ends unfinished was aborted at the
        // deadline (and is logged below), not a failure to report again.
        failed.cancel();

        let drain = async {
            while let Some(done) = receiver_tasks.join_next().await {
                match done {
                    Ok((id, Err(e))) => {
                        tracing::error!(receiver = %id, "receiver stopped with an error: {e}")
                    }
                    Ok((_, Ok(()))) => {}
                    Err(e) => tracing::error!("a receiver task panicked: {e}"),
                }
            }
            for (pid, handle) in chains {
                let joined = tokio::task::spawn_blocking(move || handle.join()).await;
                if !matches!(joined, Ok(Ok(()))) {
                    tracing::error!(pipeline = %pid, "pipeline thread panicked");
                }
            }
        };
        let deadline = tokio::time::Instant::now() + shutdown_timeout;
        if tokio::time::timeout_at(deadline, drain).await.is_err() {
            tracing::error!("shutdown_timeout ({shutdown_timeout:?}) passed before the pipelines drained; aborting exports");
            abort.cancel();
        }

        let mut summary = RunSummary::default();
        for (id, mut task) in export_tasks {
            let stats = match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(r) => r,
                Err(_) => {
                    if !abort.is_cancelled() {
                        tracing::error!("shutdown_timeout ({shutdown_timeout:?}) passed before exporters finished; aborting exports");
                        abort.cancel();
                    }
                    match tokio::time::timeout(ABORT_GRACE, &mut task).await {
                        Ok(r) => r,
                        Err(_) => {
                            tracing::error!(exporter = %id, "exporter did not stop after abort");
                            task.abort();
                            continue;
                        }
                    }
                }
            };
            match stats {
                Ok(s) => {
                    summary.items_sent += s.items_sent;
                    summary.items_failed += s.items_failed;
                }
                Err(e) => tracing::error!(exporter = %id, "export task panicked: {e}"),
            }
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(summary),
        }
    }
}
