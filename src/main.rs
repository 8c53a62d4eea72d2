//! `ccpipe`: run a pipeline from config, or check and print a config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ccpipe::reload::Supervisor;
use ccpipe::Service;
use ccpipe_pipeline::config::{self, Config};
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::Shutdown;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ccpipe",
    version,
    about = "A telemetry pipeline for Claude Code (OTLP in; Datadog, files, console out)"
)]
struct Cli {
    /// Config file (YAML, OpenTelemetry Collector shape). Repeat to merge
    /// several: later files override earlier ones. Without it, the built-in
    /// default runs (OTLP on 127.0.0.1:4317/4318 -> debug, ./ccpipe-data/claude-code.jsonl
    /// and the store ~/.local/share/ccpipe/ccpipe.db).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Vec<PathBuf>,

    /// Write the process id to this file while running (for `ccpipe reload
    /// --pid-file`, init systems and containers); removed on exit.
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and validate the config; opens no sockets and no files.
    Validate,
    /// Print the effective config after merging and ${env:…} expansion, secrets masked.
    PrintConfig,
    /// Make a running ccpipe reload its config (sends SIGHUP). With --config,
    /// those files are validated first and nothing is sent if they are invalid.
    Reload(ReloadArgs),
    /// Print the settings.json "env" block that points Claude Code at this
    /// ccpipe; --write merges it into a file, --check explains a file.
    ClaudeSettings(ccpipe::cli::claude_settings::Args),
    /// Datadog helpers: `datadog dashboard push` creates or updates the dashboard.
    Datadog(ccpipe::cli::DatadogArgs),
    /// Ask a running ccpipe's health endpoint; exit 0 when healthy (or ready
    /// with --ready), 1 otherwise. For container HEALTHCHECKs: no curl needed.
    Healthcheck(ccpipe::health::CheckArgs),
    /// Cost and tokens per day (default), month or session, from the store
    /// the sqlite exporter writes; --json for scripts.
    Usage(ccpipe::cli::usage::Args),
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct ReloadArgs {
    /// The process id of the running ccpipe.
    #[arg(long)]
    pid: Option<u32>,
    /// The file the running ccpipe was started with as --pid-file.
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Before parsing: --help and --version print too.
    ccpipe::sigpipe::end_quietly_on_closed_stdout();
    let cli = Cli::parse();
    if cli.command.is_none() {
        ccpipe::sigpipe::ignore();
    }
    if let Some(Command::Reload(args)) = &cli.command {
        return reload(&cli.config, args);
    }
    if let Some(Command::Datadog(args)) = &cli.command {
        return ccpipe::cli::datadog(args);
    }
    if let Some(Command::Healthcheck(args)) = &cli.command {
        return ccpipe::health::healthcheck(&cli.config, args);
    }
    if let Some(Command::Usage(args)) = &cli.command {
        // A config is read only when given: it names the database.
        let config = match cli.config.is_empty() {
            true => None,
            false => match config::load(&cli.config) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("ccpipe: invalid config:\n{e}");
                    return ExitCode::from(2);
                }
            },
        };
        return ccpipe::cli::usage::run(args, config.as_ref());
    }
    let config = match config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ccpipe: invalid config:\n{e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Validate) => validate(&config),
        Some(Command::PrintConfig) => {
            print!("{}", config.to_masked_yaml());
            ExitCode::SUCCESS
        }
        Some(Command::Reload(_)) => unreachable!("handled before loading the config"),
        Some(Command::Datadog(_)) => unreachable!("handled before loading the config"),
        Some(Command::Healthcheck(_)) => unreachable!("handled before loading the config"),
        Some(Command::Usage(_)) => unreachable!("handled before loading the config"),
        Some(Command::ClaudeSettings(args)) => ccpipe::cli::claude_settings::run(args, &config),
        None => match run(&cli.config, cli.pid_file.as_deref(), config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ccpipe: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn validate(config: &Config) -> ExitCode {
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    match ccpipe::service::validate(config) {
        Ok(()) => {
            println!(
                "config OK: {} pipelines, {} receivers, {} processors, {} exporters",
                config.service.pipelines.len(),
                config.receivers.len(),
                config.processors.len(),
                config.exporters.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("ccpipe: invalid config:");
            for e in errors {
                eprintln!("{e}");
            }
            ExitCode::from(2)
        }
    }
}

/// `ccpipe reload`: checks the given config files, if any, then sends SIGHUP.
fn reload(files: &[PathBuf], args: &ReloadArgs) -> ExitCode {
    if !files.is_empty() {
        let checked = config::load(files)
            .map_err(|e| e.to_string())
            .and_then(|c| ccpipe::service::validate(&c).map_err(|e| e.join("\n")));
        if let Err(e) = checked {
            eprintln!("ccpipe: invalid config, not reloading:\n{e}");
            return ExitCode::from(2);
        }
    }
    let pid = match (args.pid, &args.pid_file) {
        (Some(pid), _) => Ok(pid),
        (None, Some(path)) => ccpipe::pidfile::read(path),
        (None, None) => unreachable!("clap requires --pid or --pid-file"),
    };
    match pid.and_then(|pid| ccpipe::pidfile::send_reload(pid).map(|()| pid)) {
        Ok(pid) => {
            eprintln!("ccpipe: asked process {pid} to reload; its log says whether the new config was taken");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ccpipe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(files: &[PathBuf], pid_file: Option<&Path>, config: Config) -> anyhow::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    limit_malloc_arenas();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return_big_frees();
    init_logging(&config.service.log_level);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    trim_malloc_periodically();
    if let Err(errors) = ccpipe::service::validate(&config) {
        anyhow::bail!("invalid config:\n{}", errors.join("\n"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ccpipe-io")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Handlers go in before the banner: whoever reads the banner may
        // signal at once, and must not hit the default (abrupt) action.
        let shutdown = Shutdown::new();
        let signals = install_signal_handlers()?;
        let (reload_tx, reloads) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(wait_for_signal(signals, shutdown.clone(), reload_tx));
        let _pid_file = pid_file.map(ccpipe::pidfile::PidFile::create).transpose()?;
        let listeners = Listeners::new();
        // Metrics and health first: the recorder must be in before the
        // graph registers its counters, and /healthz answers during startup.
        let readiness = ccpipe::health::Readiness::new();
        let admin = ccpipe::admin::start(&config.service, readiness.clone()).await?;
        let service = Service::build_with(&config, &listeners).await?;
        // After the graph: the sqlite exporter has created its database.
        let view =
            ccpipe::view::start(&config, &listeners, &shutdown).map_err(anyhow::Error::msg)?;
        let endpoints = admin.banner() + &ccpipe::view::banner(view.as_ref());
        eprint!(
            "{}",
            ccpipe::banner::render(files, &config, &service, &endpoints)
        );
        readiness.ready_until(&shutdown);
        // Building the graph checked and dropped what it built to validate
        // (a config's regexes, parsed YAML): hand those pages back now rather
        // than at the first periodic trim, a few seconds into idling.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        trim_malloc();
        let supervisor = Supervisor::new(files.to_vec(), config, listeners, view);
        let summary = supervisor
            .run(service, shutdown, reloads)
            .await
            .map_err(anyhow::Error::msg)?;
        tracing::info!(
            sent = summary.items_sent,
            failed = summary.items_failed,
            "stopped"
        );
        if summary.items_failed > 0 {
            anyhow::bail!(
                "{} items could not be exported (see the errors above)",
                summary.items_failed
            );
        }
        Ok(())
    })
}

/// glibc arenas for the whole process at most (glibc's default is up to 8
/// per core).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: usize = 2;

/// One arena per core the process may run on (its affinity and cgroup
/// quota, as `available_parallelism` reads them), at most
/// [`MALLOC_ARENAS`]: on one core the threads never allocate at the same
/// time, so a second arena only held a second set of free pages. Pinned to
/// one core, the gzip datadog chain over gRPC peaked ~0.5 MiB lower with
/// one arena at the same CPU per record (bench/README.md, session 8).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_arenas(cores: usize) -> usize {
    cores.clamp(1, MALLOC_ARENAS)
}

/// glibc gives threads that allocate at the same time arenas of their own,
/// and memory freed into one arena is reused only by that arena: request
/// bodies are allocated on the receiver's threads and freed on the
/// exporter's, so each arena grows to hold a batch or two. With two arenas
/// the benchmark's peak RSS fell by a quarter to a third at the same CPU per
/// record (bench/README.md, "Figures"). An operator's own `MALLOC_ARENA_MAX`
/// or `GLIBC_TUNABLES=glibc.malloc.arena_max=N` is left in force.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    let set_by_env = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
    if !set_by_env {
        let cores = std::thread::available_parallelism().map_or(MALLOC_ARENAS, |n| n.get());
        let arenas = libc::c_int::try_from(malloc_arenas(cores)).unwrap_or(1);
        // SAFETY: mallopt only changes an allocator parameter (it takes the
        // allocator's own locks) and has no memory-safety preconditions; it
        // runs before the runtime starts its threads.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    }
}

/// Allocations from this size up are mapped on their own and unmapped when
/// freed, and an arena's free top beyond it goes back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_BIG: libc::c_int = 1 << 20;

/// glibc raises its mmap threshold to the largest block freed so far (up to
/// 32 MiB) and its trim threshold to twice that, so after the first batch-
/// sized buffer (an export's request body, the file exporter's lines) every
/// later one came from the arenas and stayed there: fixing both at 1 MiB
/// took ~2 MB off the datadog chain's peak at 32 connections at the same CPU
/// per record (bench/README.md, "peak RSS at 32 connections"). Request
/// bodies (tens of KiB) stay in the arenas. An operator's own
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` or tunables win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_big_frees() {
    let set_by_env = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some()
        || std::env::var("GLIBC_TUNABLES")
            .is_ok_and(|t| t.contains("mmap_threshold") || t.contains("trim_threshold"));
    if !set_by_env {
        // SAFETY: as in limit_malloc_arenas: mallopt only changes allocator
        // parameters, before the runtime starts its threads.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MALLOC_BIG);
            libc::mallopt(libc::M_TRIM_THRESHOLD, MALLOC_BIG);
        }
    }
}

/// How often freed memory is handed back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// glibc keeps freed memory in its arenas for reuse (and raises its mmap
/// threshold after large frees, so multi-MiB request bodies come from the
/// arenas too): after a burst of large requests the resident set stayed
/// ~300 MB with the clients gone. `malloc_trim` hands the free pages back;
/// once every few seconds it costs a walk over the free lists, and an idle
/// process returns to its idle size (tests/memory.rs measures it).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_malloc_periodically() {
    let spawned = std::thread::Builder::new()
        .name("ccpipe-trim".into())
        .spawn(|| loop {
            std::thread::sleep(MALLOC_TRIM_EVERY);
            trim_malloc();
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the memory trimming thread: {e}");
    }
}

/// Returns the allocator's free pages to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_malloc() {
    // SAFETY: malloc_trim only returns free memory to the system under the
    // allocator's own locks; it has no preconditions.
    unsafe { libc::malloc_trim(0) };
}

fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: logs piped to files or collectors stay plain.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

use tokio::signal::unix::{signal, Signal, SignalKind};

struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

fn install_signal_handlers() -> anyhow::Result<Signals> {
    Ok(Signals {
        term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        hup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
    })
}

/// Cancels `shutdown` on SIGINT or SIGTERM; asks for a reload on SIGHUP.
async fn wait_for_signal(
    mut s: Signals,
    shutdown: Shutdown,
    reload: tokio::sync::mpsc::UnboundedSender<()>,
) {
    loop {
        tokio::select! {
            _ = s.term.recv() => tracing::info!("SIGTERM received"),
            _ = s.int.recv() => tracing::info!("SIGINT received"),
            _ = s.hup.recv() => {
                let _ = reload.send(());
                continue;
            }
        }
        break;
    }
    shutdown.cancel();
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    #[test]
    fn one_malloc_arena_per_core_up_to_two() {
        assert_eq!(super::malloc_arenas(1), 1);
        assert_eq!(super::malloc_arenas(2), 2);
        assert_eq!(super::malloc_arenas(64), 2);
        assert_eq!(super::malloc_arenas(0), 1, "never none");
    }
}
