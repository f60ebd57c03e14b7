//! `tte-sync disconnect`: uninstalls the CRM app from the account it was installed into
//! through OAuth, revokes its tokens at the CRM and forgets them. Sync stops for that account
//! until the app is installed again.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::app::App;
use crate::config::Config;

/// Options of `tte-sync disconnect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, env = "TTE_SYNC_CONFIG")]
    config: PathBuf,
}

/// Runs `tte-sync disconnect`.
///
/// # Errors
/// When the config cannot be loaded, the connector has no OAuth install, nothing is installed,
/// or the CRM refuses the uninstall.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    crate::logging::init(&config.log)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let app = App::load(config).await?;
        let name = app.connector.name();
        let Some(oauth) = app.connector.oauth() else {
            bail!("the {name} connector is not configured with OAuth, so there is no install to disconnect");
        };
        let account = oauth
            .disconnect()
            .await
            .with_context(|| format!("disconnecting the {name} app"))?;
        app.store.close().await;
        eprintln!("Disconnected {name} account {account}: the app is uninstalled and its tokens revoked.");
        Ok(ExitCode::SUCCESS)
    })
}
