//! Property tests of the default mapping: what goes to the CRM comes back unchanged, and each
//! field's two canonical values agree right after a write, and an invalid primary email
//! survives the trip.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use tte_sync_core::mapping::{Mapping, SyncTime, valid_email};
use tte_sync_core::{CrmId, CrmRecord, Customer};

const DEFAULT_MAPPING: &str = include_str!("../../mappings/hubspot.yaml");

fn mapping() -> Mapping {
    Mapping::compile_for(DEFAULT_MAPPING, "mappings/hubspot.yaml", &["hubspot"]).unwrap()
}

fn now() -> SyncTime {
    SyncTime::new(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())
}

/// Names of zero to four words separated by single spaces.
fn name() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-zÀ-ÿ'][A-Za-zÀ-ÿ'.-]{0,9}", 0..5).prop_map(|words| words.join(" "))
}

/// Emails HubSpot accepts.
fn email() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9+_-]{0,8}(\\.[A-Za-z0-9_-]{1,6})?@[a-z0-9]{1,8}(\\.[a-z0-9-]{0,6}[a-z0-9])?\\.[a-z]{2,5}"
        .prop_filter("valid for HubSpot", |e| valid_email(e))
}

/// Phone numbers in the shapes people type, without the list separator.
fn number() -> impl Strategy<Value = String> {
    "\\+?[0-9]{1,4}( [0-9]{2,6}){0,3}|\\([0-9]{3}\\) [0-9]{3}-[0-9]{4}"
}

fn customer() -> impl Strategy<Value = Customer> {
    (
        name(),
        prop::collection::vec(email(), 0..4),
        prop::collection::vec(number(), 0..4),
        any::<u16>(),
    )
        .prop_map(|(name, emails, numbers, id)| Customer {
            resource_uri: format!("https://10to8.com/api/enterprise/v2/customer/{id}/"),
            name,
            emails,
            numbers,
            ..Customer::default()
        })
}

/// The CRM record a write of `customer` leaves behind.
fn written(mapping: &Mapping, customer: &Customer) -> CrmRecord {
    CrmRecord {
        id: CrmId::from("7"),
        properties: mapping.to_crm(customer, &now()).properties,
        ..CrmRecord::default()
    }
}

proptest! {
    #[test]
    fn hub_to_crm_to_hub_gives_back_name_emails_and_numbers(customer in customer()) {
        let mapping = mapping();
        let record = written(&mapping, &customer);
        for current in [None, Some(&customer)] {
            let back = mapping.to_hub(&record, current, &now());
            prop_assert_eq!(back.name.as_deref(), Some(customer.name.as_str()));
            prop_assert_eq!(back.emails.as_ref(), Some(&customer.emails));
            prop_assert_eq!(back.numbers.as_ref(), Some(&customer.numbers));
            prop_assert!(back.errors.is_empty());
        }
    }

    #[test]
    fn every_field_agrees_with_itself_after_a_write(
        customer in customer(),
        invalid_primary in prop::option::of("[a-z]{1,6}(@|@@)[a-z]{1,6}\\.?"),
    ) {
        let mut customer = customer;
        if let Some(invalid) = invalid_primary {
            customer.emails.insert(0, invalid);
        }
        let mapping = mapping();
        let record = written(&mapping, &customer);
        for field in mapping.fields() {
            prop_assert_eq!(field.hub_value(&customer), field.crm_value(&record), "field {}", field.key());
        }
        // The placeholder written for an invalid primary never overwrites it on the way back.
        let back = mapping.to_hub(&record, Some(&customer), &now());
        prop_assert_eq!(back.emails.as_ref(), Some(&customer.emails));
        let invalid = customer.emails.first().is_some_and(|e| !valid_email(e));
        prop_assert_eq!(back.errors.is_empty(), !invalid);
    }
}
