//! The Webhooks Journal's data: the app's per-portal subscriptions and the ordered journal of
//! entries they select.
//!
//! Every contact change the webhook machinery sees (creation, property change, deletion,
//! merge, restore, privacy deletion) is offered to the journal too. The changes of one
//! request become one entry (one file) holding an event per matching subscription and
//! contact: `CREATE` with the subscribed properties set, `UPDATE` only when a subscribed
//! property changed (an empty `properties` list subscribes to every property), `DELETE`,
//! `MERGE`, `RESTORE`, `GDPR_DELETE`. Entries older than the retention window are dropped.
//!
//! Offsets are opaque UUID-shaped strings: a prefix fixed per simulator and the entry's
//! sequence number in the last group, so they order as the entries do. What an entry holds
//! and how offsets look are modelled from the docs; HubSpot does not publish them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Value, json};

use super::SimulatorConfig;
use super::state::{Change, ChangeKind, ChangeOrigin, iso};

/// Object type id of contacts.
pub const CONTACT_TYPE_ID: &str = "0-1";
/// Journal actions a subscription may name.
pub const ACTIONS: &[&str] = &[
    "CREATE",
    "UPDATE",
    "DELETE",
    "MERGE",
    "RESTORE",
    "ASSOCIATION_ADDED",
    "ASSOCIATION_REMOVED",
    "SNAPSHOT",
    "APP_INSTALL",
    "APP_UNINSTALL",
    "ADDED_TO_LIST",
    "REMOVED_FROM_LIST",
    "GDPR_DELETE",
];
/// `subscriptionType` of object subscriptions.
pub const OBJECT: &str = "OBJECT";
/// `subscriptionType` of privacy-deletion subscriptions.
pub const GDPR_PRIVACY_DELETION: &str = "GDPR_PRIVACY_DELETION";

/// One journal subscription (`SubscriptionResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalSubscription {
    /// Id.
    pub id: u64,
    /// The app it belongs to.
    pub app_id: u64,
    /// `OBJECT` or `GDPR_PRIVACY_DELETION`.
    pub subscription_type: String,
    /// The installed portal.
    pub portal_id: u64,
    /// `0-1`.
    pub object_type_id: String,
    /// Selected actions.
    pub actions: Vec<String>,
    /// Selected properties (empty: every property).
    pub properties: Vec<String>,
    /// Selected records (empty: every record).
    pub object_ids: Vec<u64>,
    /// Creation time (ISO).
    pub created_at: String,
    /// Update time (ISO).
    pub updated_at: String,
}

impl JournalSubscription {
    fn selects(&self, action: &str, portal_id: u64, object_id: u64) -> bool {
        self.portal_id == portal_id
            && self.object_type_id == CONTACT_TYPE_ID
            && (self.object_ids.is_empty() || self.object_ids.contains(&object_id))
            && (self.actions.iter().any(|a| a == action)
                || (self.subscription_type == GDPR_PRIVACY_DELETION && action == "GDPR_DELETE"))
    }
}

/// One journal entry: the events of one request.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Position in the journal, from 1.
    pub seq: u64,
    /// When it was written, epoch ms.
    pub published_at: i64,
    /// The journal events.
    pub events: Vec<Value>,
}

/// Why an offset cannot be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetError {
    /// Not an offset of this journal.
    Unknown,
    /// Its entry is older than the retention window.
    Expired,
}

#[derive(Debug, Default)]
struct Inner {
    subscriptions: BTreeMap<u64, JournalSubscription>,
    next_subscription: u64,
    entries: VecDeque<Entry>,
    next_seq: u64,
}

/// Subscriptions and entries.
#[derive(Debug)]
pub struct Journal {
    inner: Mutex<Inner>,
    prefix: String,
    /// Signs the pre-signed file URLs.
    pub(crate) signing_key: String,
}

/// A change folded into what the journal reports for one contact.
struct Pending<'a> {
    object_id: u64,
    action: &'static str,
    occurred_at: i64,
    origin: &'a ChangeOrigin,
    property_changes: Vec<(&'a str, &'a str)>,
    merge: Option<(u64, &'a [u64])>,
}

/// Folds a request's changes per contact: property changes join the creation or update
/// before them.
fn fold(changes: &[Change]) -> Vec<Pending<'_>> {
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for change in changes {
        let simple = |action| Pending {
            object_id: change.object_id,
            action,
            occurred_at: change.occurred_at,
            origin: &change.origin,
            property_changes: Vec::new(),
            merge: None,
        };
        match &change.kind {
            ChangeKind::PropertyChange { name, value } => {
                let open = pending
                    .iter_mut()
                    .rev()
                    .find(|p| p.object_id == change.object_id)
                    .filter(|p| matches!(p.action, "CREATE" | "UPDATE"));
                match open {
                    Some(p) => p.property_changes.push((name, value)),
                    None => {
                        let mut p = simple("UPDATE");
                        p.property_changes.push((name, value));
                        pending.push(p);
                    }
                }
            }
            ChangeKind::Creation => pending.push(simple("CREATE")),
            ChangeKind::Deletion => pending.push(simple("DELETE")),
            ChangeKind::Restore => pending.push(simple("RESTORE")),
            ChangeKind::PrivacyDeletion => pending.push(simple("GDPR_DELETE")),
            ChangeKind::Merge {
                primary, merged, ..
            } => {
                let mut p = simple("MERGE");
                p.merge = Some((*primary, merged));
                pending.push(p);
            }
        }
    }
    pending
}

impl Journal {
    /// An empty journal; `salt` fixes the offset prefix, `key` signs file URLs.
    pub fn new(salt: u64, key: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_subscription: 1,
                next_seq: 1,
                ..Inner::default()
            }),
            prefix: format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-",
                salt >> 32,
                (salt >> 16) & 0xffff,
                salt & 0xfff,
                (salt >> 52) & 0xfff
            ),
            signing_key: format!("{key:016x}"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The offset string of entry `seq`.
    pub fn offset(&self, seq: u64) -> String {
        format!("{}{seq:012x}", self.prefix)
    }

    fn parse(&self, offset: &str) -> Option<u64> {
        let tail = offset.strip_prefix(&self.prefix)?;
        (tail.len() == 12)
            .then(|| u64::from_str_radix(tail, 16).ok())
            .flatten()
    }

    /// Appends the events `changes` produce under the subscriptions, as one entry.
    pub fn append(&self, changes: &[Change], now: i64, portal_id: u64, app_id: u64) {
        let mut inner = self.lock();
        if inner.subscriptions.is_empty() {
            return;
        }
        let pending = fold(changes);
        let mut events = Vec::new();
        for subscription in inner.subscriptions.values() {
            for p in &pending {
                if !subscription.selects(p.action, portal_id, p.object_id) {
                    continue;
                }
                let selected: Vec<Value> = p
                    .property_changes
                    .iter()
                    .filter(|(name, _)| {
                        subscription.properties.is_empty()
                            || subscription.properties.iter().any(|s| s == name)
                    })
                    .map(|(name, value)| json!({ "propertyName": name, "newValue": value }))
                    .collect();
                if p.action == "UPDATE" && selected.is_empty() {
                    continue;
                }
                let mut event = json!({
                    "subscriptionId": subscription.id,
                    "portalId": portal_id,
                    "appId": app_id,
                    "objectTypeId": CONTACT_TYPE_ID,
                    "objectId": p.object_id,
                    "action": p.action,
                    "occurredAt": p.occurred_at,
                    "changeSource": p.origin.change_source,
                });
                if let Some(source_id) = &p.origin.source_id {
                    event["sourceId"] = json!(source_id);
                }
                if !selected.is_empty() {
                    event["propertyChanges"] = Value::Array(selected);
                }
                if let Some((primary, merged)) = p.merge {
                    event["primaryObjectId"] = json!(primary);
                    event["mergedObjectIds"] = json!(merged);
                    event["newObjectId"] = json!(primary);
                }
                events.push(event);
            }
        }
        if events.is_empty() {
            return;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.entries.push_back(Entry {
            seq,
            published_at: now,
            events,
        });
    }

    /// Drops entries older than the retention window.
    fn prune(inner: &mut Inner, now: i64, config: &SimulatorConfig) {
        let oldest = now - config.journal_retention.as_millis() as i64;
        while inner
            .entries
            .front()
            .is_some_and(|e| e.published_at < oldest)
        {
            inner.entries.pop_front();
        }
    }

    /// Entries within the retention window.
    pub fn len(&self, now: i64, config: &SimulatorConfig) -> usize {
        let mut inner = self.lock();
        Self::prune(&mut inner, now, config);
        inner.entries.len()
    }

    /// The first `count` retained entries.
    pub fn earliest(&self, count: usize, now: i64, config: &SimulatorConfig) -> Vec<Entry> {
        let mut inner = self.lock();
        Self::prune(&mut inner, now, config);
        inner.entries.iter().take(count).cloned().collect()
    }

    /// The last `count` retained entries, oldest first.
    pub fn latest(&self, count: usize, now: i64, config: &SimulatorConfig) -> Vec<Entry> {
        let mut inner = self.lock();
        Self::prune(&mut inner, now, config);
        let skip = inner.entries.len().saturating_sub(count);
        inner.entries.iter().skip(skip).cloned().collect()
    }

    /// Up to `count` entries after `offset`.
    ///
    /// # Errors
    /// `Unknown` for an offset this journal never gave, `Expired` for one older than the
    /// retention window.
    pub fn after(
        &self,
        offset: &str,
        count: usize,
        now: i64,
        config: &SimulatorConfig,
    ) -> Result<Vec<Entry>, OffsetError> {
        let seq = self.parse(offset).ok_or(OffsetError::Unknown)?;
        let mut inner = self.lock();
        Self::prune(&mut inner, now, config);
        if seq == 0 || seq >= inner.next_seq {
            return Err(OffsetError::Unknown);
        }
        let first = inner.entries.front().map_or(inner.next_seq, |e| e.seq);
        if seq < first {
            return Err(OffsetError::Expired);
        }
        Ok(inner
            .entries
            .iter()
            .filter(|e| e.seq > seq)
            .take(count)
            .cloned()
            .collect())
    }

    /// The retained entry at `offset`.
    pub fn entry(&self, offset: &str, now: i64, config: &SimulatorConfig) -> Option<Entry> {
        let seq = self.parse(offset)?;
        let mut inner = self.lock();
        Self::prune(&mut inner, now, config);
        inner.entries.iter().find(|e| e.seq == seq).cloned()
    }

    /// Creates a subscription, or updates the one of the same type, portal and object type
    /// (the API calls it an upsert).
    pub fn upsert_subscription(
        &self,
        mut subscription: JournalSubscription,
        now: i64,
    ) -> JournalSubscription {
        let mut inner = self.lock();
        let existing = inner
            .subscriptions
            .values()
            .find(|s| {
                s.subscription_type == subscription.subscription_type
                    && s.portal_id == subscription.portal_id
                    && s.object_type_id == subscription.object_type_id
            })
            .map(|s| (s.id, s.created_at.clone()));
        match existing {
            Some((id, created_at)) => {
                subscription.id = id;
                subscription.created_at = created_at;
            }
            None => {
                subscription.id = inner.next_subscription;
                inner.next_subscription += 1;
                subscription.created_at = iso(now);
            }
        }
        subscription.updated_at = iso(now);
        inner
            .subscriptions
            .insert(subscription.id, subscription.clone());
        subscription
    }

    /// Every subscription.
    pub fn subscriptions(&self) -> Vec<JournalSubscription> {
        self.lock().subscriptions.values().cloned().collect()
    }

    /// One subscription.
    pub fn subscription(&self, id: u64) -> Option<JournalSubscription> {
        self.lock().subscriptions.get(&id).cloned()
    }

    /// Deletes one subscription; whether it existed.
    pub fn delete_subscription(&self, id: u64) -> bool {
        self.lock().subscriptions.remove(&id).is_some()
    }

    /// Deletes the subscriptions of a portal; how many.
    pub fn delete_portal(&self, portal_id: u64) -> usize {
        let mut inner = self.lock();
        let before = inner.subscriptions.len();
        inner.subscriptions.retain(|_, s| s.portal_id != portal_id);
        before - inner.subscriptions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_uuid_shaped_ordered_and_only_ours_parse() {
        let journal = Journal::new(0x0123_4567_89ab_cdef, 7);
        let (a, b) = (journal.offset(9), journal.offset(10));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert!(a < b);
        assert_eq!(journal.parse(&b), Some(10));
        assert_eq!(journal.parse("00000000-0000-4000-a000-000000000001"), None);
    }
}
