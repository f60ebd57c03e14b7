//! `tte-sync config check|schema`: validate a config file, or print the schema of config files.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::{self, Config};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load a config file as `serve` would (expanding `${ENV}`, applying `TTE_SYNC__…`
    /// overrides) and report the first problem, or a one-line summary.
    Check {
        /// The config file.
        #[arg(long, short, default_value = "tte-sync.yaml")]
        config: PathBuf,
    },
    /// Print the JSON Schema of config files (for editor completion).
    Schema,
}

pub fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        ConfigCommand::Check { config: path } => match Config::load(&path) {
            Ok(config) => {
                writeln!(
                    out,
                    "{}: ok (crm: {}, database: {})",
                    path.display(),
                    config.crm.connector,
                    database_kind(&config.database)
                )?;
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("error: {error}");
                Ok(ExitCode::FAILURE)
            }
        },
        ConfigCommand::Schema => {
            serde_json::to_writer_pretty(&mut out, &config::schema())?;
            writeln!(out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The kind of database without its credentials.
fn database_kind(url: &str) -> &'static str {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        "postgres"
    } else {
        "sqlite"
    }
}
