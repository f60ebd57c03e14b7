//! `tte-sync simulate`: runs the HubSpot simulator (and, where linked, the 10to8 one)
//! standalone on loopback, prints base URLs, tokens and keys, and stops on Ctrl-C.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tte_sync_hubspot::simulator::{HubSpotSimulator, RateLimits, SimulatorConfig};

/// Options of `tte-sync simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the HubSpot simulator on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 4010)]
    hubspot_port: u16,
    /// Port of the 10to8 simulator on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 4020)]
    tte_port: u16,
    /// Contacts to seed in HubSpot: generated people 0..N.
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
    /// HubSpot requests allowed per rolling 10 seconds per token; 0 turns every HubSpot rate
    /// limit off (also the daily and search limits).
    #[arg(long, default_value_t = 110)]
    rate_limit: u32,
}

/// Runs the simulators until Ctrl-C.
///
/// # Errors
/// When a port cannot be bound or the runtime cannot start.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let rate_limits = if args.rate_limit == 0 {
        RateLimits::off()
    } else {
        RateLimits {
            per_ten_seconds: Some(args.rate_limit),
            ..RateLimits::default()
        }
    };
    let config = SimulatorConfig {
        rate_limits,
        latency: Duration::from_millis(args.latency_ms),
        ..SimulatorConfig::default()
    };
    let hubspot = HubSpotSimulator::start(config, args.hubspot_port)
        .await
        .with_context(|| {
            format!(
                "binding the HubSpot simulator to 127.0.0.1:{}; pick another --hubspot-port",
                args.hubspot_port
            )
        })?;
    let seeded = hubspot.seed(args.seed, 0, args.seed_contacts).len();
    let config = hubspot.config();
    let mut out = std::io::stdout().lock();
    writeln!(out, "HubSpot simulator")?;
    writeln!(out, "  base URL            {}", hubspot.base_url())?;
    writeln!(
        out,
        "  private-app token   {}",
        config.private_app_tokens.join(", ")
    )?;
    writeln!(out, "  developer API key   {}", config.developer_api_key)?;
    writeln!(out, "  app id              {}", config.app_id)?;
    writeln!(out, "  portal id           {}", config.portal_id)?;
    writeln!(out, "  OAuth client id     {}", config.client_id)?;
    writeln!(out, "  OAuth client secret {}", config.client_secret)?;
    writeln!(
        out,
        "  authorize URL       {}/oauth/authorize",
        hubspot.base_url()
    )?;
    writeln!(
        out,
        "  contacts seeded     {seeded} of {} generated (seed {})",
        args.seed_contacts, args.seed
    )?;
    writeln!(out, "  admin API           {}/_sim/", hubspot.base_url())?;
    let tte = start_tte_simulator(&args, &mut out)?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("Stopping.");
    drop(tte);
    hubspot.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Keeps the 10to8 simulator running until dropped.
type TteGuard = Box<dyn std::any::Any + Send>;

/// INTEGRATION POINT for the 10to8 simulator (`tte_sync_core::tte::simulator`): start it on
/// `args.tte_port`, seed `args.seed_customers` people from `args.seed` and print its base URL
/// and token, returning a value that stops it when dropped. Until it is wired in, this says
/// so and runs nothing.
fn start_tte_simulator(args: &Args, out: &mut impl Write) -> anyhow::Result<Option<TteGuard>> {
    writeln!(
        out,
        "10to8 simulator\n  not available in this build (--tte-port {} and --seed-customers {} are ignored)",
        args.tte_port, args.seed_customers
    )?;
    Ok(None)
}
