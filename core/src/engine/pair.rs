//! Pairing: which 10to8 customer goes with which CRM record in a full pass, pure.
//!
//! In order: the stored link; then the id fields written into both systems (the CRM record's
//! URI property, the customer's External ID — after a 10to8 merge it holds `"a, b"` and the
//! first record still unpaired wins); then the match rule (each `identity.match` property,
//! trimmed and lowercased, held by exactly one live customer and one live record); whatever
//! is left is created on the other side. A value held by several records on either side is
//! ambiguous: reported, neither matched nor created.
//!
//! Links whose customer is gone (deleted in 10to8) ask for the record to be archived; links
//! whose record is gone, with no other record naming the customer, ask for the customer to
//! be deleted. Both follow the mapping's delete policy (applied by the caller).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::mapping::Mapping;
use crate::record::{CrmId, CrmRecord, Customer};
use crate::store::Link;

/// What joins the ids of customers merged in 10to8 in a custom field.
const MERGED_SEPARATOR: char = ',';

/// How a pair was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// By the stored link.
    Stored,
    /// By the ids written into the records.
    IdField,
    /// By the match rule.
    Matched,
}

/// A customer and a record that belong together.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Index into the customers.
    pub customer: usize,
    /// The record's id.
    pub record: CrmId,
    /// How they were found.
    pub found: Found,
}

/// A match value held by more than one record on a side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ambiguity {
    /// The match property, e.g. `email`.
    pub property: String,
    /// The normalized value.
    pub value: String,
    /// How many live customers hold it.
    pub customers: usize,
    /// How many live records hold it.
    pub records: usize,
}

/// The outcome of pairing both sides.
#[derive(Debug, Default)]
pub struct Pairing {
    /// Customers and records that belong together.
    pub pairs: Vec<Pair>,
    /// Customers (indexes) with no record: create one.
    pub create_in_crm: Vec<usize>,
    /// Records with no customer: create one.
    pub create_in_hub: Vec<CrmId>,
    /// Links whose customer was deleted: the record follows the hub delete policy.
    pub hub_deleted: Vec<Link>,
    /// Links whose record is gone: the customer (index) follows the CRM delete policy.
    pub crm_deleted: Vec<(Link, usize)>,
    /// Links neither side of which exists any more.
    pub stale: Vec<Link>,
    /// Match values that could not be decided.
    pub ambiguous: Vec<Ambiguity>,
}

/// Normalizes a match value: trimmed and lowercased.
pub fn normalize(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Pairs live `customers` and `records`, given the stored `links` (by customer URI) and the
/// URIs of customers deleted in 10to8.
pub fn pair(
    mapping: &Mapping,
    customers: &[Customer],
    records: &HashMap<CrmId, CrmRecord>,
    links: &HashMap<String, Link>,
) -> Pairing {
    let identity = mapping.identity();
    let by_uri: HashMap<&str, usize> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.resource_uri.as_str(), i))
        .collect();
    let mut out = Pairing::default();
    let mut hub_taken = vec![false; customers.len()];
    let mut crm_taken: HashSet<&CrmId> = HashSet::new();
    let mut orphans: Vec<(&Link, usize)> = Vec::new();

    let mut stored: Vec<&Link> = links.values().collect();
    stored.sort_by(|a, b| a.hub_uri.cmp(&b.hub_uri));
    for link in stored {
        let customer = by_uri.get(link.hub_uri.as_str()).copied();
        let record = records.get_key_value(&link.crm_id).map(|(k, _)| k);
        match (customer, record) {
            (Some(c), Some(r)) if !crm_taken.contains(r) => {
                hub_taken[c] = true;
                crm_taken.insert(r);
                out.pairs.push(Pair {
                    customer: c,
                    record: r.clone(),
                    found: Found::Stored,
                });
            }
            (None, Some(r)) => {
                crm_taken.insert(r);
                out.hub_deleted.push(link.clone());
            }
            (Some(c), _) => orphans.push((link, c)),
            (None, None) => out.stale.push(link.clone()),
        }
    }

    // The id fields: the record names its customer, or the customer names its record.
    let mut ids: Vec<&CrmId> = records.keys().collect();
    ids.sort();
    for id in &ids {
        if crm_taken.contains(id) {
            continue;
        }
        let uri = records[*id].property(&identity.hub_id_property);
        if let Some(&c) = by_uri.get(uri).filter(|&&c| !hub_taken[c]) {
            hub_taken[c] = true;
            crm_taken.insert(id);
            out.pairs.push(Pair {
                customer: c,
                record: (*id).clone(),
                found: Found::IdField,
            });
        }
    }
    for (c, customer) in customers.iter().enumerate() {
        if hub_taken[c] {
            continue;
        }
        let named = customer
            .custom_fields
            .get(&identity.crm_id_custom_field)
            .map_or("", String::as_str);
        let found = named
            .split(MERGED_SEPARATOR)
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .find_map(|id| {
                records
                    .get_key_value(&CrmId::from(id))
                    .map(|(k, _)| k)
                    .filter(|k| !crm_taken.contains(k))
            });
        if let Some(id) = found {
            hub_taken[c] = true;
            crm_taken.insert(id);
            out.pairs.push(Pair {
                customer: c,
                record: id.clone(),
                found: Found::IdField,
            });
        }
    }

    // Links whose record is gone and whose customer no other record claimed.
    for (link, c) in orphans {
        if !hub_taken[c] {
            hub_taken[c] = true;
            out.crm_deleted.push((link.clone(), c));
        }
    }

    // The match rule, unique on both sides.
    let mut ambiguous_customers = vec![false; customers.len()];
    let mut ambiguous_records: HashSet<&CrmId> = HashSet::new();
    for property in &identity.match_on {
        let mut hub_index: HashMap<String, Vec<usize>> = HashMap::new();
        for (c, customer) in customers.iter().enumerate() {
            for (p, value) in mapping.match_values(customer) {
                if p == property {
                    hub_index.entry(normalize(&value)).or_default().push(c);
                }
            }
        }
        let mut crm_index: HashMap<String, Vec<&CrmId>> = HashMap::new();
        for id in &ids {
            let value = normalize(records[*id].property(property));
            if !value.is_empty() {
                crm_index.entry(value).or_default().push(id);
            }
        }
        let mut values: Vec<(&String, &Vec<usize>)> = hub_index.iter().collect();
        values.sort();
        for (value, holders) in values {
            let record_holders = crm_index.get(value).map_or(&[][..], Vec::as_slice);
            let open = holders.iter().any(|&c| !hub_taken[c])
                || record_holders.iter().any(|r| !crm_taken.contains(*r));
            if holders.len() > 1 || record_holders.len() > 1 {
                if open {
                    holders
                        .iter()
                        .filter(|&&c| !hub_taken[c])
                        .for_each(|&c| ambiguous_customers[c] = true);
                    record_holders
                        .iter()
                        .filter(|r| !crm_taken.contains(**r))
                        .for_each(|r| {
                            ambiguous_records.insert(*r);
                        });
                    out.ambiguous.push(Ambiguity {
                        property: property.clone(),
                        value: value.clone(),
                        customers: holders.len(),
                        records: record_holders.len(),
                    });
                }
                continue;
            }
            let (Some(&c), Some(&r)) = (holders.first(), record_holders.first()) else {
                continue;
            };
            if hub_taken[c] || crm_taken.contains(r) {
                continue;
            }
            hub_taken[c] = true;
            crm_taken.insert(r);
            out.pairs.push(Pair {
                customer: c,
                record: r.clone(),
                found: Found::Matched,
            });
        }
    }

    out.create_in_crm = (0..customers.len())
        .filter(|&c| !hub_taken[c] && !ambiguous_customers[c])
        .collect();
    out.create_in_hub = ids
        .into_iter()
        .filter(|id| !crm_taken.contains(id) && !ambiguous_records.contains(id))
        .cloned()
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::record::CustomerUri;

    const MAPPING: &str = include_str!("../../../mappings/hubspot.yaml");

    fn mapping() -> Mapping {
        Mapping::compile_for(MAPPING, "hubspot.yaml", &["hubspot"]).expect("compiles")
    }

    fn customer(n: u32, email: &str, external: &str) -> Customer {
        Customer {
            resource_uri: format!("http://t/customer/{n}/"),
            emails: vec![email.to_owned()],
            custom_fields: BTreeMap::from([("External ID".to_owned(), external.to_owned())]),
            ..Customer::default()
        }
    }

    fn record(id: &str, email: &str, uri: &str) -> (CrmId, CrmRecord) {
        let mut r = CrmRecord {
            id: CrmId::from(id),
            ..CrmRecord::default()
        };
        r.properties.insert("email".into(), email.into());
        r.properties.insert("tte_customer_uri".into(), uri.into());
        (r.id.clone(), r)
    }

    #[test]
    fn links_then_id_fields_then_unique_emails_then_creates() {
        let customers = vec![
            customer(1, "one@x.com", ""),
            customer(2, "two@x.com", "20, 21"),
            customer(3, "Three@X.com", ""),
            customer(4, "dup@x.com", ""),
            customer(5, "dup@x.com", ""),
            customer(6, "six@x.com", ""),
            customer(7, "seven@x.com", ""),
        ];
        let records: HashMap<_, _> = [
            record("10", "other@x.com", ""),
            record("21", "", ""),
            record("30", "three@x.com", ""),
            record("40", "lonely@x.com", ""),
            record("70", "", "http://t/customer/7/"),
        ]
        .into_iter()
        .collect();
        let links = HashMap::from([(
            "http://t/customer/1/".to_owned(),
            Link::new(
                "hubspot",
                CustomerUri::from("http://t/customer/1/"),
                CrmId::from("10"),
            ),
        )]);
        let p = pair(&mapping(), &customers, &records, &links);
        let found: Vec<(usize, &str, Found)> = p
            .pairs
            .iter()
            .map(|x| (x.customer, x.record.as_str(), x.found))
            .collect();
        assert!(found.contains(&(0, "10", Found::Stored)));
        assert!(found.contains(&(6, "70", Found::IdField)));
        assert!(
            found.contains(&(1, "21", Found::IdField)),
            "merged External ID"
        );
        assert!(
            found.contains(&(2, "30", Found::Matched)),
            "normalized email"
        );
        assert_eq!(
            p.create_in_crm,
            vec![5],
            "dup@x.com is ambiguous, six is new"
        );
        assert_eq!(p.create_in_hub, vec![CrmId::from("40")]);
        assert_eq!(p.ambiguous.len(), 1);
        assert_eq!(p.ambiguous[0].customers, 2);
    }

    #[test]
    fn deleted_sides_of_links_are_reported_for_the_delete_policy() {
        let customers = vec![customer(1, "", ""), customer(2, "", "")];
        let records: HashMap<_, _> = [record("20", "", "")].into_iter().collect();
        let link = |n: u32, id: &str| {
            let uri = format!("http://t/customer/{n}/");
            (
                uri.clone(),
                Link::new("hubspot", CustomerUri(uri), CrmId::from(id)),
            )
        };
        let links = HashMap::from([link(1, "10"), link(3, "20"), link(4, "40")]);
        let p = pair(&mapping(), &customers, &records, &links);
        assert_eq!(p.crm_deleted.len(), 1);
        assert_eq!(p.crm_deleted[0].1, 0);
        assert_eq!(p.hub_deleted[0].crm_id.as_str(), "20");
        assert_eq!(p.stale[0].crm_id.as_str(), "40");
        assert_eq!(p.create_in_crm, vec![1]);
        assert!(
            p.create_in_hub.is_empty(),
            "record 20 belongs to a deleted customer"
        );
    }
}
