//! Engine benchmarks against both simulators in-process, each figure printed beside its bound:
//!
//! - a first full sync of 10,000 10to8 customers into an empty HubSpot: HubSpot calls per
//!   contact (target ≤ 0.012), wall time against the bound the simulators' rate limits set
//!   (target ≤ 1.2×), peak RSS of this process (simulators included; target < 150 MB);
//! - a no-change re-sync of the same 10,000: writes (target 0) and reads per contact.
//!
//! `cargo bench -p tte-sync-tests --bench engine` (`-- N` for another size).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use tte_sync_core::tte::simulator::{RateLimit, TteSimConfig};
use tte_sync_hubspot::simulator::SimulatorConfig;

use support::{HubSpot, SEED, World};

/// Customers in the run unless given on the command line.
const DEFAULT_CUSTOMERS: u64 = 10_000;
/// The 10to8 simulator's limit (requests per second) and the client's pace.
const TTE_REQUESTS_PER_SECOND: u32 = 500;
/// HubSpot's burst limit: requests per ten seconds (the simulator's default).
const HUBSPOT_PER_TEN_SECONDS: f64 = 110.0;
const TARGET_CALLS_PER_CONTACT: f64 = 0.012;
const TARGET_WALL_FACTOR: f64 = 1.2;
const TARGET_RSS_MB: f64 = 150.0;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

// A bench binary reports its figures on stdout.
#[allow(clippy::print_stdout)]
fn main() {
    let customers = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<u64>().ok())
        .unwrap_or(DEFAULT_CUSTOMERS);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let tte_config = TteSimConfig {
            rate_limit: Some(RateLimit {
                requests: TTE_REQUESTS_PER_SECOND,
                window_secs: 1,
            }),
            ..TteSimConfig::default()
        };
        let world = World::<HubSpot>::start_with(
            tte_config,
            SimulatorConfig::default(),
            f64::from(TTE_REQUESTS_PER_SECOND),
        )
        .await;
        world.tte.seed(SEED, 0, customers, false);
        world.reset_stats();

        let started = Instant::now();
        let first = world.sync().await;
        let wall = started.elapsed().as_secs_f64();
        assert!(!first.has_failures(), "{first}");
        let hub_calls = world.crm.sim.stats().requests.iter().map(|r| r.count).sum::<u64>() as f64;
        let tte_calls = world.tte.stats().total() as f64;
        let n = customers as f64;
        let per_contact = hub_calls / n;
        let tte_bound = tte_calls / f64::from(TTE_REQUESTS_PER_SECOND);
        let hub_bound = ((hub_calls - HUBSPOT_PER_TEN_SECONDS).max(0.0)) / (HUBSPOT_PER_TEN_SECONDS / 10.0);
        let bound = tte_bound.max(hub_bound);
        let rss = peak_rss_mb().unwrap_or(f64::NAN);
        println!("first full sync of {customers} customers into an empty HubSpot:");
        println!(
            "  HubSpot calls per contact  {per_contact:.4}  (target <= {TARGET_CALLS_PER_CONTACT})  {}",
            verdict(per_contact <= TARGET_CALLS_PER_CONTACT)
        );
        println!(
            "  wall time                  {wall:.1} s  (rate-limit bound {bound:.1} s: {tte_calls} 10to8 calls at {TTE_REQUESTS_PER_SECOND}/s, {hub_calls} HubSpot calls at {HUBSPOT_PER_TEN_SECONDS}/10 s; {:.2}x, target <= {TARGET_WALL_FACTOR}x)  {}",
            wall / bound,
            verdict(wall <= bound * TARGET_WALL_FACTOR)
        );
        println!(
            "  peak RSS (whole process, both simulators included)  {rss:.0} MB  (target < {TARGET_RSS_MB} MB)  {}",
            verdict(rss < TARGET_RSS_MB)
        );

        world.reset_stats();
        let started = Instant::now();
        let again = world.sync().await;
        let wall = started.elapsed().as_secs_f64();
        let (tte_writes, hub_writes) = world.writes();
        let hub_reads = world.crm.sim.stats().requests.iter().map(|r| r.count).sum::<u64>() as f64;
        let tte_reads = world.tte.stats().total() as f64;
        println!("no-change re-sync of {customers}:");
        println!(
            "  writes                     {} (10to8 {tte_writes}, HubSpot {hub_writes}; summary {})  (target 0)  {}",
            tte_writes + hub_writes,
            again.writes(),
            verdict(tte_writes + hub_writes == 0)
        );
        println!(
            "  reads per contact          HubSpot {:.4}, 10to8 {:.4}; wall {wall:.1} s",
            hub_reads / n,
            tte_reads / n
        );
    });
}
