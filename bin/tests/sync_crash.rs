//! `tte-sync sync` as a real process against both simulators (served by this test on
//! loopback): killed at 10 random points of a first full sync and restarted each time, it
//! converges with no duplicate on either side, and a last run writes nothing. Also `--dry-run
//! --json` and `retry` with nothing to retry.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tte_sync_core::Secret;
use tte_sync_core::connector::{ConnectorContext, ConnectorFactory, CrmConnector, ListQuery};
use tte_sync_core::mapping::Mapping;
use tte_sync_core::simulate::SplitMix64;
use tte_sync_core::store::{SQLITE_MEMORY, Store};
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_hubspot::simulator::{DEFAULT_PRIVATE_APP_TOKEN, HubSpotSimulator, SimulatorConfig};
use tte_sync_hubspot::{HubSpotConfig, HubSpotConnector};
use url::Url;

const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");
const MAPPING: &str = include_str!("../../mappings/hubspot.yaml");
const SEED: u64 = 11;
const KILLS: usize = 10;
/// The longest a killed run is let live; a first sync of this size, paced at 200 10to8 calls
/// a second, takes several times longer.
const MAX_KILL_DELAY_MS: u64 = 1_500;

struct Sims {
    tte: TteSimulator,
    hub: HubSpotSimulator,
    crm: HubSpotConnector,
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
    Sims { tte, hub, crm }
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

async fn run_to_end(config: &Path, extra: &[&str]) -> (bool, serde_json::Value) {
    let config = config.to_owned();
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(BIN)
            .args(["sync", "--json", "--config"])
            .arg(&config)
            .args(&extra)
            .output()
            .expect("tte-sync runs");
        let summary = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            panic!(
                "sync printed no JSON summary; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.success(), summary)
    })
    .await
    .expect("join")
}

fn writes(summary: &serde_json::Value) -> u64 {
    ["to_crm", "to_hub"]
        .iter()
        .flat_map(|side| ["created", "updated", "deleted"].map(|k| (side, k)))
        .map(|(side, k)| summary[side][k].as_u64().unwrap_or(0))
        .sum()
}

/// How the status of a record held as a possible duplicate starts.
const POSSIBLE_DUPLICATE: &str = "Possible duplicate of";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_ten_random_points_converges_without_duplicates() {
    let sims = sims().await;
    sims.tte.seed(SEED, 0, 600, false);
    sims.hub.seed(SEED, 400, 500);
    let dir = temp_dir("crash");
    let config = write_config(&dir, &sims);

    let mut rng = SplitMix64::new(SEED);
    let mut killed_mid_run = 0;
    for _ in 0..KILLS {
        let delay = Duration::from_millis(50 + rng.below(MAX_KILL_DELAY_MS));
        let config = config.clone();
        let killed = tokio::task::spawn_blocking(move || {
            let mut child = Command::new(BIN)
                .args(["sync", "--config"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tte-sync starts");
            std::thread::sleep(delay);
            let running = child.try_wait().expect("child state").is_none();
            // SIGKILL: no shutdown code runs, as in a crash.
            let _ = child.kill();
            child.wait().expect("reaped");
            running
        })
        .await
        .expect("join");
        killed_mid_run += usize::from(killed);
    }
    eprintln!("{killed_mid_run} of {KILLS} runs were killed before they finished");
    assert!(
        killed_mid_run >= KILLS / 2,
        "most runs must die mid-sync for the test to mean anything"
    );

    let (ok, first) = run_to_end(&config, &[]).await;
    assert!(ok, "the run after the crashes succeeds: {first}");

    // People the match rules cannot tell apart from someone else on the other side are held
    // for a person to resolve (their status says so), never linked or copied: leave them out.
    let held = |status: Option<&String>| status.is_some_and(|s| s.starts_with(POSSIBLE_DUPLICATE));
    let customers: Vec<_> = sims
        .tte
        .customers()
        .into_iter()
        .filter(|c| !c.deleted && !held(c.custom_fields.get("Sync Status")))
        .collect();
    let query = ListQuery {
        properties: vec![
            "tte_customer_uri".into(),
            "email".into(),
            "tte_customer_sync_status".into(),
        ],
        archived: false,
    };
    let pages: Vec<Vec<_>> = sims.crm.list(query).try_collect().await.expect("list");
    let contacts: Vec<_> = pages
        .into_iter()
        .flatten()
        .filter(|c| !held(c.properties.get("tte_customer_sync_status")))
        .collect();
    assert_eq!(customers.len(), contacts.len(), "one contact per customer");

    let uris: BTreeSet<&str> = contacts
        .iter()
        .map(|c| c.property("tte_customer_uri"))
        .collect();
    assert_eq!(
        uris.len(),
        contacts.len(),
        "no two contacts name one customer"
    );
    let ids: HashSet<&str> = contacts.iter().map(|c| c.id.as_str()).collect();
    let mut named = HashSet::new();
    for customer in &customers {
        let uri = sims.tte.customer_uri(customer.id);
        assert!(uris.contains(uri.as_str()), "customer {uri} has a contact");
        let external = customer.custom_fields["External ID"].as_str();
        assert!(
            ids.contains(external),
            "External ID {external} is a live contact"
        );
        assert!(named.insert(external), "no two customers name one contact");
    }
    // People on both sides were linked, never duplicated: no email on two contacts and no
    // primary email on two customers.
    let mut primaries = HashSet::new();
    for customer in &customers {
        if let Some(email) = customer.emails.first() {
            assert!(
                primaries.insert(email.to_lowercase()),
                "{email} is on one customer"
            );
        }
    }

    let (ok, last) = run_to_end(&config, &[]).await;
    assert!(ok);
    assert_eq!(writes(&last), 0, "converged: {last}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_json_prints_the_plan_and_writes_nothing() {
    let sims = sims().await;
    sims.tte.seed(SEED, 0, 5, false);
    let dir = temp_dir("dry");
    let config = write_config(&dir, &sims);
    sims.tte.reset_stats();
    let (ok, plan) = run_to_end(&config, &["--dry-run", "--direction", "to-crm"]).await;
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
