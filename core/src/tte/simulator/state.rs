//! The simulator's data: customers (soft-deleted, never removed), their future bookings,
//! subscriptions, and the operations both the API and the admin API perform on them. Every
//! change queues a notification.

use std::collections::BTreeMap;
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::{ApiError, FieldErrors};
use super::guard::Guard;
use super::{SimCustomer, TteSimConfig};
use crate::simulate::people;
use crate::tte::{CUSTOMER_PATH, CustomerPatch, SCOPE_CUSTOMER, SUBSCRIPTION_PATH};

/// The longest email or phone number accepted.
const MAX_VALUE_LEN: usize = 254;
/// What joins differing custom field values on a merge.
const MERGE_SEPARATOR: &str = ", ";
const EXPECTED_LIST: &str = "Expected a list of items but got type";
const NOT_A_STRING: &str = "Not a valid string.";
const INVALID_EMAIL: &str = "Enter a valid email address.";
const INVALID_NUMBER: &str = "Enter a valid phone number.";

/// Everything one simulator holds, shared by its routes, its admin API and its notifier.
#[derive(Debug)]
pub(crate) struct SimState {
    pub(crate) config: TteSimConfig,
    base: OnceLock<String>,
    db: RwLock<Db>,
    pub(crate) guard: Guard,
    changes: mpsc::UnboundedSender<String>,
}

#[derive(Debug, Default)]
struct Db {
    /// Customer `id` sits at index `id - 1`.
    customers: Vec<SimCustomer>,
    live: usize,
    subscriptions: BTreeMap<u64, SimSubscription>,
    next_subscription: u64,
}

/// A subscription as stored.
#[derive(Debug, Clone)]
pub(crate) struct SimSubscription {
    pub(crate) id: u64,
    pub(crate) callback_url: String,
    pub(crate) scope: String,
}

/// The fields a create or PATCH body sets, validated.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    name: Option<String>,
    emails: Option<Vec<String>>,
    numbers: Option<Vec<String>>,
    /// `None` values remove the field.
    custom_fields: Option<BTreeMap<String, Option<String>>>,
}

/// A customer as the API shows it.
#[derive(Serialize)]
struct CustomerView<'a> {
    resource_uri: String,
    name: &'a str,
    emails: &'a [String],
    numbers: &'a [String],
    custom_fields: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<bool>,
}

/// One page of a list.
#[derive(Serialize)]
struct PageView<T> {
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

/// Where a list page sits, and the links to its neighbours.
pub(crate) struct Window {
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    pub(crate) next: Option<String>,
    pub(crate) previous: Option<String>,
}

impl SimState {
    pub(crate) fn new(config: TteSimConfig, changes: mpsc::UnboundedSender<String>) -> Self {
        let guard = Guard::new(&config);
        Self {
            config,
            base: OnceLock::new(),
            db: RwLock::new(Db::default()),
            guard,
            changes,
        }
    }

    /// Fixes the base URL every URI is built on (once, right after binding).
    pub(crate) fn set_base(&self, base: &str) {
        let _ = self.base.set(base.trim_end_matches('/').to_owned());
    }

    pub(crate) fn base(&self) -> &str {
        self.base.get().map_or("http://127.0.0.1", String::as_str)
    }

    pub(crate) fn customer_uri(&self, id: u64) -> String {
        format!("{}{CUSTOMER_PATH}{id}/", self.base())
    }

    pub(crate) fn subscription_uri(&self, id: u64) -> String {
        format!("{}{SUBSCRIPTION_PATH}{id}/", self.base())
    }

    /// The id in a customer URI of this simulator.
    pub(crate) fn customer_id(&self, uri: &str) -> Option<u64> {
        uri.strip_prefix(self.base())?
            .strip_prefix(CUSTOMER_PATH)?
            .strip_suffix('/')?
            .parse()
            .ok()
    }

    fn db(&self) -> RwLockReadGuard<'_, Db> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn db_mut(&self) -> RwLockWriteGuard<'_, Db> {
        self.db.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            let _ = self.changes.send(self.customer_uri(id));
        }
    }

    // --- the API ---

    /// A page of customers as JSON bytes.
    pub(crate) fn list_json(
        &self,
        include_deleted: bool,
        window: &Window,
    ) -> serde_json::Result<Vec<u8>> {
        let db = self.db();
        let count = if include_deleted {
            db.customers.len()
        } else {
            db.live
        };
        let results: Vec<_> = db
            .customers
            .iter()
            .filter(|c| include_deleted || !c.deleted)
            .skip(window.offset)
            .take(window.limit)
            .map(|c| self.view(c, include_deleted))
            .collect();
        let next = (window.offset + results.len() < count)
            .then(|| window.next.clone())
            .flatten();
        serde_json::to_vec(&PageView {
            count,
            next,
            previous: window.previous.clone(),
            results,
        })
    }

    /// One live customer as JSON.
    pub(crate) fn get_json(&self, id: u64) -> Result<Vec<u8>, ApiError> {
        let db = self.db();
        let customer = live(&db, id)?;
        Ok(serde_json::to_vec(&self.view(customer, false)).unwrap_or_default())
    }

    /// Creates a customer from a validated body; returns its id and JSON.
    pub(crate) fn create(&self, changes: Changes) -> (u64, Vec<u8>) {
        let (id, json) = {
            let mut db = self.db_mut();
            let id = db.customers.len() as u64 + 1;
            let mut customer = SimCustomer {
                id,
                ..SimCustomer::default()
            };
            apply(&mut customer, changes);
            let json = serde_json::to_vec(&self.view(&customer, false)).unwrap_or_default();
            db.customers.push(customer);
            db.live += 1;
            (id, json)
        };
        self.notify([id]);
        (id, json)
    }

    /// Applies a validated PATCH to a live customer; returns its JSON.
    pub(crate) fn patch(&self, id: u64, changes: Changes) -> Result<Vec<u8>, ApiError> {
        let json = {
            let mut db = self.db_mut();
            let customer = live_mut(&mut db, id)?;
            apply(customer, changes);
            serde_json::to_vec(&self.view(customer, false)).unwrap_or_default()
        };
        self.notify([id]);
        Ok(json)
    }

    /// Soft-deletes a live customer; without `force`, refuses one with future bookings.
    pub(crate) fn delete(&self, id: u64, force: bool) -> Result<(), ApiError> {
        {
            let mut db = self.db_mut();
            let customer = live_mut(&mut db, id)?;
            if !force && customer.future_bookings > 0 {
                return Err(ApiError::Conflict(format!(
                    "This customer has {} future event(s). Cancel them, or delete with \
                     force=True to delete the customer and their events.",
                    customer.future_bookings
                )));
            }
            customer.deleted = true;
            customer.future_bookings = 0;
            db.live -= 1;
        }
        self.notify([id]);
        Ok(())
    }

    pub(crate) fn subscriptions(&self) -> Vec<SimSubscription> {
        self.db().subscriptions.values().cloned().collect()
    }

    pub(crate) fn subscription(&self, id: u64) -> Option<SimSubscription> {
        self.db().subscriptions.get(&id).cloned()
    }

    pub(crate) fn add_subscription(&self, callback_url: String) -> SimSubscription {
        let mut db = self.db_mut();
        db.next_subscription += 1;
        let subscription = SimSubscription {
            id: db.next_subscription,
            callback_url,
            scope: SCOPE_CUSTOMER.to_owned(),
        };
        db.subscriptions
            .insert(subscription.id, subscription.clone());
        subscription
    }

    pub(crate) fn remove_subscription(&self, id: u64) -> bool {
        self.db_mut().subscriptions.remove(&id).is_some()
    }

    pub(crate) fn subscription_json(&self, subscription: &SimSubscription) -> Value {
        serde_json::json!({
            "resource_uri": self.subscription_uri(subscription.id),
            "callback_url": subscription.callback_url,
            "scope": subscription.scope,
        })
    }

    // --- what a person does in the app (the admin API) ---

    /// Adds the generated people `start..start+count` as customers; notifies when asked.
    pub(crate) fn seed(&self, seed: u64, start: u64, count: u64, notify: bool) -> Vec<u64> {
        let ids: Vec<u64> =
            {
                let mut db = self.db_mut();
                let first = db.customers.len() as u64 + 1;
                db.customers
                    .extend(people(seed, start, count).enumerate().map(|(n, person)| {
                        SimCustomer {
                            id: first + n as u64,
                            name: person.full_name(),
                            emails: person.emails,
                            numbers: person.numbers,
                            ..SimCustomer::default()
                        }
                    }));
                db.live += count as usize;
                (first..first + count).collect()
            };
        if notify {
            self.notify(ids.iter().copied());
        }
        ids
    }

    /// Any customer, deleted or not, with its bookings.
    pub(crate) fn customer(&self, id: u64) -> Option<SimCustomer> {
        let db = self.db();
        index(id, db.customers.len()).map(|i| db.customers[i].clone())
    }

    /// Every customer, deleted ones included.
    pub(crate) fn customers(&self) -> Vec<SimCustomer> {
        self.db().customers.clone()
    }

    /// `(all, live)` customer counts.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let db = self.db();
        (db.customers.len(), db.live)
    }

    /// An edit in the app: validated like a PATCH, notified.
    pub(crate) fn edit(&self, id: u64, patch: &CustomerPatch) -> Result<SimCustomer, ApiError> {
        let body = serde_json::to_value(patch).unwrap_or_default();
        let changes = validate(&body, true)?;
        self.patch(id, changes)?;
        self.customer(id).ok_or(ApiError::NotFound)
    }

    /// A delete in the app: deletes the customer and their bookings, notified.
    pub(crate) fn delete_as_user(&self, id: u64) -> Result<(), ApiError> {
        self.delete(id, true)
    }

    /// Sets how many future bookings a live customer has.
    pub(crate) fn set_future_bookings(&self, id: u64, count: u32) -> Result<(), ApiError> {
        live_mut(&mut self.db_mut(), id)?.future_bookings = count;
        Ok(())
    }

    /// A merge in the app: the survivor gets every email and number (its own first), each
    /// custom field joins the differing values with `", "`, bookings add up; the others are
    /// soft-deleted. All are notified.
    pub(crate) fn merge(&self, survivor: u64, others: &[u64]) -> Result<SimCustomer, ApiError> {
        let merged = {
            let mut db = self.db_mut();
            live(&db, survivor)?;
            let mut losers = Vec::new();
            for &id in others {
                if id == survivor || losers.iter().any(|l: &SimCustomer| l.id == id) {
                    return Err(ApiError::field("merge", "list each customer once"));
                }
                losers.push(live(&db, id)?.clone());
            }
            let kept = live_mut(&mut db, survivor)?;
            for loser in &losers {
                union(&mut kept.emails, &loser.emails);
                union(&mut kept.numbers, &loser.numbers);
                for (label, value) in &loser.custom_fields {
                    let current = kept.custom_fields.entry(label.clone()).or_default();
                    let present = current.split(MERGE_SEPARATOR).any(|v| v == value);
                    if value.is_empty() || present {
                        continue;
                    }
                    if !current.is_empty() {
                        current.push_str(MERGE_SEPARATOR);
                    }
                    current.push_str(value);
                }
                kept.future_bookings += loser.future_bookings;
            }
            let merged = kept.clone();
            for loser in &losers {
                let stored = &mut db.customers[loser.id as usize - 1];
                stored.deleted = true;
                stored.future_bookings = 0;
            }
            db.live -= losers.len();
            merged
        };
        self.notify(std::iter::once(survivor).chain(others.iter().copied()));
        Ok(merged)
    }

    fn view<'a>(&self, customer: &'a SimCustomer, with_deleted: bool) -> CustomerView<'a> {
        CustomerView {
            resource_uri: self.customer_uri(customer.id),
            name: &customer.name,
            emails: &customer.emails,
            numbers: &customer.numbers,
            custom_fields: &customer.custom_fields,
            deleted: with_deleted.then_some(customer.deleted),
        }
    }
}

fn index(id: u64, len: usize) -> Option<usize> {
    (id >= 1 && id <= len as u64).then(|| id as usize - 1)
}

fn live(db: &Db, id: u64) -> Result<&SimCustomer, ApiError> {
    index(id, db.customers.len())
        .map(|i| &db.customers[i])
        .filter(|c| !c.deleted)
        .ok_or(ApiError::NotFound)
}

fn live_mut(db: &mut Db, id: u64) -> Result<&mut SimCustomer, ApiError> {
    let len = db.customers.len();
    index(id, len)
        .map(|i| &mut db.customers[i])
        .filter(|c| !c.deleted)
        .ok_or(ApiError::NotFound)
}

fn union(into: &mut Vec<String>, from: &[String]) {
    for value in from {
        if !into.iter().any(|v| v.eq_ignore_ascii_case(value)) {
            into.push(value.clone());
        }
    }
}

fn apply(customer: &mut SimCustomer, changes: Changes) {
    if let Some(name) = changes.name {
        customer.name = name;
    }
    if let Some(emails) = changes.emails {
        customer.emails = emails;
    }
    if let Some(numbers) = changes.numbers {
        customer.numbers = numbers;
    }
    for (label, value) in changes.custom_fields.unwrap_or_default() {
        match value {
            Some(value) => customer.custom_fields.insert(label, value),
            None => customer.custom_fields.remove(&label),
        };
    }
}

/// Validates a create (`partial` false: `name` required) or PATCH body. Unknown and read-only
/// fields are ignored, as Django REST Framework does.
pub(crate) fn validate(body: &Value, partial: bool) -> Result<Changes, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::field(
            "non_field_errors",
            format!(
                "Invalid data. Expected a dictionary, but got {}.",
                json_type(body)
            ),
        ));
    };
    let mut errors = FieldErrors::new();
    let mut changes = Changes::default();
    match map.get("name") {
        Some(Value::String(name)) => changes.name = Some(name.trim().to_owned()),
        Some(Value::Null) => error(&mut errors, "name", "This field may not be null."),
        Some(_) => error(&mut errors, "name", NOT_A_STRING),
        None if !partial => error(&mut errors, "name", "This field is required."),
        None => {}
    }
    changes.emails = strings(map.get("emails"), "emails", &mut errors, valid_email);
    changes.numbers = strings(map.get("numbers"), "numbers", &mut errors, valid_number);
    match map.get("custom_fields") {
        None => {}
        Some(Value::Object(fields)) => {
            let mut parsed = BTreeMap::new();
            for (label, value) in fields {
                match value {
                    Value::String(text) => {
                        parsed.insert(label.clone(), Some(text.clone()));
                    }
                    Value::Null => {
                        parsed.insert(label.clone(), None);
                    }
                    _ => error(
                        &mut errors,
                        "custom_fields",
                        format!("Value of \"{label}\" must be a string."),
                    ),
                }
            }
            changes.custom_fields = Some(parsed);
        }
        Some(other) => error(
            &mut errors,
            "custom_fields",
            format!(
                "Expected a dictionary of items but got type \"{}\".",
                json_type(other)
            ),
        ),
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

fn strings(
    value: Option<&Value>,
    field: &str,
    errors: &mut FieldErrors,
    valid: fn(&str) -> Option<&'static str>,
) -> Option<Vec<String>> {
    let items = match value? {
        Value::Array(items) => items,
        other => {
            let message = format!("{EXPECTED_LIST} \"{}\".", json_type(other));
            error(errors, field, message);
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(text) => match valid(text.trim()) {
                None => out.push(text.trim().to_owned()),
                Some(message) => error(errors, field, message),
            },
            _ => error(errors, field, NOT_A_STRING),
        }
    }
    Some(out)
}

/// 10to8 is lax: an `@` with something on each side is enough (no TLD, `@@`, spaces and a
/// trailing dot pass; stricter CRMs refuse those).
fn valid_email(email: &str) -> Option<&'static str> {
    let ok = email.len() <= MAX_VALUE_LEN
        && email.find('@').is_some_and(|at| at > 0)
        && email.rfind('@').is_some_and(|at| at + 1 < email.len());
    (!ok).then_some(INVALID_EMAIL)
}

/// Any number with at least one digit, of a sane length.
fn valid_number(number: &str) -> Option<&'static str> {
    let ok = number.len() <= 64 && number.chars().any(|c| c.is_ascii_digit());
    (!ok).then_some(INVALID_NUMBER)
}

fn error(errors: &mut FieldErrors, field: &str, message: impl Into<String>) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(message.into());
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_10to8_accepts_include_ones_stricter_crms_refuse() {
        for email in ["a@b", "a@@b.com", "a @b.com", "a@b.com.", "A.B@EXAMPLE.COM"] {
            assert_eq!(valid_email(email), None, "{email}");
        }
        for email in ["", "ab.com", "@b.com", "a@"] {
            assert_eq!(valid_email(email), Some(INVALID_EMAIL), "{email}");
        }
    }

    #[test]
    fn a_create_needs_a_name_and_typed_fields() {
        let ApiError::Invalid(errors) = validate(
            &serde_json::json!({"emails": "x@y", "numbers": ["n/a"], "custom_fields": {"a": 1}}),
            false,
        )
        .unwrap_err() else {
            panic!("expected field errors");
        };
        assert_eq!(errors["name"], ["This field is required."]);
        assert_eq!(
            errors["emails"],
            ["Expected a list of items but got type \"str\"."]
        );
        assert_eq!(errors["numbers"], [INVALID_NUMBER]);
        assert_eq!(
            errors["custom_fields"],
            ["Value of \"a\" must be a string."]
        );
        assert!(validate(&serde_json::json!({"extra": 1}), true).is_ok());
    }
}
