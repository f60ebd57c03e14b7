//! Live processing of inbox items (CRM events, 10to8 notifications), in batches.
//!
//! A batch is claimed from the store (already coalesced per object, leased so no two workers
//! hold one object), merges re-point links, and the touched objects plus their linked partners
//! are re-fetched in batch (10to8 one GET per customer, the CRM one batch read). The same
//! pairing, planning and writing as a full pass then runs over just those objects, so live and
//! full passes can never disagree. Events caused by our own writes are dropped early by the
//! webhook receiver where the source says so (the event names who made it); any that
//! get through re-fetch a pair that equals its snapshots and write nothing.
//!
//! Matching by email in a live batch sees only the CRM (10to8 cannot be searched): a CRM that
//! keeps emails unique refuses the duplicate, so a customer's create that collides links to
//! the existing record; on any other CRM the batch first looks its new customers up by the
//! first match rule ([`CrmConnector::find`](crate::connector::CrmConnector::find)). So a
//! record new in the CRM waits a moment (`NEW_RECORD_SETTLE`) before a customer is created
//! for it: if the same person was just created in 10to8, that customer's notification comes
//! meanwhile and its create, or the lookup before it, links the two. A collision with a record
//! already linked to another customer is that customer's failure, with a message saying so.
//! A record a full pass held as a possible duplicate is never created by a live batch (which
//! sees only part of each side), nor one with no value of the first match rule (no email the
//! other side could collide on): the next full pass, which sees both sides whole, decides
//! them by every rule.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use serde::Serialize;
use tracing::{debug, warn};

use super::lock::{Claimant, SyncLock};
use super::reconcile::{HUB_CONCURRENCY, ReconcileOptions, Sides, Synced};
use super::summary::Summary;
use super::sweep::Backlog;
use super::turns::Turns;
use super::{Engine, EngineError, StallCause};
use crate::connector::{ChangeEvent, ChangeKind, ErrorKind};
use crate::mapping::Key;
use crate::record::{CrmId, CrmRecord, Customer, CustomerUri};
use crate::store::{Change, Enqueue, Enqueued, InboxItem, Link, ObjectRef, Side};

/// Items claimed per batch.
pub const LIVE_BATCH: u32 = 100;
/// How long a claim holds its items.
pub(super) const LEASE: Duration = Duration::from_secs(120);
/// The first retry of a failed batch waits this long, doubling per attempt.
const RETRY_BASE: Duration = Duration::from_secs(2);
/// The longest wait before a retry.
const RETRY_MAX: Duration = Duration::from_secs(600);
/// How long a record new in the CRM waits, by default, before a 10to8 customer is created for
/// it: the same person may just have been created in 10to8 too, and 10to8's notification be
/// on its way. When it comes first, the customer's create in the CRM finds the record by email
/// and links them instead of a duplicate customer being made.
pub const NEW_RECORD_SETTLE: Duration = Duration::from_secs(10);

/// What live processing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LiveSummary {
    /// Inbox items processed.
    pub processed: u64,
    /// Items that failed and will be retried or were dead-lettered.
    pub failed: u64,
    /// Items put back to wait: records new in the CRM wait a moment before a customer is
    /// created for them ([`Engine::with_new_record_settle`]).
    pub held: u64,
    /// The writes, per direction.
    pub sync: Summary,
    /// For each item processed without failure: how long from its oldest change (when the
    /// source said it happened, else when it arrived) until it was done — the end-to-end lag.
    pub lags: Vec<Duration>,
}

impl LiveSummary {
    pub(super) fn add(&mut self, other: &LiveSummary) {
        self.processed += other.processed;
        self.failed += other.failed;
        self.held += other.held;
        self.lags.extend_from_slice(&other.lags);
        for (total, part) in [
            (&mut self.sync.to_crm, other.sync.to_crm),
            (&mut self.sync.to_hub, other.sync.to_hub),
        ] {
            total.created += part.created;
            total.updated += part.updated;
            total.linked += part.linked;
            total.unchanged += part.unchanged;
            total.conflicts += part.conflicts;
            total.failed += part.failed;
            total.deleted += part.deleted;
        }
        self.sync.delete_blocked += other.sync.delete_blocked;
        self.sync
            .ambiguous
            .extend(other.sync.ambiguous.iter().cloned());
    }
}

/// The inbox change kind of a 10to8 notification (which says only "something changed").
const HUB_CHANGED: &str = "changed";

/// The inbox change kind of a CRM event.
fn kind_name(kind: &ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Created => "created",
        ChangeKind::PropertyChanged => "property_changed",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Restored => "restored",
        ChangeKind::Merged { .. } => "merged",
        ChangeKind::PrivacyDeleted => "privacy_deleted",
    }
}

impl Engine {
    /// Queues the customers a 10to8 notification names, due now.
    ///
    /// # Errors
    /// Fails when the store cannot be written (answer the notification with an error so that
    /// 10to8 sends it again).
    pub async fn enqueue_hub_changes(&self, uris: &[CustomerUri]) -> Result<Enqueued, EngineError> {
        let now = Utc::now();
        let items = uris
            .iter()
            .map(|uri| Enqueue {
                object: ObjectRef::hub(self.connector(), uri.as_str()),
                change: Change::new(HUB_CHANGED).with_occurred_at(now),
                due_at: now,
            })
            .collect();
        Ok(self.store.enqueue(items).await?)
    }

    /// Queues CRM events, due now, dropping those the connector recognises as our own writes.
    /// Returns what was queued and how many echoes were dropped.
    ///
    /// # Errors
    /// Fails when the store cannot be written (answer the webhook with an error so that the
    /// CRM sends it again).
    pub async fn enqueue_crm_events(
        &self,
        events: &[ChangeEvent],
    ) -> Result<(Enqueued, u64), EngineError> {
        let receiver = self.crm.webhooks();
        let mut dropped = 0;
        let mut items = Vec::new();
        for event in events {
            if receiver.is_some_and(|r| r.is_own_echo(event)) {
                dropped += 1;
                continue;
            }
            let mut change =
                Change::new(kind_name(&event.kind)).with_occurred_at(event.occurred_at);
            if let Some(property) = &event.property {
                change = change.with_property(property.clone());
            }
            if let ChangeKind::Merged { merged_ids } = &event.kind {
                change = change.with_merged(merged_ids.iter().map(|id| id.as_str().to_owned()));
            }
            items.push(Enqueue {
                object: ObjectRef::crm(self.connector(), event.object_id.as_str()),
                change,
                due_at: Utc::now(),
            });
        }
        debug!(queued = items.len(), dropped, "Queued CRM events.");
        Ok((self.store.enqueue(items).await?, dropped))
    }

    /// Claims one batch of due inbox items as `worker` and processes it.
    ///
    /// # Errors
    /// Fails only when the store cannot be used; a batch whose objects cannot be fetched or
    /// written is put back for a retry with backoff (or dead-lettered after the last attempt).
    pub async fn process_inbox(&self, worker: &str) -> Result<LiveSummary, EngineError> {
        if !self.store.has_ready().await? {
            return Ok(LiveSummary::default());
        }
        self.restore_pace().await;
        match self.hub_backlog().await? {
            Backlog::Small => {}
            Backlog::List => {
                if let Some(summary) = self.sweep_hub_backlog(worker).await? {
                    return Ok(summary);
                }
            }
            // The pass writes on and each write is notified: list them once it is done. (Not
            // CRM changes alone meanwhile: a record new in the CRM must see the notification
            // of the same person new in 10to8 first, or it would make a second customer.)
            Backlog::AfterThePass => {}
        }
        let lock = SyncLock::acquire(&self.store, self.connector(), Claimant::Live).await?;
        let summary = self.process_batch(worker, &lock).await;
        lock.release().await;
        self.save_pace(false).await;
        summary
    }

    /// Claims and processes one batch of due items.
    pub(super) async fn process_batch(
        &self,
        worker: &str,
        lock: &SyncLock,
    ) -> Result<LiveSummary, EngineError> {
        let items = self.store.claim(worker, LIVE_BATCH, LEASE).await?;
        if items.is_empty() {
            return Ok(LiveSummary::default());
        }
        let objects = batch_objects(&items);
        debug!(worker, items = items.len(), objects, "Live batch started.");
        let result = self.process_items(&items, lock, &HashMap::new()).await;
        let summary = self.settle(&items, result).await?;
        debug!(
            worker,
            items = items.len(),
            objects,
            failed = summary.failed,
            "Live batch finished."
        );
        Ok(summary)
    }

    /// Completes, postpones or fails a batch's items by how processing them went.
    pub(super) async fn settle(
        &self,
        items: &[InboxItem],
        result: Result<Synced, EngineError>,
    ) -> Result<LiveSummary, EngineError> {
        let mut summary = LiveSummary {
            processed: items.len() as u64,
            ..LiveSummary::default()
        };
        match result {
            Ok(synced) => {
                summary.sync = synced.summary;
                let held: HashMap<&str, DateTime<Utc>> = synced
                    .held
                    .iter()
                    .map(|(id, until)| (id.as_str(), *until))
                    .collect();
                let done = Utc::now();
                for item in items {
                    let until = (item.object.side == Side::Crm)
                        .then(|| held.get(item.object.object_id.as_str()))
                        .flatten();
                    if let Some(until) = until {
                        self.store.postpone(item, *until).await?;
                        summary.held += 1;
                        continue;
                    }
                    self.store.complete(item).await?;
                    let since = item.change.occurred_at.unwrap_or(item.enqueued_at);
                    summary
                        .lags
                        .push((done - since).to_std().unwrap_or_default());
                }
            }
            Err(error) if credentials_refused(&error) => {
                // Nothing is wrong with these records: the credentials are (revoked, wrong,
                // missing a scope), or the CRM's setup is (see `systemic`). Hold them,
                // uncounted, until a person fixes that.
                warn!(items = items.len(), %error, "Live batch refused for a cause all its records share (credentials, setup); holding the changes until it is fixed.");
                let until = Utc::now() + CREDENTIALS_HOLD;
                for item in items {
                    self.store.postpone(item, until).await?;
                    summary.held += 1;
                }
            }
            Err(EngineError::Stalled(stalled)) => {
                // An API throttled or was down beyond the stall budget, or its daily limit is
                // spent: no fault of these changes, so they go back to the inbox, uncounted,
                // instead of nearing the dead letters.
                let hold = if stalled.cause == StallCause::DailyLimit {
                    DAILY_LIMIT_HOLD
                } else {
                    backoff(0)
                };
                let until = Utc::now() + hold;
                warn!(items = items.len(), error = %stalled, %until, "Live batch stopped: an API is throttling, down or out of its daily budget; the changes are back in the inbox.");
                for item in items {
                    self.store.postpone(item, until).await?;
                    summary.held += 1;
                }
            }
            Err(error) => {
                warn!(items = items.len(), %error, "Live batch failed; retrying later.");
                // A refusal by an API fails the same way again; anything else (the store, the
                // lock) may pass.
                let retryable = !matches!(error, EngineError::Tte(_) | EngineError::Crm(_));
                let message = error.to_string();
                for item in items {
                    let retry_at = retryable.then(|| Utc::now() + backoff(item.attempts));
                    self.store.fail(item, &message, retry_at).await?;
                    summary.failed += 1;
                }
            }
        }
        Ok(summary)
    }

    /// Processes inbox batches until no item is due.
    ///
    /// # Errors
    /// Fails when the store cannot be used.
    pub async fn drain_inbox(&self) -> Result<LiveSummary, EngineError> {
        let worker = format!("drain-{}", std::process::id());
        let mut total = LiveSummary::default();
        loop {
            let batch = self.process_inbox(&worker).await?;
            if batch.processed == 0 {
                return Ok(total);
            }
            total.add(&batch);
            if batch.failed == batch.processed {
                // Everything failed and waits for its retry time; do not spin.
                return Ok(total);
            }
        }
    }

    /// Processes `items`: re-fetches the touched objects and their partners (10to8 customers
    /// found in `listed`, read by listing, are not fetched again) and syncs them.
    pub(super) async fn process_items(
        &self,
        items: &[InboxItem],
        lock: &SyncLock,
        listed: &HashMap<String, Customer>,
    ) -> Result<Synced, EngineError> {
        let connector = self.connector();
        let mut uris: BTreeSet<CustomerUri> = BTreeSet::new();
        let mut ids: BTreeSet<CrmId> = BTreeSet::new();
        let mut hub_times = HashMap::new();
        let mut hold_creates = HashMap::new();
        let settle = chrono::Duration::from_std(self.new_record_settle).unwrap_or_default();
        for item in items {
            match item.object.side {
                Side::Hub => {
                    let uri = CustomerUri(item.object.object_id.clone());
                    hub_times.insert(
                        uri.as_str().to_owned(),
                        item.change.occurred_at.unwrap_or(item.enqueued_at),
                    );
                    uris.insert(uri);
                }
                Side::Crm => {
                    let id = CrmId(item.object.object_id.clone());
                    if !item.change.merged_ids.is_empty() {
                        let from: Vec<CrmId> =
                            item.change.merged_ids.iter().cloned().map(CrmId).collect();
                        let repointed = self.store.repoint_crm(connector, &from, &id).await?;
                        debug!(record = %id, unlinked = repointed.unlinked.len(), "Re-pointed links after a CRM merge.");
                        uris.extend(repointed.unlinked.into_iter().map(|l| l.hub_uri));
                    }
                    hold_creates.insert(id.clone(), item.enqueued_at + settle);
                    ids.insert(id);
                }
            }
        }

        // The linked partners of every touched object.
        let mut links: HashMap<String, Link> = HashMap::new();
        let by_hub = self
            .store
            .links_by_hub(connector, &uris.iter().cloned().collect::<Vec<_>>())
            .await?;
        let by_crm = self
            .store
            .links_by_crm(connector, &ids.iter().cloned().collect::<Vec<_>>())
            .await?;
        for link in by_hub.into_iter().chain(by_crm) {
            uris.insert(link.hub_uri.clone());
            ids.insert(link.crm_id.clone());
            links.insert(link.hub_uri.as_str().to_owned(), link);
        }

        let mut customers = self.fetch_customers(&uris, listed).await?;
        // Unlinked customers naming an unlinked record (External ID) bring it along.
        let identity = self.mapping.identity().clone();
        let mut named: Vec<CrmId> = Vec::new();
        for customer in &customers {
            if links.contains_key(&customer.resource_uri) {
                continue;
            }
            named.extend(
                (identity.named_crm_ids(customer))
                    .map(CrmId::from)
                    .filter(|id| !ids.contains(id)),
            );
        }
        let taken = self.store.links_by_crm(connector, &named).await?;
        named.retain(|id| !taken.iter().any(|l| &l.crm_id == id));
        ids.extend(named);

        let id_list: Vec<CrmId> = ids.iter().cloned().collect();
        let mut records = HashMap::new();
        for chunk in id_list.chunks(self.round()) {
            let found = self.crm.read(chunk, self.mapping.crm_properties()).await?;
            for record in found.into_iter().flatten() {
                records.insert(record.id.clone(), record);
            }
        }
        // Unlinked records naming an unlinked customer bring it along.
        let mut more: BTreeSet<CustomerUri> = BTreeSet::new();
        for record in records.values() {
            if links.values().any(|l| l.crm_id == record.id) {
                continue;
            }
            let uri = record.property(&identity.hub_id_property);
            if !uri.is_empty() && !uris.contains(&CustomerUri::from(uri)) {
                more.insert(CustomerUri::from(uri));
            }
        }
        let taken = self
            .store
            .links_by_hub(connector, &more.iter().cloned().collect::<Vec<_>>())
            .await?;
        more.retain(|uri| !taken.iter().any(|l| &l.hub_uri == uri));
        customers.extend(self.fetch_customers(&more, listed).await?);
        let found_held = self
            .look_up_new_customers(&customers, &links, &mut records)
            .await?;

        let sides = Sides {
            customers,
            records,
            links,
            hub_times,
            archived: None,
            hold_creates,
            apart: self.kept_apart().await?,
            held_back: HashSet::new(),
        };
        let mut held_back = self.held_back(&sides).await?;
        held_back.extend(found_held);
        let sides = Sides { held_back, ..sides };
        self.sync_sides(&sides, &ReconcileOptions::default(), Turns::Held(lock))
            .await
    }

    /// On a CRM that does not keep emails unique, looks the batch's unlinked customers up by
    /// the first match rule, so that a person new on both sides at once (their record waiting
    /// out its settle time, or its event not come yet) is linked, not created twice. The
    /// records found join the batch, never to be created in 10to8 by it; a customer whose
    /// values sit on a record linked to someone else is held back too (the next full pass
    /// decides it). Returns what the batch must not create.
    async fn look_up_new_customers(
        &self,
        customers: &[Customer],
        links: &HashMap<String, Link>,
        records: &mut HashMap<CrmId, CrmRecord>,
    ) -> Result<Vec<ObjectRef>, EngineError> {
        let connector = self.connector();
        let identity = self.mapping.identity();
        let Some(first) = identity.match_rules.first() else {
            return Ok(Vec::new());
        };
        if self.crm.write_abilities().unique_emails && first.keys() == [Key::Email] {
            // The CRM refuses the duplicate create and names the record: the create links.
            return Ok(Vec::new());
        }
        let Some(property) = self.mapping.first_rule_property() else {
            return Ok(Vec::new());
        };
        let named: HashSet<&str> = (records.values())
            .map(|r| r.property(&identity.hub_id_property))
            .collect();
        let mut values: Vec<String> = Vec::new();
        let mut looked_up: Vec<&Customer> = Vec::new();
        for customer in customers {
            let uri = customer.resource_uri.as_str();
            if links.contains_key(uri) || named.contains(uri) {
                continue;
            }
            let customer_values = self.mapping.first_rule_values(customer);
            if !customer_values.is_empty() {
                values.extend(customer_values);
                looked_up.push(customer);
            }
        }
        if values.is_empty() {
            return Ok(Vec::new());
        }
        values.sort();
        values.dedup();
        let found: Vec<CrmRecord> = (self.crm)
            .find(property, &values, self.mapping.crm_properties())
            .await?
            .into_iter()
            .filter(|r| !records.contains_key(&r.id))
            .collect();
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<CrmId> = found.iter().map(|r| r.id.clone()).collect();
        let linked: HashSet<CrmId> = (self.store.links_by_crm(connector, &ids).await?)
            .into_iter()
            .map(|l| l.crm_id)
            .collect();
        let fitting: Vec<(HashSet<String>, &Customer)> = (looked_up.into_iter())
            .map(|c| {
                let keys = self.mapping.hub_keys(c);
                let tuples = keys.tuples(first).into_iter().map(|t| t.into_owned());
                (tuples.collect(), c)
            })
            .collect();
        let mut held = Vec::new();
        for record in found {
            let keys = self.mapping.crm_keys(&record);
            let tuples = keys.tuples(first);
            let mut fits = fitting
                .iter()
                .filter(|(of, _)| tuples.iter().any(|t| of.contains(t.as_ref())))
                .map(|(_, c)| c)
                .peekable();
            if fits.peek().is_none() {
                continue;
            }
            if linked.contains(&record.id) {
                held.extend(fits.map(|c| ObjectRef::hub(connector, &c.resource_uri)));
            } else {
                debug!(record = %record.id, "A new customer's values are on an unlinked CRM record; pairing them in this batch.");
                held.push(ObjectRef::crm(connector, record.id.as_str()));
                records.insert(record.id.clone(), record);
            }
        }
        Ok(held)
    }

    /// What a live batch must not create: what a full pass held as a possible duplicate, and
    /// what holds no value of the first match rule's keys (a batch sees only part of each side,
    /// and only the first rule's values — an email — can be checked by the other side when
    /// the record is created there). The next full pass, which sees both sides whole, decides
    /// those.
    async fn held_back(&self, sides: &Sides) -> Result<HashSet<ObjectRef>, EngineError> {
        let connector = self.connector();
        let mut held: HashSet<ObjectRef> = self
            .store
            .objects_with_reason(connector, crate::store::Reason::PossibleDuplicate)
            .await?
            .into_iter()
            .collect();
        let Some(first) = self.mapping.identity().match_rules.first() else {
            return Ok(held);
        };
        for customer in &sides.customers {
            if self.mapping.hub_keys(customer).tuples(first).is_empty() {
                held.insert(ObjectRef::hub(connector, &customer.resource_uri));
            }
        }
        for (id, record) in &sides.records {
            if self.mapping.crm_keys(record).tuples(first).is_empty() {
                held.insert(ObjectRef::crm(connector, id.as_str()));
            }
        }
        Ok(held)
    }

    /// The live customers among `uris` (a 404 means deleted, and leaves it out), taken from
    /// `listed` when there, else fetched one GET each.
    async fn fetch_customers(
        &self,
        uris: &BTreeSet<CustomerUri>,
        listed: &HashMap<String, Customer>,
    ) -> Result<Vec<Customer>, EngineError> {
        let tte = &self.tte;
        let mut customers: Vec<Customer> = Vec::new();
        let mut unlisted = Vec::new();
        for uri in uris {
            match listed.get(uri.as_str()) {
                Some(customer) => customers.push(customer.clone()),
                None => unlisted.push(uri),
            }
        }
        let fetched: Vec<_> = stream::iter(unlisted)
            .map(|uri| async move {
                match tte.get(uri).await {
                    Ok(found) => Ok(found),
                    Err(e) if *e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffered(HUB_CONCURRENCY)
            .collect()
            .await;
        for customer in fetched {
            if let Some(customer) = customer? {
                if !customer.deleted && !customer.resource_uri.is_empty() {
                    customers.push(customer);
                }
            }
        }
        Ok(customers)
    }
}

/// The objects of a batch for the log, `side:id` separated by spaces.
fn batch_objects(items: &[InboxItem]) -> String {
    let mut objects = String::new();
    for item in items {
        if !objects.is_empty() {
            objects.push(' ');
        }
        objects.push_str(item.object.side.as_str());
        objects.push(':');
        objects.push_str(&item.object.object_id);
    }
    objects
}

/// How long to wait before retrying a batch that failed `attempts` times already.
fn backoff(attempts: u32) -> chrono::Duration {
    let wait = RETRY_BASE
        .saturating_mul(2_u32.saturating_pow(attempts.min(16)))
        .min(RETRY_MAX);
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(600))
}

/// How long changes wait when a batch was refused for its credentials.
const CREDENTIALS_HOLD: chrono::Duration = chrono::Duration::seconds(60);
/// How long changes wait when an API's daily budget is spent: it resets once a day (often at
/// midnight in the account's time zone, which an API need not say), so a look every
/// quarter of an hour costs one refused call.
const DAILY_LIMIT_HOLD: chrono::Duration = chrono::Duration::minutes(15);

/// Whether a batch failed because a side refused our credentials or stopped it for another
/// cause all records share (see `systemic`), not for its records.
fn credentials_refused(error: &EngineError) -> bool {
    match error {
        EngineError::Systemic(_) => true,
        EngineError::Crm(e) => *e.kind() == ErrorKind::Unauthorized,
        EngineError::Tte(e) => *e.kind() == ErrorKind::Unauthorized,
        _ => false,
    }
}
