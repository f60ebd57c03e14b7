//! `tte-sync simulate`: runs the HubSpot and 10to8 simulators
//! standalone on loopback, prints base URLs, the credentials of each HubSpot app kind and the
//! API versions served, and stops on Ctrl-C.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tte_sync_core::tte::simulator::{Faults, TteSimConfig, TteSimulator};
use tte_sync_hubspot::simulator::{
    HubSpotSimulator, RateLimits, SUPPORTED_VERSIONS, SimulatorConfig,
};

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
    writeln!(
        out,
        "  static app token    {}",
        config.static_app_tokens.join(", ")
    )?;
    writeln!(
        out,
        "  service key         {}",
        config.service_keys.join(", ")
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
        "  API versions        v3 and {} (e.g. /crm/objects/{}/contacts)",
        SUPPORTED_VERSIONS.join(", "),
        SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1]
    )?;
    writeln!(
        out,
        "  token URL           /oauth/{{{}}}/token (client_credentials for the Webhooks Journal)",
        SUPPORTED_VERSIONS.join("|")
    )?;
    writeln!(
        out,
        "  contacts seeded     {seeded} of {} generated (seed {})",
        args.seed_contacts, args.seed
    )?;
    writeln!(out, "  admin API           {}/_sim/", hubspot.base_url())?;
    let tte = start_tte_simulator(&args, &mut out).await?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("Stopping.");
    tte.shutdown().await;
    hubspot.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Starts the 10to8 simulator on `args.tte_port`, seeds `args.seed_customers` generated
/// people (the same people as HubSpot's seed over the overlapping range, so they share
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
