//! `tte-sync connectors`: the registered connectors, sorted by name.

use std::io::Write;
use std::process::ExitCode;

use tte_sync_core::connector::registry;

pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for plugin in registry::plugins() {
        writeln!(out, "{:<12} {}", plugin.name, plugin.description)?;
    }
    Ok(ExitCode::SUCCESS)
}
