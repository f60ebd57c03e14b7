//! Mapping throughput on the default mapping, both directions, single-threaded.
//!
//! `cargo bench -p tte-sync-core --bench mapping` prints records per second per core (per
//! second of the thread's CPU time where Linux reports it, so other load does not count). The
//! records are varied like real ones: one to four name words, zero to three emails (one in
//! twenty primaries invalid for HubSpot), zero to three numbers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use tte_sync_core::mapping::{Mapping, SyncTime};
use tte_sync_core::{CrmId, CrmRecord, Customer};

const DEFAULT_MAPPING: &str = include_str!("../../mappings/hubspot.yaml");
/// Distinct records per direction (cycled through).
const RECORDS: usize = 10_000;
/// How long each direction is measured.
const MEASURE: Duration = Duration::from_secs(3);
/// Rounds of measurement; the best is reported (the machine is shared and noisy).
const ROUNDS: usize = 3;

const FIRST: &[&str] = &[
    "Olivia", "Liam", "Zoë", "Muhammad", "Siobhán", "Kofi", "Mei",
];
const LAST: &[&str] = &[
    "Smith",
    "van der Berg",
    "García Márquez",
    "O'Neill",
    "",
    "Nguyen",
];

fn customers() -> Vec<Customer> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    (0..RECORDS)
        .map(|i| {
            let name = format!("{} {}", FIRST[next(FIRST.len())], LAST[next(LAST.len())]);
            let emails = (0..next(4))
                .map(|n| {
                    if n == 0 && next(20) == 0 {
                        format!("person{i}@example")
                    } else {
                        format!("person{i}+{n}@mail.example.com")
                    }
                })
                .collect();
            let numbers = (0..next(4))
                .map(|n| format!("+44 7700 9{i:05}{n}"))
                .collect();
            Customer {
                resource_uri: format!("https://10to8.com/api/enterprise/v2/customer/{i}/"),
                name: name.trim().to_owned(),
                emails,
                numbers,
                ..Customer::default()
            }
        })
        .collect()
}

/// CPU time this thread has run, from Linux's `/proc/thread-self/schedstat` (nanoseconds).
/// On a shared machine this, not wall time, says what one core can do.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    (nanos > 0).then(|| Duration::from_nanos(nanos))
}

/// Records per second of CPU time (wall time where CPU time is unavailable), best of rounds.
fn rate(mut step: impl FnMut(usize)) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let cpu_start = thread_cpu_time();
        let mut done = 0usize;
        while start.elapsed() < MEASURE {
            for _ in 0..1000 {
                step(done);
                done += 1;
            }
        }
        let spent = match (cpu_start, thread_cpu_time()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => start.elapsed(),
        };
        best = best.max(done as f64 / spent.as_secs_f64());
    }
    best
}

#[allow(clippy::print_stdout)]
fn main() {
    let mapping = Mapping::compile_for(DEFAULT_MAPPING, "mappings/hubspot.yaml", &["hubspot"])
        .expect("the default mapping compiles");
    let now = SyncTime::new(Utc::now());
    let customers = customers();
    let records: Vec<CrmRecord> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| CrmRecord {
            id: CrmId(i.to_string()),
            properties: mapping.to_crm(c, &now).properties,
            ..CrmRecord::default()
        })
        .collect();

    // `cargo bench … -- to_crm` measures only the names containing `to_crm`.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let mut figures = Vec::new();
    if wanted("to_crm") {
        let r = rate(|i| {
            black_box(mapping.to_crm(black_box(&customers[i % RECORDS]), &now));
        });
        figures.push(("to_crm (10to8 -> CRM)", r));
    }
    if wanted("to_hub") {
        let r = rate(|i| {
            let n = i % RECORDS;
            black_box(mapping.to_hub(black_box(&records[n]), Some(&customers[n]), &now));
        });
        figures.push(("to_hub (CRM -> 10to8)", r));
    }
    if wanted("change_detection") {
        let r = rate(|i| {
            let (c, r) = (&customers[i % RECORDS], &records[i % RECORDS]);
            for field in mapping.fields() {
                black_box(field.hub_value(c) == field.crm_value(r));
            }
        });
        figures.push(("change_detection (every field)", r));
    }
    let clock = if thread_cpu_time().is_some() {
        "per second of this thread's CPU time"
    } else {
        "per second of wall time"
    };
    println!(
        "mapping benchmark: default mapping, one thread, best of {ROUNDS} x {MEASURE:?}, {clock}"
    );
    for (name, rate) in figures {
        println!("  {name:<32} {rate:>12.0} records/s/core");
    }
}
