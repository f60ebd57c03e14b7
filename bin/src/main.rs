//! `tte-sync`: the command line and server host.
//!
//! Parses the command line and hands each subcommand to its module; the only place in the
//! project that turns errors into exit codes and messages for a person.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
// Links the HubSpot connector so that it registers itself.
use tte_sync_hubspot as _;

mod app;
mod config;
mod config_cmd;
mod connectors_cmd;
mod demo_cmd;
mod disconnect_cmd;
mod link_cmd;
mod logging;
mod mapping_cmd;
mod progress;
mod retry_cmd;
mod serve;
mod serve_cmd;
mod setup_cmd;
mod simulate_cmd;
mod status_cmd;
mod sync_cmd;
mod tte_subscription;

/// Two-way customer sync between 10to8 and a CRM.
#[derive(Debug, Parser)]
#[command(name = "tte-sync", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the CRM connectors linked into this binary.
    Connectors,
    /// Check a config file, or print the JSON Schema of config files.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Check, describe and preview mapping files.
    Mapping {
        #[command(subcommand)]
        command: mapping_cmd::MappingCommand,
    },
    /// Run the server: webhooks, OAuth install, workers, dashboard, metrics.
    Serve(serve_cmd::Args),
    /// Create the CRM properties and the webhook subscriptions on both sides (idempotent).
    Setup(setup_cmd::Args),
    /// Print the dashboard's summary: health, inbox, runs, failures.
    Status(status_cmd::Args),
    /// Run the whole system against built-in simulators of 10to8 and HubSpot.
    Demo(demo_cmd::Args),
    /// Run one full two-way reconcile (`--dry-run` prints the plan and writes nothing).
    ///
    /// Exits 0 when every record synced, 1 when some failed (see `tte-sync status`) or the
    /// sync could not run, and 75 when an API throttled or was down for longer than
    /// `sync.max_stall_secs`: nothing was recorded against any record, and running it again
    /// resumes where it stopped.
    Sync(sync_cmd::Args),
    /// Link a 10to8 customer and a CRM record held as possible duplicates: the same person.
    Link(link_cmd::Args),
    /// Keep a 10to8 customer and a CRM record apart: different people, never joined again.
    Unlink(link_cmd::Args),
    /// Retry records that failed for good (the dead letters): one, or `--all`.
    Retry(retry_cmd::Args),
    /// Uninstall the CRM app from its OAuth account and revoke its tokens.
    Disconnect(disconnect_cmd::Args),
    /// Run the HubSpot and 10to8 simulators standalone until Ctrl-C.
    Simulate(simulate_cmd::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Connectors => connectors_cmd::run(),
        Command::Config(command) => config_cmd::run(command),
        Command::Simulate(args) => simulate_cmd::run(args),
        Command::Mapping { command } => mapping_cmd::run(command),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Setup(args) => setup_cmd::run(args),
        Command::Status(args) => status_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::Sync(args) => sync_cmd::run(args),
        Command::Link(args) => link_cmd::run(args, false),
        Command::Unlink(args) => link_cmd::run(args, true),
        Command::Retry(args) => retry_cmd::run(args),
        Command::Disconnect(args) => disconnect_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
