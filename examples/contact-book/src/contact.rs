//! A contact as the API sends it, and the connector's properties of it: text fields as text,
//! `phones` as a list whose first item is the primary number.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tte_sync_core::connector::ConnectorError;
use tte_sync_core::record::{CrmId, CrmRecord, Properties, PropertyValue};

use crate::catalog::{EMAIL, EXTERNAL_REF, FIRST_NAME, LAST_NAME, PHONES, SYNC_NOTE};

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
        let mut properties = Properties::new();
        for (name, value) in [
            (FIRST_NAME, self.first_name),
            (LAST_NAME, self.last_name),
            (EMAIL, self.email),
            (EXTERNAL_REF, self.external_ref),
            (SYNC_NOTE, self.sync_note),
        ] {
            if !value.is_empty() {
                properties.insert(name.to_owned(), value.into());
            }
        }
        if !self.phones.is_empty() {
            properties.insert(PHONES.to_owned(), PropertyValue::list(self.phones));
        }
        CrmRecord {
            id: CrmId(self.id),
            properties,
            archived: self.archived,
            updated_at: self.updated_at,
        }
    }
}

/// The body of a create or update: the written properties as API fields (`phones` as a JSON
/// array, the primary first; a text written to it is one number, or none when empty).
///
/// # Errors
/// Permanent when a text field is given a list.
pub fn body_of(
    properties: &Properties,
) -> Result<serde_json::Map<String, serde_json::Value>, ConnectorError> {
    let mut body = serde_json::Map::new();
    for (name, value) in properties {
        let field = match (name.as_str(), value) {
            (PHONES, value) => value
                .items()
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .into(),
            (_, PropertyValue::Text(text)) => text.clone().into(),
            (_, PropertyValue::List { .. }) => {
                return Err(ConnectorError::permanent(format!(
                    "Contact Book's `{name}` holds one value, but the write gave it a list; \
                     map it with `crm: {{ primary: {name} }}`"
                )));
            }
        };
        body.insert(name.clone(), field);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_one_list_both_ways() {
        let contact = Contact {
            id: "3".to_owned(),
            phones: vec!["+44 1".to_owned(), "+44 2".to_owned(), "+44 3".to_owned()],
            ..Contact::default()
        };
        let record = contact.into_record();
        assert_eq!(record.property(PHONES), "+44 1", "the primary");
        assert_eq!(
            record.value(PHONES).map(PropertyValue::items),
            Some(vec!["+44 1", "+44 2", "+44 3"])
        );
        let body = body_of(&record.properties).expect("body");
        assert_eq!(
            body["phones"],
            serde_json::json!(["+44 1", "+44 2", "+44 3"])
        );
    }

    #[test]
    fn empty_values_clear_and_absent_ones_are_not_sent() {
        let properties = Properties::from([
            (EMAIL.to_owned(), "".into()),
            (PHONES.to_owned(), PropertyValue::list(Vec::new())),
        ]);
        let body = body_of(&properties).expect("body");
        assert_eq!(body[EMAIL], "");
        assert_eq!(body["phones"], serde_json::json!([]));
        assert!(!body.contains_key(FIRST_NAME));
    }

    #[test]
    fn a_list_for_a_text_field_is_refused_with_the_fix() {
        let properties = Properties::from([(
            EMAIL.to_owned(),
            PropertyValue::list(vec!["a@b.c".to_owned()]),
        )]);
        let error = body_of(&properties).expect_err("refused");
        assert!(error.message().contains("primary: email"), "{error}");
    }
}
