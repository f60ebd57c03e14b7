//! The full two-way pass: read both sides, pair them, plan each pair, write in batches, save
//! links with their snapshots, and record the run.
//!
//! Memory: both sides are read into memory, each record reduced to its mapped fields
//! (under a kilobyte a person), because pairing by the match rule needs every value of both
//! sides to know it is unique, and because a CRM's call budget (about one call per 100
//! records where it reads in batches) leaves no room for re-reading. Pages are streamed in,
//! never a whole response at once. Pairs are planned a round of writes at a time, never all
//! at once: a first sync of 100,000 customers and 100,000 contacts peaks under 230 MB
//! (`TTE_EDGE=scale cargo bench -p tte-sync --bench tte_edge`).
//!
//! Writes: CRM writes go out in the calls the connector's
//! [`WriteAbilities`](crate::connector::WriteAbilities) allow, a round of records at a time
//! (creates are upserts keyed by the customer's URI where the CRM upserts natively, else
//! plain creates whose intent is recorded first; updates for the rest); 10to8 has no batch
//! API, so its writes run
//! [`HUB_CONCURRENCY`] at a time, paced by the client. A pair's link and snapshots are saved
//! once its writes went through. A write that fails for one record is counted, put in that
//! record's status field and in the dead letters; the others go on.

mod deletes;
mod held;
mod pairs;
mod pass;
mod planning;
mod read;
mod to_crm;
mod to_hub;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use super::journal::Journal;
use super::lock::SyncLock;
use super::pair::pair;
use super::summary::Summary;
use super::systemic::CauseRun;
use super::turns::Turns;
use super::{Engine, EngineError, SyncDirection};
use crate::mapping::SyncTime;
use crate::record::{CrmId, CrmRecord, Customer, CustomerUri};
use crate::store::{Link, ObjectRef, Reason, RunKind, RunOutcome};
use pass::Pass;
use planning::{PairPlanner, PairWork};

/// 10to8 calls in flight at once.
pub const HUB_CONCURRENCY: usize = 8;
/// Links saved per store transaction.
const LINK_BATCH: usize = 500;
/// The inbox change kind of a record that failed during a reconcile.
const RECONCILE_CHANGE: &str = "reconcile";
/// The full pass's lock is this followed by the connector's name.
pub(crate) const RECONCILE_LOCK_PREFIX: &str = "reconcile:";

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

impl Engine {
    /// One full two-way pass. Per-record failures are counted in the summary (and put in the
    /// status fields and dead letters); the pass itself fails only when a side or the store
    /// cannot be read.
    ///
    /// # Errors
    /// [`EngineError`] when 10to8, the CRM or the store cannot be read or written as a whole.
    pub async fn reconcile(&self, options: &ReconcileOptions) -> Result<Summary, EngineError> {
        self.restore_pace().await;
        if options.dry_run {
            self.preflight().await?;
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
        let name = format!("{RECONCILE_LOCK_PREFIX}{}", self.connector());
        Ok(SyncLock::exclusive(&self.store, name).await?)
    }

    async fn reconcile_locked(
        &self,
        options: &ReconcileOptions,
        lock: SyncLock,
    ) -> Result<Summary, EngineError> {
        self.restore_pace().await;
        let run = self.store.start_run(RunKind::Reconcile).await?;
        let result = self.reconcile_pass(options).await;
        self.save_pace(true).await;
        if matches!(result, Err(EngineError::Systemic(_))) {
            self.forget_preflight();
        }
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
        self.preflight().await?;
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
        let mut planner = PairPlanner::new(self, sides, &pairing, options.direction, &now);
        if options.dry_run {
            let work: Vec<PairWork> = planner.by_ref().collect();
            planner.count_into(&mut summary);
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
            crm_causes: CauseRun::default(),
            hub_causes: CauseRun::default(),
        };
        let total = (pairing.pairs.len()
            + pairing.create_in_crm.len()
            + pairing.create_in_hub.len()
            + pairing.hub_deleted.len()
            + pairing.crm_deleted.len()) as u64;
        pass.phase("writing", total);
        match turns {
            Turns::Held(lock) => {
                pass.lost = Some(lock.lost_flag());
                let work: Vec<PairWork> = planner.by_ref().collect();
                planner.count_into(&mut pass.summary);
                pass.advance(planner.take_passed_over());
                let written = pass.write_pairs(work).await;
                pass.kept_on_stall(written).await?;
                if options.direction.writes_crm() {
                    let written = pass.create_in_crm(&pairing.create_in_crm).await;
                    pass.kept_on_stall(written).await?;
                }
                if options.direction.writes_hub() {
                    let written = pass.create_in_hub(&pairing.create_in_hub).await;
                    pass.kept_on_stall(written).await?;
                }
                pass.deletes(&pairing).await?;
                pass.hold(&pairing.held).await?;
                pass.flush_links().await?;
            }
            Turns::PerChunk => {
                pass.write_in_turns(&pairing, &mut planner).await?;
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
        if !self.crm.write_abilities().upserts() {
            // A create that reached the CRM before a crash is paired by the id property now.
            let uris: Vec<CustomerUri> = (pairing.pairs.iter())
                .map(|p| CustomerUri(sides.customers[p.customer].resource_uri.clone()))
                .collect();
            self.store
                .resolve_pending_crm_creates(self.connector(), &uris)
                .await?;
        }
        Ok(Synced {
            summary: pass.summary,
            held,
        })
    }
}
