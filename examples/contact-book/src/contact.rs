//! A contact as the API sends it, and the connector's string properties of it (the `phones`
//! list split into `phone` and `other_phones`, see [`crate::catalog`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tte_sync_core::record::{CrmId, CrmRecord};

use crate::catalog::{
    EMAIL, EXTERNAL_REF, FIRST_NAME, LAST_NAME, OTHER_PHONES, PHONE, PHONE_SEPARATOR, SYNC_NOTE,
};

/// A contact, as `GET /v1/contacts/{id}` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The id, e.g. `"17"`.
    pub id: String,
    /// The first name.
    #[serde(default)]
    pub first_name: String,
    /// The last name.
    #[serde(default)]
    pub last_name: String,
    /// The email address, or empty.
    #[serde(default)]
    pub email: String,
    /// The phone numbers, the primary first.
    #[serde(default)]
    pub phones: Vec<String>,
    /// The integration's unique reference, or empty.
    #[serde(default)]
    pub external_ref: String,
    /// The integration's note, or empty.
    #[serde(default)]
    pub sync_note: String,
    /// Whether the contact is archived.
    #[serde(default)]
    pub archived: bool,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Contact {
    /// The record the engine sees.
    pub fn into_record(self) -> CrmRecord {
        let mut properties = BTreeMap::new();
        let mut phones = self.phones.into_iter();
        let phone = phones.next().unwrap_or_default();
        let others: Vec<String> = phones.collect();
        for (name, value) in [
            (FIRST_NAME, self.first_name),
            (LAST_NAME, self.last_name),
            (EMAIL, self.email),
            (PHONE, phone),
            (OTHER_PHONES, others.join(PHONE_SEPARATOR)),
            (EXTERNAL_REF, self.external_ref),
            (SYNC_NOTE, self.sync_note),
        ] {
            if !value.is_empty() {
                properties.insert(name.to_owned(), value);
            }
        }
        CrmRecord {
            id: CrmId(self.id),
            properties,
            archived: self.archived,
            updated_at: self.updated_at,
        }
    }
}

/// The body of a create or update: the written properties as API fields. `phones` is sent
/// whole, so when a write names only one of `phone` and `other_phones`, `current` (the contact
/// as it is) supplies the other.
pub fn body_of(
    properties: &BTreeMap<String, String>,
    current: Option<&Contact>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut body = serde_json::Map::new();
    for name in [FIRST_NAME, LAST_NAME, EMAIL, EXTERNAL_REF, SYNC_NOTE] {
        if let Some(value) = properties.get(name) {
            body.insert(name.to_owned(), value.clone().into());
        }
    }
    let phone = properties.get(PHONE);
    let others = properties.get(OTHER_PHONES);
    if phone.is_some() || others.is_some() {
        let current = current.map(|c| c.clone().into_record());
        let current_value = |name: &str| {
            current
                .as_ref()
                .map(|record| record.property(name).to_owned())
                .unwrap_or_default()
        };
        let phone = phone.cloned().unwrap_or_else(|| current_value(PHONE));
        let others = others
            .cloned()
            .unwrap_or_else(|| current_value(OTHER_PHONES));
        let phones: Vec<serde_json::Value> = std::iter::once(phone.as_str())
            .chain(others.split(PHONE_SEPARATOR))
            .map(str::trim)
            .filter(|number| !number.is_empty())
            .map(|number| number.to_owned().into())
            .collect();
        body.insert("phones".to_owned(), phones.into());
    }
    body
}

/// Whether writing `properties` needs the contact as it is first (see [`body_of`]).
pub fn needs_current(properties: &BTreeMap<String, String>) -> bool {
    properties.contains_key(PHONE) != properties.contains_key(OTHER_PHONES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn phones_become_a_primary_and_the_rest_and_back() {
        let contact = Contact {
            id: "3".to_owned(),
            phones: vec!["+44 1".to_owned(), "+44 2".to_owned(), "+44 3".to_owned()],
            ..Contact::default()
        };
        let record = contact.clone().into_record();
        assert_eq!(record.property(PHONE), "+44 1");
        assert_eq!(record.property(OTHER_PHONES), "+44 2\n+44 3");
        let body = body_of(&record.properties, None);
        assert_eq!(
            body["phones"],
            serde_json::json!(["+44 1", "+44 2", "+44 3"])
        );
    }

    #[test]
    fn a_write_of_the_primary_phone_keeps_the_others() {
        let current = Contact {
            id: "3".to_owned(),
            phones: vec!["+44 1".to_owned(), "+44 2".to_owned()],
            ..Contact::default()
        };
        let properties = written(&[(PHONE, "+44 9")]);
        assert!(needs_current(&properties));
        let body = body_of(&properties, Some(&current));
        assert_eq!(body["phones"], serde_json::json!(["+44 9", "+44 2"]));
    }

    #[test]
    fn empty_values_clear_and_absent_ones_are_not_sent() {
        let body = body_of(
            &written(&[(EMAIL, ""), (PHONE, ""), (OTHER_PHONES, "")]),
            None,
        );
        assert_eq!(body[EMAIL], "");
        assert_eq!(body["phones"], serde_json::json!([]));
        assert!(!body.contains_key(FIRST_NAME));
    }
}
