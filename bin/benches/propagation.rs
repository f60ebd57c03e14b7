//! Live propagation latency through the real binary: `setup`, then `serve` with the default
//! sync settings against both simulators (HubSpot's default rate limits on). Once its first
//! pass and the echoes of that pass are processed, a user edits one record at a time in
//! either simulator's "UI"; the bench times how long until the change is on the other side,
//! going through the simulators' own webhooks and notifications, the inbox and the live
//! worker. Prints p50/p95/max per direction.
//!
//! `cargo bench -p tte-sync --bench propagation` (`PROPAGATION_EDITS` edits per direction,
//! `PROPAGATION_VERBOSE=1` to print each edit's latency).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::time::{Duration, Instant};

use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::tte::simulator::TteSimConfig;
use tte_sync_hubspot::simulator::SimulatorConfig;

use support::{Bench, percentile};

const CUSTOMERS: u64 = 200;
/// An edit that has not arrived after this long counts as lost.
const GIVE_UP: Duration = Duration::from_secs(30);
/// Between edits, so that one edit's latency is not another's queueing.
const PAUSE: Duration = Duration::from_millis(200);
const TARGET_P50: Duration = Duration::from_secs(1);

async fn arrival(check: impl Fn() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < GIVE_UP {
        if check() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

fn report(direction: &str, mut latencies: Vec<Duration>) -> Option<Duration> {
    latencies.sort();
    if latencies.is_empty() {
        return None;
    }
    let p50 = percentile(&latencies, 0.50);
    println!(
        "{direction}: {} edits, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (target p50 < {} ms)",
        latencies.len(),
        p50.as_secs_f64() * 1e3,
        percentile(&latencies, 0.95).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        TARGET_P50.as_millis()
    );
    Some(p50)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let edits: u64 = std::env::var("PROPAGATION_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let verbose = std::env::var_os("PROPAGATION_VERBOSE").is_some();
    let bench = Bench::start(
        "propagation",
        SimulatorConfig::default(),
        TteSimConfig::default(),
        5.0,
        "  reconcile_interval_secs: 3600",
    )
    .await;
    bench.tte.seed(11, 0, CUSTOMERS, false);
    bench.run("setup");
    let http = reqwest::Client::new();
    let server = bench.serve(&http).await;
    // `serve` starts with a full pass. 10to8 notifies every write, ours included, and says
    // nothing of who made it, so the pass's writes come back as notifications, each costing
    // the live worker a GET. Measure from a quiet inbox: two seconds without items.
    let settling = Instant::now();
    while bench
        .tte
        .customers()
        .iter()
        .any(|c| !c.custom_fields.contains_key("External ID"))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2) {
        if bench.metric(&http, "tte_sync_inbox_depth").await != 0.0 {
            quiet_since = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "first pass and its {CUSTOMERS} echo notifications done {:.1} s after serve started",
        settling.elapsed().as_secs_f64() - 2.0
    );
    let pairs: Vec<(u64, u64)> = bench
        .tte
        .customers()
        .iter()
        .filter_map(|c| Some((c.id, c.custom_fields.get("External ID")?.parse().ok()?)))
        .collect();
    assert_eq!(
        pairs.len() as u64,
        CUSTOMERS,
        "the first sync linked everyone"
    );

    let mut to_hub = Vec::new();
    let mut to_crm = Vec::new();
    let mut lost = 0;
    for n in 0..edits as usize {
        let (customer, contact) = pairs[n % pairs.len()];
        // HubSpot UI edit of the phone; arrives as the customer's first number.
        let phone = format!("+44 20 7946 {n:04}");
        bench
            .hubspot
            .user_edit(contact, &[("phone", &phone)], None)
            .unwrap();
        let tte = &bench.tte;
        match arrival(|| {
            tte.customer(customer)
                .is_some_and(|c| c.numbers.first() == Some(&phone))
        })
        .await
        {
            Some(latency) => to_hub.push(latency),
            None => lost += 1,
        }
        if verbose {
            println!("edit {n} HubSpot -> 10to8: {:?}", to_hub.last());
        }
        tokio::time::sleep(PAUSE).await;

        // 10to8 UI edit of the name; arrives as the contact's last name.
        let last = format!("Edited{n}");
        bench
            .tte
            .edit(
                customer,
                &CustomerPatch {
                    name: Some(format!("Pat {last}")),
                    ..CustomerPatch::default()
                },
            )
            .unwrap();
        let hubspot = &bench.hubspot;
        match arrival(|| {
            hubspot
                .contact(contact)
                .is_some_and(|(p, _)| p.get("lastname") == Some(&last))
        })
        .await
        {
            Some(latency) => to_crm.push(latency),
            None => lost += 1,
        }
        if verbose {
            println!("edit {n} 10to8 -> HubSpot: {:?}", to_crm.last());
        }
        tokio::time::sleep(PAUSE).await;
    }
    drop(server);
    bench.finish().await;

    println!(
        "live propagation with the default coalescing and poll interval, 10to8 client at 5 requests/s:"
    );
    let p50s = [
        report("HubSpot UI edit -> 10to8", to_hub),
        report("10to8 UI edit -> HubSpot", to_crm),
    ];
    if lost > 0 {
        eprintln!("propagation FAILED: {lost} edits did not arrive within {GIVE_UP:?}");
        std::process::exit(1);
    }
    if p50s.iter().flatten().any(|p50| *p50 >= TARGET_P50) {
        println!("p50 is above the target");
    }
}
