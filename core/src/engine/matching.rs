//! The match stage of pairing: never-linked customers and records that are the same person
//! by the mapping's match rules, and those that only might be.
//!
//! Rules are tried in order. Under a rule, a customer *fits* every record whose values of
//! all the rule's keys agree with its own (any value of each key: every email, every
//! number), and every other unpaired customer that agrees the same way; a record likewise.
//! A customer and a record are linked when each fits the other and nothing else. Anything
//! else that fits is a possible duplicate: neither linked nor created, reported with what it
//! fits, until a person links or keeps apart the records (`tte-sync link` / `unlink`).
//! Records already paired still count as fits (a new customer fitting a linked record may be
//! a duplicate of its customer), but are never paired again. Pairs a person kept apart never
//! fit each other.
//!
//! The possible-duplicate keys (e.g. `name`) run last, only among records that hold no value
//! of any other match key: they never link, they only hold.
//!
//! Cost: the keys of both sides are normalized once (parsing phone numbers is most of the
//! work; a number both sides hold is parsed once); each distinct value is numbered once; then
//! one index per rule numbers each tuple of value numbers once, and fits are read by tuple
//! number.

use std::collections::{HashMap, HashSet};

use crate::mapping::identity::KeyCache;
use crate::mapping::{Key, KeyValues, Mapping, MatchRule};
use crate::record::{CrmId, CrmRecord, Customer};

/// Customers (indexes) and records (positions) holding one tuple value.
#[derive(Default)]
struct Holders {
    customers: Vec<u32>,
    records: Vec<u32>,
}

/// What a customer or record fits under one rule.
#[derive(Debug, Clone, Default)]
pub(super) struct Fit {
    /// Customers (indexes) it fits, itself excluded.
    pub(super) customers: Vec<usize>,
    /// Records (positions) it fits, itself excluded.
    pub(super) records: Vec<usize>,
}

impl Fit {
    fn is_empty(&self) -> bool {
        self.customers.is_empty() && self.records.is_empty()
    }
}

/// An object held back as a possible duplicate.
#[derive(Debug, Clone)]
pub(super) struct Held {
    /// The rule that found it, e.g. `name + phone`.
    pub(super) rule: String,
    /// What else it fits.
    pub(super) fit: Fit,
}

/// The outcome of the match stage.
#[derive(Debug, Default)]
pub(super) struct Matched {
    /// (customer index, record position) pairs.
    pub(super) pairs: Vec<(usize, usize)>,
    /// Customers held, by index.
    pub(super) held_customers: HashMap<usize, Held>,
    /// Records held, by position.
    pub(super) held_records: HashMap<usize, Held>,
}

/// The sides as the match stage sees them.
pub(super) struct Sides<'a> {
    pub(super) customers: &'a [Customer],
    /// Records in a fixed order (positions index into it).
    pub(super) ids: &'a [&'a CrmId],
    pub(super) records: &'a HashMap<CrmId, CrmRecord>,
    /// Already paired, by customer index and record position.
    pub(super) hub_taken: &'a [bool],
    pub(super) crm_taken: &'a [bool],
    /// Pairs a person said are different people: (customer index, record position).
    pub(super) apart: &'a HashSet<(usize, usize)>,
}

/// Runs the match rules of `mapping` over the unpaired customers and records.
pub(super) fn match_rules(mapping: &Mapping, sides: &Sides<'_>) -> Matched {
    let identity = mapping.identity();
    let mut out = Matched::default();
    if identity.match_rules.is_empty() && identity.possible_duplicate.is_none() {
        return out;
    }
    let mut cache = KeyCache::default();
    let hub_keys: Vec<KeyValues> = (sides.customers.iter())
        .map(|c| mapping.hub_keys_cached(c, &mut cache))
        .collect();
    let crm_keys: Vec<KeyValues> = (sides.ids.iter())
        .map(|id| mapping.crm_keys_cached(&sides.records[*id], &mut cache))
        .collect();
    drop(cache);
    let mut numbers = HashMap::new();
    let hub_numbered = number_values(&hub_keys, &mut numbers);
    let crm_numbered = number_values(&crm_keys, &mut numbers);
    let values = numbers.len();
    drop(numbers);
    let mut hub_done: Vec<bool> = sides.hub_taken.to_vec();
    let mut crm_done: Vec<bool> = sides.crm_taken.to_vec();

    let rules = identity
        .match_rules
        .iter()
        .map(|r| (r, false))
        .chain(identity.possible_duplicate.iter().map(|r| (r, true)));
    for (rule, hold_only) in rules {
        // Under the possible-duplicate rule, only records with nothing else to match on.
        let other_keys: Vec<Key> = identity
            .match_rules
            .iter()
            .flat_map(|r| r.keys().iter().copied())
            .filter(|k| !rule.keys().contains(k))
            .collect();
        let bare = |keys: &KeyValues| !other_keys.iter().any(|k| keys.has(*k));
        let hub_in = |c: usize| !hold_only || bare(&hub_keys[c]);
        let crm_in = |r: usize| !hold_only || bare(&crm_keys[r]);

        let index = build_index(rule, &hub_numbered, &crm_numbered, values, &hub_in, &crm_in);
        if index.holders.is_empty() {
            continue;
        }
        let apart = |c: usize, r: usize| sides.apart.contains(&(c, r));

        // Fits, decided for every open object at once so the order does not matter.
        let mut customer_fits: Vec<(usize, Fit)> = Vec::new();
        for c in (0..sides.customers.len()).filter(|&c| !hub_done[c] && hub_in(c)) {
            let mut fit = Fit::default();
            for &t in index.hub.of(c) {
                let h = &index.holders[t as usize];
                {
                    fit.records.extend(
                        h.records
                            .iter()
                            .map(|&r| r as usize)
                            .filter(|&r| !apart(c, r)),
                    );
                    fit.customers.extend(
                        h.customers
                            .iter()
                            .map(|&o| o as usize)
                            .filter(|&o| o != c && !sides.hub_taken[o]),
                    );
                }
            }
            dedup(&mut fit);
            if !fit.is_empty() {
                customer_fits.push((c, fit));
            }
        }
        let mut record_fits: Vec<Option<Fit>> = vec![None; sides.ids.len()];
        for r in (0..sides.ids.len()).filter(|&r| !crm_done[r] && crm_in(r)) {
            let mut fit = Fit::default();
            for &t in index.crm.of(r) {
                let h = &index.holders[t as usize];
                {
                    fit.customers.extend(
                        h.customers
                            .iter()
                            .map(|&c| c as usize)
                            .filter(|&c| !apart(c, r)),
                    );
                    fit.records.extend(
                        h.records
                            .iter()
                            .map(|&o| o as usize)
                            .filter(|&o| o != r && !sides.crm_taken[o]),
                    );
                }
            }
            dedup(&mut fit);
            if !fit.is_empty() {
                record_fits[r] = Some(fit);
            }
        }

        let only = |fit: &Fit, side_records: bool| -> Option<usize> {
            let (mine, peers) = if side_records {
                (&fit.records, &fit.customers)
            } else {
                (&fit.customers, &fit.records)
            };
            (!hold_only && mine.len() == 1 && peers.is_empty()).then(|| mine[0])
        };
        let mut paired_records = HashSet::new();
        for (c, fit) in customer_fits {
            let mutual = only(&fit, true).filter(|&r| {
                !crm_done[r] && record_fits[r].as_ref().and_then(|f| only(f, false)) == Some(c)
            });
            hub_done[c] = true;
            match mutual {
                Some(r) => {
                    out.pairs.push((c, r));
                    paired_records.insert(r);
                }
                None => {
                    out.held_customers.insert(
                        c,
                        Held {
                            rule: rule.to_string(),
                            fit,
                        },
                    );
                }
            }
        }
        for (r, fit) in record_fits
            .into_iter()
            .enumerate()
            .filter_map(|(r, f)| Some((r, f?)))
        {
            crm_done[r] = true;
            if !paired_records.contains(&r) {
                out.held_records.insert(
                    r,
                    Held {
                        rule: rule.to_string(),
                        fit,
                    },
                );
            }
        }
    }
    out
}

/// One rule's tuples: each distinct tuple numbered once, with who holds it, and the tuple
/// numbers of each customer and record (flat, one allocation per side).
struct Index {
    holders: Vec<Holders>,
    hub: Flat,
    crm: Flat,
}

/// A list of numbers per object, in one vector: object `n` has
/// `items[starts[n]..starts[n + 1]]`.
struct Flat {
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Default for Flat {
    fn default() -> Self {
        Self {
            starts: vec![0],
            items: Vec::new(),
        }
    }
}

impl Flat {
    fn of(&self, n: usize) -> &[u32] {
        &self.items[self.starts[n] as usize..self.starts[n + 1] as usize]
    }

    fn end_object(&mut self) {
        self.starts.push(self.items.len() as u32);
    }
}

/// The key values of one side, each distinct value numbered once for both sides: per key
/// (in the order of [`Key::ALL`]), the value numbers of each object. Rules then combine
/// numbers, never strings.
struct Numbered {
    per_key: [Flat; 3],
}

impl Numbered {
    fn of(&self, key: Key, n: usize) -> &[u32] {
        let place = Key::ALL.iter().position(|k| *k == key).unwrap_or_default();
        self.per_key[place].of(n)
    }
}

/// Numbers every value of `keys`, continuing the numbering in `numbers`.
fn number_values<'a>(keys: &'a [KeyValues], numbers: &mut HashMap<&'a str, u32>) -> Numbered {
    let mut per_key: [Flat; 3] = Default::default();
    for values in keys {
        for (flat, &key) in per_key.iter_mut().zip(Key::ALL) {
            for value in values.of(key) {
                let next = numbers.len() as u32;
                flat.items
                    .push(*numbers.entry(value.as_str()).or_insert(next));
            }
            flat.end_object();
        }
    }
    Numbered { per_key }
}

/// A combination of value numbers, one per key of a rule (at most every key); unused places
/// are `UNUSED`.
type Tuple = [u32; 3];
const UNUSED: u32 = u32::MAX;

/// Every combination of object `n`'s values of the rule's keys, into `out`; none when a key
/// has no value. An object's values of a key are distinct, so are its tuples.
fn tuples_of(rule: &MatchRule, side: &Numbered, n: usize, out: &mut Vec<Tuple>) {
    out.clear();
    out.push([UNUSED; 3]);
    for (place, &key) in rule.keys().iter().enumerate() {
        let values = side.of(key, n);
        if values.is_empty() {
            out.clear();
            return;
        }
        for i in 0..out.len() {
            let mut tuple = out[i];
            out[i][place] = values[0];
            for &value in &values[1..] {
                tuple[place] = value;
                out.push(tuple);
            }
        }
    }
}

/// The tuple index of one rule over the objects `hub_in` and `crm_in` admit. `values` is
/// how many distinct values both sides hold.
fn build_index(
    rule: &MatchRule,
    hub: &Numbered,
    crm: &Numbered,
    values: usize,
    hub_in: &dyn Fn(usize) -> bool,
    crm_in: &dyn Fn(usize) -> bool,
) -> Index {
    let mut index = Index {
        holders: Vec::new(),
        hub: Flat::default(),
        crm: Flat::default(),
    };
    // A one-key rule's tuples are its values: numbered through a table, not a map.
    let mut by_value: Vec<u32> = if rule.keys().len() == 1 {
        vec![UNUSED; values]
    } else {
        Vec::new()
    };
    let mut by_tuple: HashMap<Tuple, u32> = HashMap::new();
    let mut number = |tuple: Tuple, holders: &mut Vec<Holders>| -> u32 {
        let slot = if by_value.is_empty() {
            by_tuple.entry(tuple).or_insert(UNUSED)
        } else {
            &mut by_value[tuple[0] as usize]
        };
        if *slot == UNUSED {
            holders.push(Holders::default());
            *slot = (holders.len() - 1) as u32;
        }
        *slot
    };
    let mut tuples = Vec::new();
    for c in 0..hub.per_key[0].starts.len() - 1 {
        if hub_in(c) {
            tuples_of(rule, hub, c, &mut tuples);
            for &tuple in &tuples {
                let t = number(tuple, &mut index.holders);
                index.holders[t as usize].customers.push(c as u32);
                index.hub.items.push(t);
            }
        }
        index.hub.end_object();
    }
    for r in 0..crm.per_key[0].starts.len() - 1 {
        if crm_in(r) {
            tuples_of(rule, crm, r, &mut tuples);
            for &tuple in &tuples {
                let t = number(tuple, &mut index.holders);
                index.holders[t as usize].records.push(r as u32);
                index.crm.items.push(t);
            }
        }
        index.crm.end_object();
    }
    index
}

fn dedup(fit: &mut Fit) {
    fit.customers.sort_unstable();
    fit.customers.dedup();
    fit.records.sort_unstable();
    fit.records.dedup();
}
