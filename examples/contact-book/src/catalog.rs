//! Contact Book's fixed fields, as the connector's properties. There is no schema API, so
//! this catalog ships with the connector and `setup` checks the mapping's properties against
//! it instead of creating any.
//!
//! `phones` is a list-valued property (the primary number first), mapped whole with
//! `crm: { items: phones }` — see the `contact` module.

use tte_sync_core::connector::{
    Catalog, ConnectorError, PropertyInfo, PropertySpec, SetupAction, SetupChange, SetupReport,
};

/// The first name.
pub const FIRST_NAME: &str = "first_name";
/// The last name.
pub const LAST_NAME: &str = "last_name";
/// The one email address.
pub const EMAIL: &str = "email";
/// The phone numbers, a list whose first item is the primary number.
pub const PHONES: &str = "phones";
/// The integration's reference, unique among live contacts.
pub const EXTERNAL_REF: &str = "external_ref";
/// Free text for the integration.
pub const SYNC_NOTE: &str = "sync_note";

const FIELDS: [(&str, &str, bool); 6] = [
    (FIRST_NAME, "First name", false),
    (LAST_NAME, "Last name", false),
    (EMAIL, "Email", false),
    (PHONES, "Phones (a list, the primary first)", false),
    (EXTERNAL_REF, "External reference", true),
    (SYNC_NOTE, "Sync note", false),
];

/// Every property the connector reads and writes.
pub fn catalog() -> Catalog {
    Catalog {
        properties: FIELDS
            .iter()
            .map(|&(name, label, unique)| {
                let info = PropertyInfo {
                    name: name.to_owned(),
                    label: label.to_owned(),
                    data_type: "string".to_owned(),
                    unique,
                    read_only: false,
                };
                (name.to_owned(), info)
            })
            .collect(),
    }
}

/// The list filter of the API that finds contacts by `property`.
///
/// # Errors
/// Permanent for a property the API cannot filter on.
pub fn filter_for(property: &str) -> Result<&'static str, ConnectorError> {
    match property {
        EMAIL => Ok(EMAIL),
        EXTERNAL_REF => Ok(EXTERNAL_REF),
        other => Err(ConnectorError::permanent(format!(
            "Contact Book finds contacts by `{EMAIL}` or `{EXTERNAL_REF}` only, not `{other}`"
        ))),
    }
}

/// Setup's report for the mapping's properties: each one exists (unchanged) or cannot be
/// made (a mismatch naming the fields there are).
pub fn check_specs(specs: &[PropertySpec]) -> SetupReport {
    let catalog = catalog();
    let changes = specs
        .iter()
        .map(|spec| {
            let target = format!("property {}", spec.name);
            match catalog.properties.get(&spec.name) {
                Some(info) if info.unique || !spec.unique => SetupChange {
                    action: SetupAction::Unchanged,
                    target,
                    detail: "a fixed Contact Book field".to_owned(),
                },
                Some(_) => SetupChange {
                    action: SetupAction::Mismatch,
                    target,
                    detail: format!(
                        "the mapping wants it unique but Contact Book keeps only `{EXTERNAL_REF}` unique; \
                         key the identity on `{EXTERNAL_REF}`"
                    ),
                },
                None => SetupChange {
                    action: SetupAction::Mismatch,
                    target,
                    detail: format!(
                        "Contact Book has no schema API and no such field; map to one of: {}",
                        FIELDS.map(|(name, _, _)| name).join(", ")
                    ),
                },
            }
        })
        .collect();
    SetupReport {
        changes,
        files: Vec::new(),
    }
}
