//! `tte-sync simulate`: runs the 10to8 simulator and a CRM's (`--crm`, see
//! [`crate::simulated_crm`]) standalone on loopback, prints their base URLs and what the CRM
//! simulator says a client needs (credentials, ids, API versions), and stops on Ctrl-C.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tte_sync_core::connector::registry::SimulatorOptions;
use tte_sync_core::tte::simulator::{Faults, TteSimConfig, TteSimulator};

/// Options of `tte-sync simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The CRM whose simulator to run (`tte-sync connectors` lists them); by default the
    /// first that has one.
    #[arg(long)]
    crm: Option<String>,
    /// Port of the CRM simulator on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 4010)]
    crm_port: u16,
    /// Port of the 10to8 simulator on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 4020)]
    tte_port: u16,
    /// Contacts to seed in the CRM: generated people 0..N.
    #[arg(long, default_value_t = 0)]
    seed_contacts: u64,
    /// Customers to seed in 10to8: generated people 0..M (overlapping people share emails).
    #[arg(long, default_value_t = 0)]
    seed_customers: u64,
    /// Seed number of the generated people.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Latency added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// CRM requests allowed per rolling 10 seconds; 0 turns every CRM rate limit off; by
    /// default the CRM's own documented limits.
    #[arg(long)]
    rate_limit: Option<u32>,
}

/// Runs the simulators until Ctrl-C.
///
/// # Errors
/// When a port cannot be bound, `--crm` names no connector with a simulator, or the runtime
/// cannot start.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let (_, hook) = crate::simulated_crm::choose(args.crm.as_deref())?;
    let label = hook.label;
    let mut options = SimulatorOptions::on_port(args.crm_port);
    options.latency = Duration::from_millis(args.latency_ms);
    options.rate_limit_per_ten_seconds = args.rate_limit;
    let crm = hook.start(options).await.with_context(|| {
        format!(
            "binding the {label} simulator to 127.0.0.1:{}; pick another --crm-port",
            args.crm_port
        )
    })?;
    let seeded = crm.seed(args.seed, 0, args.seed_contacts);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{label} simulator")?;
    writeln!(out, "  {:<20}{}", "base URL", crm.base_url())?;
    for (name, value) in crm.details() {
        writeln!(out, "  {name:<20}{value}")?;
    }
    writeln!(
        out,
        "  {:<20}{seeded} of {} generated (seed {})",
        "contacts seeded", args.seed_contacts, args.seed
    )?;
    let tte = start_tte_simulator(&args, &mut out).await?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("Stopping.");
    tte.shutdown().await;
    crm.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Starts the 10to8 simulator on `args.tte_port`, seeds `args.seed_customers` generated
/// people (the same people as the CRM's seed over the overlapping range, so they share
/// emails) and prints its base URL and API key.
async fn start_tte_simulator(args: &Args, out: &mut impl Write) -> anyhow::Result<TteSimulator> {
    let config = TteSimConfig {
        faults: Faults {
            latency_ms: args.latency_ms,
            ..Faults::default()
        },
        ..TteSimConfig::default()
    };
    let tte = TteSimulator::start(config, args.tte_port)
        .await
        .with_context(|| {
            format!(
                "binding the 10to8 simulator to 127.0.0.1:{}; pick another --tte-port",
                args.tte_port
            )
        })?;
    let seeded = tte.seed(args.seed, 0, args.seed_customers, false).len();
    writeln!(out, "10to8 simulator")?;
    writeln!(out, "  base URL            {}", tte.base_url())?;
    writeln!(out, "  API key             {}", tte.api_key())?;
    writeln!(
        out,
        "  customers seeded    {seeded} (generated people 0..{}, seed {})",
        args.seed_customers, args.seed
    )?;
    writeln!(out, "  admin API           {}/_sim/", tte.base_url())?;
    Ok(tte)
}
