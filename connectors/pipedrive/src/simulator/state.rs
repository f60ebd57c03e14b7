//! The simulated company: persons, person fields (custom ones keyed by generated hashes),
//! webhooks, the recent changes, faults, counts, the rate budget, and the worker that delivers
//! v2 webhook events with basic auth.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tte_sync_core::simulate::people;

use super::SimulatorConfig;
use super::body::{apply_body, previous_of};
use super::budget::{Budget, Verdict};
use super::oauth::Grants;
use super::render::{v1_json, v2_json};
use crate::person::Item;
use crate::webhook::{API_SOURCE, APP_SOURCE, basic_auth};

/// The id of the user edits through the admin API are made as (a person in the web app).
pub const APP_USER: u64 = 1;
/// Days a deleted person is kept before it is erased.
const ERASED_AFTER_DAYS: i64 = 30;
/// Deliveries kept for the tests to read.
const DELIVERIES_KEPT: usize = 200;
/// Custom field types setup may create.
pub const FIELD_TYPES: [&str; 16] = [
    "varchar",
    "varchar_auto",
    "text",
    "double",
    "monetary",
    "date",
    "set",
    "enum",
    "user",
    "org",
    "people",
    "phone",
    "time",
    "timerange",
    "daterange",
    "address",
];

/// Injected failures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// How many API requests to fail with `status`.
    #[serde(default)]
    pub fail_next: u32,
    /// The status they get (default 503).
    #[serde(default = "default_fault_status")]
    pub status: u16,
    /// How many API requests to refuse with 429 (the burst window's answer).
    #[serde(default)]
    pub rate_limit_next: u32,
}

fn default_fault_status() -> u16 {
    503
}

/// What the simulator counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// API requests by `METHOD route`, refused ones included.
    pub requests: BTreeMap<String, u64>,
    /// Requests refused with 429.
    pub rate_limited: u64,
    /// Requests refused with 401 (not counted by route).
    pub unauthorized: u64,
    /// Tokens spent today.
    pub tokens_spent: u64,
    /// Webhook deliveries answered 2xx.
    pub webhooks_delivered: u64,
    /// Webhook deliveries refused or unanswered.
    pub webhooks_failed: u64,
}

/// A refusal, as the API words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// `error`.
    pub error: String,
    /// `error_info`.
    pub info: String,
}

impl Refusal {
    /// `400` with this message.
    pub fn invalid(error: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: error.into(),
            info: "Please check the request body against developers.pipedrive.com".to_owned(),
        }
    }

    /// `404` for a person.
    pub fn not_found(what: &str) -> Self {
        Self {
            status: 404,
            error: format!("{what} not found"),
            info: "Please check developers.pipedrive.com".to_owned(),
        }
    }

    /// The error body.
    pub fn body(&self) -> Value {
        json!({"success": false, "error": self.error, "error_info": self.info, "data": null})
    }
}

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The connector's token (its user, through the API).
    Api,
    /// A person in the web app.
    App(u64),
}

/// A stored person.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPerson {
    pub id: u64,
    pub name: String,
    pub emails: Vec<Item>,
    pub phones: Vec<Item>,
    /// Custom field values by key.
    pub custom: BTreeMap<String, Value>,
    pub deleted: bool,
    pub add_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A person field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredField {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub field_type: String,
    pub edit_flag: bool,
}

/// A webhook.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    pub id: u64,
    pub subscription_url: String,
    pub event_action: String,
    pub event_object: String,
    pub version: String,
    pub http_auth_user: Option<String>,
    pub http_auth_password: Option<String>,
}

impl StoredWebhook {
    fn json(&self, company_id: u64, user_id: u64) -> Value {
        json!({
            "id": self.id, "company_id": company_id, "owner_id": user_id, "user_id": user_id,
            "event_action": self.event_action, "event_object": self.event_object,
            "subscription_url": self.subscription_url, "version": self.version,
            "is_active": 1, "type": "general",
            "http_auth_user": self.http_auth_user,
        })
    }

    fn wants(&self, action: &str) -> bool {
        matches!(self.event_object.as_str(), "person" | "*")
            && (self.event_action == "*" || self.event_action == action)
    }
}

/// A webhook request the simulator sent (or tried to).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The subscription URL.
    pub url: String,
    /// The headers sent.
    pub headers: http::HeaderMap,
    /// The body sent.
    pub body: Vec<u8>,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
}

/// One webhook request waiting to be sent.
pub struct Outgoing {
    url: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

pub struct Sim {
    pub config: SimulatorConfig,
    state: Mutex<State>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    grants: Mutex<Grants>,
    /// How far the simulator's clock is ahead of the real one (OAuth expiry only).
    clock_ahead: Mutex<chrono::Duration>,
    base_url: Mutex<String>,
}

struct State {
    persons: BTreeMap<u64, StoredPerson>,
    fields: Vec<StoredField>,
    webhooks: Vec<StoredWebhook>,
    /// `(when, person id)` of every change, oldest first.
    recents: Vec<(DateTime<Utc>, u64)>,
    next_id: u64,
    next_field_id: u64,
    next_webhook_id: u64,
    next_event: u64,
    faults: Faults,
    stats: Stats,
    budget: Budget,
    deliveries: VecDeque<Delivery>,
}

/// The built-in person fields, as `GET /v1/personFields` lists them.
const BUILT_IN_FIELDS: [(&str, &str, &str); 8] = [
    ("name", "Name", "varchar"),
    ("first_name", "First name", "varchar"),
    ("last_name", "Last name", "varchar"),
    ("email", "Email", "varchar"),
    ("phone", "Phone", "phone"),
    ("owner_id", "Owner", "user"),
    ("org_id", "Organization", "org"),
    ("label_ids", "Labels", "set"),
];

impl Sim {
    pub fn new(config: SimulatorConfig) -> (Self, mpsc::UnboundedReceiver<Outgoing>) {
        let (outbox, receiver) = mpsc::unbounded_channel();
        let fields = BUILT_IN_FIELDS
            .iter()
            .enumerate()
            .map(|(n, (key, name, field_type))| StoredField {
                id: n as u64 + 1,
                key: (*key).to_owned(),
                name: (*name).to_owned(),
                field_type: (*field_type).to_owned(),
                edit_flag: false,
            })
            .collect::<Vec<_>>();
        let state = State {
            persons: BTreeMap::new(),
            next_field_id: fields.len() as u64 + 1,
            fields,
            webhooks: Vec::new(),
            recents: Vec::new(),
            next_id: 1,
            next_webhook_id: 1,
            next_event: 0,
            faults: Faults::default(),
            stats: Stats::default(),
            budget: Budget::new(config.daily_token_budget, config.requests_per_two_seconds),
            deliveries: VecDeque::new(),
        };
        let sim = Self {
            config,
            state: Mutex::new(state),
            outbox,
            grants: Mutex::new(Grants::default()),
            clock_ahead: Mutex::new(chrono::Duration::zero()),
            base_url: Mutex::new(String::new()),
        };
        (sim, receiver)
    }

    /// Works on the OAuth grants.
    pub fn grants<R>(&self, work: impl FnOnce(&mut Grants) -> R) -> R {
        work(&mut self.grants.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The simulator's clock, which OAuth tokens expire by.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.clock_ahead.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the simulator's clock ahead, so that access tokens expire.
    pub fn advance_clock(&self, by: Duration) {
        *self.clock_ahead.lock().unwrap_or_else(|e| e.into_inner()) +=
            chrono::Duration::from_std(by).unwrap_or_default();
    }

    /// Where it is served, the `api_domain` of its OAuth installs.
    pub fn base_url(&self) -> String {
        self.base_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_base_url(&self, url: String) {
        *self.base_url.lock().unwrap_or_else(|e| e.into_inner()) = url;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a request and judges it: an injected fault `(status, None)`, or the rate
    /// limits' verdict (refused or not; its headers go on the answer).
    pub fn admit(&self, method: &str, route: &str) -> Result<Option<Verdict>, u16> {
        let mut state = self.state();
        *state
            .stats
            .requests
            .entry(format!("{method} {route}"))
            .or_default() += 1;
        if state.faults.fail_next > 0 {
            state.faults.fail_next -= 1;
            return Err(state.faults.status);
        }
        if state.faults.rate_limit_next > 0 {
            state.faults.rate_limit_next -= 1;
            state.stats.rate_limited += 1;
            return Ok(Some(Verdict {
                limit: self.config.requests_per_two_seconds,
                remaining: 0,
                reset_secs: 1,
                daily_left: 1,
                refused: true,
            }));
        }
        let cost = super::budget::cost(method, route);
        let verdict = state
            .budget
            .admit(cost, tokio::time::Instant::now(), Utc::now());
        if verdict.refused {
            state.stats.rate_limited += 1;
        }
        state.stats.tokens_spent = state.budget.spent_today();
        Ok(Some(verdict))
    }

    pub fn stats(&self) -> Stats {
        self.state().stats.clone()
    }

    pub fn count_unauthorized(&self) {
        self.state().stats.unauthorized += 1;
    }

    pub fn reset_stats(&self) {
        let mut state = self.state();
        let tokens_spent = state.stats.tokens_spent;
        state.stats = Stats {
            tokens_spent,
            ..Stats::default()
        };
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.iter().cloned().collect()
    }

    pub fn live_count(&self) -> usize {
        self.state().persons.values().filter(|p| !p.deleted).count()
    }

    /// Adds generated people as persons, as an import would (no webhooks).
    pub fn seed(&self, seed: u64, start: u64, count: u64) -> Vec<u64> {
        let mut state = self.state();
        let now = Utc::now();
        people(seed, start, count)
            .map(|person| {
                let id = state.next_id;
                state.next_id += 1;
                let items = |values: Vec<String>, label: &str| {
                    values
                        .into_iter()
                        .enumerate()
                        .map(|(n, value)| Item {
                            value,
                            primary: n == 0,
                            label: Some(if n == 0 { label } else { "other" }.to_owned()),
                        })
                        .collect()
                };
                let name = person.full_name();
                let stored = StoredPerson {
                    id,
                    name: if name.is_empty() {
                        format!("Person {id}")
                    } else {
                        name
                    },
                    emails: items(person.emails, "work"),
                    phones: items(person.numbers, "mobile"),
                    custom: BTreeMap::new(),
                    deleted: false,
                    add_time: now,
                    update_time: now,
                };
                state.persons.insert(id, stored);
                state.recents.push((now, id));
                id
            })
            .collect()
    }

    /// Erases the persons deleted more than 30 days ago by the simulator's clock, as Pipedrive
    /// does.
    fn purge_erased(&self, state: &mut State) {
        let cutoff = self.now() - chrono::Duration::days(ERASED_AFTER_DAYS);
        state
            .persons
            .retain(|_, p| !(p.deleted && p.update_time < cutoff));
        let persons = &state.persons;
        state.recents.retain(|(_, id)| persons.contains_key(id));
    }

    /// A person as the v2 API shows it (deleted ones too); `keys` limits the custom fields.
    pub fn person_json(&self, id: u64, keys: Option<&[String]>) -> Option<Value> {
        let mut state = self.state();
        self.purge_erased(&mut state);
        state
            .persons
            .get(&id)
            .map(|p| v2_json(p, &state.fields, keys, self.config.user_id))
    }

    /// Live persons in id order after `after`, at most `limit`, among `ids` when given; and
    /// whether more follow.
    pub fn page(
        &self,
        after: u64,
        limit: usize,
        ids: Option<&[u64]>,
        keys: Option<&[String]>,
    ) -> (Vec<Value>, Option<u64>) {
        let state = self.state();
        let mut matching = state
            .persons
            .range(after + 1..)
            .map(|(_, p)| p)
            .filter(|p| !p.deleted && ids.is_none_or(|ids| ids.contains(&p.id)));
        let page: Vec<&StoredPerson> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        let next = page.last().filter(|_| more).map(|p| p.id);
        let json = page
            .into_iter()
            .map(|p| v2_json(p, &state.fields, keys, self.config.user_id))
            .collect();
        (json, next)
    }

    /// Live persons whose `fields` hold `term`: exactly (ignoring case) or as a part.
    pub fn search(&self, term: &str, fields: &[String], exact: bool) -> Vec<Value> {
        let state = self.state();
        let term = term.to_lowercase();
        let hit = |value: &str| {
            let value = value.to_lowercase();
            if exact {
                value == term
            } else {
                value.contains(&term)
            }
        };
        let searches = |name: &str| fields.is_empty() || fields.iter().any(|f| f == name);
        state
            .persons
            .values()
            .filter(|p| !p.deleted)
            .filter_map(|p| {
                let custom: Vec<String> = p
                    .custom
                    .values()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .filter(|v| hit(v))
                    .collect();
                let found = (searches("name") && hit(&p.name))
                    || (searches("email") && p.emails.iter().any(|e| hit(&e.value)))
                    || (searches("phone") && p.phones.iter().any(|e| hit(&e.value)))
                    || (searches("custom_fields") && !custom.is_empty());
                found.then(|| {
                    json!({"result_score": 1.0, "item": {
                        "id": p.id, "type": "person", "name": p.name,
                        "emails": p.emails.iter().map(|e| &e.value).collect::<Vec<_>>(),
                        "phones": p.phones.iter().map(|e| &e.value).collect::<Vec<_>>(),
                        "custom_fields": custom,
                    }})
                })
            })
            .collect()
    }

    /// Creates a person from a v2 write body.
    pub fn create(&self, body: &Value, actor: Actor) -> Result<Value, Refusal> {
        let mut state = self.state();
        let now = Utc::now();
        let id = state.next_id;
        let mut person = StoredPerson {
            id,
            name: String::new(),
            emails: Vec::new(),
            phones: Vec::new(),
            custom: BTreeMap::new(),
            deleted: false,
            add_time: now,
            update_time: now,
        };
        apply_body(&mut person, body, &state.fields)?;
        if person.name.trim().is_empty() {
            return Err(Refusal::invalid("Validation failed: name: is required"));
        }
        state.next_id += 1;
        state.persons.insert(id, person.clone());
        state.recents.push((now, id));
        self.notify(&mut state, "create", &person, None, actor, None);
        Ok(v2_json(&person, &state.fields, None, self.config.user_id))
    }

    /// Changes a live person's fields from a v2 write body.
    pub fn update(&self, id: u64, body: &Value, actor: Actor) -> Result<Value, Refusal> {
        let mut state = self.state();
        let before = match state.persons.get(&id) {
            Some(person) if !person.deleted => person.clone(),
            _ => return Err(Refusal::not_found("Person")),
        };
        let mut after = before.clone();
        apply_body(&mut after, body, &state.fields)?;
        if after.name.trim().is_empty() {
            return Err(Refusal::invalid(
                "Validation failed: name: must not be empty",
            ));
        }
        let previous = previous_of(&before, &after);
        if previous.is_empty() {
            return Ok(v2_json(&before, &state.fields, None, self.config.user_id));
        }
        after.update_time = Utc::now();
        state.persons.insert(id, after.clone());
        state.recents.push((after.update_time, id));
        self.notify(&mut state, "change", &after, Some(previous), actor, None);
        Ok(v2_json(&after, &state.fields, None, self.config.user_id))
    }

    /// Marks a live person deleted.
    pub fn delete(&self, id: u64, actor: Actor) -> Result<(), Refusal> {
        self.delete_into(id, actor, None)
    }

    fn delete_into(&self, id: u64, actor: Actor, merged_to: Option<u64>) -> Result<(), Refusal> {
        let mut state = self.state();
        let person = match state.persons.get_mut(&id) {
            Some(person) if !person.deleted => person,
            _ => return Err(Refusal::not_found("Person")),
        };
        person.deleted = true;
        person.update_time = Utc::now();
        let person = person.clone();
        state.recents.push((person.update_time, id));
        self.notify(&mut state, "delete", &person, None, actor, merged_to);
        Ok(())
    }

    /// Merges person `id` into `into`, as the web app does: `into` keeps its values and gains
    /// the other's emails, phones and the custom values it lacks; `id` is deleted.
    pub fn merge(&self, id: u64, into: u64) -> Result<(), Refusal> {
        if id == into {
            return Err(Refusal::invalid("a person cannot be merged into itself"));
        }
        let (gone, survivor) = {
            let state = self.state();
            let live = |id| state.persons.get(&id).filter(|p| !p.deleted).cloned();
            (
                live(id).ok_or_else(|| Refusal::not_found("Person"))?,
                live(into).ok_or_else(|| Refusal::not_found("Person"))?,
            )
        };
        let join = |mine: &[Item], theirs: &[Item]| {
            let mut all = mine.to_vec();
            for item in theirs {
                if !all.iter().any(|i| i.value == item.value) {
                    all.push(Item {
                        primary: false,
                        ..item.clone()
                    });
                }
            }
            serde_json::to_value(all).unwrap_or_default()
        };
        let mut custom = Map::new();
        for (key, value) in &gone.custom {
            if survivor.custom.get(key).is_none_or(Value::is_null) {
                custom.insert(key.clone(), value.clone());
            }
        }
        let body = json!({
            "emails": join(&survivor.emails, &gone.emails),
            "phones": join(&survivor.phones, &gone.phones),
            "custom_fields": custom,
        });
        self.delete_into(id, Actor::App(APP_USER), Some(into))?;
        self.update(into, &body, Actor::App(APP_USER)).map(|_| ())
    }

    /// Every person field, as v1 lists them.
    pub fn fields(&self) -> Vec<StoredField> {
        self.state().fields.clone()
    }

    /// Creates a custom field; its key is a generated 40-character hash.
    pub fn add_field(&self, name: &str, field_type: &str) -> Result<StoredField, Refusal> {
        if name.trim().is_empty() {
            return Err(Refusal::invalid("Field name is required"));
        }
        if !FIELD_TYPES.contains(&field_type) {
            return Err(Refusal::invalid(format!(
                "Field type `{field_type}` is not one of {}",
                FIELD_TYPES.join(", ")
            )));
        }
        let mut state = self.state();
        let id = state.next_field_id;
        state.next_field_id += 1;
        let digest = Sha256::digest(format!("{}:{id}:{name}", self.config.company_id));
        let field = StoredField {
            id,
            key: hex::encode(digest)[..40].to_owned(),
            name: name.to_owned(),
            field_type: field_type.to_owned(),
            edit_flag: true,
        };
        state.fields.push(field.clone());
        Ok(field)
    }

    /// The key of the custom field named `name`.
    pub fn field_key(&self, name: &str) -> Option<String> {
        (self.state().fields.iter())
            .find(|f| f.edit_flag && f.name == name)
            .map(|f| f.key.clone())
    }

    /// Persons changed since `since`, the latest change of each, as v1 recents, from `start`.
    pub fn recents(&self, since: DateTime<Utc>, start: usize, limit: usize) -> (Vec<Value>, bool) {
        let mut state = self.state();
        self.purge_erased(&mut state);
        let mut latest: Vec<(DateTime<Utc>, u64)> = Vec::new();
        for (at, id) in state.recents.iter().rev().filter(|(at, _)| *at >= since) {
            if !latest.iter().any(|(_, seen)| seen == id) {
                latest.push((*at, *id));
            }
        }
        latest.reverse();
        let page: Vec<Value> = latest
            .iter()
            .skip(start)
            .take(limit)
            .filter_map(|(_, id)| state.persons.get(id))
            .map(|p| json!({"item": "person", "id": p.id, "data": v1_json(p)}))
            .collect();
        let more = latest.len() > start + page.len();
        (page, more)
    }

    pub fn webhooks_json(&self) -> Vec<Value> {
        let state = self.state();
        state
            .webhooks
            .iter()
            .map(|h| h.json(self.config.company_id, self.config.user_id))
            .collect()
    }

    pub fn add_webhook(&self, hook: StoredWebhook) -> Value {
        let mut state = self.state();
        let hook = StoredWebhook {
            id: state.next_webhook_id,
            ..hook
        };
        state.next_webhook_id += 1;
        let json = hook.json(self.config.company_id, self.config.user_id);
        state.webhooks.push(hook);
        json
    }

    pub fn delete_webhook(&self, id: u64) -> bool {
        let mut state = self.state();
        let before = state.webhooks.len();
        state.webhooks.retain(|h| h.id != id);
        state.webhooks.len() != before
    }

    fn notify(
        &self,
        state: &mut State,
        action: &str,
        person: &StoredPerson,
        previous: Option<Map<String, Value>>,
        actor: Actor,
        merged_to: Option<u64>,
    ) {
        let targets: Vec<StoredWebhook> = state
            .webhooks
            .iter()
            .filter(|h| h.wants(action))
            .cloned()
            .collect();
        for hook in targets {
            state.next_event += 1;
            let (user, source) = match actor {
                Actor::Api => (self.config.user_id, API_SOURCE),
                Actor::App(user) => (user, APP_SOURCE),
            };
            let mut meta = json!({
                "action": action, "entity": "person", "entity_id": person.id.to_string(),
                "id": format!("00000000-0000-4000-8000-{:012}", state.next_event),
                "company_id": self.config.company_id.to_string(),
                "user_id": user.to_string(), "change_source": source,
                "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "attempt": 1, "webhook_id": hook.id.to_string(), "version": "2.0",
                "is_bulk_edit": false, "type": "general",
            });
            if let (Some(into), Some(meta)) = (merged_to, meta.as_object_mut()) {
                meta.insert("merged_to_id".to_owned(), into.to_string().into());
            }
            let data = (action != "delete")
                .then(|| v2_json(person, &state.fields, None, self.config.user_id));
            let body = json!({"meta": meta, "data": data, "previous": previous});
            let authorization = match (&hook.http_auth_user, &hook.http_auth_password) {
                (Some(user), Some(password)) => Some(basic_auth(user, password)),
                _ => None,
            };
            let _ = self.outbox.send(Outgoing {
                url: hook.subscription_url.clone(),
                authorization,
                body: serde_json::to_vec(&body).unwrap_or_default(),
            });
        }
    }

    fn delivered(&self, delivery: Delivery, ok: bool) {
        let mut state = self.state();
        if ok {
            state.stats.webhooks_delivered += 1;
        } else {
            state.stats.webhooks_failed += 1;
        }
        if state.deliveries.len() == DELIVERIES_KEPT {
            state.deliveries.pop_front();
        }
        state.deliveries.push_back(delivery);
    }
}

/// Posts each webhook request, until the simulator is gone.
pub async fn deliver(sim: Weak<Sim>, mut outbox: mpsc::UnboundedReceiver<Outgoing>) {
    let http = reqwest::Client::new();
    while let Some(outgoing) = outbox.recv().await {
        let Some(sim) = sim.upgrade() else {
            return;
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if let Some(value) = outgoing
            .authorization
            .as_deref()
            .and_then(|v| http::HeaderValue::from_str(v).ok())
        {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let sent_at = Utc::now();
        let sent = http
            .post(&outgoing.url)
            .headers(headers.clone())
            .body(outgoing.body.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let ok = sent.is_ok_and(|r| r.status().is_success());
        sim.delivered(
            Delivery {
                url: outgoing.url,
                headers,
                body: outgoing.body,
                sent_at,
            },
            ok,
        );
    }
}
