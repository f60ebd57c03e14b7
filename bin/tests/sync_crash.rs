//! `tte-sync sync` as a real process against both simulators (served by this test on
//! loopback): killed at 10 random points of a first full sync and restarted each time, it
//! converges with no duplicate on either side, and a last run writes nothing (the testkit's
//! crash test, which runs against every connector with a simulator). Also `--dry-run --json`
//! and `retry` with nothing to retry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tte_sync_core::Secret;
use tte_sync_core::connector::{ConnectorContext, ConnectorFactory, CrmConnector};
use tte_sync_core::mapping::Mapping;
use tte_sync_core::store::{SQLITE_MEMORY, Store};
use tte_sync_core::testkit::crash::{CrashTest, run_sync};
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_hubspot::simulator::{DEFAULT_PRIVATE_APP_TOKEN, HubSpotSimulator, SimulatorConfig};
use tte_sync_hubspot::{HubSpotConfig, HubSpotConnector};
use url::Url;

const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");
const MAPPING: &str = include_str!("../../mappings/hubspot.yaml");
const SEED: u64 = 11;

struct Sims {
    tte: TteSimulator,
    hub: HubSpotSimulator,
}

async fn sims() -> Sims {
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .expect("10to8 simulator");
    let hub = HubSpotSimulator::start(SimulatorConfig::default(), 0)
        .await
        .expect("HubSpot simulator");
    let config = HubSpotConfig::with_private_app_token(
        Url::parse(&hub.base_url()).expect("url"),
        Secret::new(DEFAULT_PRIVATE_APP_TOKEN),
    );
    let crm = HubSpotConnector::build(
        config,
        ConnectorContext {
            tokens: Arc::new(Store::open(SQLITE_MEMORY).await.expect("token store")),
        },
    )
    .expect("connector");
    let mapping = Mapping::compile(MAPPING, "hubspot.yaml").expect("mapping");
    crm.setup()
        .expect("setup")
        .ensure_properties(mapping.property_specs(), false)
        .await
        .expect("properties");
    Sims { tte, hub }
}

fn write_config(dir: &Path, sims: &Sims) -> PathBuf {
    std::fs::create_dir_all(dir).expect("temp dir");
    let path = dir.join("tte-sync.yaml");
    let text = format!(
        "database: sqlite://{db}\n\
         tte:\n  api_base_url: {tte}\n  api_key: {key}\n  requests_per_second: 200\n\
         crm:\n  connector: hubspot\n  config:\n    api_base_url: {hub}\n    private_app_token: {token}\n",
        db = dir.join("state.db").display(),
        tte = sims.tte.base_url(),
        key = sims.tte.api_key(),
        hub = sims.hub.base_url(),
        token = DEFAULT_PRIVATE_APP_TOKEN,
    );
    std::fs::write(&path, text).expect("config written");
    path
}

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tte-sync-{name}-{}", std::process::id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_ten_random_points_converges_without_duplicates() {
    let report = CrashTest::new(BIN, "hubspot").run().await;
    eprintln!("{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_json_prints_the_plan_and_writes_nothing() {
    let sims = sims().await;
    sims.tte.seed(SEED, 0, 5, false);
    let dir = temp_dir("dry");
    let config = write_config(&dir, &sims);
    sims.tte.reset_stats();
    let (ok, plan) = run_sync(
        Path::new(BIN),
        &config,
        &["--dry-run", "--direction", "to-crm"],
    )
    .await;
    assert!(ok);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["to_crm"]["created"], 5);
    assert_eq!(plan["plan"].as_array().map(Vec::len), Some(5));
    let tte_writes: u64 = sims
        .tte
        .stats()
        .requests
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.count)
        .sum();
    assert_eq!(tte_writes, 0);

    let output = Command::new(BIN)
        .args(["retry", "--all", "--config"])
        .arg(&config)
        .output()
        .expect("retry runs");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Nothing to retry"));
    let _ = std::fs::remove_dir_all(&dir);
}
