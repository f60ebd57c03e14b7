//! The planner: a pure three-way merge of one linked pair (10to8 customer, CRM record) against
//! the snapshots of the last sync, deciding per field what to copy which way.
//!
//! [`Field::hub_value`] and [`Field::crm_value`] are both in the CRM's terms, so a field agrees
//! when they are equal. The link keeps two snapshots (the hub value and the CRM value as last
//! synced, by field key); a side *changed* when its value differs from its snapshot. Keeping
//! both (rather than one agreed value) means a transform that does not round-trip exactly
//! (a stray space in a CRM first name) never makes the two sides chase each other.
//!
//! Per field: one side changed → copy it across (when the field's direction allows); both
//! changed to different values → the field's [`ConflictPolicy`]; neither → nothing. A field
//! with no snapshot yet (a pair linked for the first time, or a field new in the mapping)
//! where one side only fills what is empty on the other (property by property) is copied
//! that way; one where both hold different values is a conflict decided by policy. A one-way field whose target drifted is set
//! back from its source.
//!
//! Status and identity never count as changes. They are written only together with a real
//! change, when the status *message* changes (an error appears or clears — the `{now}` in the
//! ok status alone never causes a write), or when an identity field is missing or wrong. That
//! is what makes a second sync write nothing.
//!
//! `newest` compares the CRM's last-modified time (`CrmRecord::updated_at`, as the
//! connector reads it) with the time 10to8's change is known to have happened. 10to8's API
//! offers no modification time; the live worker passes the time the notification arrived,
//! a full reconcile passes none, and when either time is unknown 10to8 wins (the mapping's
//! documented tie rule).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::mapping::{ConflictPolicy, CrmOutput, Field, HubOutput, Mapping, Status, SyncTime};
use crate::record::{CrmRecord, Customer, Properties};
use crate::store::Snapshot;
use crate::tte::CustomerPatch;

/// Which way a field's value is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// From 10to8 to the CRM.
    ToCrm,
    /// From the CRM to 10to8.
    ToHub,
}

/// What the planner decided for one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDecision {
    /// The field's key.
    pub key: String,
    /// Which way it is copied.
    pub flow: Flow,
    /// Whether both sides had changed it (the conflict policy decided).
    pub conflict: bool,
}

/// The snapshots of a link as last synced (hub values and CRM values, by field key).
#[derive(Debug, Clone, Copy)]
pub struct Snapshots<'a> {
    /// The customer's field values (in CRM terms) as last synced.
    pub hub: &'a Snapshot,
    /// The record's field values as last synced.
    pub crm: &'a Snapshot,
}

/// When each side's change is known to have happened, for the `newest` policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeTimes {
    /// When 10to8's change happened (10to8 does not say; see the module docs).
    pub hub: Option<DateTime<Utc>>,
    /// When the CRM record last changed.
    pub crm: Option<DateTime<Utc>>,
}

/// The plan for one linked pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairPlan {
    /// Per-field decisions (only fields that move).
    pub fields: Vec<FieldDecision>,
    /// The CRM properties to write, if the record must be written.
    pub crm_write: Option<Properties>,
    /// The patch for the customer, if it must be written.
    pub hub_patch: Option<CustomerPatch>,
    /// The hub snapshot once the writes are done.
    pub hub_snapshot: Snapshot,
    /// The CRM snapshot once the writes are done.
    pub crm_snapshot: Snapshot,
    /// Errors for the status fields (e.g. an invalid email).
    pub errors: Vec<String>,
}

impl PairPlan {
    /// Whether the plan writes nothing.
    pub fn is_noop(&self) -> bool {
        self.crm_write.is_none() && self.hub_patch.is_none()
    }

    /// Whether any field was in conflict.
    pub fn has_conflict(&self) -> bool {
        self.fields.iter().any(|f| f.conflict)
    }
}

/// Decides one field. `snapshots` is `None` for a pair never synced.
fn decide(
    field: &Field,
    hub: &str,
    crm: &str,
    snapshots: Option<Snapshots<'_>>,
    times: ChangeTimes,
) -> Option<FieldDecision> {
    if hub == crm {
        return None;
    }
    let known = snapshots.and_then(|s| Some((s.hub.get(field.key())?, s.crm.get(field.key())?)));
    let (hub_changed, crm_changed) = match known {
        Some((hub_was, crm_was)) => (hub != hub_was, crm != crm_was),
        // Never synced: a side with no value only gets filled; both holding one is a conflict.
        None => match (covers(hub, crm), covers(crm, hub)) {
            (true, _) => (true, false),
            (false, true) => (false, true),
            (false, false) => (true, true),
        },
    };
    let direction = field.direction();
    let (flow, conflict) = match (direction.to_crm(), direction.to_hub()) {
        (true, false) => (Flow::ToCrm, false),
        (false, true) => (Flow::ToHub, false),
        _ => match (hub_changed, crm_changed) {
            (true, false) => (Flow::ToCrm, false),
            (false, true) => (Flow::ToHub, false),
            // Neither changed yet they differ: a transform that does not round-trip; the
            // snapshots already record this state, so leave it.
            (false, false) => return None,
            (true, true) => (winner(field.conflict_policy(), times), true),
        },
    };
    Some(FieldDecision {
        key: field.key().to_owned(),
        flow,
        conflict,
    })
}

/// What joins the per-property parts of a canonical value (see `Field::hub_value`).
const PART_SEPARATOR: char = '\u{1f}';

/// Whether `full` holds everything `other` holds, part by part (each part of `other` is
/// empty or equal): copying `full` over `other` only fills what was empty.
fn covers(full: &str, other: &str) -> bool {
    let mut full = full.split(PART_SEPARATOR);
    other.split(PART_SEPARATOR).all(|part| {
        let mine = full.next().unwrap_or("");
        part.trim().is_empty() || part == mine
    })
}

/// Who wins a conflict under `policy`.
fn winner(policy: ConflictPolicy, times: ChangeTimes) -> Flow {
    match policy {
        ConflictPolicy::CrmWins => Flow::ToHub,
        ConflictPolicy::Newest => match (times.hub, times.crm) {
            (Some(hub), Some(crm)) if crm > hub => Flow::ToHub,
            _ => Flow::ToCrm,
        },
        _ => Flow::ToCrm,
    }
}

/// Plans one linked pair: which fields to copy which way, and the writes that result,
/// with status and identity added only when something is written or they are out of date.
pub fn plan_pair(
    mapping: &Mapping,
    customer: &Customer,
    record: &CrmRecord,
    snapshots: Option<Snapshots<'_>>,
    times: ChangeTimes,
    now: &SyncTime,
) -> PairPlan {
    let mut decisions = Vec::new();
    let mut crm_out = CrmOutput::default();
    let mut hub_out = HubOutput::default();
    for field in mapping.fields() {
        let hub = field.hub_value(customer);
        let crm = field.crm_value(record);
        let Some(decision) = decide(field, &hub, &crm, snapshots, times) else {
            continue;
        };
        match decision.flow {
            Flow::ToCrm => field.write_crm(customer, now, &mut crm_out),
            Flow::ToHub => field.write_hub(record, Some(customer), now, &mut hub_out),
        }
        decisions.push(decision);
    }

    // The pair as it will be once the field writes are done.
    let mut customer_after = customer.clone();
    hub_out.apply_to(&mut customer_after);
    let mut record_after = record.clone();
    record_after.properties.extend(
        crm_out
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );

    // Identity and status, over the whole pair after the writes.
    let mut crm_finish = CrmOutput::default();
    mapping.finish_crm(&customer_after, now, &mut crm_finish);
    let mut hub_finish = HubOutput::default();
    mapping.finish_hub(&record_after, Some(&customer_after), now, &mut hub_finish);
    let errors = merged_errors(&crm_finish.errors, &hub_finish.errors);

    let identity = mapping.identity();
    let crm_identity_ok = customer.resource_uri.is_empty()
        || record.property(&identity.hub_id_property) == customer.resource_uri;
    let hub_identity_ok = record.id.as_str().is_empty()
        || customer
            .custom_fields
            .get(&identity.crm_id_custom_field)
            .is_some_and(|v| v == record.id.as_str());
    let (crm_status_ok, hub_status_ok) = match mapping.status() {
        Some(status) => (
            status_is_current(status, record.property(&status.crm_property), &errors),
            status_is_current(
                status,
                customer
                    .custom_fields
                    .get(&status.hub_custom_field)
                    .map_or("", String::as_str),
                &errors,
            ),
        ),
        None => (true, true),
    };

    let crm_write =
        (!crm_out.properties.is_empty() || !crm_identity_ok || !crm_status_ok).then(|| {
            let mut properties = crm_out.properties;
            properties.extend(crm_finish.properties);
            if let Some(status) = mapping.status() {
                properties.insert(
                    status.crm_property.clone(),
                    status.text(&errors, now).into(),
                );
            }
            properties
        });
    let hub_patch = (!hub_out.is_empty() || !hub_identity_ok || !hub_status_ok).then(|| {
        let mut custom_fields = hub_out.custom_fields.clone();
        custom_fields.extend(hub_finish.custom_fields);
        if let Some(status) = mapping.status() {
            custom_fields.insert(status.hub_custom_field.clone(), status.text(&errors, now));
        }
        CustomerPatch {
            name: hub_out.name.clone(),
            emails: hub_out.emails.clone(),
            numbers: hub_out.numbers.clone(),
            custom_fields: Some(custom_fields),
        }
    });

    if let Some(properties) = &crm_write {
        record_after
            .properties
            .extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(patch) = &hub_patch {
        apply_patch(patch, &mut customer_after);
    }
    let (hub_snapshot, crm_snapshot) = snapshots_of(mapping, &customer_after, &record_after);
    PairPlan {
        fields: decisions,
        crm_write,
        hub_patch,
        hub_snapshot,
        crm_snapshot,
        errors,
    }
}

/// The snapshots of a pair as it stands: every field's hub value and CRM value.
pub fn snapshots_of(
    mapping: &Mapping,
    customer: &Customer,
    record: &CrmRecord,
) -> (Snapshot, Snapshot) {
    let hub = mapping
        .fields()
        .iter()
        .map(|f| (f.key().to_owned(), f.hub_value(customer)))
        .collect();
    let crm = mapping
        .fields()
        .iter()
        .map(|f| (f.key().to_owned(), f.crm_value(record)))
        .collect();
    (hub, crm)
}

/// Applies a patch to a customer as 10to8 would (lists replaced, custom fields merged).
pub fn apply_patch(patch: &CustomerPatch, customer: &mut Customer) {
    if let Some(name) = &patch.name {
        customer.name.clone_from(name);
    }
    if let Some(emails) = &patch.emails {
        customer.emails.clone_from(emails);
    }
    if let Some(numbers) = &patch.numbers {
        customer.numbers.clone_from(numbers);
    }
    if let Some(fields) = &patch.custom_fields {
        customer
            .custom_fields
            .extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Both sides' errors, each once, in order.
fn merged_errors(crm: &[String], hub: &[String]) -> Vec<String> {
    let mut errors: Vec<String> = crm.to_vec();
    for error in hub {
        if !errors.contains(error) {
            errors.push(error.clone());
        }
    }
    errors
}

/// Whether `current` already says what the status would say now: the same errors, or (with
/// none) the ok text at any time.
pub fn status_is_current(status: &Status, current: &str, errors: &[String]) -> bool {
    if errors.is_empty() {
        is_ok_status(status, current)
    } else {
        current == status.text(errors, &SyncTime::new(DateTime::UNIX_EPOCH))
    }
}

/// Whether `text` is the ok status rendered at some time.
pub fn is_ok_status(status: &Status, text: &str) -> bool {
    let a = status.ok(&SyncTime::new(DateTime::UNIX_EPOCH));
    let b = status.ok(&SyncTime::new(
        DateTime::from_timestamp(4_102_444_799, 0).unwrap_or(DateTime::UNIX_EPOCH),
    ));
    if a == b {
        return text == a;
    }
    let prefix = common_prefix(&a, &b);
    let suffix = common_suffix(&a[prefix..], &b[prefix..]);
    text.len() > prefix + suffix
        && text.starts_with(&a[..prefix])
        && text.ends_with(&a[a.len() - suffix..])
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i)
}

fn common_suffix(a: &str, b: &str) -> usize {
    a.chars()
        .rev()
        .zip(b.chars().rev())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum()
}

/// Whether a [`HubOutput`] sets nothing.
trait IsEmpty {
    fn is_empty(&self) -> bool;
}

impl IsEmpty for HubOutput {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.emails.is_none()
            && self.numbers.is_none()
            && self.custom_fields.is_empty()
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
