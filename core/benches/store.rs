//! Store throughput: enqueue (webhook-sized batches) and claim + complete, on SQLite and, when
//! `TTE_SYNC_TEST_DATABASE_URL` is set, on PostgreSQL (in a schema of its own, dropped after).
//!
//! `cargo bench -p tte-sync-core --bench store`

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::{Connection, Executor};
use tte_sync_core::store::{Change, Enqueue, ObjectRef, Store, StoreOptions};

const DATABASE_URL_ENV: &str = "TTE_SYNC_TEST_DATABASE_URL";
const CONNECTOR: &str = "hubspot";
/// Events per enqueue call: one HubSpot webhook request carries up to ten.
const BATCH: usize = 10;
const EVENTS: usize = 20_000;
/// Distinct contacts the events are about (so some coalesce).
const OBJECTS: usize = 5_000;
const CLAIM_BATCH: u32 = 50;
const WORKERS: usize = 4;
const LEASE: Duration = Duration::from_secs(60);

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let dir = std::env::temp_dir().join(format!("tte-sync-store-bench-{}", std::process::id()));
    let file = dir.join("bench.db");
    let store = Store::open(file.to_str().expect("temp paths are UTF-8"))
        .await
        .expect("open the SQLite bench store");
    run("sqlite", &store).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    match std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(url) => {
            let schema = format!("tte_store_bench_{}", std::process::id());
            let store = Store::open_with(&url, StoreOptions::default().schema(schema.clone()))
                .await
                .expect("open the PostgreSQL bench store");
            run("postgres", &store).await;
            store.close().await;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
            conn.execute(format!("DROP SCHEMA \"{schema}\" CASCADE").as_str())
                .await
                .expect("drop the bench schema");
        }
        None => eprintln!(
            "skipped: PostgreSQL store bench; set {DATABASE_URL_ENV}=postgres://postgres@127.0.0.1:5432/test to run it"
        ),
    }
}

async fn run(backend: &str, store: &Store) {
    // Enqueue from several tasks at once, as concurrent webhook requests do.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..WORKERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = task;
            while n < EVENTS / BATCH {
                let batch = (0..BATCH)
                    .map(|i| Enqueue {
                        object: ObjectRef::crm(
                            CONNECTOR,
                            ((n * BATCH + i) * 7 % OBJECTS).to_string(),
                        ),
                        change: Change::new("property_changed").with_property(format!("p{i}")),
                        due_at: Utc::now(),
                    })
                    .collect();
                store.enqueue(batch).await.expect("enqueue");
                n += WORKERS;
            }
        }));
    }
    for task in tasks {
        task.await.expect("enqueue task");
    }
    let elapsed = started.elapsed();
    let depth = store.inbox_stats().await.expect("stats").depth;
    println!(
        "{backend:>8}  enqueue          {:>8.0} events/s  ({EVENTS} events in batches of {BATCH}, {WORKERS} tasks, {depth} items after coalescing, {elapsed:.2?})",
        EVENTS as f64 / elapsed.as_secs_f64()
    );

    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("bench-{worker}");
            let mut done = 0u64;
            loop {
                let items = store.claim(&name, CLAIM_BATCH, LEASE).await.expect("claim");
                if items.is_empty() {
                    return done;
                }
                store.complete_all(&items).await.expect("complete");
                done += items.len() as u64;
            }
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await.expect("worker task");
    }
    let elapsed = started.elapsed();
    println!(
        "{backend:>8}  claim + complete {:>8.0} items/s   ({done} items, claims of {CLAIM_BATCH}, {WORKERS} workers, {elapsed:.2?})",
        done as f64 / elapsed.as_secs_f64()
    );
}
