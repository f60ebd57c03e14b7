//! Throughput of the 10to8 simulator on keep-alive loopback: requests per second for a list
//! page of 100 customers and for a PATCH, from one connection and from several at once, plus a
//! full listing through `TteClient`.
//!
//! Run with `cargo bench -p tte-sync-core --features simulator --bench tte_simulator`.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use futures_util::future::join_all;
use serde_json::json;
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_core::tte::{TteClient, TteConfig};

const CUSTOMERS: u64 = 10_000;
const REQUESTS: u64 = 4_000;
const CONNECTIONS: u64 = 8;

#[tokio::main]
async fn main() {
    let sim = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .unwrap();
    sim.seed(1, 0, CUSTOMERS, false);
    let http = reqwest::Client::new();
    let auth = format!("token {}", sim.api_key());
    let base = sim.base_url().to_owned();
    println!(
        "10to8 simulator, {CUSTOMERS} customers, {REQUESTS} requests per figure, keep-alive loopback"
    );

    for connections in [1, CONNECTIONS] {
        let elapsed = run(connections, |n| {
            let offset = (n * 100) % CUSTOMERS;
            http.get(format!(
                "{base}/api/enterprise/v2/customer/?limit=100&offset={offset}"
            ))
            .header("Authorization", &auth)
        })
        .await;
        report("list (limit 100)", connections, elapsed);

        let elapsed = run(connections, |n| {
            let id = 1 + (n * 7919) % CUSTOMERS;
            http.patch(format!("{base}/api/enterprise/v2/customer/{id}/"))
                .header("Authorization", &auth)
                .json(&json!({"custom_fields": {"Sync Status": format!("Last synced: {n}")}}))
        })
        .await;
        report("PATCH", connections, elapsed);
    }

    let mut config = TteConfig::new(sim.base_url(), sim.api_key().into());
    config.requests_per_second = 0.0;
    let client = TteClient::new(config).unwrap();
    let start = Instant::now();
    let pages: Vec<_> = client.list(true).try_collect().await.unwrap();
    let elapsed = start.elapsed();
    let customers: usize = pages.iter().map(Vec::len).sum();
    println!(
        "TteClient::list: {customers} customers in {} pages, {:.0} ms ({:.0} customers/s)",
        pages.len(),
        elapsed.as_secs_f64() * 1000.0,
        customers as f64 / elapsed.as_secs_f64()
    );
    let stats = sim.stats();
    assert_eq!(
        stats.with_status(200),
        stats.total(),
        "every request succeeded"
    );
}

/// Sends `REQUESTS` requests over `connections` concurrent loops; returns the wall time.
async fn run(connections: u64, request: impl Fn(u64) -> reqwest::RequestBuilder) -> Duration {
    let per_loop = REQUESTS / connections;
    let request = &request;
    // Warm the connections up first.
    join_all((0..connections).map(|c| async move {
        request(c).send().await.unwrap().bytes().await.unwrap();
    }))
    .await;
    let start = Instant::now();
    join_all((0..connections).map(|c| async move {
        for i in 0..per_loop {
            let response = request(c * per_loop + i).send().await.unwrap();
            assert!(response.status().is_success());
            response.bytes().await.unwrap();
        }
    }))
    .await;
    start.elapsed()
}

fn report(what: &str, connections: u64, elapsed: Duration) {
    let sent = (REQUESTS / connections) * connections;
    println!(
        "{what:<18} {connections} connection(s): {:>8.0} requests/s ({:.3} ms each)",
        sent as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / sent as f64 * connections as f64
    );
}
