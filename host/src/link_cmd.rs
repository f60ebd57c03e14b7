//! `tte-sync link` and `tte-sync unlink`: a person's decision about a possible duplicate.
//! `link` says a 10to8 customer and a CRM record are the same person; `unlink` says they are
//! different people, so nothing joins them again. The next sync does the rest.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tte_sync_core::engine::EngineError;
use tte_sync_core::{CrmId, CustomerUri};

use crate::sync_cmd::engine_from_config;

/// Arguments of `tte-sync link` and `tte-sync unlink`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, value_name = "FILE", env = "TTE_SYNC_CONFIG")]
    config: PathBuf,
    /// The 10to8 customer's URI (as the dashboard and `sync --dry-run` show it).
    customer: String,
    /// The CRM record's id.
    record: String,
}

/// Runs `tte-sync link` (`keep_apart` false) or `tte-sync unlink` (true).
///
/// # Errors
/// When the config, the store or a side cannot be used, or the request cannot be done.
pub fn run(args: Args, keep_apart: bool) -> anyhow::Result<ExitCode> {
    if !(args.customer.starts_with("http://") || args.customer.starts_with("https://")) {
        anyhow::bail!(
            "`{}` is not a 10to8 customer URI; give the URI first and the CRM record id second, \
             e.g. `tte-sync link https://…/customer/123/ 456`",
            args.customer
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = engine_from_config(&args.config).await?;
        let uri = CustomerUri(args.customer.clone());
        let id = CrmId(args.record.clone());
        let done = if keep_apart {
            engine.unlink(&uri, &id).await.map(|u| {
                if u.was_linked {
                    format!("Unlinked {uri} and {id} and cleared their ids; they are kept apart.")
                } else {
                    format!("Kept {uri} and {id} apart; no sync will join them.")
                }
            })
        } else {
            engine
                .link(&uri, &id)
                .await
                .map(|()| format!("Linked {uri} and {id}."))
        };
        engine.store().close().await;
        match done {
            Ok(message) => {
                eprintln!("{message} The next sync (`tte-sync sync`, or `serve`'s next pass) does the writes.");
                Ok(ExitCode::SUCCESS)
            }
            Err(EngineError::Refused(message)) => {
                eprintln!("error: {message}");
                Ok(ExitCode::FAILURE)
            }
            Err(error) => Err(error.into()),
        }
    })
}
