//! Planning a pass: each pair's writes, what a dry run lists, and what a one-way pass leaves
//! alone.

use crate::engine::pair::{Found, Pair, Pairing};
use crate::engine::plan::{ChangeTimes, Flow, PairPlan, Snapshots, plan_pair};
use crate::engine::summary::{Planned, Summary};
use crate::engine::{Engine, SyncDirection};
use crate::mapping::{FromCrmDelete, FromHubDelete, SyncTime};
use crate::record::CrmId;
use crate::store::Link;

use super::Sides;

/// A pair whose plan writes something.
pub(super) struct PairWork {
    pub(super) customer: usize,
    pub(super) record: CrmId,
    pub(super) found: Found,
    pub(super) plan: PairPlan,
}

/// Plans a pass's pairs one at a time, as the writes ask for them, so that a pass holds the
/// plans of one round of writes at once rather than of every pair (at 100,000 pairs, plans
/// held whole would be a third of the pass's memory). Unchanged pairs are counted as they
/// go by; what they count is added to the summary by [`PairPlanner::count_into`].
pub(super) struct PairPlanner<'a> {
    engine: &'a Engine,
    sides: &'a Sides,
    pairs: std::slice::Iter<'a, Pair>,
    direction: SyncDirection,
    now: &'a SyncTime,
    counted: Summary,
    /// Pairs planned with nothing to write since the last [`PairPlanner::take_passed_over`].
    passed_over: u64,
}

impl<'a> PairPlanner<'a> {
    pub(super) fn new(
        engine: &'a Engine,
        sides: &'a Sides,
        pairing: &'a Pairing,
        direction: SyncDirection,
        now: &'a SyncTime,
    ) -> Self {
        Self {
            engine,
            sides,
            pairs: pairing.pairs.iter(),
            direction,
            now,
            counted: Summary::default(),
            passed_over: 0,
        }
    }

    /// Adds the links and unchanged sides counted so far to `summary`.
    pub(super) fn count_into(&mut self, summary: &mut Summary) {
        let counted = std::mem::take(&mut self.counted);
        summary.to_crm.linked += counted.to_crm.linked;
        summary.to_hub.linked += counted.to_hub.linked;
        summary.to_crm.unchanged += counted.to_crm.unchanged;
        summary.to_hub.unchanged += counted.to_hub.unchanged;
    }

    /// How many pairs needed nothing written since this was last asked (progress steps).
    pub(super) fn take_passed_over(&mut self) -> u64 {
        std::mem::take(&mut self.passed_over)
    }

    /// The pair's work, or `None` when it writes nothing and its link stays as stored.
    fn plan(&mut self, pair: &Pair) -> Option<PairWork> {
        let sides = self.sides;
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
        let mapping = &self.engine.mapping;
        let mut plan = plan_pair(mapping, customer, record, snapshots, times, self.now);
        restrict(&mut plan, self.direction, link);
        let counted = &mut self.counted;
        if pair.found != Found::Stored {
            counted.to_crm.linked += 1;
            counted.to_hub.linked += 1;
        }
        if plan.crm_write.is_none() {
            counted.to_crm.unchanged += 1;
        }
        if plan.hub_patch.is_none() {
            counted.to_hub.unchanged += 1;
        }
        let is_new = link.is_none_or(|l| {
            l.hub_snapshot != plan.hub_snapshot || l.crm_snapshot != plan.crm_snapshot
        });
        if plan.is_noop() && !is_new {
            self.passed_over += 1;
            return None;
        }
        Some(PairWork {
            customer: pair.customer,
            record: pair.record.clone(),
            found: pair.found,
            plan,
        })
    }
}

impl Iterator for PairPlanner<'_> {
    type Item = PairWork;

    fn next(&mut self) -> Option<PairWork> {
        loop {
            let pair = self.pairs.next()?;
            if let Some(work) = self.plan(pair) {
                return Some(work);
            }
        }
    }
}

impl Engine {
    pub(super) fn dry_run_plan(
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

/// Drops the writes `direction` forbids. The fields that would have moved to the skipped
/// side keep their old snapshot (or none), so a later two-way pass still sees the change.
pub(super) fn restrict(plan: &mut PairPlan, direction: SyncDirection, link: Option<&Link>) {
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
