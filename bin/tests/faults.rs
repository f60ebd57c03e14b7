//! `tte-sync sync` rides out the simulators' faults: a HubSpot storm of 200 429s, storms of 100
//! from 10to8 (with and without `Retry-After`), 20% 502s from HubSpot and 500 ms latency on a
//! first sync; 20% 500s from 10to8, and all of them at once, on a first sync and on a sync of
//! edits. Every sync
//! exits 0, converges (a second `sync --dry-run` plans nothing), makes no duplicate and
//! dead-letters nothing. And when an API stays down or keeps throttling for longer than
//! `sync.max_stall_secs`, the sync stops with exit 75 and a message saying which, recording
//! nothing against any record, and a rerun once it is back converges.

mod support;

use std::collections::HashSet;

use tte_sync_core::tte::simulator::{Faults as TteFaults, TteSimulator};
use tte_sync_hubspot::simulator::{Faults as HubFaults, HubSpotSimulator};

use support::{ServeOptions, linked_pairs, run, scratch_dir, setup, text, write_config};

const SEED: u64 = 23;
/// 10to8 holds people `0..CUSTOMERS`, HubSpot `CONTACTS_FROM..CONTACTS_FROM + CONTACTS`.
const CUSTOMERS: u64 = 60;
const CONTACTS_FROM: u64 = 30;
const CONTACTS: u64 = 60;

struct World {
    hubspot: HubSpotSimulator,
    tte: TteSimulator,
    config: String,
}

async fn world(name: &str, max_stall_secs: u64) -> World {
    let (hubspot, tte) = support::start_simulators().await;
    tte.seed(SEED, 0, CUSTOMERS, false);
    hubspot.seed(SEED, CONTACTS_FROM, CONTACTS);
    let dir = scratch_dir(name);
    let options = ServeOptions {
        tte_requests_per_second: 200.0,
        ..ServeOptions::sqlite_in(&dir)
    };
    let path = write_config(&dir, &hubspot, &tte, &options);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replace(
        "sync:\n",
        &format!("sync:\n  max_stall_secs: {max_stall_secs}\n"),
    );
    // Quick first retries keep the test short; how long faults are waited out is the
    // stall budget's business, not the retry count's.
    text = text.replace(
        "  requests_per_second:",
        "  retry_min_delay_ms: 20\n  requests_per_second:",
    );
    text = text.replace(
        "    private_app_token:",
        "    retry_min_delay_ms: 20\n    retry_max_delay_ms: 100\n    private_app_token:",
    );
    std::fs::write(&path, text).unwrap();
    setup(&path).await;
    World {
        hubspot,
        tte,
        config: path.display().to_string(),
    }
}

async fn sync(config: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut args = vec!["sync".to_owned(), "--config".into(), config.into()];
    args.extend(["--json".to_owned(), "--progress=off".into()]);
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let output = run(args).await;
    let summary = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code(), summary, text(&output.stderr))
}

/// The writes a dry run plans (its `plan` lists them; empty when there are none).
fn planned(plan: &serde_json::Value) -> usize {
    assert!(plan["dry_run"] == true, "not a dry-run summary: {plan}");
    plan["plan"].as_array().map_or(0, Vec::len)
}

/// The 10to8 API calls that wrote something and went through.
fn tte_writes(tte: &TteSimulator) -> u64 {
    (tte.stats().requests.iter())
        .filter(|r| r.method != "GET" && r.status < 300)
        .map(|r| r.count)
        .sum()
}

async fn status(config: &str) -> serde_json::Value {
    let output = run(vec![
        "status".into(),
        "--config".into(),
        config.into(),
        "--json".into(),
    ])
    .await;
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("status --json ({e}): {}", text(&output.stderr)))
}

/// No record was made twice: no two customers name one contact, no two contacts one
/// customer, and every linked customer's contact names it back.
fn assert_no_duplicates(world: &World) {
    let pairs = linked_pairs(&world.tte);
    let contacts: HashSet<u64> = pairs.iter().map(|&(_, contact)| contact).collect();
    assert_eq!(
        contacts.len(),
        pairs.len(),
        "two customers name one contact"
    );
    let mut named = HashSet::new();
    for id in world.hubspot.contact_ids() {
        let (properties, archived) = world.hubspot.contact(id).unwrap();
        if archived {
            continue;
        }
        if let Some(uri) = properties.get("tte_customer_uri").filter(|u| !u.is_empty()) {
            assert!(named.insert(uri.clone()), "two contacts name {uri}");
        }
    }
    for &(customer, contact) in &pairs {
        let (properties, _) = world.hubspot.contact(contact).unwrap();
        assert_eq!(
            properties.get("tte_customer_uri"),
            Some(&world.tte.customer_uri(customer).to_string()),
            "contact {contact} names another customer than {customer}"
        );
    }
    assert!(
        pairs.len() as u64 >= CONTACTS_FROM,
        "most people are linked: {}",
        pairs.len()
    );
}

/// A first sync under `tte` and `hubspot` faults exits 0, converges, duplicates nobody and
/// dead-letters nothing.
async fn rides_out(name: &str, tte: TteFaults, hubspot: HubFaults) {
    let world = world(name, 600).await;
    world.tte.set_faults(tte);
    world.hubspot.set_faults(hubspot);
    synced_cleanly(&world, name).await;
}

/// A sync under the faults in force exits 0 and converges (a dry run, faults still on, plans
/// nothing); then, faults off: no duplicate, no dead letter, no failing record.
async fn synced_cleanly(world: &World, name: &str) {
    let (code, summary, stderr) = sync(&world.config, &[]).await;
    assert_eq!(
        code,
        Some(0),
        "{name}: the sync exits 0: {summary}\n{stderr}"
    );
    let (code, plan, stderr) = sync(&world.config, &["--dry-run"]).await;
    assert_eq!(code, Some(0), "{name}: {stderr}");
    assert_eq!(
        planned(&plan),
        0,
        "{name}: converged, a second pass plans nothing: {plan}"
    );
    world.tte.set_faults(TteFaults::default());
    world.hubspot.set_faults(HubFaults::default());
    assert_no_duplicates(world);
    let status = status(&world.config).await;
    assert_eq!(
        status["dead_letters"],
        serde_json::json!([]),
        "{name}: {status}"
    );
    assert_eq!(status["failing_count"], 0, "{name}: {status}");
}

/// After a clean first sync, people edit both sides; a sync under `tte` and `hubspot` faults
/// carries every edit across, exits 0, converges and dead-letters nothing. (A first sync under
/// 10to8 500s is `one_in_five_10to8_calls_answered_500_on_a_first_sync`.)
async fn carries_edits_through(name: &str, tte: TteFaults, hubspot: HubFaults) {
    let world = world(name, 600).await;
    let (code, summary, stderr) = sync(&world.config, &[]).await;
    assert_eq!(code, Some(0), "{name}: first sync: {summary}\n{stderr}");
    let pairs = linked_pairs(&world.tte);
    let (hub_edited, tte_edited) = pairs.split_at(pairs.len() / 2);
    support::edit_both_sides(&world.hubspot, &world.tte, hub_edited, tte_edited);
    world.tte.set_faults(tte);
    world.hubspot.set_faults(hubspot);
    synced_cleanly(&world, name).await;
    let missing = support::edits_missing(&world.hubspot, &world.tte, hub_edited, tte_edited);
    assert!(missing.is_empty(), "{name}: edits lost: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10to8_storm_of_100_429s_with_retry_after() {
    let faults = TteFaults {
        throttle_next: 100,
        throttle_retry_after_secs: 0,
        ..TteFaults::default()
    };
    rides_out("faults-tte-storm", faults, HubFaults::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10to8_storm_of_100_429s_without_retry_after() {
    let faults = TteFaults {
        throttle_next: 100,
        throttle_retry_after_secs: 0,
        throttle_without_retry_after: true,
        ..TteFaults::default()
    };
    rides_out("faults-tte-storm-bare", faults, HubFaults::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_storm_of_200_429s() {
    // HubSpot's REST 429s say nothing of how long to wait (no `Retry-After`); the client backs
    // off, here from 20 ms up to 100 ms, for as long as the stall budget allows.
    let faults = HubFaults {
        rate_limit_storm: 200,
        ..HubFaults::default()
    };
    rides_out("faults-hub-storm", TteFaults::default(), faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_in_five_10to8_calls_answered_500() {
    let faults = TteFaults {
        error_rate_percent: 20,
        ..TteFaults::default()
    };
    carries_edits_through("faults-tte-500", faults, HubFaults::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_in_five_10to8_calls_answered_500_on_a_first_sync() {
    // Creates among them: 10to8 may have made the customer before failing, so the engine
    // looks for it before sending the create again.
    let faults = TteFaults {
        error_rate_percent: 20,
        ..TteFaults::default()
    };
    rides_out("faults-tte-500-first", faults, HubFaults::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_in_five_hubspot_calls_answered_502() {
    let faults = HubFaults {
        error_rate_percent: 20,
        ..HubFaults::default()
    };
    rides_out("faults-hub-502", TteFaults::default(), faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_second_of_latency_on_both_apis() {
    let tte = TteFaults {
        latency_ms: 500,
        ..TteFaults::default()
    };
    let hubspot = HubFaults {
        latency_ms: 500,
        ..HubFaults::default()
    };
    rides_out("faults-latency", tte, hubspot).await;
}

/// Every fault both simulators inject, at once.
fn every_fault() -> (TteFaults, HubFaults) {
    let tte = TteFaults {
        latency_ms: 500,
        error_rate_percent: 20,
        throttle_next: 100,
        throttle_retry_after_secs: 0,
        throttle_without_retry_after: true,
        ..TteFaults::default()
    };
    let hubspot = HubFaults {
        latency_ms: 500,
        error_rate_percent: 20,
        rate_limit_storm: 200,
        rate_limit_storm_bare: true,
        ..HubFaults::default()
    };
    (tte, hubspot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once() {
    let (tte, hubspot) = every_fault();
    carries_edits_through("faults-all", tte, hubspot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once_on_a_first_sync() {
    let (tte, hubspot) = every_fault();
    rides_out("faults-all-first", tte, hubspot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_down_for_longer_than_the_stall_budget_stops_the_sync_resumably() {
    let world = world("faults-stalled", 2).await;
    world.tte.set_faults(TteFaults {
        error_rate_percent: 100,
        ..TteFaults::default()
    });
    let before = tte_writes(&world.tte);
    let (code, _, stderr) = sync(&world.config, &[]).await;
    assert_eq!(code, Some(75), "stopped as stalled: {stderr}");
    assert!(
        stderr.contains("10to8 was down")
            && stderr.contains("sync.max_stall_secs")
            && stderr.contains("run it again to resume"),
        "the message says why and what next: {stderr}"
    );
    assert_eq!(tte_writes(&world.tte), before, "nothing written into 10to8");
    let status = status(&world.config).await;
    assert_eq!(status["dead_letters"], serde_json::json!([]), "{status}");

    world.tte.set_faults(TteFaults::default());
    let (code, summary, stderr) = sync(&world.config, &[]).await;
    assert_eq!(code, Some(0), "{summary}\n{stderr}");
    let (_, plan, _) = sync(&world.config, &["--dry-run"]).await;
    assert_eq!(planned(&plan), 0, "converged: {plan}");
    assert_no_duplicates(&world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_throttling_for_longer_than_the_stall_budget_stops_the_sync_resumably() {
    // Long enough for a progress line (one per 5 s) to say why the sync does not move.
    let world = world("faults-throttled", 7).await;
    world.hubspot.set_faults(HubFaults {
        rate_limit_storm: u32::MAX,
        ..HubFaults::default()
    });
    let args = ["sync", "--config", &world.config, "--progress=text"];
    let output = run(args.iter().map(|a| (*a).to_owned()).collect()).await;
    let (code, stderr) = (output.status.code(), text(&output.stderr));
    assert_eq!(code, Some(75), "stopped as stalled: {stderr}");
    assert!(
        stderr.contains("progress: waiting: HubSpot throttled (429), retrying in"),
        "the progress lines say what is waited for: {stderr}"
    );
    assert!(
        stderr.matches("progress: waiting:").count() <= 2,
        "one line per 5 s, not one per attempt: {stderr}"
    );
    assert!(
        stderr.contains("throttled every call for longer than sync.max_stall_secs allows")
            && stderr.contains("429")
            && stderr.contains("run it again to resume"),
        "the message says it was throttled and what next: {stderr}"
    );
    world.hubspot.set_faults(HubFaults::default());
    let status = status(&world.config).await;
    assert_eq!(status["dead_letters"], serde_json::json!([]), "{status}");
    assert_eq!(status["failing_count"], 0, "{status}");
    let shown = run(vec![
        "status".into(),
        "--config".into(),
        world.config.clone(),
    ])
    .await;
    let shown = text(&shown.stdout);
    assert!(
        shown.contains("throttled every call for longer than sync.max_stall_secs allows"),
        "status says why the last run stopped: {shown}"
    );
    let customers = world.tte.customers();
    assert!(
        customers
            .iter()
            .all(|c| !c.custom_fields.contains_key(support::SYNC_STATUS)),
        "no status written into 10to8 for a passing cause"
    );

    let (code, summary, stderr) = sync(&world.config, &[]).await;
    assert_eq!(code, Some(0), "{summary}\n{stderr}");
    let (_, plan, _) = sync(&world.config, &["--dry-run"]).await;
    assert_eq!(planned(&plan), 0, "converged: {plan}");
    assert_no_duplicates(&world);
}
