//! The first `sync` of 2,000 10to8 customers into an empty Pipedrive, through the real binary
//! against both simulators, with Pipedrive at its documented default limits
//! (`docs/pipedrive-api.md`, "Rate limits": 80 requests per 2-second window, a daily budget
//! of 300,000 tokens) and 10to8 unpaced. Each figure is printed beside its target:
//!
//! - wall time of `sync`, against the bound the burst window sets (answered Pipedrive calls ÷
//!   40 per second; target ≤ 1.5× the bound);
//! - Pipedrive calls per person (Pipedrive has no batch writes, so one create each; target
//!   ≤ 1.1);
//! - 429s (target 0: the connector paces itself by the limit headers).
//!
//! `CARGO_BUILD_JOBS=1 cargo bench -p tte-sync --bench pipedrive_first_sync` runs it.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::process::{Command, Stdio};
use std::time::Instant;

use tte_sync_core::tte::simulator::TteSimConfig;
use tte_sync_pipedrive::simulator::{DEFAULT_REQUESTS_PER_TWO_SECONDS, SimulatorConfig};

use support::pipedrive::PipedriveBench;

const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");
const SEED: u64 = 14;
const CUSTOMERS: u64 = 2_000;
const TARGET_BOUND_RATIO: f64 = 1.5;
const TARGET_CALLS_PER_PERSON: f64 = 1.1;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = PipedriveBench::start(
        "pipedrive-first-sync",
        SimulatorConfig::default(),
        TteSimConfig::default(),
        "  reconcile_interval_secs: 3600",
    )
    .await;
    bench.tte.seed(SEED, 0, CUSTOMERS, false);
    bench.run("setup");
    bench.pipedrive.reset_stats();
    bench.tte.reset_stats();

    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["sync", "--config", &bench.config.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        eprintln!("sync failed: {}", String::from_utf8_lossy(&output.stderr));
        std::process::exit(1);
    }

    let stats = bench.pipedrive.stats();
    let calls: u64 = stats.requests.values().sum();
    let answered = calls - stats.rate_limited;
    let persons = bench.pipedrive.person_count() as u64;
    let per_second = f64::from(DEFAULT_REQUESTS_PER_TWO_SECONDS) / 2.0;
    let bound = answered as f64 / per_second;
    let ratio = wall / bound;
    let per_person = calls as f64 / CUSTOMERS as f64;
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "pipedrive_first_sync: {CUSTOMERS} customers into an empty Pipedrive \
         ({DEFAULT_REQUESTS_PER_TWO_SECONDS} requests per 2 s); {persons} persons after the sync"
    );
    println!(
        "pipedrive_first_sync: wall time {wall:.1} s; the burst window allows {answered} \
         answered calls in {bound:.1} s: {ratio:.2}x (target <= {TARGET_BOUND_RATIO}x, {})",
        met(ratio <= TARGET_BOUND_RATIO)
    );
    println!(
        "pipedrive_first_sync: {calls} Pipedrive calls, {per_person:.3} per person (target <= \
         {TARGET_CALLS_PER_PERSON}, {}); {} tokens spent",
        met(per_person <= TARGET_CALLS_PER_PERSON),
        stats.tokens_spent
    );
    println!(
        "pipedrive_first_sync: 429s {} (target 0, {}); 10to8 calls {}",
        stats.rate_limited,
        met(stats.rate_limited == 0),
        bench.tte.stats().total()
    );
    for (route, count) in &stats.requests {
        println!("pipedrive_first_sync:   {route}: {count}");
    }
    if persons != CUSTOMERS {
        eprintln!("pipedrive_first_sync: expected {CUSTOMERS} persons, found {persons}");
        std::process::exit(1);
    }
    bench.finish().await;
}
