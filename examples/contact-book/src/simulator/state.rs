//! The simulated account: contacts, the webhook URL, faults, counts, the rate-limit window,
//! and the worker that delivers signed webhooks.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tte_sync_core::simulate::people;

use super::SimulatorConfig;
use crate::contact::Contact;
use crate::webhook::{API_ACTOR, Delivery, Event, SIGNATURE_HEADER, sign};

/// Injected failures: the next `fail_next` API requests answer `status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// How many API requests to fail.
    #[serde(default)]
    pub fail_next: u32,
    /// The status they get (default 503).
    #[serde(default = "default_fault_status")]
    pub status: u16,
}

fn default_fault_status() -> u16 {
    503
}

/// What the simulator counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// API requests by `METHOD route`.
    pub requests: BTreeMap<String, u64>,
    /// Requests refused with 429 (by the rate limit or an injected fault).
    pub rate_limited: u64,
    /// Webhook deliveries answered 2xx.
    pub webhooks_delivered: u64,
    /// Webhook deliveries refused or unanswered.
    pub webhooks_failed: u64,
}

/// Why a write was refused, as the API words it.
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
    pub existing_id: Option<String>,
}

impl Refusal {
    pub fn not_found(id: &str) -> Self {
        Self {
            status: 404,
            code: "not_found",
            message: format!("no contact {id}"),
            field: None,
            existing_id: None,
        }
    }
}

pub struct Sim {
    pub config: SimulatorConfig,
    state: Mutex<State>,
    outbox: mpsc::UnboundedSender<Vec<Event>>,
}

#[derive(Default)]
struct State {
    contacts: BTreeMap<u64, Contact>,
    next_id: u64,
    next_event: u64,
    webhook_url: Option<String>,
    faults: Faults,
    stats: Stats,
    window: VecDeque<Instant>,
}

/// Who made a change.
#[derive(Clone, Copy)]
pub enum Actor {
    Api,
    User(u64),
}

impl Sim {
    pub fn new(config: SimulatorConfig) -> (Self, mpsc::UnboundedReceiver<Vec<Event>>) {
        let (outbox, receiver) = mpsc::unbounded_channel();
        let sim = Self {
            config,
            state: Mutex::new(State {
                next_id: 1,
                ..State::default()
            }),
            outbox,
        };
        (sim, receiver)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an API request and says whether it is refused: `Some((status, retry_after))`.
    pub fn admit(&self, route: &str) -> Option<(u16, Option<u64>)> {
        let mut state = self.state();
        *state.stats.requests.entry(route.to_owned()).or_default() += 1;
        if state.faults.fail_next > 0 {
            state.faults.fail_next -= 1;
            let status = state.faults.status;
            if status == 429 {
                // A rate-limit answer says when to come back, as the real limit's do.
                state.stats.rate_limited += 1;
                return Some((status, Some(1)));
            }
            return Some((status, None));
        }
        let limit = self.config.rate_limit_per_ten_seconds?;
        let now = Instant::now();
        while state
            .window
            .front()
            .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(10))
        {
            state.window.pop_front();
        }
        if state.window.len() >= limit as usize {
            state.stats.rate_limited += 1;
            let oldest = state.window.front().copied().unwrap_or(now);
            let wait = Duration::from_secs(10).saturating_sub(now.duration_since(oldest));
            return Some((429, Some(wait.as_secs().max(1))));
        }
        state.window.push_back(now);
        None
    }

    pub fn seed(&self, seed: u64, start: u64, count: u64) -> Vec<u64> {
        let mut state = self.state();
        people(seed, start, count)
            .map(|person| {
                let id = state.next_id;
                state.next_id += 1;
                let contact = Contact {
                    id: id.to_string(),
                    first_name: person.first_name,
                    last_name: person.last_name,
                    // The app refuses an invalid address, so a person typed the first valid one.
                    email: person
                        .emails
                        .into_iter()
                        .find(|email| valid_email(email))
                        .unwrap_or_default(),
                    phones: person.numbers,
                    updated_at: Some(Utc::now()),
                    ..Contact::default()
                };
                state.contacts.insert(id, contact);
                id
            })
            .collect()
    }

    pub fn live_count(&self) -> usize {
        self.state()
            .contacts
            .values()
            .filter(|c| !c.archived)
            .count()
    }

    pub fn stats(&self) -> Stats {
        self.state().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.state().stats = Stats::default();
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    pub fn webhook_url(&self) -> Option<String> {
        self.state().webhook_url.clone()
    }

    pub fn set_webhook_url(&self, url: String) {
        self.state().webhook_url = Some(url);
    }

    pub fn get(&self, id: &str) -> Option<Contact> {
        let id: u64 = id.parse().ok()?;
        self.state().contacts.get(&id).cloned()
    }

    /// One page of contacts in id order, after the filters; and how many match in all.
    pub fn page(
        &self,
        archived: bool,
        filter: impl Fn(&Contact) -> bool,
        offset: usize,
        limit: usize,
    ) -> (Vec<Contact>, usize) {
        let state = self.state();
        let matching: Vec<&Contact> = state
            .contacts
            .values()
            .filter(|c| c.archived == archived && filter(c))
            .collect();
        let page = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|c| (*c).clone());
        (page.collect(), matching.len())
    }

    /// Creates a contact from `fields` (already checked for shape).
    pub fn create(&self, fields: &Fields, actor: Actor) -> Result<Contact, Refusal> {
        let mut state = self.state();
        let mut contact = Contact::default();
        fields.apply_to(&mut contact)?;
        check_unique(&state, &contact, None)?;
        let id = state.next_id;
        state.next_id += 1;
        contact.id = id.to_string();
        contact.updated_at = Some(Utc::now());
        state.contacts.insert(id, contact.clone());
        let changed = fields.names();
        self.notify(&mut state, "contact.created", &contact.id, changed, actor);
        Ok(contact)
    }

    /// Changes the given fields of a live contact.
    pub fn update(&self, id: &str, fields: &Fields, actor: Actor) -> Result<Contact, Refusal> {
        let mut state = self.state();
        let key: u64 = id.parse().map_err(|_| Refusal::not_found(id))?;
        let mut contact = match state.contacts.get(&key) {
            Some(contact) if !contact.archived => contact.clone(),
            _ => return Err(Refusal::not_found(id)),
        };
        let before = contact.clone();
        fields.apply_to(&mut contact)?;
        check_unique(&state, &contact, Some(key))?;
        let changed: Vec<String> = changed_fields(&before, &contact);
        if changed.is_empty() {
            return Ok(before);
        }
        contact.updated_at = Some(Utc::now());
        state.contacts.insert(key, contact.clone());
        self.notify(&mut state, "contact.updated", id, changed, actor);
        Ok(contact)
    }

    /// Archives a contact (again is fine).
    pub fn archive(&self, id: &str, actor: Actor) -> Result<(), Refusal> {
        let mut state = self.state();
        let key: u64 = id.parse().map_err(|_| Refusal::not_found(id))?;
        let contact = state
            .contacts
            .get_mut(&key)
            .ok_or_else(|| Refusal::not_found(id))?;
        if contact.archived {
            return Ok(());
        }
        contact.archived = true;
        contact.updated_at = Some(Utc::now());
        self.notify(&mut state, "contact.archived", id, Vec::new(), actor);
        Ok(())
    }

    fn notify(&self, state: &mut State, kind: &str, id: &str, changed: Vec<String>, actor: Actor) {
        if state.webhook_url.is_none() {
            return;
        }
        state.next_event += 1;
        let event = Event {
            id: format!("evt-{}", state.next_event),
            kind: kind.to_owned(),
            contact_id: id.to_owned(),
            changed,
            occurred_at: Utc::now(),
            actor: match actor {
                Actor::Api => API_ACTOR.to_owned(),
                Actor::User(user) => format!("user:{user}"),
            },
        };
        let _ = self.outbox.send(vec![event]);
    }

    fn count_delivery(&self, delivered: bool) {
        let mut state = self.state();
        if delivered {
            state.stats.webhooks_delivered += 1;
        } else {
            state.stats.webhooks_failed += 1;
        }
    }
}

/// The writable fields of a create or update body; absent ones are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phones: Option<Vec<String>>,
    external_ref: Option<String>,
    sync_note: Option<String>,
}

impl Fields {
    fn apply_to(&self, contact: &mut Contact) -> Result<(), Refusal> {
        let email = self.email.as_deref().unwrap_or_default();
        if !email.is_empty() && !valid_email(email) {
            return Err(Refusal {
                status: 400,
                code: "invalid",
                message: format!("`{email}` is not an email address"),
                field: Some("email"),
                existing_id: None,
            });
        }
        let set = |target: &mut String, value: &Option<String>| {
            if let Some(value) = value {
                target.clone_from(value);
            }
        };
        set(&mut contact.first_name, &self.first_name);
        set(&mut contact.last_name, &self.last_name);
        set(&mut contact.email, &self.email);
        set(&mut contact.external_ref, &self.external_ref);
        set(&mut contact.sync_note, &self.sync_note);
        if let Some(phones) = &self.phones {
            contact.phones.clone_from(phones);
        }
        Ok(())
    }

    fn names(&self) -> Vec<String> {
        [
            ("first_name", self.first_name.is_some()),
            ("last_name", self.last_name.is_some()),
            ("email", self.email.is_some()),
            ("phones", self.phones.is_some()),
            ("external_ref", self.external_ref.is_some()),
            ("sync_note", self.sync_note.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| name.to_owned())
        .collect()
    }
}

/// Contact Book's email rule (`API.md`): the same as the mapping's `email` validator.
fn valid_email(email: &str) -> bool {
    tte_sync_core::mapping::valid_email(email)
}

fn check_unique(state: &State, contact: &Contact, except: Option<u64>) -> Result<(), Refusal> {
    if contact.external_ref.is_empty() {
        return Ok(());
    }
    let holder = state.contacts.iter().find(|(id, other)| {
        Some(**id) != except && !other.archived && other.external_ref == contact.external_ref
    });
    match holder {
        Some((id, _)) => Err(Refusal {
            status: 409,
            code: "duplicate",
            message: format!("contact {id} already has this external_ref"),
            field: Some("external_ref"),
            existing_id: Some(id.to_string()),
        }),
        None => Ok(()),
    }
}

fn changed_fields(before: &Contact, after: &Contact) -> Vec<String> {
    [
        ("first_name", before.first_name != after.first_name),
        ("last_name", before.last_name != after.last_name),
        ("email", before.email != after.email),
        ("phones", before.phones != after.phones),
        ("external_ref", before.external_ref != after.external_ref),
        ("sync_note", before.sync_note != after.sync_note),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(name, _)| name.to_owned())
    .collect()
}

/// Posts each batch of events to the webhook URL, signed, until the simulator is gone.
pub async fn deliver(sim: Weak<Sim>, mut outbox: mpsc::UnboundedReceiver<Vec<Event>>) {
    let http = reqwest::Client::new();
    while let Some(events) = outbox.recv().await {
        let Some(sim) = sim.upgrade() else {
            return;
        };
        let Some(url) = sim.webhook_url() else {
            continue;
        };
        let body = serde_json::to_vec(&Delivery {
            sent_at: Utc::now(),
            events,
        })
        .unwrap_or_default();
        let signature = sign(&sim.config.webhook_secret, &body);
        let sent = http
            .post(url)
            .header(SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        sim.count_delivery(sent.is_ok_and(|r| r.status().is_success()));
    }
}
