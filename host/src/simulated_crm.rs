//! Which registered connector's simulator `demo` and `simulate` start: the one named by
//! `--crm`, else the first registered (by name) that ships one.

use tte_sync_core::connector::ConnectorPlugin;
use tte_sync_core::connector::registry::{self, SimulatorHook};

/// The connector and its simulator hook for `--crm name` (or the default when `None`).
///
/// # Errors
/// When the name is unknown, or names a connector without a simulator, or none has one; the
/// message lists the connectors that have simulators.
pub fn choose(
    name: Option<&str>,
) -> anyhow::Result<(&'static ConnectorPlugin, &'static SimulatorHook)> {
    let simulated = || {
        let names: Vec<_> = registry::plugins()
            .into_iter()
            .filter(|plugin| plugin.simulator().is_some())
            .map(|plugin| plugin.name)
            .collect();
        if names.is_empty() {
            "none of the connectors linked into this binary has one".to_owned()
        } else {
            format!("connectors with a simulator: {}", names.join(", "))
        }
    };
    let plugin = match name {
        Some(name) => registry::find(name)?,
        None => registry::plugins()
            .into_iter()
            .find(|plugin| plugin.simulator().is_some())
            .ok_or_else(|| anyhow::anyhow!("no CRM simulator to start; {}", simulated()))?,
    };
    let hook = plugin.simulator().ok_or_else(|| {
        anyhow::anyhow!(
            "the `{}` connector ships no simulator; pick one with --crm ({})",
            plugin.name,
            simulated()
        )
    })?;
    Ok((plugin, hook))
}
