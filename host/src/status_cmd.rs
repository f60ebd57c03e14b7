//! `tte-sync status`: the dashboard's summary on the terminal, read straight from the state
//! store (the server need not run), plus the same health checks.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use tte_sync_core::http::LearnedPace;

use crate::app::App;
use crate::config::Config;
use crate::serve::status::{Check, Status};

/// Options of `tte-sync status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, env = "TTE_SYNC_CONFIG")]
    config: PathBuf,
    /// Print JSON (the same as `GET /api/status`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints the summary. Exits 1 when a health check fails or records are failing (a write that
/// did not happen); records that only need attention (designed outcomes) do not count.
///
/// # Errors
/// When the config or the store cannot be loaded.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    crate::logging::init(&config.log)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let status = runtime.block_on(async {
        let app = App::load(config).await?;
        let status = Status::gather(
            &app.store,
            app.connector.as_ref(),
            Some(&app.tte),
            app.config.server.public_url.as_ref(),
        )
        .await?;
        app.store.close().await;
        anyhow::Ok(status)
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&status)?)?;
    } else {
        print(&mut out, &status)?;
    }
    Ok(if status.is_healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn line(check: &Check) -> String {
    format!(
        "{} ({})",
        if check.ok { "ok" } else { "FAILING" },
        check.detail
    )
}

fn pace_line(pace: Option<LearnedPace>) -> String {
    let Some(pace) = pace else {
        return "not learned yet (starts at tte.start_requests_per_second)".to_owned();
    };
    let rate = pace.requests_per_second.map_or_else(
        || "unpaced".to_owned(),
        |rate| format!("{rate:.1} requests/s"),
    );
    match pace.throttled_at {
        Some(refused) => format!("{rate} learned; 10to8 throttled at {refused:.1}/s"),
        None => format!("{rate} learned; 10to8 has not throttled"),
    }
}

fn print(out: &mut impl Write, status: &Status) -> std::io::Result<()> {
    writeln!(out, "state store      {}", status.store)?;
    writeln!(out, "10to8            {}", line(&status.health.tte))?;
    writeln!(
        out,
        "10to8 notifies   {}",
        line(&status.health.tte_notifications)
    )?;
    writeln!(out, "{:<16} {}", status.connector, line(&status.health.crm))?;
    if let Some(reason) = &status.health.crm_reinstall_needed {
        writeln!(out, "REINSTALL NEEDED {reason}")?;
    }
    writeln!(out, "changes by       {}", status.health.crm_changes)?;
    writeln!(
        out,
        "10to8 pace       {}",
        pace_line(status.health.tte_pace)
    )?;
    if let Some(expires) = status.health.crm_token_expires_at {
        writeln!(out, "token expires    {expires}")?;
    }
    let inbox = &status.inbox;
    write!(
        out,
        "inbox            {} waiting, {} due, {} in progress",
        inbox.depth, inbox.ready, inbox.claimed
    )?;
    match inbox.oldest_enqueued_at {
        Some(oldest) => writeln!(out, ", oldest from {oldest}")?,
        None => writeln!(out)?,
    }
    match status.runs.first() {
        Some(run) => {
            writeln!(
                out,
                "last run         {:?} started {}, {}",
                run.kind,
                run.started_at,
                run.outcome
                    .map_or_else(|| "running".to_owned(), |o| format!("{o:?}"))
            )?;
            // Why it stopped: a throttled or down API, a spent daily limit (with its reset).
            if let Some(error) = run.summary.as_ref().and_then(|s| s["error"].as_str()) {
                writeln!(out, "                 {error}")?;
            }
        }
        None => writeln!(out, "last run         none yet")?,
    }
    writeln!(
        out,
        "failing records  {} (dead letters: {})",
        status.failing_count,
        status.dead_letters.len()
    )?;
    for dead in &status.dead_letters {
        writeln!(
            out,
            "  #{:<5} {} {}: {}",
            dead.id, dead.side, dead.object_id, dead.error
        )?;
    }
    for record in &status.failing {
        writeln!(
            out,
            "  {} {} {}: {}",
            record.object.side, record.object.object_id, record.display_name, record.message
        )?;
    }
    writeln!(out, "attention        {} records", status.attention_count)?;
    for reason in &status.reasons {
        let state = match reason.status {
            tte_sync_core::store::SyncStatus::Error => "failing",
            _ => "attention",
        };
        writeln!(out, "  {:>5} {state}: {}", reason.count, reason.label)?;
    }
    writeln!(out, "conflicts        {} recent", status.conflicts.len())?;
    writeln!(
        out,
        "activity         {} recent entries",
        status.activity.len()
    )?;
    for entry in status.activity.iter().take(10) {
        writeln!(
            out,
            "  {} {:?} {:?} {}",
            entry.at.format("%Y-%m-%d %H:%M:%S"),
            entry.direction,
            entry.action,
            entry.display_name
        )?;
    }
    Ok(())
}
