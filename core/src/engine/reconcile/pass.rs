//! The state of a pass while it writes: its links and journal, the sync lock taken chunk by
//! chunk, and how a per-record failure is recorded.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::debug;

use super::planning::{PairPlanner, PairWork};
use super::{LINK_BATCH, Progress, RECONCILE_CHANGE, Sides};
use crate::connector::{CrmWrite, WriteOutcome};
use crate::engine::journal::{Journal, Subject};
use crate::engine::lock::{Claimant, SyncLock};
use crate::engine::pair::Pairing;
use crate::engine::summary::Summary;
use crate::engine::systemic::CauseRun;
use crate::engine::turns::LinksNow;
use crate::engine::{Engine, EngineError, SyncDirection};
use crate::mapping::SyncTime;
use crate::record::{CrmId, Customer, CustomerUri};
use crate::store::{Change, Direction, Link, ObjectRef, Snapshot};

/// The subject of a journal entry about a pair.
pub(super) fn pair_subject<'a>(customer: &'a Customer, record: &'a CrmId) -> Subject<'a> {
    Subject {
        hub: Some(&customer.resource_uri),
        crm: Some(record),
        name: &customer.name,
    }
}

/// The state of one pass while it writes.
pub(super) struct Pass<'a> {
    pub(super) engine: &'a Engine,
    /// Set when the sync lock this pass writes under expired; checked before saving links.
    pub(super) lost: Option<Arc<AtomicBool>>,
    pub(super) sides: &'a Sides,
    pub(super) now: &'a SyncTime,
    pub(super) direction: SyncDirection,
    pub(super) progress: Option<Arc<dyn Progress>>,
    pub(super) summary: Summary,
    /// Links to save.
    pub(super) links: Vec<Link>,
    /// Customers whose link to remove.
    pub(super) unlink: Vec<CustomerUri>,
    /// What the operator is told about each write.
    pub(super) journal: Journal,
    /// The run of CRM refusals with one cause (see `systemic`).
    pub(super) crm_causes: CauseRun,
    /// The run of 10to8 refusals with one cause.
    pub(super) hub_causes: CauseRun,
}

impl Pass<'_> {
    pub(super) fn phase(&self, name: &str, total: u64) {
        if let Some(progress) = &self.progress {
            progress.phase(name, total);
        }
    }

    pub(super) fn advance(&self, steps: u64) {
        if let Some(progress) = &self.progress {
            progress.advance(steps);
        }
    }

    /// Writes to the CRM and judges the outcomes before any is recorded: a systemic cause
    /// stops the pass here (see `systemic`).
    pub(super) async fn write_crm(
        &mut self,
        writes: Vec<CrmWrite>,
    ) -> Result<Vec<WriteOutcome>, EngineError> {
        let outcomes = self.engine.write_crm(writes).await?;
        self.crm_causes.judge_crm(&outcomes)?;
        Ok(outcomes)
    }

    pub(super) fn connector(&self) -> &'static str {
        self.engine.connector()
    }

    pub(super) fn link(&self, uri: &str, id: &CrmId, hub: Snapshot, crm: Snapshot) -> Link {
        Link::new(self.connector(), CustomerUri::from(uri), id.clone()).with_snapshots(hub, crm)
    }

    pub(super) async fn push_link(&mut self, link: Link) -> Result<(), EngineError> {
        self.links.push(link);
        if self.links.len() >= LINK_BATCH || self.journal.is_full() {
            self.flush_links().await?;
        }
        Ok(())
    }

    /// Passes `written` on; when an API stalled the pass, first saves the links of the writes
    /// that went through, so that a rerun continues from them.
    pub(super) async fn kept_on_stall(
        &mut self,
        written: Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        if let Err(EngineError::Stalled(_)) = &written {
            self.flush_links().await?;
        }
        written
    }

    pub(super) async fn flush_links(&mut self) -> Result<(), EngineError> {
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
    pub(super) async fn write_in_turns(
        &mut self,
        pairing: &Pairing,
        planner: &mut PairPlanner<'_>,
    ) -> Result<(), EngineError> {
        let sides = self.sides;
        let read_by_crm: HashMap<&CrmId, &Link> =
            sides.links.values().map(|l| (&l.crm_id, l)).collect();
        let uri_of = |c: usize| sides.customers[c].resource_uri.as_str();

        loop {
            let chunk: Vec<PairWork> = planner.by_ref().take(self.engine.round()).collect();
            self.advance(planner.take_passed_over());
            if chunk.is_empty() {
                break;
            }
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
            let written = self.write_pairs(keep).await;
            self.kept_on_stall(written).await?;
            self.end_turn(turn).await?;
        }
        planner.count_into(&mut self.summary);
        if self.direction.writes_crm() {
            for chunk in pairing.create_in_crm.chunks(self.engine.round()) {
                let uris: Vec<CustomerUri> = chunk.iter().map(|&c| uri_of(c).into()).collect();
                let turn = self.take_turn().await?;
                let now = LinksNow::load(&self.engine.store, self.connector(), &uris, &[]).await?;
                let (keep, skip): (Vec<usize>, Vec<usize>) = chunk
                    .iter()
                    .partition(|&&c| now.hub_unchanged(uri_of(c), sides.links.get(uri_of(c))));
                self.skipped(skip.len());
                let written = self.create_in_crm(&keep).await;
                self.kept_on_stall(written).await?;
                self.end_turn(turn).await?;
            }
        }
        if self.direction.writes_hub() {
            for chunk in pairing.create_in_hub.chunks(self.engine.round()) {
                let turn = self.take_turn().await?;
                let now = LinksNow::load(&self.engine.store, self.connector(), &[], chunk).await?;
                let (keep, skip): (Vec<CrmId>, Vec<CrmId>) = chunk
                    .iter()
                    .cloned()
                    .partition(|id| now.crm_unchanged(id, read_by_crm.get(id).copied()));
                self.skipped(skip.len());
                let written = self.create_in_hub(&keep).await;
                self.kept_on_stall(written).await?;
                self.end_turn(turn).await?;
            }
        }
        let gone: Vec<&Link> = pairing
            .hub_deleted
            .iter()
            .chain(pairing.crm_deleted.iter().map(|(l, _)| l))
            .chain(&pairing.stale)
            .chain(&pairing.superseded)
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        let uris: Vec<CustomerUri> = gone.iter().map(|l| l.hub_uri.clone()).collect();
        let turn = self.take_turn().await?;
        let now = LinksNow::load(&self.engine.store, self.connector(), &uris, &[]).await?;
        let unchanged = |l: &Link| now.hub_unchanged(l.hub_uri.as_str(), Some(l));
        let left_unchanged = |links: &[Link]| -> Vec<Link> {
            links.iter().filter(|l| unchanged(l)).cloned().collect()
        };
        let deletes = Pairing {
            hub_deleted: left_unchanged(&pairing.hub_deleted),
            crm_deleted: pairing
                .crm_deleted
                .iter()
                .filter(|(l, _)| unchanged(l))
                .cloned()
                .collect(),
            stale: left_unchanged(&pairing.stale),
            superseded: left_unchanged(&pairing.superseded),
            ..Pairing::default()
        };
        self.skipped(
            gone.len()
                - deletes.hub_deleted.len()
                - deletes.crm_deleted.len()
                - deletes.stale.len()
                - deletes.superseded.len(),
        );
        self.deletes(&deletes).await?;
        self.end_turn(turn).await
    }

    /// Waits for the sync lock for one chunk.
    pub(super) async fn take_turn(&mut self) -> Result<SyncLock, EngineError> {
        let lock =
            SyncLock::acquire(&self.engine.store, self.connector(), Claimant::Background).await?;
        self.lost = Some(lock.lost_flag());
        Ok(lock)
    }

    /// Saves the chunk's links and journal, then lets the lock go.
    pub(super) async fn end_turn(&mut self, lock: SyncLock) -> Result<(), EngineError> {
        let saved = self.flush_links().await;
        self.lost = None;
        lock.release().await;
        saved
    }

    /// Counts work left out because a live batch got to its objects first.
    pub(super) fn skipped(&mut self, count: usize) {
        if count > 0 {
            debug!(
                count,
                "Left out of this pass: changed by live processing meanwhile."
            );
            self.advance(count as u64);
        }
    }

    /// Records a per-record failure in the dead letters and the journal.
    pub(super) async fn dead_letter(
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
    pub(super) fn record_name(&self, id: &CrmId) -> String {
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
    pub(super) fn error_status(&self, message: &str) -> Option<String> {
        self.engine
            .mapping
            .status()
            .map(|status| status.text(&[format!("Error: {message}")], self.now))
    }
}
