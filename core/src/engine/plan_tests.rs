//! Unit and property tests of the planner against the engine's test mapping.

use std::collections::BTreeMap;

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::record::CrmId;

const URI: &str = "http://tte.test/api/enterprise/v2/customer/7/";
const DEFAULT_MAPPING: &str = include_str!("test_mapping.yaml");

fn mapping_with(conflicts: &str) -> Mapping {
    let text = DEFAULT_MAPPING.replace("conflicts: { default: hub_wins }", conflicts);
    Mapping::compile_for(&text, "test_mapping.yaml", &["example"]).expect("mapping compiles")
}

fn mapping() -> Mapping {
    mapping_with("conflicts: { default: hub_wins }")
}

fn now() -> SyncTime {
    SyncTime::new(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())
}

fn customer(name: &str, emails: &[&str], numbers: &[&str]) -> Customer {
    Customer {
        resource_uri: URI.into(),
        name: name.into(),
        emails: emails.iter().map(|s| (*s).to_owned()).collect(),
        numbers: numbers.iter().map(|s| (*s).to_owned()).collect(),
        custom_fields: BTreeMap::from([
            ("External ID".into(), "42".into()),
            (
                "Sync Status".into(),
                "Last synced: 2025-12-01T00:00:00Z".into(),
            ),
        ]),
        ..Customer::default()
    }
}

fn record(properties: &[(&str, &str)]) -> CrmRecord {
    let mut record = CrmRecord {
        id: CrmId::from("42"),
        ..CrmRecord::default()
    };
    record
        .properties
        .insert("tte_customer_uri".into(), URI.into());
    record.properties.insert(
        "tte_customer_sync_status".into(),
        "Last synced: 2025-12-01T00:00:00Z".into(),
    );
    for (k, v) in properties {
        record.properties.insert((*k).into(), (*v).into());
    }
    record
}

/// A pair that agrees, with the snapshots a previous sync would have left.
fn agreed() -> (Customer, CrmRecord, Snapshot, Snapshot) {
    let c = customer("Ada Lovelace", &["ada@example.com"], &["+44 1"]);
    let r = record(&[
        ("firstname", "Ada"),
        ("lastname", "Lovelace"),
        ("email", "ada@example.com"),
        ("phone", "+44 1"),
    ]);
    let (hub, crm) = snapshots_of(&mapping(), &c, &r);
    (c, r, hub, crm)
}

fn plan(
    m: &Mapping,
    c: &Customer,
    r: &CrmRecord,
    snaps: Option<(&Snapshot, &Snapshot)>,
    times: ChangeTimes,
) -> PairPlan {
    plan_pair(
        m,
        c,
        r,
        snaps.map(|(hub, crm)| Snapshots { hub, crm }),
        times,
        &now(),
    )
}

#[test]
fn an_agreeing_pair_plans_nothing_even_though_the_status_time_is_old() {
    let (c, r, hub, crm) = agreed();
    let p = plan(
        &mapping(),
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    assert!(p.is_noop(), "{p:?}");
    assert!(p.fields.is_empty());
}

#[test]
fn a_change_in_10to8_is_copied_to_the_crm_with_a_fresh_status() {
    let (mut c, r, hub, crm) = agreed();
    c.name = "Ada King".into();
    let p = plan(
        &mapping(),
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    let write = p.crm_write.expect("crm written");
    assert_eq!(write["lastname"], "King");
    assert_eq!(
        write["tte_customer_sync_status"],
        "Last synced: 2026-01-02T03:04:05Z"
    );
    assert_eq!(write["tte_customer_uri"], URI);
    assert!(p.hub_patch.is_none(), "10to8 needs no write");
    assert_eq!(p.fields[0].flow, Flow::ToCrm);
    assert!(!p.fields[0].conflict);
}

#[test]
fn a_change_in_the_crm_is_copied_to_10to8() {
    let (c, mut r, hub, crm) = agreed();
    r.properties.insert("phone".into(), "+44 2".into());
    let p = plan(
        &mapping(),
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    let patch = p.hub_patch.expect("10to8 written");
    assert_eq!(patch.numbers, Some(vec!["+44 2".to_owned()]));
    assert_eq!(patch.name, None);
    assert!(p.crm_write.is_none());
}

#[test]
fn different_fields_changed_on_each_side_both_survive() {
    let (mut c, mut r, hub, crm) = agreed();
    c.name = "Ada King".into();
    r.properties.insert("phone".into(), "+44 2".into());
    let p = plan(
        &mapping(),
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    assert!(!p.has_conflict());
    assert_eq!(p.crm_write.expect("crm written")["lastname"], "King");
    assert_eq!(
        p.hub_patch.expect("hub written").numbers,
        Some(vec!["+44 2".to_owned()])
    );
}

#[test]
fn the_same_field_changed_on_both_sides_follows_the_policy() {
    let (mut c, mut r, hub, crm) = agreed();
    c.numbers = vec!["+44 3".into()];
    r.properties.insert("phone".into(), "+44 2".into());
    let early = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let late = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap();

    let hub_wins = plan(
        &mapping(),
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    assert!(hub_wins.has_conflict());
    assert_eq!(hub_wins.crm_write.expect("crm written")["phone"], "+44 3");

    let crm_wins = mapping_with("conflicts: { default: crm_wins }");
    let p = plan(
        &crm_wins,
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    assert_eq!(
        p.hub_patch.expect("hub written").numbers,
        Some(vec!["+44 2".into()])
    );

    let newest = mapping_with("conflicts: { default: newest }");
    let crm_later = ChangeTimes {
        hub: Some(early),
        crm: Some(late),
    };
    let p = plan(&newest, &c, &r, Some((&hub, &crm)), crm_later);
    assert_eq!(p.fields[0].flow, Flow::ToHub);
    let hub_later = ChangeTimes {
        hub: Some(late),
        crm: Some(early),
    };
    let p = plan(&newest, &c, &r, Some((&hub, &crm)), hub_later);
    assert_eq!(p.fields[0].flow, Flow::ToCrm);
    let unknown = ChangeTimes {
        hub: None,
        crm: Some(late),
    };
    let p = plan(&newest, &c, &r, Some((&hub, &crm)), unknown);
    assert_eq!(
        p.fields[0].flow,
        Flow::ToCrm,
        "10to8 wins when its time is unknown"
    );

    let per_field = mapping_with("conflicts: { default: hub_wins, fields: { numbers: crm_wins } }");
    let p = plan(
        &per_field,
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    assert_eq!(p.fields[0].flow, Flow::ToHub);
}

#[test]
fn the_same_edit_on_both_sides_is_no_conflict_and_no_write() {
    let (mut c, mut r, hub, crm) = agreed();
    c.numbers = vec!["+44 3".into()];
    r.properties.insert("phone".into(), "+44 3".into());
    let p = plan(
        &mapping(),
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    assert!(p.is_noop(), "{p:?}");
}

#[test]
fn a_first_link_decides_differing_fields_by_policy_and_writes_ids_on_both_sides() {
    let mut c = customer("Ada Lovelace", &["ada@example.com", "a2@example.com"], &[]);
    c.custom_fields.clear();
    let mut r = record(&[
        ("firstname", "Ada"),
        ("lastname", "L"),
        ("email", "ada@example.com"),
    ]);
    r.properties.clear();
    r.properties.insert("firstname".into(), "Ada".into());
    r.properties.insert("lastname".into(), "L".into());
    r.properties
        .insert("email".into(), "ada@example.com".into());
    let p = plan(&mapping(), &c, &r, None, ChangeTimes::default());
    let write = p.crm_write.expect("crm written");
    assert_eq!(write["lastname"], "Lovelace");
    assert_eq!(write["tte_customer_secondary_emails"], "a2@example.com");
    assert_eq!(write["tte_customer_uri"], URI);
    let patch = p
        .hub_patch
        .expect("hub written: its External ID was missing");
    let fields = patch.custom_fields.expect("custom fields");
    assert_eq!(fields["External ID"], "42");
    assert_eq!(fields["Sync Status"], "Last synced: 2026-01-02T03:04:05Z");
    assert!(p.fields.iter().all(|f| f.flow == Flow::ToCrm));
    let conflicts: Vec<&str> = p
        .fields
        .iter()
        .filter(|f| f.conflict)
        .map(|f| f.key.as_str())
        .collect();
    assert_eq!(
        conflicts,
        ["name"],
        "the last names differ; the emails only fill the CRM's empty secondary emails"
    );
}

#[test]
fn a_first_link_fills_an_empty_side_without_calling_it_a_conflict() {
    let c = customer("Ada Lovelace", &["ada@example.com"], &[]);
    let r = record(&[("email", "ada@example.com"), ("phone", "+44 7700 900202")]);
    let p = plan(&mapping(), &c, &r, None, ChangeTimes::default());
    assert!(p.fields.iter().all(|f| !f.conflict), "{:?}", p.fields);
    let flow = |key: &str| p.fields.iter().find(|f| f.key == key).map(|f| f.flow);
    assert_eq!(
        flow("name"),
        Some(Flow::ToCrm),
        "the CRM's empty name is filled"
    );
    assert_eq!(
        flow("numbers"),
        Some(Flow::ToHub),
        "10to8's empty numbers are filled"
    );
    let write = p.crm_write.expect("crm written");
    assert!(
        !write.contains_key("phone"),
        "the CRM's phone is kept, not wiped"
    );
    let patch = p.hub_patch.expect("hub written");
    assert_eq!(patch.numbers, Some(vec!["+44 7700 900202".to_owned()]));
}

#[test]
fn an_invalid_email_is_a_placeholder_and_an_error_on_both_sides_and_then_stable() {
    let m = mapping();
    let c = customer("Bob", &["bob@example"], &[]);
    let r = record(&[("firstname", "Bob")]);
    let p = plan(&m, &c, &r, None, ChangeTimes::default());
    let write = p.crm_write.clone().expect("status written");
    assert_eq!(
        write["tte_customer_sync_status"],
        "Error: Invalid email bob@example"
    );
    assert!(
        !write.contains_key("email"),
        "the placeholder already agrees"
    );
    let fields = p
        .hub_patch
        .clone()
        .expect("hub status")
        .custom_fields
        .expect("fields");
    assert_eq!(fields["Sync Status"], "Error: Invalid email bob@example");

    let mut c2 = c.clone();
    apply_patch(&p.hub_patch.unwrap(), &mut c2);
    let mut r2 = r.clone();
    r2.properties.extend(write);
    let again = plan(
        &m,
        &c2,
        &r2,
        Some((&p.hub_snapshot, &p.crm_snapshot)),
        ChangeTimes::default(),
    );
    assert!(again.is_noop(), "{again:?}");

    // Fixing the email in 10to8 clears the error on both sides.
    c2.emails = vec!["bob@example.com".into()];
    let fixed = plan(
        &m,
        &c2,
        &r2,
        Some((&p.hub_snapshot, &p.crm_snapshot)),
        ChangeTimes::default(),
    );
    let write = fixed.crm_write.expect("crm written");
    assert_eq!(write["email"], "bob@example.com");
    assert_eq!(
        write["tte_customer_sync_status"],
        "Last synced: 2026-01-02T03:04:05Z"
    );
    let fields = fixed
        .hub_patch
        .expect("hub status cleared")
        .custom_fields
        .unwrap();
    assert_eq!(fields["Sync Status"], "Last synced: 2026-01-02T03:04:05Z");
}

#[test]
fn a_merged_external_id_is_rewritten_to_the_linked_record() {
    let (mut c, r, hub, crm) = agreed();
    c.custom_fields
        .insert("External ID".into(), "42, 43".into());
    let p = plan(
        &mapping(),
        &c,
        &r,
        Some((&hub, &crm)),
        ChangeTimes::default(),
    );
    assert!(p.crm_write.is_none());
    let fields = p.hub_patch.expect("hub written").custom_fields.unwrap();
    assert_eq!(fields["External ID"], "42");
}

#[test]
fn the_ok_status_is_recognised_at_any_time_and_errors_are_not() {
    let m = mapping();
    let status = m.status().unwrap();
    assert!(is_ok_status(status, "Last synced: 2020-05-05T10:00:00Z"));
    assert!(!is_ok_status(status, "Last synced: "));
    assert!(!is_ok_status(status, "Error: Invalid email x"));
    assert!(!is_ok_status(status, ""));
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "Ada",
        "Ada Lovelace",
        " Ada  King ",
        "Zoë van der Berg",
    ])
    .prop_map(str::to_owned)
}

fn emails() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::sample::select(vec![
            "a@example.com",
            "B@Example.org",
            "bad@example",
            "c @x.com",
            "",
        ]),
        0..3,
    )
    .prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

fn numbers() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::sample::select(vec!["+44 1", "07 2", "(555) 3"]), 0..3)
        .prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

fn arb_customer() -> impl Strategy<Value = Customer> {
    (name(), emails(), numbers(), any::<bool>()).prop_map(|(n, e, p, linked)| {
        let mut c = customer(&n, &[], &[]);
        c.emails = e;
        c.numbers = p;
        if !linked {
            c.custom_fields.clear();
        }
        c
    })
}

fn arb_record() -> impl Strategy<Value = CrmRecord> {
    (
        name(),
        name(),
        prop::sample::select(vec!["", "a@example.com", "d@example.net"]),
        prop::sample::select(vec!["", "x@example.com", "y@example.com,\nz@example.com"]),
        prop::sample::select(vec!["", "+44 1", "+44 9"]),
    )
        .prop_map(|(first, last, email, rest, phone)| {
            record(&[
                ("firstname", first.trim()),
                ("lastname", last.trim()),
                ("email", email),
                ("tte_customer_secondary_emails", rest),
                ("phone", phone),
            ])
        })
}

fn policy() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "conflicts: { default: hub_wins }",
        "conflicts: { default: crm_wins }",
        "conflicts: { default: newest }",
    ])
}

/// Applies a plan's writes as the two systems would.
fn applied(p: &PairPlan, c: &Customer, r: &CrmRecord) -> (Customer, CrmRecord) {
    let mut c = c.clone();
    let mut r = r.clone();
    if let Some(patch) = &p.hub_patch {
        apply_patch(patch, &mut c);
    }
    if let Some(write) = &p.crm_write {
        r.properties.extend(write.clone());
    }
    (c, r)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After a plan is carried out, planning again writes nothing: syncs converge in one step.
    #[test]
    fn a_plan_carried_out_leaves_nothing_to_do(
        c in arb_customer(),
        r in arb_record(),
        conflicts in policy(),
        snapshot_from in prop::option::of((arb_customer(), arb_record())),
    ) {
        let m = mapping_with(conflicts);
        let base = snapshot_from.map(|(bc, br)| snapshots_of(&m, &bc, &br));
        let p = plan(&m, &c, &r, base.as_ref().map(|(h, k)| (h, k)), ChangeTimes::default());
        let (c2, r2) = applied(&p, &c, &r);
        let again = plan(&m, &c2, &r2, Some((&p.hub_snapshot, &p.crm_snapshot)), ChangeTimes::default());
        prop_assert!(again.is_noop(), "first {:?}\nsecond {:?}", p, again);
    }

    /// A field neither side changed since the snapshot is never copied.
    #[test]
    fn unchanged_fields_never_move(c in arb_customer(), r in arb_record(), conflicts in policy()) {
        let m = mapping_with(conflicts);
        let (hub, crm) = snapshots_of(&m, &c, &r);
        let p = plan(&m, &c, &r, Some((&hub, &crm)), ChangeTimes::default());
        prop_assert!(p.fields.is_empty(), "{:?}", p.fields);
    }

    /// Once carried out, every field copied agrees on both sides.
    #[test]
    fn copied_fields_agree_afterwards(c in arb_customer(), r in arb_record()) {
        let m = mapping();
        let p = plan(&m, &c, &r, None, ChangeTimes::default());
        let (c2, r2) = applied(&p, &c, &r);
        for decision in p.fields.iter().filter(|d| d.flow == Flow::ToCrm) {
            let field = m.field(&decision.key).unwrap();
            prop_assert_eq!(field.hub_value(&c2), field.crm_value(&r2));
        }
    }
}
