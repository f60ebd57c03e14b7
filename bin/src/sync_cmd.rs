//! `tte-sync sync`: one full two-way reconcile, with a plan (`--dry-run`), a per-direction
//! summary (or `--json`) and progress on stderr wherever it goes ([`progress`](crate::progress)).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use tte_sync_core::connector::{ConnectorContext, registry};
use tte_sync_core::engine::{Engine, ReconcileOptions, SyncDirection};
use tte_sync_core::mapping::Mapping;
use tte_sync_core::store::Store;
use tte_sync_core::tte::TteClient;

use crate::config::Config;
use crate::progress::ProgressMode;

/// Arguments of `tte-sync sync`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// Print the plan and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Which sides may be written: both, to-crm or to-hub.
    #[arg(long, default_value = "both", value_name = "DIRECTION")]
    direction: SyncDirection,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Where progress goes, on stderr: `auto` (a bar on a terminal, text lines every few
    /// seconds elsewhere), `bar`, `text`, `json` (NDJSON lines) or `off`.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto, value_name = "MODE")]
    progress: ProgressMode,
}

/// The exit status of a pass stopped because an API throttled or was down for longer than
/// `sync.max_stall_secs` (`EX_TEMPFAIL`: run it again later; it resumes).
pub const EXIT_STALLED: u8 = 75;

/// Runs `tte-sync sync`.
///
/// # Errors
/// Fails when the config, mapping, store, 10to8 or the CRM cannot be used.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = engine_from_config(&args.config).await?;
        let progress = args.progress.reporter();
        let options = ReconcileOptions {
            dry_run: args.dry_run,
            direction: args.direction,
            progress: progress.clone(),
        };
        let summary = match engine.reconcile(&options).await {
            Ok(summary) => summary,
            Err(error) if error.is_transient() => {
                drop(progress);
                eprintln!("error: {error}");
                return Ok(ExitCode::from(EXIT_STALLED));
            }
            Err(error) => return Err(error.into()),
        };
        drop(progress);
        let text = if args.json {
            let json = serde_json::to_string_pretty(&summary).context("writing the summary")?;
            format!("{json}\n")
        } else {
            summary.to_string()
        };
        std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes())
            .context("writing the summary")?;
        Ok(if summary.has_failures() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Loads the config and builds the engine it describes: store (migrated), mapping, 10to8
/// client and CRM connector.
///
/// # Errors
/// Fails with a message naming what to fix.
pub async fn engine_from_config(path: &Path) -> anyhow::Result<Engine> {
    let config = Config::load(path)?;
    let plugin = registry::find(&config.crm.connector).map_err(|e| anyhow!("{e}"))?;
    let mapping = match &config.mapping {
        Some(file) => Mapping::load(file).map_err(|d| anyhow!("{d}"))?,
        None => Mapping::compile(
            plugin.default_mapping,
            &format!("<{} default>", plugin.name),
        )
        .map_err(|d| anyhow!("{d}"))?,
    };
    // The store's errors name the database themselves, without its password.
    let store = Store::open(&config.database)
        .await
        .context("opening the state store")?;
    let crm = plugin
        .build(
            config.crm.config.clone(),
            ConnectorContext {
                tokens: Arc::new(store.clone()),
            },
        )
        .map_err(|e| anyhow!("crm.config: {e}"))?;
    let tte = TteClient::new(config.tte.clone()).map_err(|e| anyhow!("{e}"))?;
    Ok(Engine::new(store, tte, crm, Arc::new(mapping)))
}
