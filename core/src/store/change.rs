//! What changed about a queued object: kinds, properties and merged ids, accumulated over
//! every enqueue until the object is processed.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many property names an item remembers; past that it asks for all of them.
pub const MAX_PROPERTIES: usize = 64;

/// What changed about an object, accumulated over every enqueue since it was last processed.
/// The engine re-reads the object anyway; this says why and what to look at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// What happened, e.g. `created`, `property_changed`, `deleted`, `merged`, `retry`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub kinds: BTreeSet<String>,
    /// The properties reported as changed (at most [`MAX_PROPERTIES`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub properties: BTreeSet<String>,
    /// More properties changed than are remembered: treat every property as changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_properties: bool,
    /// Objects merged into this one (they no longer exist on their own).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub merged_ids: BTreeSet<String>,
    /// When the earliest of the changes happened, by the source's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
}

impl Change {
    /// A change of one kind.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kinds: BTreeSet::from([kind.into()]),
            ..Self::default()
        }
    }

    /// The same change, naming a changed property.
    pub fn with_property(mut self, name: impl Into<String>) -> Self {
        self.properties.insert(name.into());
        self.cap();
        self
    }

    /// The same change, naming objects merged into this one.
    pub fn with_merged(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.merged_ids.extend(ids.into_iter().map(Into::into));
        self
    }

    /// The same change, happened at `time`.
    pub fn with_occurred_at(mut self, time: DateTime<Utc>) -> Self {
        self.occurred_at = Some(time);
        self
    }

    /// Adds another change to this one.
    pub fn merge(&mut self, other: Change) {
        self.kinds.extend(other.kinds);
        self.properties.extend(other.properties);
        self.all_properties |= other.all_properties;
        self.merged_ids.extend(other.merged_ids);
        self.occurred_at = match (self.occurred_at, other.occurred_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.cap();
    }

    fn cap(&mut self) {
        if self.all_properties || self.properties.len() > MAX_PROPERTIES {
            self.all_properties = true;
            self.properties.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rows::to_json;

    #[test]
    fn changes_merge_and_cap_properties() {
        let early = DateTime::from_timestamp_millis(1_000).unwrap();
        let late = DateTime::from_timestamp_millis(2_000).unwrap();
        let mut change = Change::new("property_changed")
            .with_property("email")
            .with_occurred_at(late);
        change.merge(
            Change::new("deleted")
                .with_property("phone")
                .with_merged(["7"])
                .with_occurred_at(early),
        );
        assert_eq!(change.kinds.len(), 2);
        assert_eq!(change.properties.len(), 2);
        assert_eq!(change.merged_ids, BTreeSet::from(["7".to_owned()]));
        assert_eq!(change.occurred_at, Some(early));
        for n in 0..=MAX_PROPERTIES {
            change = change.with_property(format!("p{n}"));
        }
        assert!(change.all_properties);
        assert!(change.properties.is_empty());
        change.merge(Change::new("x").with_property("again"));
        assert!(change.all_properties && change.properties.is_empty());
    }

    #[test]
    fn change_json_leaves_out_empty_parts() {
        assert_eq!(to_json(&Change::new("created")), r#"{"kinds":["created"]}"#);
        let back: Change = serde_json::from_str("{}").unwrap();
        assert_eq!(back, Change::default());
    }
}
