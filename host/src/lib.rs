//! The `tte-sync` host: the whole command line and server of a sync between 10to8 and a CRM,
//! for any connector in the registry (`tte_sync_core::connector::registry`).
//!
//! A CRM's binary is the connector crate linked in and this crate's [`main`]:
//!
//! ```no_run
//! // use my_crm_connector as _; // the connector registers itself with `inventory::submit!`
//!
//! fn main() -> std::process::ExitCode {
//!     tte_sync_host::main()
//! }
//! ```
//!
//! [`run`] parses the command line and hands each subcommand to its module; it is the only
//! place that turns errors into exit codes and messages for a person. [`config`] (the config
//! file) and [`serve`] (the HTTP app) are public for binaries and tests that embed the server.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod app;
pub mod config;
mod config_cmd;
mod connectors_cmd;
mod demo_cmd;
mod disconnect_cmd;
mod link_cmd;
mod logging;
mod mapping_cmd;
mod progress;
mod retry_cmd;
pub mod serve;
mod serve_cmd;
mod setup_cmd;
mod simulate_cmd;
mod simulated_crm;
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
    /// Run the whole system against built-in simulators of 10to8 and a CRM (`--crm`).
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
    /// Run the 10to8 simulator and a CRM's (`--crm`) standalone until Ctrl-C.
    Simulate(simulate_cmd::Args),
}

/// Runs the command line of this process: `run(std::env::args_os())`.
pub fn main() -> ExitCode {
    run(std::env::args_os())
}

/// Parses `args` (the program name first) and runs the subcommand; the exit code says whether
/// it worked. Help, version and usage errors are printed and exit as clap decides.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::parse_from(args);
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
