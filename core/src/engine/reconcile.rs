//! The full two-way pass: read both sides, pair them, plan each pair, write in batches, save
//! links with their snapshots, and record the run.
//!
//! Memory: both sides are read into memory (records are small: a 10,000-customer pass holds
//! two maps of 10,000 compact records, a few megabytes), because pairing by the match rule
//! needs every value of both sides to know it is unique, and because the HubSpot budget
//! (about one call per 100 contacts) leaves no room for re-reading. Pages are streamed in,
//! never a whole response at once.
//!
//! Writes: CRM writes go out in batches of [`CRM_BATCH`] (upserts keyed by the customer's URI
//! for creates, updates for the rest); 10to8 has no batch API, so its writes run
//! [`HUB_CONCURRENCY`] at a time, paced by the client. A pair's link and snapshots are saved
//! once its writes went through. A write that fails for one record is counted, put in that
//! record's status field and in the dead letters; the others go on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use tracing::{debug, warn};

use super::journal::{Journal, Subject};
use super::lock::{Claimant, SyncLock};
use super::pair::{Found, Held, Pairing, pair};
use super::plan::{ChangeTimes, Flow, PairPlan, Snapshots, apply_patch, plan_pair, snapshots_of};
use super::summary::{Planned, Summary};
use super::turns::{LinksNow, Turns};
use super::{Engine, EngineError, SyncDirection};
use crate::connector::{CrmWrite, ErrorKind, ListQuery, WriteOutcome};
use crate::mapping::{FromCrmDelete, FromHubDelete, SyncTime};
use crate::record::{CrmId, CrmRecord, Customer, CustomerUri};
use crate::store::{
    Action, Change, Direction, Link, ObjectRef, Reason, RunKind, RunOutcome, Snapshot,
};
use crate::tte::{CustomerPatch, CustomerWrite, DeleteOutcome};

/// Records per CRM write call.
pub const CRM_BATCH: usize = 100;
/// 10to8 calls in flight at once.
pub const HUB_CONCURRENCY: usize = 8;
/// Links saved per store transaction.
const LINK_BATCH: usize = 500;
/// The inbox change kind of a record that failed during a reconcile.
const RECONCILE_CHANGE: &str = "reconcile";

/// Reports progress of a pass (a progress bar on a terminal, nothing elsewhere).
pub trait Progress: Send + Sync {
    /// A new phase with `total` steps begins.
    fn phase(&self, name: &str, total: u64);
    /// `steps` more steps are done.
    fn advance(&self, steps: u64);
}

/// How to run a full pass.
#[derive(Clone, Default)]
pub struct ReconcileOptions {
    /// Plan only; write nothing (not even the run history).
    pub dry_run: bool,
    /// Which sides may be written.
    pub direction: SyncDirection,
    /// Where progress goes.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for ReconcileOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconcileOptions")
            .field("dry_run", &self.dry_run)
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

/// Both sides as read (all of them in a full pass, the objects touched in a live batch).
pub(crate) struct Sides {
    pub(crate) customers: Vec<Customer>,
    pub(crate) records: HashMap<CrmId, CrmRecord>,
    /// Stored links by customer URI.
    pub(crate) links: HashMap<String, Link>,
    /// When 10to8 changes happened, where known (live: when the notification came).
    pub(crate) hub_times: HashMap<String, DateTime<Utc>>,
    /// The records in the CRM's recycle bin, when listed (full pass). A linked record that
    /// is neither live nor archived vanished (merged, or erased for privacy): its customer is
    /// unlinked, never deleted. `None` (live) trusts the event that said it was deleted.
    pub(crate) archived: Option<HashSet<CrmId>>,
    /// Records no customer may be created for before the given time (live: a record just
    /// created in the CRM may be a person just created in 10to8 too, whose notification is on
    /// its way; creating a customer now would make a duplicate).
    pub(crate) hold_creates: HashMap<CrmId, DateTime<Utc>>,
    /// Pairs a person kept apart (customer URI, record id): never joined.
    pub(crate) apart: HashSet<(String, CrmId)>,
    /// Objects a full pass held as possible duplicates (live: a batch sees only part of each
    /// side, so it never creates these; the next full pass decides them again).
    pub(crate) held_back: HashSet<ObjectRef>,
}

/// What [`Engine::sync_sides`] did.
pub(crate) struct Synced {
    pub(crate) summary: Summary,
    /// Records held back from a create in 10to8, with when to look at them again.
    pub(crate) held: Vec<(CrmId, DateTime<Utc>)>,
}

/// A pair whose plan writes something.
struct PairWork {
    customer: usize,
    record: CrmId,
    found: Found,
    plan: PairPlan,
}

/// One 10to8 write in flight.
enum HubJob {
    Patch {
        uri: CustomerUri,
        patch: CustomerPatch,
    },
    Create {
        record: CrmId,
        write: CustomerWrite,
    },
    Delete {
        uri: CustomerUri,
        force: bool,
    },
}

/// How a 10to8 write went.
enum HubDone {
    Patched,
    Created(Customer),
    Deleted,
    Blocked(String),
    Gone,
    Failed(String),
}

impl Engine {
    /// One full two-way pass. Per-record failures are counted in the summary (and put in the
    /// status fields and dead letters); the pass itself fails only when a side or the store
    /// cannot be read.
    ///
    /// # Errors
    /// [`EngineError`] when 10to8, the CRM or the store cannot be read or written as a whole.
    pub async fn reconcile(&self, options: &ReconcileOptions) -> Result<Summary, EngineError> {
        if options.dry_run {
            let sides = self.read_sides(options).await?;
            return Ok(self
                .sync_sides(&sides, options, Turns::PerChunk)
                .await?
                .summary);
        }
        let lock = self.reconcile_lock().await?;
        self.reconcile_locked(options, lock).await
    }

    /// A full pass, unless one finished (by any process sharing the store) less than
    /// `interval` ago: then `None`. Checked under the sync lock, so replicas that both find a
    /// pass due run one, not two back to back.
    ///
    /// # Errors
    /// As [`Engine::reconcile`].
    pub async fn reconcile_if_due(
        &self,
        interval: std::time::Duration,
        options: &ReconcileOptions,
    ) -> Result<Option<Summary>, EngineError> {
        let lock = self.reconcile_lock().await?;
        if let Some(run) = self.store.last_finished_run(RunKind::Reconcile).await? {
            let since = Utc::now() - run.finished_at.unwrap_or(run.started_at);
            if since.to_std().is_ok_and(|since| since < interval) {
                lock.release().await;
                return Ok(None);
            }
        }
        self.reconcile_locked(options, lock).await.map(Some)
    }

    /// The right to run the one full pass of this connector.
    async fn reconcile_lock(&self) -> Result<SyncLock, EngineError> {
        let name = format!("reconcile:{}", self.connector());
        Ok(SyncLock::exclusive(&self.store, name).await?)
    }

    async fn reconcile_locked(
        &self,
        options: &ReconcileOptions,
        lock: SyncLock,
    ) -> Result<Summary, EngineError> {
        let run = self.store.start_run(RunKind::Reconcile).await?;
        let result = self.reconcile_pass(options).await;
        let (outcome, summary) = match &result {
            Ok(summary) if summary.has_failures() => (
                RunOutcome::PartlyFailed,
                serde_json::to_value(summary).unwrap_or_default(),
            ),
            Ok(summary) => (
                RunOutcome::Succeeded,
                serde_json::to_value(summary).unwrap_or_default(),
            ),
            Err(error) => (
                RunOutcome::Failed,
                serde_json::json!({ "error": error.to_string() }),
            ),
        };
        if let Err(error) = self.store.finish_run(run, outcome, &summary).await {
            warn!(%error, "Could not record the end of the sync run.");
        }
        // Released after the run is on record, so another replica sees it and skips its own.
        lock.release().await;
        result
    }

    async fn reconcile_pass(&self, options: &ReconcileOptions) -> Result<Summary, EngineError> {
        let sides = self.read_sides(options).await?;
        Ok(self
            .sync_sides(&sides, options, Turns::PerChunk)
            .await?
            .summary)
    }

    /// Pairs, plans and writes the objects in `sides`, taking `turns` at the sync lock (a
    /// dry run writes nothing and takes none).
    pub(crate) async fn sync_sides(
        &self,
        sides: &Sides,
        options: &ReconcileOptions,
        turns: Turns<'_>,
    ) -> Result<Synced, EngineError> {
        let now = SyncTime::new(Utc::now());
        let mut pairing = pair(
            &self.mapping,
            &sides.customers,
            &sides.records,
            &sides.links,
            &sides.apart,
        );
        debug!(
            customers = sides.customers.len(),
            records = sides.records.len(),
            links = sides.links.len(),
            pairs = pairing.pairs.len(),
            create_in_crm = pairing.create_in_crm.len(),
            create_in_hub = pairing.create_in_hub.len(),
            ambiguous = pairing.ambiguous.len(),
            "Paired both sides."
        );
        let mut summary = Summary {
            dry_run: options.dry_run,
            ambiguous: pairing.ambiguous.clone(),
            ..Summary::default()
        };
        if !sides.held_back.is_empty() {
            let connector = self.connector();
            pairing.create_in_crm.retain(|&c| {
                let uri = &sides.customers[c].resource_uri;
                !sides.held_back.contains(&ObjectRef::hub(connector, uri))
            });
            pairing.create_in_hub.retain(|id| {
                !sides
                    .held_back
                    .contains(&ObjectRef::crm(connector, id.as_str()))
            });
        }
        let mut held = Vec::new();
        pairing
            .create_in_hub
            .retain(|id| match sides.hold_creates.get(id) {
                Some(until) if *until > Utc::now() => {
                    held.push((id.clone(), *until));
                    false
                }
                _ => true,
            });
        let work = self.plan_pairs(sides, &pairing, options.direction, &now, &mut summary);
        if options.dry_run {
            self.dry_run_plan(sides, &pairing, &work, options.direction, &mut summary);
            return Ok(Synced { summary, held });
        }
        let mut pass = Pass {
            engine: self,
            lost: None,
            sides,
            now: &now,
            direction: options.direction,
            progress: options.progress.clone(),
            summary,
            links: Vec::new(),
            unlink: Vec::new(),
            journal: Journal::new(self.connector()),
        };
        let total = (work.len()
            + pairing.create_in_crm.len()
            + pairing.create_in_hub.len()
            + pairing.hub_deleted.len()
            + pairing.crm_deleted.len()) as u64;
        pass.phase("writing", total);
        match turns {
            Turns::Held(lock) => {
                pass.lost = Some(lock.lost_flag());
                pass.write_pairs(work).await?;
                if options.direction.writes_crm() {
                    pass.create_in_crm(&pairing.create_in_crm).await?;
                }
                if options.direction.writes_hub() {
                    pass.create_in_hub(&pairing.create_in_hub).await?;
                }
                pass.deletes(&pairing).await?;
                pass.hold(&pairing.held).await?;
                pass.flush_links().await?;
            }
            Turns::PerChunk => {
                pass.write_in_turns(&pairing, work).await?;
                if !pairing.held.is_empty() {
                    let turn = pass.take_turn().await?;
                    pass.hold(&pairing.held).await?;
                    pass.end_turn(turn).await?;
                }
            }
        }
        if sides.archived.is_some() && !options.dry_run {
            // A full pass saw everything: possible duplicates resolved meanwhile are cleared.
            let keep: Vec<ObjectRef> = pairing
                .held
                .iter()
                .map(|h| match (h.customer, &h.record) {
                    (Some(c), _) => {
                        ObjectRef::hub(self.connector(), &sides.customers[c].resource_uri)
                    }
                    (None, record) => {
                        ObjectRef::crm(self.connector(), record.as_ref().map_or("", |r| r.as_str()))
                    }
                })
                .collect();
            self.store
                .clear_reason_except(self.connector(), Reason::PossibleDuplicate, &keep)
                .await?;
        }
        let linked: Vec<CrmId> = pairing.pairs.iter().map(|p| p.record.clone()).collect();
        self.store
            .resolve_pending_creates(self.connector(), &linked)
            .await?;
        Ok(Synced {
            summary: pass.summary,
            held,
        })
    }

    async fn read_sides(&self, options: &ReconcileOptions) -> Result<Sides, EngineError> {
        if let Some(progress) = &options.progress {
            progress.phase("reading", 0);
        }
        let mut customers = Vec::new();
        let mut deleted = 0_usize;
        let mut pages = self.tte.list(true);
        while let Some(page) = pages.try_next().await? {
            if let Some(progress) = &options.progress {
                progress.advance(page.len() as u64);
            }
            for customer in page {
                if customer.deleted {
                    deleted += 1;
                } else if !customer.resource_uri.is_empty() {
                    customers.push(customer);
                }
            }
        }
        let mut records = HashMap::new();
        let query = ListQuery {
            properties: self.mapping.crm_properties().to_vec(),
            archived: false,
        };
        let mut pages = self.crm.list(query);
        while let Some(page) = pages.try_next().await? {
            if let Some(progress) = &options.progress {
                progress.advance(page.len() as u64);
            }
            for record in page {
                records.insert(record.id.clone(), record);
            }
        }
        drop(pages);
        let mut archived = HashSet::new();
        let query = ListQuery {
            properties: Vec::new(),
            archived: true,
        };
        let mut pages = self.crm.list(query);
        while let Some(page) = pages.try_next().await? {
            archived.extend(page.into_iter().map(|r| r.id));
        }
        drop(pages);
        let mut links = HashMap::new();
        let mut pages = self.store.links(self.connector(), 1_000);
        while let Some(page) = pages.try_next().await? {
            for link in page {
                links.insert(link.hub_uri.as_str().to_owned(), link);
            }
        }
        debug!(
            customers = customers.len(),
            deleted,
            records = records.len(),
            links = links.len(),
            "Read both sides."
        );
        Ok(Sides {
            customers,
            records,
            links,
            hub_times: HashMap::new(),
            archived: Some(archived),
            hold_creates: HashMap::new(),
            apart: self.kept_apart().await?,
            held_back: HashSet::new(),
        })
    }

    /// Plans every pair; counts the unchanged ones and returns those with writes.
    fn plan_pairs(
        &self,
        sides: &Sides,
        pairing: &Pairing,
        direction: SyncDirection,
        now: &SyncTime,
        summary: &mut Summary,
    ) -> Vec<PairWork> {
        let mut work = Vec::new();
        for pair in &pairing.pairs {
            let customer = &sides.customers[pair.customer];
            let record = &sides.records[&pair.record];
            let link = sides
                .links
                .get(&customer.resource_uri)
                .filter(|l| l.crm_id == pair.record);
            let snapshots = link.map(|l| Snapshots {
                hub: &l.hub_snapshot,
                crm: &l.crm_snapshot,
            });
            let times = ChangeTimes {
                hub: sides.hub_times.get(&customer.resource_uri).copied(),
                crm: record.updated_at,
            };
            let mut plan = plan_pair(&self.mapping, customer, record, snapshots, times, now);
            restrict(&mut plan, direction, link);
            if pair.found != Found::Stored {
                summary.to_crm.linked += 1;
                summary.to_hub.linked += 1;
            }
            if plan.crm_write.is_none() {
                summary.to_crm.unchanged += 1;
            }
            if plan.hub_patch.is_none() {
                summary.to_hub.unchanged += 1;
            }
            let is_new = link.is_none()
                || link.is_some_and(|l| {
                    l.hub_snapshot != plan.hub_snapshot || l.crm_snapshot != plan.crm_snapshot
                });
            if plan.is_noop() && !is_new {
                continue;
            }
            work.push(PairWork {
                customer: pair.customer,
                record: pair.record.clone(),
                found: pair.found,
                plan,
            });
        }
        work
    }

    fn dry_run_plan(
        &self,
        sides: &Sides,
        pairing: &Pairing,
        work: &[PairWork],
        direction: SyncDirection,
        summary: &mut Summary,
    ) {
        for w in work {
            let customer = sides.customers[w.customer].resource_uri.clone();
            let record = w.record.as_str().to_owned();
            if w.found != Found::Stored {
                summary.plan.push(Planned::Link {
                    customer: customer.clone(),
                    record: record.clone(),
                    found: match w.found {
                        Found::IdField => "id_field",
                        _ => "matched",
                    }
                    .to_owned(),
                });
            }
            count_plan(&w.plan, summary);
            if !w.plan.is_noop() {
                summary.plan.push(Planned::Update {
                    customer,
                    record,
                    fields: w.plan.fields.clone(),
                    crm: w.plan.crm_write.is_some(),
                    hub: w.plan.hub_patch.is_some(),
                });
            }
        }
        if direction.writes_crm() {
            for &c in &pairing.create_in_crm {
                summary.to_crm.created += 1;
                summary.plan.push(Planned::CreateInCrm {
                    customer: sides.customers[c].resource_uri.clone(),
                });
            }
        }
        if direction.writes_hub() {
            for id in &pairing.create_in_hub {
                summary.to_hub.created += 1;
                summary.plan.push(Planned::CreateInHub {
                    record: id.as_str().to_owned(),
                });
            }
        }
        if direction.writes_crm() && self.mapping.deletes().from_hub == FromHubDelete::Archive {
            for link in &pairing.hub_deleted {
                summary.to_crm.deleted += 1;
                summary.plan.push(Planned::Archive {
                    record: link.crm_id.as_str().to_owned(),
                });
            }
        }
        if direction.writes_hub() && self.mapping.deletes().from_crm != FromCrmDelete::Ignore {
            for (link, _) in &pairing.crm_deleted {
                summary.to_hub.deleted += 1;
                summary.plan.push(Planned::Delete {
                    customer: link.hub_uri.as_str().to_owned(),
                });
            }
        }
    }
}

/// Counts a plan's writes and conflicts.
fn count_plan(plan: &PairPlan, summary: &mut Summary) {
    if plan.crm_write.is_some() {
        summary.to_crm.updated += 1;
    }
    if plan.hub_patch.is_some() {
        summary.to_hub.updated += 1;
    }
    if plan
        .fields
        .iter()
        .any(|f| f.conflict && f.flow == Flow::ToCrm)
    {
        summary.to_crm.conflicts += 1;
    }
    if plan
        .fields
        .iter()
        .any(|f| f.conflict && f.flow == Flow::ToHub)
    {
        summary.to_hub.conflicts += 1;
    }
}

/// The subject of a journal entry about a pair.
fn pair_subject<'a>(customer: &'a Customer, record: &'a CrmId) -> Subject<'a> {
    Subject {
        hub: Some(&customer.resource_uri),
        crm: Some(record),
        name: &customer.name,
    }
}

/// Drops the writes `direction` forbids. The fields that would have moved to the skipped
/// side keep their old snapshot (or none), so a later two-way pass still sees the change.
fn restrict(plan: &mut PairPlan, direction: SyncDirection, link: Option<&Link>) {
    let skipped = match direction {
        SyncDirection::Both => return,
        SyncDirection::ToCrm => {
            plan.hub_patch = None;
            Flow::ToHub
        }
        SyncDirection::ToHub => {
            plan.crm_write = None;
            Flow::ToCrm
        }
    };
    for decision in plan.fields.iter().filter(|d| d.flow == skipped) {
        let key = &decision.key;
        match link.and_then(|l| Some((l.hub_snapshot.get(key)?, l.crm_snapshot.get(key)?))) {
            Some((hub, crm)) => {
                plan.hub_snapshot.insert(key.clone(), hub.clone());
                plan.crm_snapshot.insert(key.clone(), crm.clone());
            }
            None => {
                plan.hub_snapshot.remove(key);
                plan.crm_snapshot.remove(key);
            }
        }
    }
    plan.fields.retain(|d| d.flow != skipped);
}

/// The state of one pass while it writes.
struct Pass<'a> {
    engine: &'a Engine,
    /// Set when the sync lock this pass writes under expired; checked before saving links.
    lost: Option<Arc<AtomicBool>>,
    sides: &'a Sides,
    now: &'a SyncTime,
    direction: SyncDirection,
    progress: Option<Arc<dyn Progress>>,
    summary: Summary,
    /// Links to save.
    links: Vec<Link>,
    /// Customers whose link to remove.
    unlink: Vec<CustomerUri>,
    /// What the operator is told about each write.
    journal: Journal,
}

impl Pass<'_> {
    fn phase(&self, name: &str, total: u64) {
        if let Some(progress) = &self.progress {
            progress.phase(name, total);
        }
    }

    fn advance(&self, steps: u64) {
        if let Some(progress) = &self.progress {
            progress.advance(steps);
        }
    }

    fn connector(&self) -> &'static str {
        self.engine.connector()
    }

    fn link(&self, uri: &str, id: &CrmId, hub: Snapshot, crm: Snapshot) -> Link {
        Link::new(self.connector(), CustomerUri::from(uri), id.clone()).with_snapshots(hub, crm)
    }

    async fn push_link(&mut self, link: Link) -> Result<(), EngineError> {
        self.links.push(link);
        if self.links.len() >= LINK_BATCH || self.journal.is_full() {
            self.flush_links().await?;
        }
        Ok(())
    }

    async fn flush_links(&mut self) -> Result<(), EngineError> {
        if self
            .lost
            .as_ref()
            .is_some_and(|lost| lost.load(Ordering::Relaxed))
        {
            return Err(EngineError::LockLost);
        }
        if !self.links.is_empty() {
            self.engine.store.upsert_links(&self.links).await?;
            self.links.clear();
        }
        self.journal.flush(&self.engine.store).await?;
        for uri in std::mem::take(&mut self.unlink) {
            self.engine
                .store
                .delete_link_by_hub(self.connector(), &uri)
                .await?;
        }
        Ok(())
    }

    /// Writes a full pass chunk by chunk, each chunk under the sync lock and checked against
    /// the links as they are now (see `turns`).
    async fn write_in_turns(
        &mut self,
        pairing: &Pairing,
        work: Vec<PairWork>,
    ) -> Result<(), EngineError> {
        let sides = self.sides;
        let read_by_crm: HashMap<&CrmId, &Link> =
            sides.links.values().map(|l| (&l.crm_id, l)).collect();
        let uri_of = |c: usize| sides.customers[c].resource_uri.as_str();

        let mut work = work.into_iter().peekable();
        while work.peek().is_some() {
            let chunk: Vec<PairWork> = work.by_ref().take(CRM_BATCH).collect();
            let uris: Vec<CustomerUri> = chunk.iter().map(|w| uri_of(w.customer).into()).collect();
            let ids: Vec<CrmId> = chunk.iter().map(|w| w.record.clone()).collect();
            let turn = self.take_turn().await?;
            let now = LinksNow::load(&self.engine.store, self.connector(), &uris, &ids).await?;
            let (keep, skip): (Vec<_>, Vec<_>) = chunk.into_iter().partition(|w| {
                let uri = uri_of(w.customer);
                now.hub_unchanged(uri, sides.links.get(uri))
                    && now.crm_unchanged(&w.record, read_by_crm.get(&w.record).copied())
            });
            self.skipped(skip.len());
            self.write_pairs(keep).await?;
            self.end_turn(turn).await?;
        }
        if self.direction.writes_crm() {
            for chunk in pairing.create_in_crm.chunks(CRM_BATCH) {
                let uris: Vec<CustomerUri> = chunk.iter().map(|&c| uri_of(c).into()).collect();
                let turn = self.take_turn().await?;
                let now = LinksNow::load(&self.engine.store, self.connector(), &uris, &[]).await?;
                let (keep, skip): (Vec<usize>, Vec<usize>) = chunk
                    .iter()
                    .partition(|&&c| now.hub_unchanged(uri_of(c), sides.links.get(uri_of(c))));
                self.skipped(skip.len());
                self.create_in_crm(&keep).await?;
                self.end_turn(turn).await?;
            }
        }
        if self.direction.writes_hub() {
            for chunk in pairing.create_in_hub.chunks(CRM_BATCH) {
                let turn = self.take_turn().await?;
                let now = LinksNow::load(&self.engine.store, self.connector(), &[], chunk).await?;
                let (keep, skip): (Vec<CrmId>, Vec<CrmId>) = chunk
                    .iter()
                    .cloned()
                    .partition(|id| now.crm_unchanged(id, read_by_crm.get(id).copied()));
                self.skipped(skip.len());
                self.create_in_hub(&keep).await?;
                self.end_turn(turn).await?;
            }
        }
        let gone: Vec<&Link> = pairing
            .hub_deleted
            .iter()
            .chain(pairing.crm_deleted.iter().map(|(l, _)| l))
            .chain(&pairing.stale)
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        let uris: Vec<CustomerUri> = gone.iter().map(|l| l.hub_uri.clone()).collect();
        let turn = self.take_turn().await?;
        let now = LinksNow::load(&self.engine.store, self.connector(), &uris, &[]).await?;
        let unchanged = |l: &Link| now.hub_unchanged(l.hub_uri.as_str(), Some(l));
        let deletes = Pairing {
            hub_deleted: pairing
                .hub_deleted
                .iter()
                .filter(|l| unchanged(l))
                .cloned()
                .collect(),
            crm_deleted: pairing
                .crm_deleted
                .iter()
                .filter(|(l, _)| unchanged(l))
                .cloned()
                .collect(),
            stale: pairing
                .stale
                .iter()
                .filter(|l| unchanged(l))
                .cloned()
                .collect(),
            ..Pairing::default()
        };
        self.skipped(
            gone.len()
                - deletes.hub_deleted.len()
                - deletes.crm_deleted.len()
                - deletes.stale.len(),
        );
        self.deletes(&deletes).await?;
        self.end_turn(turn).await
    }

    /// Waits for the sync lock for one chunk.
    async fn take_turn(&mut self) -> Result<SyncLock, EngineError> {
        let lock =
            SyncLock::acquire(&self.engine.store, self.connector(), Claimant::Background).await?;
        self.lost = Some(lock.lost_flag());
        Ok(lock)
    }

    /// Saves the chunk's links and journal, then lets the lock go.
    async fn end_turn(&mut self, lock: SyncLock) -> Result<(), EngineError> {
        let saved = self.flush_links().await;
        self.lost = None;
        lock.release().await;
        saved
    }

    /// Counts work left out because a live batch got to its objects first.
    fn skipped(&mut self, count: usize) {
        if count > 0 {
            debug!(
                count,
                "Left out of this pass: changed by live processing meanwhile."
            );
            self.advance(count as u64);
        }
    }

    /// Records a per-record failure in the dead letters and the journal.
    async fn dead_letter(
        &mut self,
        object: ObjectRef,
        direction: Direction,
        subject: Subject<'_>,
        error: &str,
    ) -> Result<(), EngineError> {
        self.journal.failed(direction, subject, error);
        self.engine
            .store
            .record_dead_letter(&object, Change::new(RECONCILE_CHANGE), error, 1)
            .await?;
        Ok(())
    }

    /// A CRM record's person, by the mapping's name field, for the operator.
    fn record_name(&self, id: &CrmId) -> String {
        self.sides
            .records
            .get(id)
            .map_or_else(String::new, |record| {
                self.engine
                    .mapping
                    .to_hub(record, None, self.now)
                    .name
                    .unwrap_or_default()
            })
    }

    /// The status text for a failure, or `None` when the mapping has no status.
    fn error_status(&self, message: &str) -> Option<String> {
        self.engine
            .mapping
            .status()
            .map(|status| status.text(&[format!("Error: {message}")], self.now))
    }

    /// Writes the pairs: CRM first in batches, then 10to8; saves links for the pairs whose
    /// writes all went through.
    async fn write_pairs(&mut self, work: Vec<PairWork>) -> Result<(), EngineError> {
        let sides = self.sides;
        let mut crm_failed: HashMap<CrmId, String> = HashMap::new();
        let updates: Vec<&PairWork> = work.iter().filter(|w| w.plan.crm_write.is_some()).collect();
        for chunk in updates.chunks(CRM_BATCH) {
            let writes = chunk
                .iter()
                .map(|w| CrmWrite::Update {
                    id: w.record.clone(),
                    properties: w.plan.crm_write.clone().unwrap_or_default(),
                })
                .collect();
            let outcomes = self.engine.crm.write(writes).await?;
            for (w, outcome) in chunk.iter().zip(outcomes) {
                if let WriteOutcome::Failed(error) = outcome {
                    warn!(record = %w.record, %error, "CRM write failed.");
                    crm_failed.insert(w.record.clone(), error.message().to_owned());
                    self.summary.to_crm.failed += 1;
                    let customer = &sides.customers[w.customer];
                    let subject = pair_subject(customer, &w.record);
                    self.dead_letter(
                        ObjectRef::crm(self.connector(), w.record.as_str()),
                        Direction::HubToCrm,
                        subject,
                        &error.to_string(),
                    )
                    .await?;
                } else {
                    self.summary.to_crm.updated += 1;
                }
            }
        }
        for w in &work {
            if w.plan
                .fields
                .iter()
                .any(|f| f.conflict && f.flow == Flow::ToCrm)
            {
                self.summary.to_crm.conflicts += 1;
            }
            if w.plan
                .fields
                .iter()
                .any(|f| f.conflict && f.flow == Flow::ToHub)
            {
                self.summary.to_hub.conflicts += 1;
            }
        }

        let mut jobs = Vec::new();
        let mut index = Vec::new();
        for (n, w) in work.iter().enumerate() {
            let uri = CustomerUri(self.sides.customers[w.customer].resource_uri.clone());
            let patch = match (crm_failed.get(&w.record), &w.plan.hub_patch) {
                (Some(error), _) => {
                    // The CRM refused: say so in 10to8, once, and write nothing else there.
                    // The link stays as it was, so the pair is synced whole once the cause is
                    // gone; writing its fields now would make 10to8 notify us of our own
                    // write, the CRM refuse again, and so on.
                    let (Some(status), Some(text)) =
                        (self.engine.mapping.status(), self.error_status(error))
                    else {
                        continue;
                    };
                    let current = &self.sides.customers[w.customer].custom_fields;
                    if !self.direction.writes_hub()
                        || current.get(&status.hub_custom_field) == Some(&text)
                    {
                        continue;
                    }
                    CustomerPatch {
                        custom_fields: Some(BTreeMap::from([(
                            status.hub_custom_field.clone(),
                            text,
                        )])),
                        ..CustomerPatch::default()
                    }
                }
                (None, Some(patch)) => patch.clone(),
                (None, None) => continue,
            };
            jobs.push(HubJob::Patch { uri, patch });
            index.push(n);
        }
        let results = self.run_hub_jobs(jobs).await;
        let mut hub_failed = HashSet::new();
        for (n, done) in index.into_iter().zip(results) {
            let w = &work[n];
            match done {
                HubDone::Failed(error) => {
                    let customer = &sides.customers[w.customer];
                    let uri = &customer.resource_uri;
                    warn!(customer = %uri, %error, "10to8 write failed.");
                    self.summary.to_hub.failed += 1;
                    hub_failed.insert(n);
                    self.dead_letter(
                        ObjectRef::hub(self.connector(), uri.as_str()),
                        Direction::CrmToHub,
                        pair_subject(customer, &w.record),
                        &error,
                    )
                    .await?;
                }
                HubDone::Gone => {
                    hub_failed.insert(n);
                }
                _ => {
                    if !crm_failed.contains_key(&w.record) {
                        self.summary.to_hub.updated += 1;
                    }
                }
            }
        }
        for (n, w) in work.into_iter().enumerate() {
            self.advance(1);
            if crm_failed.contains_key(&w.record) || hub_failed.contains(&n) {
                continue;
            }
            let customer = &sides.customers[w.customer];
            self.journal.pair_written(
                &w.plan,
                w.found != Found::Stored,
                pair_subject(customer, &w.record),
            );
            let uri = customer.resource_uri.clone();
            let link = self.link(&uri, &w.record, w.plan.hub_snapshot, w.plan.crm_snapshot);
            self.push_link(link).await?;
        }
        Ok(())
    }

    /// Creates CRM records for customers without one: upserts keyed by the customer's URI,
    /// then the new id (and status) written back to 10to8.
    async fn create_in_crm(&mut self, customers: &[usize]) -> Result<(), EngineError> {
        let sides = self.sides;
        let identity = self.engine.mapping.identity().clone();
        let mut late: Vec<(usize, CrmId)> = Vec::new();
        let mut linked_ids: HashSet<CrmId> = self
            .sides
            .links
            .values()
            .map(|l| l.crm_id.clone())
            .collect();
        for chunk in customers.chunks(CRM_BATCH) {
            let outputs: Vec<_> = chunk
                .iter()
                .map(|&c| {
                    self.engine
                        .mapping
                        .to_crm(&self.sides.customers[c], self.now)
                })
                .collect();
            let writes = chunk
                .iter()
                .zip(&outputs)
                .map(|(&c, out)| CrmWrite::Upsert {
                    id_property: identity.hub_id_property.clone(),
                    key: self.sides.customers[c].resource_uri.clone(),
                    properties: out.properties.clone(),
                })
                .collect();
            let outcomes = self.engine.crm.write(writes).await?;
            // A live batch knows only its own objects' links: ask the store whether the
            // records the creates collided with are linked already.
            let collided: Vec<CrmId> = outcomes
                .iter()
                .filter_map(|o| match o {
                    WriteOutcome::Failed(e) => match e.kind() {
                        ErrorKind::Conflict {
                            existing_id: Some(id),
                        } if !linked_ids.contains(id) => Some(id.clone()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            let linked_elsewhere: HashMap<CrmId, CustomerUri> = self
                .engine
                .store
                .links_by_crm(self.connector(), &collided)
                .await?
                .into_iter()
                .map(|l| (l.crm_id, l.hub_uri))
                .collect();
            let mut jobs = Vec::new();
            let mut made = Vec::new();
            for ((&c, out), outcome) in chunk.iter().zip(outputs).zip(outcomes) {
                let customer = &self.sides.customers[c];
                match outcome {
                    WriteOutcome::Written { id, created } => {
                        let (action, detail) = if created {
                            self.summary.to_crm.created += 1;
                            (Action::Created, String::new())
                        } else {
                            self.summary.to_crm.updated += 1;
                            (Action::Linked, "found by its 10to8 id".to_owned())
                        };
                        let subject = pair_subject(customer, &id);
                        self.journal.written(
                            Direction::HubToCrm,
                            action,
                            subject,
                            detail,
                            &out.errors,
                        );
                        linked_ids.insert(id.clone());
                        let record = CrmRecord {
                            id: id.clone(),
                            properties: out.properties.clone(),
                            ..CrmRecord::default()
                        };
                        let mut fields = BTreeMap::from([(
                            identity.crm_id_custom_field.clone(),
                            id.as_str().to_owned(),
                        )]);
                        if let Some(status) = self.engine.mapping.status() {
                            fields.insert(
                                status.hub_custom_field.clone(),
                                status.text(&out.errors, self.now),
                            );
                        }
                        let patch = CustomerPatch {
                            custom_fields: Some(fields),
                            ..CustomerPatch::default()
                        };
                        let mut after = customer.clone();
                        apply_patch(&patch, &mut after);
                        let (hub, crm) = snapshots_of(&self.engine.mapping, &after, &record);
                        made.push((c, id, hub, crm));
                        if self.direction.writes_hub() {
                            jobs.push(HubJob::Patch {
                                uri: CustomerUri(customer.resource_uri.clone()),
                                patch,
                            });
                        } else {
                            jobs.push(HubJob::Patch {
                                uri: CustomerUri(String::new()),
                                patch: CustomerPatch::default(),
                            });
                        }
                    }
                    WriteOutcome::Failed(error) => match error.kind() {
                        ErrorKind::Conflict {
                            existing_id: Some(existing),
                        } if linked_elsewhere.contains_key(existing) => {
                            let message = format!(
                                "CRM record {existing} has the same email and is linked to another 10to8 customer ({}); merge the two customers in 10to8",
                                linked_elsewhere[existing]
                            );
                            self.fail_customer(customer, &message, &message).await?;
                            self.summary.to_crm.failed += 1;
                        }
                        ErrorKind::Conflict {
                            existing_id: Some(existing),
                        } if !linked_ids.contains(existing) => {
                            debug!(customer = %customer.resource_uri, record = %existing, "Create found an existing record; linking to it.");
                            linked_ids.insert(existing.clone());
                            late.push((c, existing.clone()));
                        }
                        _ => {
                            self.fail_customer(customer, &error.to_string(), error.message())
                                .await?;
                            self.summary.to_crm.failed += 1;
                        }
                    },
                    _ => {}
                }
            }
            let results = self.run_hub_jobs(jobs).await;
            for ((c, id, hub, crm), done) in made.into_iter().zip(results) {
                self.advance(1);
                let customer = &sides.customers[c];
                let uri = customer.resource_uri.clone();
                if let HubDone::Failed(error) = &done {
                    self.summary.to_hub.failed += 1;
                    self.dead_letter(
                        ObjectRef::hub(self.connector(), uri.as_str()),
                        Direction::CrmToHub,
                        pair_subject(customer, &id),
                        error,
                    )
                    .await?;
                }
                // The link is saved even when the id write-back failed: the CRM record
                // names the customer, and the next pass rewrites the External ID.
                let link = self.link(&uri, &id, hub, crm);
                self.push_link(link).await?;
            }
        }
        if !late.is_empty() {
            self.link_late(late).await?;
        }
        Ok(())
    }

    /// Pairs customers with the existing records their create collided with, and syncs them
    /// as pairs seen for the first time.
    async fn link_late(&mut self, late: Vec<(usize, CrmId)>) -> Result<(), EngineError> {
        let ids: Vec<CrmId> = late.iter().map(|(_, id)| id.clone()).collect();
        let found = self
            .engine
            .crm
            .read(&ids, self.engine.mapping.crm_properties())
            .await?;
        let mut work = Vec::new();
        for ((c, id), record) in late.into_iter().zip(found) {
            let customer = &self.sides.customers[c];
            let Some(record) = record else {
                let message = format!("record {id} vanished while linking");
                self.fail_customer(customer, &message, &message).await?;
                self.summary.to_crm.failed += 1;
                continue;
            };
            let times = ChangeTimes {
                hub: None,
                crm: record.updated_at,
            };
            let mut plan = plan_pair(
                &self.engine.mapping,
                customer,
                &record,
                None,
                times,
                self.now,
            );
            restrict(&mut plan, self.direction, None);
            self.summary.to_crm.linked += 1;
            self.summary.to_hub.linked += 1;
            work.push(PairWork {
                customer: c,
                record: id,
                found: Found::Matched,
                plan,
            });
        }
        self.write_pairs(work).await
    }

    /// Writes a failure into the dead letters (`error`, in full) and the customer's status
    /// (`status_message`: the same each time the failure repeats, so it is written once).
    async fn fail_customer(
        &mut self,
        customer: &Customer,
        error: &str,
        status_message: &str,
    ) -> Result<(), EngineError> {
        warn!(customer = %customer.resource_uri, %error, "Could not create the CRM record.");
        let subject = Subject {
            hub: Some(&customer.resource_uri),
            crm: None,
            name: &customer.name,
        };
        self.dead_letter(
            ObjectRef::hub(self.connector(), customer.resource_uri.as_str()),
            Direction::HubToCrm,
            subject,
            error,
        )
        .await?;
        if let (true, Some(status), Some(text)) = (
            self.direction.writes_hub(),
            self.engine.mapping.status(),
            self.error_status(status_message),
        ) {
            if customer.custom_fields.get(&status.hub_custom_field) != Some(&text) {
                let patch = CustomerPatch {
                    custom_fields: Some(BTreeMap::from([(status.hub_custom_field.clone(), text)])),
                    ..CustomerPatch::default()
                };
                let uri = CustomerUri(customer.resource_uri.clone());
                if let Err(error) = self.engine.tte.patch(&uri, &patch).await {
                    warn!(customer = %uri, %error, "Could not write the error status.");
                }
            }
        }
        Ok(())
    }

    /// Creates customers for records without one. The intent is recorded first, and each
    /// new customer carries the record's id in its External ID, so a pass rerun after a crash
    /// pairs it by the id fields instead of creating it again.
    async fn create_in_hub(&mut self, ids: &[CrmId]) -> Result<(), EngineError> {
        let identity = self.engine.mapping.identity().clone();
        for chunk in ids.chunks(CRM_BATCH) {
            self.engine
                .store
                .record_pending_creates(self.connector(), chunk)
                .await?;
            let jobs = chunk
                .iter()
                .map(|id| {
                    let out = self
                        .engine
                        .mapping
                        .to_hub(&self.sides.records[id], None, self.now);
                    HubJob::Create {
                        record: id.clone(),
                        write: CustomerWrite {
                            name: out.name.unwrap_or_default(),
                            emails: out.emails.unwrap_or_default(),
                            numbers: out.numbers.unwrap_or_default(),
                            custom_fields: out.custom_fields,
                        },
                    }
                })
                .collect();
            let results = self.run_hub_jobs(jobs).await;
            let mut writes = Vec::new();
            let mut made = Vec::new();
            for (id, done) in chunk.iter().zip(results) {
                match done {
                    HubDone::Created(customer) => {
                        self.summary.to_hub.created += 1;
                        let record = &self.sides.records[id];
                        let out = self.engine.mapping.to_crm(&customer, self.now);
                        let mut properties = BTreeMap::from([(
                            identity.hub_id_property.clone(),
                            customer.resource_uri.clone(),
                        )]);
                        if let Some(status) = self.engine.mapping.status() {
                            properties.insert(
                                status.crm_property.clone(),
                                status.text(&out.errors, self.now),
                            );
                        }
                        let mut after = record.clone();
                        after.properties.extend(properties.clone());
                        let (hub, crm) = snapshots_of(&self.engine.mapping, &customer, &after);
                        writes.push(CrmWrite::Update {
                            id: id.clone(),
                            properties,
                        });
                        made.push((
                            customer.resource_uri.clone(),
                            id.clone(),
                            hub,
                            crm,
                            customer.name,
                            out.errors,
                        ));
                    }
                    HubDone::Failed(error) => {
                        warn!(record = %id, %error, "Could not create the 10to8 customer.");
                        self.summary.to_hub.failed += 1;
                        let name = self.record_name(id);
                        let subject = Subject {
                            hub: None,
                            crm: Some(id),
                            name: &name,
                        };
                        self.dead_letter(
                            ObjectRef::crm(self.connector(), id.as_str()),
                            Direction::CrmToHub,
                            subject,
                            &error,
                        )
                        .await?;
                        self.engine
                            .store
                            .resolve_pending_creates(self.connector(), std::slice::from_ref(id))
                            .await?;
                        if let (Some(status), Some(text)) =
                            (self.engine.mapping.status(), self.error_status(&error))
                        {
                            if self.direction.writes_crm()
                                && self.sides.records[id].property(&status.crm_property) != text
                            {
                                writes.push(CrmWrite::Update {
                                    id: id.clone(),
                                    properties: BTreeMap::from([(
                                        status.crm_property.clone(),
                                        text,
                                    )]),
                                });
                                made.push((
                                    String::new(),
                                    id.clone(),
                                    Snapshot::new(),
                                    Snapshot::new(),
                                    name,
                                    Vec::new(),
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
            let outcomes = if writes.is_empty() || !self.direction.writes_crm() {
                Vec::new()
            } else {
                self.engine.crm.write(writes).await?
            };
            let mut resolved = Vec::new();
            for (n, (uri, id, hub, crm, name, errors)) in made.into_iter().enumerate() {
                self.advance(1);
                if uri.is_empty() {
                    continue;
                }
                let subject = Subject {
                    hub: Some(&uri),
                    crm: Some(&id),
                    name: &name,
                };
                if let Some(WriteOutcome::Failed(error)) = outcomes.get(n) {
                    // The customer exists and names the record; the next pass pairs them.
                    self.summary.to_crm.failed += 1;
                    self.dead_letter(
                        ObjectRef::crm(self.connector(), id.as_str()),
                        Direction::HubToCrm,
                        subject,
                        &error.to_string(),
                    )
                    .await?;
                    continue;
                }
                self.journal.written(
                    Direction::CrmToHub,
                    Action::Created,
                    subject,
                    String::new(),
                    &errors,
                );
                if self.direction.writes_crm() {
                    self.summary.to_crm.updated += 1;
                }
                let link = self.link(&uri, &id, hub, crm);
                self.push_link(link).await?;
                resolved.push(id);
            }
            self.flush_links().await?;
            self.engine
                .store
                .resolve_pending_creates(self.connector(), &resolved)
                .await?;
        }
        Ok(())
    }

    /// Applies the delete policies to links whose other side is gone.
    async fn deletes(&mut self, pairing: &Pairing) -> Result<(), EngineError> {
        let policy = self.engine.mapping.deletes();
        for link in &pairing.stale {
            self.unlink.push(link.hub_uri.clone());
        }
        // Customers deleted in 10to8: archive their records.
        let archive = policy.from_hub == FromHubDelete::Archive && self.direction.writes_crm();
        if archive && !pairing.hub_deleted.is_empty() {
            for chunk in pairing.hub_deleted.chunks(CRM_BATCH) {
                let writes = chunk
                    .iter()
                    .map(|l| CrmWrite::Archive {
                        id: l.crm_id.clone(),
                    })
                    .collect();
                let outcomes = self.engine.crm.write(writes).await?;
                for (link, outcome) in chunk.iter().zip(outcomes) {
                    self.advance(1);
                    let name = self.record_name(&link.crm_id);
                    let subject = Subject {
                        hub: None,
                        crm: Some(&link.crm_id),
                        name: &name,
                    };
                    match outcome {
                        WriteOutcome::Failed(error) if *error.kind() != ErrorKind::NotFound => {
                            self.summary.to_crm.failed += 1;
                            self.dead_letter(
                                ObjectRef::crm(self.connector(), link.crm_id.as_str()),
                                Direction::HubToCrm,
                                subject,
                                &error.to_string(),
                            )
                            .await?;
                        }
                        _ => {
                            self.summary.to_crm.deleted += 1;
                            let detail = format!("10to8 customer {} was deleted", link.hub_uri);
                            self.journal.written(
                                Direction::HubToCrm,
                                Action::Archived,
                                subject,
                                detail,
                                &[],
                            );
                            self.unlink.push(link.hub_uri.clone());
                        }
                    }
                }
            }
        } else if policy.from_hub == FromHubDelete::Ignore {
            for link in &pairing.hub_deleted {
                self.unlink.push(link.hub_uri.clone());
            }
        }

        // Records archived in the CRM: delete their customers, unless they have bookings.
        let force = match policy.from_crm {
            FromCrmDelete::Delete => true,
            FromCrmDelete::DeleteUnlessFutureBookings => false,
            _ => {
                for (link, _) in &pairing.crm_deleted {
                    self.unlink.push(link.hub_uri.clone());
                }
                return self.flush_links().await;
            }
        };
        if !self.direction.writes_hub() {
            return self.flush_links().await;
        }
        let mut deleted = Vec::new();
        for (link, c) in &pairing.crm_deleted {
            match &self.sides.archived {
                Some(archived) if !archived.contains(&link.crm_id) => {
                    debug!(record = %link.crm_id, customer = %link.hub_uri, "Linked record vanished (merged or erased); unlinking, not deleting.");
                    self.advance(1);
                    self.unlink.push(link.hub_uri.clone());
                }
                _ => deleted.push((link, *c)),
            }
        }
        let jobs = deleted
            .iter()
            .map(|(link, _)| HubJob::Delete {
                uri: link.hub_uri.clone(),
                force,
            })
            .collect();
        let results = self.run_hub_jobs(jobs).await;
        let mut blocked = Vec::new();
        let sides = self.sides;
        for ((link, c), done) in deleted.into_iter().zip(results) {
            self.advance(1);
            let subject = Subject {
                hub: Some(link.hub_uri.as_str()),
                crm: Some(&link.crm_id),
                name: &sides.customers[c].name,
            };
            match done {
                HubDone::Deleted | HubDone::Gone => {
                    self.summary.to_hub.deleted += 1;
                    let detail = format!("CRM record {} was archived", link.crm_id);
                    self.journal.written(
                        Direction::CrmToHub,
                        Action::Deleted,
                        subject,
                        detail,
                        &[],
                    );
                    self.unlink.push(link.hub_uri.clone());
                }
                HubDone::Blocked(message) => {
                    // Kept linked: later passes try again until the bookings are gone.
                    self.summary.delete_blocked += 1;
                    self.journal.blocked(Direction::CrmToHub, subject, &message);
                    blocked.push((c, message));
                }
                HubDone::Failed(error) => {
                    self.summary.to_hub.failed += 1;
                    self.dead_letter(
                        ObjectRef::hub(self.connector(), link.hub_uri.as_str()),
                        Direction::CrmToHub,
                        subject,
                        &error,
                    )
                    .await?;
                }
                _ => {}
            }
        }
        let mut jobs = Vec::new();
        if let Some(status) = self.engine.mapping.status() {
            for (c, message) in blocked {
                let customer = &self.sides.customers[c];
                let text = format!("Error: {message}");
                if customer.custom_fields.get(&status.hub_custom_field) == Some(&text) {
                    continue;
                }
                jobs.push(HubJob::Patch {
                    uri: CustomerUri(customer.resource_uri.clone()),
                    patch: CustomerPatch {
                        custom_fields: Some(BTreeMap::from([(
                            status.hub_custom_field.clone(),
                            text,
                        )])),
                        ..CustomerPatch::default()
                    },
                });
            }
        }
        for done in self.run_hub_jobs(jobs).await {
            if let HubDone::Failed(error) = done {
                warn!(%error, "Could not write the blocked-delete status.");
            }
        }
        self.flush_links().await
    }

    /// What the status fields of a possible duplicate say.
    fn possible_duplicate_text(&self, held: &Held) -> String {
        const SHOWN: usize = 3;
        let mut others: Vec<String> = held
            .customers
            .iter()
            .map(|&c| format!("10to8 customer {}", self.sides.customers[c].resource_uri))
            .collect();
        others.extend(
            held.records
                .iter()
                .map(|r| format!("{} record {r}", self.connector())),
        );
        let more = others.len().saturating_sub(SHOWN);
        others.truncate(SHOWN);
        let mut list = others.join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        format!(
            "Possible duplicate of {list} (same {}); not synced until resolved with `tte-sync link` or `tte-sync unlink`",
            held.rule
        )
    }

    /// Says in the status fields, and on the dashboard, that these objects wait for a person.
    async fn hold(&mut self, held: &[Held]) -> Result<(), EngineError> {
        let sides = self.sides;
        let status = self.engine.mapping.status();
        let mut crm_writes = Vec::new();
        let mut jobs = Vec::new();
        for h in held {
            let text = self.possible_duplicate_text(h);
            if let Some(c) = h.customer {
                let customer = &sides.customers[c];
                let subject = Subject {
                    hub: Some(&customer.resource_uri),
                    crm: None,
                    name: &customer.name,
                };
                self.journal.held(subject, &text);
                if let Some(status) = status.filter(|_| self.direction.writes_hub())
                    && customer.custom_fields.get(&status.hub_custom_field) != Some(&text)
                {
                    jobs.push(HubJob::Patch {
                        uri: CustomerUri(customer.resource_uri.clone()),
                        patch: CustomerPatch {
                            custom_fields: Some(BTreeMap::from([(
                                status.hub_custom_field.clone(),
                                text.clone(),
                            )])),
                            ..CustomerPatch::default()
                        },
                    });
                }
            } else if let Some(id) = &h.record {
                let name = self.record_name(id);
                let subject = Subject {
                    hub: None,
                    crm: Some(id),
                    name: &name,
                };
                self.journal.held(subject, &text);
                if let Some(status) = status.filter(|_| self.direction.writes_crm())
                    && sides.records[id].property(&status.crm_property) != text
                {
                    crm_writes.push(CrmWrite::Update {
                        id: id.clone(),
                        properties: BTreeMap::from([(status.crm_property.clone(), text)]),
                    });
                }
            }
        }
        for chunk in crm_writes.chunks(CRM_BATCH) {
            for outcome in self.engine.crm.write(chunk.to_vec()).await? {
                if let WriteOutcome::Failed(error) = outcome {
                    warn!(%error, "Could not write the possible-duplicate status.");
                }
            }
        }
        for done in self.run_hub_jobs(jobs).await {
            if let HubDone::Failed(error) = done {
                warn!(%error, "Could not write the possible-duplicate status.");
            }
        }
        self.flush_links().await
    }

    /// Runs 10to8 writes [`HUB_CONCURRENCY`] at a time; results in the order given.
    async fn run_hub_jobs(&self, jobs: Vec<HubJob>) -> Vec<HubDone> {
        let tte = &self.engine.tte;
        stream::iter(jobs)
            .map(|job| async move {
                match job {
                    HubJob::Patch { uri, patch } => {
                        if uri.as_str().is_empty() || patch.is_empty() {
                            return HubDone::Patched;
                        }
                        match tte.patch(&uri, &patch).await {
                            Ok(_) => HubDone::Patched,
                            Err(e) if *e.kind() == ErrorKind::NotFound => HubDone::Gone,
                            Err(e) => HubDone::Failed(e.to_string()),
                        }
                    }
                    HubJob::Create { record, write } => match tte.create(&write).await {
                        Ok(customer) => HubDone::Created(customer),
                        Err(e) => {
                            debug!(%record, error = %e, "10to8 create failed.");
                            HubDone::Failed(e.to_string())
                        }
                    },
                    HubJob::Delete { uri, force } => match tte.delete(&uri, force).await {
                        Ok(DeleteOutcome::Deleted) => HubDone::Deleted,
                        Ok(DeleteOutcome::AlreadyDeleted) => HubDone::Gone,
                        Ok(DeleteOutcome::Blocked { message, .. }) => HubDone::Blocked(message),
                        Err(e) => HubDone::Failed(e.to_string()),
                    },
                }
            })
            .buffered(HUB_CONCURRENCY)
            .collect()
            .await
    }
}
