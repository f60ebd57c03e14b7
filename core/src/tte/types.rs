//! What the 10to8 client writes (full and partial customers, subscriptions) and what else it
//! reads (subscriptions, delete outcomes, notifications).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::CustomerUri;

/// A whole customer to create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerWrite {
    /// The full name (one field).
    pub name: String,
    /// Email addresses; the first is the primary one.
    pub emails: Vec<String>,
    /// Phone numbers; the first is the primary one.
    pub numbers: Vec<String>,
    /// Custom fields by label.
    pub custom_fields: BTreeMap<String, String>,
}

/// A partial update: only the fields set are sent. Lists replace the stored lists;
/// `custom_fields` are merged key by key by 10to8 (keys not named keep their values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerPatch {
    /// A new full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new list of emails, replacing the old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// A new list of numbers, replacing the old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbers: Option<Vec<String>>,
    /// Custom fields to set; the others are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<BTreeMap<String, String>>,
}

impl CustomerPatch {
    /// Whether the patch sets nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.emails.is_none()
            && self.numbers.is_none()
            && self.custom_fields.is_none()
    }
}

/// How a delete went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteOutcome {
    /// The customer is deleted now.
    Deleted,
    /// The customer was already gone (404).
    AlreadyDeleted,
    /// 10to8 refused (409): the customer has future bookings and `force` was off.
    Blocked {
        /// Always [`DELETE_BLOCKED`](super::DELETE_BLOCKED), for status fields.
        message: String,
        /// What 10to8 said, when it said something.
        detail: Option<String>,
    },
}

/// A notification subscription (webhook) on 10to8.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// The subscription's absolute URL (used to delete it).
    #[serde(default)]
    pub resource_uri: String,
    /// Where 10to8 posts notifications.
    #[serde(default)]
    pub callback_url: String,
    /// What it notifies about (`customer`).
    #[serde(default)]
    pub scope: String,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// A notification 10to8 posts to a subscription's callback: which customers changed (created,
/// updated or deleted — it does not say which; fetch each URI to find out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The subscription scope (`customer`).
    #[serde(default)]
    pub scope: String,
    /// The customers that changed. A body without items (a ping) reads as empty.
    #[serde(default)]
    pub items: Vec<CustomerUri>,
}

/// One page of a 10to8 list (`{count, next, previous, results}`); only `results` and `next`
/// are relied on.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub(crate) results: Vec<T>,
    #[serde(default)]
    pub(crate) next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_sends_only_the_fields_set() {
        let patch = CustomerPatch {
            custom_fields: Some(BTreeMap::from([("Sync Status".into(), "ok".into())])),
            ..CustomerPatch::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            serde_json::json!({"custom_fields": {"Sync Status": "ok"}})
        );
        assert!(CustomerPatch::default().is_empty());
    }

    #[test]
    fn notifications_and_pages_read_leniently() {
        let ping: Notification = serde_json::from_str(r#"{"scope":"customer"}"#).unwrap();
        assert!(ping.items.is_empty());
        let page: Page<Subscription> =
            serde_json::from_str(r#"{"results":[{"scope":"customer","x":1}],"next":null}"#)
                .unwrap();
        assert_eq!(page.results[0].scope, "customer");
        assert!(page.next.is_none());
    }
}
