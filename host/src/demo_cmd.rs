//! `tte-sync demo`: the whole system on one machine with no accounts. Starts the 10to8
//! simulator and the CRM's (`--crm`, see [`crate::simulated_crm`]) in-process, a SQLite store in a temporary directory, seeds people that
//! partly overlap (shared emails), runs setup and a full sync with progress, then serves the
//! dashboard and prints commands to edit a record on either side and watch it sync.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tte_sync_core::connector::registry::{RunningSimulator, SimulatorOptions};
use tte_sync_core::engine::{Progress, ReconcileOptions};
use tte_sync_core::tte::TteConfig;
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};

use crate::app::App;
use crate::config::{Config, CrmConfig, LogConfig, ServerConfig, SyncConfig};

/// The seed of the generated people.
const SEED: u64 = 1;

/// Options of `tte-sync demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The CRM whose simulator to run (`tte-sync connectors` lists them); by default the
    /// first that has one.
    #[arg(long)]
    crm: Option<String>,
    /// Customers to seed in the 10to8 simulator.
    #[arg(long, default_value_t = 200)]
    customers: u64,
    /// Records to seed in the CRM simulator; the first half of them are also 10to8
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
    let (plugin, hook) = crate::simulated_crm::choose(args.crm.as_deref())?;
    let label = hook.label;
    let crm = hook
        .start(SimulatorOptions::on_port(0))
        .await
        .with_context(|| format!("starting the {label} simulator"))?;
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .context("starting the 10to8 simulator")?;
    // 10to8 has people 0..N; the CRM people from N/2 on, so up to N/2 are on both sides.
    let overlap_start = args.customers / 2;
    tte.seed(SEED, 0, args.customers, false);
    crm.seed(SEED, overlap_start, args.contacts);
    let shared = args
        .customers
        .saturating_sub(overlap_start)
        .min(args.contacts);
    writeln!(
        out,
        "Simulators: 10to8 at {} ({} customers), {label} at {} ({} contacts); {shared} people are in both.",
        tte.base_url(),
        args.customers,
        crm.base_url(),
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
    let config = Config {
        database: format!("sqlite://{}", dir.join("state.db").display()),
        mapping: None,
        tte: TteConfig::new(tte.base_url(), tte.api_key().into()),
        crm: CrmConfig {
            connector: plugin.name.to_owned(),
            config: crm.connector_config(),
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
    // Files setup wrote for a person to deploy with the CRM's own tools, deployed to the
    // simulator as those tools would.
    for file in &report.files {
        let deployed = crm.deploy(file).map_err(|e| {
            anyhow::anyhow!("deploying {} to the {label} simulator: {e}", file.path)
        })?;
        if let Some(deployed) = deployed {
            writeln!(out, "  {deployed}")?;
        }
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
        "  to {label}: {} created, {} updated, {} linked; to 10to8: {} created, {} updated; {} failed",
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
        crm.shutdown().await;
        tte.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(if converged && healthy {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    print_try_it(&mut out, &tte, crm.as_ref(), label, &public_url)?;
    let metrics = Arc::new(crate::serve::Metrics::default());
    metrics.record_sync(&summary);
    let result = crate::serve_cmd::serve(app, metrics, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    crm.shutdown().await;
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
    crm: &dyn RunningSimulator,
    label: &str,
    public_url: &url::Url,
) -> anyhow::Result<()> {
    let pair = tte.customers().into_iter().find_map(|c| {
        let contact = c.custom_fields.get("External ID")?.clone();
        Some((c.id, c.name, contact))
    });
    writeln!(out, "\nDashboard: {public_url}")?;
    if let Some((customer, name, contact)) = pair {
        let [edit_crm, show_crm] = crm.try_it(&contact);
        writeln!(
            out,
            "\n{name} is 10to8 customer {customer} and {label} record {contact}. Rename them on \
             one side and watch the change arrive on the other (webhook, inbox, live worker):\n"
        )?;
        writeln!(out, "  {edit_crm}")?;
        writeln!(out, "  curl {}/_sim/customers/{customer}\n", tte.base_url())?;
        writeln!(
            out,
            "  curl -X PATCH {}/_sim/customers/{customer} -H 'content-type: application/json' \\\n    \
             -d '{{\"name\": \"Grace Hopper\"}}'",
            tte.base_url()
        )?;
        writeln!(out, "  {show_crm}")?;
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
