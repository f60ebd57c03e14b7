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
//! Cost: the keys of both sides are normalized and numbered once, into one text (parsing
//! phone numbers is most of the work; a number both sides hold is parsed once); then one
//! index per rule numbers each tuple of value numbers once, and fits are read by tuple
//! number.

use std::collections::{HashMap, HashSet};

use crate::mapping::identity::KeyNumbers;
use crate::mapping::{Key, Mapping, MatchRule};
use crate::record::{CrmId, CrmRecord, Customer};

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
    let mut numbers = KeyNumbers::default();
    let mut hub_numbered = Numbered::with_capacity(sides.customers.len());
    for customer in sides.customers {
        mapping.number_hub_keys(customer, &mut numbers, |key, n| hub_numbered.push(key, n));
        hub_numbered.end_object();
    }
    let mut crm_numbered = Numbered::with_capacity(sides.ids.len());
    for id in sides.ids {
        let record = &sides.records[*id];
        mapping.number_crm_keys(record, &mut numbers, |key, n| crm_numbered.push(key, n));
        crm_numbered.end_object();
    }
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
        let bare = |side: &Numbered, n: usize| !other_keys.iter().any(|&k| side.has(k, n));
        let hub_in = |c: usize| !hold_only || bare(&hub_numbered, c);
        let crm_in = |r: usize| !hold_only || bare(&crm_numbered, r);

        let index = build_index(rule, &hub_numbered, &crm_numbered, values, &hub_in, &crm_in);
        if index.tuples == 0 {
            continue;
        }
        let apart = |c: usize, r: usize| sides.apart.contains(&(c, r));

        // Fits, decided for every open object at once so the order does not matter.
        let mut customer_fits: Vec<(usize, Fit)> = Vec::new();
        for c in (0..sides.customers.len()).filter(|&c| !hub_done[c] && hub_in(c)) {
            let mut fit = Fit::default();
            for &t in index.hub.of(c) {
                let t = t as usize;
                fit.records.extend(
                    (index.records_holding.of(t).iter())
                        .map(|&r| r as usize)
                        .filter(|&r| !apart(c, r)),
                );
                fit.customers.extend(
                    (index.customers_holding.of(t).iter())
                        .map(|&o| o as usize)
                        .filter(|&o| o != c && !sides.hub_taken[o]),
                );
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
                let t = t as usize;
                fit.customers.extend(
                    (index.customers_holding.of(t).iter())
                        .map(|&c| c as usize)
                        .filter(|&c| !apart(c, r)),
                );
                fit.records.extend(
                    (index.records_holding.of(t).iter())
                        .map(|&o| o as usize)
                        .filter(|&o| o != r && !sides.crm_taken[o]),
                );
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

/// One rule's tuples: each distinct tuple numbered once, who holds each tuple, and the tuple
/// numbers of each customer and record (all flat: a few allocations per rule, not per tuple).
struct Index {
    /// How many distinct tuples there are.
    tuples: usize,
    /// By tuple number: the customers (indexes) and records (positions) holding it.
    customers_holding: Flat,
    records_holding: Flat,
    /// By object: its tuple numbers.
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
    fn with_capacity(objects: usize) -> Self {
        let mut starts = Vec::with_capacity(objects + 1);
        starts.push(0);
        Self {
            starts,
            items: Vec::with_capacity(objects),
        }
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    fn of(&self, n: usize) -> &[u32] {
        &self.items[self.starts[n] as usize..self.starts[n + 1] as usize]
    }

    fn end_object(&mut self) {
        self.starts.push(self.items.len() as u32);
    }

    /// Ends the object with its numbers sorted, each once.
    fn end_object_distinct(&mut self) {
        let start = self.starts[self.len()] as usize;
        let object = &mut self.items[start..];
        object.sort_unstable();
        let mut kept = 0;
        for i in 0..object.len() {
            if kept == 0 || object[i] != object[kept - 1] {
                object[kept] = object[i];
                kept += 1;
            }
        }
        self.items.truncate(start + kept);
        self.end_object();
    }

    /// The inverse of `self` over `lists` lists: for each number, the objects holding it, in
    /// object order.
    fn holders(&self, lists: usize) -> Flat {
        let mut starts = vec![0u32; lists + 1];
        for &t in &self.items {
            starts[t as usize + 1] += 1;
        }
        for n in 1..starts.len() {
            starts[n] += starts[n - 1];
        }
        let mut next = starts.clone();
        let mut items = vec![0u32; self.items.len()];
        for n in 0..self.len() {
            for &t in self.of(n) {
                items[next[t as usize] as usize] = n as u32;
                next[t as usize] += 1;
            }
        }
        Flat { starts, items }
    }
}

/// The key values of one side, each distinct value numbered once for both sides (see
/// [`KeyNumbers`]): per key (by [`Key::index`]), the value numbers of each object, sorted,
/// each once. Rules then combine numbers, never strings.
struct Numbered {
    per_key: [Flat; 3],
}

impl Numbered {
    fn with_capacity(objects: usize) -> Self {
        Self {
            per_key: std::array::from_fn(|_| Flat::with_capacity(objects)),
        }
    }

    fn push(&mut self, key: Key, number: u32) {
        self.per_key[key.index()].items.push(number);
    }

    fn end_object(&mut self) {
        self.per_key.iter_mut().for_each(Flat::end_object_distinct);
    }

    fn len(&self) -> usize {
        self.per_key[0].len()
    }

    fn of(&self, key: Key, n: usize) -> &[u32] {
        self.per_key[key.index()].of(n)
    }

    fn has(&self, key: Key, n: usize) -> bool {
        !self.of(key, n).is_empty()
    }
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
    // A one-key rule's tuples are its values: numbered through a table, not a map.
    let mut by_value: Vec<u32> = if rule.keys().len() == 1 {
        vec![UNUSED; values]
    } else {
        Vec::new()
    };
    let mut by_tuple: HashMap<Tuple, u32> = HashMap::new();
    let mut tuples = 0;
    let mut number = |tuple: Tuple| -> u32 {
        let slot = if by_value.is_empty() {
            by_tuple.entry(tuple).or_insert(UNUSED)
        } else {
            &mut by_value[tuple[0] as usize]
        };
        if *slot == UNUSED {
            *slot = tuples;
            tuples += 1;
        }
        *slot
    };
    let mut scratch = Vec::new();
    let mut side = |numbered: &Numbered, admitted: &dyn Fn(usize) -> bool| {
        let mut flat = Flat::with_capacity(numbered.len());
        for n in 0..numbered.len() {
            if admitted(n) {
                tuples_of(rule, numbered, n, &mut scratch);
                flat.items
                    .extend(scratch.iter().map(|&tuple| number(tuple)));
            }
            flat.end_object();
        }
        flat
    };
    let hub = side(hub, hub_in);
    let crm = side(crm, crm_in);
    let tuples = tuples as usize;
    Index {
        tuples,
        customers_holding: hub.holders(tuples),
        records_holding: crm.holders(tuples),
        hub,
        crm,
    }
}

fn dedup(fit: &mut Fit) {
    fit.customers.sort_unstable();
    fit.customers.dedup();
    fit.records.sort_unstable();
    fit.records.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(objects: &[&[u32]]) -> Flat {
        let mut flat = Flat::default();
        for numbers in objects {
            flat.items.extend_from_slice(numbers);
            flat.end_object_distinct();
        }
        flat
    }

    #[test]
    fn objects_keep_each_number_once_and_holders_list_objects_in_order() {
        let objects = flat(&[&[2, 0, 2], &[], &[0], &[1, 0, 1, 0]]);
        let lists: Vec<&[u32]> = (0..objects.len()).map(|n| objects.of(n)).collect();
        assert_eq!(lists, [&[0, 2][..], &[], &[0], &[0, 1]]);
        let holders = objects.holders(4);
        let held: Vec<&[u32]> = (0..holders.len()).map(|t| holders.of(t)).collect();
        assert_eq!(held, [&[0, 2, 3][..], &[3], &[0], &[]]);
    }
}
