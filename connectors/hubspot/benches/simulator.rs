//! Throughput of the HubSpot simulator over keep-alive loopback HTTP, rate limits off:
//! requests per second for a contacts list page (limit 100) and a batch upsert of 100 inputs,
//! with 100,000 seeded contacts.
//!
//! Run: `cargo bench -p tte-sync-hubspot --features simulator --bench simulator`

// A bench binary's output is its figures.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use serde_json::json;
use tte_sync_hubspot::simulator::{
    DEFAULT_PRIVATE_APP_TOKEN, HubSpotSimulator, RateLimits, SimulatorConfig,
};

/// Contacts seeded before measuring.
const SEEDED: u64 = 100_000;
/// Concurrent keep-alive clients.
const CLIENTS: usize = 4;
/// How long each measurement runs.
const MEASURE_FOR: Duration = Duration::from_secs(5);

async fn measure<F, Fut>(name: &str, make: F)
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    // `cargo bench … -- upsert` runs only the measurements whose name contains `upsert`.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if filter.is_some_and(|f| !name.contains(&f)) {
        return;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            let mut failed = 0u64;
            while started.elapsed() < MEASURE_FOR {
                if make(client, done).await {
                    done += 1;
                } else {
                    failed += 1;
                }
            }
            (done, failed)
        }));
    }
    let mut done = 0;
    let mut failed = 0;
    for task in tasks {
        let (d, f) = task.await.expect("bench task");
        done += d;
        failed += f;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<40} {:>9.0} requests/s  ({done} ok, {failed} failed, {CLIENTS} clients, {secs:.1} s)",
        done as f64 / secs
    );
}

#[tokio::main]
async fn main() {
    let sim = HubSpotSimulator::start(
        SimulatorConfig {
            rate_limits: RateLimits::off(),
            ..SimulatorConfig::default()
        },
        0,
    )
    .await
    .expect("binds");
    let seeding = Instant::now();
    let seeded = sim.seed(1, 0, SEEDED).len();
    println!(
        "seeded {seeded} contacts in {:.2} s",
        seeding.elapsed().as_secs_f64()
    );
    let base = sim.base_url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client");

    let (list_http, list_base) = (http.clone(), base.clone());
    measure("GET contacts list, limit=100", move |client, n| {
        let http = list_http.clone();
        let after = 1001 + ((client as u64 * 7919 + n * 100) % (SEEDED - 100));
        let url = format!(
            "{list_base}/crm/v3/objects/contacts?limit=100&after={after}&properties=email,firstname,lastname,phone"
        );
        async move {
            http.get(url)
                .bearer_auth(DEFAULT_PRIVATE_APP_TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;

    let (upsert_http, upsert_base) = (http.clone(), base.clone());
    measure(
        "POST batch/upsert, 100 inputs by email",
        move |client, n| {
            let http = upsert_http.clone();
            let inputs: Vec<_> = (0..100)
                .map(|i| {
                    let slot = (n * 100 + i) % 20_000;
                    json!({
                        "id": format!("bench{client}-{slot}@example.com"),
                        "idProperty": "email",
                        "properties": {"firstname": format!("Run{n}"), "phone": format!("{i}")}
                    })
                })
                .collect();
            let url = format!("{upsert_base}/crm/v3/objects/contacts/batch/upsert");
            async move {
                http.post(url)
                    .bearer_auth(DEFAULT_PRIVATE_APP_TOKEN)
                    .json(&json!({ "inputs": inputs }))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        },
    )
    .await;

    let (search_http, search_base) = (http, base);
    measure("POST search, EQ email over 100k+", move |client, n| {
        let http = search_http.clone();
        let url = format!("{search_base}/crm/v3/objects/contacts/search");
        let body = json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": format!("bench{client}-{}@example.com", n % 1000)}]}], "limit": 10});
        async move {
            http.post(url)
                .bearer_auth(DEFAULT_PRIVATE_APP_TOKEN)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    println!("contacts at the end: {}", sim.contact_count());
    sim.shutdown().await;
}
