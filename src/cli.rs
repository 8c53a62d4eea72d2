//! Helper subcommands beside `run` / `validate`: setting up Claude Code and
//! Datadog for this ccpipe.
//!
//! - `ccpipe claude-settings`: the `env` block of Claude Code's
//!   `settings.json` that points it at this ccpipe or a remote gateway;
//!   `--write` / `--managed` merge it into a file, `--check` explains what a
//!   file gets wrong and tests the connection ([`claude_settings`]).
//! - `ccpipe datadog dashboard push`: creates or updates the shipped Datadog
//!   dashboard through the Datadog API ([`dashboard`]).

pub mod claude_settings;
pub mod dashboard;
mod datadog_api;
mod gateway;
mod listen;
mod otel_env;
mod settings_check;
mod settings_file;
mod settings_probe;

use std::process::ExitCode;

/// `ccpipe datadog …`.
#[derive(Debug, clap::Args)]
pub struct DatadogArgs {
    #[command(subcommand)]
    pub command: DatadogCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DatadogCommand {
    /// The Claude Code dashboard (configs/dashboards/datadog-claude-code.json).
    Dashboard {
        #[command(subcommand)]
        command: DashboardCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum DashboardCommand {
    /// Create the dashboard, or update the one with the same title
    /// (DD_API_KEY, DD_APP_KEY, DD_SITE).
    Push(dashboard::PushArgs),
}

/// Runs `ccpipe datadog …`.
pub fn datadog(args: &DatadogArgs) -> ExitCode {
    match &args.command {
        DatadogCommand::Dashboard {
            command: DashboardCommand::Push(push),
        } => dashboard::push_command(push),
    }
}
