//! Pairing: which 10to8 customer goes with which CRM record in a full pass, pure.
//!
//! In order: the stored link; then the id fields written into both systems (the CRM record's
//! URI property, the customer's External ID — after a 10to8 merge it holds `"a, b"` and the
//! first record still unpaired wins); then the match rules (see the `matching` module:
//! a customer and a record that fit each other and nothing else); whatever is left is created
//! on the other side. Anything that fits more than one record on either side is held as a
//! possible duplicate: reported, neither matched nor created. Pairs a person kept apart
//! (`tte-sync unlink`) are joined by neither the id fields nor the rules.
//!
//! Links whose customer is gone (deleted in 10to8) ask for the record to be archived; links
//! whose record is gone, with no other record naming the customer and none fitting it by the
//! match rules, ask for the customer to be deleted. Both follow the mapping's delete policy
//! (applied by the caller). A customer whose record is gone but who fits another record by
//! the rules is that person still in the CRM (merged, most often): linked to it when it fits
//! that record alone, else held as a possible duplicate; never deleted.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::matching;
use crate::mapping::Mapping;
use crate::record::{CrmId, CrmRecord, Customer};
use crate::store::Link;

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

/// Customers and records that fit each other by a match rule but not one to one: possible
/// duplicates, neither linked nor created until a person decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ambiguity {
    /// The rule that found them, e.g. `email` or `name + phone`.
    pub rule: String,
    /// The 10to8 customers (URIs).
    pub customers: Vec<String>,
    /// The CRM records (ids).
    pub records: Vec<String>,
}

/// One customer or record held back as a possible duplicate, with what it fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The customer held (index), or
    pub customer: Option<usize>,
    /// the record held.
    pub record: Option<CrmId>,
    /// The rule that found the fit.
    pub rule: String,
    /// The other customers it fits (indexes).
    pub customers: Vec<usize>,
    /// The other records it fits.
    pub records: Vec<CrmId>,
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
    /// Links whose record is gone while their customer fits other records by the match
    /// rules, held as a possible duplicate: unlinked, never deleted.
    pub superseded: Vec<Link>,
    /// Possible duplicates, grouped: what fits what.
    pub ambiguous: Vec<Ambiguity>,
    /// Each customer and record held back as a possible duplicate.
    pub held: Vec<Held>,
}

/// Pairs live `customers` and `records`, given the stored `links` (by customer URI) and the
/// pairs a person kept apart (customer URI, record id), which neither the id fields nor the
/// match rules join.
pub fn pair(
    mapping: &Mapping,
    customers: &[Customer],
    records: &HashMap<CrmId, CrmRecord>,
    links: &HashMap<String, Link>,
    apart: &HashSet<(String, CrmId)>,
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
        let kept_apart = apart.contains(&(uri.to_owned(), (*id).clone()));
        if let Some(&c) = by_uri.get(uri).filter(|&&c| !hub_taken[c] && !kept_apart) {
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
        let found = identity.named_crm_ids(customer).find_map(|id| {
            records
                .get_key_value(&CrmId::from(id))
                .map(|(k, _)| k)
                .filter(|k| !crm_taken.contains(k))
                .filter(|k| !apart.contains(&(customer.resource_uri.clone(), (*k).clone())))
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

    // Links whose record is gone and whose customer no other record claimed go through the
    // match rules like any unpaired customer: one that still fits a live record (merged into
    // it, most often; CRMs such as Pipedrive show a merged-away record as deleted) is that
    // person still in the CRM, never a delete.
    let orphans: Vec<(&Link, usize)> = orphans
        .into_iter()
        .filter(|&(_, c)| !hub_taken[c])
        .collect();

    // The match rules.
    let pos: HashMap<&CrmId, usize> = ids.iter().enumerate().map(|(n, id)| (*id, n)).collect();
    let crm_taken_at: Vec<bool> = ids.iter().map(|id| crm_taken.contains(id)).collect();
    let apart_at: HashSet<(usize, usize)> = apart
        .iter()
        .filter_map(|(uri, id)| Some((*by_uri.get(uri.as_str())?, *pos.get(id)?)))
        .collect();
    let matched = matching::match_rules(
        mapping,
        &matching::Sides {
            customers,
            ids: &ids,
            records,
            hub_taken: &hub_taken,
            crm_taken: &crm_taken_at,
            apart: &apart_at,
        },
    );
    for &(c, r) in &matched.pairs {
        hub_taken[c] = true;
        crm_taken.insert(ids[r]);
        out.pairs.push(Pair {
            customer: c,
            record: ids[r].clone(),
            found: Found::Matched,
        });
    }
    for (link, c) in orphans {
        if matched.held_customers.contains_key(&c) {
            out.superseded.push(link.clone());
        } else if !hub_taken[c] {
            hub_taken[c] = true;
            out.crm_deleted.push((link.clone(), c));
        }
    }
    let record_ids = |fit: &matching::Fit| -> Vec<CrmId> {
        fit.records.iter().map(|&r| ids[r].clone()).collect()
    };
    let mut held: Vec<Held> = Vec::new();
    let mut seen: HashSet<(Vec<usize>, Vec<CrmId>)> = HashSet::new();
    let mut customer_list: Vec<(&usize, &matching::Held)> = matched.held_customers.iter().collect();
    customer_list.sort_by_key(|(c, _)| **c);
    let mut record_list: Vec<(&usize, &matching::Held)> = matched.held_records.iter().collect();
    record_list.sort_by_key(|(r, _)| **r);
    for (c, h) in customer_list {
        held.push(Held {
            customer: Some(*c),
            record: None,
            rule: h.rule.clone(),
            customers: h.fit.customers.clone(),
            records: record_ids(&h.fit),
        });
    }
    for (r, h) in record_list {
        held.push(Held {
            customer: None,
            record: Some(ids[*r].clone()),
            rule: h.rule.clone(),
            customers: h.fit.customers.clone(),
            records: record_ids(&h.fit),
        });
    }
    for h in &held {
        let mut cs: Vec<usize> = h.customers.iter().copied().chain(h.customer).collect();
        let mut rs: Vec<CrmId> = h.records.iter().cloned().chain(h.record.clone()).collect();
        cs.sort_unstable();
        rs.sort();
        if seen.insert((cs.clone(), rs.clone())) {
            out.ambiguous.push(Ambiguity {
                rule: h.rule.clone(),
                customers: cs
                    .iter()
                    .map(|&c| customers[c].resource_uri.clone())
                    .collect(),
                records: rs.iter().map(|r| r.as_str().to_owned()).collect(),
            });
        }
    }

    out.create_in_crm = (0..customers.len())
        .filter(|&c| !hub_taken[c] && !matched.held_customers.contains_key(&c))
        .collect();
    out.create_in_hub = ids
        .iter()
        .enumerate()
        .filter(|(n, id)| !crm_taken.contains(**id) && !matched.held_records.contains_key(n))
        .map(|(_, id)| (*id).clone())
        .collect();
    out.held = held;
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::record::CustomerUri;

    const MAPPING: &str = include_str!("test_mapping.yaml");

    fn mapping() -> Mapping {
        Mapping::compile_for(MAPPING, "test_mapping.yaml", &["example"]).expect("compiles")
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

    /// Customer `n`'s stored link to record `id`, keyed as the pairing takes links.
    fn link(n: u32, id: &str) -> (String, Link) {
        let uri = format!("http://t/customer/{n}/");
        (
            uri.clone(),
            Link::new("example", CustomerUri(uri), CrmId::from(id)),
        )
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
                "example",
                CustomerUri::from("http://t/customer/1/"),
                CrmId::from("10"),
            ),
        )]);
        let p = pair(&mapping(), &customers, &records, &links, &HashSet::new());
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
        assert_eq!(p.ambiguous[0].customers.len(), 2);
        assert_eq!(p.ambiguous[0].rule, "email");
    }

    #[test]
    fn deleted_sides_of_links_are_reported_for_the_delete_policy() {
        let customers = vec![customer(1, "", ""), customer(2, "", "")];
        let records: HashMap<_, _> = [record("20", "", "")].into_iter().collect();
        let links = HashMap::from([link(1, "10"), link(3, "20"), link(4, "40")]);
        let p = pair(&mapping(), &customers, &records, &links, &HashSet::new());
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

    #[test]
    fn a_customer_whose_record_is_gone_but_who_fits_another_is_never_deleted() {
        // 1 was linked to 10, merged into 20 (linked to 2), which now holds 1's email too; 3
        // was linked to 30, gone, and 31 holds 3's email alone; 4's record is simply gone.
        let customers = vec![
            customer(1, "one@x.com", "10"),
            customer(2, "two@x.com", "20"),
            customer(3, "three@x.com", "30"),
            customer(4, "four@x.com", "40"),
        ];
        let mut survivor = record("20", "two@x.com", "http://t/customer/2/").1;
        survivor
            .properties
            .insert("other_emails".into(), "one@x.com".into());
        let records: HashMap<_, _> = [
            (CrmId::from("20"), survivor),
            record("31", "three@x.com", ""),
        ]
        .into_iter()
        .collect();
        let links = HashMap::from([link(1, "10"), link(2, "20"), link(3, "30"), link(4, "40")]);
        let p = pair(&mapping(), &customers, &records, &links, &HashSet::new());
        let deleted: Vec<usize> = p.crm_deleted.iter().map(|(_, c)| *c).collect();
        assert_eq!(deleted, vec![3], "only the customer no record fits");
        assert_eq!(p.superseded.len(), 1, "{:?}", p.superseded);
        assert_eq!(p.superseded[0].hub_uri.as_str(), "http://t/customer/1/");
        assert_eq!(
            p.ambiguous.len(),
            1,
            "1 fits 2's record: a possible duplicate"
        );
        assert!(
            p.pairs
                .iter()
                .any(|x| (x.customer, x.record.as_str(), x.found) == (2, "31", Found::Matched)),
            "{:?}",
            p.pairs
        );
        assert!(p.create_in_crm.is_empty(), "{:?}", p.create_in_crm);
    }

    /// A customer known by name and phone numbers only.
    fn person(n: u32, name: &str, emails: &[&str], numbers: &[&str]) -> Customer {
        Customer {
            resource_uri: format!("http://t/customer/{n}/"),
            name: name.to_owned(),
            emails: emails.iter().map(|e| (*e).to_owned()).collect(),
            numbers: numbers.iter().map(|e| (*e).to_owned()).collect(),
            ..Customer::default()
        }
    }

    /// A contact with these properties.
    fn contact(id: &str, properties: &[(&str, &str)]) -> (CrmId, CrmRecord) {
        let mut r = CrmRecord {
            id: CrmId::from(id),
            ..CrmRecord::default()
        };
        for (k, v) in properties {
            r.properties.insert((*k).into(), (*v).into());
        }
        (r.id.clone(), r)
    }

    fn pairs_of(p: &Pairing) -> Vec<(usize, &str)> {
        let mut found: Vec<_> = p
            .pairs
            .iter()
            .map(|x| (x.customer, x.record.as_str()))
            .collect();
        found.sort();
        found
    }

    fn run(customers: &[Customer], records: Vec<(CrmId, CrmRecord)>) -> Pairing {
        let records: HashMap<_, _> = records.into_iter().collect();
        pair(
            &mapping(),
            customers,
            &records,
            &HashMap::new(),
            &HashSet::new(),
        )
    }

    #[test]
    fn every_item_of_a_list_valued_other_emails_property_matches() {
        let customers = vec![person(1, "Ada Lovelace", &["ada@example.com"], &[])];
        let (id, mut record) = contact("10", &[("firstname", "Augusta")]);
        record.properties.insert(
            "other_emails".into(),
            crate::record::PropertyValue::List {
                items: vec!["old@example.com".into(), "ADA@example.com".into()],
                primary: 0,
            },
        );
        let p = run(&customers, vec![(id, record)]);
        assert_eq!(pairs_of(&p), [(0, "10")]);
    }

    #[test]
    fn no_email_on_either_side_links_by_name_and_the_same_phone_in_another_format() {
        let customers = vec![
            person(1, "Ada Lovelace", &[], &["07700 900202"]),
            person(2, "José  Núñez", &[], &["+44 7700 900303", "020 7946 0000"]),
        ];
        let p = run(
            &customers,
            vec![
                contact(
                    "10",
                    &[
                        ("firstname", "Ada"),
                        ("lastname", "Lovelace"),
                        ("phone", "+44 7700 900202"),
                    ],
                ),
                contact(
                    "20",
                    &[
                        ("firstname", "jose"),
                        ("lastname", "nunez"),
                        ("phone", "07700900303"),
                    ],
                ),
            ],
        );
        assert_eq!(pairs_of(&p), [(0, "10"), (1, "20")]);
        assert!(p.pairs.iter().all(|x| x.found == Found::Matched));
        assert!(p.create_in_crm.is_empty() && p.create_in_hub.is_empty());
    }

    #[test]
    fn a_family_sharing_a_phone_and_namesakes_with_other_phones_stay_apart() {
        let home = "01632 960001";
        let customers = vec![
            person(1, "Ada Lovelace", &[], &[home]),
            person(2, "Byron Lovelace", &[], &[home]),
            person(3, "Annabella Lovelace", &[], &[home]),
            person(4, "Mary Somerville", &[], &["07700 900404"]),
        ];
        let p = run(
            &customers,
            vec![
                contact(
                    "10",
                    &[
                        ("firstname", "Ada"),
                        ("lastname", "Lovelace"),
                        ("phone", "+44 1632 960001"),
                    ],
                ),
                contact(
                    "20",
                    &[
                        ("firstname", "Byron"),
                        ("lastname", "Lovelace"),
                        ("phone", home),
                    ],
                ),
                contact(
                    "40",
                    &[
                        ("firstname", "Mary"),
                        ("lastname", "Somerville"),
                        ("phone", "07700 900405"),
                    ],
                ),
            ],
        );
        assert_eq!(
            pairs_of(&p),
            [(0, "10"), (1, "20")],
            "each to their own name"
        );
        assert_eq!(
            p.create_in_crm,
            [2, 3],
            "Annabella and the other Mary are new"
        );
        assert_eq!(p.create_in_hub, [CrmId::from("40")]);
        assert!(p.ambiguous.is_empty(), "{:?}", p.ambiguous);
    }

    #[test]
    fn two_contacts_that_both_fit_one_customer_link_nothing_and_create_nothing() {
        let customers = vec![
            person(1, "Ada Lovelace", &["ada@example.com"], &[]),
            person(2, "Grace Hopper", &[], &["07700 900505"]),
        ];
        let p = run(
            &customers,
            vec![
                contact("10", &[("email", "ADA@example.com")]),
                // The CRM's own list of other emails counts too.
                contact("11", &[("other_emails", "old@example.com;ada@example.com")]),
                contact(
                    "20",
                    &[
                        ("firstname", "Grace"),
                        ("lastname", "Hopper"),
                        ("phone", "+447700900505"),
                    ],
                ),
                contact(
                    "21",
                    &[
                        ("firstname", "grace"),
                        ("lastname", "HOPPER"),
                        ("phone", "07700 900505"),
                    ],
                ),
            ],
        );
        assert!(p.pairs.is_empty(), "{:?}", pairs_of(&p));
        assert!(p.create_in_crm.is_empty(), "{:?}", p.create_in_crm);
        assert!(p.create_in_hub.is_empty(), "{:?}", p.create_in_hub);
        assert_eq!(p.held.len(), 6, "both customers and all four contacts wait");
        let rules: Vec<&str> = p.ambiguous.iter().map(|a| a.rule.as_str()).collect();
        assert_eq!(rules, ["email", "name + phone"]);
        assert_eq!(p.ambiguous[0].records, ["10", "11"]);
    }

    #[test]
    fn a_new_customer_fitting_a_linked_record_is_a_possible_duplicate() {
        let customers = vec![
            person(1, "Ada Lovelace", &["ada@example.com"], &[]),
            person(2, "Ada L.", &["ada@example.com"], &[]),
        ];
        let records: HashMap<_, _> = [contact("10", &[("email", "ada@example.com")])].into();
        let links = HashMap::from([(
            "http://t/customer/1/".to_owned(),
            Link::new(
                "example",
                CustomerUri::from("http://t/customer/1/"),
                CrmId::from("10"),
            ),
        )]);
        let p = pair(&mapping(), &customers, &records, &links, &HashSet::new());
        assert_eq!(pairs_of(&p), [(0, "10")]);
        assert!(p.create_in_crm.is_empty(), "not created in the CRM");
        assert_eq!(p.held.len(), 1);
        assert_eq!(p.held[0].customer, Some(1));
        assert_eq!(p.held[0].records, [CrmId::from("10")]);
    }

    #[test]
    fn people_known_by_name_only_are_held_never_linked() {
        let customers = vec![
            person(1, "Zoë García Márquez", &[], &[]),
            person(2, "Mary Somerville", &["mary@example.com"], &[]),
        ];
        let p = run(
            &customers,
            vec![
                contact(
                    "10",
                    &[("firstname", "Zoe"), ("lastname", "Garcia Marquez")],
                ),
                contact("20", &[("firstname", "Mary"), ("lastname", "Somerville")]),
            ],
        );
        assert!(p.pairs.is_empty());
        let held: Vec<_> = p
            .held
            .iter()
            .map(|h| (h.customer, h.record.clone()))
            .collect();
        assert_eq!(held, [(Some(0), None), (None, Some(CrmId::from("10")))]);
        assert_eq!(p.ambiguous[0].rule, "name");
        assert_eq!(p.create_in_crm, [1], "an email tells Mary apart");
        assert_eq!(p.create_in_hub, [CrmId::from("20")]);
    }

    #[test]
    fn pairs_kept_apart_are_joined_by_neither_ids_nor_rules() {
        let mut customers = vec![person(1, "Ada Lovelace", &["ada@example.com"], &[])];
        customers[0]
            .custom_fields
            .insert("External ID".into(), "10".into());
        let records: HashMap<_, _> = [contact(
            "10",
            &[
                ("email", "ada@example.com"),
                ("tte_customer_uri", "http://t/customer/1/"),
            ],
        )]
        .into();
        let apart = HashSet::from([("http://t/customer/1/".to_owned(), CrmId::from("10"))]);
        let p = pair(&mapping(), &customers, &records, &HashMap::new(), &apart);
        assert!(p.pairs.is_empty());
        assert!(p.held.is_empty());
        assert_eq!(p.create_in_crm, [0]);
        assert_eq!(p.create_in_hub, [CrmId::from("10")]);
    }
}
