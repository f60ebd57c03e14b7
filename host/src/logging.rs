//! Log output: `tracing` to stderr, readable or JSON, filtered by the config or `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `log.level`.
///
/// # Errors
/// Fails when `log.level` is not a valid filter, naming the key.
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(&from_env)
            .map_err(|error| anyhow::anyhow!("RUST_LOG=`{from_env}` is not a valid filter: {error}"))?,
        _ => EnvFilter::try_new(&config.level).map_err(|error| {
            anyhow::anyhow!(
                "`log.level` = `{}` is not a valid filter ({error}); write e.g. `info` or `info,tte_sync_core=debug`",
                config.level
            )
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests, or a command that runs another) keeps the first subscriber.
    let _ = match config.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}
