//! The connector registry as the host binary sees it.

use tte_sync_core::connector::registry::{self, BuildError};
// Linked explicitly, as the host binary links it.
use tte_sync_hubspot as _;

#[test]
fn hubspot_is_registered() {
    let names: Vec<_> = registry::plugins().iter().map(|p| p.name).collect();
    assert!(names.contains(&"hubspot"), "registered: {names:?}");
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "listing is sorted by name");
}

#[test]
fn unknown_connector_fails_listing_the_known_ones() {
    let error = registry::find("salesforce").unwrap_err();
    assert!(matches!(error, BuildError::Unknown { .. }));
    let message = error.to_string();
    assert!(
        message.contains("unknown connector `salesforce`"),
        "{message}"
    );
    assert!(message.contains("hubspot"), "{message}");
}

#[test]
fn hubspot_config_is_checked_against_its_schema() {
    let plugin = registry::find("hubspot").unwrap();
    let schema = serde_json_value(plugin.config_schema());
    assert!(
        schema["properties"]["private_app_token"].is_object(),
        "{schema}"
    );
}

fn serde_json_value(schema: schemars::Schema) -> serde_json::Value {
    schema.to_value()
}
