//! The 10to8 edge at scale, through the real binary against both simulators, each figure
//! printed beside its target:
//!
//! - `pace`: a first `sync` of 3,000 people (500 on both sides) with 10to8 limited to 20
//!   requests/s and the client starting at 5 with a ceiling of 50 (it must find the limit):
//!   wall time against what 20/s allows (target ≤ 1.5×), 429s after the first minute
//!   (target 0), and the pace it learned.
//! - `echo`: `serve` makes a first pass over 10,000 customers (10to8 unpaced); the pass's
//!   writes come back as notifications. 10to8 calls until that backlog is cleared, per 100
//!   customers (target ≤ 2), and how long a 10to8 edit and a HubSpot edit made just after
//!   the pass take to arrive (target ≤ 10 s).
//! - `scale`: a first full `sync` of 100,000 customers and 100,000 contacts (50,000 shared),
//!   10to8 unpaced: wall time, peak RSS of the sync process (`VmHWM`, target < 300 MB) and
//!   API calls per person.
//!
//! `cargo bench -p tte-sync --bench tte_edge` runs all three; `TTE_EDGE=pace` (or `echo`,
//! `scale`, comma-separated) picks.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::tte::simulator::{RateLimit, TteSimConfig};
use tte_sync_hubspot::simulator::SimulatorConfig;

use support::Bench;

const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");
const SEED: u64 = 21;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let picked = std::env::var("TTE_EDGE").unwrap_or_else(|_| "pace,echo,scale".to_owned());
    for name in picked.split(',') {
        match name.trim() {
            "pace" => pace().await,
            "echo" => echo().await,
            "scale" => scale().await,
            other => {
                eprintln!("unknown TTE_EDGE part `{other}`; use pace, echo or scale");
                std::process::exit(2);
            }
        }
    }
}

/// Rewrites the bench's config line `requests_per_second: N` to `with`.
fn set_pace(bench: &Bench, from: &str, with: &str) {
    let text = std::fs::read_to_string(&bench.config).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&bench.config, text.replacen(from, with, 1)).unwrap();
}

async fn pace() {
    const LIMIT: u32 = 20;
    let bench = Bench::start(
        "tte-edge-pace",
        SimulatorConfig::default(),
        TteSimConfig {
            rate_limit: Some(RateLimit {
                requests: LIMIT,
                window_secs: 1,
            }),
            ..TteSimConfig::default()
        },
        50.0,
        "  reconcile_interval_secs: 3600",
    )
    .await;
    set_pace(
        &bench,
        "requests_per_second: 50",
        "requests_per_second: 50\n  start_requests_per_second: 5",
    );
    bench.tte.seed(SEED, 0, 1_750, false);
    bench.hubspot.seed(SEED, 1_250, 1_750);
    bench.run("setup");
    bench.tte.reset_stats();
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["sync", "--config", &bench.config.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut last_throttled = 0;
    let mut throttled_late = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let throttled = bench.tte.stats().throttled;
        if throttled > last_throttled && started.elapsed() > Duration::from_secs(60) {
            throttled_late += throttled - last_throttled;
        }
        last_throttled = throttled;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    let stats = bench.tte.stats();
    if stats.throttled > last_throttled && wall > 60.0 {
        throttled_late += stats.throttled - last_throttled;
    }
    if !status.success() {
        let output = child.wait_with_output().unwrap();
        eprintln!("sync failed: {}", String::from_utf8_lossy(&output.stderr));
        std::process::exit(1);
    }
    let answered = stats.total() - stats.throttled;
    let allowed = answered as f64 / f64::from(LIMIT);
    println!(
        "pace: first sync of 3,000 people (500 shared), 10to8 limited to {LIMIT}/s, client \
         starting at 5/s: {wall:.1} s for {answered} answered 10to8 calls; {LIMIT}/s allows \
         {allowed:.1} s: {:.2}x (target <= 1.5x); 429s {} in all, {throttled_late} after the \
         first minute (target 0)",
        wall / allowed,
        stats.throttled
    );
    let status = Command::new(BIN)
        .args(["status", "--config", &bench.config.display().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    if let Some(line) = text.lines().find(|l| l.starts_with("10to8 pace")) {
        println!("pace: `tte-sync status`: {line}");
    }
    bench.finish().await;
}

async fn echo() {
    const CUSTOMERS: u64 = 10_000;
    const TARGET_CALLS_PER_100: f64 = 2.0;
    const TARGET_LATENCY: Duration = Duration::from_secs(10);
    let bench = Bench::start(
        "tte-edge-echo",
        SimulatorConfig::default(),
        TteSimConfig::default(),
        0.0,
        "  reconcile_interval_secs: 3600",
    )
    .await;
    bench.tte.seed(SEED, 0, CUSTOMERS, false);
    bench.run("setup");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let _server = bench.serve(&http).await;
    // The pass is done when serve's first reconcile has finished (customers held as possible
    // duplicates of one another stay unlinked, waiting for a person).
    loop {
        let status: serde_json::Value = http
            .get(format!("{}/api/status", bench.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let finished = status["runs"].as_array().is_some_and(|runs| {
            runs.iter()
                .any(|run| run["kind"] == "reconcile" && !run["finished_at"].is_null())
        });
        if finished {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let pairs: Vec<(u64, u64)> = bench
        .tte
        .customers()
        .iter()
        .filter_map(|c| Some((c.id, c.custom_fields.get("External ID")?.parse().ok()?)))
        .collect();
    let before = bench.tte.stats().total();
    let pass_secs = started.elapsed().as_secs_f64();
    // Edits made as the backlog starts: the customer listed last, and a contact.
    let (customer, _) = *pairs.iter().max_by_key(|(id, _)| *id).unwrap();
    let (_, contact) = pairs[pairs.len() / 3];
    let edited = Instant::now();
    bench
        .tte
        .edit(
            customer,
            &CustomerPatch {
                name: Some("Pat Backlogged".into()),
                ..CustomerPatch::default()
            },
        )
        .unwrap();
    let phone = "+44 20 7946 0999";
    bench
        .hubspot
        .user_edit(contact, &[("phone", phone)], None)
        .unwrap();
    let (mut to_crm, mut to_hub) = (None, None);
    while (to_crm.is_none() || to_hub.is_none()) && edited.elapsed() < Duration::from_secs(600) {
        if to_crm.is_none()
            && bench
                .hubspot
                .contact(customer_contact(&pairs, customer))
                .is_some_and(|(p, _)| p.get("lastname").map(String::as_str) == Some("Backlogged"))
        {
            to_crm = Some(edited.elapsed());
        }
        if to_hub.is_none()
            && bench
                .tte
                .customers()
                .iter()
                .any(|c| c.numbers.first().map(String::as_str) == Some(phone))
        {
            to_hub = Some(edited.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(3) {
        if bench.metric(&http, "tte_sync_inbox_depth").await != 0.0 {
            quiet_since = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = bench.tte.stats().total() - before;
    let per_100 = calls as f64 / (CUSTOMERS as f64 / 100.0);
    let secs = |d: Option<Duration>| {
        d.map_or("not arrived".to_owned(), |d| {
            format!("{:.2} s", d.as_secs_f64())
        })
    };
    println!(
        "echo: first pass over {CUSTOMERS} customers ({} linked) done {pass_secs:.1} s after \
         serve started; its echo backlog cleared with {calls} 10to8 calls: {per_100:.2} per 100 \
         customers (target <= {TARGET_CALLS_PER_100})",
        pairs.len()
    );
    println!(
        "echo: edits during the backlog arrived: 10to8 -> HubSpot {}, HubSpot -> 10to8 {} \
         (target <= {} s)",
        secs(to_crm),
        secs(to_hub),
        TARGET_LATENCY.as_secs()
    );
    bench.finish().await;
}

fn customer_contact(pairs: &[(u64, u64)], customer: u64) -> u64 {
    pairs.iter().find(|(c, _)| *c == customer).unwrap().1
}

/// The peak resident set (`VmHWM`) of process `pid` so far, in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn scale() {
    const CUSTOMERS: u64 = 100_000;
    const SHARED: u64 = 50_000;
    const TARGET_MB: f64 = 300.0;
    let bench = Bench::start(
        "tte-edge-scale",
        SimulatorConfig::default(),
        TteSimConfig::default(),
        0.0,
        "  reconcile_interval_secs: 3600",
    )
    .await;
    bench.tte.seed(SEED, 0, CUSTOMERS, false);
    bench.hubspot.seed(SEED, CUSTOMERS - SHARED, CUSTOMERS);
    let people = 2 * CUSTOMERS - SHARED;
    bench.run("setup");
    bench.tte.reset_stats();
    bench.hubspot.reset_stats();
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["sync", "--config", &bench.config.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak_kb = 0;
    let status = loop {
        if let Some(kb) = peak_rss_kb(pid) {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        let output = child.wait_with_output().unwrap();
        eprintln!("sync failed: {}", String::from_utf8_lossy(&output.stderr));
        std::process::exit(1);
    }
    let tte_calls = bench.tte.stats().total();
    let hub_calls: u64 = bench.hubspot.stats().requests.iter().map(|r| r.count).sum();
    let mb = peak_kb as f64 / 1024.0;
    println!(
        "scale: first full sync of {CUSTOMERS} customers + {CUSTOMERS} contacts ({SHARED} \
         shared, {people} people), 10to8 unpaced: {wall:.1} s; peak RSS of the sync process \
         {mb:.0} MB (target < {TARGET_MB} MB{}); {:.2} API calls per person ({tte_calls} 10to8, \
         {hub_calls} HubSpot)",
        if mb < TARGET_MB { ", met" } else { ", NOT met" },
        (tte_calls + hub_calls) as f64 / people as f64
    );
    bench.finish().await;
}
