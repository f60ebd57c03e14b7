//! Pairing 100,000 customers against 100,000 contacts with the default match rules
//! (`[email, [name, phone]]`, name-only possible duplicates), half of the people on both
//! sides, no links stored: the first sync of a large account, where every pair is found by
//! the rules.
//!
//! `cargo bench -p tte-sync-core --features simulator --bench pairing` prints the time of the
//! best of three rounds and the memory pairing took (peak resident set above what the two
//! sides already held, from Linux's `/proc/self/status`; "n/a" elsewhere). The people are the
//! simulators' generated ones, laid out on the CRM side as the HubSpot simulator seeds them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use tte_sync_core::engine::pair::pair;
use tte_sync_core::mapping::identity::KeyNumbers;
use tte_sync_core::mapping::{Mapping, valid_email};
use tte_sync_core::simulate::people;
use tte_sync_core::{CrmId, CrmRecord, Customer};

const DEFAULT_MAPPING: &str = include_str!("../../mappings/hubspot.yaml");
const SEED: u64 = 1;
const PER_SIDE: u64 = 100_000;
const ROUNDS: usize = 3;

fn customers() -> Vec<Customer> {
    people(SEED, 0, PER_SIDE)
        .map(|p| Customer {
            resource_uri: format!(
                "https://10to8.com/api/enterprise/v2/customer/{}/",
                p.index + 1
            ),
            name: p.full_name(),
            emails: p.emails,
            numbers: p.numbers,
            custom_fields: BTreeMap::new(),
            ..Customer::default()
        })
        .collect()
}

fn records() -> HashMap<CrmId, CrmRecord> {
    people(SEED, PER_SIDE / 2, PER_SIDE)
        .map(|p| {
            let mut properties = BTreeMap::new();
            properties.insert("firstname".to_owned(), p.first_name.clone());
            properties.insert("lastname".to_owned(), p.last_name.clone());
            let mut valid = p.emails.iter().filter(|e| valid_email(e));
            if p.emails.first().is_some_and(|e| valid_email(e)) {
                properties.insert(
                    "email".to_owned(),
                    valid.next().cloned().unwrap_or_default(),
                );
            }
            let rest: Vec<&str> = valid.map(String::as_str).collect();
            if !rest.is_empty() {
                properties.insert("hs_additional_emails".to_owned(), rest.join(";"));
            }
            if let Some(phone) = p.numbers.first() {
                properties.insert("phone".to_owned(), phone.clone());
            }
            let id = CrmId(format!("{}", 1_000_000 + p.index));
            let record = CrmRecord {
                id: id.clone(),
                properties: properties.into_iter().map(|(k, v)| (k, v.into())).collect(),
                ..CrmRecord::default()
            };
            (id, record)
        })
        .collect()
}

/// A `/proc/self/status` figure in kB (`VmRSS`, `VmHWM`), where Linux reports it.
fn proc_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[allow(clippy::print_stdout)] // a benchmark prints its figures
fn main() {
    let mapping = Mapping::compile_for(DEFAULT_MAPPING, "hubspot.yaml", &["hubspot"])
        .expect("the default mapping compiles");
    let customers = customers();
    let records = records();
    let links = HashMap::new();
    let apart = HashSet::new();
    let before = proc_kb("VmRSS:");

    let mut best = Duration::MAX;
    let mut outcome = None;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let pairing = black_box(pair(&mapping, &customers, &records, &links, &apart));
        best = best.min(started.elapsed());
        outcome = Some((
            pairing.pairs.len(),
            pairing.held.len(),
            pairing.create_in_crm.len(),
            pairing.create_in_hub.len(),
        ));
        drop(pairing);
    }
    let peak = proc_kb("VmHWM:");
    // Of which: reading, normalizing and numbering the match keys of both sides (best of as
    // many rounds).
    let mut normalizing = Duration::MAX;
    let (mut values, mut distinct) = (0, 0);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut numbers = KeyNumbers::default();
        values = 0;
        for customer in &customers {
            mapping.number_hub_keys(customer, &mut numbers, |_, _| values += 1);
        }
        for record in records.values() {
            mapping.number_crm_keys(record, &mut numbers, |_, _| values += 1);
        }
        normalizing = normalizing.min(started.elapsed());
        distinct = black_box(numbers).len();
    }
    let keys = customers.len() + records.len();
    let (pairs, held, to_crm, to_hub) = outcome.unwrap_or_default();
    println!(
        "pairing {PER_SIDE} customers x {PER_SIDE} contacts ({} shared): best of {ROUNDS} {:.3} s",
        PER_SIDE / 2,
        best.as_secs_f64()
    );
    println!(
        "  of which normalizing the match keys of the {keys} records ({values} values, {} distinct): {:.3} s",
        distinct,
        normalizing.as_secs_f64()
    );
    println!(
        "  {pairs} pairs, {held} held as possible duplicates, {to_crm} to create in the CRM, {to_hub} in 10to8"
    );
    match (before, peak) {
        (Some(before), Some(peak)) => println!(
            "  memory: {:.1} MB for pairing above the {:.1} MB both sides hold (peak resident {:.1} MB)",
            peak.saturating_sub(before) as f64 / 1024.0,
            before as f64 / 1024.0,
            peak as f64 / 1024.0
        ),
        _ => println!("  memory: n/a (no /proc/self/status)"),
    }
}
