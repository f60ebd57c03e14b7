//! `tte-sync demo`: the whole system on one machine with no accounts. Starts the HubSpot and
//! 10to8 simulators in-process, a SQLite store in a temporary directory, seeds people that
//! partly overlap (shared emails), runs setup and a full sync with progress, then serves the
//! dashboard and prints commands to edit a record on either side and watch it sync.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tte_sync_core::engine::{Progress, ReconcileOptions};
use tte_sync_core::tte::TteConfig;
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_hubspot::simulator::{HubSpotSimulator, SimulatorConfig};

use crate::app::App;
use crate::config::{Config, CrmConfig, LogConfig, ServerConfig, SyncConfig};

/// The seed of the generated people.
const SEED: u64 = 1;

/// Options of `tte-sync demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Customers to seed in the 10to8 simulator.
    #[arg(long, default_value_t = 200)]
    customers: u64,
    /// Contacts to seed in the HubSpot simulator; the first half of them are also 10to8
    /// customers (same people, same emails).
    #[arg(long, default_value_t = 150)]
    contacts: u64,
    /// Port of the dashboard on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Exit once both sides have converged, instead of serving the dashboard.
    #[arg(long)]
    exit_after_sync: bool,
}

/// Runs the demo.
///
/// # Errors
/// When a port cannot be bound, or setup or the first sync fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = LogConfig {
        level: "warn".to_owned(),
        ..LogConfig::default()
    };
    crate::logging::init(&log)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(demo(args, log))
}

async fn demo(args: Args, log: LogConfig) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout();
    let hubspot = HubSpotSimulator::start(SimulatorConfig::default(), 0)
        .await
        .context("starting the HubSpot simulator")?;
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .context("starting the 10to8 simulator")?;
    // 10to8 has people 0..N; HubSpot people from N/2 on, so up to N/2 are on both sides.
    let overlap_start = args.customers / 2;
    tte.seed(SEED, 0, args.customers, false);
    hubspot.seed(SEED, overlap_start, args.contacts);
    let shared = args
        .customers
        .saturating_sub(overlap_start)
        .min(args.contacts);
    writeln!(
        out,
        "Simulators: 10to8 at {} ({} customers), HubSpot at {} ({} contacts); {shared} people are in both.",
        tte.base_url(),
        args.customers,
        hubspot.base_url(),
        args.contacts
    )?;

    let dir = scratch_dir()?;
    let port = if args.port == 0 {
        TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()
    } else {
        args.port
    };
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let public_url: url::Url = format!("http://{listen}").parse()?;
    let sim = hubspot.config();
    let config = Config {
        database: format!("sqlite://{}", dir.join("state.db").display()),
        mapping: None,
        tte: TteConfig::new(tte.base_url(), tte.api_key().into()),
        crm: CrmConfig {
            connector: tte_sync_hubspot::NAME.to_owned(),
            config: serde_json::json!({
                "api_base_url": hubspot.base_url(),
                "static_app_token": sim.static_app_tokens[0],
                "app_id": sim.app_id,
                "webhooks": { "client_secret": sim.client_secret, "portal_ids": [sim.portal_id] },
            }),
        },
        server: ServerConfig {
            listen,
            public_url: Some(public_url.clone()),
            ..ServerConfig::default()
        },
        log,
        sync: SyncConfig::default(),
    };
    let app = App::load(config).await?;
    writeln!(out, "State store: {}", app.store.location())?;

    writeln!(out, "\nSetup:")?;
    let report = crate::setup_cmd::setup(&app, false).await?;
    for change in &report.changes {
        writeln!(out, "  {:?} {}", change.action, change.target)?;
    }
    // The simulated app is a project app: its webhooks are declared in a file setup wrote,
    // deployed here as `hs project upload` would.
    for file in &report.files {
        let declared: serde_json::Value = serde_json::from_str(&file.contents)
            .with_context(|| format!("reading the {} setup made", file.path))?;
        let subscriptions = hubspot
            .deploy_project_webhooks(&declared)
            .map_err(|e| anyhow::anyhow!("deploying {} to the simulated app: {e}", file.path))?;
        writeln!(
            out,
            "  Deployed {} to the simulated app ({subscriptions} subscriptions), as `hs project upload` would",
            file.path
        )?;
    }

    writeln!(out, "\nFull sync:")?;
    let engine = crate::serve_cmd::engine_of(&app);
    let options = ReconcileOptions {
        progress: Some(Arc::new(Printed::default())),
        ..ReconcileOptions::default()
    };
    let summary = engine.reconcile(&options).await?;
    writeln!(
        out,
        "  to HubSpot: {} created, {} updated, {} linked; to 10to8: {} created, {} updated; {} failed",
        summary.to_crm.created,
        summary.to_crm.updated,
        summary.to_crm.linked,
        summary.to_hub.created,
        summary.to_hub.updated,
        summary.to_crm.failed + summary.to_hub.failed
    )?;
    let check = engine
        .reconcile(&ReconcileOptions {
            dry_run: true,
            ..ReconcileOptions::default()
        })
        .await?;
    let converged = check.writes() == 0;
    writeln!(
        out,
        "  converged: {}",
        if converged {
            "yes — a second pass plans no writes".to_owned()
        } else {
            format!("no — a second pass still plans {} writes", check.writes())
        }
    )?;
    if args.exit_after_sync {
        // What `tte-sync status` would say now, while the simulators still answer.
        let status = crate::serve::status::Status::gather(
            &app.store,
            app.connector.as_ref(),
            Some(&app.tte),
            app.config.server.public_url.as_ref(),
        )
        .await?;
        let healthy = status.is_healthy();
        writeln!(
            out,
            "  status: {}",
            if healthy {
                format!(
                    "healthy — no failing record, nothing dead-lettered, checks pass ({} need attention)",
                    status.attention_count
                )
            } else {
                format!(
                    "not healthy — {} failing, {} dead-lettered; run without --exit-after-sync and open the dashboard",
                    status.failing_count,
                    status.dead_letters.len()
                )
            }
        )?;
        app.store.close().await;
        hubspot.shutdown().await;
        tte.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(if converged && healthy {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    print_try_it(&mut out, &tte, &hubspot, &public_url)?;
    let metrics = Arc::new(crate::serve::Metrics::default());
    metrics.record_sync(&summary);
    let result = crate::serve_cmd::serve(app, metrics, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| ExitCode::SUCCESS)
}

fn scratch_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tte-sync-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the demo directory {}", dir.display()))?;
    Ok(dir)
}

/// The dashboard URL and copy-paste commands, using a linked pair.
fn print_try_it(
    out: &mut impl Write,
    tte: &TteSimulator,
    hubspot: &HubSpotSimulator,
    public_url: &url::Url,
) -> anyhow::Result<()> {
    let pair = tte.customers().into_iter().find_map(|c| {
        let contact = c.custom_fields.get("External ID")?.parse::<u64>().ok()?;
        Some((c.id, c.name, contact))
    });
    writeln!(out, "\nDashboard: {public_url}")?;
    if let Some((customer, name, contact)) = pair {
        writeln!(
            out,
            "\n{name} is 10to8 customer {customer} and HubSpot contact {contact}. Rename them on \
             one side and watch the change arrive on the other (webhook, inbox, live worker):\n"
        )?;
        writeln!(
            out,
            "  curl -X PATCH {}/_sim/contacts/{contact} -H 'content-type: application/json' \\\n    \
             -d '{{\"properties\": {{\"firstname\": \"Ada\"}}}}'",
            hubspot.base_url()
        )?;
        writeln!(out, "  curl {}/_sim/customers/{customer}\n", tte.base_url())?;
        writeln!(
            out,
            "  curl -X PATCH {}/_sim/customers/{customer} -H 'content-type: application/json' \\\n    \
             -d '{{\"name\": \"Grace Hopper\"}}'",
            tte.base_url()
        )?;
        writeln!(out, "  curl {}/_sim/contacts/{contact}", hubspot.base_url())?;
    }
    writeln!(
        out,
        "\nStatus as JSON: curl {public_url}api/status\nPress Ctrl-C to stop."
    )?;
    out.flush()?;
    Ok(())
}

/// Progress on stderr: one line per phase and per tenth of it.
#[derive(Default)]
struct Printed {
    phase: Mutex<(String, u64)>,
    done: AtomicU64,
}

impl Progress for Printed {
    fn phase(&self, name: &str, total: u64) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = (name.to_owned(), total);
        self.done.store(0, Ordering::Relaxed);
        eprintln!("  {name}: 0/{total}");
    }

    fn advance(&self, steps: u64) {
        let before = self.done.fetch_add(steps, Ordering::Relaxed);
        let after = before + steps;
        let (name, total) = self.phase.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let tenth = (total / 10).max(1);
        if before / tenth != after / tenth || after == total {
            eprintln!("  {name}: {}/{total}", after.min(total));
        }
    }
}
