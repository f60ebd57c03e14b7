//! Person fields: the built-in properties the connector reads and writes (`name`, and the
//! `emails` and `phones` lists), and the custom fields, which Pipedrive keys by generated
//! 40-character hashes. The connector names a custom field by its Pipedrive `name` (setup
//! creates it under the mapping's property name) and keeps the name → key map here, loaded
//! from `GET /v1/personFields` when first needed, after setup, and again when a name is not
//! in it (at most once a minute).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::RwLock;
use tokio::time::Instant;
use tte_sync_core::connector::{Catalog, ConnectorError, ErrorKind, PropertyInfo, Result};

use crate::client::Client;

/// The person's name; Pipedrive splits it into first and last name itself.
pub const NAME: &str = "name";
/// The person's email addresses, a list with a primary.
pub const EMAILS: &str = "emails";
/// The person's phone numbers, a list with a primary.
pub const PHONES: &str = "phones";

/// The built-in properties and their labels.
pub const BUILT_IN: [(&str, &str); 3] = [
    (NAME, "Name"),
    (EMAILS, "Emails (a list, one primary)"),
    (PHONES, "Phones (a list, one primary)"),
];

/// Field types of custom fields the connector can hold a text in.
pub const TEXT_TYPES: [&str; 4] = ["varchar", "text", "varchar_auto", "phone"];

/// A person field as `GET /v1/personFields` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Field {
    /// The field's key: a readable word for built-in fields, a generated hash for custom ones.
    pub key: String,
    /// The name people see, which the connector names custom fields by.
    pub name: String,
    /// `varchar`, `text`, `enum`, …
    pub field_type: String,
    /// Whether people may edit or delete it: true for custom fields.
    #[serde(default)]
    pub edit_flag: bool,
}

/// The custom fields by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    by_name: BTreeMap<String, Field>,
}

impl FieldMap {
    /// The map of `fields`' custom ones (the first of a name wins, as Pipedrive lists them).
    pub fn new(fields: Vec<Field>) -> Self {
        let mut by_name = BTreeMap::new();
        for field in fields.into_iter().filter(|f| f.edit_flag) {
            by_name.entry(field.name.clone()).or_insert(field);
        }
        Self { by_name }
    }

    /// The custom field named `name`.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.by_name.get(name)
    }

    /// The custom fields, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Field)> {
        self.by_name.iter()
    }

    /// The key of custom field `name`.
    ///
    /// # Errors
    /// `Misconfigured` naming the property when there is no such field.
    pub fn key_of(&self, name: &str) -> Result<&str> {
        self.get(name).map(|f| f.key.as_str()).ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Misconfigured {
                    properties: vec![name.to_owned()],
                },
                format!(
                    "pipedrive has no person field named `{name}`; run `tte-sync setup` to create \
                     it, or map a field that exists"
                ),
            )
        })
    }

    /// The properties: the built-in ones and every custom field.
    pub fn catalog(&self) -> Catalog {
        let built_in = BUILT_IN.iter().map(|&(name, label)| PropertyInfo {
            name: name.to_owned(),
            label: label.to_owned(),
            data_type: "string".to_owned(),
            unique: false,
            read_only: false,
        });
        let custom = self.by_name.values().map(|field| PropertyInfo {
            name: field.name.clone(),
            label: field.name.clone(),
            data_type: field.field_type.clone(),
            unique: false,
            read_only: !TEXT_TYPES.contains(&field.field_type.as_str()),
        });
        Catalog {
            properties: built_in
                .chain(custom)
                .map(|info| (info.name.clone(), info))
                .collect(),
        }
    }
}

/// Whether `name` is a built-in property.
pub fn is_built_in(name: &str) -> bool {
    BUILT_IN.iter().any(|(built_in, _)| *built_in == name)
}

/// How long a field map missing a name is kept before it is loaded again: a mapping naming
/// a field setup has not created would otherwise cost a listing of the fields every call.
const RELOAD_AFTER: Duration = Duration::from_secs(60);

/// The account's custom fields, loaded once and again when a name is missing.
#[derive(Default)]
pub struct Fields {
    loaded: RwLock<Option<(Arc<FieldMap>, Instant)>>,
}

impl Fields {
    /// The fields as last loaded, loading them when they never were.
    ///
    /// # Errors
    /// When the fields cannot be listed.
    pub async fn get(&self, client: &Client) -> Result<Arc<FieldMap>> {
        if let Some((map, _)) = self.loaded.read().await.clone() {
            return Ok(map);
        }
        self.reload(client).await
    }

    /// The fields, loaded again when one of `names` (custom ones) is not among them.
    ///
    /// # Errors
    /// When the fields cannot be listed.
    pub async fn covering(&self, client: &Client, names: &[&str]) -> Result<Arc<FieldMap>> {
        let map = self.get(client).await?;
        let missing = names
            .iter()
            .any(|name| !is_built_in(name) && map.get(name).is_none());
        let loaded_at = self.loaded.read().await.as_ref().map(|(_, at)| *at);
        let stale = loaded_at.is_none_or(|at| at.elapsed() >= RELOAD_AFTER);
        if missing && stale {
            return self.reload(client).await;
        }
        Ok(map)
    }

    /// Lists the fields again.
    ///
    /// # Errors
    /// When the fields cannot be listed.
    pub async fn reload(&self, client: &Client) -> Result<Arc<FieldMap>> {
        let map = Arc::new(FieldMap::new(client.person_fields().await?));
        *self.loaded.write().await = Some((map.clone(), Instant::now()));
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str, name: &str, custom: bool) -> Field {
        Field {
            key: key.to_owned(),
            name: name.to_owned(),
            field_type: "varchar".to_owned(),
            edit_flag: custom,
        }
    }

    #[test]
    fn custom_fields_are_found_by_name_and_built_in_ones_are_left_out() {
        let map = FieldMap::new(vec![
            field("name", "Name", false),
            field("a1b2", "tte_customer_uri", true),
            field("c3d4", "tte_customer_uri", true),
        ]);
        assert_eq!(map.key_of("tte_customer_uri").unwrap(), "a1b2");
        assert!(
            map.get("Name").is_none(),
            "a built-in field is not a custom one"
        );
        let error = map.key_of("tte_sync_status").unwrap_err();
        assert_eq!(
            error.kind(),
            &ErrorKind::Misconfigured {
                properties: vec!["tte_sync_status".to_owned()]
            }
        );
        assert!(error.message().contains("tte-sync setup"), "{error}");
        let catalog = map.catalog();
        assert!(catalog.properties.contains_key(EMAILS));
        assert!(catalog.properties.contains_key("tte_customer_uri"));
    }
}
