//! The simulated portal's data: contacts, their indexes and the property definitions.
//!
//! Contacts live in two ordered maps (live and recycle bin) keyed by numeric id, so list
//! paging is a range scan. Every identifying value is indexed: primary emails (lowercase),
//! `hs_additional_emails` entries, and each `hasUniqueValue` property — lookups by `idProperty`
//! and uniqueness checks never scan. Writes are validated completely before anything changes,
//! and report which properties really changed, which is what webhooks are made of.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use tte_sync_core::simulate::SplitMix64;

use super::errors::PropertyIssue;
use super::properties::{Property, builtin_properties};
use super::validation::ValidationRules;

/// Contact property: the primary email.
pub const EMAIL: &str = "email";
/// Contact property: secondary emails, `;`-separated.
pub const ADDITIONAL_EMAILS: &str = "hs_additional_emails";
/// Contact property: creation time.
pub const CREATEDATE: &str = "createdate";
/// Contact property: last modification time.
pub const LASTMODIFIEDDATE: &str = "lastmodifieddate";
/// Contact property: the record id.
pub const OBJECT_ID: &str = "hs_object_id";
/// Properties returned when a request names none.
pub const DEFAULT_PROPERTIES: &[&str] = &[
    CREATEDATE,
    EMAIL,
    "firstname",
    OBJECT_ID,
    LASTMODIFIEDDATE,
    "lastname",
];

static CORRELATION: Mutex<Option<SplitMix64>> = Mutex::new(None);
static CORRELATION_SEQ: AtomicU64 = AtomicU64::new(1);

/// A fresh UUID-shaped correlation id, as HubSpot puts in every error body.
pub fn new_correlation_id() -> String {
    let (a, b) = {
        let mut guard = CORRELATION.lock().unwrap_or_else(|e| e.into_inner());
        let rng = guard.get_or_insert_with(|| {
            SplitMix64::new(
                Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64
                    ^ CORRELATION_SEQ.fetch_add(1, Ordering::Relaxed),
            )
        });
        (rng.next_u64(), rng.next_u64())
    };
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// Milliseconds as HubSpot's ISO-8601 timestamps (`2024-08-15T17:09:13.610Z`).
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses epoch milliseconds or an ISO-8601 timestamp.
pub fn parse_time(value: &str) -> Option<i64> {
    value.parse::<i64>().ok().or_else(|| {
        DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// Whether HubSpot would accept `email` as a primary email. It is the one rule the mapping's
/// `validate: email` uses too, so the simulator and the sync agree on what HubSpot rejects.
pub use tte_sync_core::mapping::valid_email as hubspot_accepts_email;

/// Who made a change, as webhooks report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeOrigin {
    /// `changeSource`, e.g. `INTEGRATION` or `CRM_UI`.
    pub change_source: String,
    /// `sourceId`, e.g. the app id or `userId:7`.
    pub source_id: Option<String>,
}

/// What happened to a contact; the webhook worker turns these into events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// Created.
    Creation,
    /// Archived (moved to the recycle bin).
    Deletion,
    /// Restored from the recycle bin.
    Restore,
    /// Permanently deleted for privacy (also emits a deletion).
    PrivacyDeletion,
    /// One property changed to `value` (empty when cleared).
    PropertyChange {
        /// The property name.
        name: String,
        /// The new value.
        value: String,
    },
    /// `merged` was merged into `primary`.
    Merge {
        /// The surviving contact.
        primary: u64,
        /// The contacts merged into it.
        merged: Vec<u64>,
        /// How many property values moved.
        moved: usize,
    },
}

/// One change to one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The contact id.
    pub object_id: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// When, in epoch milliseconds.
    pub occurred_at: i64,
    /// Who did it.
    pub origin: ChangeOrigin,
}

/// A stored contact. Empty values are not stored: clearing a property removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The numeric id.
    pub id: u64,
    /// Property values; the maintained ones (`createdate`, `lastmodifieddate`,
    /// `hs_object_id`) are rendered from the fields below.
    pub properties: BTreeMap<String, String>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// When it went to the recycle bin, if it did.
    pub archived_at: Option<i64>,
}

impl Contact {
    /// A property's value as HubSpot would return it (`None` when empty).
    pub fn value(&self, name: &str) -> Option<String> {
        match name {
            CREATEDATE => Some(iso(self.created_at)),
            LASTMODIFIEDDATE => Some(iso(self.updated_at)),
            OBJECT_ID => Some(self.id.to_string()),
            _ => self.properties.get(name).cloned(),
        }
    }

    /// The `SimplePublicObject` JSON with `requested` properties (the defaults when empty);
    /// requested-but-empty properties are `null`, unknown ones omitted.
    pub fn to_json(&self, requested: &[String], known: &BTreeMap<String, Property>) -> Value {
        serde_json::to_value(self.view(requested, known)).unwrap_or(Value::Null)
    }

    /// A view that serializes as [`Contact::to_json`] without building a JSON tree.
    pub fn view<'a>(
        &'a self,
        requested: &'a [String],
        known: &'a BTreeMap<String, Property>,
    ) -> ContactView<'a> {
        ContactView {
            contact: self,
            requested,
            known,
        }
    }
}

/// A contact rendered as HubSpot's `SimplePublicObject`.
#[derive(Debug, Clone, Copy)]
pub struct ContactView<'a> {
    contact: &'a Contact,
    requested: &'a [String],
    known: &'a BTreeMap<String, Property>,
}

struct PropertiesView<'a>(ContactView<'a>);

impl Serialize for PropertiesView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ContactView {
            contact,
            requested,
            known,
        } = self.0;
        let mut map = serializer.serialize_map(None)?;
        if requested.is_empty() {
            for name in DEFAULT_PROPERTIES {
                map.serialize_entry(name, &contact.value(name))?;
            }
        } else {
            for name in requested {
                if known.get(name).is_some_and(|p| !p.archived) {
                    map.serialize_entry(name, &contact.value(name))?;
                }
            }
        }
        map.end()
    }
}

impl Serialize for ContactView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let contact = self.contact;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &contact.id.to_string())?;
        map.serialize_entry("properties", &PropertiesView(*self))?;
        map.serialize_entry("createdAt", &iso(contact.created_at))?;
        map.serialize_entry("updatedAt", &iso(contact.updated_at))?;
        map.serialize_entry("archived", &contact.archived_at.is_some())?;
        if let Some(at) = contact.archived_at {
            map.serialize_entry("archivedAt", &iso(at))?;
        }
        map.end()
    }
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// Invalid property values (unknown, read-only, bad email, bad option).
    Invalid(Vec<PropertyIssue>),
    /// The primary email belongs to another contact.
    DuplicateEmail {
        /// The contact that has it.
        existing: u64,
    },
    /// A unique value (secondary email or unique property) belongs to another contact.
    UniqueConflict {
        /// The property being set.
        property: String,
        /// The value.
        value: String,
        /// The contact being written (for creates, the id it would get).
        target: u64,
        /// The contact that has the value.
        existing: u64,
    },
    /// Two inputs of one batch name the same identity.
    DuplicateInBatch(String),
    /// No such live contact.
    NotFound(String),
    /// The write breaks the portal's validation rules (2026-09 paths only).
    RuleViolation(Vec<PropertyIssue>),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Invalid(issues) => {
                let list: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
                write!(f, "invalid property values: {}", list.join("; "))
            }
            WriteError::DuplicateEmail { existing } => {
                write!(f, "contact {existing} already has this email")
            }
            WriteError::UniqueConflict {
                property,
                value,
                existing,
                ..
            } => write!(f, "contact {existing} already has {property} = {value}"),
            WriteError::DuplicateInBatch(id) => {
                write!(f, "{id} appears twice in one batch; send each record once")
            }
            WriteError::NotFound(id) => write!(f, "no contact {id}; check the id"),
            WriteError::RuleViolation(issues) => {
                let list: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
                write!(
                    f,
                    "the portal's validation rules refuse the write: {}",
                    list.join("; ")
                )
            }
        }
    }
}

impl std::error::Error for WriteError {}

/// The portal's data.
#[derive(Debug)]
pub struct Store {
    /// Live contacts by id.
    pub live: BTreeMap<u64, Contact>,
    /// The recycle bin by id.
    pub archived: BTreeMap<u64, Contact>,
    /// Property definitions by name (archived ones included, flagged).
    pub properties: BTreeMap<String, Property>,
    /// The portal's validation rules (enforced by 2026-09 writes).
    pub rules: ValidationRules,
    by_email: HashMap<String, u64>,
    by_additional_email: HashMap<String, u64>,
    unique: HashMap<String, HashMap<String, u64>>,
    next_id: u64,
}

/// Unique values claimed by earlier inputs of the batch being checked.
#[derive(Debug, Default)]
pub struct Claims {
    values: HashMap<(String, String), usize>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty portal with HubSpot's built-in contact properties.
    pub fn new() -> Self {
        Self {
            live: BTreeMap::new(),
            archived: BTreeMap::new(),
            properties: builtin_properties(),
            rules: ValidationRules::default(),
            by_email: HashMap::new(),
            by_additional_email: HashMap::new(),
            unique: HashMap::new(),
            next_id: 1001,
        }
    }

    /// Names of the non-archived unique-value properties.
    pub fn unique_property_names(&self) -> Vec<String> {
        self.properties
            .values()
            .filter(|p| p.has_unique_value && !p.archived)
            .map(|p| p.name.clone())
            .collect()
    }

    /// Finds a live contact by id or, with `id_property`, by a unique value.
    pub fn resolve(&self, id: &str, id_property: Option<&str>) -> Option<u64> {
        match id_property {
            None | Some(OBJECT_ID) => id.parse().ok().filter(|id| self.live.contains_key(id)),
            Some(EMAIL) => self
                .by_email
                .get(&id.to_lowercase())
                .or_else(|| self.by_additional_email.get(&id.to_lowercase()))
                .copied(),
            Some(property) => self.unique.get(property)?.get(id).copied(),
        }
    }

    /// The live contact whose primary email is `lowercase_email`.
    pub fn primary_email_owner(&self, lowercase_email: &str) -> Option<u64> {
        self.by_email.get(lowercase_email).copied()
    }

    /// Whether `name` is usable as an `idProperty`.
    pub fn is_id_property(&self, name: &str) -> bool {
        name == EMAIL
            || name == OBJECT_ID
            || self
                .properties
                .get(name)
                .is_some_and(|p| p.has_unique_value && !p.archived)
    }

    /// Checks a write of `values` to contact `target` (`None`: a create) without changing
    /// anything; `claims` carries the unique values of earlier inputs of the same batch.
    ///
    /// # Errors
    /// The first reason the write would be refused.
    pub fn check(
        &self,
        target: Option<u64>,
        values: &BTreeMap<String, String>,
        claims: &mut Claims,
        input_index: usize,
    ) -> Result<(), WriteError> {
        let mut issues = Vec::new();
        for (name, value) in values {
            match self.properties.get(name) {
                None => issues.push(PropertyIssue::doesnt_exist(name)),
                Some(p) if p.archived => issues.push(PropertyIssue::doesnt_exist(name)),
                Some(p) if p.modification_metadata.read_only_value => {
                    issues.push(PropertyIssue::read_only(name));
                }
                Some(p) => {
                    if value.is_empty() {
                        continue;
                    }
                    if name == EMAIL && !hubspot_accepts_email(value) {
                        issues.push(PropertyIssue::invalid_email(name, value));
                    }
                    if name == ADDITIONAL_EMAILS {
                        for extra in split_emails(value) {
                            if !hubspot_accepts_email(&extra) {
                                issues.push(PropertyIssue::invalid_email(name, &extra));
                            }
                        }
                    }
                    if let Some(issue) = p.check_value(value) {
                        issues.push(issue);
                    }
                }
            }
        }
        if !issues.is_empty() {
            return Err(WriteError::Invalid(issues));
        }
        let target_id = target.unwrap_or(self.next_id);
        let other = |owner: Option<&u64>| owner.copied().filter(|o| Some(*o) != target);
        if let Some(email) = values.get(EMAIL).filter(|v| !v.is_empty()) {
            let key = email.to_lowercase();
            if let Some(existing) = other(self.by_email.get(&key)) {
                return Err(WriteError::DuplicateEmail { existing });
            }
            if let Some(existing) = other(self.by_additional_email.get(&key)) {
                return Err(WriteError::UniqueConflict {
                    property: EMAIL.into(),
                    value: email.clone(),
                    target: target_id,
                    existing,
                });
            }
            claims.claim(EMAIL, &key, input_index)?;
        }
        if let Some(extra) = values.get(ADDITIONAL_EMAILS) {
            for email in split_emails(extra) {
                let key = email.to_lowercase();
                let owner = self
                    .by_email
                    .get(&key)
                    .or_else(|| self.by_additional_email.get(&key));
                if let Some(existing) = other(owner) {
                    return Err(WriteError::UniqueConflict {
                        property: ADDITIONAL_EMAILS.into(),
                        value: email,
                        target: target_id,
                        existing,
                    });
                }
                claims.claim(EMAIL, &key, input_index)?;
            }
        }
        for (name, index) in &self.unique {
            if let Some(value) = values.get(name).filter(|v| !v.is_empty()) {
                if let Some(existing) = other(index.get(value)) {
                    return Err(WriteError::UniqueConflict {
                        property: name.clone(),
                        value: value.clone(),
                        target: target_id,
                        existing,
                    });
                }
                claims.claim(name, value, input_index)?;
            }
        }
        Ok(())
    }

    /// Creates a contact from already-checked `values`; returns its id and the changes.
    pub fn create(
        &mut self,
        values: &BTreeMap<String, String>,
        now: i64,
        origin: &ChangeOrigin,
    ) -> (u64, Vec<Change>) {
        let id = self.next_id;
        self.next_id += 1;
        let contact = Contact {
            id,
            properties: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            archived_at: None,
        };
        self.live.insert(id, contact);
        let mut changes = vec![Change {
            object_id: id,
            kind: ChangeKind::Creation,
            occurred_at: now,
            origin: origin.clone(),
        }];
        changes.extend(self.apply(id, values, now, origin));
        (id, changes)
    }

    /// Applies already-checked `values` to live contact `id`; returns the property changes.
    pub fn apply(
        &mut self,
        id: u64,
        values: &BTreeMap<String, String>,
        now: i64,
        origin: &ChangeOrigin,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let unique_names: Vec<String> = self.unique.keys().cloned().collect();
        let Some(contact) = self.live.get(&id) else {
            return changes;
        };
        let mut updated = contact.properties.clone();
        for (name, value) in values {
            let old = updated.get(name).cloned().unwrap_or_default();
            if old == *value {
                continue;
            }
            if value.is_empty() {
                updated.remove(name);
            } else {
                updated.insert(name.clone(), value.clone());
            }
            changes.push(Change {
                object_id: id,
                kind: ChangeKind::PropertyChange {
                    name: name.clone(),
                    value: value.clone(),
                },
                occurred_at: now,
                origin: origin.clone(),
            });
        }
        if changes.is_empty() {
            return changes;
        }
        let old = contact.properties.clone();
        self.unindex(id, &old, &unique_names);
        self.index(id, &updated, &unique_names);
        if let Some(contact) = self.live.get_mut(&id) {
            contact.properties = updated;
            contact.updated_at = now.max(contact.created_at);
        }
        changes
    }

    /// Moves live contact `id` to the recycle bin.
    pub fn archive(&mut self, id: u64, now: i64, origin: &ChangeOrigin) -> Option<Change> {
        let mut contact = self.live.remove(&id)?;
        let unique_names: Vec<String> = self.unique.keys().cloned().collect();
        self.unindex(id, &contact.properties, &unique_names);
        contact.archived_at = Some(now);
        contact.updated_at = now;
        self.archived.insert(id, contact);
        Some(Change {
            object_id: id,
            kind: ChangeKind::Deletion,
            occurred_at: now,
            origin: origin.clone(),
        })
    }

    /// Restores contact `id` from the recycle bin unless its unique values are taken.
    ///
    /// # Errors
    /// `NotFound` when it is not in the bin; a conflict when another contact took its values.
    pub fn restore(
        &mut self,
        id: u64,
        now: i64,
        origin: &ChangeOrigin,
    ) -> Result<Change, WriteError> {
        let contact = self
            .archived
            .get(&id)
            .ok_or_else(|| WriteError::NotFound(id.to_string()))?;
        self.check(Some(id), &contact.properties, &mut Claims::default(), 0)?;
        let mut contact = self.archived.remove(&id).unwrap_or_else(|| unreachable!());
        contact.archived_at = None;
        contact.updated_at = now;
        let unique_names: Vec<String> = self.unique.keys().cloned().collect();
        self.index(id, &contact.properties, &unique_names);
        self.live.insert(id, contact);
        Ok(Change {
            object_id: id,
            kind: ChangeKind::Restore,
            occurred_at: now,
            origin: origin.clone(),
        })
    }

    /// Merges `merged` into `primary` as HubSpot does: the primary keeps its values, takes
    /// the merged contact's values where it has none, and gains its email as a secondary
    /// email; the merged contact disappears (it is not in the recycle bin).
    ///
    /// # Errors
    /// `NotFound` when either is not a live contact.
    pub fn merge(
        &mut self,
        primary: u64,
        merged: u64,
        now: i64,
        origin: &ChangeOrigin,
    ) -> Result<Vec<Change>, WriteError> {
        if primary == merged || !self.live.contains_key(&primary) {
            return Err(WriteError::NotFound(primary.to_string()));
        }
        let gone = self
            .live
            .remove(&merged)
            .ok_or_else(|| WriteError::NotFound(merged.to_string()))?;
        let unique_names: Vec<String> = self.unique.keys().cloned().collect();
        self.unindex(merged, &gone.properties, &unique_names);
        let keep = self
            .live
            .get(&primary)
            .cloned()
            .unwrap_or_else(|| unreachable!());
        let mut values = BTreeMap::new();
        for (name, value) in &gone.properties {
            if name != EMAIL && name != ADDITIONAL_EMAILS && !keep.properties.contains_key(name) {
                values.insert(name.clone(), value.clone());
            }
        }
        let mut extra: Vec<String> = keep
            .properties
            .get(ADDITIONAL_EMAILS)
            .map(|v| split_emails(v))
            .unwrap_or_default();
        extra.extend(gone.properties.get(EMAIL).cloned());
        extra.extend(
            gone.properties
                .get(ADDITIONAL_EMAILS)
                .map(|v| split_emails(v))
                .unwrap_or_default(),
        );
        extra.dedup();
        if !extra.is_empty() {
            values.insert(ADDITIONAL_EMAILS.into(), extra.join(";"));
        }
        let moved = values.len();
        let mut changes = vec![Change {
            object_id: primary,
            kind: ChangeKind::Merge {
                primary,
                merged: vec![merged],
                moved,
            },
            occurred_at: now,
            origin: origin.clone(),
        }];
        changes.extend(self.apply(primary, &values, now, origin));
        Ok(changes)
    }

    /// Permanently removes contact `id` (live or archived).
    pub fn purge(&mut self, id: u64) -> bool {
        if let Some(contact) = self.live.remove(&id) {
            let unique_names: Vec<String> = self.unique.keys().cloned().collect();
            self.unindex(id, &contact.properties, &unique_names);
            true
        } else {
            self.archived.remove(&id).is_some()
        }
    }

    /// Starts indexing property `name` as unique.
    ///
    /// # Errors
    /// When existing contacts already share a value.
    pub fn add_unique_index(&mut self, name: &str) -> Result<(), String> {
        let mut index = HashMap::new();
        for contact in self.live.values() {
            if let Some(value) = contact.properties.get(name) {
                if index.insert(value.clone(), contact.id).is_some() {
                    return Err(format!(
                        "contacts already share the value {value} of {name}"
                    ));
                }
            }
        }
        self.unique.insert(name.to_owned(), index);
        Ok(())
    }

    /// Stops indexing property `name`.
    pub fn drop_unique_index(&mut self, name: &str) {
        self.unique.remove(name);
    }

    /// Removes every contact.
    pub fn clear_contacts(&mut self) {
        self.live.clear();
        self.archived.clear();
        self.by_email.clear();
        self.by_additional_email.clear();
        for index in self.unique.values_mut() {
            index.clear();
        }
    }

    fn index(&mut self, id: u64, properties: &BTreeMap<String, String>, unique: &[String]) {
        if let Some(email) = properties.get(EMAIL) {
            self.by_email.insert(email.to_lowercase(), id);
        }
        if let Some(extra) = properties.get(ADDITIONAL_EMAILS) {
            for email in split_emails(extra) {
                self.by_additional_email.insert(email.to_lowercase(), id);
            }
        }
        for name in unique {
            if let (Some(value), Some(index)) = (properties.get(name), self.unique.get_mut(name)) {
                index.insert(value.clone(), id);
            }
        }
    }

    fn unindex(&mut self, id: u64, properties: &BTreeMap<String, String>, unique: &[String]) {
        if let Some(email) = properties.get(EMAIL) {
            let key = email.to_lowercase();
            if self.by_email.get(&key) == Some(&id) {
                self.by_email.remove(&key);
            }
        }
        if let Some(extra) = properties.get(ADDITIONAL_EMAILS) {
            for email in split_emails(extra) {
                let key = email.to_lowercase();
                if self.by_additional_email.get(&key) == Some(&id) {
                    self.by_additional_email.remove(&key);
                }
            }
        }
        for name in unique {
            if let (Some(value), Some(index)) = (properties.get(name), self.unique.get_mut(name)) {
                if index.get(value) == Some(&id) {
                    index.remove(value);
                }
            }
        }
    }
}

impl Claims {
    /// Claims record `id` for input `input`: one batch may not write a record twice.
    ///
    /// # Errors
    /// `DuplicateInBatch` when an earlier input claimed it.
    pub fn claim_id(&mut self, id: u64, input: usize) -> Result<(), WriteError> {
        self.claim(OBJECT_ID, &id.to_string(), input)
    }

    fn claim(&mut self, property: &str, value: &str, input: usize) -> Result<(), WriteError> {
        match self
            .values
            .insert((property.to_owned(), value.to_owned()), input)
        {
            Some(earlier) if earlier != input => {
                Err(WriteError::DuplicateInBatch(value.to_owned()))
            }
            _ => Ok(()),
        }
    }
}

/// The entries of a `;`-separated email list, trimmed, empty ones dropped.
pub fn split_emails(value: &str) -> Vec<String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A JSON property value as the string HubSpot stores (`null` clears).
pub fn value_to_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_email_check_rejects_what_10to8_lets_through() {
        for good in [
            "a@example.com",
            "A.B+1@mail.example.net",
            "o'neill@example.org",
        ] {
            assert!(hubspot_accepts_email(good), "{good}");
        }
        for bad in [
            "a@example",
            "a@@example.com",
            "a @example.com",
            "a@example.com.",
            "example.lcom",
            "a@example.c0m",
            ".a@example.com",
        ] {
            assert!(!hubspot_accepts_email(bad), "{bad}");
        }
    }

    #[test]
    fn correlation_ids_are_uuid_shaped_and_fresh() {
        let a = new_correlation_id();
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, new_correlation_id());
    }
}
