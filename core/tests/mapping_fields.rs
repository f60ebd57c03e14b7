//! The per-field API the sync engine uses for its three-way merge: keys, directions,
//! policies, canonical values, and writing only the fields that changed.

use chrono::{TimeZone, Utc};
use tte_sync_core::mapping::{
    ConflictPolicy, CrmOutput, Direction, FromCrmDelete, FromHubDelete, HubOutput, Key, Mapping,
    SyncTime,
};
use tte_sync_core::{CrmId, CrmRecord, Customer};

const DEFAULT_MAPPING: &str = include_str!("../../mappings/hubspot.yaml");
const URI: &str = "https://10to8.com/api/enterprise/v2/customer/501/";

fn mapping() -> Mapping {
    Mapping::compile_for(DEFAULT_MAPPING, "mappings/hubspot.yaml", &["hubspot"]).unwrap()
}

fn now() -> SyncTime {
    SyncTime::new(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())
}

fn ada() -> Customer {
    Customer {
        resource_uri: URI.to_owned(),
        name: "Ada Lovelace".to_owned(),
        emails: vec!["ada@example".to_owned(), "ada@work.example.com".to_owned()],
        numbers: vec!["+44 1".to_owned()],
        ..Customer::default()
    }
}

#[test]
fn the_default_mapping_describes_itself() {
    let mapping = mapping();
    let keys: Vec<_> = mapping.fields().iter().map(|f| f.key()).collect();
    assert_eq!(keys, ["name", "emails", "numbers"]);
    for field in mapping.fields() {
        assert_eq!(field.direction(), Direction::Both);
        assert_eq!(field.conflict_policy(), ConflictPolicy::HubWins);
    }
    assert_eq!(
        mapping.crm_properties(),
        [
            "firstname",
            "lastname",
            "email",
            "tte_customer_secondary_emails",
            "phone",
            "tte_customer_secondary_phone",
            "tte_customer_sync_status",
            "tte_customer_uri",
            "hs_additional_emails"
        ]
    );
    let identity = mapping.identity();
    assert_eq!(identity.crm_id_custom_field, "External ID");
    assert_eq!(identity.hub_id_property, "tte_customer_uri");
    assert!(identity.hub_id_unique);
    let rules: Vec<String> = identity.match_rules.iter().map(|r| r.to_string()).collect();
    assert_eq!(rules, ["email", "name + phone"]);
    assert_eq!(
        identity.possible_duplicate.as_ref().map(|r| r.to_string()),
        Some("name".to_owned())
    );
    assert_eq!(identity.phone_region, "GB");
    let status = mapping.status().unwrap();
    assert_eq!(status.hub_custom_field, "Sync Status");
    assert_eq!(status.crm_property, "tte_customer_sync_status");
    assert_eq!(status.ok(&now()), "Last synced: 2026-01-02T03:04:05Z");
    assert_eq!(mapping.deletes().from_hub, FromHubDelete::Archive);
    assert_eq!(
        mapping.deletes().from_crm,
        FromCrmDelete::DeleteUnlessFutureBookings
    );
    let specs: Vec<_> = mapping
        .property_specs()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        specs,
        [
            "tte_customer_uri",
            "tte_customer_sync_status",
            "tte_customer_secondary_emails",
            "tte_customer_secondary_phone"
        ]
    );
    assert!(mapping.property_specs()[0].unique);
}

#[test]
fn per_field_policies_and_directions_come_from_the_file() {
    let text = DEFAULT_MAPPING
        .replace(
            "conflicts: { default: hub_wins }",
            "conflicts: { default: newest, fields: { numbers: crm_wins } }",
        )
        .replace(
            "    crm: { primary: phone, rest: tte_customer_secondary_phone, separator: \",\\n\" }",
            "    crm: { primary: phone, rest: tte_customer_secondary_phone, separator: \",\\n\" }\n    direction: to_hub",
        );
    let mapping = Mapping::compile_for(&text, "m.yaml", &["hubspot"]).unwrap();
    assert_eq!(
        mapping.field("name").unwrap().conflict_policy(),
        ConflictPolicy::Newest
    );
    let numbers = mapping.field("numbers").unwrap();
    assert_eq!(numbers.conflict_policy(), ConflictPolicy::CrmWins);
    assert_eq!(numbers.direction(), Direction::ToHub);
    let out = mapping.to_crm(&ada(), &now());
    assert!(!out.properties.contains_key("phone"), "{out:?}");
}

#[test]
fn canonical_values_tell_which_side_changed() {
    let mapping = mapping();
    let customer = ada();
    let record = CrmRecord {
        id: CrmId::from("101"),
        properties: mapping.to_crm(&customer, &now()).properties,
        ..CrmRecord::default()
    };
    let name = mapping.field("name").unwrap();
    let emails = mapping.field("emails").unwrap();
    let snapshot_name = name.crm_value(&record);
    assert_eq!(name.hub_value(&customer), snapshot_name);
    assert_eq!(snapshot_name, "Ada\u{1f}Lovelace");
    // The invalid primary is the placeholder on both sides.
    assert_eq!(emails.hub_value(&customer), "\u{1f}ada@work.example.com");
    assert_eq!(emails.crm_value(&record), "\u{1f}ada@work.example.com");

    let mut renamed = customer.clone();
    renamed.name = "Ada King".to_owned();
    assert_ne!(name.hub_value(&renamed), snapshot_name);
    // Whitespace that does not change what the CRM gets is no change.
    let mut spaced = customer.clone();
    spaced.name = " Ada   Lovelace ".to_owned();
    assert_eq!(name.hub_value(&spaced), snapshot_name);

    let mut edited = record.clone();
    edited.properties.insert("lastname".into(), "King".into());
    assert_ne!(name.crm_value(&edited), snapshot_name);
    assert_eq!(emails.crm_value(&edited), emails.crm_value(&record));
}

#[test]
fn writing_one_field_still_reports_the_whole_record_status() {
    let mapping = mapping();
    let mut customer = ada();
    customer.name = "Ada King".to_owned();
    let mut out = CrmOutput::default();
    mapping
        .field("name")
        .unwrap()
        .write_crm(&customer, &now(), &mut out);
    mapping.finish_crm(&customer, &now(), &mut out);
    let written: Vec<_> = out.properties.keys().map(String::as_str).collect();
    assert_eq!(
        written,
        [
            "firstname",
            "lastname",
            "tte_customer_sync_status",
            "tte_customer_uri"
        ]
    );
    assert_eq!(out.properties["lastname"], "King");
    assert_eq!(
        out.properties["tte_customer_sync_status"],
        "Error: Invalid email ada@example"
    );
    assert_eq!(out.errors, ["Error: Invalid email ada@example"]);
}

#[test]
fn writing_one_field_back_keeps_the_rest_of_the_customer() {
    let mapping = mapping();
    let current = ada();
    let record = CrmRecord {
        id: CrmId::from("101"),
        properties: [
            ("firstname", "Ada"),
            ("lastname", "King"),
            ("email", ""),
            ("tte_customer_uri", URI),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect(),
        ..CrmRecord::default()
    };
    let mut out = HubOutput::default();
    mapping
        .field("name")
        .unwrap()
        .write_hub(&record, Some(&current), &now(), &mut out);
    mapping.finish_hub(&record, Some(&current), &now(), &mut out);
    assert_eq!(out.name.as_deref(), Some("Ada King"));
    assert_eq!(out.emails, None);
    assert_eq!(out.numbers, None);
    assert_eq!(out.resource_uri.as_deref(), Some(URI));
    assert_eq!(out.custom_fields["External ID"], "101");
    // The CRM holds the placeholder and 10to8 the invalid email: the status says so.
    assert_eq!(
        out.custom_fields["Sync Status"],
        "Error: Invalid email ada@example"
    );

    let mut updated = current.clone();
    out.apply_to(&mut updated);
    assert_eq!(updated.name, "Ada King");
    assert_eq!(updated.emails, current.emails);
    assert_eq!(updated.custom_fields["External ID"], "101");
}

#[test]
fn match_keys_read_both_sides_alike_and_every_email_the_crm_holds() {
    let mapping = mapping();
    let customer = Customer {
        name: "José  Núñez".to_owned(),
        emails: vec![
            "Jose@Example.com".to_owned(),
            "jn@work.example.com".to_owned(),
        ],
        numbers: vec!["07700 900202".to_owned()],
        ..ada()
    };
    let hub = mapping.hub_keys(&customer);
    let mut record = CrmRecord {
        id: CrmId::from("7"),
        ..CrmRecord::default()
    };
    for (k, v) in [
        ("firstname", "jose"),
        ("lastname", "nunez"),
        ("phone", "+44 7700 900202"),
        (
            "hs_additional_emails",
            "other@example.org; JN@work.example.com",
        ),
    ] {
        record.properties.insert(k.into(), v.into());
    }
    let crm = mapping.crm_keys(&record);
    assert_eq!(hub.of(Key::Name), crm.of(Key::Name));
    assert_eq!(hub.of(Key::Phone), ["+447700900202"]);
    assert_eq!(hub.of(Key::Phone), crm.of(Key::Phone));
    assert_eq!(
        crm.of(Key::Email),
        ["jn@work.example.com", "other@example.org"]
    );
    assert!(
        hub.of(Key::Email)
            .contains(&"jn@work.example.com".to_owned())
    );
}

#[test]
fn a_mapping_can_be_shared_between_tasks() {
    fn shared<T: Send + Sync + Clone + 'static>(_: &T) {}
    shared(&mapping());
}
