//! `ccpipe`: run a pipeline from config, or check and print a config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ccpipe::Service;
use ccpipe_pipeline::config::{self, Config};
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
    /// default runs (OTLP on 127.0.0.1:4317/4318 -> debug + ./ccpipe-data/claude-code.jsonl).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Vec<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and validate the config; opens no sockets and no files.
    Validate,
    /// Print the effective config after merging and ${env:…} expansion, secrets masked.
    PrintConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        None => match run(&cli.config, config) {
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

fn run(files: &[PathBuf], config: Config) -> anyhow::Result<()> {
    init_logging(&config.service.log_level);
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
        let (term, int) = install_signal_handlers()?;
        tokio::spawn(wait_for_signal(term, int, shutdown.clone()));
        let service = Service::build(&config).await?;
        eprint!("{}", ccpipe::banner::render(files, &config, &service));
        let summary = service.run(shutdown).await.map_err(anyhow::Error::msg)?;
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

fn install_signal_handlers() -> anyhow::Result<(Signal, Signal)> {
    let term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok((term, int))
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn wait_for_signal(mut term: Signal, mut int: Signal, shutdown: Shutdown) {
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    shutdown.cancel();
}
