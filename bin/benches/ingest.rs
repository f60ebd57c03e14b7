//! Webhook ingest benchmark through the real binary: `setup`, then `serve` against both
//! simulators, fed signed HubSpot batches of 10 events at a fixed rate on loopback. Prints
//! acknowledgement latency percentiles, then waits for the live worker to empty the inbox and
//! checks that every event was received and every object processed: the events name 2,000
//! contacts that exist only in HubSpot, so processing them creates 2,000 10to8 customers,
//! each linked, none dead-lettered.
//!
//! `cargo bench -p tte-sync --bench ingest` (`INGEST_SECS`, `INGEST_RATE` to change the load).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tte_sync_core::tte::simulator::TteSimConfig;
use tte_sync_hubspot::simulator::{RateLimits, SimulatorConfig};

use support::{Bench, percentile};

const EVENTS_PER_REQUEST: usize = 10;
const CONTACTS: u64 = 2_000;
/// The 10to8 client's pace here: every contact costs a 10to8 create, and the default of 5/s
/// (a guess at 10to8's unpublished limit) would make the drain take minutes.
const TTE_REQUESTS_PER_SECOND: f64 = 50.0;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sign(secret: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"POST");
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs = env_or("INGEST_SECS", 30);
    let rate = env_or("INGEST_RATE", 500);
    let bench = Bench::start(
        "ingest",
        SimulatorConfig {
            rate_limits: RateLimits::off(),
            ..SimulatorConfig::default()
        },
        TteSimConfig::default(),
        TTE_REQUESTS_PER_SECOND,
        "  reconcile_interval_secs: 0",
    )
    .await;
    let ids = bench.hubspot.seed(3, 0, CONTACTS);
    let sim = bench.hubspot.config().clone();
    bench.run("setup");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let server = bench.serve(&http).await;
    let base = bench.base.clone();
    let uri = format!("{base}/webhooks/hubspot");

    let total = secs * rate;
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let events: Vec<_> = (0..EVENTS_PER_REQUEST)
            .map(|k| {
                let id = ids[((n as usize) * EVENTS_PER_REQUEST + k) % ids.len()];
                serde_json::json!({
                    "eventId": n * 100 + k as u64, "subscriptionId": 1, "portalId": sim.portal_id,
                    "appId": 1, "occurredAt": chrono::Utc::now().timestamp_millis(),
                    "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
                    "objectId": id, "propertyName": "firstname", "propertyValue": "x",
                    "changeSource": "CRM_UI", "sourceId": "userId:1"
                })
            })
            .collect();
        let body = serde_json::to_vec(&events).unwrap();
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let signature = sign(&sim.client_secret, &uri, &body, &timestamp);
        let request = http
            .post(&uri)
            .header("content-type", "application/json")
            .header("x-hubspot-request-timestamp", timestamp)
            .header("x-hubspot-signature-v3", signature)
            .body(body);
        let sent_tx = sent_tx.clone();
        tokio::spawn(async move {
            let at = Instant::now();
            let status = request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            let _ = sent_tx.send((at.elapsed(), status));
        });
    }
    drop(sent_tx);
    let mut latencies = Vec::with_capacity(total as usize);
    let mut failed = 0;
    while let Some((latency, status)) = sent_rx.recv().await {
        if status != 200 {
            failed += 1;
        }
        latencies.push(latency);
    }
    let wall = started.elapsed();
    latencies.sort();
    println!(
        "webhook ingest: {total} requests x {EVENTS_PER_REQUEST} events in {:.1} s ({:.0} req/s offered {rate}), non-200: {failed}",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );
    println!(
        "ack latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 25 ms)",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    let received = bench
        .metric(&http, "tte_sync_events_received_total{source=\"crm\"}")
        .await;
    println!(
        "events received {received} for {} sent (the rest are the simulator's own webhooks of our writes)",
        total * EVENTS_PER_REQUEST as u64
    );
    let sent_events = total * EVENTS_PER_REQUEST as u64;
    let drain = Instant::now();
    let (depth, dead_letters) = loop {
        let depth = bench.metric(&http, "tte_sync_inbox_depth").await;
        if depth == 0.0 || drain.elapsed() > Duration::from_secs(300) {
            let dead_letters = bench.metric(&http, "tte_sync_dead_letters").await;
            println!(
                "inbox drained to {depth} in {:.1} s (10to8 client at {TTE_REQUESTS_PER_SECOND} requests/s); dead letters {dead_letters}",
                drain.elapsed().as_secs_f64()
            );
            break (depth, dead_letters);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut problems = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} requests were not answered 200"));
    }
    if received < sent_events as f64 {
        problems.push(format!(
            "only {received} of {sent_events} events were received"
        ));
    }
    if depth > 0.0 {
        problems.push(format!(
            "{depth} inbox items were still waiting after 300 s"
        ));
    }
    if dead_letters > 0.0 {
        problems.push(format!("{dead_letters} objects went to the dead letters"));
    }
    let customers = bench.tte.customers().len() as u64;
    let linked = ids
        .iter()
        .filter(|id| {
            bench.hubspot.contact(**id).is_some_and(|(properties, _)| {
                properties
                    .get("tte_customer_uri")
                    .is_some_and(|u| !u.is_empty())
            })
        })
        .count() as u64;
    println!(
        "10to8 customers created {customers} of {CONTACTS}; contacts naming their customer {linked} of {CONTACTS}"
    );
    if customers != CONTACTS || linked != CONTACTS {
        problems.push(format!(
            "{customers} customers and {linked} linked contacts, expected {CONTACTS} each"
        ));
    }
    drop(server);
    bench.finish().await;
    if !problems.is_empty() {
        eprintln!("ingest FAILED: {}", problems.join("; "));
        std::process::exit(1);
    }
}
