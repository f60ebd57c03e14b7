//! `tte-sync retry`: moves dead letters (records that failed for good) back into the inbox
//! and processes them now.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use tte_sync_core::store::ObjectRef;

use crate::sync_cmd::engine_from_config;

/// Arguments of `tte-sync retry`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// Retry every failed record.
    #[arg(long, conflicts_with = "record")]
    all: bool,
    /// The record to retry: a 10to8 customer URI or a CRM record id.
    record: Option<String>,
}

/// Runs `tte-sync retry`.
///
/// # Errors
/// Fails when the config or the store cannot be used, or the arguments name nothing.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.all && args.record.is_none() {
        bail!("say what to retry: `--all`, or a customer URI or CRM record id");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = engine_from_config(&args.config).await?;
        let store = engine.store();
        let moved = match &args.record {
            None => store.requeue_all_dead_letters().await?,
            Some(record) => {
                let object = if record.starts_with("http://") || record.starts_with("https://") {
                    ObjectRef::hub(engine.connector(), record.as_str())
                } else {
                    ObjectRef::crm(engine.connector(), record.as_str())
                };
                u64::from(store.requeue_dead_letter_for(&object).await?)
            }
        };
        if moved == 0 {
            eprintln!("Nothing to retry: no failed record matches.");
            return Ok(ExitCode::SUCCESS);
        }
        let done = engine.drain_inbox().await?;
        eprintln!(
            "Requeued {moved} failed record(s); processed {} inbox item(s), {} failed again.",
            done.processed, done.failed
        );
        Ok(if done.failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}
